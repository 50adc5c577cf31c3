import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs gradients
import { beforeAll, describe, expect, it } from 'vitest';
import { installWasmConv3dGuard } from './wasm-conv3d.js';
import { mulberry32, on, worstRelError } from './test-helpers.js';

const rand = mulberry32(3);
const data = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

const cases: [number[], number[], number, 'same' | 'valid'][] = [
  [[2, 5, 6, 7, 2], [3, 3, 3, 2, 3], 2, 'same'],
  [[1, 6, 6, 6, 1], [2, 2, 2, 1, 2], 2, 'valid'],
  [[2, 7, 5, 6, 3], [3, 2, 3, 3, 2], 3, 'same'],
  [[2, 4, 5, 4, 2], [3, 3, 3, 2, 2], 1, 'same'],
];
const grads = (xs: number[], fs: number[], s: number, pad: 'same' | 'valid', xv: Float32Array, fv: Float32Array) => () => {
  const x = tf.tensor5d(xv, xs as [number, number, number, number, number]);
  const w = tf.tensor5d(fv, fs as [number, number, number, number, number]);
  return [tf.grad((ww: tf.Tensor) => tf.sum(tf.square(tf.conv3d(x, ww as tf.Tensor5D, s, pad))))(w)];
};

describe('Conv3DBackpropFilterV2 guard on wasm', () => {
  it('the stock wasm kernel is wrong for stride > 1 (the bug this guards against)', async () => {
    const [xs, fs, s, pad] = cases[0]!;
    const f = grads(xs, fs, s, pad, data(xs.reduce((a, b) => a * b)), data(fs.reduce((a, b) => a * b)));
    expect(worstRelError(await on('wasm', f), await on('cpu', f))).toBeGreaterThan(1e-2);
  });

  describe('with the guard', () => {
    beforeAll(() => installWasmConv3dGuard());
    for (const [xs, fs, s, pad] of cases) {
      it(`matches cpu: x [${xs}] filter [${fs}] stride ${s} ${pad}`, async () => {
        const f = grads(xs, fs, s, pad, data(xs.reduce((a, b) => a * b)), data(fs.reduce((a, b) => a * b)));
        expect(worstRelError(await on('wasm', f), await on('cpu', f))).toBeLessThan(2e-4);
      });
    }
  });
});
