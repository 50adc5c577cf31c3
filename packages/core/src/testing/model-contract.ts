/** The contract every model plugin passes (`describeModelContract`). */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import type { DataInfo, ModelPlugin } from '../contracts.js';
import type { ArrayDataset } from '../data.js';
import type { Trainer } from '../trainer.js';
import { minimalConfig } from '../config/schema.js';
import { Registry } from '../registry.js';
import { ensureBackend, randomDataset, testTrainer } from './helpers.js';
import { buildExport, bundleArtifacts, exportManifest, importSampler, loadArtifacts } from '../export/bundle.js';

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
    beforeAll(ensureBackend);

    it('has a name, family, description and a schema that fills defaults', () => {
      expect(plugin.name).toMatch(/^[a-z0-9-]+\/?[a-z0-9-]*$/);
      expect(plugin.family.length).toBeGreaterThan(0);
      expect(plugin.description.length).toBeGreaterThan(10);
      expect(() => plugin.configSchema.parse({})).not.toThrow();
    });

    it('passes its own check on the data it is tested with (validation would let this config run)', () => {
      const cfg = plugin.configSchema.parse(opts.config);
      const result = plugin.check?.(cfg, { data: { ...opts.data, size: batchSize * 2 }, config: minimalConfig({ name: plugin.name, ...(cfg as object) }), registry: new Registry() });
      expect(typeof result === 'string' ? [result] : (result ?? [])).toEqual([]);
    });

    it('declares traits that agree with the model it creates (validation checks metrics against them)', () => {
      const { model, cfg, trainer } = build(4);
      try {
        const traits = plugin.traits?.(cfg, { ...opts.data, size: batchSize * 2 });
        if (traits) expect(traits).toEqual({ conditional: model.conditional === true, likelihood: typeof model.evaluate === 'function' });
      } finally {
        trainer.dispose();
        model.dispose();
      }
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
        // Seed 0 too (tfjs's seeded ops read 0 as "no seed": see noiseSeed).
        const z0 = model.sample(2, { seed: 0 });
        const z1 = model.sample(2, { seed: 0 });
        expect(Array.from(z1.dataSync())).toEqual(Array.from(z0.dataSync()));
        tf.dispose([a, b, z0, z1]);
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

    it('exports graphs that plain tfjs-converter runs to the same samples (when it has exportSpec), without a leak', async () => {
      const { model, dataset, trainer } = build(10);
      try {
        oneStep(trainer, dataset); // batch-norm statistics and EMA weights away from their initial values
        if (!model.exportSpec) return;
        const before = tf.memory().numTensors;
        const bundle = buildExport(model, plugin.name);
        expect(tf.memory().numTensors).toBe(before);
        const manifest = exportManifest(bundle, dataset.info);
        expect(Object.keys(manifest.random).length).toBeGreaterThan(0);
        const artifacts = bundleArtifacts(bundle, { generatedBy: 'contract test' });
        const graphs = Object.fromEntries(await Promise.all(Object.entries(artifacts).map(async ([k, a]) => [k, await loadArtifacts(a)] as const)));
        const sample = await importSampler(bundle.spec.samplerSource);
        const n = 5; // neither of the traced batch sizes
        const inputs = bundle.spec.randomInputs(n, { seed: 7 });
        for (const [name, r] of Object.entries(manifest.random)) expect(inputs[name]?.shape, name).toEqual([n, ...r.shape]);
        const got = await sample(tf, graphs, inputs, manifest);
        const want = model.sample(n, { seed: 7 });
        expect(got.shape).toEqual(want.shape);
        const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]!);
        expect(diff).toBeLessThanOrEqual(1e-5);
        tf.dispose([got, want, ...Object.values(inputs)]);
        for (const g of Object.values(graphs)) g.dispose();
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        trainer.dispose();
        model.dispose();
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
