/** Helpers shared by the kernel tests (not part of the build). */
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, mulberry32, optimizerSchema } from '@genlab/core';

export { mulberry32 };

/** Run `f` on a backend and return its outputs as plain arrays (tensors disposed). */
export async function on(backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const arrays = list.map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>));
  tf.dispose(list);
  return arrays;
}

/** Largest |a−e| / (1 + |e|) over all outputs. */
export function worstRelError(actual: Float32Array[], expected: Float32Array[]): number {
  let worst = 0;
  actual.forEach((a, k) => {
    const e = expected[k]!;
    if (a.length !== e.length) worst = Infinity;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / (1 + Math.abs(e[i]!)));
  });
  return worst;
}

/**
 * `steps` Adam steps (core's optimizer) on `backend` from fixed weights of `shapes` and fixed
 * gradients: the weights and slots after them, tensors leaked, and the kernels run.
 */
export async function adamSteps(backend: string, steps: number, config: Record<string, unknown>, shapes: number[][]): Promise<{ values: number[][]; leaked: number; kernels: Set<string> }> {
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
  const leaked = tf.memory().numTensors - before - 2 * vars.length; // m and v per variable, made on the first step
  const state = opt.getState('opt');
  const values = [...vars.map((v) => Array.from(v.dataSync())), ...Object.keys(state).sort().map((k) => Array.from(state[k]!.data))];
  opt.dispose();
  tf.dispose(vars);
  return { values, leaked, kernels };
}
