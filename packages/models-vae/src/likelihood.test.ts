/**
 * Decoder likelihoods against float64 references: the continuous-Bernoulli normaliser (the
 * paper's form in λ, and a density that integrates to 1), its gradient near λ = ½, its mean
 * and inverse-CDF sampler; Bernoulli and Gaussian log-probabilities; the choice of `auto`
 * and the refusals.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { UserError } from '@genlab/core';
import { cbLogNormaliser, cbMean, cbSample, decoderMean, decoderSample, LOG_VAR_MIN, logProb, resolveLikelihood } from './likelihood.js';

const values = (t: tf.Tensor) => {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
};
const sigmoid = (a: number) => 1 / (1 + Math.exp(-a));
/** log C(λ) as Loaiza-Ganem & Cunningham (2019) write it: log(2 artanh(1 − 2λ) / (1 − 2λ)), log 2 at λ = ½. */
const logCPaper = (lambda: number) => (lambda === 0.5 ? Math.LN2 : Math.log((2 * Math.atanh(1 - 2 * lambda)) / (1 - 2 * lambda)));
const LOGITS = [-60, -20, -5, -1, -0.3, -0.1001, -0.0999, -0.05, -1e-3, -1e-6, 0, 1e-7, 1e-4, 0.02, 0.0999, 0.1001, 0.5, 2, 7, 15, 40];

describe('continuous Bernoulli', () => {
  it('log-normaliser equals the paper form log(2 artanh(1−2λ)/(1−2λ)), including near λ = ½', () => {
    const got = values(cbLogNormaliser(tf.tensor1d(LOGITS)));
    LOGITS.forEach((a, i) => {
      // Where the float64 form in λ breaks down itself (λ within 1e-4 of ½, or λ rounding to 0
      // or 1), use its limit near ½ and log(|a|/tanh(|a|/2)) = log|a| far out.
      const ref = Math.abs(a) < 1e-3 ? Math.LN2 + (a * a) / 12 : Math.abs(a) > 30 ? Math.log(Math.abs(a)) : logCPaper(sigmoid(a));
      expect(got[i], `a = ${a}`).toBeCloseTo(ref, 5);
    });
  });

  it('is a density on [0, 1]: ∫ p(x | a) dx = 1 (trapezoid on 4001 points)', () => {
    const n = 4001;
    const xs = Array.from({ length: n }, (_, i) => i / (n - 1));
    for (const a of [-8, -0.7, -0.05, 0, 1e-5, 0.3, 3, 12]) {
      const lp = values(
        tf.tidy(() => logProb('continuous-bernoulli', tf.fill([n, 1], a), tf.tensor2d(xs, [n, 1]), [0, 1])),
      );
      const integral = lp.reduce((acc, v, i) => acc + (i === 0 || i === n - 1 ? 0.5 : 1) * Math.exp(v), 0) / (n - 1);
      expect(integral, `a = ${a}`).toBeCloseTo(1, 4);
    }
  });

  it('has a finite gradient everywhere, equal to d/da log(a/tanh(a/2)) = 1/a − 1/sinh(a)', () => {
    const grad = tf.grad((a: tf.Tensor) => tf.sum(cbLogNormaliser(a)));
    const got = values(grad(tf.tensor1d(LOGITS.filter((a) => Math.abs(a) < 30))));
    LOGITS.filter((a) => Math.abs(a) < 30).forEach((a, i) => {
      const ref = Math.abs(a) < 1e-3 ? a / 6 : 1 / a - 1 / Math.sinh(a);
      expect(Number.isFinite(got[i]!)).toBe(true);
      expect(got[i], `a = ${a}`).toBeCloseTo(ref, 4);
    });
  });

  it('mean equals ∫ x p(x | a) dx', () => {
    const n = 4001;
    for (const a of [-30, -4, -0.5, -0.05, 0, 0.08, 0.2, 2.5, 25]) {
      const C = Math.exp(a === 0 ? Math.LN2 : Math.log(a / Math.tanh(a / 2)));
      const l = sigmoid(a);
      let ref = 0;
      for (let i = 0; i < n; i++) {
        const x = i / (n - 1);
        ref += ((i === 0 || i === n - 1 ? 0.5 : 1) * x * C * l ** x * (1 - l) ** (1 - x)) / (n - 1);
      }
      expect(values(cbMean(tf.scalar(a)))[0], `a = ${a}`).toBeCloseTo(ref, 4);
    }
  });

  it('samples by the inverse CDF: F(x) = (e^{ax} − 1)/(e^a − 1) gives back u', () => {
    const us = [0.001, 0.1, 0.37, 0.5, 0.81, 0.999];
    for (const a of [-50, -3, -1e-4, 0, 2e-4, 0.6, 9, 50]) {
      const xs = values(cbSample(tf.fill([us.length], a), tf.tensor1d(us)));
      xs.forEach((x, i) => {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(1);
        const F = Math.abs(a) < 1e-9 ? x : Math.expm1(a * x) / Math.expm1(a);
        expect(F, `a = ${a}, u = ${us[i]}`).toBeCloseTo(us[i]!, 3);
      });
    }
  });
});

describe('Bernoulli and Gaussian log-probabilities', () => {
  it('bernoulli: Σ t·a − softplus(a) with t the position of x in the range, stable for large logits', () => {
    const a = [[-80, 3, 0.5, 90]];
    for (const range of [
      [0, 1],
      [-1, 1],
    ] as [number, number][]) {
      const x = [[range[0], range[1], range[1], range[0]]];
      const ref = -80 * 0 - 0 + (3 - Math.log1p(Math.exp(3))) + (0.5 - Math.log1p(Math.exp(0.5))) + (0 - 90);
      expect(values(logProb('bernoulli', tf.tensor2d(a), tf.tensor2d(x), range))[0]).toBeCloseTo(ref, 3);
    }
  });

  it('gaussian: −½ Σ (log 2π + log σ² + (x − m)²/σ²), broadcasting [k, N, D] params against [N, D] data', () => {
    const m = tf.tensor3d([[[0.1, -0.2]], [[0.5, 0.5]]]); // [2, 1, 2]
    const x = tf.tensor2d([[0.3, -0.9]]); // [1, 2]
    const lv = tf.tensor1d([-1, 0.5]);
    const got = values(logProb('gaussian', m, x, [-1, 1], lv));
    const ref = (means: number[]) => means.reduce((acc, mu, j) => acc - 0.5 * (Math.log(2 * Math.PI) + [-1, 0.5][j]! + (([0.3, -0.9][j]! - mu) ** 2) / Math.exp([-1, 0.5][j]!)), 0);
    expect(got).toHaveLength(2);
    expect(got[0]).toBeCloseTo(ref([0.1, -0.2]), 5);
    expect(got[1]).toBeCloseTo(ref([0.5, 0.5]), 5);
    tf.dispose([m, x, lv]);
  });

  it('means and draws stay in the data range', () => {
    const p = tf.tensor2d([[-30, -1, 0, 2, 40]]);
    for (const kind of ['bernoulli', 'gaussian'] as const) {
      for (const v of [...values(decoderMean(kind, p, [-1, 1])), ...values(decoderSample(kind, p, [-1, 1], 3, tf.scalar(0)))]) {
        expect(v).toBeGreaterThanOrEqual(-1);
        expect(v).toBeLessThanOrEqual(1);
      }
    }
    expect(values(decoderMean('bernoulli', tf.tensor2d([[0]]), [-1, 1]))[0]).toBe(0);
    expect(values(decoderSample('bernoulli', p, [-1, 1], 3)).every((v) => v === -1 || v === 1)).toBe(true);
    p.dispose();
  });

  it('keeps the Gaussian log-variance floor documented', () => {
    expect(Math.exp(LOG_VAR_MIN / 2)).toBeCloseTo(0.01, 10);
  });
});

describe('resolveLikelihood', () => {
  it('auto: bernoulli for binary data, continuous-bernoulli for [0, 1], gaussian otherwise', () => {
    expect(resolveLikelihood('auto', { range: [0, 1], binary: true }, 'k')).toBe('bernoulli');
    expect(resolveLikelihood('auto', { range: [-1, 1], binary: true }, 'k')).toBe('bernoulli');
    expect(resolveLikelihood('auto', { range: [0, 1] }, 'k')).toBe('continuous-bernoulli');
    expect(resolveLikelihood('auto', { range: [-1, 1] }, 'k')).toBe('gaussian');
    expect(resolveLikelihood('auto', { range: [-3, 3] }, 'k')).toBe('gaussian');
    expect(resolveLikelihood('gaussian', { range: [0, 1], binary: true }, 'k')).toBe('gaussian');
  });

  it('refuses bernoulli on grey levels and continuous-bernoulli outside [0, 1], naming the key', () => {
    const grey = () => resolveLikelihood('bernoulli', { range: [0, 1] }, 'model.decoder.likelihood');
    expect(grey).toThrow(UserError);
    expect(grey).toThrow(/^'model\.decoder\.likelihood': bernoulli needs binary data, but this data has grey levels in \[0, 1\].*dataset\.binarize: threshold, static or stochastic.*continuous-bernoulli/);
    expect(() => resolveLikelihood('continuous-bernoulli', { range: [-1, 1] }, 'model.decoder.likelihood')).toThrow(
      "'model.decoder.likelihood': continuous-bernoulli needs data in [0, 1], this data is in [-1, 1]: set dataset.range: [0, 1] or use gaussian",
    );
  });
});
