import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs's own gradients first, as every genlab process does
import { beforeAll, describe, expect, it } from 'vitest';
import { registerHigherOrderGradients } from './gradients.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerHigherOrderGradients();
  registerHigherOrderGradients(); // idempotent
});

/** d/da of g(a) = d/dx f(a·x) at x, through tfjs's nested gradients. */
function secondOrder(f: (t: tf.Tensor) => tf.Tensor, a0: number, x0: number): number {
  const a = tf.variable(tf.scalar(a0));
  const x = tf.scalar(x0);
  const { grads } = tf.variableGrads(() => tf.grad((xi: tf.Tensor) => f(tf.mul(a, xi)))(x) as tf.Scalar, [a]);
  const v = grads[a.name]!.dataSync()[0]!;
  tf.dispose([a, x, grads[a.name]!]);
  return v;
}

describe('second-order gradients', () => {
  // g(a) = a f'(a x), so g'(a) = f'(a x) + a x f''(a x): closed forms below.
  const a = 0.7;
  const x = 0.4;
  const u = a * x;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const cases: [string, (t: tf.Tensor) => tf.Tensor, number][] = [
    ['tanh', tf.tanh, 1 - Math.tanh(u) ** 2 + a * x * (-2 * Math.tanh(u) * (1 - Math.tanh(u) ** 2))],
    ['sigmoid', tf.sigmoid, sig(u) * (1 - sig(u)) + a * x * sig(u) * (1 - sig(u)) * (1 - 2 * sig(u))],
    ['exp', tf.exp, Math.exp(u) + a * x * Math.exp(u)],
    ['elu (x < 0)', (t) => tf.elu(tf.neg(t)), -Math.exp(-u) + a * x * Math.exp(-u)],
    ['leakyRelu', (t) => tf.leakyRelu(t, 0.2), 1],
  ];
  for (const [name, f, expected] of cases) {
    it(`${name} matches the closed form`, () => {
      expect(secondOrder(f, a, x)).toBeCloseTo(expected, 5);
    });
  }

  it('first derivatives are unchanged', () => {
    for (const [f, d] of [
      [tf.tanh, 1 - Math.tanh(0.3) ** 2],
      [tf.sigmoid, sig(0.3) * (1 - sig(0.3))],
      [tf.elu, 1],
      [tf.exp, Math.exp(0.3)],
    ] as const) {
      const g = tf.grad((t: tf.Tensor) => f(t))(tf.scalar(0.3));
      expect(g.dataSync()[0]).toBeCloseTo(d, 6);
      g.dispose();
    }
  });
});
