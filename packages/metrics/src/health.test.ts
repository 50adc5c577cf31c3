import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ArrayDataset, type Batch, type GenerativeModel, type ImageDataset, mulberry32, trackerCallback, Trainer } from '@genlab/core';
import { MemoryTracker, testConfig } from '@genlab/core/testing';
import { accuracy, FeatureNet, trainFeatureNet } from './features.js';
import { halves } from './fixtures.test-util.js';
import { classStats, healthCallback } from './health.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-health-'));

describe('classStats', () => {
  it('computes normalised entropy, largest share and present classes in float64', () => {
    // p = (0.7, 0.3, 0, 0): H = −(0.7 ln 0.7 + 0.3 ln 0.3) / ln 4.
    const s = classStats([70, 30, 0, 0], 0.1);
    expect(s.entropy).toBeCloseTo(-(0.7 * Math.log(0.7) + 0.3 * Math.log(0.3)) / Math.log(4), 12);
    expect(s).toMatchObject({ maxShare: 0.7, argMax: 0, present: 2 });
    expect(classStats([25, 25, 25, 25], 0.1)).toMatchObject({ entropy: 1, maxShare: 0.25, present: 4 });
    expect(classStats([0, 100, 0], 0.1)).toMatchObject({ entropy: 0, maxShare: 1, argMax: 1, present: 1 });
    // presentAt/K: with K = 4 and presentAt 0.5 a class needs 12.5 %: 12 of 100 is not enough.
    expect(classStats([12, 13, 75, 0], 0.5).present).toBe(2);
  });
});

/**
 * A "generator" of halves images: in every call, example i is a left-half image (class 0)
 * when i mod 10 < `leftPer10`, else a right-half one, drawn from fixed pools; `diagnose`
 * reports the batch mean as `d_real_pos`.
 */
function halvesModel(leftPer10: number, withDiagnose = true): GenerativeModel {
  const pool = halves(200, 5);
  const left = Array.from({ length: 100 }, (_, i) => 2 * i);
  const right = Array.from({ length: 100 }, (_, i) => 2 * i + 1);
  return {
    optimizers: [],
    trainStep: () => ({}),
    sample(n, opts) {
      const rand = mulberry32(opts?.seed ?? 0);
      const at = Array.from({ length: n }, (_, i) => (i % 10 < leftPer10 ? left : right)[Math.floor(rand() * 100)]!);
      const b = pool.gather(at);
      b.y.dispose();
      return b.x;
    },
    ...(withDiagnose ? { diagnose: (batch: Batch) => ({ d_real_pos: tf.mean<tf.Scalar>(batch.x) }) } : {}),
    getState: () => ({}),
    setState: () => {},
    summary: () => [],
    dispose: () => {},
  };
}

/** Mean of every value of a dataset, in float64. */
function datasetMean(ds: ArrayDataset): number {
  const { x } = ds.rows(Array.from({ length: ds.info.size }, (_, i) => i));
  return x.reduce((a, v) => a + v, 0) / x.length;
}

async function train(opts: {
  model: GenerativeModel;
  dataset: ImageDataset;
  datasetName?: string;
  health: Record<string, unknown>;
  steps?: number;
  loadDataset?: (o: Record<string, unknown>) => Promise<ImageDataset>;
}) {
  const tracker = new MemoryTracker();
  const logs: string[] = [];
  const t = new Trainer({
    config: testConfig({ name: 'fake' }, { dataset: { name: opts.datasetName ?? 'halves', split: 'train' }, train: { steps: opts.steps ?? 4, batchSize: 8, logEvery: 100 } }),
    model: opts.model,
    dataset: opts.dataset,
    tracker,
    callbacks: [healthCallback.create(healthCallback.configSchema.parse(opts.health)), trackerCallback.create({})],
    runId: 'r',
    runName: 'r',
    runDir: '/nonexistent',
    backend: 'cpu',
    log: (m) => logs.push(m),
    loadDataset: opts.loadDataset ?? (() => Promise.reject(new Error('no other split here'))),
  });
  const result = await t.run();
  t.dispose();
  const reported = tracker.metrics.filter((m) => Object.keys(m.values).some((k) => k.startsWith('health/')));
  return { result, tracker, logs, reported };
}

describe('health callback', () => {
  let netDir: string;
  beforeAll(async () => {
    // A feature network for the halves images, trained to perfect accuracy on held-out data.
    const spec = { inputShape: [8, 8, 1] as [number, number, number], numClasses: 2, channels: [4, 8] as [number, number], dim: 16 };
    const fnet = FeatureNet.create(spec, 1);
    await trainFeatureNet(fnet, halves(128, 1), halves(32, 2), { epochs: 3, batchSize: 16, lr: 0.01, seed: 1, log: () => {} });
    expect(await accuracy(fnet, halves(200, 5))).toBe(1);
    netDir = tmp();
    fnet.save(netDir, { dataset: 'halves', datasetOptions: {}, spec, seed: 1, epochs: 3, batchSize: 16, lr: 0.01, shift: 0, testAccuracy: 1, testExamples: 32, trainExamples: 128, command: 'test', backend: 'cpu', trainedAt: 'now', seconds: 0 });
    fnet.dispose();
  });

  it('reports the class histogram of samples under the domain classifier every N steps, with the real reference as tags', async () => {
    const before = tf.memory().numTensors;
    const { result, reported, tracker, logs } = await train({
      model: halvesModel(7, false),
      dataset: halves(64, 11),
      health: { every: 2, classes: { samples: 200, batchSize: 100, featureNet: netDir }, diagnose: false },
    });
    expect(result.status).toBe('FINISHED');
    expect(tf.memory().numTensors).toBe(before);
    expect(reported.map((m) => m.step)).toEqual([2, 4]);
    // 70 % left, 30 % right, every one classified correctly: the float64 values of classStats.
    const h = -(0.7 * Math.log(0.7) + 0.3 * Math.log(0.3)) / Math.log(2);
    const v = reported[0]!.values;
    expect(Object.keys(v).sort()).toEqual(['health/class_entropy', 'health/classes_present', 'health/max_class_share']);
    expect(v['health/class_entropy']).toBeCloseTo(h, 6);
    expect(v['health/max_class_share']).toBeCloseTo(0.7, 6);
    expect(v['health/classes_present']).toBe(2);
    // The real training data is balanced (32 of each class): entropy 1.
    expect(tracker.tags['genlab.health.real_class_entropy']).toBe('1.0000');
    expect(tracker.tags['genlab.health.real_classes_present']).toBe('2');
    // 0.881 ≥ 0.8 × 1: no warning.
    expect(logs.filter((l) => l.startsWith('health:'))).toEqual([]);
  });

  it('warns when the samples collapse onto fewer classes than the real data', async () => {
    const { reported, logs } = await train({
      model: halvesModel(10, false),
      dataset: halves(64, 11),
      health: { every: 4, classes: { samples: 100, featureNet: netDir }, diagnose: false },
    });
    expect(reported[0]!.values).toEqual({ 'health/class_entropy': 0, 'health/max_class_share': 1, 'health/classes_present': 1 });
    expect(logs).toContain("health: possible mode collapse at step 4: class entropy 0.00 (real data 1.00), largest class 100 % ('left'), 1 of 2 classes present (real data 2)");
  });

  it('compares the model diagnostics on a fixed training batch and a held-out batch, and warns on a large gap', async () => {
    const trainSet = halves(64, 11);
    const testSet = halves(48, 12);
    const splits: string[] = [];
    const run = (test: ArrayDataset) =>
      train({
        model: halvesModel(5),
        dataset: trainSet,
        health: { every: 2, classes: false, diagnose: { examples: 64, warnGap: 0.2 } },
        loadDataset: async (o) => {
          splits.push(String(o.split));
          return test;
        },
      });
    const near = await run(testSet);
    expect(splits).toEqual(['test']); // loaded once
    const v = near.reported[0]!.values;
    // Both batches hold every example of their split (examples ≥ size): the means of the sets.
    expect(v['health/d_real_pos_train']).toBeCloseTo(datasetMean(trainSet), 5);
    expect(v['health/d_real_pos_test']).toBeCloseTo(datasetMean(testSet), 5);
    expect(v['health/d_real_pos_gap']).toBeCloseTo(datasetMean(trainSet) - datasetMean(testSet), 5);
    expect(near.logs.filter((l) => l.startsWith('health:'))).toEqual([]);

    const dark = new ArrayDataset({ pixels: new Uint8Array(16 * 64), labels: new Int32Array(16) }, { shape: [8, 8, 1], numClasses: 2, range: [-1, 1] }, undefined, { range: [-1, 1], binarize: 'none', flip: false });
    const far = await run(dark);
    const gap = datasetMean(trainSet) + 1;
    expect(far.reported[0]!.values['health/d_real_pos_gap']).toBeCloseTo(gap, 5);
    expect(far.logs).toContain(`health: possible over-fitting at step 2: d_real_pos is ${datasetMean(trainSet).toFixed(2)} on training data, -1.00 on held-out data (gap ${gap.toFixed(2)} > 0.2)`);
  });

  it('skips the diagnostics for models without diagnose (no held-out data loaded)', async () => {
    const { result, reported } = await train({ model: halvesModel(5, false), dataset: halves(64, 11), health: { every: 2, classes: false } });
    expect(result.status).toBe('FINISHED');
    expect(reported).toEqual([]);
  });

  it('fails before training, naming the option, when the dataset has no feature network', async () => {
    const { result } = await train({ model: halvesModel(5), dataset: halves(64, 11), datasetName: 'nothing-here', health: { every: 2 } });
    expect(result).toMatchObject({ status: 'FAILED', step: 0 });
    expect(result.reason).toMatch(/callback 'health' failed in onRunStart: no feature network for dataset 'nothing-here': train one with 'pnpm exp features train --dataset nothing-here'.* or set callbacks\.health\.classes\.featureNet \(or callbacks\.health\.classes: false\)/);
  });

  it('counts modes on toy mixtures without a feature network, and warns about uncovered modes', async () => {
    const mixture = { means: [[2, 0], [0, 2], [-2, 0], [0, -2]], std: 0.05 };
    const rand = mulberry32(3);
    const n = 400;
    const pixels = Float32Array.from({ length: 2 * n }, (_, i) => mixture.means[Math.floor(i / 2) % 4]![i % 2]! + 0.05 * (rand() - 0.5));
    const ring = new ArrayDataset({ pixels, labels: Int32Array.from({ length: n }, (_, i) => i % 4) }, { shape: [2], numClasses: 4, range: [-3, 3], mixture });
    // Samples on modes 0 and 1 only, alternately, exactly at the centres.
    const twoModes: GenerativeModel = { ...halvesModel(5, false), sample: (k) => tf.tensor2d(Array.from({ length: k }, (_, i) => mixture.means[i % 2]!)) };
    const { reported, tracker, logs } = await train({ model: twoModes, dataset: ring, datasetName: 'toy2d', health: { every: 4, classes: { samples: 200 } } });
    expect(reported[0]!.values).toEqual({
      'health/class_entropy': 0.5, // ln 2 / ln 4
      'health/max_class_share': 0.5,
      'health/classes_present': 2,
      'health/modes_covered': 2,
      'health/high_quality': 1,
    });
    expect(tracker.tags['genlab.health.real_modes_covered']).toBe('4');
    expect(logs.some((l) => /^health: possible mode collapse at step 4: .*, 2 of 4 classes present \(real data 4\), 2 of 4 modes covered$/.test(l))).toBe(true);
  });

  it('has a schema that fills defaults and refuses unknown keys', () => {
    expect(healthCallback.enabledByDefault).toBe(false);
    expect(healthCallback.configSchema.parse({})).toEqual({
      every: 500,
      classes: { samples: 1000, seed: 0, presentAt: 0.1, warnEntropy: 0.8, batchSize: 500 },
      diagnose: { examples: 512, warnGap: 0.2, seed: 0 },
    });
    expect(healthCallback.configSchema.safeParse({ classes: { sample: 10 } }).success).toBe(false);
    expect(healthCallback.configSchema.safeParse({ diagnose: false, classes: false }).success).toBe(true);
  });
});
