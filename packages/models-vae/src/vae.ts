/**
 * The variational autoencoder shared by the VAE plugins (Kingma & Welling 2014): an encoder
 * q(z | x) = N(μ(x), diag σ²(x)), the prior p(z) = N(0, I), and a decoder p(x | z) with one of
 * the likelihoods of likelihood.ts. Each plugin file builds its own encoder and decoder and
 * hands them here (composition, as models-gan's LayersGan): `vae/mlp`, `vae/conv`, and
 * `vae/cvae`, which feeds a one-hot class to both networks (Sohn et al. 2015).
 *
 * Training maximises the ELBO with one reparameterised draw z = μ + σ ⊙ ε per example:
 *   ELBO(x) = E_q[log p(x | z)] − KL(q(z | x) ‖ p(z)),  minimised as  recon + β·KL
 * (β-VAE, Higgins et al. 2017; β = 1 is the plain VAE). Evaluation reports the ELBO and the
 * importance-weighted bound of Burda et al. 2016 (IWAE, eq. 8):
 *   log p(x) ≥ L_k = E[log (1/k) Σᵢ p(x, zᵢ) / q(zᵢ | x)],  zᵢ ~ q(z | x),
 * which tightens as k grows (L_1 = ELBO, L_k → log p(x)).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { type CheckIssue, cyclicLabels, deriveSeed, latentExport, noiseSeed, type ExportGraph, type ModelExport, layerTargets, loadStateDict, optimizerSchema, stateDictOf, type Assignable, type Batch, type DataInfo, type GenerativeModel, type OptimizerConfig, type SampleOptions, type StateDict, type StepResult, type TrainContext } from '@genlab/core';
import { decoderMean, decoderNoise, decoderSample, decoderSampleWith, gaussianKl, LIKELIHOODS, type Likelihood, type LikelihoodChoice, likelihoodIssue, LOG_VAR_MIN, logProb, resolveLikelihood } from './likelihood.js';

/** Decoder rows (k draws × batch) per chunk of the IWAE bound: bounds evaluation memory. */
const IWAE_ROWS = 4096;
/** Weight of each batch in the Gaussian decoder's variance estimate (a moving average of the squared error). */
const VARIANCE_RATE = 0.1;

/** Config keys of the decoder's likelihood, spread into each plugin's `decoder` section. */
export const likelihoodOptions = {
  /** p(x | z): `auto` = bernoulli for binary data, continuous-bernoulli for [0, 1], gaussian otherwise. */
  likelihood: z.enum(LIKELIHOODS).default('auto'),
  /** The Gaussian decoder's log-variance, estimated from the squared error: one `global` value, or one per `pixel`. Ignored by the other likelihoods. */
  variance: z.enum(['global', 'pixel']).default('global'),
};

/**
 * Config keys every VAE plugin shares (spread into each schema), so their defaults cannot
 * drift apart: latent size 32, ReLU, β = 1, Adam lr 1e-3 (β1 0.9), IWAE with k = 100.
 */
export const vaeOptions = {
  /** Size of the latent z ~ N(0, I). */
  latentDim: z.number().int().positive().default(32),
  /** Hidden activation of encoder and decoder (leakyRelu: slope 0.2). */
  activation: z.enum(['relu', 'leakyRelu', 'elu', 'tanh']).default('relu'),
  /** Weight of the KL term in the training objective (β-VAE); 1 is the plain VAE. */
  beta: z.number().min(0).default(1),
  /** What `sample` returns: the decoder's `mean` (probabilities for Bernoulli), or a `sample` of p(x | z). */
  sampleMode: z.enum(['mean', 'sample']).default('mean'),
  /** Adam with the VAE defaults (lr 1e-3, β1 0.9); core's optimizer options. */
  optimizer: optimizerSchema.extend({ lr: z.number().positive().default(1e-3), beta1: z.number().min(0).lt(1).default(0.9) }).prefault({}),
  eval: z
    .object({
      /** Importance samples k of the IWAE bound reported as `nll`. */
      iwaeK: z.number().int().positive().default(100),
      /** Seed of the evaluation noise (fixed, so `exp eval` is reproducible). */
      seed: z.number().int().min(0).default(0),
    })
    .strict()
    .prefault({}),
};
const _shared = z.object(vaeOptions);
type SharedConfig = z.output<typeof _shared>;

/** What the model needs from a plugin's config, resolved. */
export interface VaeOptions extends Pick<SharedConfig, 'latentDim' | 'beta' | 'sampleMode'> {
  likelihood: Likelihood;
  variance: 'global' | 'pixel';
  optimizer: OptimizerConfig;
  iwaeK: number;
  evalSeed: number;
  /** Classes of the one-hot condition fed to both networks; 0 for an unconditional VAE. */
  numClasses: number;
}

/** The two networks of a VAE. With `numClasses > 0` both take a one-hot class [B, K] as their second input. */
export interface VaeNets {
  /** x [B, ...its input shape] (, c [B, K]) → [B, 2L]: μ then log σ². */
  encoder: tfl.LayersModel;
  /** z [B, L] (, c [B, K]) → [B, D]: logits (Bernoulli, continuous Bernoulli) or means (Gaussian). */
  decoder: tfl.LayersModel;
}

/** Per-example ELBO terms (nats): `recon` = −log p(x | z), `kl` = KL(q(z | x) ‖ p(z)); each [B]. */
export interface ElboTerms {
  recon: tf.Tensor1D;
  kl: tf.Tensor1D;
}

/** A VAE from an encoder and a decoder (see `VaeNets`). */
export class Vae implements GenerativeModel {
  readonly optimizers;
  readonly conditional: boolean;
  /** How `evaluate`'s `nll` is estimated (recorded in the metric's protocol). */
  readonly likelihoodEstimator: string;
  private readonly dim: number;
  private readonly xShape: number[];
  /**
   * The Gaussian decoder's log-variance, [D] (`pixel`) or [1] (`global`); starts at 0 (σ = 1)
   * and follows the training error in closed form (see `trainStep`), not by gradient.
   */
  private readonly rawLogVar?: tf.Variable;

  constructor(
    private readonly nets: VaeNets,
    private readonly opts: VaeOptions,
    private readonly data: DataInfo,
  ) {
    this.optimizers = [{ name: 'vae', config: opts.optimizer }];
    this.conditional = opts.numClasses > 0;
    this.dim = data.shape.reduce((a, b) => a * b, 1);
    this.xShape = (nets.encoder.inputs[0]!.shape as (number | null)[]).slice(1) as number[];
    if (opts.likelihood === 'gaussian') this.rawLogVar = tf.variable(tf.zeros([opts.variance === 'pixel' ? this.dim : 1]), false, undefined, 'float32');
    this.likelihoodEstimator = `iwae k=${opts.iwaeK} seed=${opts.evalSeed}${this.conditional ? ` marginal over ${opts.numClasses} classes, p(y) uniform` : ''}`;
  }

  /** One-hot classes [n, K] for a conditional model, undefined otherwise. */
  private condition(labels: tf.Tensor1D | undefined, n: number): tf.Tensor2D | undefined {
    if (!this.conditional) return undefined;
    const y = labels ?? tf.tensor1d(Int32Array.from({ length: n }, (_, i) => i % this.opts.numClasses), 'int32');
    if (y.shape[0] !== n) throw new Error(`sample: got ${y.shape[0]} labels for ${n} samples`);
    return tf.cast(tf.oneHot(tf.cast(y, 'int32'), this.opts.numClasses), 'float32') as tf.Tensor2D;
  }

  private vars(): tf.Variable[] {
    return [...this.nets.encoder.trainableWeights, ...this.nets.decoder.trainableWeights].map((w) => w.read() as tf.Variable);
  }

  /** The Gaussian decoder's log-variance, kept ≥ LOG_VAR_MIN; undefined for the other likelihoods. */
  private logVar(): tf.Tensor | undefined {
    return this.rawLogVar ? tf.maximum(this.rawLogVar, LOG_VAR_MIN) : undefined;
  }

  /** q(z | x): μ and log σ², each [B, L]. */
  encode(x: tf.Tensor, c?: tf.Tensor2D): { mu: tf.Tensor2D; logVar: tf.Tensor2D } {
    const n = x.shape[0]!;
    const xin = tf.reshape(x, [n, ...this.xShape]);
    const out = this.nets.encoder.apply(c ? [xin, c] : xin, { training: true }) as tf.Tensor2D; // [B, 2L]
    const [mu, logVar] = tf.split(out, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    return { mu, logVar };
  }

  /** Decoder parameters for latents `z` [N, L]: [N, D]. */
  decode(z: tf.Tensor2D, c?: tf.Tensor2D): tf.Tensor2D {
    const out = this.nets.decoder.apply(c ? [z, c] : z, { training: true }) as tf.Tensor;
    return tf.reshape(out, [z.shape[0], this.dim]);
  }

  /**
   * The ELBO's terms for a batch with given noise ε [B, L] (z = μ + σ ⊙ ε): −log p(x | z)
   * and the closed-form KL, per example. Exposed so tests can pass the noise in.
   */
  elboTerms(x: tf.Tensor, labels: tf.Tensor1D | undefined, eps: tf.Tensor2D): ElboTerms {
    return tf.tidy(() => {
      const { recon, kl } = this.forward(x, labels, eps);
      return { recon, kl };
    });
  }

  /** `elboTerms` and the decoder parameters [B, D] it used. */
  private forward(x: tf.Tensor, labels: tf.Tensor1D | undefined, eps: tf.Tensor2D): ElboTerms & { params: tf.Tensor2D } {
    const n = x.shape[0]!;
    const c = this.condition(labels, n);
    const { mu, logVar } = this.encode(x, c);
    const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logVar, 0.5)), eps)) as tf.Tensor2D; // [B, L]
    const params = this.decode(z, c); // [B, D]
    const recon = tf.neg(logProb(this.opts.likelihood, params, tf.reshape(x, [n, this.dim]), this.data.range, this.logVar())) as tf.Tensor1D;
    return { recon, kl: gaussianKl(mu, logVar) as tf.Tensor1D, params };
  }

  /**
   * One gradient step on recon + β·KL (one draw ε per example, seeded by the step). For the
   * Gaussian decoder the variance then moves towards its maximum-likelihood value given the
   * step's means, the squared error (x − m)² averaged over the batch (and the pixels for
   * `global`): σ² ← (1 − ρ)·σ² + ρ·mse, ρ = 0.1. A gradient step on log σ² would move it by
   * about the learning rate per step (thousands of steps from σ = 1 to a calibrated σ; cf.
   * the calibrated decoders of Rybkin et al. 2021); the closed form follows the error at once.
   */
  trainStep(batch: Batch, ctx: TrainContext) {
    const n = batch.x.shape[0]!;
    const eps = tf.randomNormal([n, this.opts.latentDim], 0, 1, 'float32', ctx.seed(0)) as tf.Tensor2D;
    let recon: tf.Scalar | undefined;
    let kl: tf.Scalar | undefined;
    let means: tf.Tensor2D | undefined;
    ctx.optimize(
      'vae',
      () => {
        const t = this.forward(batch.x, batch.y, eps);
        recon = tf.keep(tf.mean<tf.Scalar>(t.recon));
        kl = tf.keep(tf.mean<tf.Scalar>(t.kl));
        if (this.rawLogVar) means = tf.keep(t.params);
        // recon + β·KL; with β = 1 the negative ELBO.
        return tf.add(recon, tf.mul(kl, this.opts.beta));
      },
      this.vars(),
    );
    if (this.rawLogVar && means) {
      const lv = this.rawLogVar;
      const m = means;
      tf.tidy(() => {
        const sq = tf.square(tf.sub(tf.reshape(batch.x, [n, this.dim]), m)); // [B, D]
        const mse = this.opts.variance === 'pixel' ? tf.mean(sq, 0) : tf.reshape(tf.mean(sq), [1]);
        lv.assign(tf.log(tf.add(tf.mul(1 - VARIANCE_RATE, tf.exp(lv)), tf.mul(VARIANCE_RATE, mse))));
      });
      m.dispose(); // kept out of the gradient's scope above
    }
    // `loss` is the negative ELBO per example whatever β is, so runs with different β compare.
    return { loss: tf.add(recon!, kl!) as tf.Scalar, recon: recon!, kl: kl! };
  }

  /**
   * IWAE bound and ELBO of x [B, ...] under condition c, per example [B] (nats):
   * log w_i = log p(x | z_i) + log p(z_i) − log q(z_i | x) for k draws z_i = μ + σ ⊙ ε_i, and
   * L_k = logsumexp_i(log w_i) − log k. Draws are taken in chunks of at most IWAE_ROWS decoder
   * rows, each chunk's logsumexp kept and combined at the end, so memory does not grow with k.
   * The ELBO is −(mean_i −log p(x | z_i)) − KL (closed form) over the same draws.
   */
  private bounds(x: tf.Tensor, c: tf.Tensor2D | undefined): { logPx: tf.Tensor1D; elbo: tf.Tensor1D; recon: tf.Tensor1D; kl: tf.Tensor1D } {
    const { iwaeK: k, latentDim: L, evalSeed } = this.opts;
    const n = x.shape[0]!;
    const xf = tf.reshape(x, [n, this.dim]);
    const { mu, logVar } = this.encode(x, c);
    const sigma = tf.exp(tf.mul(logVar, 0.5));
    const logVarSum = tf.sum(logVar, 1); // [B]
    const chunk = Math.max(1, Math.min(k, Math.floor(IWAE_ROWS / n)));
    const lses: tf.Tensor1D[] = [];
    let reconSum: tf.Tensor1D = tf.zeros([n]);
    for (let start = 0; start < k; start += chunk) {
      const m = Math.min(chunk, k - start);
      const [lse, rs] = tf.tidy(() => {
        // One [B, L] draw per importance sample i, seeded by (seed, i): independent of chunking.
        const eps = tf.stack(Array.from({ length: m }, (_, j) => tf.randomNormal([n, L], 0, 1, 'float32', deriveSeed(evalSeed, start + j)))); // [m, B, L]
        const z = tf.add(mu, tf.mul(sigma, eps)); // [m, B, L]
        const cm = c ? (tf.tile(c, [m, 1]) as tf.Tensor2D) : undefined; // [m·B, K], row i·B + b is c[b]
        const params = tf.reshape(this.decode(tf.reshape(z, [m * n, L]) as tf.Tensor2D, cm), [m, n, this.dim]);
        const logPxz = logProb(this.opts.likelihood, params, xf, this.data.range, this.logVar()); // [m, B]
        // log p(z) − log q(z | x) = −½Σz² + ½Σε² + ½Σ log σ² (the log 2π terms cancel).
        const logRatio = tf.mul(0.5, tf.add(tf.sub(tf.sum(tf.square(eps), 2), tf.sum(tf.square(z), 2)), logVarSum));
        return [tf.logSumExp(tf.add(logPxz, logRatio), 0), tf.sum(logPxz, 0)] as tf.Tensor1D[];
      });
      lses.push(lse!);
      const next = tf.add(reconSum, rs!) as tf.Tensor1D;
      tf.dispose([reconSum, rs!]);
      reconSum = next;
    }
    const logPx = tf.sub(tf.logSumExp(tf.stack(lses), 0), Math.log(k)) as tf.Tensor1D;
    const recon = tf.div(tf.neg(reconSum), k) as tf.Tensor1D;
    const kl = gaussianKl(mu, logVar) as tf.Tensor1D;
    const elbo = tf.neg(tf.add(recon, kl)) as tf.Tensor1D;
    tf.dispose([...lses, reconSum, xf, mu, logVar, sigma, logVarSum]);
    return { logPx, elbo, recon, kl };
  }

  /**
   * Per-example means over the batch, in nats: `nll` = −L_k (IWAE bound, k = `eval.iwaeK`),
   * `nll_elbo` = −ELBO, and the ELBO's `recon` and `kl`. A conditional model reports the
   * marginal over classes with a uniform p(y), −log (1/K) Σ_y p̂(x | y), as `nll` and
   * `nll_elbo` (comparable with unconditional models), plus `nll_cond` = −log p̂(x | y) for the
   * true labels; `recon` and `kl` are for the true labels. Noise is seeded by `eval.seed`.
   */
  evaluate(batch: Batch): StepResult {
    return tf.tidy((): StepResult => {
      const n = batch.x.shape[0]!;
      if (!this.conditional) {
        const b = this.bounds(batch.x, undefined);
        return { nll: tf.neg(tf.mean<tf.Scalar>(b.logPx)), nll_elbo: tf.neg(tf.mean<tf.Scalar>(b.elbo)), recon: tf.mean<tf.Scalar>(b.recon), kl: tf.mean<tf.Scalar>(b.kl) };
      }
      const K = this.opts.numClasses;
      const per = Array.from({ length: K }, (_, y) => tf.tidy(() => this.bounds(batch.x, this.condition(tf.fill([n], y, 'int32') as tf.Tensor1D, n))));
      const onTrue = tf.cast(tf.oneHot(tf.cast(batch.y, 'int32'), K), 'float32'); // [B, K]
      const pick = (key: 'logPx' | 'recon' | 'kl') => tf.sum(tf.mul(tf.stack(per.map((p) => p[key]), 1), onTrue), 1); // [B]
      const marginal = (key: 'logPx' | 'elbo') => tf.sub(tf.logSumExp(tf.stack(per.map((p) => p[key])), 0), Math.log(K)); // [B]
      return {
        nll: tf.neg(tf.mean<tf.Scalar>(marginal('logPx'))),
        nll_elbo: tf.neg(tf.mean<tf.Scalar>(marginal('elbo'))),
        nll_cond: tf.neg(tf.mean<tf.Scalar>(pick('logPx'))),
        recon: tf.mean<tf.Scalar>(pick('recon')),
        kl: tf.mean<tf.Scalar>(pick('kl')),
      };
    });
  }

  /** Decoder output for parameters [N, D] as images: the mean, or a draw (`sampleMode`). */
  private render(params: tf.Tensor2D, seed: number): tf.Tensor {
    const x =
      this.opts.sampleMode === 'mean'
        ? decoderMean(this.opts.likelihood, params, this.data.range)
        : decoderSample(this.opts.likelihood, params, this.data.range, deriveSeed(seed, 1), this.logVar());
    return tf.reshape(x, [params.shape[0], ...this.data.shape]);
  }

  /** `n` images from z ~ N(0, I) (seeded), for `labels` [n] when conditional (default: classes 0, 1, … in turn). */
  sample(n: number, opts: SampleOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
      const z = tf.randomNormal([n, this.opts.latentDim], 0, 1, 'float32', noiseSeed(seed)) as tf.Tensor2D;
      return this.render(this.decode(z, this.condition(opts.labels, n)), seed);
    });
  }

  /**
   * The decoder as `sample` runs it (the mean, or a draw whose noise is an input `noise`),
   * and the encoder (x → μ, log σ²) for reconstructions and interpolations.
   */
  exportSpec(): ModelExport {
    const K = this.conditional ? this.opts.numClasses : 0;
    const { shape, range } = this.data;
    const kind = this.opts.likelihood;
    const sampled = this.opts.sampleMode === 'sample';
    const labelInput = { name: 'labels', shape: [], dtype: 'int32' as const, description: `class indices 0…${K - 1}`, example: (n: number) => cyclicLabels(n, K) };
    const encoder: ExportGraph = {
      inputs: [{ name: 'x', shape, dtype: 'float32', description: 'images in the data range', example: (n) => tf.randomUniform([n, ...shape], range[0], range[1], 'float32', 5) }, ...(K ? [labelInput] : [])],
      outputs: { mu: 'posterior mean μ [n, latentDim]', logVar: 'posterior log-variance log σ² [n, latentDim]' },
      forward: ({ x, labels }) => {
        const { mu, logVar } = this.encode(x!, this.condition(labels as tf.Tensor1D | undefined, x!.shape[0]!));
        return { mu, logVar };
      },
    };
    const noise = kind === 'gaussian' ? ('normal' as const) : ('uniform' as const);
    return latentExport({
      latentDim: this.opts.latentDim,
      numClasses: K,
      shape,
      generate: (z, labels, inputs) => {
        const params = this.decode(z, this.condition(labels, z.shape[0]));
        const x = sampled ? decoderSampleWith(kind, params, range, inputs.noise!, this.logVar()) : decoderMean(kind, params, range);
        return tf.reshape(x, [-1, ...shape]);
      },
      extraGraphs: { encoder },
      extraInputs: sampled
        ? [
            {
              input: { name: 'noise', shape: [this.dim], dtype: 'float32', description: `the decoder's draw: ${noise === 'normal' ? 'N(0, 1)' : 'U(0, 1)'} per pixel`, example: (n) => decoderNoise(kind, [n, this.dim], 3) },
              random: { distribution: noise, shape: [this.dim], description: `per-pixel noise of the decoder's draw (${kind} likelihood)` },
              draw: (n, seed) => decoderNoise(kind, [n, this.dim], deriveSeed(seed, 1)),
            },
          ]
        : [],
      info: { likelihood: kind, sampleMode: this.opts.sampleMode },
    });
  }

  /**
   * Pictures of a batch of real data, each a grid [rows, cols, ...dataShape] in the data range:
   * - `reconstructions`: rows of up to 8 inputs, each followed by a row of their
   *   reconstructions from the posterior mean z = μ(x);
   * - `interpolations`: one row per pair of consecutive examples (x_a, x_b), up to 8 pairs:
   *   x_a, then the decoder at 8 points z = (1 − t)·μ(x_a) + t·μ(x_b), t = 0 … 1, then x_b
   *   (a conditional model interpolates the one-hot class the same way).
   */
  previews(batch: Batch, opts: { seed: number }): Record<string, tf.Tensor> {
    return tf.tidy(() => {
      const out: Record<string, tf.Tensor> = {};
      const n = batch.x.shape[0]!;
      const cols = Math.min(8, n);
      const rows = Math.floor(n / cols);
      const used = rows * cols;
      const x = tf.slice(batch.x, 0, used);
      const c = this.condition(this.conditional ? tf.slice(batch.y, 0, used) : undefined, used);
      const { mu } = this.encode(x, c);
      const rec = this.render(this.decode(mu, c), opts.seed);
      // [rows, 2, cols, ...] → [2·rows, cols, ...]: input row, reconstruction row, …
      const shape = this.data.shape;
      const paired = tf.stack([tf.reshape(x, [rows, cols, ...shape]), tf.reshape(rec, [rows, cols, ...shape])], 1);
      out.reconstructions = tf.reshape(paired, [2 * rows, cols, ...shape]);

      const pairs = Math.min(8, Math.floor(used / 2));
      if (pairs > 0) {
        const steps = 8;
        const pick = (t: tf.Tensor, parity: number) => tf.gather(t, tf.tensor1d(Array.from({ length: pairs }, (_, i) => 2 * i + parity), 'int32'));
        const t = tf.reshape(tf.linspace(0, 1, steps), [1, steps, 1]); // [1, S, 1]
        const lerp = (a: tf.Tensor, b: tf.Tensor) => tf.add(tf.mul(tf.sub(1, t), tf.expandDims(a, 1)), tf.mul(t, tf.expandDims(b, 1))); // [P, S, ·]
        const zs = tf.reshape(lerp(pick(mu, 0), pick(mu, 1)), [pairs * steps, this.opts.latentDim]) as tf.Tensor2D;
        const cs = c ? (tf.reshape(lerp(pick(c, 0), pick(c, 1)), [pairs * steps, this.opts.numClasses]) as tf.Tensor2D) : undefined;
        const mid = tf.reshape(this.render(this.decode(zs, cs), opts.seed), [pairs, steps, ...shape]);
        out.interpolations = tf.concat([tf.expandDims(pick(x, 0), 1), mid, tf.expandDims(pick(x, 1), 1)], 1); // [P, S + 2, ...]
      }
      return out;
    });
  }

  /** Encoder and decoder weights, and the Gaussian likelihood's log-variance when it has one. */
  private stateTargets(): [string, Assignable & { read(): tf.Tensor }][] {
    const lv = this.rawLogVar;
    return [
      ...layerTargets('encoder', this.nets.encoder.weights),
      ...layerTargets('decoder', this.nets.decoder.weights),
      ...(lv ? [['likelihood/logVar', { shape: lv.shape, read: () => lv, assign: (t: tf.Tensor) => void lv.assign(t) }] as [string, Assignable & { read(): tf.Tensor }]] : []),
    ];
  }

  getState(): StateDict {
    return stateDictOf(this.stateTargets().map(([key, w]) => [key, w.read()] as const));
  }

  setState(state: StateDict): void {
    loadStateDict(this.stateTargets(), state);
  }

  summary() {
    return [
      { name: 'encoder', params: this.nets.encoder.countParams() },
      { name: 'decoder', params: this.nets.decoder.countParams() + (this.rawLogVar?.size ?? 0) },
    ];
  }

  dispose(): void {
    this.nets.encoder.dispose();
    this.nets.decoder.dispose();
    this.rawLogVar?.dispose();
  }
}

/** The hidden activation layer named by the `activation` option (LeakyReLU slope 0.2). */
export function activationLayer(name: SharedConfig['activation']): tfl.layers.Layer {
  return name === 'leakyRelu' ? tfl.layers.leakyReLU({ alpha: 0.2 }) : tfl.layers.activation({ activation: name });
}

/**
 * The issues of a VAE's options on `data` (`ModelPlugin.check`): the decoder likelihood
 * against the data's range and binarity, images for a convolutional net, labels for a
 * conditional one. `create` refuses the same through `resolveOptions` and the nets.
 */
export function vaeIssues(
  cfg: { decoder: { likelihood: LikelihoodChoice } },
  data: DataInfo,
  needs: { name: string; images?: boolean; classes?: boolean },
): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const likelihood = likelihoodIssue(cfg.decoder.likelihood, data);
  if (likelihood) issues.push({ path: 'decoder.likelihood', message: likelihood });
  if (needs.images) {
    const why = convShapeIssue(needs.name, data);
    if (why) issues.push({ message: why });
  }
  if (needs.classes && data.numClasses === 0) {
    issues.push({ message: `${needs.name} is conditioned on the class, but the data is unlabelled (numClasses 0): use an unconditional VAE, or a labelled dataset` });
  }
  return issues;
}

/** Why a convolutional VAE cannot take this data (images with sides divisible by 4), or undefined. */
export function convShapeIssue(model: string, data: DataInfo): string | undefined {
  if (data.shape.length !== 3 || data.shape[0]! % 4 !== 0 || data.shape[1]! % 4 !== 0) {
    return `${model} needs images [H, W, C] with H and W divisible by 4, the data has shape [${data.shape.join(', ')}]: use vae/mlp for other data`;
  }
  return undefined;
}

/** A plugin config's shared keys and decoder likelihood, resolved against the data. */
export function resolveOptions(
  cfg: SharedConfig & { decoder: { likelihood: LikelihoodChoice; variance: 'global' | 'pixel' } },
  data: DataInfo,
  numClasses: number,
): VaeOptions {
  return {
    latentDim: cfg.latentDim,
    beta: cfg.beta,
    sampleMode: cfg.sampleMode,
    likelihood: resolveLikelihood(cfg.decoder.likelihood, data, 'model.decoder.likelihood'),
    variance: cfg.decoder.variance,
    optimizer: cfg.optimizer,
    iwaeK: cfg.eval.iwaeK,
    evalSeed: cfg.eval.seed,
    numClasses,
  };
}
