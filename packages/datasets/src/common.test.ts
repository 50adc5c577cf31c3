import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ArrayDataset } from '@genlab/core';
import { commonOptions, imageDataset, selectIndices, stratifiedSplit } from './common.js';
import { z } from 'zod';

const schema = z.object(commonOptions).strict();
const opts = (o: object) => schema.parse(o);

/** 40 images of 2×3×1 with intensities i*6+k (0..239), labels i % 4. */
function source() {
  const pixels = Uint8Array.from({ length: 40 * 6 }, (_, j) => j);
  const labels = Int32Array.from({ length: 40 }, (_, i) => i % 4);
  return { pixels, labels };
}
const info = { shape: [2, 3, 1], numClasses: 4, classNames: ['a', 'b', 'c', 'd'] };
const all = Uint32Array.from({ length: 40 }, (_, i) => i);
const rowsOf = (ds: ArrayDataset, at: number[], epoch = 0, seed = 1) => Array.from(ds.rows(at, { seed, epoch }).x);

describe('pixel options', () => {
  it('maps 0..255 to the range', () => {
    const ds = imageDataset(source(), info, all, opts({ range: [-1, 1] }), 't');
    expect(rowsOf(ds, [1])).toEqual([6, 7, 8, 9, 10, 11].map((v) => -1 + (2 * v) / 255).map(Math.fround));
    expect(ds.info.range).toEqual([-1, 1]);
  });

  it('thresholds at half intensity', () => {
    const ds = imageDataset(source(), info, all, opts({ range: [0, 1], binarize: 'threshold' }), 't');
    // Example 21 holds 126..131: 128/255 is the first value at or above one half.
    expect(rowsOf(ds, [21])).toEqual([0, 0, 1, 1, 1, 1]);
    expect(ds.info.binary).toBe(true);
    expect(imageDataset(source(), info, all, opts({ range: [0, 1] }), 't').info.binary).toBeUndefined();
  });

  it('static binarisation is one fixed draw per example; stochastic redraws per epoch', () => {
    const n = 2000;
    const grey = { pixels: new Uint8Array(n * 6).fill(64), labels: new Int32Array(n) };
    const idx = Uint32Array.from({ length: n }, (_, i) => i);
    const st = imageDataset(grey, info, idx, opts({ range: [0, 1], binarize: 'static' }), 't');
    const sto = imageDataset(grey, info, idx, opts({ range: [0, 1], binarize: 'stochastic' }), 't');
    const at = Array.from({ length: n }, (_, i) => i);
    const s0 = rowsOf(st, at, 0, 1);
    expect(rowsOf(st, at, 5, 9)).toEqual(s0); // independent of epoch and run seed
    expect(new Set(s0)).toEqual(new Set([0, 1]));
    const mean = s0.reduce((a, b) => a + b, 0) / s0.length;
    // Bernoulli(64/255): 12,000 draws, std of the mean ≈ 0.004.
    expect(Math.abs(mean - 64 / 255)).toBeLessThan(0.02);
    const e0 = rowsOf(sto, at, 0);
    expect(rowsOf(sto, at, 0)).toEqual(e0);
    expect(rowsOf(sto, at, 1)).not.toEqual(e0);
    // The draw belongs to the example, not to its place in a batch.
    expect(rowsOf(sto, [7, 3], 0)).toEqual([...e0.slice(42, 48), ...e0.slice(18, 24)]);
  });

  it('flips about half the images left-right, exactly mirrored, seeded by epoch', () => {
    const ds = imageDataset(source(), info, all, opts({ range: [0, 1], flip: true }), 't');
    const at = Array.from({ length: 40 }, (_, i) => i);
    const plain = imageDataset(source(), info, all, opts({ range: [0, 1] }), 't');
    const a = rowsOf(ds, at, 0);
    const p = rowsOf(plain, at);
    let flipped = 0;
    for (let i = 0; i < 40; i++) {
      const row = a.slice(6 * i, 6 * i + 6);
      const orig = p.slice(6 * i, 6 * i + 6);
      const mirror = [orig[2], orig[1], orig[0], orig[5], orig[4], orig[3]];
      if (row.join() === orig.join()) continue;
      expect(row).toEqual(mirror);
      flipped++;
    }
    expect(flipped).toBeGreaterThan(8);
    expect(flipped).toBeLessThan(32);
    expect(rowsOf(ds, at, 1)).not.toEqual(a);
  });
});

describe('selection', () => {
  it('filters classes by index or name, keeping labels', () => {
    const ds = imageDataset(source(), info, all, opts({ classes: [1, 'd'] }), 't');
    expect(ds.info.size).toBe(20);
    expect(ds.info.numClasses).toBe(4);
    const b = ds.gather(Array.from({ length: 20 }, (_, i) => i));
    expect(new Set(b.y.dataSync())).toEqual(new Set([1, 3]));
    tf.dispose([b.x, b.y]);
  });

  it('takes a fixed subset, the same in every run', () => {
    const a = selectIndices(all, source().labels, { subset: 10 }, info, 't');
    expect(a.length).toBe(10);
    expect(Array.from(selectIndices(all, source().labels, { subset: 10 }, info, 't'))).toEqual(Array.from(a));
    expect([...a].every((v, i) => i === 0 || v > a[i - 1]!)).toBe(true);
  });

  it('explains bad selections', () => {
    const labels = source().labels;
    expect(() => selectIndices(all, labels, { classes: ['z'] }, info, 'mnist')).toThrow("mnist: unknown class 'z' in dataset.classes. The classes are: a, b, c, d");
    expect(() => selectIndices(all, labels, { classes: [7] }, info, 'mnist')).toThrow('mnist: class 7 does not exist (dataset.classes); the classes are 0..3');
    expect(() => selectIndices(all, labels, { subset: 41 }, info, 'mnist')).toThrow('mnist: dataset.subset is 41 but the selection has only 40 examples');
  });

  it('stratified split: disjoint, fixed, per-class shares', () => {
    const labels = source().labels;
    const train = stratifiedSplit(labels, 0.2, 'train');
    const test = stratifiedSplit(labels, 0.2, 'test');
    expect(train.length).toBe(32);
    expect(test.length).toBe(8);
    expect([...test].filter((i) => train.includes(i))).toEqual([]);
    expect([...test].map((i) => labels[i]).sort()).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
  });
});
