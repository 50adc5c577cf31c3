import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { classLoss, discriminatorLoss, generatorLoss } from './losses.js';

// Hand-computed references in float64 on fixed logits.
const real = [2.0, -0.5, 0.3];
const fake = [-1.5, 0.7, 0.0];
const softplus = (x: number) => Math.log1p(Math.exp(x));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const value = (t: tf.Scalar) => {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};

describe('GAN losses match their formulas', () => {
  const r = () => tf.tensor2d(real, [3, 1]);
  const f = () => tf.tensor2d(fake, [3, 1]);

  it('discriminator, non-saturating and minimax: -log σ(r) - log(1 - σ(f))', () => {
    const expected = mean(real.map((x) => -Math.log(1 / (1 + Math.exp(-x))))) + mean(fake.map((x) => -Math.log(1 - 1 / (1 + Math.exp(-x)))));
    expect(value(discriminatorLoss('non-saturating', r(), f()))).toBeCloseTo(expected, 5);
    expect(value(discriminatorLoss('minimax', r(), f()))).toBeCloseTo(expected, 5);
  });

  it('discriminator, least squares: ½(r-1)² + ½f²', () => {
    const expected = 0.5 * mean(real.map((x) => (x - 1) ** 2)) + 0.5 * mean(fake.map((x) => x * x));
    expect(value(discriminatorLoss('least-squares', r(), f()))).toBeCloseTo(expected, 5);
  });

  it('generator, non-saturating: -log σ(f)', () => {
    expect(value(generatorLoss('non-saturating', f()))).toBeCloseTo(mean(fake.map((x) => softplus(-x))), 5);
  });

  it('generator, minimax: log(1 - σ(f))', () => {
    expect(value(generatorLoss('minimax', f()))).toBeCloseTo(mean(fake.map((x) => Math.log(1 - 1 / (1 + Math.exp(-x))))), 5);
  });

  it('generator, least squares: ½(f-1)²', () => {
    expect(value(generatorLoss('least-squares', f()))).toBeCloseTo(0.5 * mean(fake.map((x) => (x - 1) ** 2)), 5);
  });

  it('does not leak tensors', () => {
    const a = r();
    const b = f();
    const before = tf.memory().numTensors;
    for (const l of ['non-saturating', 'minimax', 'least-squares', 'hinge', 'wasserstein'] as const) {
      value(discriminatorLoss(l, a, b));
      value(generatorLoss(l, b));
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });
});

describe('the zoo losses match their formulas', () => {
  const r = () => tf.tensor2d(real, [3, 1]);
  const f = () => tf.tensor2d(fake, [3, 1]);

  it('hinge: max(0, 1 − r) + max(0, 1 + f) for D, −f for G', () => {
    const expected = mean(real.map((x) => Math.max(0, 1 - x))) + mean(fake.map((x) => Math.max(0, 1 + x)));
    expect(value(discriminatorLoss('hinge', r(), f()))).toBeCloseTo(expected, 5);
    expect(value(generatorLoss('hinge', f()))).toBeCloseTo(-mean(fake), 5);
  });

  it('wasserstein: f − r for D, −f for G', () => {
    expect(value(discriminatorLoss('wasserstein', r(), f()))).toBeCloseTo(mean(fake) - mean(real), 5);
    expect(value(generatorLoss('wasserstein', f()))).toBeCloseTo(-mean(fake), 5);
  });

  it('one-sided label smoothing: the real target becomes 1 − s', () => {
    const s = 0.1;
    const bce = (x: number, t: number) => -(t * Math.log(1 / (1 + Math.exp(-x))) + (1 - t) * Math.log(1 - 1 / (1 + Math.exp(-x))));
    const expected = mean(real.map((x) => bce(x, 1 - s))) + mean(fake.map((x) => bce(x, 0)));
    expect(value(discriminatorLoss('non-saturating', r(), f(), s))).toBeCloseTo(expected, 5);
  });

  it('auxiliary class loss: mean cross-entropy of the softmax', () => {
    const logits = [
      [1, 2, 0.5],
      [-1, 0, 3],
    ];
    const labels = [1, 0];
    const expected = mean(logits.map((l, i) => Math.log(l.reduce((a, v) => a + Math.exp(v), 0)) - l[labels[i]!]!));
    expect(value(classLoss(tf.tensor2d(logits), tf.tensor1d(labels, 'int32')))).toBeCloseTo(expected, 5);
  });
});
