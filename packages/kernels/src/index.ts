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
export { installWasmSimd, simdKernels, simdReady, GRAD_KERNELS } from './wasm-simd.js';
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
  // Adam in one pass: the SIMD module's 4-lane update where it runs (on the MLP GAN 2.0 ms
  // a step against 5.2 for the addon's scalar loop, both bit-identical to the composite
  // update), else the addon's.
  const simdAdam = simdReady(backendName);
  if (blas?.adam && !simdAdam) installNativeAdam(blas);
  const adam = simdAdam ? '; one-pass Adam (SIMD wasm)' : blas?.adam ? '; one-pass Adam (native)' : '';
  return { native: Boolean(blas), description: `genlab kernel pack; ${reason}${adam}` };
}
