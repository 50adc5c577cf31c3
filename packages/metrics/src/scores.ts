/**
 * The sample-quality scores, each a pure function of feature sets (or class probabilities):
 *
 * - FID: Fréchet distance of Gaussian fits (Heusel et al. 2017).
 * - KID: unbiased MMD² with the cubic polynomial kernel k(a, b) = (a·b / d + 1)³, mean and
 *   std over random subsets (Bińkowski et al. 2018; 100 subsets of 1,000 as in clean-fid).
 * - IS: exp E_x KL(p(y|x) ‖ p(y)) over splits (Salimans et al. 2016), here with the domain
 *   classifier in place of Inception.
 * - Precision / recall: k-NN manifolds (Kynkäänniemi et al. 2019, k = 3).
 * - Density / coverage: (Naeem et al. 2020, k = 5).
 * - Modes covered and high-quality share for Gaussian mixtures (toy 2-D data).
 *
 * Pairwise work (KID's kernels, k-NN distances) runs as tfjs matrix products in row blocks,
 * so it uses the fast matmul of the backend and never holds an n × n matrix.
 */
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, permutation } from '@genlab/core';
import { type Features, frechetDistance, meanCov } from './linalg.js';

export function fid(real: Features, fake: Features): number {
  const a = meanCov(real);
  const b = meanCov(fake);
  return frechetDistance(a.mean, a.cov, b.mean, b.cov);
}

/** Rows `idx` of `x` as a tensor. */
function rowsTensor(x: Features, idx?: ArrayLike<number>): tf.Tensor2D {
  if (!idx) return tf.tensor2d(x.data, [x.n, x.d]);
  const out = new Float32Array(idx.length * x.d);
  for (let i = 0; i < idx.length; i++) out.set(x.data.subarray(idx[i]! * x.d, (idx[i]! + 1) * x.d), i * x.d);
  return tf.tensor2d(out, [idx.length, x.d]);
}

export interface KidOptions {
  subsets?: number;
  subsetSize?: number;
  seed?: number;
}

/** KID (×1, not ×1000): mean and std of the unbiased MMD² over random subsets. */
export function kid(real: Features, fake: Features, opts: KidOptions = {}): { mean: number; std: number; subsets: number; subsetSize: number } {
  const subsets = opts.subsets ?? 100;
  const m = Math.min(opts.subsetSize ?? 1000, real.n, fake.n);
  if (m < 2) throw new Error('KID needs at least 2 samples on each side');
  const d = real.d;
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) {
    const ri = permutation(real.n, deriveSeed(opts.seed ?? 0, 1, s)).subarray(0, m);
    const fi = permutation(fake.n, deriveSeed(opts.seed ?? 0, 2, s)).subarray(0, m);
    const mmd = tf.tidy(() => {
      const x = rowsTensor(real, ri);
      const y = rowsTensor(fake, fi);
      const k = (a: tf.Tensor2D, b: tf.Tensor2D) => tf.pow(tf.add(tf.div(tf.matMul(a, b, false, true), d), 1), 3);
      const kxx = k(x, x);
      const kyy = k(y, y);
      const kxy = k(x, y);
      // Unbiased: the diagonals of Kxx and Kyy are left out.
      const offDiag = (t: tf.Tensor) => tf.sub(tf.sum(t), tf.sum(tf.mul(t, tf.eye(m))));
      const v = tf.sub(tf.div(tf.add(offDiag(kxx), offDiag(kyy)), m * (m - 1)), tf.div(tf.mul(2, tf.sum(kxy)), m * m));
      return v.dataSync()[0]!;
    });
    values.push(mmd);
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std, subsets, subsetSize: m };
}

/** Inception-Score analogue from class probabilities [n, C]: mean and std over `splits`. */
export function inceptionScore(probs: Features, splits = 10): { mean: number; std: number } {
  const { data, n, d } = probs;
  const per = Math.floor(n / splits);
  if (per < 1) throw new Error(`IS needs at least ${splits} samples`);
  const scores: number[] = [];
  for (let s = 0; s < splits; s++) {
    const py = new Float64Array(d);
    for (let i = s * per; i < (s + 1) * per; i++) for (let c = 0; c < d; c++) py[c]! += data[i * d + c]! / per;
    let kl = 0;
    for (let i = s * per; i < (s + 1) * per; i++) {
      for (let c = 0; c < d; c++) {
        const p = data[i * d + c]!;
        if (p > 0) kl += p * (Math.log(p) - Math.log(py[c]!));
      }
    }
    scores.push(Math.exp(kl / per));
  }
  const mean = scores.reduce((a, b) => a + b, 0) / splits;
  return { mean, std: Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / splits) };
}

const BLOCK = 1024;

/** Squared distances between rows of `a` (a block) and all rows of `b`, as [a.n, b.n]. */
function sqDist(a: tf.Tensor2D, b: tf.Tensor2D, bNorms: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const an = tf.sum(tf.square(a), 1, true);
    // Clamp: round-off can make a distance slightly negative.
    return tf.relu(tf.add(tf.sub(an, tf.mul(2, tf.matMul(a, b, false, true))), tf.reshape(bNorms, [1, -1]))) as tf.Tensor2D;
  });
}

/** Distance of each row of `x` to its k-th nearest other row (the k-NN ball radius). */
export function knnRadii(x: Features, k: number): Float32Array {
  if (x.n <= k) throw new Error(`k-NN radii need more than k = ${k} samples, got ${x.n}`);
  const out = new Float32Array(x.n);
  const all = rowsTensor(x);
  const norms = tf.tidy(() => tf.sum(tf.square(all), 1)) as tf.Tensor1D;
  try {
    for (let start = 0; start < x.n; start += BLOCK) {
      const size = Math.min(BLOCK, x.n - start);
      const r = tf.tidy(() => {
        const block = tf.slice(all, [start, 0], [size, x.d]);
        // The k+1 smallest distances include the point itself (distance 0).
        const { values } = tf.topk(tf.neg(sqDist(block, all, norms)), k + 1);
        return tf.sqrt(tf.neg(tf.slice(values, [0, k], [size, 1]))).dataSync() as Float32Array;
      });
      out.set(r, start);
    }
  } finally {
    tf.dispose([all, norms]);
  }
  return out;
}

/**
 * For each row of `query`: how many rows i of `ref` have the query inside their ball
 * (distance ≤ radii[i]).
 */
function ballCounts(query: Features, ref: Features, radii: Float32Array): { counts: Float32Array } {
  const counts = new Float32Array(query.n);
  const refT = rowsTensor(ref);
  const refNorms = tf.tidy(() => tf.sum(tf.square(refT), 1)) as tf.Tensor1D;
  const r2 = tf.tensor2d(Float32Array.from(radii, (r) => r * r), [1, ref.n]);
  const q = rowsTensor(query);
  try {
    for (let start = 0; start < query.n; start += BLOCK) {
      const size = Math.min(BLOCK, query.n - start);
      const c = tf.tidy(() => {
        const d2 = sqDist(tf.slice(q, [start, 0], [size, query.d]), refT, refNorms);
        return tf.sum(tf.cast(tf.lessEqual(d2, r2), 'float32'), 1).dataSync() as Float32Array;
      });
      counts.set(c, start);
    }
  } finally {
    tf.dispose([refT, refNorms, r2, q]);
  }
  return { counts };
}

/** Precision and recall of k-NN manifolds (Kynkäänniemi et al. 2019). */
export function precisionRecall(real: Features, fake: Features, k = 3): { precision: number; recall: number } {
  const realR = knnRadii(real, k);
  const fakeR = knnRadii(fake, k);
  const inReal = ballCounts(fake, real, realR).counts;
  const inFake = ballCounts(real, fake, fakeR).counts;
  return { precision: share(inReal, (c) => c > 0), recall: share(inFake, (c) => c > 0) };
}

/**
 * Density and coverage (Naeem et al. 2020): density = mean over fakes of (the number of
 * real k-NN balls holding it) / k; coverage = share of real balls holding at least one fake.
 */
export function densityCoverage(real: Features, fake: Features, k = 5): { density: number; coverage: number } {
  const realR = knnRadii(real, k);
  const inReal = ballCounts(fake, real, realR).counts;
  const density = inReal.reduce((a, b) => a + b, 0) / (k * fake.n);
  // Coverage: real i is covered when its nearest fake is inside its own ball.
  const covered = new Float32Array(real.n);
  const fakeT = rowsTensor(fake);
  const fakeNorms = tf.tidy(() => tf.sum(tf.square(fakeT), 1)) as tf.Tensor1D;
  const realT = rowsTensor(real);
  try {
    for (let start = 0; start < real.n; start += BLOCK) {
      const size = Math.min(BLOCK, real.n - start);
      const nearest = tf.tidy(() => tf.sqrt(tf.min(sqDist(tf.slice(realT, [start, 0], [size, real.d]), fakeT, fakeNorms), 1)).dataSync() as Float32Array);
      for (let i = 0; i < size; i++) covered[start + i] = nearest[i]! <= realR[start + i]! ? 1 : 0;
    }
  } finally {
    tf.dispose([fakeT, fakeNorms, realT]);
  }
  return { density, coverage: share(covered, (c) => c > 0) };
}

function share(values: Float32Array, pred: (v: number) => boolean): number {
  let n = 0;
  for (const v of values) if (pred(v)) n++;
  return n / values.length;
}

/**
 * Mode metrics for a Gaussian mixture: a sample is high-quality when it lies within 3σ of
 * its nearest centre; a mode is covered when at least `minShare` of the samples (PacGAN's
 * rule: 20 of 2,500 = 0.8 %) are high-quality samples of it.
 */
export function mixtureModes(points: Features, mixture: { means: number[][]; std: number }, minShare = 0.008): { modesCovered: number; modes: number; highQuality: number; perMode: number[] } {
  const K = mixture.means.length;
  const perMode = new Array<number>(K).fill(0);
  let good = 0;
  for (let i = 0; i < points.n; i++) {
    let best = Infinity;
    let which = 0;
    for (let k = 0; k < K; k++) {
      let d2 = 0;
      for (let j = 0; j < points.d; j++) d2 += (points.data[i * points.d + j]! - mixture.means[k]![j]!) ** 2;
      if (d2 < best) {
        best = d2;
        which = k;
      }
    }
    if (Math.sqrt(best) <= 3 * mixture.std) {
      good++;
      perMode[which]! += 1;
    }
  }
  const need = Math.max(1, minShare * points.n);
  return { modesCovered: perMode.filter((c) => c >= need).length, modes: K, highQuality: good / points.n, perMode };
}

/** Share of samples whose predicted class (argmax of `probs`) equals the requested label. */
export function classAccuracy(probs: Features, labels: Int32Array): number {
  let hit = 0;
  for (let i = 0; i < probs.n; i++) {
    let arg = 0;
    for (let c = 1; c < probs.d; c++) if (probs.data[i * probs.d + c]! > probs.data[i * probs.d + arg]!) arg = c;
    if (arg === labels[i]) hit++;
  }
  return hit / probs.n;
}
