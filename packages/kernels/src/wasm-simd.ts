/**
 * Element-wise kernels for the wasm backend as a small SIMD WebAssembly module that runs on
 * the backend's own heap (its memory imported: no copies). Source and generator:
 * `scripts/gen-simd.mjs`; compiled module: `simd-wasm.ts`.
 *
 * Chosen by profile (`pnpm bench --profile`, 2-vCPU AMD EPYC, 1 thread): tfjs-backend-wasm
 * 4.22 computes Tanh with scalar libm (27 % of a Row LSTM step) and LeakyRelu with a scalar
 * branch; LeakyRelu's gradient is three kernels (Greater, Select, Multiply) and tanh's (from
 * its input, core's gradients.ts) four. Per element, [64, 14, 14, 64], stock → here:
 *
 * | kernel | stock | SIMD |
 * |---|---:|---:|
 * | `Tanh` | 18.9 ns | 1.4 ns |
 * | tanh′: `GenlabTanhGrad` ({x, dy} → dy·(1 − tanh²x)) | 20.3 ns (4 kernels) | 1.5 ns |
 * | `LeakyRelu` | 5.8 ns | 0.16 ns |
 * | LeakyRelu′: `GenlabLeakyReluGrad` ({x, dy} → x > 0 ? dy : α·dy) | 8.0 ns (3 kernels) | 0.2 ns |
 * | per-channel `Sum`/`Mean` (`simdSumRows`, for wasm-reduce.ts) | 2.0 ns (JavaScript) | 0.35 ns |
 *
 * and `copy_rows`, the strided row copies of wasm-slice.ts's Slice, SplitV and Concat;
 * `im2col` / `col2im` for wasm-conv.ts; `transpose2d`, a blocked Transpose ([1024, 784]:
 * 5.9 → 0.2 ms); `dot`, the gradient norm's gᵀg for wasm-matmul.ts and native.ts (OpenBLAS
 * took 1.4 ms for 802,816 values); `add_rows` / `sub_rows` / `mul_rows`, Add, Sub and
 * Multiply with one side broadcast over the other's leading axes (bias adds); and
 * `adam`, core's Adam update in one pass (bit-identical to the composite update, like the
 * native addon's, which replaces it where the addon loads); and the LSTM cell (core's
 * lstm-cell.ts) as four kernels, `GenlabLstmGates`, `GenlabLstmState` and their gradients
 * (`LSTM_KERNELS`): per call on [64·28, 4·32] gates, 0.39, 0.11, 0.03 and 0.13 ms, where the
 * tfjs-op form took 43 % of a Row LSTM step (221 → 171 ms per step).
 *
 * Core's gradients use the two gradient kernels when the active backend has them
 * (`GRAD_KERNELS`). Sigmoid stays stock: XNNPACK's is already vectorised (1.0 ns), faster
 * than an exp-based version here (1.5 ns), and its fused gradient measured no faster than
 * the composite one. tanh is Eigen's float rational approximation, within 4e-7 of the exact
 * function (checked against the cpu backend). `GENLAB_SIMD_KERNELS=0` turns the module off
 * (the stock kernels and the composite gradients run), for comparisons.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32, overrideKernel, type WasmBackendLike } from './heap.js';
import { SIMD_WASM } from './simd-wasm.js';
import { ADAM_KERNEL } from './native-adam.js';

/** The module's exports; pointers are byte offsets into the heap, n counts elements. */
export interface SimdKernels {
  tanh(x: number, y: number, n: number): void;
  tanh_grad(x: number, dy: number, y: number, n: number): void;
  leaky_relu(x: number, y: number, n: number, alpha: number): void;
  leaky_relu_grad(x: number, dy: number, y: number, n: number, alpha: number): void;
  sum_rows(x: number, rows: number, cols: number, out: number, scale: number, acc: number): void;
  /** One Adam step (native-adam.ts's formula): b1, c1 = β1, 1 − β1; b2, c2 = β2, 1 − β2. */
  adam(p: number, g: number, m: number, v: number, p1: number, m1: number, v1: number, n: number, b1: number, c1: number, b2: number, c2: number, step: number, eps: number): void;
  /** wasm-conv.ts's im2col (cols zeroed first) and col2im (x zeroed first), after the pointers: N, H, W, CI, OH, OW, FH, FW, sh, sw, dh, dw, top, left. */
  im2col(x: number, cols: number, ...dims: number[]): void;
  col2im(x: number, cols: number, ...dims: number[]): void;
  /** y[r·n + c] = a[r·n + c] ∘ b[c] over `rows` rows (∘ = +, −, ×). */
  add_rows(a: number, b: number, y: number, rows: number, n: number): void;
  sub_rows(a: number, b: number, y: number, rows: number, n: number): void;
  mul_rows(a: number, b: number, y: number, rows: number, n: number): void;
  /** aᵀb of two float32 vectors of n values, in float64 (wasm-matmul.ts's `dot`, the same sums). */
  dot(a: number, b: number, n: number): number;
  /** dst [cols, rows] = src [rows, cols]ᵀ, float32. */
  transpose2d(src: number, dst: number, rows: number, cols: number): void;
  /** `rows` rows of `bytes` bytes from src (srcStride apart) to dst (dstStride apart). */
  copy_rows(dst: number, dstStride: number, src: number, srcStride: number, rows: number, bytes: number): void;
  /** The fused LSTM cell (core's lstm-cell.ts), over P positions of H hidden units; gates [P, 4H] in the order i, f, o, g. */
  lstm_gates(a: number, b: number, act: number, P: number, H: number): void;
  lstm_gates_grad(act: number, dy: number, dz: number, P: number, H: number): void;
  lstm_state(act: number, c: number, h: number, cNew: number, P: number, H: number): void;
  lstm_state_grad(act: number, c: number, cNew: number, dh: number, dc: number, dact: number, dcPrev: number, P: number, H: number): void;
}

/** Must equal core's `GRAD_KERNELS` (a test checks). */
export const GRAD_KERNELS = { Tanh: 'GenlabTanhGrad', LeakyRelu: 'GenlabLeakyReluGrad' } as const;

/** Must equal core's `LSTM_KERNELS` (a test checks). */
export const LSTM_KERNELS = {
  Gates: 'GenlabLstmGates',
  GatesGrad: 'GenlabLstmGatesGrad',
  State: 'GenlabLstmState',
  StateGrad: 'GenlabLstmStateGrad',
} as const;

/** The part of the WebAssembly API used here (the project's TypeScript lib has no DOM types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
interface WasmApi {
  Memory: abstract new (...args: never[]) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, unknown>) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const instances = new WeakMap<WasmMemory, SimdKernels>();

/** The wasm backend's memory: exported by the stock build, set by genlab's threaded loader. */
function heapMemory(backend: tf.KernelBackend): WasmMemory | undefined {
  const wasm = (backend as unknown as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } }).wasm;
  const memory = wasm?.asm?.memory ?? wasm?.wasmMemory;
  return memory instanceof WA.Memory ? memory : undefined;
}

/** The SIMD kernels on this backend's heap, or undefined (no memory found, or turned off). */
export function simdKernels(backend: tf.KernelBackend): SimdKernels | undefined {
  return process.env.GENLAB_SIMD_KERNELS === '0' ? undefined : heapKernels(backend);
}

/** The module on this backend's heap, whatever GENLAB_SIMD_KERNELS says now (for the kernels installed only with it). */
function heapKernels(backend: tf.KernelBackend): SimdKernels | undefined {
  const memory = heapMemory(backend);
  if (!memory) return undefined;
  let kernels = instances.get(memory);
  if (!kernels) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const module = new WA.Module(Buffer.from(shared ? SIMD_WASM.shared : SIMD_WASM.plain, 'base64'));
    kernels = new WA.Instance(module, { env: { memory } }).exports as unknown as SimdKernels;
    instances.set(memory, kernels);
  }
  return kernels;
}

/** A tensor's byte offset on the heap. */
const ptr = (be: WasmBackendLike, t: tf.TensorInfo): number => f32(be, t).byteOffset;

/**
 * `scale ·` the sums of `rows` consecutive rows of `cols` float32s at `x` into `out`, in
 * float64; false when the SIMD module is not available (the caller sums in JavaScript).
 */
export function simdSumRows(be: WasmBackendLike, x: tf.TensorInfo, rows: number, cols: number, out: tf.TensorInfo, scale: number): boolean {
  const k = simdKernels(be);
  if (!k) return false;
  const acc = be.makeOutput([2 * cols], 'float32'); // cols float64 accumulators
  try {
    k.sum_rows(ptr(be, x), rows, cols, ptr(be, out), scale, ptr(be, acc));
  } finally {
    be.disposeData(acc.dataId);
  }
  return true;
}

/** Install the SIMD element-wise kernels on the wasm backend (idempotent). */
export function installWasmSimd(backendName = 'wasm'): void {
  const unary = (name: string, run: (k: SimdKernels, x: number, y: number, n: number, attrs: Record<string, unknown>) => void) =>
    overrideKernel(name, backendName, (original) => ({ inputs, backend, attrs }) => {
      const x = inputs.x as tf.TensorInfo;
      const k = x.dtype === 'float32' ? simdKernels(backend as tf.KernelBackend) : undefined;
      if (!k) return original!.kernelFunc({ inputs, backend, attrs });
      const be = backend as WasmBackendLike;
      const out = be.makeOutput(x.shape, 'float32');
      run(k, ptr(be, x), ptr(be, out), tf.util.sizeFromShape(x.shape), attrs as Record<string, unknown>);
      return out;
    });
  unary('Tanh', (k, x, y, n) => k.tanh(x, y, n));
  unary('LeakyRelu', (k, x, y, n, attrs) => k.leaky_relu(x, y, n, Number(attrs.alpha ?? 0.2)));
  // a ∘ b with b broadcast over a's leading axes (b's shape a's trailing dims, after any
  // leading 1s): bias adds, batch-norm centring and scaling. Other shapes: the stock kernels.
  const binary = (name: string, op: 'add_rows' | 'sub_rows' | 'mul_rows', commutes: boolean) =>
    overrideKernel(name, backendName, (original) => ({ inputs, backend, attrs }) => {
      let { a, b } = inputs as Record<string, tf.TensorInfo>;
      const k = a!.dtype === 'float32' && b!.dtype === 'float32' ? simdKernels(backend as tf.KernelBackend) : undefined;
      const rowsOf = (big: tf.TensorInfo, small: tf.TensorInfo) => {
        const bs = small.shape.slice(small.shape.findIndex((d) => d !== 1));
        const n = tf.util.sizeFromShape(small.shape);
        if (n < 4 || small.shape.length > big.shape.length || !tf.util.arraysEqual(big.shape.slice(big.shape.length - bs.length), bs)) return 0;
        return tf.util.sizeFromShape(big.shape) / n;
      };
      let rows = k ? rowsOf(a!, b!) : 0;
      if (k && rows <= 1 && commutes && rowsOf(b!, a!) > 1) {
        [a, b] = [b, a];
        rows = rowsOf(a!, b!);
      }
      if (!k || rows <= 1) return original!.kernelFunc({ inputs, backend, attrs });
      const be = backend as WasmBackendLike;
      const out = be.makeOutput(a!.shape, 'float32');
      k[op](ptr(be, a!), ptr(be, b!), ptr(be, out), rows, tf.util.sizeFromShape(b!.shape));
      return out;
    });
  binary('Add', 'add_rows', true);
  binary('Sub', 'sub_rows', false);
  binary('Multiply', 'mul_rows', true);
  // Transposes that swap the last two axes (every transposed matmul operand): blocked here.
  overrideKernel('Transpose', backendName, (original) => ({ inputs, backend, attrs }) => {
    const x = inputs.x as tf.TensorInfo;
    const perm = (attrs as unknown as { perm: number[] }).perm;
    const r = x.shape.length;
    const swapsLast2 = r >= 2 && perm.length === r && perm.every((p, i) => (i < r - 2 ? p === i : p === (i === r - 2 ? r - 1 : r - 2)));
    const k = swapsLast2 && (x.dtype === 'float32' || x.dtype === 'int32') ? simdKernels(backend as tf.KernelBackend) : undefined;
    if (!k) return original!.kernelFunc({ inputs, backend, attrs });
    const be = backend as WasmBackendLike;
    const [rows, cols] = x.shape.slice(-2) as [number, number];
    const out = be.makeOutput(perm.map((p) => x.shape[p]!), x.dtype);
    const [src, dst] = [ptr(be, x), ptr(be, out)];
    const batch = tf.util.sizeFromShape(x.shape.slice(0, -2));
    for (let b = 0; b < batch; b++) k.transpose2d(src + 4 * b * rows * cols, dst + 4 * b * rows * cols, rows, cols);
    return out;
  });

  // Kernels without a stock version, registered only where the module runs (core then uses
  // them; elsewhere its composite form runs): dy · f′(x), and Adam (unless the native addon's
  // replaces it, installed on top).
  if (!simdReady(backendName)) return;
  const grad = (name: string, run: (k: SimdKernels, x: number, dy: number, y: number, n: number, attrs: Record<string, unknown>) => void) =>
    overrideKernel(name, backendName, () => ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as Record<string, tf.TensorInfo>;
      if (x!.dtype !== 'float32' || dy!.dtype !== 'float32' || !tf.util.arraysEqual(x!.shape, dy!.shape)) {
        throw new Error(`${name}: x and dy must be float32 of one shape (got ${x!.dtype} [${x!.shape}], ${dy!.dtype} [${dy!.shape}])`);
      }
      const be = backend as WasmBackendLike;
      const out = be.makeOutput(x!.shape, 'float32');
      run(heapKernels(be)!, ptr(be, x!), ptr(be, dy!), ptr(be, out), tf.util.sizeFromShape(x!.shape), attrs as Record<string, unknown>);
      return out;
    });
  grad(GRAD_KERNELS.Tanh, (k, x, dy, y, n) => k.tanh_grad(x, dy, y, n));
  grad(GRAD_KERNELS.LeakyRelu, (k, x, dy, y, n, attrs) => k.leaky_relu_grad(x, dy, y, n, Number(attrs.alpha ?? 0.2)));
  // The fused LSTM cell: shapes are checked here (core's lstmCell only calls with valid ones;
  // another caller gets an error that names the kernel, not a wrong answer).
  const lstm = (name: string, names: string[], run: (k: SimdKernels, be: WasmBackendLike, t: tf.TensorInfo[], P: number, H: number) => tf.TensorInfo | tf.TensorInfo[]) =>
    overrideKernel(name, backendName, () => ({ inputs, backend }) => {
      const t = names.map((n) => (inputs as Record<string, tf.TensorInfo>)[n]!);
      const gates = t[0]!.shape; // every kernel's first input is [..., 4H]
      const G = gates[gates.length - 1] ?? 0;
      const state = [...gates.slice(0, -1), G / 4];
      t.forEach((x, i) => {
        const want = names[i] === 'a' || names[i] === 'b' || names[i] === 'act' || names[i] === 'dy' ? gates : state;
        if (x?.dtype !== 'float32' || G === 0 || G % 4 !== 0 || !tf.util.arraysEqual(x.shape, want)) {
          throw new Error(`${name}: ${names[i]} must be float32 [${want}] (gates [..., 4H] and states [..., H]); got ${x?.dtype} [${x?.shape}]`);
        }
      });
      const be = backend as WasmBackendLike;
      return run(heapKernels(be)!, be, t, tf.util.sizeFromShape(state) / (G / 4), G / 4);
    });
  lstm(LSTM_KERNELS.Gates, ['a', 'b'], (k, be, [a, b], P, H) => {
    const act = be.makeOutput(a!.shape, 'float32');
    k.lstm_gates(ptr(be, a!), ptr(be, b!), ptr(be, act), P, H);
    return act;
  });
  lstm(LSTM_KERNELS.GatesGrad, ['act', 'dy'], (k, be, [act, dy], P, H) => {
    const dz = be.makeOutput(act!.shape, 'float32');
    k.lstm_gates_grad(ptr(be, act!), ptr(be, dy!), ptr(be, dz), P, H);
    return dz;
  });
  lstm(LSTM_KERNELS.State, ['act', 'c'], (k, be, [act, c], P, H) => {
    const [h, cNew] = [be.makeOutput(c!.shape, 'float32'), be.makeOutput(c!.shape, 'float32')];
    k.lstm_state(ptr(be, act!), ptr(be, c!), ptr(be, h), ptr(be, cNew), P, H);
    return [h, cNew];
  });
  lstm(LSTM_KERNELS.StateGrad, ['act', 'c', 'cNew', 'dh', 'dc'], (k, be, [act, c, cNew, dh, dc], P, H) => {
    const [dact, dcPrev] = [be.makeOutput(act!.shape, 'float32'), be.makeOutput(c!.shape, 'float32')];
    k.lstm_state_grad(ptr(be, act!), ptr(be, c!), ptr(be, cNew!), ptr(be, dh!), ptr(be, dc!), ptr(be, dact), ptr(be, dcPrev), P, H);
    return [dact, dcPrev];
  });
  overrideKernel(ADAM_KERNEL, backendName, () => ({ inputs, backend, attrs }) => {
    const { param, grad, m, v } = inputs as Record<string, tf.TensorInfo>;
    const { beta1, beta2, stepSize, epsHat } = attrs as unknown as { beta1: number; beta2: number; stepSize: number; epsHat: number };
    const be = backend as WasmBackendLike;
    const outs = [param!, m!, v!].map((t) => be.makeOutput(t.shape, 'float32'));
    const [P, G, M, V, P1, M1, V1] = [param!, grad!, m!, v!, ...outs].map((t) => ptr(be, t)) as number[];
    // f32 parameters: the doubles rounded to float32, as the composite update's scalars are.
    heapKernels(be)!.adam(P!, G!, M!, V!, P1!, M1!, V1!, tf.util.sizeFromShape(param!.shape), beta1, 1 - beta1, beta2, 1 - beta2, stepSize, epsHat);
    return outs;
  });
}

/** Whether the module can run on the registered (already initialised) backend. */
export function simdReady(backendName: string): boolean {
  const backend = tf.engine().registry[backendName] as tf.KernelBackend | undefined;
  return backend !== undefined && simdKernels(backend) !== undefined; // GENLAB_SIMD_KERNELS=0: none installed
}
