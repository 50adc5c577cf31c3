/**
 * `Sum` and `Mean` over leading axes for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 reduces over any axes but the last by transposing the input first
 * (a full strided copy) and then reducing rows: about 60 ms for a sum of [64, 28, 28, 128]
 * over [0, 1, 2] on our CPU. That reduction is in every step of a convolutional network:
 * batch-norm moments and every bias gradient are per-channel sums over batch and space.
 * Here the rows are accumulated in place on the heap into float64 per-channel sums (one
 * sequential pass, no copy, and more accurate than float32 accumulation; the SIMD module's
 * `sum_rows` where it runs, this file's `sumRows` otherwise). Other reductions
 * go to the stock kernels. Checked against the cpu backend in the unit test.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32, overrideKernel, type WasmBackendLike } from './heap.js';
import { simdSumRows } from './wasm-simd.js';

/** Sum the `rows` consecutive rows of `cols` values in `x` into `out` (× `scale`). */
export function sumRows(x: Float32Array, rows: number, cols: number, out: Float32Array, scale: number): void {
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) acc[c]! += x[base + c]!;
  }
  for (let c = 0; c < cols; c++) out[c] = acc[c]! * scale;
}

/** Install the leading-axes `Sum` and `Mean` on the wasm backend (idempotent). */
export function installWasmReduce(backendName = 'wasm'): void {
  for (const name of ['Sum', 'Mean'] as const) {
    overrideKernel(name, backendName, (original) => ({ inputs, backend, attrs }) => {
      const x = inputs.x as tf.TensorInfo;
      const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims?: boolean };
      const shape = x.shape;
      const axes = tf.util.parseAxisParam(axis, shape).sort((a, b) => a - b);
      const k = axes.length;
      // Only the reductions the stock kernel transposes for: axes 0..k-1, the last one kept.
      if (x.dtype !== 'float32' || k === 0 || k >= shape.length || !axes.every((a, i) => a === i)) {
        return original!.kernelFunc({ inputs, backend, attrs });
      }
      const rows = tf.util.sizeFromShape(shape.slice(0, k));
      const kept = shape.slice(k);
      const cols = tf.util.sizeFromShape(kept);
      const be = backend as WasmBackendLike;
      const out = be.makeOutput(keepDims ? [...shape.slice(0, k).map(() => 1), ...kept] : kept, 'float32');
      const scale = name === 'Mean' ? 1 / rows : 1;
      // The SIMD module's loop where it runs (about 5x faster), else the same sums here.
      if (!simdSumRows(be, x, rows, cols, out, scale)) sumRows(f32(be, x), rows, cols, f32(be, out), scale);
      return out;
    });
  }
}
