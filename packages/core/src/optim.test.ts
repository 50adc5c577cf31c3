import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, lrFactor, optimizerSchema, scheduleSchema } from './optim.js';

/** Reference Adam in float64 (Kingma & Ba 2015, Algorithm 1, with ε outside the bias correction as in PyTorch). */
function adamReference(theta: number[], grads: number[][], lr: number, b1: number, b2: number, eps: number): number[] {
  const m = theta.map(() => 0);
  const v = theta.map(() => 0);
  const th = theta.slice();
  grads.forEach((g, step) => {
    const t = step + 1;
    for (let i = 0; i < th.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
      const mh = m[i]! / (1 - b1 ** t);
      const vh = v[i]! / (1 - b2 ** t);
      th[i] = th[i]! - (lr * mh) / (Math.sqrt(vh) + eps);
    }
  });
  return th;
}

describe('optimizers', () => {
  const grads = [
    [0.5, -1.0, 2.0],
    [0.1, 0.3, -0.7],
    [-0.2, 0.0, 1.5],
  ];

  it('Adam matches a float64 reference implementation', () => {
    const cfg = optimizerSchema.parse({ type: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const opt = createOptimizer(cfg);
    const theta = [1.0, -2.0, 0.5];
    const v = tf.variable(tf.tensor1d(theta));
    for (const g of grads) {
      const gt = tf.tensor1d(g);
      opt.apply([v], { [v.name]: gt });
      gt.dispose();
    }
    const expected = adamReference(theta, grads, 0.01, 0.9, 0.999, 1e-8);
    const got = Array.from(v.dataSync());
    got.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 5));
    opt.dispose();
    v.dispose();
  });

  it('SGD with momentum matches PyTorch’s update rule', () => {
    const opt = createOptimizer(optimizerSchema.parse({ type: 'sgd', lr: 0.1, momentum: 0.9 }));
    const v = tf.variable(tf.tensor1d([1, 1, 1]));
    let buf = [0, 0, 0];
    let th = [1, 1, 1];
    for (const g of grads) {
      const gt = tf.tensor1d(g);
      opt.apply([v], { [v.name]: gt });
      gt.dispose();
      buf = buf.map((b, i) => 0.9 * b + g[i]!);
      th = th.map((x, i) => x - 0.1 * buf[i]!);
    }
    Array.from(v.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(th[i]!, 5));
    opt.dispose();
    v.dispose();
  });

  it('restores its state exactly: a resumed optimizer continues bit for bit', () => {
    const cfg = optimizerSchema.parse({ lr: 0.05 });
    const run = (split: number | undefined) => {
      let opt = createOptimizer(cfg);
      const v = tf.variable(tf.tensor1d([0.3, -0.7, 1.1]));
      grads.forEach((g, i) => {
        if (i === split) {
          const state = opt.getState('optim/g');
          opt.dispose();
          opt = createOptimizer(cfg);
          opt.setState(state, 'optim/g');
        }
        const gt = tf.tensor1d(g);
        opt.apply([v], { [v.name]: gt });
        gt.dispose();
      });
      const out = Array.from(v.dataSync());
      opt.dispose();
      v.dispose();
      return out;
    };
    const straight = run(undefined);
    expect(run(1)).toEqual(straight);
    expect(run(2)).toEqual(straight);
  });

  it('rejects a restored slot of the wrong shape', () => {
    const opt = createOptimizer(optimizerSchema.parse({}));
    const a = tf.variable(tf.zeros([3]));
    const g = tf.ones([3]);
    opt.apply([a], { [a.name]: g });
    const state = opt.getState('p');
    const other = createOptimizer(optimizerSchema.parse({}));
    other.setState(state, 'p');
    const b = tf.variable(tf.zeros([4]));
    const gb = tf.ones([4]);
    expect(() => other.apply([b], { [b.name]: gb })).toThrow(/different model/);
    tf.dispose([a, b, g, gb]);
    opt.dispose();
    other.dispose();
  });

  it('validates its options', () => {
    expect(optimizerSchema.safeParse({ lr: 0 }).success).toBe(false);
    expect(optimizerSchema.safeParse({ lr: -1 }).success).toBe(false);
    expect(optimizerSchema.safeParse({ beta1: 1 }).success).toBe(false);
    expect(optimizerSchema.safeParse({ type: 'lbfgs' }).success).toBe(false);
  });
});

describe('optimizer state and memory', () => {
  it('restoring state leaks no tensors', () => {
    const opt = createOptimizer(optimizerSchema.parse({}));
    const v = tf.variable(tf.zeros([5]));
    const g = tf.ones([5]);
    opt.apply([v], { [v.name]: g });
    const state = opt.getState('p');
    const before = tf.memory().numTensors;
    opt.setState(state, 'p'); // replaces m and v: the count stays the same
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    tf.dispose([v, g]);
  });
});

describe('learning-rate schedules', () => {
  const parse = (s: object) => scheduleSchema.parse(s);

  it('follow their closed forms', () => {
    expect(lrFactor(undefined, 5, 10)).toBe(1);
    expect(lrFactor(parse({ type: 'constant' }), 7, 10)).toBe(1);
    // linear from 1 at step 0 to `final` at the last step (9 of 10)
    expect(lrFactor(parse({ type: 'linear' }), 0, 10)).toBe(1);
    expect(lrFactor(parse({ type: 'linear' }), 9, 10)).toBe(0);
    expect(lrFactor(parse({ type: 'linear', final: 0.5 }), 3, 7)).toBeCloseTo(0.75, 12);
    expect(lrFactor(parse({ type: 'cosine', final: 0.1 }), 5, 11)).toBeCloseTo(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 2)), 12);
    expect(lrFactor(parse({ type: 'step', every: 3, gamma: 0.1 }), 7, 100)).toBeCloseTo(0.01, 12);
    // warm-up multiplies: (step + 1) / warmup during the first `warmup` steps
    expect(lrFactor(parse({ type: 'constant', warmup: 4 }), 1, 100)).toBe(0.5);
    expect(lrFactor(parse({ type: 'constant', warmup: 4 }), 4, 100)).toBe(1);
  });

  it('scale the step an optimizer takes', () => {
    const sgd = createOptimizer(optimizerSchema.parse({ type: 'sgd', lr: 0.1, schedule: { type: 'linear' } }));
    const v = tf.variable(tf.zeros([2]));
    const g = tf.ones([2]);
    sgd.apply([v], { [v.name]: g }, 0.5);
    expect(Array.from(v.dataSync())).toEqual([-0.05, -0.05].map((x) => Math.fround(x)));
    sgd.dispose();
    tf.dispose([v, g]);
  });

  it('reject bad options', () => {
    expect(scheduleSchema.safeParse({ type: 'exp' }).success).toBe(false);
    expect(scheduleSchema.safeParse({ final: 2 }).success).toBe(false);
    expect(optimizerSchema.safeParse({ schedule: { type: 'cosine', wat: 1 } }).success).toBe(false);
  });
});
