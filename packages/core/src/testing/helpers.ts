/** Building blocks of the contract tests: a random dataset, a test trainer, a tiny model. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { DataInfo, GenerativeModel, ImageDataset, ModelPlugin } from '../contracts.js';
import { minimalConfig, type ResolvedConfig, type trainSchema } from '../config/schema.js';
import { ArrayDataset } from '../data.js';
import { registerHigherOrderGradients } from '../gradients.js';
import { MemoryTracker } from '../memory-tracker.js';
import { optimizerSchema } from '../optim.js';
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

/** A fresh temporary folder (for run folders, stores, fixtures). */
export function tempDir(prefix = 'genlab-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The smallest real model, for contract tests of callbacks, trackers and metrics: one weight
 * per value of an example, trained towards the data mean by SGD; samples are that mean (in
 * the data range) plus seeded noise, clipped to the range.
 */
export const tinyModel: ModelPlugin<Record<string, never>> = {
  name: 'test/tiny',
  family: 'test',
  description: 'one weight per value, trained towards the data mean (contract tests)',
  configSchema: z.object({}).strict() as unknown as ModelPlugin<Record<string, never>>['configSchema'],
  create(_cfg, { data, seed }): GenerativeModel {
    const [lo, hi] = data.range;
    const w = tf.tidy(() => tf.variable(tf.fill(data.shape, (lo + hi) / 2), true));
    return {
      optimizers: [{ name: 'main', config: optimizerSchema.parse({ type: 'sgd', lr: 0.1 }) }],
      trainStep(batch, ctx) {
        const loss = ctx.optimize('main', () => tf.mean(tf.square(tf.sub(batch.x, w))) as tf.Scalar, [w]);
        return { loss };
      },
      sample(n, opts = {}) {
        return tf.tidy(() => tf.clipByValue(tf.add(w, tf.randomNormal([n, ...data.shape], 0, 0.1 * (hi - lo), 'float32', opts.seed ?? seed)), lo, hi));
      },
      getState: () => ({ w: { shape: w.shape.slice(), dtype: 'float32', data: Float32Array.from(w.dataSync()) } }),
      setState(state) {
        const e = state.w;
        if (!e || !tf.util.arraysEqual(e.shape, w.shape)) throw new Error(`state 'w' must have shape [${w.shape.join(', ')}]`);
        tf.tidy(() => w.assign(tf.tensor(e.data, e.shape, 'float32')));
      },
      summary: () => [{ name: 'w', params: w.size }],
      dispose: () => w.dispose(),
    };
  },
};

/**
 * Make sure a backend runs the tests: the one the test setup chose, else the cpu backend
 * (the reference every faster kernel is checked against), with the gradients second-order
 * derivatives need. Every contract suite calls it first, so a plugin project's test needs no
 * setup file.
 */
export async function ensureBackend(): Promise<void> {
  tf.env().set('PROD', true); // no "install tfjs-node" banner in test output
  let ready = false;
  try {
    ready = Boolean(tf.getBackend());
  } catch {
    // No backend registered yet.
  }
  if (!ready) {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
  }
  registerHigherOrderGradients();
}
