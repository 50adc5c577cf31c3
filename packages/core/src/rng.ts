/**
 * Seeds and a small seeded PRNG. Every random choice in a run is a pure function of the
 * run seed and a position (step, epoch, stream), so resuming needs no RNG state beyond the
 * step counter. Written by hand because it is a dozen lines that must never change
 * behaviour between library versions (a changed shuffle would silently break resume).
 */

/** Mix 32-bit integers into one well-scrambled 31-bit seed (murmur3 finaliser per part). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    let k = Math.imul((p | 0) ^ Math.floor(p / 0x100000000), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & 0x7fffffff;
}

/** Mulberry32: a fast 32-bit PRNG; returns a function giving floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, seed: number): Uint32Array {
  const rand = mulberry32(seed);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Streams used for derived seeds, so no two random draws share one by accident. */
export const SeedStream = {
  init: 1,
  shuffle: 2,
  step: 3,
  sampleGrid: 4,
  /** The run seed after a rollback: step noise and data order continue on (seed, rollbacks). */
  rollback: 5,
} as const;

/**
 * The seed to give tfjs's seeded random ops for a user's seed: tfjs treats a seed of 0 as "no
 * seed" (`seed ? seed : Math.random()` in its samplers), so seed 0 would draw different noise
 * every time. 0 maps to a fixed other value; every other seed is passed through unchanged.
 */
export function noiseSeed(seed: number): number {
  return seed === 0 ? 0x5eed0 : seed;
}
