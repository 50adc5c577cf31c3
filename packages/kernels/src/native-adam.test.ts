/**
 * The native one-pass Adam update on wasm against @genlab/core's composite update (on cpu,
 * and on wasm without the kernel): the same weights and slots after several steps, bit for
 * bit. Skipped, with the reason printed, where the native addon is not built; CI builds it.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { ADAM_KERNEL as CORE_ADAM_KERNEL, createOptimizer, globalNorm, optimizerSchema } from '@genlab/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { adamSteps, mulberry32 } from './test-helpers.js';
import { installWasmMatMul } from './wasm-matmul.js';
import { ADAM_KERNEL, installNativeAdam } from './native-adam.js';
import { loadNativeBlas } from './native.js';

const { blas, reason } = loadNativeBlas();
if (!blas?.adam) console.warn(`native Adam tests skipped: ${reason}`);

const shapes = [[37, 5], [11], [3, 3, 2, 4]];
const adam = (backend: string, steps: number, config: Record<string, unknown>) => adamSteps(backend, steps, config, shapes);

/** Back to the composite update: the kernel unregistered and overrideKernel's install mark cleared. */
function uninstallNativeAdam(): void {
  tf.unregisterKernel(ADAM_KERNEL, 'wasm');
  (globalThis as Record<symbol, unknown>)[Symbol.for(`genlab.kernel.wasm.${ADAM_KERNEL}.native`)] = undefined;
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

  it('the addon update equals float32 arithmetic done one operation at a time, and its Σ g² the float64 dot, at every alignment of the arrays', () => {
    // The SSE loop streams 16-byte aligned outputs, 8-byte aligned ones in halves and stores
    // the rest plainly, after a scalar start up to P1's boundary and before a scalar tail:
    // offsets 0-3 floats of each array, and lengths around a vector, cover each path.
    const f = Math.fround;
    const [b1, b2, step, eps] = [0.5, 0.999, 2e-4, 1e-8];
    const [fb1, fb2, c1, c2, fs, fe] = [f(b1), f(b2), f(1 - b1), f(1 - b2), f(step), f(eps)];
    const next = mulberry32(3);
    const rand = () => next() * 2 - 1;
    for (const n of [1, 3, 4, 7, 1037, 1039, 4099]) {
      for (const offs of [[0, 0, 0, 0, 0, 0, 0], [1, 2, 3, 0, 0, 2, 2], [0, 0, 0, 0, 1, 3, 2], [3, 1, 0, 2, 2, 0, 1], [2, 2, 2, 2, 3, 1, 0]]) {
        const arrays = offs.map((o) => new Float32Array(n + 4).subarray(o, o + n));
        for (const a of arrays.slice(0, 4)) for (let i = 0; i < n; i++) a[i] = rand();
        // Gradients over 2^±12, so that float64 sums round and their order shows in the last bits.
        for (let i = 0; i < n; i++) arrays[1]![i] = rand() * 2 ** Math.round(rand() * 12);
        for (let i = 0; i < n; i++) arrays[3]![i] = Math.abs(arrays[3]![i]!);
        const [P, G, M, V, P1, M1, V1] = arrays as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
        const sum = blas!.adam!(P, G, M, V, P1, M1, V1, b1, b2, step, eps);
        // Σ g² as wasm-matmul.ts's dot sums: four float64 sums by i mod 4, the tail into the first.
        const q = [0, 0, 0, 0];
        for (let i = 0; i < n; i++) q[i < (n & ~3) ? i & 3 : 0]! += G[i]! * G[i]!;
        expect(sum).toBe(q[0]! + q[1]! + (q[2]! + q[3]!));
        for (let i = 0; i < n; i++) {
          const g = G[i]!;
          const m = f(f(M[i]! * fb1) + f(g * c1));
          const v = f(f(V[i]! * fb2) + f(f(g * g) * c2));
          const p = f(P[i]! - f(f(m / f(f(Math.sqrt(v)) + fe)) * fs));
          if (M1[i] !== m || V1[i] !== v || P1[i] !== p) throw new Error(`n ${n}, offsets ${offs.join(',')}, element ${i}: got ${P1[i]}, ${M1[i]}, ${V1[i]}, want ${p}, ${m}, ${v}`);
        }
      }
    }
  });

  it('gives the gradient norm its sums of squares from the update pass, equal to globalNorm bit for bit', async () => {
    installNativeAdam(blas!);
    installWasmMatMul(); // the float64 vector dot globalNorm uses on wasm
    const rand = mulberry32(4);
    const shapes = [[300, 7], [5], [1024, 3], [1]];
    const vars = shapes.map((s, i) => tf.variable(tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rand() - 0.5), s), true, `s${i}`));
    const grads = Object.fromEntries(vars.map((v, i) => [v.name, tf.tensor(Float32Array.from({ length: v.size }, () => rand() * 4 - 2), shapes[i])]));
    const opt = createOptimizer(optimizerSchema.parse({ type: 'adam' }));
    const check = () => {
      const expected = globalNorm(grads);
      const sums = opt.apply(vars, grads, 1, { sumSquares: true });
      expect(sums && Object.keys(sums)).toEqual(vars.map((v) => v.name));
      const fromSums = tf.tidy(() => tf.sqrt(tf.addN(Object.values(sums!))));
      expect(fromSums.dataSync()[0]).toBe(expected.dataSync()[0]);
      for (const [name, g] of Object.entries(grads)) {
        const dot = tf.tidy(() => tf.matMul(tf.reshape(g, [1, g.size]), tf.reshape(g, [g.size, 1])).dataSync()[0]);
        expect(sums![name]!.dataSync()[0]).toBe(dot);
      }
      tf.dispose([expected, fromSums, ...Object.values(sums!)]);
    };
    check(); // makes the slots
    const before = tf.memory().numTensors;
    check();
    expect(tf.memory().numTensors).toBe(before);
    // Not asked: no sums.
    expect(opt.apply(vars, grads, 1)).toBeUndefined();
    opt.dispose();
    tf.dispose([...vars, ...Object.values(grads)]);
    uninstallNativeAdam();
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
      uninstallNativeAdam();
    });
  }
});
