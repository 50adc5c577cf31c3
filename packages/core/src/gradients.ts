/**
 * Gradients that make second-order derivatives (gradient penalties, R1) correct on every
 * backend. tfjs-core falls short in two ways:
 *
 * 1. Comparisons (`Greater`, …) have no registered gradient, so any second-order gradient
 *    through LeakyReLU's or ReLU's derivative fails. Their gradient is zero almost everywhere.
 * 2. Tanh, Sigmoid, Elu and Exp compute their gradient from their saved *output*, which the
 *    outer tape does not see as depending on the input: the second derivative silently loses
 *    a term (d/da [a·tanh'(a·x)] comes out as tanh'(a·x) alone). Re-registered here to
 *    recompute from the saved *input* with differentiable ops, which gives the same first
 *    derivative and the right second one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerLstmCellGradients } from './lstm-cell.js';

const COMPARISONS = ['Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual'];

/** Register zero gradients for the comparison kernels (idempotent, backend independent). */
export function registerComparisonGradients(): void {
  for (const kernelName of COMPARISONS) {
    if (tf.getGradient(kernelName)) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => {
        const [a, b] = saved as [tf.Tensor, tf.Tensor];
        return { a: () => tf.zerosLike(a), b: () => tf.zerosLike(b) };
      },
    });
  }
}

/** Marks the gradients registered here, so registering again is a no-op. */
const MARK = Symbol.for('genlab.gradient');

/**
 * One-pass kernels {x, dy} → dy·f′(x) that a backend may register (the wasm kernel pack
 * does, `@genlab/kernels`' wasm-simd.ts): used by the gradients below where the active
 * backend has them, instead of the 3–4 element-wise kernels of the composite form. Their own
 * gradients are registered here too, so second-order derivatives stay exact.
 */
export const GRAD_KERNELS = { Tanh: 'GenlabTanhGrad', LeakyRelu: 'GenlabLeakyReluGrad' } as const;

/** dy·f′(x) through the fused kernel `name` when the active backend has it, else undefined. */
function fused(name: string, x: tf.Tensor, dy: tf.Tensor, attrs: tf.NamedAttrMap = {}): tf.Tensor | undefined {
  if (!tf.getKernel(name, tf.getBackend())) return undefined;
  return tf.engine().runKernel(name, { x, dy } as unknown as tf.NamedTensorMap, attrs) as tf.Tensor;
}

/** dy·tanh′(x) = dy·(1 − tanh²x). */
const tanhGrad = (x: tf.Tensor, dy: tf.Tensor): tf.Tensor => fused(GRAD_KERNELS.Tanh, x, dy) ?? tf.mul(dy, tf.sub(1, tf.square(tf.tanh(x))));
/** dy·leakyRelu′(x) = x > 0 ? dy : α·dy (tfjs's own form). */
const leakyReluGrad = (x: tf.Tensor, dy: tf.Tensor, alpha: number): tf.Tensor =>
  fused(GRAD_KERNELS.LeakyRelu, x, dy, { alpha }) ?? tf.where(tf.greater(x, 0), dy, tf.mul(dy, alpha));

/** d/dx of each unary op, written from its input x with differentiable ops. */
const FROM_INPUT: Record<string, (dy: tf.Tensor, x: tf.Tensor) => tf.Tensor> = {
  // tanh' = 1 − tanh²
  Tanh: (dy, x) => tanhGrad(x, dy),
  // σ' = σ(1 − σ)
  Sigmoid: (dy, x) => {
    const s = tf.sigmoid(x);
    return tf.mul(dy, tf.mul(s, tf.sub(1, s)));
  },
  // elu' = 1 for x > 0, eˣ otherwise (α = 1, tfjs's only elu)
  Elu: (dy, x) => tf.where(tf.greater(x, 0), dy, tf.mul(dy, tf.exp(x))),
  Exp: (dy, x) => tf.mul(dy, tf.exp(x)),
};

/** Replace the output-based gradients of Tanh, Sigmoid, Elu and Exp (idempotent). */
export function registerInputGradients(): void {
  for (const [kernelName, grad] of Object.entries(FROM_INPUT)) {
    const current = tf.getGradient(kernelName) as (tf.GradConfig & { [MARK]?: true }) | undefined;
    if (current?.[MARK]) continue;
    const config: tf.GradConfig & { [MARK]: true } = {
      kernelName,
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => {
        const [x] = saved as [tf.Tensor];
        return { x: () => grad(dy as tf.Tensor, x) };
      },
      [MARK]: true,
    };
    // tfjs warns about overriding only in debug mode; the override is the point here.
    tf.registerGradient(config);
  }
}

/**
 * LeakyRelu's gradient through the fused kernel where there is one, and the gradients of the
 * fused kernels themselves (idempotent). With u the gradient flowing into dy·f′(x):
 * tanh: ∂/∂dy = u·(1 − t²), ∂/∂x = u·dy·(−2t)(1 − t²), t = tanh x; leakyRelu: ∂/∂dy =
 * u·leakyRelu′(x), ∂/∂x = 0 (almost everywhere).
 */
export function registerFusedGradients(): void {
  const configs: (tf.GradConfig & { [MARK]: true })[] = [
    {
      kernelName: 'LeakyRelu',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved as [tf.Tensor];
        return { x: () => leakyReluGrad(x, dy as tf.Tensor, Number((attrs as { alpha?: number }).alpha ?? 0.2)) };
      },
      [MARK]: true,
    },
    {
      kernelName: GRAD_KERNELS.Tanh,
      inputsToSave: ['x', 'dy'],
      gradFunc: (u, saved) => {
        const [x, dy] = saved as [tf.Tensor, tf.Tensor];
        return { dy: () => tanhGrad(x, u as tf.Tensor), x: () => tf.mul(tf.mul(-2, tf.tanh(x)), tanhGrad(x, tf.mul(u as tf.Tensor, dy))) };
      },
      [MARK]: true,
    },
    {
      kernelName: GRAD_KERNELS.LeakyRelu,
      inputsToSave: ['x'],
      gradFunc: (u, saved, attrs) => {
        const [x] = saved as [tf.Tensor];
        return { dy: () => leakyReluGrad(x, u as tf.Tensor, Number((attrs as { alpha?: number }).alpha ?? 0.2)), x: () => tf.zerosLike(x) };
      },
      [MARK]: true,
    },
  ];
  for (const config of configs) {
    const current = tf.getGradient(config.kernelName) as (tf.GradConfig & { [MARK]?: true }) | undefined;
    if (!current?.[MARK]) tf.registerGradient(config);
  }
}

/** Everything second-order gradients need, and the fused first-order ones (idempotent). */
export function registerHigherOrderGradients(): void {
  registerComparisonGradients();
  registerInputGradients();
  registerFusedGradients();
  registerLstmCellGradients();
}
