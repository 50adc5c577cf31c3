/**
 * A one-pass Adam update on the wasm backend through the native addon (`@genlab/core`'s
 * optimizer uses it when it is registered). The composite update is about a dozen
 * element-wise kernels per variable, each a full pass over the weights with its own output:
 * on the MLP GAN that was a third of a training step. The addon's `adam` reads θ, g, m, v once
 * and writes the three new arrays, on the wasm heap with no copies, bit-identical to the
 * composite update. A JavaScript loop was tried first: about as slow as the composite kernels,
 * so without the addon the composite update runs.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { f32, overrideKernel, type WasmBackendLike } from './heap.js';
import type { NativeBlas } from './native.js';

/** Must equal `ADAM_KERNEL` in @genlab/core (a test checks). */
export const ADAM_KERNEL = 'GenlabAdamUpdate';

interface AdamAttrs {
  beta1: number;
  beta2: number;
  stepSize: number;
  epsHat: number;
  /** Also output Σ g² (float32 scalar) as wasm-matmul.ts's dot computes gᵀg. */
  sumSquares?: boolean;
}

/** Register the fused Adam update on the wasm backend (idempotent). */
export function installNativeAdam(blas: NativeBlas, backendName = 'wasm'): void {
  overrideKernel(
    ADAM_KERNEL,
    backendName,
    () =>
      ({ inputs, backend, attrs }) => {
        const { param, grad, m, v } = inputs as Record<string, tf.TensorInfo>;
        const { beta1, beta2, stepSize, epsHat, sumSquares } = attrs as unknown as AdamAttrs;
        const be = backend as WasmBackendLike;
        const outs = [param!, m!, v!].map((t) => be.makeOutput(t.shape, 'float32'));
        const ss = sumSquares ? be.makeOutput([], 'float32') : undefined;
        // Views after every allocation: growing the heap detaches older ones.
        const [P, G, M, V, P1, M1, V1] = [param!, grad!, m!, v!, ...outs].map((t) => f32(be, t)) as Float32Array[];
        const sum = blas.adam!(P!, G!, M!, V!, P1!, M1!, V1!, beta1, beta2, stepSize, epsHat);
        // Σ g² in the pass (addons built before it return nothing: then no fourth output).
        if (ss && typeof sum === 'number') {
          f32(be, ss)[0] = sum;
          return [...outs, ss];
        }
        if (ss) be.disposeData(ss.dataId);
        return outs;
      },
    'native',
  );
}
