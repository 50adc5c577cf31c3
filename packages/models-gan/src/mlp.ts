/**
 * `gan/mlp`: the classic fully-connected GAN of the seed article — generator
 * 100 → 256 → 512 → 1024 → 784, discriminator 784 → 512 → 256 → 1 — trained correctly:
 * one discriminator update on a real and a generated batch, then one generator update,
 * with the non-saturating loss and Adam (lr 2e-4, β1 0.5) by default.
 *
 * Works for any data shape: examples are flattened to vectors, so it also fits 2-D points.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { deriveSeed, optimizerSchema, type GenerativeModel, type ModelPlugin, type StateDict, type TrainContext, type Batch } from '@genlab/core';
import { discriminatorLoss, generatorLoss, lossSchema } from './losses.js';

const activation = z.enum(['relu', 'leakyRelu', 'elu', 'tanh']);
const adam = { type: 'adam', lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8, momentum: 0 } as const;

const schema = z
  .object({
    /** Size of the latent noise vector z ~ N(0, I). */
    latentDim: z.number().int().positive().default(100),
    generator: z
      .object({
        /** Hidden layer widths. */
        hidden: z.array(z.number().int().positive()).min(1).default([256, 512, 1024]),
        /** Hidden activation. */
        activation: activation.default('relu'),
        /** Output activation: `auto` = tanh for data in [-1, 1], a sigmoid for [0, 1]. */
        output: z.enum(['auto', 'tanh', 'sigmoid']).default('auto'),
        /** Batch normalisation after each hidden layer (batch statistics in training, moving averages when sampling). */
        batchNorm: z.boolean().default(false),
      })
      .strict()
      .default({ hidden: [256, 512, 1024], activation: 'relu', output: 'auto', batchNorm: false }),
    discriminator: z
      .object({
        hidden: z.array(z.number().int().positive()).min(1).default([512, 256]),
        activation: activation.default('leakyRelu'),
      })
      .strict()
      .default({ hidden: [512, 256], activation: 'leakyRelu' }),
    /** Negative slope of LeakyReLU. */
    leakySlope: z.number().min(0).lt(1).default(0.2),
    /** GAN loss. */
    loss: lossSchema.default('non-saturating'),
    /** Discriminator updates per generator update. */
    dSteps: z.number().int().positive().default(1),
    optimizerG: optimizerSchema.default(adam),
    optimizerD: optimizerSchema.default(adam),
  })
  .strict();
export type MlpGanConfig = z.infer<typeof schema>;

/** A dense stack: hidden layers with `act`, then a linear layer of `out` units. */
function mlp(name: string, input: number, hidden: number[], out: number, act: string, slope: number, seed: number, batchNorm = false): tfl.Sequential {
  const net = tfl.sequential({ name });
  hidden.forEach((units, i) => {
    net.add(
      tfl.layers.dense({
        units,
        ...(i === 0 ? { inputShape: [input] } : {}),
        kernelInitializer: tfl.initializers.glorotUniform({ seed: deriveSeed(seed, i) }),
      }),
    );
    // Moving averages with PyTorch's default rate (0.1 of each new batch).
    if (batchNorm) net.add(tfl.layers.batchNormalization({ momentum: 0.9 }));
    net.add(act === 'leakyRelu' ? tfl.layers.leakyReLU({ alpha: slope }) : tfl.layers.activation({ activation: act as 'relu' }));
  });
  net.add(tfl.layers.dense({ units: out, kernelInitializer: tfl.initializers.glorotUniform({ seed: deriveSeed(seed, hidden.length) }) }));
  return net;
}

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

class MlpGan implements GenerativeModel {
  readonly optimizers;
  private readonly G: tfl.Sequential;
  private readonly D: tfl.Sequential;
  private readonly dim: number;
  private readonly dataShape: number[];

  constructor(
    private readonly cfg: MlpGanConfig,
    data: { shape: number[]; range: [number, number] },
    seed: number,
  ) {
    this.dataShape = data.shape;
    this.dim = data.shape.reduce((a, b) => a * b, 1);
    this.optimizers = [
      { name: 'g', config: cfg.optimizerG },
      { name: 'd', config: cfg.optimizerD },
    ];
    const g = cfg.generator;
    this.G = mlp('generator', cfg.latentDim, g.hidden, this.dim, g.activation, cfg.leakySlope, deriveSeed(seed, 1), g.batchNorm);
    const [lo, hi] = data.range;
    const output = g.output === 'auto' ? (lo === -1 && hi === 1 ? 'tanh' : 'sigmoid') : g.output;
    // Map the generator's output into the data range: tanh covers [-1, 1], sigmoid [0, 1].
    const [oLo, oHi] = output === 'tanh' ? [-1, 1] : [0, 1];
    this.G.add(tfl.layers.activation({ activation: output }));
    if (oLo !== lo || oHi !== hi) {
      throw new Error(`generator.output '${output}' gives values in [${oLo}, ${oHi}] but the data range is [${lo}, ${hi}]: use output 'auto'`);
    }
    const d = cfg.discriminator;
    this.D = mlp('discriminator', this.dim, d.hidden, 1, d.activation, cfg.leakySlope, deriveSeed(seed, 2));
  }

  private vars(net: tfl.LayersModel): tf.Variable[] {
    return net.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  private generate(z: tf.Tensor): tf.Tensor2D {
    return this.G.apply(z, { training: true }) as tf.Tensor2D;
  }

  private discriminate(x: tf.Tensor): tf.Tensor2D {
    return this.D.apply(x, { training: true }) as tf.Tensor2D;
  }

  trainStep(batch: Batch, ctx: TrainContext) {
    const { latentDim, loss, dSteps } = this.cfg;
    const n = batch.x.shape[0]!;
    const real = tf.reshape(batch.x, [n, this.dim]); // [B, D]
    let lossD: tf.Scalar | undefined;
    let dReal: tf.Scalar | undefined;
    let dFake: tf.Scalar | undefined;
    // 1. Discriminator: real batch vs a generated batch (no gradient into G).
    for (let k = 0; k < dSteps; k++) {
      const fake = this.generate(tf.randomNormal([n, latentDim], 0, 1, 'float32', ctx.seed(k))); // [B, D]
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
      const z = tf.randomNormal([n, this.cfg.latentDim], 0, 1, 'float32', seed);
      const x = this.G.apply(z, { training: false }) as tf.Tensor2D;
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

/** The `gan/mlp` model plugin. */
export const mlpGan: ModelPlugin<MlpGanConfig> = {
  name: 'gan/mlp',
  family: 'gan',
  description: 'fully-connected GAN (the seed article: G 100-256-512-1024-784, D 784-512-256-1), non-saturating loss',
  configSchema: schema,
  create: (cfg, ctx) => new MlpGan(cfg, ctx.data, ctx.seed),
};
