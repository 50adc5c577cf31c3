import { describe, expect, it } from 'vitest';
import { bestOf } from './bench.js';

describe('bench rounds: the best of a setting\'s rounds', () => {
  it('keeps the faster round, with the larger peak memory and leak of either round', () => {
    const slow = { imgPerSec: 100, peakRssMb: 300, leakedPerStep: 0, note: 'slow' };
    const fast = { imgPerSec: 150, peakRssMb: 250, leakedPerStep: 1, note: 'fast' };
    expect(bestOf(undefined, slow)).toEqual(slow);
    expect(bestOf(slow, fast)).toEqual({ imgPerSec: 150, peakRssMb: 300, leakedPerStep: 1, note: 'fast' });
    expect(bestOf(fast, slow)).toEqual({ imgPerSec: 150, peakRssMb: 300, leakedPerStep: 1, note: 'fast' });
  });
});
