import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ArrayDataset, type DataInfo, type GenerativeModel, type MetricPlugin, type MetricSet, mulberry32 } from '@genlab/core';
import { bernoulliSamples, evaluateModel, type EvalOptions, type EvalTarget, formatReport, planMetrics } from './evaluate.js';
import { FeatureNet, randomShift, trainFeatureNet } from './features.js';
import { halves } from './fixtures.test-util.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-metrics-'));

/** A "model" whose samples are drawn from a dataset (a perfect generator) or are all one image. */
function fakeModel(source: ArrayDataset, mode: 'copy' | 'constant'): GenerativeModel {
  return {
    optimizers: [],
    trainStep: () => ({}),
    sample(n, opts) {
      if (mode === 'constant') return tf.fill([n, 8, 8, 1], 0.2);
      const rand = mulberry32(opts?.seed ?? 0);
      return source.gather(Array.from({ length: n }, () => Math.floor(rand() * source.info.size))).x;
    },
    getState: () => ({}),
    setState: () => {},
    summary: () => [],
    dispose: () => {},
  };
}

describe('feature networks', () => {
  it('are deterministic: same seed, same weights, same features; save/load round trip', async () => {
    const spec = { inputShape: [8, 8, 1] as [number, number, number], numClasses: 2, channels: [4, 8] as [number, number], dim: 16 };
    const train = halves(64, 1);
    const test = halves(32, 2);
    const a = FeatureNet.create(spec, 3);
    const b = FeatureNet.create(spec, 3);
    const opts = { epochs: 2, batchSize: 16, lr: 0.01, seed: 5, log: () => {} };
    const accA = await trainFeatureNet(a, train, test, opts);
    const accB = await trainFeatureNet(b, train, test, opts);
    expect(accB).toEqual(accA);
    expect(b.hash()).toBe(a.hash());
    const images = (s: number, c: number) => tf.tidy(() => tf.div(tf.add(test.gather(Array.from({ length: c }, (_, i) => s + i)).x, 1), 2));
    const fa = a.extract(32, images, 10);
    expect(Array.from(b.extract(32, images, 7).features.data)).toEqual(Array.from(fa.features.data));
    const dir = tmp();
    a.save(dir, { dataset: 'halves', datasetOptions: {}, spec, seed: 3, epochs: 2, batchSize: 16, lr: 0.01, shift: 0, testAccuracy: accA.at(-1)!, testExamples: 32, trainExamples: 64, command: 'test', backend: 'cpu', trainedAt: 'now', seconds: 0 });
    const loaded = FeatureNet.load(dir);
    expect(loaded.hash()).toBe(a.hash());
    expect(loaded.card?.testAccuracy).toBe(accA.at(-1));
    expect(Array.from(loaded.extract(32, images).features.data)).toEqual(Array.from(fa.features.data));
    for (const f of [a, b, loaded]) f.dispose();
  });
});

describe('evaluateModel', () => {
  it('scores a perfect generator near the floor and a collapsed one far from it, with the protocol recorded and the reference cached', async () => {
    const spec = { inputShape: [8, 8, 1] as [number, number, number], numClasses: 2, channels: [4, 8] as [number, number], dim: 16 };
    const fnet = FeatureNet.create(spec, 1);
    const netDir = tmp();
    await trainFeatureNet(fnet, halves(128, 1), halves(32, 2), { epochs: 3, batchSize: 16, lr: 0.01, seed: 1, log: () => {} });
    fnet.save(netDir, { dataset: 'halves', datasetOptions: {}, spec, seed: 1, epochs: 3, batchSize: 16, lr: 0.01, shift: 0, testAccuracy: 1, testExamples: 32, trainExamples: 128, command: 'test', backend: 'cpu', trainedAt: 'now', seconds: 0 });
    const sets = { train: halves(400, 11), test: halves(400, 12) };
    const cacheDir = tmp();
    const target = (model: GenerativeModel) => ({
      model,
      info: sets.train.info as DataInfo,
      dataset: { name: 'halves', split: 'train' },
      loadDataset: async (o: Record<string, unknown>) => sets[o.split as 'train' | 'test'],
      cacheDir,
      baseDir: '/',
      log: () => {},
    });
    const opts: EvalOptions = { metrics: ['fid', 'kid', 'is', 'pr', 'dc'], samples: 100, real: 'train', floor: true, seed: 0, batchSize: 64, featureNet: netDir };
    const before = tf.memory().numTensors;
    const good = await evaluateModel(target(fakeModel(sets.test, 'copy')), opts);
    const bad = await evaluateModel(target(fakeModel(sets.test, 'constant')), { ...opts, floor: false }); // the floor is the same: computed once
    expect(tf.memory().numTensors).toBe(before);
    expect(Object.keys(good.values).sort()).toEqual(['coverage', 'density', 'fid', 'is', 'is_std', 'kid', 'kid_std', 'precision', 'recall']);
    expect(Object.keys(good.floor)).toContain('floor/fid');
    // The perfect generator samples the test split: its FID is the floor's order of magnitude.
    expect(good.values.fid!).toBeLessThan(3 * good.floor['floor/fid']! + 0.5);
    expect(bad.values.fid!).toBeGreaterThan(10 * good.values.fid! + 1);
    expect(bad.values.recall!).toBeLessThan(0.05);
    expect(good.values.recall!).toBeGreaterThan(0.5);
    expect(good.protocol).toMatch(/^features=halves-cnn@[0-9a-f]{12}; real=halves\/train\[100\]; fake=100; pixels=as-is; seed=0; floor=halves\/test\[100\]$/);
    expect(good.n).toEqual({ real: 100, fake: 100, floor: 100 });
    expect(good.tags['genlab.eval.protocol.fid']).toBe(good.protocol);
    const cacheFiles = fs.readdirSync(path.join(cacheDir, 'metrics'));
    expect(cacheFiles).toHaveLength(2); // train reference and test floor
    // Changed images under the same config: a new cache entry, not the stale features.
    sets.train = halves(400, 99);
    await evaluateModel(target(fakeModel(sets.test, 'copy')), { ...opts, metrics: ['fid'], floor: false });
    expect(fs.readdirSync(path.join(cacheDir, 'metrics'))).toHaveLength(3);
    expect(formatReport(good)).toContain('real-vs-real floor');
  });

  it('counts modes on toy mixtures without a feature network', async () => {
    const mixture = { means: [[0, 0], [4, 0]], std: 0.1 };
    const rand = mulberry32(1);
    const pts = Float32Array.from({ length: 2000 }, (_, i) => mixture.means[Math.floor(i / 2) % 2]![i % 2]! + 0.1 * (rand() - 0.5));
    const info = { shape: [2], numClasses: 2, range: [-1, 5] as [number, number], mixture };
    const ds = new ArrayDataset({ pixels: pts, labels: Int32Array.from({ length: 1000 }, (_, i) => i % 2) }, info);
    const oneMode: GenerativeModel = { ...fakeModel(ds, 'constant'), sample: (n) => tf.zeros([n, 2]) };
    const report = await evaluateModel(
      { model: oneMode, info: ds.info, dataset: { name: 'toy' }, loadDataset: async () => ds, cacheDir: tmp(), baseDir: '/', log: () => {} },
      { metrics: 'auto', samples: 500, real: 'train', floor: true, seed: 0, batchSize: 100 },
    );
    expect(report.metrics).toEqual(['modes']);
    expect(report.values).toEqual({ modes_covered: 1, high_quality: 1 });
    expect(report.floor).toEqual({ 'floor/modes_covered': 2, 'floor/high_quality': 1 });
  });

  it('reports a likelihood model\'s NLL in nats and bits per dimension, averaged over the test split', async () => {
    const sets = { train: halves(40, 1), test: halves(30, 2) };
    // NLL of a batch = 100 + its mean label, so the average over the batches is known exactly.
    const model: GenerativeModel = { ...fakeModel(sets.test, 'constant'), evaluate: (b) => ({ nll: tf.add(100, tf.mean(tf.cast(b.y, 'float32'))) as tf.Scalar }) };
    const report = await evaluateModel(
      { model, info: sets.train.info, dataset: { name: 'halves' }, loadDataset: async (o) => sets[o.split as 'train' | 'test'], cacheDir: tmp(), baseDir: '/', log: () => {} },
      { metrics: ['nll'], samples: 20, real: 'train', floor: false, seed: 0, batchSize: 10 },
    );
    // Three batches of 10 cover all 30 test images, 15 of each class: mean label 1/2.
    expect(report.values.nll).toBeCloseTo(100.5, 5);
    expect(report.values.bits_per_dim).toBeCloseTo(100.5 / (64 * Math.LN2), 5);
    expect(report.tags['genlab.eval.protocol.nll']).toBe('data=halves/test[30]; estimator=exact');
  });

  it('averages the NLL over every test example when the batch size does not divide the split, and records the estimator', async () => {
    const sets = { train: halves(40, 1), test: halves(25, 2) };
    const labels = Array.from({ length: 25 }, (_, i) => sets.test.label(i));
    const model: GenerativeModel = {
      ...fakeModel(sets.test, 'constant'),
      likelihoodEstimator: 'iwae k=7 seed=0',
      evaluate: (b) => ({ nll: tf.add(100, tf.mean(tf.cast(b.y, 'float32'))) as tf.Scalar }),
    };
    const report = await evaluateModel(
      { model, info: sets.train.info, dataset: { name: 'halves' }, loadDataset: async (o) => sets[o.split as 'train' | 'test'], cacheDir: tmp(), baseDir: '/', log: () => {} },
      { metrics: ['nll'], samples: 20, real: 'train', floor: false, seed: 0, batchSize: 10 },
    );
    // Batches of 10, 10 and 5, weighted by size: the mean over all 25 examples.
    expect(report.values.nll).toBeCloseTo(100 + labels.reduce((a, b) => a + b, 0) / 25, 5);
    expect(report.tags['genlab.eval.protocol.nll']).toBe('data=halves/test[25]; estimator=iwae k=7 seed=0');
    expect(formatReport(report)).toContain('\nnll protocol: data=halves/test[25]; estimator=iwae k=7 seed=0');
  });

  it('refuses impossible metrics and a missing feature network before doing any work', () => {
    const ds = halves(8, 1);
    const model = fakeModel(ds, 'constant');
    const base = { model, info: ds.info, dataset: { name: 'nothing-here' }, baseDir: '/' };
    expect(() => planMetrics(base, { metrics: ['fid'] })).toThrow("no feature network for dataset 'nothing-here': train one with 'pnpm exp features train --dataset nothing-here'");
    expect(() => planMetrics(base, { metrics: ['modes'] })).toThrow("metric 'modes' needs a Gaussian-mixture dataset");
    expect(() => planMetrics(base, { metrics: ['nll'] })).toThrow("metric 'nll' needs a model with its own likelihood");
    expect(() => planMetrics(base, { metrics: ['cas'] })).toThrow("metric 'cas' (accuracy of class-conditional samples) needs a conditional model");
  });
});

describe('the evaluation protocol', () => {
  /** 26 "images" of 3 values, image i all i: 20 in train, 6 in test, so a metric can tell which images it was given. */
  const numbered = () => {
    const source = { pixels: Float32Array.from({ length: 26 * 3 }, (_, k) => Math.floor(k / 3)), labels: Int32Array.from({ length: 26 }, (_, i) => i % 2) };
    const info = { shape: [3], numClasses: 2, range: [0, 100] as [number, number] };
    const view = (from: number, to: number) => new ArrayDataset(source, info, Uint32Array.from({ length: to - from }, (_, i) => from + i));
    return { train: view(0, 20), test: view(20, 26) };
  };
  /** A pixel metric that records the images of each side it is given, by number (first the samples', then the floor's). */
  const recorder = () => {
    const calls: { real: number[]; fake: number[]; fakeValues: Float32Array }[] = [];
    const ids = (s: MetricSet) => Array.from({ length: s.pixels!.n }, (_, i) => s.pixels!.data[i * s.pixels!.d]!);
    const plugin: MetricPlugin = {
      name: 'ids',
      description: 'which images each side holds',
      input: 'pixels',
      compute: ({ real, fake }) => {
        calls.push({ real: ids(real), fake: ids(fake), fakeValues: fake.pixels!.data });
        return { count: fake.pixels!.n };
      },
    };
    return { calls, plugins: new Map([['ids', plugin]]) };
  };
  const constantModel = (shape: number[], value: number): GenerativeModel => ({ ...fakeModel(halves(2, 1), 'constant'), sample: (n) => tf.fill([n, ...shape], value) });
  const evaluate = (sets: { train: ArrayDataset; test: ArrayDataset }, model: GenerativeModel, plugins: EvalTarget['metricPlugins'], opts: Partial<EvalOptions>) =>
    evaluateModel(
      { model, info: sets.train.info, dataset: { name: 'tiny' }, loadDataset: async (o) => sets[o.split as 'train' | 'test'], cacheDir: tmp(), baseDir: '/', log: () => {}, metricPlugins: plugins! },
      { metrics: ['ids'], samples: 10, real: 'train', floor: true, seed: 0, batchSize: 4, ...opts },
    );

  it('computes the floor at the samples\' N from real images outside the reference: the other split, topped up from the reference split', async () => {
    const { calls, plugins } = recorder();
    const report = await evaluate(numbered(), constantModel([3], 0), plugins, {});
    const [scores, floor] = calls;
    const reference = scores!.real;
    expect(new Set(reference).size).toBe(10);
    expect(reference.every((i) => i < 20)).toBe(true); // training images
    expect(floor!.real).toEqual(reference); // the floor is scored against the same reference
    expect(new Set(floor!.fake).size).toBe(10);
    expect(floor!.fake.filter((i) => reference.includes(i))).toEqual([]); // disjoint
    expect(floor!.fake.filter((i) => i >= 20).sort((a, b) => a - b)).toEqual([20, 21, 22, 23, 24, 25]); // the whole test split, then 4 training images
    expect(report.n).toEqual({ real: 10, fake: 10, floor: 10 });
    expect(report.floor).toEqual({ 'floor/count': 10 });
    expect(report.protocol).toBe('features=none; real=tiny/train[10]; fake=10; pixels=as-is; seed=0; floor=tiny/test[6]+train[4]');
    expect(formatReport(report).split('\n')[0]).toMatch(/real-vs-real floor$/);
  });

  it('says so in the protocol and the table when the data have too few real images outside the reference', async () => {
    const { calls, plugins } = recorder();
    const report = await evaluate(numbered(), constantModel([3], 0), plugins, { samples: 15 });
    const [scores, floor] = calls;
    expect(floor!.fake.filter((i) => scores!.real.includes(i))).toEqual([]);
    // Every image is used once: 15 in the reference, the other 11 in the floor.
    expect([...scores!.real, ...floor!.fake].sort((a, b) => a - b)).toEqual(Array.from({ length: 26 }, (_, i) => i));
    expect(report.n).toEqual({ real: 15, fake: 15, floor: 11 });
    expect(report.protocol).toBe('features=none; real=tiny/train[15]; fake=15; pixels=as-is; seed=0; floor=tiny/test[6]+train[5] (short: 11 < fake=15, all the real images outside the reference)');
    expect(report.tags['genlab.eval.protocol.ids']).toBe(report.protocol);
    expect(formatReport(report)).toContain('real-vs-real floor (at N = 11: the data have no more real images outside the reference; the samples are 15)');
  });

  it('takes the floor from the training split when the reference is the test split', async () => {
    const { calls, plugins } = recorder();
    const report = await evaluate(numbered(), constantModel([3], 0), plugins, { real: 'test' });
    expect([...calls[0]!.real].sort((a, b) => a - b)).toEqual([20, 21, 22, 23, 24, 25]);
    expect(calls[1]!.fake.every((i) => i < 20)).toBe(true);
    expect(new Set(calls[1]!.fake).size).toBe(10);
    expect(report.n).toEqual({ real: 6, fake: 10, floor: 10 });
    expect(report.protocol).toBe('features=none; real=tiny/test[6]; fake=10; pixels=as-is; seed=0; floor=tiny/train[10]');
  });

  it('binarises the samples of binary data (a seeded Bernoulli draw per value) and leaves grey data\'s as they are', async () => {
    const rand = mulberry32(3);
    const source = { pixels: Float32Array.from({ length: 40 * 50 }, () => rand()), labels: new Int32Array(40) };
    const info = { shape: [50], numClasses: 0, range: [0, 1] as [number, number] };
    const sets = (binarize: 'none' | 'static') => {
      const view = (from: number, to: number) => new ArrayDataset(source, info, Uint32Array.from({ length: to - from }, (_, i) => from + i), { range: [0, 1], binarize, flip: false });
      return { train: view(0, 20), test: view(20, 40) };
    };
    const run = async (binarize: 'none' | 'static', seed: number) => {
      const { calls, plugins } = recorder();
      const report = await evaluate(sets(binarize), constantModel([50], 0.3), plugins, { samples: 20, floor: false, seed });
      return { fake: calls[0]!.fakeValues, report };
    };
    const binary = await run('static', 0);
    expect(binary.fake.length).toBe(20 * 50);
    expect(binary.fake.every((v) => v === 0 || v === 1)).toBe(true);
    const ones = binary.fake.reduce((a, v) => a + v, 0) / binary.fake.length;
    expect(ones).toBeGreaterThan(0.24); // 1,000 draws of p = 0.3
    expect(ones).toBeLessThan(0.36);
    expect(binary.report.protocol).toBe('features=none; real=tiny/train[20]; fake=20; pixels=binary (fake: bernoulli); seed=0; floor=none');
    expect(Array.from((await run('static', 0)).fake)).toEqual(Array.from(binary.fake)); // seeded by the eval seed
    expect(Array.from((await run('static', 1)).fake)).not.toEqual(Array.from(binary.fake));
    const grey = await run('none', 0);
    expect(grey.fake.every((v) => Math.abs(v - 0.3) < 1e-6)).toBe(true);
    expect(grey.report.protocol).toContain('; pixels=as-is;');
  });

  it('leaves binary samples unchanged and maps the draws to the data range', () => {
    const x = tf.tensor2d([[-1, 1, 1, -1]]);
    expect(Array.from(bernoulliSamples(x, [-1, 1], 7).dataSync())).toEqual([-1, 1, 1, -1]);
    const half = bernoulliSamples(tf.zeros([1, 400]), [-1, 1], 7).dataSync();
    expect(half.every((v) => v === -1 || v === 1)).toBe(true);
    expect(half.some((v) => v === 1) && half.some((v) => v === -1)).toBe(true);
    tf.dispose(x);
  });
});

describe('random shifts', () => {
  it('translate images exactly by whole pixels, filling with zeros', () => {
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 5 * 5 }, (_, i) => (i % 25) + 1), [2, 5, 5, 1]);
    const y = randomShift(x, 1, 3).arraySync() as number[][][][];
    const src = x.arraySync() as number[][][][];
    for (let b = 0; b < 2; b++) {
      // Find the offset from where the value 13 (the centre) landed.
      let found = false;
      for (let dy = -1; dy <= 1 && !found; dy++) {
        for (let dx = -1; dx <= 1 && !found; dx++) {
          let ok = true;
          for (let r = 0; r < 5; r++) for (let c = 0; c < 5; c++) {
            const sr = r + dy;
            const sc = c + dx;
            const want = sr >= 0 && sr < 5 && sc >= 0 && sc < 5 ? src[b]![sr]![sc]![0]! : 0;
            if (y[b]![r]![c]![0] !== want) ok = false;
          }
          found = ok;
        }
      }
      expect(found).toBe(true);
    }
    x.dispose();
  });
});
