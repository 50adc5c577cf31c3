/**
 * The optional native path: when the `genlab_blas` addon (OpenBLAS sgemm, built at install
 * time) loads, `BatchMatMul` and `_FusedMatMul` on the wasm backend call it directly on
 * Float32Array views of the wasm heap — no copies, transposes handled by BLAS. Every
 * convolution kernel of the pack goes through `BatchMatMul`, so convolutions get it too.
 */
import { createRequire } from 'node:module';
import { util } from '@tensorflow/tfjs-core';
import type * as tf from '@tensorflow/tfjs-core';
import { f32, overrideKernel, runKernel, view, type WasmBackendLike } from './heap.js';
import { colsOf, convInfo, type ConvAttrs } from './wasm-conv.js';
import { vectorDot } from './wasm-matmul.js';

/** What the addon exports. */
export interface NativeBlas {
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array): void;
  /** adam: 'sse' for the vectorised update with streaming stores, 'scalar' without SSE (absent: built before either). */
  info(): { config: string; threads: number; adam?: string };
  setThreads(n: number): void;
  /**
   * A convolution, NHWC, filter [KH, KW, CI, CO], dilation 1, with bias and ReLU (blas.c); absent
   * from addons built before it existed. dims: N, H, W, CI, KH, KW, CO, strideH, strideW, padTop, padLeft, OH, OW.
   */
  conv2d?(x: Float32Array, filter: Float32Array, bias: Float32Array | null, relu: boolean, dims: Int32Array, y: Float32Array): void;
  /** One Adam step (see native-adam.ts); absent from addons built before it existed. */
  adam?(P: Float32Array, G: Float32Array, M: Float32Array, V: Float32Array, P1: Float32Array, M1: Float32Array, V1: Float32Array, beta1: number, beta2: number, stepSize: number, epsHat: number): number | undefined;
}

let loaded: NativeBlas | undefined;

/** Load the addon; `reason` says why not when it is absent. Set GENLAB_NATIVE=0 to skip it. */
export function loadNativeBlas(): { blas?: NativeBlas; reason: string } {
  if (process.env.GENLAB_NATIVE === '0') return { reason: 'native BLAS disabled by GENLAB_NATIVE=0' };
  try {
    const require = createRequire(import.meta.url);
    const addon = require('../native/build/Release/genlab_blas.node') as NativeBlas;
    // One plain object per process (the addon's exports are read-only), so tests can count
    // the sgemm calls the kernels make.
    const blas = (loaded ??= { sgemm: (...a) => addon.sgemm(...a), info: () => addon.info(), setThreads: (n) => addon.setThreads(n), ...(addon.adam ? { adam: (...a) => addon.adam!(...a) } : {}), ...(addon.conv2d ? { conv2d: (...a) => addon.conv2d!(...a) } : {}) });
    const threads = Number(process.env.GENLAB_BLAS_THREADS ?? 0);
    if (threads > 0) blas.setThreads(threads);
    const info = blas.info();
    // Which kernel set OpenBLAS runs (its build string names it: Haswell, SkylakeX, Cooperlake,
    // Zen, …), and when OPENBLAS_CORETYPE chose it rather than OpenBLAS's detection: on a 2-vCPU
    // AMD EPYC with AVX-512, OPENBLAS_CORETYPE=Haswell made the MLP GAN's products 1.5-2x slower
    // than the Cooperlake kernels OpenBLAS picks by itself.
    const words = info.config.split(' ');
    const core = words.slice(2).find((w) => /^[A-Z][a-z]/.test(w) && !w.includes('='));
    const forced = process.env.OPENBLAS_CORETYPE ? `, set by OPENBLAS_CORETYPE` : '';
    return { blas, reason: `native ${words.slice(0, 2).join(' ')} sgemm${core ? ` (${core} kernels${forced})` : ''}, ${info.threads} thread(s)` };
  } catch {
    return { reason: 'no native BLAS addon (install libopenblas-dev, then pnpm install)' };
  }
}

type Activation = 'linear' | 'relu' | 'relu6' | 'elu' | 'leakyrelu' | 'sigmoid' | 'prelu';

/** Apply a fused activation in place. */
function activate(y: Float32Array, act: Activation, alpha: number): void {
  switch (act) {
    case 'relu':
      for (let i = 0; i < y.length; i++) if (y[i]! < 0) y[i] = 0;
      return;
    case 'relu6':
      for (let i = 0; i < y.length; i++) y[i] = Math.min(6, Math.max(0, y[i]!));
      return;
    case 'elu':
      for (let i = 0; i < y.length; i++) if (y[i]! < 0) y[i] = Math.exp(y[i]!) - 1;
      return;
    case 'leakyrelu':
      for (let i = 0; i < y.length; i++) if (y[i]! < 0) y[i] = y[i]! * alpha;
      return;
    case 'sigmoid':
      for (let i = 0; i < y.length; i++) y[i] = 1 / (1 + Math.exp(-y[i]!));
      return;
    default:
  }
}

/** Install the native matmuls on the wasm backend (after the wasm pack, idempotent). */
export function installNativeMatMul(blas: NativeBlas, backendName = 'wasm'): void {
  /**
   * Operands as 3-D [batch, rows, cols] views, and the output's shape. `tf.matMul` hands the
   * kernel its inputs at their own rank (2-D for a dense layer, its gradients too); leading
   * batch dimensions are flattened when they are equal or one side has none to broadcast.
   * Undefined for a broadcast this does not cover (left to the original kernel).
   */
  const as3d = (a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean) => {
    if (a.shape.length < 2 || b.shape.length < 2 || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
    const [oa, ob] = [a.shape.slice(0, -2), b.shape.slice(0, -2)];
    const [pa, pb] = [util.sizeFromShape(oa), util.sizeFromShape(ob)];
    const rank = Math.max(oa.length, ob.length);
    const pad = (s: number[]) => [...Array<number>(rank - s.length).fill(1), ...s];
    if (pa !== 1 && pb !== 1 && !util.arraysEqual(pad(oa), pad(ob))) return undefined;
    const [ra, ca] = a.shape.slice(-2) as [number, number];
    const [rb, cb] = b.shape.slice(-2) as [number, number];
    const M = ta ? ca : ra;
    const N = tb ? rb : cb;
    return { a: view(a, [pa, ra, ca]), b: view(b, [pb, rb, cb]), outShape: [...pad(pa !== 1 ? oa : ob), M, N] };
  };

  const matmul = (be: WasmBackendLike, a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean): tf.TensorInfo => {
    // 3-D operands [batch, rows, cols] (batch 1 broadcasts).
    const [ba, ra, ca] = a.shape as [number, number, number];
    const [bb, rb, cb] = b.shape as [number, number, number];
    const M = ta ? ca : ra;
    const K = ta ? ra : ca;
    const N = tb ? rb : cb;
    const batch = Math.max(ba, bb);
    const out = be.makeOutput([batch, M, N], 'float32');
    // Views after makeOutput: allocating may grow (and so detach) the wasm heap.
    const A = f32(be, a);
    const B = f32(be, b);
    const C = f32(be, out);
    for (let i = 0; i < batch; i++) {
      const ia = ba === 1 ? 0 : i;
      const ib = bb === 1 ? 0 : i;
      blas.sgemm(ta, tb, M, N, K, A.subarray(ia * M * K, (ia + 1) * M * K), B.subarray(ib * K * N, (ib + 1) * K * N), C.subarray(i * M * N, (i + 1) * M * N));
    }
    return out;
  };

  overrideKernel('BatchMatMul', backendName, (original) => ({ inputs, backend, attrs }) => {
    const dot = vectorDot(inputs, backend as WasmBackendLike, attrs ?? {}, 'BatchMatMul');
    if (dot) return dot;
    const a = inputs.a as tf.TensorInfo;
    const b = inputs.b as tf.TensorInfo;
    const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
    const ops = as3d(a, b, Boolean(transposeA), Boolean(transposeB));
    if (!ops) return original!.kernelFunc({ inputs, backend, attrs });
    return view(matmul(backend as WasmBackendLike, ops.a, ops.b, Boolean(transposeA), Boolean(transposeB)), ops.outShape);
  }, 'native');

  // Convolutions as im2col · W through the native matmul (faster than XNNPACK's conv here).
  const conv = (original: tf.KernelConfig | undefined): tf.KernelFunc => ({ inputs, backend, attrs }) => {
    const { x, filter, bias, preluActivationWeights } = inputs as Record<string, tf.TensorInfo | undefined>;
    const a = attrs as unknown as ConvAttrs & { activation?: Activation; leakyreluAlpha?: number };
    const act = a.activation ?? 'linear';
    const co = filter!.shape[3]!;
    const biasSize = bias ? bias.shape.reduce((p, d) => p * d, 1) : 0;
    const dil = typeof a.dilations === 'number' ? a.dilations : (a.dilations ?? [1, 1]).reduce((p, d) => p * d, 1);
    if ((a.dataFormat && a.dataFormat !== 'NHWC') || act === 'prelu' || preluActivationWeights || (bias && biasSize !== co && biasSize !== 1) || dil !== 1) {
      return original!.kernelFunc({ inputs, backend, attrs });
    }
    const be = backend as WasmBackendLike;
    const info = convInfo(x!.shape, filter!.shape, a);
    const K = info.filterHeight * info.filterWidth * info.inChannels;
    if (blas.conv2d && (act === 'linear' || act === 'relu') && (!bias || biasSize === co) && x!.dtype === 'float32' && filter!.dtype === 'float32') {
      // Chosen by profile: im2col of the whole batch was 30 % of the FID feature network's convolutions.
      const out = be.makeOutput([info.batchSize, info.outHeight, info.outWidth, co], 'float32');
      const dims = Int32Array.of(info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.filterHeight, info.filterWidth, co, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, info.outHeight, info.outWidth);
      // Views after makeOutput: allocating may grow (and so detach) the wasm heap.
      blas.conv2d(f32(be, x!), f32(be, filter!), bias ? f32(be, bias) : null, act === 'relu', dims, f32(be, out));
      return out;
    }
    const cols = colsOf(be, x!, info);
    let out: tf.TensorInfo;
    try {
      out = runKernel('BatchMatMul', backendName, be, { a: cols, b: view(filter!, [1, K, co]) }, { transposeA: false, transposeB: false });
    } finally {
      be.disposeData(cols.dataId);
    }
    const y = f32(be, out);
    if (bias) {
      const bv = f32(be, bias);
      if (biasSize === 1) for (let i = 0; i < y.length; i++) y[i]! += bv[0]!;
      else for (let i = 0; i < y.length; i++) y[i]! += bv[i % co]!;
    }
    activate(y, act, a.leakyreluAlpha ?? 0.2);
    return view(out, [info.batchSize, info.outHeight, info.outWidth, co]);
  };
  overrideKernel('Conv2D', backendName, conv, 'native');
  overrideKernel('FusedConv2D', backendName, conv, 'native');

  overrideKernel('_FusedMatMul', backendName, (original) => ({ inputs, backend, attrs }) => {
    const { a, b, bias, preluActivationWeights } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB, activation, leakyreluAlpha } = attrs as { transposeA?: boolean; transposeB?: boolean; activation?: Activation; leakyreluAlpha?: number };
    const act = activation ?? 'linear';
    const ops = as3d(a!, b!, Boolean(transposeA), Boolean(transposeB));
    const N = ops?.outShape.at(-1);
    const biasSize = bias ? bias.shape.reduce((p, d) => p * d, 1) : 0;
    if (!ops || act === 'prelu' || preluActivationWeights || (bias && biasSize !== N && biasSize !== 1)) {
      return original!.kernelFunc({ inputs, backend, attrs });
    }
    const be = backend as WasmBackendLike;
    const out = view(matmul(be, ops.a, ops.b, Boolean(transposeA), Boolean(transposeB)), ops.outShape);
    const y = f32(be, out);
    if (bias) {
      const bv = f32(be, bias);
      if (biasSize === 1) for (let i = 0; i < y.length; i++) y[i]! += bv[0]!;
      else for (let i = 0; i < y.length; i++) y[i]! += bv[i % N!]!;
    }
    activate(y, act, leakyreluAlpha ?? 0.2);
    return out;
  }, 'native');
}
