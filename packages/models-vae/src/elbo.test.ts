/**
 * The VAE's numbers against independent float64 computations: the ELBO of a tiny linear VAE
 * with known weights (for each decoder likelihood), the KL closed form against quadrature,
 * the IWAE bound against its definition and against log p(x) by quadrature (latentDim 1),
 * and the ordering nll ≤ nll_elbo and its tightening with k.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { deriveSeed, type DataInfo, type StateDict, type TrainContext } from '@genlab/core';
import { gaussianKl, LOG_VAR_MIN } from './likelihood.js';
import { mlpVae } from './mlp.js';
import type { Vae } from './vae.js';

// ------------------------------------------------------------ a tiny linear VAE in float64

/** Weights of a linear VAE: encoder x [D] → [μ, log σ²] [2L], decoder z [L] → a [D]. */
interface Weights {
  We: number[][]; // [D][2L]
  be: number[]; // [2L]
  Wd: number[][]; // [L][D]
  bd: number[]; // [D]
  logVar?: number[]; // Gaussian decoder, [1] or [D]
}

const W2: Weights = {
  We: [
    [0.5, -0.3, 0.2, -0.1],
    [-0.4, 0.6, 0.1, 0.3],
    [0.3, 0.2, -0.5, 0.2],
    [-0.2, -0.7, 0.3, -0.4],
  ],
  be: [0.1, -0.2, -0.3, 0.2],
  Wd: [
    [1.5, -2.0, 0.7, 1.1],
    [-0.8, 1.2, 2.1, -1.4],
  ],
  bd: [0.3, -0.5, 0.05, 0.4],
};

const flat = (m: number[][]) => Float32Array.from(m.flat());
function stateOf(w: Weights): StateDict {
  const D = w.bd.length;
  const L = w.Wd.length;
  const s: StateDict = {
    'encoder/0': { shape: [D, 2 * L], dtype: 'float32', data: flat(w.We) },
    'encoder/1': { shape: [2 * L], dtype: 'float32', data: Float32Array.from(w.be) },
    'decoder/0': { shape: [L, D], dtype: 'float32', data: flat(w.Wd) },
    'decoder/1': { shape: [D], dtype: 'float32', data: Float32Array.from(w.bd) },
  };
  if (w.logVar) s['likelihood/logVar'] = { shape: [w.logVar.length], dtype: 'float32', data: Float32Array.from(w.logVar) };
  return s;
}

const softplus = (a: number) => Math.max(a, 0) + Math.log1p(Math.exp(-Math.abs(a)));
const logC = (a: number) => (a === 0 ? Math.LN2 : Math.log(a / Math.tanh(a / 2)));
const LOG2PI = Math.log(2 * Math.PI);

/** log p(x | a) per likelihood, float64, x in the data range. */
function logPxGivenA(kind: string, x: number[], a: number[], range: [number, number], logVar?: number[]): number {
  let s = 0;
  x.forEach((xi, j) => {
    const aj = a[j]!;
    if (kind === 'bernoulli') {
      const t = (xi - range[0]) / (range[1] - range[0]);
      s += t * aj - softplus(aj);
    } else if (kind === 'continuous-bernoulli') {
      s += xi * aj - softplus(aj) + logC(aj);
    } else {
      const lv = Math.max(logVar!.length === 1 ? logVar![0]! : logVar![j]!, LOG_VAR_MIN);
      s += -0.5 * (LOG2PI + lv + (xi - aj) ** 2 / Math.exp(lv));
    }
  });
  return s;
}

function encode(w: Weights, x: number[]): { mu: number[]; lv: number[] } {
  const L = w.Wd.length;
  const out = w.be.map((b, k) => b + x.reduce((acc, xi, j) => acc + xi * w.We[j]![k]!, 0));
  return { mu: out.slice(0, L), lv: out.slice(L) };
}
const decode = (w: Weights, z: number[]) => w.bd.map((b, j) => b + z.reduce((acc, zi, i) => acc + zi * w.Wd[i]![j]!, 0));

/** −log p(x | z) and KL for one example and noise ε, in float64. */
function elboRef(kind: string, w: Weights, x: number[], eps: number[], range: [number, number]): { recon: number; kl: number } {
  const { mu, lv } = encode(w, x);
  const z = mu.map((m, i) => m + Math.exp(lv[i]! / 2) * eps[i]!);
  const kl = 0.5 * mu.reduce((acc, m, i) => acc + m * m + Math.exp(lv[i]!) - 1 - lv[i]!, 0);
  return { recon: -logPxGivenA(kind, x, decode(w, z), range, w.logVar), kl };
}

/** log w = log p(x | z) + log N(z; 0, I) − log N(z; μ, σ²), float64, full densities. */
function logWeight(kind: string, w: Weights, x: number[], eps: number[], range: [number, number]): number {
  const { mu, lv } = encode(w, x);
  const z = mu.map((m, i) => m + Math.exp(lv[i]! / 2) * eps[i]!);
  const logPrior = z.reduce((acc, zi) => acc - 0.5 * (LOG2PI + zi * zi), 0);
  const logQ = z.reduce((acc, zi, i) => acc - 0.5 * (LOG2PI + lv[i]! + (zi - mu[i]!) ** 2 / Math.exp(lv[i]!)), 0);
  return logPxGivenA(kind, x, decode(w, z), range, w.logVar) + logPrior - logQ;
}

/** |actual − expected| ≤ 1e-4 + 2e-6·|expected| (float32 against float64). */
function close(actual: number | undefined, expected: number): void {
  expect(Math.abs(actual! - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(1e-4 + 2e-6 * Math.abs(expected));
}

const logSumExp = (v: number[]) => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((a, b) => a + Math.exp(b - m), 0));
};

// ------------------------------------------------------------ models and data

function tinyModel(kind: string, data: Omit<DataInfo, 'size'>, w: Weights, extra: Record<string, unknown> = {}): Vae {
  const cfg = mlpVae.configSchema.parse({ latentDim: w.Wd.length, encoder: { hidden: [] }, decoder: { hidden: [], likelihood: kind }, ...extra });
  const model = mlpVae.create(cfg, { data: { ...data, size: 1 }, seed: 1 }) as Vae;
  model.setState(stateOf(w));
  return model;
}

/** `n` examples of 4 values: binary (in `range`) or uniform in `range`, seeded. */
function examples(n: number, range: [number, number], binary: boolean, seed = 7): number[][] {
  let s = seed;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, () => Array.from({ length: 4 }, () => (binary ? (rand() < 0.4 ? range[1] : range[0]) : range[0] + (range[1] - range[0]) * rand())));
}

const CASES: { kind: string; range: [number, number]; binary: boolean; logVar?: number[] }[] = [
  { kind: 'bernoulli', range: [0, 1], binary: true },
  { kind: 'bernoulli', range: [-1, 1], binary: true },
  { kind: 'continuous-bernoulli', range: [0, 1], binary: false },
  { kind: 'gaussian', range: [-1, 1], binary: false, logVar: [-1.3] },
  { kind: 'gaussian', range: [-1, 1], binary: false, logVar: [-0.5, 0.4, -12, 1.0] }, // per pixel, one below LOG_VAR_MIN
];

describe('ELBO of a tiny linear VAE against float64', () => {
  for (const c of CASES) {
    const name = `${c.kind}${c.logVar ? ` (${c.logVar.length === 1 ? 'global' : 'per-pixel'} variance)` : ''} on [${c.range}]`;
    const w: Weights = { ...W2, ...(c.logVar ? { logVar: c.logVar } : {}) };
    const data = { shape: [2, 2, 1], numClasses: 0, range: c.range, binary: c.binary };
    const extra = c.logVar && c.logVar.length > 1 ? { decoder: { hidden: [], likelihood: c.kind, variance: 'pixel' } } : {};
    const xs = examples(6, c.range, c.binary);

    it(`${name}: elboTerms with given noise`, () => {
      const model = tinyModel(c.kind, data, w, extra);
      const eps = [
        [0.3, -1.2],
        [1.7, 0.4],
        [-0.6, -0.1],
        [0, 0],
        [2.2, -2.5],
        [-1.0, 0.8],
      ];
      const x = tf.tensor4d(xs.flat(), [6, 2, 2, 1]);
      const e = tf.tensor2d(eps);
      const t = model.elboTerms(x, undefined, e);
      const recon = t.recon.dataSync();
      const kl = t.kl.dataSync();
      xs.forEach((xi, b) => {
        const ref = elboRef(c.kind, w, xi, eps[b]!, c.range);
        close(recon[b], ref.recon);
        close(kl[b], ref.kl);
      });
      tf.dispose([x, e, t.recon, t.kl]);
      model.dispose();
    });

    it(`${name}: trainStep reports loss = recon + kl with the noise of ctx.seed(0), minimises recon + β·kl${c.logVar ? ', updates the variance' : ''}`, () => {
      const beta = 0.25;
      const model = tinyModel(c.kind, data, w, { ...extra, beta });
      const x = tf.tensor4d(xs.flat(), [6, 2, 2, 1]);
      const y = tf.zeros([6], 'int32') as tf.Tensor1D;
      let objective = NaN;
      const ctx: TrainContext = {
        step: 0,
        epoch: 0,
        seed: (stream) => deriveSeed(99, stream),
        optimize: (_name, f) => {
          const v = f();
          objective = v.dataSync()[0]!;
          return v;
        },
      };
      const out = tf.tidy(() => model.trainStep({ x, y }, ctx));
      // Reproduce the step's noise: the same seeded draw.
      const eps = tf.tidy(() => tf.randomNormal([6, 2], 0, 1, 'float32', deriveSeed(99, 0)).arraySync() as number[][]);
      const refs = xs.map((xi, b) => elboRef(c.kind, w, xi, eps[b]!, c.range));
      const recon = refs.reduce((a, r) => a + r.recon, 0) / 6;
      const kl = refs.reduce((a, r) => a + r.kl, 0) / 6;
      close(out.recon.dataSync()[0], recon);
      close(out.kl.dataSync()[0], kl);
      close(out.loss.dataSync()[0], recon + kl);
      close(objective, recon + beta * kl);
      if (c.logVar) {
        // The Gaussian variance then moves to 0.9·σ² + 0.1·(batch squared error of the means).
        const sq = xs.map((xi, b) => {
          const { mu, lv } = encode(w, xi);
          const a = decode(w, mu.map((m, i) => m + Math.exp(lv[i]! / 2) * eps[b]![i]!));
          return xi.map((v, j) => (v - a[j]!) ** 2);
        });
        const mse = c.logVar.length === 1 ? [sq.flat().reduce((a, v) => a + v, 0) / sq.flat().length] : [0, 1, 2, 3].map((j) => sq.reduce((a, r) => a + r[j]!, 0) / 6);
        const updated = model.getState()['likelihood/logVar']!.data;
        c.logVar.forEach((raw, j) => close(updated[j], Math.log(0.9 * Math.exp(raw) + 0.1 * mse[j]!)));
      }
      tf.dispose([x, y, ...Object.values(out)]);
      model.dispose();
    });
  }
});

describe('Gaussian KL', () => {
  it('matches ∫ q log(q/p) by quadrature, per dimension summed', () => {
    const mus = [0, 1.3, -0.7];
    const lvs = [0, -2.1, 1.4];
    const kl = gaussianKl(tf.tensor2d([mus]), tf.tensor2d([lvs]));
    let ref = 0;
    mus.forEach((m, i) => {
      const s = Math.exp(lvs[i]! / 2);
      const n = 20000;
      const lo = m - 12 * s;
      const h = (24 * s) / n;
      for (let k = 0; k <= n; k++) {
        const z = lo + k * h;
        const logq = -0.5 * (LOG2PI + lvs[i]! + ((z - m) / s) ** 2);
        const logp = -0.5 * (LOG2PI + z * z);
        ref += (k === 0 || k === n ? 0.5 : 1) * h * Math.exp(logq) * (logq - logp);
      }
    });
    expect(kl.dataSync()[0]).toBeCloseTo(ref, 4);
    kl.dispose();
  });
});

describe('IWAE bound', () => {
  const data = { shape: [2, 2, 1], numClasses: 0, range: [0, 1] as [number, number], binary: true };

  it('is logsumexp of the importance weights of its seeded draws (evaluated in chunks) minus log k', () => {
    // 700 examples: the 4096-row chunks hold 5 draws, so k = 12 takes 3 chunks.
    const k = 12;
    const xs = examples(700, data.range, true, 3);
    const model = tinyModel('bernoulli', data, W2, { eval: { iwaeK: k, seed: 5 } });
    const x = tf.tensor4d(xs.flat(), [700, 2, 2, 1]);
    const y = tf.zeros([700], 'int32') as tf.Tensor1D;
    const r = model.evaluate({ x, y });
    const draws = Array.from({ length: k }, (_, i) => tf.tidy(() => tf.randomNormal([700, 2], 0, 1, 'float32', deriveSeed(5, i)).arraySync() as number[][]));
    let nll = 0;
    let elbo = 0;
    xs.forEach((xi, b) => {
      nll -= logSumExp(draws.map((e) => logWeight('bernoulli', W2, xi, e[b]!, data.range))) - Math.log(k);
      const terms = draws.map((e) => elboRef('bernoulli', W2, xi, e[b]!, data.range));
      elbo += terms.reduce((a, t) => a + t.recon, 0) / k + terms[0]!.kl;
    });
    expect(r.nll!.dataSync()[0]).toBeCloseTo(nll / 700, 4);
    expect(r.nll_elbo!.dataSync()[0]).toBeCloseTo(elbo / 700, 4);
    tf.dispose([x, y, ...Object.values(r)]);
    model.dispose();
  });

  it('lies between the ELBO and log p(x), tightening as k grows (latentDim 1, log p(x) by quadrature)', () => {
    const w1: Weights = {
      We: [
        [1.1, -0.5],
        [-0.9, 0.2],
        [0.6, -0.8],
        [0.4, 0.1],
      ],
      be: [0.2, -1.0],
      Wd: [[2.5, -3.0, 1.8, -1.2]],
      bd: [-0.2, 0.3, -0.6, 0.1],
    };
    const xs = examples(200, data.range, true, 11);
    // log p(x) = log ∫ p(x | z) N(z; 0, 1) dz on a fine grid.
    const exact =
      xs.reduce((acc, xi) => {
        const h = 0.002;
        const terms: number[] = [];
        for (let z = -10; z <= 10; z += h) terms.push(logPxGivenA('bernoulli', xi, decode(w1, [z]), data.range) - 0.5 * (LOG2PI + z * z) + Math.log(h));
        return acc - logSumExp(terms);
      }, 0) / xs.length;
    const x = tf.tensor4d(xs.flat(), [200, 2, 2, 1]);
    const y = tf.zeros([200], 'int32') as tf.Tensor1D;
    const at = (k: number) => {
      const model = tinyModel('bernoulli', data, w1, { eval: { iwaeK: k } });
      const r = model.evaluate({ x, y });
      const v = { nll: r.nll!.dataSync()[0]!, elbo: r.nll_elbo!.dataSync()[0]! };
      tf.dispose(Object.values(r));
      model.dispose();
      return v;
    };
    const k1 = at(1);
    const k10 = at(10);
    const k1000 = at(1000);
    // nll ≤ nll_elbo, and the bound tightens: −L_1 ≥ −L_10 ≥ −L_1000 ≥ −log p(x) (up to noise).
    for (const v of [k10, k1000]) expect(v.nll).toBeLessThan(v.elbo);
    expect(k1.nll).toBeGreaterThan(k10.nll);
    expect(k10.nll).toBeGreaterThan(k1000.nll);
    expect(k1000.nll).toBeGreaterThan(exact - 0.01);
    // The gap this posterior leaves is large; k = 1000 closes most of it (measured: 1.13 nats, 0.08 left).
    expect(k1000.elbo - exact).toBeGreaterThan(0.3);
    expect(k1000.nll - exact).toBeLessThan(0.2 * (k1000.elbo - exact));
    tf.dispose([x, y]);
  });
});
