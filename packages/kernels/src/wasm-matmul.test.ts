import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-layers'; // registers tfjs gradients
import { mulberry32, on, worstRelError } from './test-helpers.js';
import { installWasmMatMul } from './wasm-matmul.js';

const rand = mulberry32(7);
const data = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

describe('wasm matmul kernels with transposes match the cpu backend', () => {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
    installWasmMatMul();
    installWasmMatMul(); // idempotent
  });

  // [m, k, n] and batch: small and skinny shapes exercise both strategies of A·Bᵀ and Aᵀ·Bᵀ.
  const shapes: [number, number, number, number][] = [
    [3, 5, 4, 1],
    [64, 96, 40, 1],
    [2, 300, 257, 1],
    [40, 7, 3, 1],
    [5, 6, 7, 3],
    [40, 50, 30, 4],
    [17, 64, 33, 2],
    // Dot products of two vectors (the gradient norm's): the pass over the heap.
    [1, 5000, 1, 1],
    [1, 1024, 1, 1],
  ];
  for (const [m, k, n, batch] of shapes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        it(`matMul ${ta ? 'Aᵀ' : 'A'}·${tb ? 'Bᵀ' : 'B'} for m=${m} k=${k} n=${n} batch=${batch}`, async () => {
          const aShape = ta ? [k, m] : [m, k];
          const bShape = tb ? [n, k] : [k, n];
          const full = (s: number[]) => (batch > 1 ? [batch, ...s] : s);
          const av = data(batch * m * k);
          const bv = data(batch * k * n);
          const f = () => tf.matMul(tf.tensor(av, full(aShape)), tf.tensor(bv, full(bShape)), ta, tb);
          const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
          const wasm = await on('wasm', f);
          expect(tf.memory().numTensors).toBe(before);
          expect(worstRelError(wasm, await on('cpu', f))).toBeLessThan(1e-4);
        });
      }
    }
  }

  it('fused matmul with bias and relu, transposed, and its gradients', async () => {
    const xv = data(16 * 24);
    const wv = data(10 * 24);
    const bv = data(10);
    const f = () => {
      const x = tf.tensor2d(xv, [16, 24]);
      const w = tf.tensor2d(wv, [10, 24]);
      const b = tf.tensor1d(bv);
      const y = tf.fused.matMul({ a: x, b: w, transposeB: true, bias: b, activation: 'relu' });
      const grads = tf.grads((xx, ww) => tf.sum(tf.square(tf.fused.matMul({ a: xx!, b: ww!, transposeB: true, bias: b, activation: 'relu' }))))([x, w]);
      return [y, ...grads];
    };
    expect(worstRelError(await on('wasm', f), await on('cpu', f))).toBeLessThan(1e-4);
  });
});
