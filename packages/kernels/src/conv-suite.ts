import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs gradients
import { beforeAll, describe, expect, it } from 'vitest';
import { registerHigherOrderGradients } from '@genlab/core';
import { installKernels, loadNativeBlas } from './index.js';
import { mulberry32, on, worstRelError } from './test-helpers.js';

const rand = mulberry32(21);
const randint = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const data = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
/** Stated tolerance: relative error against the cpu backend (float32 sums in another order). */
const TOL = 2e-4;

interface Case {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  s: number;
  pad: 'same' | 'valid';
}

/** Random shapes: strides 1–3, both paddings, kernel sizes 1–5, batch 1–8, odd sizes. */
function randomCases(count: number): Case[] {
  const out: Case[] = [];
  while (out.length < count) {
    const c: Case = { n: randint(1, 8), h: randint(3, 13), w: randint(3, 13), ci: randint(1, 6), co: randint(1, 7), k: randint(1, 5), s: randint(1, 3), pad: rand() < 0.5 ? 'same' : 'valid' };
    if (c.pad === 'valid' && (c.k > c.h || c.k > c.w)) continue;
    out.push(c);
  }
  return out;
}

const label = (c: Case) => `x[${c.n},${c.h},${c.w},${c.ci}] k${c.k} s${c.s} co${c.co} ${c.pad}`;

/** The convolution suite, on the pure-wasm pack or with the native BLAS on top. */
export function describeConvSuite(native: boolean): void {
describe(`conv kernels (${native ? 'wasm pack + native BLAS' : 'wasm pack'}) match the cpu backend`, () => {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
    expect(installKernels('wasm', { native }).native).toBe(native);
  });

  const cases = [
    ...randomCases(24),
    // The DCGAN's own shapes (the second at batch 16: its plain-cpu reference takes about
    // two minutes at batch 64 on 2 busy cores, and the kernels treat the batch as rows of
    // the same matrix products), and the wasm 'same' + stride > kernel bug.
    { n: 64, h: 28, w: 28, ci: 1, co: 64, k: 5, s: 2, pad: 'same' as const },
    { n: 16, h: 14, w: 14, ci: 64, co: 128, k: 5, s: 2, pad: 'same' as const },
    { n: 4, h: 9, w: 9, ci: 3, co: 2, k: 1, s: 2, pad: 'same' as const },
    { n: 2, h: 10, w: 7, ci: 2, co: 3, k: 2, s: 3, pad: 'same' as const },
    { n: 2, h: 12, w: 12, ci: 2, co: 2, k: 3, s: 4, pad: 'same' as const },
  ];
  for (const c of cases) {
    it(`conv2d, its filter and input gradients: ${label(c)}`, async () => {
      const xv = data(c.n * c.h * c.w * c.ci);
      const fv = data(c.k * c.k * c.ci * c.co);
      const f = () => {
        const x = tf.tensor4d(xv, [c.n, c.h, c.w, c.ci]);
        const filter = tf.tensor4d(fv, [c.k, c.k, c.ci, c.co]);
        const y = tf.conv2d(x, filter, c.s, c.pad);
        // A loss with a non-uniform upstream gradient.
        const weights = tf.reshape(tf.linspace(-1, 1, y.size), y.shape);
        const [dx, dw] = tf.grads((a, b) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), weights)))([x, filter]);
        return [y, dx!, dw!];
      };
      const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
      const wasm = await on('wasm', f);
      expect(tf.memory().numTensors).toBe(before);
      expect(worstRelError(wasm, await on('cpu', f))).toBeLessThan(TOL);
    });
  }

  for (const c of randomCases(10)) {
    it(`conv2dTranspose and its gradients: ${label(c)}`, async () => {
      // conv2dTranspose maps [n, oh, ow, co] back to [n, h, w, ci].
      const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.ci], [c.k, c.k, c.ci, c.co], c.s, 1, c.pad);
      const dyv = data(c.n * info.outHeight * info.outWidth * c.co);
      const fv = data(c.k * c.k * c.ci * c.co);
      const f = () => {
        const dy = tf.tensor4d(dyv, [c.n, info.outHeight, info.outWidth, c.co]);
        const filter = tf.tensor4d(fv, [c.k, c.k, c.ci, c.co]);
        const op = (a: tf.Tensor, b: tf.Tensor) => tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [c.n, c.h, c.w, c.ci], c.s, c.pad);
        const y = op(dy, filter);
        const [g1, g2] = tf.grads((a, b) => tf.sum(tf.square(op(a!, b!))))([dy, filter]);
        return [y, g1!, g2!];
      };
      expect(worstRelError(await on('wasm', f), await on('cpu', f))).toBeLessThan(TOL);
    });
  }

  // The FID feature network's layers (conv + bias + ReLU, fused by tfjs-layers) and plain ones,
  // with enough small images that the native conv2d works through several blocks of them.
  // Skipped (reported as 1 skipped) in the pure-wasm instance of this suite (wasm-conv.test.ts):
  // there is no native conv2d to test; native-conv.test.ts runs it where the addon is built.
  it.runIf(native)('fused conv2d with bias and ReLU, and without, go through the native blocked conv2d and match the cpu backend', async () => {
    const blas = loadNativeBlas().blas!;
    expect(blas.conv2d, 'this addon has no conv2d: rebuild it (node scripts/build-native.mjs)').toBeTypeOf('function');
    const real = blas.conv2d!;
    let calls = 0;
    blas.conv2d = (...a) => (calls++, real(...a));
    try {
      for (const c of [
        { n: 400, h: 5, w: 5, ci: 3, co: 8, k: 3, s: 1, pad: 'same' as const },
        { n: 9, h: 28, w: 28, ci: 1, co: 32, k: 3, s: 1, pad: 'same' as const },
        { n: 300, h: 7, w: 6, ci: 4, co: 5, k: 2, s: 2, pad: 'valid' as const },
      ]) {
        const xv = data(c.n * c.h * c.w * c.ci);
        const fv = data(c.k * c.k * c.ci * c.co);
        const bv = data(c.co);
        const f = () => {
          const x = tf.tensor4d(xv, [c.n, c.h, c.w, c.ci]);
          const filter = tf.tensor4d(fv, [c.k, c.k, c.ci, c.co]);
          const bias = tf.tensor1d(bv);
          return [tf.fused.conv2d({ x, filter, strides: c.s, pad: c.pad, bias, activation: 'relu' }), tf.fused.conv2d({ x, filter, strides: c.s, pad: c.pad, bias }), tf.conv2d(x, filter, c.s, c.pad)];
        };
        const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
        const got = await on('wasm', f);
        expect(tf.memory().numTensors).toBe(before);
        expect(worstRelError(got, await on('cpu', f)), label(c)).toBeLessThan(TOL);
        // ReLU really applied: no negative value, and some zeros.
        expect(got[0]!.reduce((m, v) => Math.min(m, v), Infinity)).toBe(0);
      }
      expect(calls).toBe(9);
    } finally {
      blas.conv2d = real;
    }
  });

  it('filter gradient equals finite differences', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(data(2 * 5 * 5 * 2), [2, 5, 5, 2]);
    const w = tf.tensor4d(data(3 * 3 * 2 * 3), [3, 3, 2, 3]);
    const loss = (ww: tf.Tensor4D) => tf.tidy(() => tf.sum(tf.square(tf.conv2d(x, ww, 2, 'same'))).dataSync()[0]!);
    const analytic = tf.grad((ww: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, ww as tf.Tensor4D, 2, 'same'))))(w);
    const g = analytic.dataSync();
    const wv = w.dataSync();
    const eps = 1e-2;
    for (const i of [0, 5, 17, 30, 53]) {
      const plus = Float32Array.from(wv);
      const minus = Float32Array.from(wv);
      plus[i]! += eps;
      minus[i]! -= eps;
      const fd = (loss(tf.tensor4d(plus, w.shape)) - loss(tf.tensor4d(minus, w.shape))) / (2 * eps);
      expect(g[i]!).toBeCloseTo(fd, 2);
    }
    tf.dispose([x, w, analytic]);
  });
});

describe('comparison gradients', () => {
  it('allow a second-order gradient through LeakyReLU (gradient penalty) on cpu and wasm', async () => {
    registerHigherOrderGradients();
    const f = () => {
      const x = tf.tensor2d([[0.5, -1.0], [2.0, -0.3]]);
      // ‖∇ₓ sum(leakyRelu(x)·x)‖² and its gradient with respect to x.
      const penalty = (v: tf.Tensor) => tf.sum(tf.square(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(u, 0.2), u)))(v)));
      return [penalty(x), tf.grad(penalty)(x)];
    };
    const cpu = await on('cpu', f);
    expect(worstRelError(await on('wasm', f), cpu)).toBeLessThan(1e-5);
    // d/dx of (2·slope(x)·x)² = 8·slope²·x: [4, -0.32, 16, -0.096]
    expect(Array.from(cpu[1]!).map((v) => Number(v.toFixed(4)))).toEqual([4, -0.32, 16, -0.096]);
  });
});
}
