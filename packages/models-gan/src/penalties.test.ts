/**
 * The penalties against independent computations: closed forms for a linear critic, central
 * finite differences of the input gradient for a non-linear one, and finite differences of
 * the penalty itself with respect to the critic's weights (the second-order gradient the
 * optimizer uses).
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
// Registers tfjs's gradients, as in every genlab process (the trainer loads them).
import '@genlab/core';
import { gradientPenalty, inputGradNorms, r1Penalty } from './penalties.js';

/** A tiny smooth critic x[3] → tanh(x W1 + b1) [4] → · w2 → [n, 1], weights from a seed. */
function critic(seed: number) {
  const W1 = tf.variable(tf.randomNormal([3, 4], 0, 0.8, 'float32', seed));
  const b1 = tf.variable(tf.randomNormal([4], 0, 0.3, 'float32', seed + 1));
  const w2 = tf.variable(tf.randomNormal([4, 1], 0, 0.8, 'float32', seed + 2));
  const D = (x: tf.Tensor) => tf.matMul(tf.tanh(tf.add(tf.matMul(x as tf.Tensor2D, W1), b1)), w2);
  return { D, vars: [W1, b1, w2], dispose: () => tf.dispose([W1, b1, w2]) };
}

const read = (t: tf.Tensor) => Array.from(t.dataSync());

/** Central differences of f at each entry of `v` (restored afterwards). */
function finiteDiff(f: () => number, v: tf.Variable, h: number): number[] {
  const base = read(v);
  return base.map((_, i) => {
    const at = (d: number) => {
      const w = base.slice();
      w[i]! += d;
      v.assign(tf.tensor(w, v.shape));
      return f();
    };
    const g = (at(h) - at(-h)) / (2 * h);
    v.assign(tf.tensor(base, v.shape));
    return g;
  });
}

describe('gradient penalty (WGAN-GP) and R1', () => {
  it('equal their closed forms for a linear critic D(x) = w·x + b', () => {
    const w = [0.3, -1.2, 2.0];
    const D = (x: tf.Tensor) => tf.add(tf.matMul(x as tf.Tensor2D, tf.tensor2d(w, [3, 1])), 0.7);
    const real = tf.randomNormal([5, 3], 0, 1, 'float32', 1);
    const fake = tf.randomNormal([5, 3], 0, 1, 'float32', 2);
    const norm = Math.hypot(...w);
    // ∇D = w everywhere, so GP = λ(‖w‖ − 1)² and R1 = γ/2 ‖w‖² whatever the points.
    expect(gradientPenalty(D, real, fake, 10, 3).dataSync()[0]).toBeCloseTo(10 * (norm - 1) ** 2, 4);
    expect(r1Penalty(D, real, 4).dataSync()[0]).toBeCloseTo(2 * norm * norm, 4);
    tf.dispose([real, fake]);
  });

  it('input-gradient norms match finite differences of a non-linear critic', () => {
    const c = critic(11);
    const x = tf.randomNormal([4, 3], 0, 1, 'float32', 12);
    const norms = read(inputGradNorms(c.D, x));
    const xs = x.arraySync() as number[][];
    const h = 1e-2;
    xs.forEach((row, n) => {
      const grad = row.map((_, i) => {
        const shifted = (d: number) => {
          const r = row.slice();
          r[i]! += d;
          return c.D(tf.tensor2d([r])).dataSync()[0]!;
        };
        return (shifted(h) - shifted(-h)) / (2 * h);
      });
      expect(norms[n]).toBeCloseTo(Math.hypot(...grad), 3);
    });
    c.dispose();
    x.dispose();
  });

  it('the penalty equals its definition on interpolates, and its weight gradient matches finite differences', () => {
    const c = critic(21);
    const real = tf.randomNormal([6, 3], 0, 1, 'float32', 22);
    const fake = tf.randomNormal([6, 3], 0, 1, 'float32', 23);
    const seed = 24;
    // Same ε as gradientPenalty draws: uniform [n, 1] from the seed.
    const eps = tf.randomUniform([6, 1], 0, 1, 'float32', seed);
    const xhat = tf.add(tf.mul(eps, real), tf.mul(tf.sub(1, eps), fake));
    const expected = read(inputGradNorms(c.D, xhat)).reduce((a, g) => a + (g - 1) ** 2, 0) * (10 / 6);
    const penalty = () => gradientPenalty(c.D, real, fake, 10, seed).dataSync()[0]!;
    expect(penalty()).toBeCloseTo(expected, 3);

    // Second order: d GP / d W1 by tfjs (grad through the inner grad) vs finite differences.
    const { grads } = tf.variableGrads(() => gradientPenalty(c.D, real, fake, 10, seed), c.vars);
    for (const v of c.vars) {
      const analytic = read(grads[v.name]!);
      const numeric = finiteDiff(penalty, v, 1e-2);
      analytic.forEach((a, i) => expect(a).toBeCloseTo(numeric[i]!, 1));
      const scale = Math.max(...numeric.map(Math.abs), 1);
      const worst = Math.max(...analytic.map((a, i) => Math.abs(a - numeric[i]!)));
      expect(worst / scale).toBeLessThan(5e-3);
    }
    tf.dispose([real, fake, eps, xhat, ...Object.values(grads)]);
    c.dispose();
  });

  it('R1 has the right weight gradient through a LeakyReLU critic (comparison gradients registered)', () => {
    const W1 = tf.variable(tf.randomNormal([3, 5], 0, 1, 'float32', 31));
    const w2 = tf.variable(tf.randomNormal([5, 1], 0, 1, 'float32', 32));
    const D = (x: tf.Tensor) => tf.matMul(tf.leakyRelu(tf.matMul(x as tf.Tensor2D, W1), 0.2), w2);
    const real = tf.randomNormal([8, 3], 0, 1, 'float32', 33);
    const { grads } = tf.variableGrads(() => r1Penalty(D, real, 2), [W1, w2]);
    const r1 = () => r1Penalty(D, real, 2).dataSync()[0]!;
    for (const v of [W1, w2]) {
      const analytic = read(grads[v.name]!);
      const numeric = finiteDiff(r1, v, 1e-3);
      const scale = Math.max(...numeric.map(Math.abs), 1);
      const worst = Math.max(...analytic.map((a, i) => Math.abs(a - numeric[i]!)));
      expect(worst / scale).toBeLessThan(5e-3);
    }
    tf.dispose([W1, w2, real, ...Object.values(grads)]);
  });
});
