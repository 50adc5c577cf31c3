import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-layers'; // registers tfjs gradients
import { mulberry32, on } from './test-helpers.js';
import { installWasmTile, tileInto } from './wasm-tile.js';

const rand = mulberry32(11);

describe('copy-based Tile on wasm matches the cpu backend', () => {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
    installWasmTile();
  });

  const cases: [number[], number[]][] = [
    [[1, 1024], [64, 1]],
    [[5], [3]],
    [[2, 3], [2, 2]],
    [[2, 1, 3], [1, 4, 2]],
    [[3, 2, 2, 1], [2, 1, 3, 5]],
    [[4, 2], [1, 1]],
    [[0, 3], [2, 2]],
  ];
  for (const [shape, reps] of cases) {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      it(`tile ${dtype} [${shape}] by [${reps}]`, async () => {
        const size = shape.reduce((a, b) => a * b, 1);
        const values = Array.from({ length: size }, () => (dtype === 'float32' ? rand() : Math.floor(rand() * 2)));
        const f = () => tf.tile(tf.tensor(values, shape, dtype), reps);
        const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
        const wasm = await on('wasm', f);
        expect(tf.memory().numTensors).toBe(before);
        expect(wasm.map((a) => Array.from(a))).toEqual((await on('cpu', f)).map((a) => Array.from(a)));
      });
    }
  }

  it('gives the same batch-norm gradients as cpu', async () => {
    const xv = Float32Array.from({ length: 16 * 12 }, () => rand() * 2 - 1);
    const f = () => {
      const x = tf.tensor2d(xv, [16, 12]);
      const gamma = tf.linspace(0.5, 1.5, 12);
      const beta = tf.linspace(-0.2, 0.2, 12);
      const g = tf.grads((v, s, o) => {
        const { mean, variance } = tf.moments(v!, 0);
        return tf.sum(tf.square(tf.batchNorm(v!, mean, variance, o!, s!, 1e-3)));
      })([x, gamma, beta]);
      return g;
    };
    const wasm = await on('wasm', f);
    const cpu = await on('cpu', f);
    expect(wasm.length).toBe(3);
    wasm.forEach((w, k) => w.forEach((v, i) => expect(v).toBeCloseTo(cpu[k]![i]!, 4)));
  });

  it('tileInto handles a scalar', () => {
    const dst = new Float32Array(1);
    tileInto(Float32Array.of(3), [], [], dst);
    expect(dst[0]).toBe(3);
  });
});
