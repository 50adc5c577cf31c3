/**
 * @genlab/kernels: kernels that make TensorFlow.js's wasm backend fast enough (and complete
 * enough) to train generative models, each checked against the cpu backend.
 */
import { installWasmConv } from './wasm-conv.js';
import { installWasmConv3dGuard } from './wasm-conv3d.js';
import { installWasmMatMul } from './wasm-matmul.js';
import { installWasmTile } from './wasm-tile.js';
import { installWasmSlice } from './wasm-slice.js';
import { installNativeAdam } from './native-adam.js';
import { installWasmReduce } from './wasm-reduce.js';
import { installWasmSimd, simdReady } from './wasm-simd.js';
import { installNativeMatMul, loadNativeBlas } from './native.js';

export { installWasmConv, im2col, col2im } from './wasm-conv.js';
export { installWasmConv3dGuard } from './wasm-conv3d.js';
export { installWasmMatMul } from './wasm-matmul.js';
export { installWasmTile, tileInto } from './wasm-tile.js';
export { installWasmSlice, sliceInto } from './wasm-slice.js';
export { installNativeAdam, ADAM_KERNEL } from './native-adam.js';
export { installWasmReduce } from './wasm-reduce.js';
export { installWasmSimd, simdKernels, simdReady, GRAD_KERNELS, LSTM_KERNELS } from './wasm-simd.js';
export { installNativeMatMul, loadNativeBlas, type NativeBlas } from './native.js';

/** What `installKernels` changed, for the backend line and run tags. */
export const WASM_KERNELS = ['BatchMatMul', '_FusedMatMul', 'Tile', 'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'Conv3DBackpropFilterV2', 'Slice', 'SplitV', 'Unpack', 'Concat', 'Identity', 'Sum', 'Mean', 'Tanh', 'LeakyRelu', 'Transpose'] as const;

/**
 * Install genlab's kernels for the active backend and say what was installed: on 'wasm' the
 * kernel pack, and on top of it the native BLAS matmuls when the addon loads (unless `native`
 * is false); nothing elsewhere. Idempotent. (The gradients second-order derivatives need are
 * core's `registerHigherOrderGradients`, an autodiff concern, not a kernel.)
 */
export function installKernels(backendName: string, opts: { native?: boolean } = {}): { native: boolean; description: string } {
  if (backendName !== 'wasm') return { native: false, description: '' };
  installWasmMatMul();
  installWasmTile();
  installWasmSlice();
  installWasmConv();
  installWasmConv3dGuard();
  installWasmReduce();
  installWasmSimd();
  if (opts.native === false) return { native: false, description: 'genlab kernel pack' };
  const { blas, reason } = loadNativeBlas();
  if (blas) installNativeMatMul(blas);
  // Adam in one pass, all bit-identical to the composite update: the addon's SSE update with
  // streaming stores where it has one (0.44 ms on [1024, 784] with cold data), else the SIMD
  // module's (0.64-0.68 ms), else the addon's scalar loop (1.8 ms; addons built before the SSE one,
  // or without SSE).
  const nativeAdam = Boolean(blas?.adam) && (blas!.info().adam === 'sse' || !simdReady(backendName));
  if (nativeAdam) installNativeAdam(blas!);
  const adam = nativeAdam ? '; one-pass Adam (native)' : simdReady(backendName) ? '; one-pass Adam (SIMD wasm)' : '';
  return { native: Boolean(blas), description: `genlab kernel pack; ${reason}${adam}` };
}
