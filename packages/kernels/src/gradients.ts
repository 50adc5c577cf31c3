/**
 * Gradients tfjs-core does not register. Comparisons (`Greater`, …) have a zero gradient
 * almost everywhere, but without a registered one any second-order gradient through
 * LeakyReLU or ReLU's derivative (gradient penalties, R1) fails on every backend.
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
