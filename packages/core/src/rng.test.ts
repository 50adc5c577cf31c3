import { describe, expect, it } from 'vitest';
import { deriveSeed, mulberry32, permutation } from './rng.js';

describe('seeds and permutations', () => {
  it('derives stable, distinct 31-bit seeds', () => {
    const seeds = new Set<number>();
    for (let a = 0; a < 50; a++) for (let b = 0; b < 50; b++) seeds.add(deriveSeed(1, a, b));
    expect(seeds.size).toBe(2500);
    for (const s of seeds) expect(s >= 0 && s < 2 ** 31).toBe(true);
    expect(deriveSeed(1, 2, 3)).toBe(deriveSeed(1, 2, 3));
    expect(deriveSeed(1, 2, 3)).not.toBe(deriveSeed(1, 3, 2));
  });

  it('gives a valid permutation, the same for the same seed', () => {
    const p = permutation(1000, 5);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(permutation(1000, 5))).toEqual(Array.from(p));
    expect(Array.from(permutation(1000, 6))).not.toEqual(Array.from(p));
  });

  it('mulberry32 is roughly uniform', () => {
    const r = mulberry32(3);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) bins[Math.floor(r() * 10)]! += 1;
    for (const b of bins) expect(Math.abs(b - 10_000)).toBeLessThan(500);
  });
});
