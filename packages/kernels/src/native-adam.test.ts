/**
 * The native one-pass Adam update on wasm against @genlab/core's composite update (on cpu,
 * and on wasm without the kernel): the same weights and slots after several steps, bit for
 * bit. Skipped, with the reason printed, where the native addon is not built; CI builds it.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { ADAM_KERNEL as CORE_ADAM_KERNEL } from '@genlab/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { adamSteps } from './test-helpers.js';
import { ADAM_KERNEL, installNativeAdam } from './native-adam.js';
import { loadNativeBlas } from './native.js';

const { blas, reason } = loadNativeBlas();
if (!blas?.adam) console.warn(`native Adam tests skipped: ${reason}`);

const shapes = [[37, 5], [11], [3, 3, 2, 4]];
const adam = (backend: string, steps: number, config: Record<string, unknown>) => adamSteps(backend, steps, config, shapes);

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
      expect(fused.leaked).toBe(0);
      expect([...fused.kernels].filter((k) => k !== 'ZerosLike')).toEqual([ADAM_KERNEL]); // ZerosLike: the slots, once
      expect(composite.kernels.has(ADAM_KERNEL)).toBe(false);
      expect(fused.values).toEqual(reference.values);
      expect(fused.values).toEqual(composite.values);
      tf.unregisterKernel(ADAM_KERNEL, 'wasm');
      (globalThis as Record<symbol, unknown>)[Symbol.for(`genlab.kernel.wasm.${ADAM_KERNEL}.native`)] = undefined;
    });
  }
});
