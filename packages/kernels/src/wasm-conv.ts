/**
 * Convolution kernels for the wasm backend, built on im2col + the fast matmul.
 *
 * - `Conv2DBackpropFilter` is missing from tfjs-backend-wasm 4.22, so no conv net could
 *   train there. dW = im2col(x)ᵀ · dy, with the columns laid out [kh, kw, ci] to match the
 *   filter's [fh, fw, ci, co].
 * - `Conv2DBackpropInput` (conv-transpose forward and every conv input gradient) is a
 *   naive loop in wasm (~4.5 GFLOP/s). Here: cols = dy · Wᵀ through the fast matmul, then
 *   a col2im scatter-add into dx.
 * - im2col and col2im run in the SIMD module (wasm-simd.ts) where it runs, else the
 *   JavaScript loops below (the same values: copies, and the same sums in the same order).
 * - `Conv2D` with 'same' padding and a stride larger than the kernel gives wrong results in
 *   wasm (XNNPACK path); those shapes are routed to im2col · W.
 * Every kernel is checked against the cpu backend on random shapes in the unit tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32, overrideKernel, runKernel, view, type WasmBackendLike } from './heap.js';
import { simdKernels } from './wasm-simd.js';

type ConvInfo = tf.backend_util.Conv2DInfo;

/**
 * im2col: cols[p, (kh·FW + kw)·CI + c] = x[n, ih, iw, c] for output position p = (n, oh, ow),
 * with ih = oh·sh − top + kh·dh (zero where outside the image). cols is [P, FH·FW·CI].
 */
export function im2col(x: Float32Array, info: ConvInfo, cols: Float32Array): void {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const K = FH * FW * CI;
  cols.fill(0);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const row = ((n * OH + oh) * OW + ow) * K;
        for (let kh = 0; kh < FH; kh++) {
          const ih = oh * sh - top + kh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < FW; kw++) {
            const iw = ow * sw - left + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const src = ((n * H + ih) * W + iw) * CI;
            const dst = row + (kh * FW + kw) * CI;
            if (CI === 1) cols[dst] = x[src]!;
            else cols.set(x.subarray(src, src + CI), dst);
          }
        }
      }
    }
  }
}

/** col2im: the adjoint of im2col, accumulating into dx (which must start at zero). */
export function col2im(cols: Float32Array, info: ConvInfo, dx: Float32Array): void {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const K = FH * FW * CI;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const row = ((n * OH + oh) * OW + ow) * K;
        for (let kh = 0; kh < FH; kh++) {
          const ih = oh * sh - top + kh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < FW; kw++) {
            const iw = ow * sw - left + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const dst = ((n * H + ih) * W + iw) * CI;
            const src = row + (kh * FW + kw) * CI;
            for (let c = 0; c < CI; c++) dx[dst + c]! += cols[src + c]!;
          }
        }
      }
    }
  }
}

export interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape?: [number, number, number, number];
  inputShape?: [number, number, number, number];
}

/** Conv geometry for NHWC input and an [fh, fw, ci, co] filter. */
export function convInfo(xShape: number[], filterShape: number[], a: ConvAttrs): ConvInfo {
  if (a.dataFormat && a.dataFormat !== 'NHWC') throw new Error(`genlab wasm conv kernels support NHWC only, got ${a.dataFormat}`);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** The geometry as the SIMD module's im2col / col2im take it, after the two pointers. */
export function convDims(info: ConvInfo): number[] {
  const i = info;
  return [i.batchSize, i.inHeight, i.inWidth, i.inChannels, i.outHeight, i.outWidth, i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth, i.dilationHeight, i.dilationWidth, i.padInfo.top, i.padInfo.left];
}

/** im2col of x into a new [1, P, K] tensor on the heap (the SIMD module's loop where it runs: one copy per run of taps). */
export function colsOf(backend: WasmBackendLike, x: tf.TensorInfo, info: ConvInfo): tf.TensorInfo {
  const P = info.batchSize * info.outHeight * info.outWidth;
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const cols = backend.makeOutput([1, P, K], 'float32');
  const k = simdKernels(backend);
  if (k) {
    const c = f32(backend, cols);
    c.fill(0);
    k.im2col(f32(backend, x).byteOffset, c.byteOffset, ...convDims(info));
  } else im2col(f32(backend, x), info, f32(backend, cols));
  return cols;
}

/** col2im of cols into dx (zeroed first), on the heap: the SIMD module's loop where it runs (the same sums in the same order). */
function col2imOnHeap(backend: WasmBackendLike, cols: tf.TensorInfo, info: ConvInfo, dx: tf.TensorInfo): void {
  const d = f32(backend, dx);
  d.fill(0);
  const k = simdKernels(backend);
  if (k) k.col2im(d.byteOffset, f32(backend, cols).byteOffset, ...convDims(info));
  else col2im(f32(backend, cols), info, d);
}

/** Whether the native BLAS matmul is installed on `backendName` (set by native.ts). */
export function nativeMatMulActive(backendName: string): boolean {
  return Boolean((globalThis as Record<symbol, boolean | undefined>)[Symbol.for(`genlab.kernel.${backendName}.BatchMatMul.native`)]);
}

/** Install the conv kernels on the given wasm backend (idempotent). */
export function installWasmConv(backendName = 'wasm'): void {
  const stockConv = tf.getKernel('Conv2D', backendName);
  overrideKernel('Conv2DBackpropFilter', backendName, () => ({ inputs, backend, attrs }) => {
    const be = backend as WasmBackendLike;
    const x = inputs.x as tf.TensorInfo;
    const dy = inputs.dy as tf.TensorInfo;
    const a = attrs as unknown as ConvAttrs;
    const info = convInfo(x.shape, a.filterShape!, a);
    // Without a native BLAS, XNNPACK's convolution is faster than im2col + matmul:
    // dW[kh, kw, ci, co] = Σ x[n, kh + oh·s − top, ·, ci] · dy[n, oh, ·, co] is a stride-1
    // convolution of xᵀ [CI, H, W, N] with dyᵀ [OH, OW, N, CO] dilated by the stride.
    const bottom = info.filterHeight + (info.outHeight - 1) * info.strideHeight - info.inHeight - info.padInfo.top;
    const right = info.filterWidth + (info.outWidth - 1) * info.strideWidth - info.inWidth - info.padInfo.left;
    if (!nativeMatMulActive(backendName) && stockConv && bottom >= 0 && right >= 0 && info.padInfo.top >= 0 && info.padInfo.left >= 0) {
      const temps: tf.TensorInfo[] = [];
      const T = (t: tf.TensorInfo, perm: number[]) => {
        const r = runKernel('Transpose', backendName, be, { x: t }, { perm });
        temps.push(r);
        return r;
      };
      try {
        const xT = T(x, [3, 1, 2, 0]); // [CI, H, W, N]
        const dyT = T(dy, [1, 2, 0, 3]); // [OH, OW, N, CO]
        const y = stockConv.kernelFunc({
          inputs: { x: xT, filter: dyT },
          backend: be,
          attrs: { strides: 1, pad: [[0, 0], [info.padInfo.top, bottom], [info.padInfo.left, right], [0, 0]], dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth] } as unknown as tf.NamedAttrMap,
        }) as tf.TensorInfo; // [CI, FH, FW, CO]
        temps.push(y);
        return runKernel('Transpose', backendName, be, { x: y }, { perm: [1, 2, 0, 3] }); // [FH, FW, CI, CO]
      } finally {
        for (const t of temps) be.disposeData(t.dataId);
      }
    }
    const P = info.batchSize * info.outHeight * info.outWidth;
    const cols = colsOf(be, x, info);
    try {
      // [1, K, CO] = colsᵀ · dy
      const out = runKernel('BatchMatMul', backendName, be, { a: cols, b: view(dy, [1, P, info.outChannels]) }, { transposeA: true, transposeB: false });
      return view(out, a.filterShape!);
    } finally {
      be.disposeData(cols.dataId);
    }
  });

  overrideKernel('Conv2DBackpropInput', backendName, () => ({ inputs, backend, attrs }) => {
    const be = backend as WasmBackendLike;
    const dy = inputs.dy as tf.TensorInfo;
    const filter = inputs.filter as tf.TensorInfo;
    const a = attrs as unknown as ConvAttrs;
    const info = convInfo(a.inputShape!, filter.shape, a);
    const P = info.batchSize * info.outHeight * info.outWidth;
    const K = info.filterHeight * info.filterWidth * info.inChannels;
    // [1, P, K] = dy · Wᵀ, then scatter the columns back onto the input grid.
    const cols = runKernel('BatchMatMul', backendName, be, { a: view(dy, [1, P, info.outChannels]), b: view(filter, [1, K, info.outChannels]) }, { transposeA: false, transposeB: true });
    try {
      const dx = be.makeOutput(a.inputShape!, 'float32');
      col2imOnHeap(be, cols, info, dx);
      return dx;
    } finally {
      be.disposeData(cols.dataId);
    }
  });

  overrideKernel('Conv2D', backendName, (original) => ({ inputs, backend, attrs }) => {
    const x = inputs.x as tf.TensorInfo;
    const filter = inputs.filter as tf.TensorInfo;
    const a = attrs as unknown as ConvAttrs;
    const [sh, sw] = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
    const [fh, fw] = filter.shape as [number, number];
    const buggy = a.pad === 'same' && (sh > fh || sw > fw);
    if (original && !buggy) return original.kernelFunc({ inputs, backend, attrs });
    // The stock kernel is wrong here: y = im2col(x) · W.
    const be = backend as WasmBackendLike;
    const info = convInfo(x.shape, filter.shape, a);
    const K = info.filterHeight * info.filterWidth * info.inChannels;
    const cols = colsOf(be, x, info);
    try {
      const out = runKernel('BatchMatMul', backendName, be, { a: cols, b: view(filter, [1, K, info.outChannels]) }, { transposeA: false, transposeB: false });
      return view(out, [info.batchSize, info.outHeight, info.outWidth, info.outChannels]);
    } finally {
      be.disposeData(cols.dataId);
    }
  });
}
