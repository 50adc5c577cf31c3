/**
 * @genlab/kernels: kernels that make TensorFlow.js's wasm backend fast enough (and complete
 * enough) to train generative models, each checked against the cpu backend.
 */
import { registerComparisonGradients } from './gradients.js';
import { installWasmConv } from './wasm-conv.js';
import { installWasmMatMul } from './wasm-matmul.js';
import { installWasmTile } from './wasm-tile.js';

export { installWasmConv, im2col, col2im } from './wasm-conv.js';
export { installWasmMatMul } from './wasm-matmul.js';
export { installWasmTile, tileInto } from './wasm-tile.js';
export { registerComparisonGradients } from './gradients.js';

/** What `installKernels` changed, for the backend line and run tags. */
export const WASM_KERNELS = ['BatchMatMul', '_FusedMatMul', 'Tile', 'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const;

/**
 * Install genlab's kernels for the active backend. The comparison gradients go in on every
 * backend; the wasm kernels only when `backendName` is 'wasm'. Idempotent.
 */
export function installKernels(backendName: string): void {
  registerComparisonGradients();
  if (backendName === 'wasm') {
    installWasmMatMul();
    installWasmTile();
    installWasmConv();
  }
}
