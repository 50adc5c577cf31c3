import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-layers'; // registers tfjs gradients
import { mulberry32, on } from './test-helpers.js';
import { installWasmSlice, sliceInto } from './wasm-slice.js';

const rand = mulberry32(17);
const values = (n: number, dtype: 'float32' | 'int32' | 'bool') => Array.from({ length: n }, () => (dtype === 'float32' ? rand() * 2 - 1 : Math.floor(rand() * 2)));

describe('Slice, SplitV, Unpack, Concat and Identity on wasm match the cpu backend', () => {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
    installWasmSlice();
  });

  const same = async (f: () => tf.Tensor | tf.Tensor[]) => {
    const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
    const wasm = await on('wasm', f);
    expect(tf.memory().numTensors).toBe(before);
    expect(wasm.map((a) => Array.from(a))).toEqual((await on('cpu', f)).map((a) => Array.from(a)));
  };

  const slices: [number[], number[], number[]][] = [
    [[7], [2], [3]],
    [[4, 5], [1, 2], [2, 3]],
    [[4, 5], [0, 0], [4, 5]],
    [[3, 4, 5], [1, 0, 0], [2, 4, 5]],
    [[3, 4, 5], [0, 1, 2], [3, 2, 3]],
    [[2, 3, 4, 5], [1, 2, 0, 1], [1, 1, 4, 4]],
    [[2, 3, 4, 5], [0, 0, 3, 0], [2, 3, 1, 5]],
    [[2, 2, 3, 2, 3], [1, 0, 1, 0, 1], [1, 2, 2, 2, 2]],
    [[3, 4], [1, 1], [0, 2]],
  ];
  for (const [shape, begin, size] of slices) {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      it(`slices ${dtype} [${shape}] at [${begin}] size [${size}] (SIMD row copies, and the JavaScript loop)`, async () => {
        const v = values(shape.reduce((a, b) => a * b, 1), dtype);
        await same(() => tf.slice(tf.tensor(v, shape, dtype), begin, size));
        process.env.GENLAB_SIMD_KERNELS = '0';
        try {
          await same(() => tf.slice(tf.tensor(v, shape, dtype), begin, size));
        } finally {
          delete process.env.GENLAB_SIMD_KERNELS;
        }
      });
    }
  }

  const concats: [number[][], number][] = [
    [[[3, 4], [3, 2]], 1],
    [[[3, 4], [2, 4], [1, 4]], 0],
    [[[2, 3, 4], [2, 3, 1], [2, 3, 5]], -1],
    [[[2, 3, 4], [2, 1, 4], [2, 0, 4], [2, 2, 4]], 1], // an empty input
    [[[64, 28, 32], [64, 28, 32], [64, 28, 32], [64, 28, 32]], 2], // LSTM gates back together (split's gradient)
    [[[5], [7]], 0],
  ];
  for (const [shapes, axis] of concats) {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      it(`concatenates ${dtype} ${shapes.map((s) => `[${s}]`).join(' ')} along ${axis}`, () => {
        const vs = shapes.map((s) => values(s.reduce((a, b) => a * b, 1), dtype));
        return same(() => tf.concat(vs.map((v, i) => tf.tensor(v, shapes[i], dtype)), axis));
      });
    }
  }

  it('concatenates a single input, and mixed dtypes as tfjs does (stock kernel)', async () => {
    await same(() => tf.concat([tf.tensor2d([1, 2, 3, 4], [2, 2])], 1));
    await same(() => tf.concat([tf.tensor1d([1, 2], 'int32'), tf.tensor1d([0.5, 3])], 0));
  });

  it('splits along every axis, evenly and by sizes', async () => {
    const v = values(2 * 6 * 4, 'float32');
    for (const axis of [0, 1, 2, -1]) await same(() => tf.split(tf.tensor3d(v, [2, 6, 4]), 2, axis));
    await same(() => tf.split(tf.tensor3d(v, [2, 6, 4]), [1, 3, 2], 1));
  });

  it('unstacks along every axis', async () => {
    const v = values(3 * 4 * 2, 'int32');
    for (const axis of [0, 1, 2]) await same(() => tf.unstack(tf.tensor3d(v, [3, 4, 2], 'int32'), axis));
  });

  it('clones share data safely: the clone outlives its source, variables re-assign', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    const v = tf.variable(b);
    const doubled = tf.tidy(() => tf.mul(v, 2));
    v.assign(doubled as tf.Tensor1D);
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(v.dataSync())).toEqual([2, 4, 6]);
    tf.dispose([b, v, doubled]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same gradients as cpu through split, unstack, slice and stack (an LSTM-like row step)', async () => {
    const xv = values(3 * 5 * 8, 'float32');
    const f = () => {
      const x = tf.tensor3d(xv, [3, 5, 8]);
      return tf.grads((t) => {
        const [i, f, o, g] = tf.split(t!, 4, 2);
        const c = tf.add(tf.mul(tf.sigmoid(f!), 0.5), tf.mul(tf.sigmoid(i!), tf.tanh(g!)));
        const h = tf.mul(tf.sigmoid(o!), tf.tanh(c));
        const rows = tf.unstack(h, 1);
        return tf.sum(tf.square(tf.add(tf.stack(rows.reverse(), 1), tf.slice(h, [0, 1, 0], [3, 1, 2]))));
      })([x]);
    };
    const wasm = await on('wasm', f);
    const cpu = await on('cpu', f);
    wasm[0]!.forEach((v, i) => expect(v).toBeCloseTo(cpu[0]![i]!, 5));
  });

  it('sliceInto copies a box row by row', () => {
    const src = Float32Array.from({ length: 24 }, (_, i) => i);
    const dst = new Float32Array(4);
    sliceInto(src, [2, 3, 4], [1, 1, 2], [1, 2, 2], dst);
    expect(Array.from(dst)).toEqual([18, 19, 22, 23]);
  });
});
