import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '@genlab/core';
import { type Features, frechetDistance, meanCov, sqrtmPsd } from './linalg.js';
import { classAccuracy, densityCoverage, fid, inceptionScore, kid, knnRadii, mixtureModes, precisionRecall } from './scores.js';

function gaussian(n: number, mean: number[], scale: number[], seed: number): Features {
  const rand = mulberry32(seed);
  const d = mean.length;
  const data = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) {
    const u = 1 - rand();
    data[i] = mean[i % d]! + scale[i % d]! * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  }
  return { data, n, d };
}

const mat = (rows: number[][]) => Float64Array.from(rows.flat());
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(tol);
};

describe('matrix square root', () => {
  it('matches known roots: diagonal, a square, and a singular matrix', () => {
    close(sqrtmPsd(mat([[4, 0], [0, 9]]), 2), [2, 0, 0, 3], 1e-12);
    // B = [[2, 1], [1, 3]] is SPD; B² = [[5, 5], [5, 10]].
    close(sqrtmPsd(mat([[5, 5], [5, 10]]), 2), [2, 1, 1, 3], 1e-12);
    // v vᵀ with |v| = 3 has root v vᵀ / 3.
    const v = [1, 2, 2];
    const vvT = mat(v.map((a) => v.map((b) => a * b)));
    close(sqrtmPsd(vvT, 3), Array.from(vvT, (x) => x / 3), 1e-7);
    // Round-off negatives are clamped, not NaN.
    const nearlySingular = mat([[1, 1], [1, 1 - 1e-15]]);
    for (const x of sqrtmPsd(nearlySingular, 2)) expect(Number.isFinite(x)).toBe(true);
  });

  it('squares back to a random SPD matrix', () => {
    const rand = mulberry32(3);
    const d = 6;
    const b = Array.from({ length: d * d }, () => rand() - 0.5);
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) a[i * d + j]! += b[i * d + k]! * b[j * d + k]!;
    const r = sqrtmPsd(a, d);
    const back = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) back[i * d + j]! += r[i * d + k]! * r[k * d + j]!;
    close(back, a, 1e-10);
  });
});

describe('FID', () => {
  it('is 0 for a set against itself', () => {
    const x = gaussian(500, [0, 1, 2, 3], [1, 2, 0.5, 1], 1);
    expect(fid(x, x)).toBeLessThan(1e-8);
  });

  it('equals the closed form for two Gaussians (2-D, non-commuting covariances)', () => {
    const m1 = Float64Array.from([0, 1]);
    const m2 = Float64Array.from([2, -1]);
    const s1 = mat([[2, 0.5], [0.5, 1]]);
    const s2 = mat([[1, -0.3], [-0.3, 3]]);
    // For 2×2: tr (S1 S2)^½ = √(tr(S1 S2) + 2 √det(S1 S2)).
    const p = [s1[0]! * s2[0]! + s1[1]! * s2[2]!, s1[0]! * s2[1]! + s1[1]! * s2[3]!, s1[2]! * s2[0]! + s1[3]! * s2[2]!, s1[2]! * s2[1]! + s1[3]! * s2[3]!];
    const trSqrt = Math.sqrt(p[0]! + p[3]! + 2 * Math.sqrt(p[0]! * p[3]! - p[1]! * p[2]!));
    const closed = 4 + 4 + 2 + 1 + 1 + 3 - 2 * trSqrt;
    expect(frechetDistance(m1, s1, m2, s2)).toBeCloseTo(closed, 10);
  });

  it('from samples approaches the closed form of the sampling Gaussians', () => {
    const a = gaussian(40_000, [0, 0, 0], [1, 1, 1], 2);
    const b = gaussian(40_000, [1, 0, 0], [2, 1, 1], 3);
    // Diagonal covariances: |μ1 − μ2|² + Σ (σ1 − σ2)² = 1 + 1.
    expect(fid(a, b)).toBeCloseTo(2, 1);
    const { mean, cov } = meanCov(b);
    expect(mean[0]).toBeCloseTo(1, 1);
    expect(cov[0]).toBeCloseTo(4, 1);
  });
});

describe('KID', () => {
  it('is unbiased: about 0 on average for two samples of one distribution, positive for different ones', () => {
    const values: number[] = [];
    for (let s = 0; s < 30; s++) values.push(kid(gaussian(100, [0, 0, 0, 0], [1, 1, 1, 1], 10 + s), gaussian(100, [0, 0, 0, 0], [1, 1, 1, 1], 100 + s), { subsets: 5, subsetSize: 100, seed: s }).mean);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
    expect(Math.abs(mean)).toBeLessThan((3 * sd) / Math.sqrt(values.length));
    const shifted = kid(gaussian(200, [0, 0, 0, 0], [1, 1, 1, 1], 1), gaussian(200, [1, 0, 0, 0], [1, 1, 1, 1], 2), { subsets: 10, subsetSize: 200 });
    expect(shifted.mean).toBeGreaterThan(10 * sd);
  });

  it('matches a direct evaluation of the unbiased estimator', () => {
    const x = gaussian(20, [0, 0, 0], [1, 1, 1], 4);
    const y = gaussian(20, [0.5, 0, 0], [1, 1, 1], 5);
    const k = (a: Features, i: number, b: Features, j: number) => {
      let dot = 0;
      for (let t = 0; t < 3; t++) dot += a.data[i * 3 + t]! * b.data[j * 3 + t]!;
      return (dot / 3 + 1) ** 3;
    };
    let xx = 0;
    let yy = 0;
    let xy = 0;
    for (let i = 0; i < 20; i++) {
      for (let j = 0; j < 20; j++) {
        if (i !== j) {
          xx += k(x, i, x, j);
          yy += k(y, i, y, j);
        }
        xy += k(x, i, y, j);
      }
    }
    const direct = (xx + yy) / (20 * 19) - (2 * xy) / 400;
    // One subset of all 20 rows: the permutation does not change the sums.
    expect(kid(x, y, { subsets: 1, subsetSize: 20 }).mean).toBeCloseTo(direct, 4);
  });
});

describe('k-NN metrics', () => {
  /** Brute force, straight from the papers' definitions. */
  function reference(real: Features, fake: Features, k: number) {
    const dist = (a: Features, i: number, b: Features, j: number) => {
      let s = 0;
      for (let t = 0; t < a.d; t++) s += (a.data[i * a.d + t]! - b.data[j * b.d + t]!) ** 2;
      return Math.sqrt(s);
    };
    const radii = (x: Features) =>
      Array.from({ length: x.n }, (_, i) =>
        Array.from({ length: x.n }, (_, j) => dist(x, i, x, j))
          .sort((a, b) => a - b)[k]!,
      );
    const rr = radii(real);
    const fr = radii(fake);
    const inside = (q: Features, i: number, ref: Features, r: number[]) => r.filter((rad, j) => dist(q, i, ref, j) <= rad).length;
    const precision = Array.from({ length: fake.n }, (_, i) => inside(fake, i, real, rr) > 0).filter(Boolean).length / fake.n;
    const recall = Array.from({ length: real.n }, (_, i) => inside(real, i, fake, fr) > 0).filter(Boolean).length / real.n;
    const density = Array.from({ length: fake.n }, (_, i) => inside(fake, i, real, rr)).reduce((a, b) => a + b, 0) / (k * fake.n);
    const coverage = Array.from({ length: real.n }, (_, i) => Math.min(...Array.from({ length: fake.n }, (_, j) => dist(real, i, fake, j))) <= rr[i]!).filter(Boolean).length / real.n;
    return { precision, recall, density, coverage, rr };
  }

  it('agree with a brute-force reference on random sets', () => {
    const real = gaussian(150, [0, 0, 0], [1, 1, 1], 7);
    const fake = gaussian(120, [0.7, 0, 0], [0.6, 1.5, 1], 8);
    const ref3 = reference(real, fake, 3);
    const ref5 = reference(real, fake, 5);
    close(knnRadii(real, 3), ref3.rr, 1e-4);
    const pr = precisionRecall(real, fake, 3);
    expect(pr.precision).toBeCloseTo(ref3.precision, 6);
    expect(pr.recall).toBeCloseTo(ref3.recall, 6);
    const dc = densityCoverage(real, fake, 5);
    expect(dc.density).toBeCloseTo(ref5.density, 6);
    expect(dc.coverage).toBeCloseTo(ref5.coverage, 6);
    expect(pr.precision).toBeGreaterThan(0.2);
    expect(pr.precision).toBeLessThan(1);
  });

  it('give the known answers on constructed sets, without leaking tensors', () => {
    const before = tf.memory().numTensors;
    const real = gaussian(100, [0, 0], [1, 1], 9);
    const far: Features = { data: Float32Array.from(real.data, (v) => v + 100), n: 100, d: 2 };
    expect(precisionRecall(real, real)).toEqual({ precision: 1, recall: 1 });
    expect(precisionRecall(real, far)).toEqual({ precision: 0, recall: 0 });
    expect(densityCoverage(real, far)).toEqual({ density: 0, coverage: 0 });
    // Half the fakes are copies of reals, half are far away: precision 1/2 exactly.
    const half: Features = { data: Float32Array.from([...real.data.subarray(0, 100), ...far.data.subarray(0, 100)]), n: 100, d: 2 };
    expect(precisionRecall(real, half).precision).toBe(0.5);
    expect(densityCoverage(real, real).coverage).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('class-probability metrics', () => {
  it('IS is the number of classes for confident, balanced predictions and 1 for one class', () => {
    const n = 1000;
    const onehot = (f: (i: number) => number): Features => {
      const data = new Float32Array(n * 10);
      for (let i = 0; i < n; i++) data[i * 10 + f(i)] = 1;
      return { data, n, d: 10 };
    };
    expect(inceptionScore(onehot((i) => i % 10)).mean).toBeCloseTo(10, 10);
    expect(inceptionScore(onehot(() => 3)).mean).toBeCloseTo(1, 10);
    expect(classAccuracy(onehot((i) => i % 10), Int32Array.from({ length: n }, (_, i) => (i % 2 ? i % 10 : 0)))).toBeCloseTo(0.6, 10); // all 500 odd i, plus the 100 even i with i % 10 = 0
  });
});

describe('mixture modes', () => {
  it('counts covered modes and high-quality samples', () => {
    const mixture = { means: [[0, 0], [10, 0], [0, 10]], std: 0.1 };
    // 100 points at mode 0, 50 within 3σ of mode 1, 50 off every mode; none at mode 2.
    const pts = [...Array.from({ length: 100 }, () => [0.05, 0]), ...Array.from({ length: 50 }, () => [10, 0.25]), ...Array.from({ length: 50 }, () => [5, 5])];
    const r = mixtureModes({ data: Float32Array.from(pts.flat()), n: 200, d: 2 }, mixture);
    expect(r).toMatchObject({ modesCovered: 2, modes: 3, highQuality: 0.75, perMode: [100, 50, 0] });
  });
});
