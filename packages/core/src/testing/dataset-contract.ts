/** The contract every dataset plugin passes (`describeDatasetContract`). */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataInfo, DatasetContext, DatasetPlugin, ImageDataset } from '../contracts.js';
import { ensureBackend } from './helpers.js';

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
    beforeAll(ensureBackend);

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
