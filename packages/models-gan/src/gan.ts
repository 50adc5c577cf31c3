/**
 * The adversarial training step every GAN plugin shares. A plugin file builds its generator
 * and discriminator (`GanNetworks`) and hands them here; this is composition, not a base
 * class: the loss, the penalty, DiffAugment, label smoothing, D steps per G step and the
 * generator EMA are options of this one step, so any loss works with any compatible
 * regulariser and any architecture.
 *
 * One step (Goodfellow et al. 2014, Algorithm 1, with the options in its place):
 *   for k in 1..dSteps:
 *     one power iteration of every spectral norm in D
 *     x̃ = G(z, y)                      (no gradient into G; y = the real labels if conditional)
 *     L_D = loss_D(D(aug(x)), D(aug(x̃))) + penalty + aux classification (ACGAN)
 *   L_G = loss_G(D(aug(G(z', y')))) + aux classification (ACGAN), y' uniform random labels
 *   w_ema ← decay·w_ema + (1 − decay)·w
 *
 * Sampling uses the EMA weights when enabled. G's batch-norm running averages belong to the
 * live weights, not to the EMA ones (measured on cgan-mnist: class accuracy 0.90 → 0.85 and
 * FID 7 → 41 when sampling with them), so an EMA generator samples with "standing
 * statistics" instead (Brock et al. 2019): the batch statistics of the EMA weights averaged
 * over STANDING_BATCHES batches of fixed noise, computed in each `sample` call (1,024 extra
 * generator passes per call; caching them would outlive the call as model state).
 */
import * as tf from '@tensorflow/tfjs-core';
import { latentExport, noiseSeed } from '@genlab/core';
import type { Batch, GenerativeModel, ModelExport, SampleOptions, StateDict, StepResult, TrainContext } from '@genlab/core';
import { diffAugment } from './augment.js';
import { classLoss, discriminatorLoss, generatorLoss, isLogistic } from './losses.js';
import { live, type BatchNorm, type BnStats, type Fwd, type Net } from './nn.js';
import type { GanOptions } from './options.js';
import { gradientPenalty, r1Penalty } from './penalties.js';

/** What D says about a batch. */
export interface DOutput {
  /** [n, 1]: a logit for the logistic losses, a score or critic value for the others. */
  score: tf.Tensor2D;
  /** [n, K]: class logits of an auxiliary classifier (ACGAN). */
  classLogits?: tf.Tensor2D;
}

/** A plugin's networks. */
export interface GanNetworks {
  G: Net;
  D: Net;
  /**
   * How labels are used: `none`; `conditional` (G and D both take the label, e.g. conditional
   * batch norm and a projection discriminator); `auxiliary` (ACGAN: G takes the label, D
   * predicts it).
   */
  conditioning: 'none' | 'conditional' | 'auxiliary';
  /** Number of classes (for conditional models). */
  numClasses: number;
  /** Weight of the auxiliary classification loss (ACGAN). */
  auxWeight?: number;
  /** z [n, latentDim] (and labels [n] when conditional) → [n, ...dataShape]. */
  generate(z: tf.Tensor2D, labels: tf.Tensor1D | undefined, f: Fwd): tf.Tensor;
  /** x [n, ...dataShape] (and labels) → D's outputs. */
  discriminate(x: tf.Tensor, labels: tf.Tensor1D | undefined, f: Fwd): DOutput;
}

/** Uniform random labels in 0..k-1 (int32 [n]). */
function randomLabels(n: number, k: number, seed: number): tf.Tensor1D {
  return tf.tidy(() => tf.cast(tf.minimum(tf.floor(tf.randomUniform([n], 0, k, 'float32', seed)), k - 1), 'int32') as tf.Tensor1D);
}

/** Standing statistics of an EMA generator: batches × batch size of fixed noise. */
export const STANDING_BATCHES = 16;
const STANDING_BATCH = 64;
const STANDING_SEED = 0x57a4d;

/** Most samples generated in one forward pass by `sample`. */
export const SAMPLE_CHUNK = 128;

/** Streams of `ctx.seed`: one per independent draw in a step. */
const S = { z: 0, fakeLabels: 100, augReal: 200, augFake: 300, gp: 400, zG: 1000, labelsG: 1001, augG: 1002 } as const;

/** A GAN made of `GanNetworks` and the shared options. */
export class Gan implements GenerativeModel {
  readonly optimizers;
  readonly conditional: boolean;
  /** EMA copies of G's trainable weights, keyed by the live variable. */
  private readonly ema = new Map<tf.Variable, tf.Variable>();

  constructor(
    private readonly nets: GanNetworks,
    private readonly opts: GanOptions,
    private readonly dataShape: number[],
  ) {
    this.optimizers = [
      { name: 'g', config: opts.optimizerG },
      { name: 'd', config: opts.optimizerD },
    ];
    this.conditional = nets.conditioning !== 'none';
    if (opts.ema.enabled) {
      for (const v of nets.G.trainable) this.ema.set(v, tf.tidy(() => tf.variable(v.clone(), false)));
    }
  }

  /** The labels G and D see (undefined for unconditional models). */
  private labels(y: tf.Tensor1D): tf.Tensor1D | undefined {
    return this.conditional ? y : undefined;
  }

  trainStep(batch: Batch, ctx: TrainContext): StepResult {
    const { G, D } = this.nets;
    const { latentDim, loss, dSteps, penalty, labelSmoothing, diffAugment: policy } = this.opts;
    const n = batch.x.shape[0]!;
    const real = batch.x;
    const yReal = this.labels(batch.y);
    const aux = this.nets.conditioning === 'auxiliary';
    const auxWeight = this.nets.auxWeight ?? 1;
    const out: StepResult = {};
    const keep = (k: string, t: tf.Scalar) => {
      out[k]?.dispose();
      out[k] = tf.keep(t);
    };
    const summary = (s: tf.Tensor) => (isLogistic(loss) ? tf.mean<tf.Scalar>(tf.sigmoid(s)) : tf.mean<tf.Scalar>(s));

    // 1. Discriminator: a real batch against a generated one (no gradient into G).
    for (let k = 0; k < dSteps; k++) {
      D.powerIterate();
      const z = tf.randomNormal([n, latentDim], 0, 1, 'float32', ctx.seed(S.z + k)) as tf.Tensor2D;
      // Fakes get the real batch's labels, so both halves have the same class balance.
      const fake = this.nets.generate(z, yReal, live(true));
      const lossD = ctx.optimize(
        'd',
        () => {
          const f = live(true);
          const dReal = this.nets.discriminate(diffAugment(real, policy, ctx.seed(S.augReal + k)), yReal, f);
          const dFake = this.nets.discriminate(diffAugment(fake, policy, ctx.seed(S.augFake + k)), yReal, f);
          keep('d_real', summary(dReal.score));
          keep('d_fake', summary(dFake.score));
          let total = discriminatorLoss(loss, dReal.score, dFake.score, labelSmoothing);
          const critic = (x: tf.Tensor) => this.nets.discriminate(x, yReal, f).score;
          if (penalty.type === 'gp') {
            const gp = gradientPenalty(critic, real, fake, penalty.weight, ctx.seed(S.gp + k));
            keep('gp', gp);
            total = tf.add(total, gp);
          } else if (penalty.type === 'r1') {
            const r1 = r1Penalty(critic, real, penalty.weight);
            keep('r1', r1);
            total = tf.add(total, r1);
          }
          if (aux) {
            const ce = tf.add<tf.Scalar>(classLoss(dReal.classLogits!, batch.y), classLoss(dFake.classLogits!, batch.y));
            keep('loss_aux_d', ce);
            total = tf.add(total, tf.mul(auxWeight, ce));
          }
          return total;
        },
        D.trainable,
      );
      keep('loss_d', lossD);
    }

    // 2. Generator: fresh noise (and uniform random labels), gradient through D into G only.
    const z = tf.randomNormal([n, latentDim], 0, 1, 'float32', ctx.seed(S.zG)) as tf.Tensor2D;
    const yFake = this.conditional ? randomLabels(n, this.nets.numClasses, ctx.seed(S.labelsG)) : undefined;
    const lossG = ctx.optimize(
      'g',
      () => {
        const f = live(true);
        const x = this.nets.generate(z, yFake, f);
        const d = this.nets.discriminate(diffAugment(x, policy, ctx.seed(S.augG)), yFake, f);
        let total = generatorLoss(loss, d.score);
        if (aux) {
          const ce = classLoss(d.classLogits!, yFake!);
          keep('loss_aux_g', ce);
          total = tf.add(total, tf.mul(auxWeight, ce));
        }
        return total;
      },
      G.trainable,
    );
    out.loss_g = lossG;
    this.updateEma(ctx.step);
    return out;
  }

  /** w_ema ← decay·w_ema + (1 − decay)·w (a copy before `start`). */
  private updateEma(step: number): void {
    if (!this.ema.size) return;
    const decay = step < this.opts.ema.start ? 0 : this.opts.ema.decay;
    tf.tidy(() => {
      for (const [v, e] of this.ema) e.assign(decay === 0 ? v : tf.add(tf.mul(e, decay), tf.mul(v, 1 - decay)));
    });
  }

  /** The forward pass used for sampling: running statistics, or EMA weights with standing statistics. */
  private sampling(): Fwd {
    if (!this.ema.size) return live(false);
    const w = (v: tf.Variable) => this.ema.get(v) ?? v;
    return { training: false, w, bn: this.nets.G.batchNorms.length ? { use: this.standingStats(w) } : undefined };
  }

  /**
   * Each G batch norm's batch mean and variance under the EMA weights, averaged over fixed
   * noise (and uniform labels). Call inside a tidy.
   */
  private standingStats(w: (v: tf.Variable) => tf.Tensor): Map<BatchNorm, BnStats> {
    const bns = this.nets.G.batchNorms;
    // Running sums [mean₀, variance₀, mean₁, …]; each pass in its own tidy, so only these
    // outlive it (16 passes' activations at once exhaust the wasm heap for the SNGAN).
    let sums: tf.Tensor[] = [];
    for (let b = 0; b < STANDING_BATCHES; b++) {
      const next = tf.tidy(() => {
        const seed = STANDING_SEED + 2 * b;
        const z = tf.randomNormal([STANDING_BATCH, this.opts.latentDim], 0, 1, 'float32', seed) as tf.Tensor2D;
        const labels = this.conditional ? randomLabels(STANDING_BATCH, this.nets.numClasses, seed + 1) : undefined;
        const got = new Map<BatchNorm, BnStats>();
        this.nets.generate(z, labels, { training: true, w, bn: { collect: (bn, stats) => got.set(bn, stats) } });
        return bns.flatMap((bn, i) => {
          const s = got.get(bn);
          if (!s) throw new Error(`standing statistics: batch norm ${i} of the generator was not used in its forward pass`);
          return sums.length ? [tf.add(sums[2 * i]!, s.mean), tf.add(sums[2 * i + 1]!, s.variance)] : [s.mean, s.variance];
        });
      });
      tf.dispose(sums);
      sums = next;
    }
    return new Map(bns.map((bn, i) => [bn, { mean: tf.div(sums[2 * i]!, STANDING_BATCHES), variance: tf.div(sums[2 * i + 1]!, STANDING_BATCHES) }]));
  }

  sample(n: number, opts: SampleOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
      const z = tf.randomNormal([n, this.opts.latentDim], 0, 1, 'float32', noiseSeed(seed)) as tf.Tensor2D;
      let labels: tf.Tensor1D | undefined;
      if (this.conditional) {
        if (opts.labels && opts.labels.shape[0] !== n) throw new Error(`sample: ${opts.labels.shape[0]} labels for ${n} samples`);
        // Without labels: classes in turn, so a grid shows every class.
        labels = opts.labels ?? tf.tensor1d(Array.from({ length: n }, (_, i) => i % this.nets.numClasses), 'int32');
      }
      const f = this.sampling();
      // In chunks: the evaluation asks for 500 at a time, and a ResNet generator's activations
      // for 500 images exhaust the wasm heap. Inference-mode layers treat samples
      // independently, so chunking does not change them.
      const parts: tf.Tensor[] = [];
      for (let s = 0; s < n; s += SAMPLE_CHUNK) {
        const c = Math.min(SAMPLE_CHUNK, n - s);
        parts.push(tf.tidy(() => this.nets.generate(tf.slice(z, [s, 0], [c, -1]), labels && tf.slice(labels, [s], [c]), f)));
      }
      return tf.reshape(parts.length === 1 ? parts[0]! : tf.concat(parts, 0), [n, ...this.dataShape]);
    });
  }

  /**
   * The generator as `sample` runs it: the EMA weights with their standing statistics when
   * EMA is on (computed once at export and folded into the graph), spectral norms folded
   * into the weights, batch norms in inference form.
   */
  exportSpec(): ModelExport {
    return latentExport({
      latentDim: this.opts.latentDim,
      numClasses: this.conditional ? this.nets.numClasses : 0,
      shape: this.dataShape,
      generate: (z, labels) => tf.reshape(this.nets.generate(z, labels, this.sampling()), [-1, ...this.dataShape]),
      info: { ema: this.ema.size > 0, conditioning: this.nets.conditioning },
    });
  }

  /**
   * `d_real_pos`: the share of real examples D scores as real (logit > 0; score > ½ for least
   * squares), in inference mode. Karras et al. (2020)'s over-fitting signal r_t = E[sign(D(x))].
   */
  diagnose(batch: Batch): StepResult {
    return tf.tidy(() => {
      const { score } = this.nets.discriminate(batch.x, this.labels(batch.y), live(false));
      const threshold = this.opts.loss === 'least-squares' ? 0.5 : 0;
      return { d_real_pos: tf.mean<tf.Scalar>(tf.cast(tf.greater(score, threshold), 'float32')) };
    });
  }

  getState(): StateDict {
    const out: StateDict = {};
    this.nets.G.state('generator', out);
    this.nets.D.state('discriminator', out);
    if (this.ema.size) this.nets.G.state('generator_ema', out, (v) => this.ema.get(v) ?? v);
    return out;
  }

  setState(state: StateDict): void {
    this.nets.G.setState('generator', state);
    this.nets.D.setState('discriminator', state);
    // Buffers (batch-norm statistics) have no EMA copy: their saved values are the live ones
    // (the EMA weights' standing statistics are recomputed from the weights when sampled).
    if (this.ema.size) this.nets.G.setState('generator_ema', state, (v) => this.ema.get(v) ?? v);
  }

  summary() {
    return [
      { name: 'generator', params: this.nets.G.countParams() },
      { name: 'discriminator', params: this.nets.D.countParams() },
    ];
  }

  dispose(): void {
    this.nets.G.dispose();
    this.nets.D.dispose();
    for (const e of this.ema.values()) e.dispose();
  }
}
