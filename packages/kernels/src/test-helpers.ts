/** Helpers shared by the kernel tests (not part of the build). */
import * as tf from '@tensorflow/tfjs-core';

/** Mulberry32 PRNG: floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
