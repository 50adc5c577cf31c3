/**
 * Discriminator regularisers that need the gradient of D with respect to its input, computed
 * with a nested `tf.grad` inside the optimizer's tape (a second-order gradient). Every op on
 * the way must be differentiable twice: core's `registerHigherOrderGradients` adds
 * the comparison gradients (inside LeakyReLU's and ReLU's derivatives) and fixes Tanh,
 * Sigmoid, Elu and Exp, whose stock gradients lose a term in the second derivative.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { registerHigherOrderGradients } from '@genlab/core';

/** Penalty options (`model.penalty`). */
export const penaltySchema = z
  .object({
    /** `gp`: WGAN-GP gradient penalty (Gulrajani et al. 2017); `r1`: R1 on real data (Mescheder et al. 2018). */
    type: z.enum(['none', 'gp', 'r1']).default('none'),
    /** λ for gp (the paper's 10); γ for r1 (the loss adds γ/2 · E‖∇D‖²). */
    weight: z.number().min(0).default(10),
  })
  .strict();
export type PenaltyOptions = z.infer<typeof penaltySchema>;

/** ∇ₓ Σ D(x), differentiable again with respect to D's weights. */
function inputGrad(D: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): tf.Tensor {
  registerHigherOrderGradients(); // idempotent; the second-order pass needs it on every backend
  return tf.grad((xi: tf.Tensor) => tf.sum(D(xi)))(x);
}

/** ‖∇ₓ Σ D(x)‖₂ per example: [n]. `D` maps [n, ...] to [n, 1]. */
export function inputGradNorms(D: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, eps = 1e-12): tf.Tensor1D {
  const g = inputGrad(D, x);
  const axes = g.shape.slice(1).map((_, i) => i + 1);
  return tf.sqrt(tf.add(tf.sum(tf.square(g), axes), eps)) as tf.Tensor1D;
}

/**
 * WGAN-GP (Gulrajani et al. 2017, Algorithm 1): λ · E[(‖∇D(x̂)‖₂ − 1)²] at x̂ = εx + (1−ε)x̃,
 * ε ~ U[0, 1] per example (drawn from `seed`).
 */
export function gradientPenalty(D: (x: tf.Tensor) => tf.Tensor, real: tf.Tensor, fake: tf.Tensor, weight: number, seed: number): tf.Scalar {
  const n = real.shape[0]!;
  const eps = tf.randomUniform([n, ...real.shape.slice(1).map(() => 1)], 0, 1, 'float32', seed);
  const xhat = tf.add(tf.mul(eps, real), tf.mul(tf.sub(1, eps), fake));
  return tf.mul(weight, tf.mean<tf.Scalar>(tf.square(tf.sub(inputGradNorms(D, xhat), 1))));
}

/** R1 (Mescheder et al. 2018, eq. 9): γ/2 · E[‖∇D(x)‖₂²] on real data. */
export function r1Penalty(D: (x: tf.Tensor) => tf.Tensor, real: tf.Tensor, weight: number): tf.Scalar {
  const g = inputGrad(D, real);
  const axes = g.shape.slice(1).map((_, i) => i + 1);
  return tf.mul(weight / 2, tf.mean<tf.Scalar>(tf.sum(tf.square(g), axes)));
}
