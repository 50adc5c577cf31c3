// Convolution kernels of the pure-wasm pack against the cpu backend (native-conv.test.ts
// runs the same suite with the native BLAS on top).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { describeConvSuite } from './conv-suite.js';
import { mulberry32, on, worstRelError } from './test-helpers.js';

// Runs before the suite installs the pack: shows the stock bug the Conv2D guard exists for.
describe('stock wasm Conv2D', () => {
  it("is wrong with 'same' padding and stride > kernel size", async () => {
    const rand = mulberry32(9);
    // e.g. 12×12 input, 3×3 kernel, stride 4 (the 'same' padding would be negative, clamped to 0).
    const xv = Float32Array.from({ length: 2 * 12 * 12 * 2 }, () => rand());
    const wv = Float32Array.from({ length: 3 * 3 * 2 * 2 }, () => rand());
    const f = () => tf.conv2d(tf.tensor4d(xv, [2, 12, 12, 2]), tf.tensor4d(wv, [3, 3, 2, 2]), 4, 'same');
    expect(worstRelError(await on('wasm', f), await on('cpu', f))).toBeGreaterThan(1e-2);
  });
});

describeConvSuite(false);
