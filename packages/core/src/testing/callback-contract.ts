/**
 * The contract every callback plugin passes (`describeCallbackContract`): a schema that fills
 * defaults and refuses unknown keys; its own check passes on the test data; a short training
 * run with it ends FINISHED, every value it reports is a finite number, and no tensor
 * outlives the run; state kept in checkpoints survives JSON and restores into a fresh instance.
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Callback, CallbackPlugin, DataInfo, Report } from '../contracts.js';
import { minimalConfig } from '../config/schema.js';
import { Registry } from '../registry.js';
import { ensureBackend, randomDataset, tempDir, testTrainer, tinyModel } from './helpers.js';

/** Options for the callback contract test. */
export interface CallbackContractOptions {
  /** Callback options (its section) to test with. Default: `{}`. */
  config?: Record<string, unknown>;
  /** Data of the test run. Default: 8×8 grey images in [-1, 1], 4 classes. */
  data?: Omit<DataInfo, 'size'>;
  /** Steps of the test run (default 6, batches of 4). */
  steps?: number;
  /** Plugins the callback looks up (metrics, …); default: an empty registry. */
  registry?: Registry;
  /** Keys the callback must report during the run (`run.report`). */
  reports?: string[];
}

/** Other splits of the test data (`RunInfo.loadDataset`): a fresh random set of the same info. */
const reload = (data: Omit<DataInfo, 'size'>) => () => Promise.resolve(randomDataset(data, 32, 9));

const DEFAULT_DATA: Omit<DataInfo, 'size'> = { shape: [8, 8, 1], numClasses: 4, range: [-1, 1] };

export function describeCallbackContract<C>(plugin: CallbackPlugin<C>, opts: CallbackContractOptions = {}): void {
  const data = opts.data ?? DEFAULT_DATA;
  const steps = opts.steps ?? 6;
  const registry = opts.registry ?? new Registry();
  const options = () => plugin.configSchema.parse(opts.config ?? {});
  const train = { steps, batchSize: 4, logEvery: 2 };
  const callbacks = () => ({ [plugin.name]: options() as Record<string, unknown> });
  const config = () => minimalConfig({ name: tinyModel.name }, { callbacks: callbacks(), train });

  describe(`callback plugin contract: ${plugin.name}`, () => {
    beforeAll(ensureBackend);

    it('has a name, a description and a schema that fills defaults and refuses unknown keys', () => {
      expect(plugin.name).toMatch(/^[a-z0-9-]+(\/[a-z0-9-]+)?$/);
      expect(plugin.description.length).toBeGreaterThan(10);
      expect(typeof plugin.enabledByDefault).toBe('boolean');
      expect(() => plugin.configSchema.parse(opts.config ?? {})).not.toThrow();
      expect(plugin.configSchema.safeParse({ ...(opts.config ?? {}), surelyNotAnOption: 1 }).success).toBe(false);
    });

    it('passes its own check on the test data', () => {
      const result = plugin.check?.(options(), { data: { ...data, size: 32 }, config: config(), registry });
      expect(typeof result === 'string' ? [result] : (result ?? [])).toEqual([]);
    });

    it('runs through a short training run: FINISHED, finite reports, no tensor left behind', async () => {
      const before = tf.memory().numTensors;
      const dataset = randomDataset(data, 32, 3);
      const model = tinyModel.create({}, { data: dataset.info, seed: 1 });
      const reports: Report[] = [];
      const recorder: Callback = { name: 'contract-recorder', onReport: (_run, r) => void reports.push(r) };
      const runDir = tempDir('genlab-callback-contract-');
      const trainer = testTrainer(model, dataset, { model: { name: tinyModel.name }, train, config: { callbacks: callbacks() }, callbacks: [plugin.create(options(), { registry }), recorder], runDir, loadDataset: reload(data) });
      try {
        const result = await trainer.run();
        expect(result.error, String(result.error)).toBeUndefined();
        expect(result.status).toBe('FINISHED');
        expect(result.step).toBe(steps);
        for (const r of reports) for (const [k, v] of Object.entries(r.values)) expect(Number.isFinite(v), `${k} = ${v}`).toBe(true);
        const reported = new Set(reports.flatMap((r) => Object.keys(r.values)));
        for (const key of opts.reports ?? []) expect(reported.has(key), `reported ${key}`).toBe(true);
      } finally {
        trainer.dispose();
        model.dispose();
        fs.rmSync(runDir, { recursive: true, force: true });
      }
      expect(tf.memory().numTensors).toBe(before);
    });

    it('keeps its checkpointed state through JSON and restores it into a fresh instance', async () => {
      const cb = plugin.create(options(), { registry });
      if (!cb.saveState) return;
      const dataset = randomDataset(data, 32, 4);
      const model = tinyModel.create({}, { data: dataset.info, seed: 2 });
      const runDir = tempDir('genlab-callback-contract-');
      const trainer = testTrainer(model, dataset, { model: { name: tinyModel.name }, train, config: { callbacks: callbacks() }, callbacks: [cb], runDir, loadDataset: reload(data) });
      try {
        await trainer.run();
        const state = cb.saveState();
        const json = JSON.parse(JSON.stringify(state ?? null)) as unknown;
        expect(json).toEqual(state ?? null);
        const fresh = plugin.create(options(), { registry });
        fresh.loadState?.(json);
        expect(fresh.saveState?.()).toEqual(state);
      } finally {
        trainer.dispose();
        model.dispose();
        fs.rmSync(runDir, { recursive: true, force: true });
      }
    });
  });
}
