/**
 * The adversarial training step shared by GAN plugins whose networks are tfjs-layers
 * models: one or more discriminator updates on a real and a generated batch, then one
 * generator update through the discriminator. Each plugin file builds its own G and D and
 * hands them here; this is composition, not a base class to inherit from.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { optimizerSchema, type Batch, type GenerativeModel, type OptimizerConfig, type StateDict, type TrainContext } from '@genlab/core';
import { discriminatorLoss, generatorLoss, lossSchema, type GanLoss } from './losses.js';

const adam = { type: 'adam', lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8, momentum: 0 } as const;

/**
 * Config keys every layers GAN shares (spread into each plugin's schema), so their
 * defaults cannot drift apart: Adam lr 2e-4, β1 0.5, as in DCGAN (Radford et al. 2016).
 */
export const ganTrainingOptions = {
  /** Negative slope of LeakyReLU. */
  leakySlope: z.number().min(0).lt(1).default(0.2),
  /** GAN loss. */
  loss: lossSchema.default('non-saturating'),
  /** Discriminator updates per generator update. */
  dSteps: z.number().int().positive().default(1),
  optimizerG: optimizerSchema.default(adam),
  optimizerD: optimizerSchema.default(adam),
};

/** The options every layers GAN has. */
export interface GanOptions {
  latentDim: number;
  loss: GanLoss;
  dSteps: number;
  optimizerG: OptimizerConfig;
  optimizerD: OptimizerConfig;
}

/**
 * The generator's output activation for a data range. 'auto': tanh for [-1, 1], sigmoid for
 * [0, 1], linear for anything else (e.g. 2-D points of a toy mixture).
 */
export function outputActivation(choice: 'auto' | 'tanh' | 'sigmoid' | 'linear', range: [number, number]): 'tanh' | 'sigmoid' | 'linear' {
  const [lo, hi] = range;
  const output = choice === 'auto' ? (lo === -1 && hi === 1 ? 'tanh' : lo === 0 && hi === 1 ? 'sigmoid' : 'linear') : choice;
  if (output === 'linear') return output;
  const [oLo, oHi] = output === 'tanh' ? [-1, 1] : [0, 1];
  if (oLo !== lo || oHi !== hi) {
    throw new Error(`generator output '${output}' gives values in [${oLo}, ${oHi}] but the data range is [${lo}, ${hi}]: use output 'auto'`);
  }
  return output;
}

/** Every weight of a layers model (trainable and batch-norm statistics) as `<prefix>/<i>`. */
function netState(prefix: string, net: tfl.LayersModel, out: StateDict): void {
  net.weights.forEach((w, i) => {
    const t = w.read();
    out[`${prefix}/${i}`] = { shape: t.shape.slice(), dtype: 'float32', data: Float32Array.from(t.dataSync()) };
  });
}

function setNetState(prefix: string, net: tfl.LayersModel, state: StateDict): void {
  const values = net.weights.map((w, i) => {
    const key = `${prefix}/${i}`;
    const entry = state[key];
    if (!entry) throw new Error(`state is missing '${key}'`);
    if (!tf.util.arraysEqual(entry.shape, w.shape as number[])) {
      throw new Error(`state '${key}' has shape [${entry.shape.join(', ')}], the model expects [${w.shape.join(', ')}]`);
    }
    return entry;
  });
  const tensors = values.map((e) => tf.tensor(e.data, e.shape, 'float32'));
  net.setWeights(tensors);
  tf.dispose(tensors);
}

/** A GAN from a generator z → x and a discriminator x → logit, both tfjs-layers models. */
export class LayersGan implements GenerativeModel {
  readonly optimizers;
  private readonly dInput: number[];

  /**
   * @param G maps [n, latentDim] to n examples (any shape with n·prod(dataShape) values)
   * @param D maps n examples (reshaped to its input shape) to [n, 1] logits
   */
  constructor(
    private readonly G: tfl.LayersModel,
    private readonly D: tfl.LayersModel,
    private readonly opts: GanOptions,
    private readonly dataShape: number[],
  ) {
    this.optimizers = [
      { name: 'g', config: opts.optimizerG },
      { name: 'd', config: opts.optimizerD },
    ];
    this.dInput = (D.inputs[0]!.shape as (number | null)[]).slice(1) as number[];
  }

  private vars(net: tfl.LayersModel): tf.Variable[] {
    return net.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  private generate(z: tf.Tensor): tf.Tensor {
    return this.G.apply(z, { training: true }) as tf.Tensor;
  }

  private discriminate(x: tf.Tensor): tf.Tensor2D {
    return this.D.apply(tf.reshape(x, [x.shape[0]!, ...this.dInput]), { training: true }) as tf.Tensor2D;
  }

  trainStep(batch: Batch, ctx: TrainContext) {
    const { latentDim, loss, dSteps } = this.opts;
    const n = batch.x.shape[0]!;
    const real = batch.x; // [B, ...dataShape]
    let lossD: tf.Scalar | undefined;
    let dReal: tf.Scalar | undefined;
    let dFake: tf.Scalar | undefined;
    // 1. Discriminator: real batch vs a generated batch (no gradient into G).
    for (let k = 0; k < dSteps; k++) {
      const fake = this.generate(tf.randomNormal([n, latentDim], 0, 1, 'float32', ctx.seed(k)));
      lossD = ctx.optimize(
        'd',
        () => {
          const realLogits = this.discriminate(real); // [B, 1]
          const fakeLogits = this.discriminate(fake); // [B, 1]
          tf.dispose([dReal, dFake]);
          dReal = tf.keep(tf.mean<tf.Scalar>(tf.sigmoid(realLogits)));
          dFake = tf.keep(tf.mean<tf.Scalar>(tf.sigmoid(fakeLogits)));
          return discriminatorLoss(loss, realLogits, fakeLogits);
        },
        this.vars(this.D),
      );
    }
    // 2. Generator: fresh noise, gradient through D into G only.
    const z = tf.randomNormal([n, latentDim], 0, 1, 'float32', ctx.seed(1000));
    const lossG = ctx.optimize('g', () => generatorLoss(loss, this.discriminate(this.generate(z))), this.vars(this.G));
    return { loss_d: lossD!, loss_g: lossG, d_real: dReal!, d_fake: dFake! };
  }

  sample(n: number, opts: { seed?: number } = {}): tf.Tensor {
    return tf.tidy(() => {
      const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
      const z = tf.randomNormal([n, this.opts.latentDim], 0, 1, 'float32', seed);
      const x = this.G.apply(z, { training: false }) as tf.Tensor;
      return tf.reshape(x, [n, ...this.dataShape]);
    });
  }

  getState(): StateDict {
    const out: StateDict = {};
    netState('generator', this.G, out);
    netState('discriminator', this.D, out);
    return out;
  }

  setState(state: StateDict): void {
    setNetState('generator', this.G, state);
    setNetState('discriminator', this.D, state);
  }

  summary() {
    return [
      { name: 'generator', params: this.G.countParams() },
      { name: 'discriminator', params: this.D.countParams() },
    ];
  }

  dispose(): void {
    this.G.dispose();
    this.D.dispose();
  }
}
