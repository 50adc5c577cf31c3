/**
 * Second-order gradients (core's `registerHigherOrderGradients`) through the wasm kernel pack:
 * a gradient penalty through a conv critic gives the cpu backend's weight gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs's own gradients first, as every genlab process does
import { beforeAll, describe, expect, it } from 'vitest';
import { registerHigherOrderGradients } from '@genlab/core';
import { installKernels } from './index.js';
import { on, worstRelError } from './test-helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerHigherOrderGradients();
});

describe('a gradient penalty through a conv critic', () => {
  it('has the same weight gradients on wasm (with the kernel pack) as on cpu', async () => {
    // D(x) = tanh(flatten(leakyRelu(conv3x3(x, W1))) · w2); loss = Σ (‖∇ₓD‖ − 1)²
    const x = tf.randomNormal([3, 6, 6, 2], 0, 1, 'float32', 1);
    const W1 = tf.randomNormal([3, 3, 2, 4], 0, 0.5, 'float32', 2);
    const w2 = tf.randomNormal([6 * 6 * 4, 1], 0, 0.1, 'float32', 3);
    const values = [x, W1, w2].map((t) => ({ data: t.dataSync().slice(), shape: t.shape }));
    tf.dispose([x, W1, w2]);
    const run = () => {
      const [xt, a, b] = values.map((v) => tf.tensor(v.data, v.shape));
      const va = tf.variable(a!);
      const vb = tf.variable(b!);
      const D = (t: tf.Tensor) => tf.tanh(tf.matMul(tf.reshape(tf.leakyRelu(tf.conv2d(t as tf.Tensor4D, va as tf.Tensor4D, 1, 'same'), 0.2), [3, -1]), vb));
      const { grads } = tf.variableGrads(() => {
        const g = tf.grad((t: tf.Tensor) => tf.sum(D(t)))(xt!);
        return tf.sum(tf.square(tf.sub(tf.sqrt(tf.sum(tf.square(g), [1, 2, 3])), 1)));
      }, [va, vb]);
      const out = [grads[va.name]!, grads[vb.name]!].map((t) => t.clone());
      tf.dispose([va, vb, ...Object.values(grads)]);
      return out;
    };
    const cpu = await on('cpu', run);
    await tf.setBackend('wasm');
    installKernels('wasm', { native: false });
    const wasm = await on('wasm', run);
    expect(worstRelError(wasm, cpu)).toBeLessThan(1e-4);
    expect(Math.max(...cpu[0]!.map(Math.abs))).toBeGreaterThan(1e-3); // not trivially zero
    await tf.setBackend('cpu');
  });
});
