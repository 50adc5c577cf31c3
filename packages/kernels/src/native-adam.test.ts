/**
 * The native one-pass Adam update on wasm against @genlab/core's composite update (on cpu,
 * and on wasm without the kernel): the same weights and slots after several steps, bit for
 * bit. Skipped, with the reason printed, where the native addon is not built; CI builds it.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { ADAM_KERNEL as CORE_ADAM_KERNEL, createOptimizer, optimizerSchema } from '@genlab/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from './test-helpers.js';
import { ADAM_KERNEL, installNativeAdam } from './native-adam.js';
import { loadNativeBlas } from './native.js';

const { blas, reason } = loadNativeBlas();
if (!blas?.adam) console.warn(`native Adam tests skipped: ${reason}`);

const shapes = [[37, 5], [11], [3, 3, 2, 4]];

/** Run `steps` Adam steps on `backend` from fixed weights and gradients; weights and slots. */
async function adam(backend: string, steps: number, config: Record<string, unknown>): Promise<{ values: number[][]; numTensors: number; kernels: Set<string> }> {
  await tf.setBackend(backend);
  const rand = mulberry32(9);
  const fill = (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1);
  const vars = shapes.map((s, i) => tf.variable(tf.tensor(fill(s), s), true, `w${i}`));
  const grads = Array.from({ length: steps }, () => shapes.map((s) => fill(s)));
  const opt = createOptimizer(optimizerSchema.parse({ type: 'adam', ...config }));
  const before = tf.memory().numTensors;
  const kernels = new Set<string>();
  for (let t = 0; t < steps; t++) {
    const g = Object.fromEntries(vars.map((v, i) => [v.name, tf.tensor(grads[t]![i]!, shapes[i])]));
    const p = await tf.profile(() => opt.apply(vars, g, t === 2 ? 0.5 : 1));
    for (const k of p.kernels) kernels.add(k.name);
    tf.dispose(Object.values(g));
  }
  const slots = 2 * vars.length; // m and v per variable, made on the first step
  const numTensors = tf.memory().numTensors - before - slots;
  const state = opt.getState('opt');
  const values = [...vars.map((v) => Array.from(v.dataSync())), ...Object.keys(state).sort().map((k) => Array.from(state[k]!.data))];
  opt.dispose();
  tf.dispose(vars);
  return { values, numTensors, kernels };
}

// Skipped only where the native addon is not built (the warning above says why).
describe.skipIf(!blas?.adam)('native Adam update (wasm)', () => {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
  });

  it('has the kernel name @genlab/core looks for', () => {
    expect(ADAM_KERNEL).toBe(CORE_ADAM_KERNEL);
  });

  for (const config of [{}, { lr: 1e-3, beta1: 0, beta2: 0.9, eps: 1e-6 }]) {
    it(`equals the composite update bit for bit (${JSON.stringify(config)})`, async () => {
      const composite = await adam('wasm', 5, config);
      const reference = await adam('cpu', 5, config);
      installNativeAdam(blas!);
      expect(tf.getKernel(ADAM_KERNEL, 'wasm')).toBeDefined();
      const fused = await adam('wasm', 5, config);
      expect(fused.numTensors).toBe(0);
      expect([...fused.kernels].filter((k) => k !== 'ZerosLike')).toEqual([ADAM_KERNEL]); // ZerosLike: the slots, once
      expect(composite.kernels.has(ADAM_KERNEL)).toBe(false);
      expect(fused.values).toEqual(reference.values);
      expect(fused.values).toEqual(composite.values);
      tf.unregisterKernel(ADAM_KERNEL, 'wasm');
      (globalThis as Record<symbol, unknown>)[Symbol.for(`genlab.kernel.wasm.${ADAM_KERNEL}.native`)] = undefined;
    });
  }
});
