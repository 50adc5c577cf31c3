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

/** d/dx of each unary op, written from its input x with differentiable ops. */
const FROM_INPUT: Record<string, (dy: tf.Tensor, x: tf.Tensor) => tf.Tensor> = {
  // tanh' = 1 − tanh²
  Tanh: (dy, x) => tf.mul(dy, tf.sub(1, tf.square(tf.tanh(x)))),
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

/** Everything second-order gradients need (idempotent). */
export function registerHigherOrderGradients(): void {
  registerComparisonGradients();
  registerInputGradients();
}
