import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-layers'; // registers tfjs gradients
import { mulberry32, on, worstRelError } from './test-helpers.js';
import { installWasmReduce } from './wasm-reduce.js';

const rand = mulberry32(23);
const data = (n: number) => Float32Array.from({ length: n }, () => rand() * 4 - 1);

describe('Sum and Mean over leading axes on wasm match the cpu backend', () => {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
    installWasmReduce();
  });

  const cases: [number[], number | number[]][] = [
    [[64, 7, 7, 16], [0, 1, 2]], // batch-norm moments and bias gradients of a conv layer
    [[64, 100], 0], // a dense layer's
    [[3, 4, 5], [1, 0]],
    [[3, 4, 5], [-3, -2]],
    [[2, 3, 4, 5], [0]],
    [[2, 3, 4, 5], [1, 2]], // not leading: the stock kernel
    [[3, 4, 5], [0, 1, 2]], // every axis: the stock kernel
    [[6, 5], -1],
  ];
  for (const [shape, axis] of cases) {
    for (const op of ['sum', 'mean'] as const) {
      for (const keepDims of [false, true]) {
        it(`${op} of [${shape}] over ${JSON.stringify(axis)}${keepDims ? ' keeping dims' : ''}`, async () => {
          const v = data(shape.reduce((a, b) => a * b, 1));
          const f = () => tf[op](tf.tensor(v, shape), axis, keepDims);
          const shapeOn = async (b: string) => (await tf.setBackend(b), tf.tidy(() => f().shape));
          expect(await shapeOn('wasm')).toEqual(await shapeOn('cpu'));
          const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
          const wasm = await on('wasm', f);
          expect(tf.memory().numTensors).toBe(before);
          expect(worstRelError(wasm, await on('cpu', f))).toBeLessThan(1e-5);
        });
      }
    }
  }

  it('leaves int32 sums to the stock kernel, and gives the gradients of tf.moments', async () => {
    const ints = () => tf.sum(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), 0);
    expect(Array.from((await on('wasm', ints))[0]!)).toEqual([9, 12]);
    const xv = data(8 * 3 * 3 * 4);
    const g = () => tf.grad((x: tf.Tensor) => {
      const m = tf.moments(x, [0, 1, 2]);
      return tf.sum(tf.mul(tf.div(tf.sub(x, m.mean), tf.sqrt(tf.add(m.variance, 1e-3))), tf.tensor1d([1, -2, 3, 0.5])));
    })(tf.tensor4d(xv, [8, 3, 3, 4]));
    expect(worstRelError(await on('wasm', g), await on('cpu', g))).toBeLessThan(1e-4);
  });
});
