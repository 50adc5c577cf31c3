import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { groupKernels, kernelFlops } from './profile.js';

describe('bench --profile: kernel FLOPs and grouping', () => {
  it('counts 2·m·n·k for GEMMs whatever the transposes, and 2·outputs·taps·channels for convolutions', () => {
    expect(kernelFlops('BatchMatMul', [[64, 100], [100, 256]], [[64, 256]])).toBe(2 * 64 * 256 * 100);
    expect(kernelFlops('BatchMatMul', [[100, 64], [100, 256]], [[64, 256]])).toBe(2 * 64 * 256 * 100); // aᵀ b
    expect(kernelFlops('_FusedMatMul', [[3, 8, 5], [3, 5, 7]], [[3, 8, 7]])).toBe(2 * 3 * 8 * 7 * 5);
    expect(kernelFlops('Conv2D', [[2, 28, 28, 1], [5, 5, 1, 64]], [[2, 14, 14, 64]])).toBe(2 * 2 * 14 * 14 * 64 * 25);
    expect(kernelFlops('Conv2DBackpropInput', [[2, 14, 14, 64], [5, 5, 1, 64]], [[2, 28, 28, 1]])).toBe(2 * 2 * 14 * 14 * 64 * 25);
    expect(kernelFlops('Conv2DBackpropFilter', [[2, 28, 28, 1], [2, 14, 14, 64]], [[5, 5, 1, 64]])).toBe(2 * 2 * 14 * 14 * 64 * 25);
    expect(kernelFlops('Relu', [[4]], [[4]])).toBeUndefined();
  });

  it('leaves out the op records tf.profile adds around kernels with a custom gradient', () => {
    const rows = groupKernels([{ name: 'fusedConv2d__op', ms: 5, inputShapes: [], outputShapes: [] }, { name: 'FusedConv2D', ms: 5, inputShapes: [], outputShapes: [] }], 1);
    expect(rows.map((r) => r.name)).toEqual(['FusedConv2D']);
  });

  it('agrees with the kernels tf.profile records for a real matmul and conv, per step', async () => {
    await tf.setBackend('cpu');
    const a = tf.ones([6, 4]);
    const b = tf.ones([4, 3]);
    const x = tf.ones([1, 8, 8, 2]);
    const f = tf.ones([3, 3, 2, 5]);
    const info = await tf.profile(() => {
      for (let i = 0; i < 2; i++) tf.dispose([tf.matMul(a, b), tf.matMul(b, a, true, true), tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same')]);
    });
    const rows = groupKernels(info.kernels.map((k) => ({ name: k.name, ms: 1, inputShapes: k.inputShapes, outputShapes: k.outputShapes })), 2);
    const mm = rows.find((r) => r.name === 'BatchMatMul')!;
    expect(mm.count).toBe(2);
    expect(mm.flops).toBe(2 * (6 * 3 * 4) + 2 * (3 * 6 * 4));
    const conv = rows.find((r) => r.name === 'Conv2D')!;
    expect(conv).toMatchObject({ count: 1, ms: 1, flops: 2 * 4 * 4 * 5 * 9 * 2 });
    tf.dispose([a, b, x, f]);
  });
});
