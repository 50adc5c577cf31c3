/**
 * Test helpers shared by every plugin package (`@genlab/core/testing`): the model-plugin
 * contract test, an in-memory tracker, and a random dataset. Every model plugin runs
 * `describeModelContract`; a new extension point gets its own contract here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import type { DataInfo, DatasetContext, DatasetPlugin, GenerativeModel, ImageDataset, ModelPlugin, RunStatus, Tracker } from '../contracts.js';
import type { z } from 'zod';
import { minimalConfig, type ResolvedConfig, type trainSchema } from '../config/schema.js';
import { MemoryTracker } from '../memory-tracker.js';

export { MemoryTracker };
/** `minimalConfig`, under the name the tests have always used. */
export const testConfig = minimalConfig;
import { ArrayDataset } from '../data.js';
import { mulberry32 } from '../rng.js';
import { Trainer, type TrainerOptions } from '../trainer.js';

/**
 * A dataset of `n` uniform random examples of `info.shape` in `info.range`, with labels.
 * With `info.binary` every value is one of the two ends of the range, each with probability ½.
 */
export function randomDataset(info: Omit<DataInfo, 'size'>, n: number, seed = 1): ArrayDataset {
  const rand = mulberry32(seed);
  const d = info.shape.reduce((a, b) => a * b, 1);
  const [lo, hi] = info.range;
  const value = info.binary ? () => (rand() < 0.5 ? lo : hi) : () => lo + (hi - lo) * rand();
  const pixels = Float32Array.from({ length: n * d }, value);
  const labels = Int32Array.from({ length: n }, (_, i) => (info.numClasses ? i % info.numClasses : 0));
  return new ArrayDataset({ pixels, labels }, info);
}

/**
 * A Trainer for tests around `model` and `dataset`: a memory tracker, no callbacks, no run
 * folder, the current backend; `opts.model` is the config's model section (default
 * `{ name: 'test' }`), `opts.train` its train section as a file would write it, and any other
 * trainer option replaces the default.
 */
export function testTrainer(
  model: GenerativeModel,
  dataset: ImageDataset,
  opts: { model?: ResolvedConfig['model']; train?: z.input<typeof trainSchema>; config?: Partial<Omit<ResolvedConfig, 'train'>> } & Partial<Omit<TrainerOptions, 'model' | 'dataset' | 'config'>> = {},
): Trainer {
  const { model: section = { name: 'test' }, train, config, ...rest } = opts;
  return new Trainer({
    config: minimalConfig(section, { ...config, ...(train ? { train } : {}) }),
    model,
    dataset,
    tracker: new MemoryTracker(),
    callbacks: [],
    runId: 'test',
    runName: 'test',
    runDir: '/nonexistent',
    backend: tf.getBackend(),
    log: () => {},
    ...rest,
  });
}

/** Options for the model contract test. */
export interface ModelContractOptions {
  /** Plugin options (without `name`) to test with; small networks keep the test fast. */
  config: Record<string, unknown>;
  /** Data the model is built for. */
  data: Omit<DataInfo, 'size'>;
  batchSize?: number;
}

/**
 * The shared contract every model plugin passes: config round trip, finite scalars from
 * one step, sample shape and range, exact state round trip, no tensor leak across a warm
 * step (`tf.memory().numTensors` unchanged), and, for models with `diagnose`, finite
 * scalars from it without a leak or a change of weights.
 */
export function describeModelContract<C>(plugin: ModelPlugin<C>, opts: ModelContractOptions): void {
  const batchSize = opts.batchSize ?? 8;
  const build = (seed: number) => {
    const cfg = plugin.configSchema.parse(opts.config);
    const dataset = randomDataset(opts.data, batchSize * 2, seed);
    const model = plugin.create(cfg, { data: dataset.info, seed });
    const trainer = testTrainer(model, dataset, { model: { name: plugin.name, ...(cfg as object) }, train: { steps: 2, batchSize, logEvery: 1 } });
    return { model, dataset, trainer, cfg };
  };
  const oneStep = (trainer: Trainer, dataset: ArrayDataset) => {
    const batch = dataset.gather(Array.from({ length: batchSize }, (_, i) => i));
    try {
      return trainer.trainStep(batch);
    } finally {
      tf.dispose([batch.x, batch.y]);
    }
  };

  describe(`model plugin contract: ${plugin.name}`, () => {
    it('has a name, family, description and a schema that fills defaults', () => {
      expect(plugin.name).toMatch(/^[a-z0-9-]+\/?[a-z0-9-]*$/);
      expect(plugin.family.length).toBeGreaterThan(0);
      expect(plugin.description.length).toBeGreaterThan(10);
      expect(() => plugin.configSchema.parse({})).not.toThrow();
    });

    it('round-trips its config through YAML unchanged', () => {
      const cfg = plugin.configSchema.parse(opts.config);
      const again = plugin.configSchema.parse(parseYaml(toYaml(cfg)));
      expect(again).toEqual(cfg);
    });

    it('rejects unknown options', () => {
      expect(plugin.configSchema.safeParse({ ...opts.config, surelyNotAnOption: 1 }).success).toBe(false);
    });

    it('trains one step with finite scalars and does not leak tensors on a warm step', () => {
      const { model, dataset, trainer } = build(3);
      try {
        const first = oneStep(trainer, dataset);
        expect(Object.keys(first).length).toBeGreaterThan(0);
        for (const [k, v] of Object.entries(first)) expect(Number.isFinite(v), `${k} = ${v}`).toBe(true);
        const before = tf.memory().numTensors;
        oneStep(trainer, dataset);
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        trainer.dispose();
        model.dispose();
      }
    });

    it('samples the data shape inside the data range, reproducibly for a seed', () => {
      const { model, dataset } = build(4);
      try {
        const before = tf.memory().numTensors;
        const a = model.sample(5, { seed: 9 });
        const b = model.sample(5, { seed: 9 });
        expect(a.shape).toEqual([5, ...dataset.info.shape]);
        const [lo, hi] = dataset.info.range;
        const values = a.dataSync();
        expect(Math.min(...values)).toBeGreaterThanOrEqual(lo);
        expect(Math.max(...values)).toBeLessThanOrEqual(hi);
        expect(Array.from(b.dataSync())).toEqual(Array.from(values));
        tf.dispose([a, b]);
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        model.dispose();
      }
    });

    it('restores its exact state into a fresh model', () => {
      const a = build(5);
      const b = build(6);
      try {
        oneStep(a.trainer, a.dataset);
        const state = a.model.getState();
        expect(Object.keys(state).length).toBeGreaterThan(0);
        b.model.setState(state);
        const sa = a.model.sample(3, { seed: 2 });
        const sb = b.model.sample(3, { seed: 2 });
        expect(Array.from(sb.dataSync())).toEqual(Array.from(sa.dataSync()));
        tf.dispose([sa, sb]);
        const firstKey = Object.keys(state)[0]!;
        const wrong = { ...state, [firstKey]: { ...state[firstKey]!, shape: [1, 2, 3], data: new Float32Array(6) } };
        expect(() => b.model.setState(wrong)).toThrow();
      } finally {
        for (const x of [a, b]) {
          x.trainer.dispose();
          x.model.dispose();
        }
      }
    });

    it('diagnoses a batch of real data (when it has diagnose): finite scalars, no leak, weights unchanged', () => {
      const { model, dataset } = build(8);
      try {
        if (!model.diagnose) return;
        const batch = dataset.gather(Array.from({ length: batchSize }, (_, i) => i));
        const weights = model.getState();
        const before = tf.memory().numTensors;
        const out = tf.tidy(() => model.diagnose!(batch));
        expect(Object.keys(out).length).toBeGreaterThan(0);
        for (const [k, v] of Object.entries(out)) {
          expect(v.shape, k).toEqual([]);
          expect(Number.isFinite(v.dataSync()[0]), k).toBe(true);
        }
        tf.dispose(Object.values(out));
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([batch.x, batch.y]);
        expect(model.getState()).toEqual(weights);
      } finally {
        model.dispose();
      }
    });

    it('reports parameter counts', () => {
      const { model } = build(7);
      try {
        const summary = model.summary();
        expect(summary.length).toBeGreaterThan(0);
        for (const g of summary) expect(g.params).toBeGreaterThan(0);
      } finally {
        model.dispose();
      }
    });
  });
}

/** Options for the dataset contract test. */
export interface DatasetContractOptions {
  /** Plugin options (without `name`). */
  config: Record<string, unknown>;
  /** Load context (folders for fixtures and caches). Defaults: the working folder and a temp cache. */
  context: DatasetContext;
  /** What `info` must contain (shape, classes, size, …). */
  expect?: Partial<DataInfo>;
  batchSize?: number;
  /**
   * More option sets (without `name`) whose `describe` must agree with `load` (splits, class
   * filters, subsets, binarisation: whatever changes the info). `config` is always checked.
   */
  describeAlso?: Record<string, unknown>[];
}

/**
 * The shared contract every dataset plugin passes: its schema fills defaults and refuses
 * unknown keys; it loads the configured data; batches have the declared shape, dtype and
 * range with labels below `numClasses`; the order is a function of (seed, epoch); a
 * resumed epoch (`startBatch`) replays the same batches; no tensor outlives its batch.
 */
export function describeDatasetContract<C>(plugin: DatasetPlugin<C>, opts: DatasetContractOptions): void {
  const batchSize = opts.batchSize ?? 4;
  const load = () => plugin.load(plugin.configSchema.parse(opts.config), opts.context);
  const epoch = async (ds: ImageDataset, seed: number, ep: number, startBatch = 0, limit = 3) => {
    const out: { x: number[]; y: number[] }[] = [];
    for await (const b of ds.batches({ batchSize, epoch: ep, startBatch, seed })) {
      expect(b.x.shape).toEqual([batchSize, ...ds.info.shape]);
      expect(b.x.dtype).toBe('float32');
      expect(b.y.shape).toEqual([batchSize]);
      expect(b.y.dtype).toBe('int32');
      out.push({ x: Array.from(b.x.dataSync()), y: Array.from(b.y.dataSync()) });
      tf.dispose([b.x, b.y]);
      if (out.length === limit) break;
    }
    return out;
  };

  describe(`dataset plugin contract: ${plugin.name}`, () => {
    it('has a name, a description and a schema that refuses unknown keys', () => {
      expect(plugin.name).toMatch(/^[a-z0-9-]+(\/[a-z0-9-]+)?$/);
      expect(plugin.description.length).toBeGreaterThan(10);
      expect(plugin.configSchema.safeParse({ ...opts.config, surelyNotAnOption: 1 }).success).toBe(false);
    });

    it('loads with consistent info and serves valid batches', async () => {
      const ds = await load();
      try {
        expect(ds.info.size).toBeGreaterThanOrEqual(batchSize);
        if (opts.expect) expect(ds.info).toMatchObject(opts.expect);
        if (ds.info.classNames) expect(ds.info.classNames.length).toBe(ds.info.numClasses);
        expect(ds.batchesPerEpoch(batchSize)).toBe(Math.floor(ds.info.size / batchSize));
        const [lo, hi] = ds.info.range;
        for (const b of await epoch(ds, 1, 0)) {
          for (const v of b.x) {
            expect(Number.isFinite(v)).toBe(true);
            expect(v).toBeGreaterThanOrEqual(lo);
            expect(v).toBeLessThanOrEqual(hi);
          }
          for (const y of b.y) expect(y).toBeGreaterThanOrEqual(0);
          if (ds.info.numClasses > 0) for (const y of b.y) expect(y).toBeLessThan(ds.info.numClasses);
        }
      } finally {
        ds.dispose?.();
      }
    });

    it('describes the data it loads (when it has describe): the same info, without decoding', async () => {
      if (!plugin.describe) return;
      for (const config of [opts.config, ...(opts.describeAlso ?? [])]) {
        const cfg = plugin.configSchema.parse(config);
        const described = await plugin.describe(cfg, opts.context);
        const ds = await plugin.load(cfg, opts.context);
        try {
          expect(described, JSON.stringify(config)).toEqual(ds.info);
        } finally {
          ds.dispose?.();
        }
      }
    });

    it('orders batches by (seed, epoch), resumes mid-epoch exactly and leaks no tensors', async () => {
      const ds = await load();
      try {
        const before = tf.memory().numTensors;
        const a = await epoch(ds, 7, 0);
        expect(await epoch(ds, 7, 0)).toEqual(a);
        if (ds.batchesPerEpoch(batchSize) >= 3) expect(await epoch(ds, 7, 0, 1, 2)).toEqual(a.slice(1));
        if (ds.info.size >= 4 * batchSize) {
          const other = await epoch(ds, 7, 1);
          expect(other).not.toEqual(a);
        }
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        ds.dispose?.();
      }
    });
  });
}
