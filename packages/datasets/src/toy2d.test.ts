import { describe, expect, it } from 'vitest';
import type { ArrayDataset } from '@genlab/core';
import { describeDatasetContract } from '@genlab/core/testing';
import { context, tmpDir } from './fixtures.test-util.js';
import { mixtureModes, toy2d } from './toy2d.js';

const ctx = context(tmpDir());
const load = (cfg: object) => toy2d.load(toy2d.configSchema.parse(cfg), ctx) as Promise<ArrayDataset>;

describe('toy2d', () => {
  it('ring8: 8 modes on a radius-2 circle with std 0.02, equal shares, labelled', async () => {
    const ds = await load({ mixture: 'ring8', size: 8000 });
    expect(ds.info).toMatchObject({ shape: [2], numClasses: 8, size: 8000 });
    const { x, y } = ds.rows(Array.from({ length: 8000 }, (_, i) => i));
    const { means, std } = ds.info.mixture!;
    expect(std).toBe(0.02);
    expect(means[2]![0]).toBeCloseTo(0, 12);
    expect(means[2]![1]).toBeCloseTo(2, 12);
    const counts = new Array<number>(8).fill(0);
    let sq = 0;
    for (let i = 0; i < 8000; i++) {
      counts[y[i]!]! += 1;
      const [mx, my] = means[y[i]!]!;
      sq += (x[2 * i]! - mx!) ** 2 + (x[2 * i + 1]! - my!) ** 2;
    }
    expect(counts).toEqual(new Array(8).fill(1000));
    // Per-coordinate std estimated from 16,000 values: within 3 % of 0.02.
    expect(Math.abs(Math.sqrt(sq / 16000) - 0.02) / 0.02).toBeLessThan(0.03);
    const [lo, hi] = ds.info.range;
    for (const v of x) expect(v >= lo && v <= hi).toBe(true);
  });

  it('grid25: the 5×5 grid at spacing 2, scaled on request; splits differ; draws are fixed', async () => {
    expect(mixtureModes('grid25').means).toHaveLength(25);
    expect(mixtureModes('grid25', 0.25).means[0]).toEqual([-1, -1]);
    const a = await load({ mixture: 'grid25', size: 100 });
    const again = await load({ mixture: 'grid25', size: 100 });
    const test = await load({ mixture: 'grid25', size: 100, split: 'test' });
    const at = Array.from({ length: 100 }, (_, i) => i);
    expect(Array.from(again.rows(at).x)).toEqual(Array.from(a.rows(at).x));
    expect(Array.from(test.rows(at).x)).not.toEqual(Array.from(a.rows(at).x));
    expect((await load({ size: 10, split: 'all' })).info.size).toBe(20);
  });
});

describeDatasetContract(toy2d, { config: { size: 64 }, context: ctx, expect: { shape: [2], numClasses: 8, size: 64 }, describeAlso: [{ size: 32, split: 'all', mixture: 'grid25', scale: 0.5 }] });
