/**
 * `Slice`, `SplitV`, `Unpack`, `Concat` and `Identity` for the wasm backend without whole-tensor copies.
 *
 * tfjs-backend-wasm 4.22's Slice starts with `backend.readSync(x)`, which copies the
 * *entire* input out of the wasm heap before copying the slice; SplitV and Unpack call it
 * once per output, so splitting [B, W, 4h] LSTM gates copies the gate tensor four times
 * and unstacking H rows copies the image H times (a row-by-row RNN spent about a fifth of
 * its training step there, plus the garbage collection of those copies). Identity copies
 * its input too, and the engine clones (Identity) every tensor it saves for the backward
 * pass. Here slices read the heap in place (`typedArrayFromHeap`, after the output is
 * allocated, since an allocation may move the heap) and Identity shares the data with a
 * reference count, as the cpu backend does. The row copies go through the SIMD module
 * (wasm-simd.ts) where it runs. Checked against the cpu backend in the tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import { simdKernels, type SimdKernels } from './wasm-simd.js';

type Typed = Float32Array | Int32Array | Uint8Array;

/** The parts of the wasm backend used here (public methods of BackendWasm). */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Typed;
  incRef(dataId: tf.DataId): void;
}

const PATCHED = Symbol.for('genlab.wasmSlicePatched');

/**
 * The box `begin`…`begin+size` of a row-major array of `shape` as runs of contiguous rows:
 * `blocks(from, count, stride, row)` gets each run (count rows of `row` units, `stride`
 * apart, the first at `from`), in the box's row-major order; offsets count `unit` per element.
 * Trailing axes taken whole merge into the row, and an outer axis taken whole folds into
 * the one outside it, so that a split along the last axis is one run.
 */
function boxRows(shape: number[], begin: number[], size: number[], unit: number, blocks: (from: number, count: number, stride: number, row: number) => void): void {
  let rank = shape.length;
  while (rank > 1 && begin[rank - 1] === 0 && size[rank - 1] === shape[rank - 1]) rank--;
  const strides = new Array<number>(shape.length);
  strides[shape.length - 1] = unit;
  for (let d = shape.length - 2; d >= 0; d--) strides[d] = strides[d + 1]! * shape[d + 1]!;
  const row = size[rank - 1]! * strides[rank - 1]!;
  let base = begin[rank - 1]! * strides[rank - 1]!;
  const dims: [number, number][] = [];
  for (let d = 0; d < rank - 1; d++) {
    base += begin[d]! * strides[d]!;
    const last = dims.at(-1);
    if (last && begin[d] === 0 && size[d] === shape[d]) {
      last[0] *= size[d]!;
      last[1] = strides[d]!;
    } else dims.push([size[d]!, strides[d]!]);
  }
  const walk = (i: number, from: number): void => {
    if (i >= dims.length - 1) {
      const [count, stride] = dims[i] ?? [1, 0];
      blocks(from, count, stride, row);
      return;
    }
    const [count, stride] = dims[i]!;
    for (let j = 0; j < count; j++) walk(i + 1, from + j * stride);
  };
  walk(0, base);
}

/** Copy the box `begin`…`begin+size` of `src` (row-major `shape`) into `dst`, innermost rows with `set`. */
export function sliceInto(src: Typed, shape: number[], begin: number[], size: number[], dst: Typed): void {
  if (shape.length === 0) {
    dst[0] = src[0]!;
    return;
  }
  let out = 0;
  boxRows(shape, begin, size, 1, (from, count, stride, row) => {
    for (let j = 0; j < count; j++, out += row) dst.set(src.subarray(from + j * stride, from + j * stride + row), out);
  });
}

/**
 * `sliceInto` on the heap through the SIMD module's `copy_rows` (byte offsets `src`, `dst`):
 * one wasm call per run of rows instead of a JavaScript `set` per row (splitting [64, 28,
 * 128] LSTM gates into four was 1,792 rows of 32 floats each: 0.77 ms a split, now one call).
 */
export function copyBox(k: SimdKernels, src: number, dst: number, bytesPer: number, shape: number[], begin: number[], size: number[]): void {
  if (shape.length === 0) return k.copy_rows(dst, 0, src, 0, 1, bytesPer);
  let out = dst;
  boxRows(shape, begin, size, bytesPer, (from, count, stride, rowBytes) => {
    k.copy_rows(out, rowBytes, src + from, stride, count, rowBytes);
    out += count * rowBytes;
  });
}

function sliceKernel(x: tf.TensorInfo, begin: number[], size: number[], be: WasmBackendLike): tf.TensorInfo {
  const out = be.makeOutput(size, x.dtype);
  if (size.every((d) => d > 0)) {
    // Views after makeOutput: allocating may grow (and so move) the heap.
    const [src, dst] = [be.typedArrayFromHeap(x), be.typedArrayFromHeap(out)];
    const k = simdKernels(be as unknown as tf.KernelBackend);
    if (k) copyBox(k, src.byteOffset, dst.byteOffset, src.BYTES_PER_ELEMENT, x.shape, begin, size);
    else sliceInto(src, x.shape, begin, size, dst);
  }
  return out;
}

/** Install the five kernels on the `wasm` backend (idempotent). */
export function installWasmSlice(backendName = 'wasm'): void {
  const g = globalThis as Record<symbol, Set<string> | undefined>;
  const done = (g[PATCHED] ??= new Set());
  if (done.has(backendName)) return;
  const originals = new Map<string, tf.KernelConfig>();
  const original = (name: string, args: Parameters<tf.KernelFunc>[0]) => originals.get(name)!.kernelFunc(args);
  const replace = (name: string, kernelFunc: tf.KernelFunc) => {
    const original = tf.getKernel(name, backendName);
    if (!original) return;
    originals.set(name, original);
    tf.unregisterKernel(name, backendName);
    tf.registerKernel({
      ...original,
      kernelFunc: (args) => {
        const inputs = Object.values(args.inputs) as tf.TensorInfo[];
        // Strings live outside the heap: the stock kernels handle them.
        if (inputs.some((t) => t.dtype === 'string' || t.dtype === 'complex64')) return original.kernelFunc(args);
        return kernelFunc(args);
      },
    });
  };
  replace('Slice', ({ inputs, backend, attrs }) => {
    const x = inputs.x as tf.TensorInfo;
    const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    return sliceKernel(x, b!, s!, backend as unknown as WasmBackendLike);
  });
  replace('SplitV', ({ inputs, backend, attrs }) => {
    const x = inputs.x as tf.TensorInfo;
    const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((n) => {
      const size = x.shape.slice();
      size[ax] = n;
      const out = sliceKernel(x, begin.slice(), size, backend as unknown as WasmBackendLike);
      begin[ax]! += n;
      return out;
    });
  });
  replace('Unpack', ({ inputs, backend, attrs }) => {
    const x = inputs.value as tf.TensorInfo;
    let axis = (attrs as unknown as { axis: number }).axis;
    if (axis < 0) axis += x.shape.length;
    const outShape = x.shape.filter((_, i) => i !== axis);
    const size = x.shape.slice();
    size[axis] = 1;
    return Array.from({ length: x.shape[axis]! }, (_, i) => {
      const begin = new Array<number>(x.shape.length).fill(0);
      begin[axis] = i;
      const out = sliceKernel(x, begin, size, backend as unknown as WasmBackendLike);
      return { dataId: out.dataId, dtype: out.dtype, shape: outShape };
    });
  });
  // Concat: tfjs's copies each input row by row in JavaScript; here one copy_rows per input
  // (rows of the output are [outer, Σ inner], input i fills columns offset_i … offset_i + inner_i).
  replace('Concat', (args) => {
    const { inputs, backend, attrs } = args;
    const be = backend as unknown as WasmBackendLike;
    const k = simdKernels(backend as unknown as tf.KernelBackend);
    const xs = (Object.values(inputs) as tf.TensorInfo[]).filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    if (!k || xs.length < 2 || xs.some((t) => t.dtype !== xs[0]!.dtype)) return original('Concat', args);
    const axis = tf.util.parseAxisParam((attrs as unknown as { axis: number }).axis, xs[0]!.shape)[0]!;
    tf.backend_util.assertParamsConsistent(xs.map((t) => t.shape), axis);
    const outShape = tf.backend_util.computeOutShape(xs.map((t) => t.shape), axis);
    const out = be.makeOutput(outShape, xs[0]!.dtype);
    const dst = be.typedArrayFromHeap(out);
    const el = dst.BYTES_PER_ELEMENT;
    const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
    const total = tf.util.sizeFromShape(outShape.slice(axis)) * el;
    let offset = 0;
    for (const x of xs) {
      const inner = tf.util.sizeFromShape(x.shape.slice(axis)) * el;
      k.copy_rows(dst.byteOffset + offset, total, be.typedArrayFromHeap(x).byteOffset, inner, outer, inner);
      offset += inner;
    }
    return out;
  });
  replace('Identity', ({ inputs, backend }) => {
    const x = inputs.x as tf.TensorInfo;
    (backend as unknown as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
  done.add(backendName);
}
