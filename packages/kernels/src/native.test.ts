/**
 * The native BLAS path (OpenBLAS sgemm addon) against the cpu backend: matmuls with every
 * transpose, batch broadcasting, fused bias + activation, and the convolution suite (run
 * by re-importing wasm-conv.test.ts with the native kernels on top). Skipped, with the
 * reason printed, when the addon is not built (no libopenblas-dev at install time); CI
 * installs it, so there this always runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { installKernels, loadNativeBlas } from './index.js';
import { mulberry32, on, worstRelError } from './test-helpers.js';

const { blas, reason } = loadNativeBlas();
if (!blas) console.warn(`native BLAS tests skipped: ${reason}`);
const rand = mulberry32(5);
const data = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

// Skipped only where the native addon is not built (no libopenblas-dev at install; the
// warning above says why); .ci/run installs OpenBLAS, so CI runs these.
describe.skipIf(!blas)('native BLAS kernels match the cpu backend', () => {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
    expect(installKernels('wasm').native).toBe(true);
  });

  for (const [m, k, n, ba, bb] of [
    [3, 5, 4, 1, 1],
    [64, 100, 784, 1, 1],
    [7, 3, 9, 4, 4],
    [5, 6, 2, 3, 1],
    [5, 6, 2, 1, 3],
  ] as const) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        it(`matMul ${ta ? 'Aᵀ' : 'A'}·${tb ? 'Bᵀ' : 'B'} m=${m} k=${k} n=${n} batches ${ba}/${bb}`, async () => {
          const av = data(ba * m * k);
          const bv = data(bb * k * n);
          const f = () => tf.matMul(tf.tensor(av, [ba, ...(ta ? [k, m] : [m, k])]), tf.tensor(bv, [bb, ...(tb ? [n, k] : [k, n])]), ta, tb);
          const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
          const wasm = await on('wasm', f);
          expect(tf.memory().numTensors).toBe(before);
          expect(worstRelError(wasm, await on('cpu', f))).toBeLessThan(1e-4);
        });
      }
    }
  }

  // tf.matMul hands the kernel its operands at their own rank: a dense layer's product and
  // its gradients are 2-D. These must reach sgemm too (a 3-D-only check once sent every
  // dense layer to the slower wasm kernel and halved the MLP GAN's speed).
  for (const [as, bs] of [
    [[64, 100], [100, 30]],
    [[2, 3, 5, 4], [2, 3, 4, 6]],
    [[2, 3, 5, 4], [4, 6]],
    [[5, 4], [3, 4, 6]],
    [[1, 5, 4], [2, 1, 4, 6]],
  ] as const) {
    it(`matMul ${JSON.stringify(as)}·${JSON.stringify(bs)} goes through sgemm and matches cpu`, async () => {
      const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
      const av = data(size(as));
      const bv = data(size(bs));
      const f = () => tf.matMul(tf.tensor(av, [...as]), tf.tensor(bv, [...bs]));
      const sgemm = blas!.sgemm;
      let calls = 0;
      blas!.sgemm = (...args) => (calls++, sgemm(...args));
      try {
        const shapeOn = async (b: string) => (await tf.setBackend(b), tf.tidy(() => f().shape));
        expect(await shapeOn('wasm')).toEqual(await shapeOn('cpu'));
        calls = 0;
        const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
        const wasm = await on('wasm', f);
        expect(tf.memory().numTensors).toBe(before);
        expect(worstRelError(wasm, await on('cpu', f))).toBeLessThan(1e-4);
      } finally {
        blas!.sgemm = sgemm;
      }
      expect(calls).toBeGreaterThan(0);
    });
  }

  for (const activation of ['linear', 'relu', 'elu', 'leakyrelu', 'sigmoid', 'relu6', 'prelu'] as const) {
    it(`fused matmul with bias and ${activation}, and its gradients`, async () => {
      const xv = data(16 * 24);
      const wv = data(24 * 10);
      const bv = data(10);
      const f = () => {
        const x = tf.tensor2d(xv, [16, 24]);
        const w = tf.tensor2d(wv, [24, 10]);
        const b = tf.tensor1d(bv);
        const alpha = activation === 'prelu' ? tf.fill([10], 0.1) : undefined;
        const op = (xx: tf.Tensor, ww: tf.Tensor) =>
          tf.fused.matMul({ a: xx as tf.Tensor2D, b: ww as tf.Tensor2D, bias: b, activation, ...(alpha ? { preluActivationWeights: alpha } : {}), leakyreluAlpha: 0.3 });
        return [op(x, w), ...tf.grads((xx, ww) => tf.sum(tf.square(op(xx!, ww!))))([x, w])];
      };
      expect(worstRelError(await on('wasm', f), await on('cpu', f))).toBeLessThan(1e-4);
    });
  }

  it('fused conv2d with bias and relu, and its gradients', async () => {
    const xv = data(4 * 9 * 9 * 3);
    const wv = data(3 * 3 * 3 * 5);
    const bv = data(5);
    const f = () => {
      const x = tf.tensor4d(xv, [4, 9, 9, 3]);
      const w = tf.tensor4d(wv, [3, 3, 3, 5]);
      const b = tf.tensor1d(bv);
      const op = (xx: tf.Tensor, ww: tf.Tensor) => tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: ww as tf.Tensor4D, strides: 2, pad: 'same', bias: b, activation: 'relu' });
      return [op(x, w), ...tf.grads((xx, ww) => tf.sum(tf.square(op(xx!, ww!))))([x, w])];
    };
    expect(worstRelError(await on('wasm', f), await on('cpu', f))).toBeLessThan(2e-4);
  });
});
