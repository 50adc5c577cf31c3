/**
 * The statistics behind FID: means and covariances of feature sets (in float64, in plain
 * JavaScript: 10,000 × 128 features take ~0.1 s), and the matrix square root of symmetric
 * positive semi-definite matrices through a symmetric eigen-decomposition from `ml-matrix`.
 *
 * Negative eigenvalues (round-off on near-singular covariances) are clamped to zero, so the
 * square root of a singular matrix is exact rather than NaN, and the Fréchet distance never
 * takes the square root of a negative number (the usual scipy `sqrtm` failure mode).
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

import type { Features } from '@genlab/core';

/** Row-major [n, d] values and their shape (core's contract type). */
export type { Features };

/** Mean (length d) and unbiased covariance (d × d, row-major) of the rows of `x`. */
export function meanCov(x: Features): { mean: Float64Array; cov: Float64Array } {
  const { data, n, d } = x;
  if (n < 2) throw new Error(`a covariance needs at least 2 samples, got ${n}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k]! += data[i * d + k]!;
  for (let k = 0; k < d; k++) mean[k]! /= n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) row[k] = data[i * d + k]! - mean[k]!;
    for (let a = 0; a < d; a++) {
      const ra = row[a]!;
      if (ra === 0) continue;
      const base = a * d;
      for (let b = a; b < d; b++) cov[base + b]! += ra * row[b]!;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b]! / (n - 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov };
}

function toMatrix(a: Float64Array, d: number): Matrix {
  return new Matrix(Array.from({ length: d }, (_, i) => Array.from(a.subarray(i * d, (i + 1) * d))));
}

/** Eigenvalues and eigenvectors (columns) of a symmetric matrix. */
export function symmetricEigen(a: Float64Array, d: number): { values: number[]; vectors: Matrix } {
  const e = new EigenvalueDecomposition(toMatrix(a, d), { assumeSymmetric: true });
  return { values: e.realEigenvalues, vectors: e.eigenvectorMatrix };
}

/** Square root of a symmetric PSD matrix: V diag(√max(λ, 0)) Vᵀ. */
export function sqrtmPsd(a: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, d);
  const scaled = vectors.clone();
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(Math.max(values[j]!, 0));
    for (let i = 0; i < d; i++) scaled.set(i, j, scaled.get(i, j) * s);
  }
  return Float64Array.from(scaled.mmul(vectors.transpose()).to1DArray());
}

/**
 * Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2):
 * |μ1 − μ2|² + tr Σ1 + tr Σ2 − 2 tr (Σ1^½ Σ2 Σ1^½)^½. The last trace is the sum of the
 * square roots of the (clamped) eigenvalues of the symmetric PSD matrix Σ1^½ Σ2 Σ1^½.
 */
export function frechetDistance(m1: Float64Array, c1: Float64Array, m2: Float64Array, c2: Float64Array): number {
  const d = m1.length;
  let diff = 0;
  for (let k = 0; k < d; k++) diff += (m1[k]! - m2[k]!) ** 2;
  let tr = 0;
  for (let k = 0; k < d; k++) tr += c1[k * d + k]! + c2[k * d + k]!;
  const s1 = toMatrix(sqrtmPsd(c1, d), d);
  const inner = s1.mmul(toMatrix(c2, d)).mmul(s1);
  // Symmetrise against round-off before the symmetric decomposition.
  const sym = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) sym[i * d + j] = (inner.get(i, j) + inner.get(j, i)) / 2;
  const { values } = symmetricEigen(sym, d);
  const trSqrt = values.reduce((s, v) => s + Math.sqrt(Math.max(v, 0)), 0);
  // Never negative: for identical inputs round-off could give -1e-12.
  return Math.max(0, diff + tr - 2 * trSqrt);
}
