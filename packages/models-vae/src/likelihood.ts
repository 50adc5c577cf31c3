/**
 * Decoder likelihoods p(x | z) of the VAE plugins and the Gaussian posterior's KL term.
 *
 * Every function works on decoder parameters `params` of shape [..., D] (one row of D values
 * per example, any leading dimensions) and data `x` broadcastable to it, in the data range,
 * and sums log-densities over the last axis, so a result has the leading shape ([N] or
 * [k, N]). Units are nats.
 *
 * - `bernoulli` (binary data): `params` are logits a; with t = (x − lo)/(hi − lo) ∈ {0, 1},
 *   log p = t·a − softplus(a). A discrete likelihood: its NLL is a real code length.
 * - `continuous-bernoulli` (data in [0, 1]; Loaiza-Ganem & Cunningham 2019): `params` are
 *   logits a, λ = σ(a), and p(x | λ) = C(λ) λˣ (1 − λ)¹⁻ˣ with the normaliser
 *   C(λ) = 2 artanh(1 − 2λ) / (1 − 2λ) (C(½) = 2). In logits, 1 − 2λ = −tanh(a/2) and
 *   artanh(1 − 2λ) = −a/2, so C = a / tanh(a/2): even in a, and evaluated by its Taylor series
 *   near a = 0 (λ = ½), where the closed form is 0/0.
 * - `gaussian` (any range): `params` are means m; log p = −½ (log 2π + log σ² + (x − m)²/σ²)
 *   with a learned log-variance (one global value, or one per pixel), kept ≥ LOG_VAR_MIN.
 *
 * The last two are densities on the continuous values: their NLL can be negative and is not
 * comparable with the discrete NLL of binarised data.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError, type DataInfo } from '@genlab/core';

/** The decoder likelihoods a config may name (`auto` resolves from the data). */
export const LIKELIHOODS = ['auto', 'bernoulli', 'gaussian', 'continuous-bernoulli'] as const;
export type LikelihoodChoice = (typeof LIKELIHOODS)[number];
export type Likelihood = Exclude<LikelihoodChoice, 'auto'>;

/** Lower bound of the Gaussian decoder's log-variance: σ ≥ 0.01 (about one grey level of 8-bit data on [-1, 1]). */
export const LOG_VAR_MIN = 2 * Math.log(0.01);

/** Below this |a| the continuous-Bernoulli normaliser and mean use their Taylor series. */
const CB_TAYLOR = 0.1;
const LOG_2PI = Math.log(2 * Math.PI);

/**
 * The likelihood for `choice` on data `data`: `auto` is Bernoulli for binary data,
 * continuous Bernoulli for [0, 1], Gaussian otherwise. Throws a `UserError` naming `key`
 * for a choice the data cannot support.
 */
export function resolveLikelihood(choice: LikelihoodChoice, data: Pick<DataInfo, 'range' | 'binary'>, key: string): Likelihood {
  const why = likelihoodIssue(choice, data);
  if (why) throw new UserError(`'${key}': ${why}`);
  const [lo, hi] = data.range;
  if (choice === 'auto') return data.binary ? 'bernoulli' : lo === 0 && hi === 1 ? 'continuous-bernoulli' : 'gaussian';
  return choice;
}

/** Why the data cannot support a likelihood choice, or undefined. */
export function likelihoodIssue(choice: LikelihoodChoice, data: Pick<DataInfo, 'range' | 'binary'>): string | undefined {
  const [lo, hi] = data.range;
  const unit = lo === 0 && hi === 1;
  if (choice === 'bernoulli' && !data.binary) {
    return (
      `bernoulli needs binary data, but this data has grey levels in [${lo}, ${hi}], where a Bernoulli "NLL" would not be a likelihood. ` +
      `Binarise the data (dataset.binarize: threshold, static or stochastic) or use ${unit ? 'continuous-bernoulli' : 'gaussian'} (or auto)`
    );
  }
  if (choice === 'continuous-bernoulli' && !unit) return `continuous-bernoulli needs data in [0, 1], this data is in [${lo}, ${hi}]: set dataset.range: [0, 1] or use gaussian`;
  return undefined;
}

/** log C(λ) of the continuous Bernoulli with logits `a`: log(a / tanh(a/2)), log 2 + a²/12 − 7a⁴/1440 near 0. Elementwise. */
export function cbLogNormaliser(a: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const abs = tf.abs(a);
    // m = 1 where |a| < CB_TAYLOR. Built with tf.step and blended arithmetically rather than
    // with a comparison and tf.where: comparisons have no gradient on the stock backends.
    const m = tf.step(tf.sub(CB_TAYLOR, abs));
    // The closed form is evaluated at 1 where it is not used, so it is never 0/0 there and
    // its (zero-weighted) gradient stays finite.
    const safe = tf.add(abs, tf.mul(m, tf.sub(1, abs)));
    const exact = tf.sub(tf.log(safe), tf.log(tf.tanh(tf.mul(safe, 0.5))));
    const a2 = tf.square(a);
    const series = tf.add(Math.LN2, tf.mul(a2, tf.sub(1 / 12, tf.mul(a2, 7 / 1440))));
    return tf.add(tf.mul(m, series), tf.mul(tf.sub(1, m), exact));
  });
}

/** The continuous Bernoulli's mean E[x] = 1/(1 − e⁻ᵃ) − 1/a (½ + a/12 − a³/720 near 0). Elementwise, in [0, 1]. */
export function cbMean(a: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const small = tf.less(tf.abs(a), CB_TAYLOR);
    const safe = tf.where(small, tf.onesLike(a), a); // onesLike, not fill: an exported graph takes any batch size
    const exact = tf.sub(tf.reciprocal(tf.neg(tf.expm1(tf.neg(safe)))), tf.reciprocal(safe));
    const series = tf.add(0.5, tf.mul(a, tf.sub(1 / 12, tf.div(tf.square(a), 720))));
    return tf.clipByValue(tf.where(small, series, exact), 0, 1);
  });
}

/**
 * A draw from the continuous Bernoulli by its inverse CDF, for uniform `u`:
 * x = log(1 + u (eᵃ − 1)) / a, written as log1p(u·expm1(a))/a for a < 0 and through the
 * symmetry x(a, u) = 1 − x(−a, 1 − u) for a > 0 (no overflow); u + a·u(1 − u)/2 near 0.
 */
export function cbSample(a: tf.Tensor, u: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const neg = tf.less(a, 0);
    const an = tf.neg(tf.abs(a)); // ≤ 0
    const un = tf.where(neg, u, tf.sub(1, u));
    const small = tf.less(tf.abs(a), 1e-3);
    const safe = tf.where(small, tf.neg(tf.onesLike(a)), an);
    const xn = tf.div(tf.log1p(tf.mul(un, tf.expm1(safe))), safe); // the draw for −|a|
    const exact = tf.where(neg, xn, tf.sub(1, xn));
    const series = tf.add(u, tf.mul(tf.mul(a, tf.mul(u, tf.sub(1, u))), 0.5));
    return tf.clipByValue(tf.where(small, series, exact), 0, 1);
  });
}

/** t·a − softplus(a), stably: t·a − max(a, 0) − log1p(e^−|a|). Elementwise. */
function bernoulliLogProb(a: tf.Tensor, t: tf.Tensor): tf.Tensor {
  return tf.sub(tf.sub(tf.mul(t, a), tf.relu(a)), tf.log1p(tf.exp(tf.neg(tf.abs(a)))));
}

/**
 * log p(x | params), summed over the last axis (nats): [..., D] → [...].
 * @param logVar the Gaussian decoder's log-variance, [D] or [1] (already ≥ LOG_VAR_MIN); unused otherwise
 */
export function logProb(kind: Likelihood, params: tf.Tensor, x: tf.Tensor, range: [number, number], logVar?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [lo, hi] = range;
    const last = params.rank - 1;
    if (kind === 'bernoulli') {
      const t = tf.div(tf.sub(x, lo), hi - lo);
      return tf.sum(bernoulliLogProb(params, t), last);
    }
    if (kind === 'continuous-bernoulli') return tf.sum(tf.add(bernoulliLogProb(params, x), cbLogNormaliser(params)), last);
    if (!logVar) throw new Error('the Gaussian likelihood needs its log-variance');
    const sq = tf.div(tf.square(tf.sub(x, params)), tf.exp(logVar));
    return tf.mul(-0.5, tf.sum(tf.add(tf.add(sq, logVar), LOG_2PI), last));
  });
}

/** E[x | params] in the data range: lo + (hi − lo)·σ(a), the continuous-Bernoulli mean, or the Gaussian mean clipped to the range. */
export function decoderMean(kind: Likelihood, params: tf.Tensor, range: [number, number]): tf.Tensor {
  return tf.tidy(() => {
    const [lo, hi] = range;
    if (kind === 'bernoulli') return tf.add(lo, tf.mul(hi - lo, tf.sigmoid(params)));
    if (kind === 'continuous-bernoulli') return cbMean(params);
    return tf.clipByValue(params, lo, hi);
  });
}

/** A draw x ~ p(x | params) (Gaussian draws clipped to the data range), seeded. */
export function decoderSample(kind: Likelihood, params: tf.Tensor, range: [number, number], seed: number, logVar?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => decoderSampleWith(kind, params, range, decoderNoise(kind, params.shape, seed), logVar));
}

/** The noise `decoderSample` draws: ε ~ N(0, 1) for the Gaussian, u ~ U(0, 1) otherwise. */
export function decoderNoise(kind: Likelihood, shape: number[], seed: number): tf.Tensor {
  return kind === 'gaussian' ? tf.randomNormal(shape, 0, 1, 'float32', seed) : tf.randomUniform(shape, 0, 1, 'float32', seed);
}

/** `decoderSample` with its noise given (an exported decoder takes the noise as an input). */
export function decoderSampleWith(kind: Likelihood, params: tf.Tensor, range: [number, number], noise: tf.Tensor, logVar?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [lo, hi] = range;
    if (kind === 'gaussian') {
      if (!logVar) throw new Error('the Gaussian likelihood needs its log-variance');
      return tf.clipByValue(tf.add(params, tf.mul(tf.exp(tf.mul(logVar, 0.5)), noise)), lo, hi);
    }
    if (kind === 'bernoulli') {
      const zeros = tf.zerosLike(params);
      return tf.where(tf.less(noise, tf.sigmoid(params)), tf.add(zeros, hi), tf.add(zeros, lo));
    }
    return cbSample(params, noise);
  });
}

/** KL(N(μ, diag e^{logVar}) ‖ N(0, I)) = ½ Σ (μ² + σ² − 1 − log σ²) over the last axis (Kingma & Welling 2014, appendix B). */
export function gaussianKl(mu: tf.Tensor, logVar: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(0.5, tf.sum(tf.sub(tf.add(tf.square(mu), tf.exp(logVar)), tf.add(1, logVar)), mu.rank - 1)));
}
