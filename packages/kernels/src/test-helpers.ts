/** Helpers shared by the kernel tests (not part of the build). */
import * as tf from '@tensorflow/tfjs-core';

export { mulberry32 } from '@genlab/core';

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
