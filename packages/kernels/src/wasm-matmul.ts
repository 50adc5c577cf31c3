/**
 * A faster `BatchMatMul` / `_FusedMatMul` for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 runs a matrix product through XNNPACK only when neither operand is
 * transposed; with `transposeA` or `transposeB` — which every backward pass of a dense layer
 * uses — it falls back to a naive loop at 1–3 GFLOP/s instead of ~30. Here the transposed
 * operand is materialised with the wasm `Transpose` kernel (one blocked copy, wasm-simd.ts) and the
 * original kernel runs on the fast path. Results are identical up to float rounding; the
 * unit test checks them against the cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32, type WasmBackendLike } from './heap.js';
import { simdKernels } from './wasm-simd.js';

type KernelFunc = tf.KernelConfig['kernelFunc'];
type TensorInfo = tf.TensorInfo;

const PATCHED = Symbol.for('genlab.wasmMatMulPatched');

/** Swap the last two axes of `x` with the backend's own Transpose kernel. */
function transposeLast2(x: TensorInfo, backend: tf.KernelBackend, transpose: KernelFunc): TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
  return transpose({ inputs: { x }, backend, attrs: { perm } }) as TensorInfo;
}

/**
 * XNNPACK's fast path takes one matrix product at a time: a batched product (batch > 1)
 * falls back to the naive loop. Large enough batched products are split into batch-1
 * products on copies of each slice (a copy is O(size), the product O(size^1.5)).
 */
function batchedProduct(
  inputs: tf.NamedTensorInfoMap,
  backend: WasmBackendLike,
  attrs: tf.NamedAttrMap,
  kernelName: string,
  self: KernelFunc,
): TensorInfo | undefined {
  const a = inputs.a as TensorInfo;
  const b = inputs.b as TensorInfo;
  if (kernelName !== 'BatchMatMul' || a.shape.length !== 3 || b.shape.length !== 3 || a.dtype !== 'float32') return undefined;
  const [ba, ra, ca] = a.shape as [number, number, number];
  const [bb, rb, cb] = b.shape as [number, number, number];
  const batch = Math.max(ba, bb);
  const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
  const M = transposeA ? ca : ra;
  const K = transposeA ? ra : ca;
  const N = transposeB ? rb : cb;
  if (batch === 1 || M * N * K < 4096) return undefined;
  const out = backend.makeOutput([batch, M, N], 'float32');
  for (let i = 0; i < batch; i++) {
    const ai = backend.makeOutput([1, ra, ca], 'float32');
    const bi = backend.makeOutput([1, rb, cb], 'float32');
    const ia = ba === 1 ? 0 : i;
    const ib = bb === 1 ? 0 : i;
    // Views are taken after each allocation: growing the heap detaches older ones.
    (backend.typedArrayFromHeap(ai) as Float32Array).set((backend.typedArrayFromHeap(a) as Float32Array).subarray(ia * ra * ca, (ia + 1) * ra * ca));
    (backend.typedArrayFromHeap(bi) as Float32Array).set((backend.typedArrayFromHeap(b) as Float32Array).subarray(ib * rb * cb, (ib + 1) * rb * cb));
    const ci = self({ inputs: { a: ai, b: bi }, backend, attrs }) as TensorInfo;
    (backend.typedArrayFromHeap(out) as Float32Array).set(backend.typedArrayFromHeap(ci) as Float32Array, i * M * N);
    for (const t of [ai, bi, ci]) backend.disposeData(t.dataId);
  }
  return out;
}

/**
 * A dot product aᵀb of two vectors (M = N = 1, one batch): the gradient norm takes one per
 * variable per step. XNNPACK would pack the whole of b as a weight matrix for a single output
 * (about 10 ms for 800k values, more than the step's largest layer); this is one sequential
 * pass over the heap, accumulated in float64 (as the leading-axes Sum of this pack is).
 */
function dot(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
    s2 += a[i + 2]! * b[i + 2]!;
    s3 += a[i + 3]! * b[i + 3]!;
  }
  for (; i < n; i++) s0 += a[i]! * b[i]!;
  return s0 + s1 + (s2 + s3);
}

/**
 * `dot` of a BatchMatMul's operands when it is one product of two vectors, else undefined;
 * in the SIMD module where it runs (the same sums in the same order, 4 lanes at a time). The
 * native layer uses it too: OpenBLAS's sgemm took 1.4 ms for the 802,816-value dot (1.2
 * GFLOP/s), 3.5 ms of a 19 ms MLP GAN step for all of them.
 */
export function vectorDot(inputs: tf.NamedTensorInfoMap, backend: WasmBackendLike, attrs: tf.NamedAttrMap, kernelName: string): TensorInfo | undefined {
  const a = inputs.a as TensorInfo;
  const b = inputs.b as TensorInfo;
  if (kernelName !== 'BatchMatMul' || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  const size = (x: TensorInfo) => tf.util.sizeFromShape(x.shape);
  const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return undefined;
  const m = a.shape[ra - (transposeA ? 1 : 2)]!;
  const k = a.shape[ra - (transposeA ? 2 : 1)]!;
  const n = b.shape[rb - (transposeB ? 2 : 1)]!;
  // Only one product of two vectors: whatever the transposes, each operand is k contiguous
  // values. Every length (not only long ones): the gradient norm then sums in float64 for every
  // variable, as the optimizer's fused pass does (optim.ts, sumSquares), bit for bit.
  if (m !== 1 || n !== 1 || size(a) !== k || size(b) !== k) return undefined;
  const outShape = [...(ra >= rb ? a.shape : b.shape).slice(0, -2), 1, 1];
  const out = backend.makeOutput(outShape, 'float32');
  const simd = simdKernels(backend);
  const [va, vb] = [f32(backend, a), f32(backend, b)];
  const value = simd ? simd.dot(va.byteOffset, vb.byteOffset, k) : dot(va, vb);
  f32(backend, out)[0] = value;
  return out;
}

function patch(kernelName: string, backendName: string): void {
  const original = tf.getKernel(kernelName, backendName);
  // The Transpose registered when a product runs (the kernel pack's blocked one, once installed).
  const transposeKernel = { kernelFunc: ((args) => tf.getKernel('Transpose', backendName)!.kernelFunc(args)) as KernelFunc };
  if (!original || !tf.getKernel('Transpose', backendName)) return;
  const kernelFunc: KernelFunc = ({ inputs, backend: be, attrs }) => {
    const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
    const vec = vectorDot(inputs, be as WasmBackendLike, attrs ?? {}, kernelName);
    if (vec) return vec;
    const batched = batchedProduct(inputs, be as WasmBackendLike, attrs ?? {}, kernelName, kernelFunc);
    if (batched) return batched;
    if (!transposeA && !transposeB) return original.kernelFunc({ inputs, backend: be, attrs });
    const backend = be as tf.KernelBackend;
    const temps: TensorInfo[] = [];
    const T = (x: TensorInfo) => {
      const t = transposeLast2(x, backend, transposeKernel.kernelFunc);
      temps.push(t);
      return t;
    };
    const plain = { ...attrs, transposeA: false, transposeB: false };
    const mm = (a: TensorInfo, b: TensorInfo, extra: tf.NamedTensorInfoMap = {}) =>
      original.kernelFunc({ inputs: { ...extra, a, b } as tf.NamedTensorInfoMap, backend, attrs: plain }) as TensorInfo;
    const a = inputs.a as TensorInfo;
    const b = inputs.b as TensorInfo;
    const size = (x: TensorInfo) => x.shape.reduce((p, d) => p * d, 1);
    // Output size m·n (per batch), for the "compute the transposed product" alternative.
    const m = a.shape[a.shape.length - (transposeA ? 1 : 2)]!;
    const n = b.shape[b.shape.length - (transposeB ? 2 : 1)]!;
    const batch = Math.max(size(a) / (a.shape.at(-1)! * a.shape.at(-2)!), size(b) / (b.shape.at(-1)! * b.shape.at(-2)!));
    const outSize = batch * m * n;
    // Fused extras (bias, activation) apply to the output, so the transposed-product trick
    // is only used for the plain BatchMatMul.
    const fused = kernelName !== 'BatchMatMul';
    try {
      if (transposeA && transposeB) {
        // Aᵀ·Bᵀ = (B·A)ᵀ: one transpose of the output instead of two of the inputs.
        if (!fused && outSize < size(a) + size(b)) {
          const prod = mm(b, a);
          temps.push(prod);
          return transposeLast2(prod, backend, transposeKernel.kernelFunc);
        }
        return mm(T(a), T(b), fused ? inputs : {});
      }
      if (transposeB) {
        // A·Bᵀ: transpose B, or (B·Aᵀ)ᵀ when B is much larger than A and the output
        // (the dense-layer input gradient dY·Wᵀ is the common case).
        if (!fused && size(a) + outSize < size(b)) {
          const prod = mm(b, T(a));
          temps.push(prod);
          return transposeLast2(prod, backend, transposeKernel.kernelFunc);
        }
        return mm(a, T(b), fused ? inputs : {});
      }
      // Aᵀ·B (the weight gradient Xᵀ·dY): transpose A, or (Bᵀ·A)ᵀ when A is much larger
      // than B and the output (a convolution's im2col columns against its output gradient).
      if (!fused && size(b) + outSize < size(a)) {
        const prod = mm(T(b), a);
        temps.push(prod);
        return transposeLast2(prod, backend, transposeKernel.kernelFunc);
      }
      return mm(T(a), b, fused ? inputs : {});
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
  tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ ...original, kernelFunc });
}

/** Install the faster matmul kernels on the `wasm` backend (idempotent). */
export function installWasmMatMul(backendName = 'wasm'): void {
  const g = globalThis as Record<symbol, Set<string> | undefined>;
  const done = (g[PATCHED] ??= new Set());
  if (done.has(backendName)) return;
  patch('BatchMatMul', backendName);
  patch('_FusedMatMul', backendName);
  done.add(backendName);
}
