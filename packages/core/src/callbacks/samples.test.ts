import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { Batch, GenerativeModel, StateDict } from '../contracts.js';
import { decodePng } from '../image.js';
import { optimizerSchema } from '../optim.js';
import { MemoryTracker, randomDataset, testConfig } from '../testing/index.js';
import { Trainer } from '../trainer.js';
import { samplesCallback } from './samples.js';

/** A model of 4×4 grey images with a `previews` hook that records the batches it is given. */
function previewModel(seen: { x: number[]; y: number[]; seed: number }[], withPreviews = true): GenerativeModel {
  const w = tf.variable(tf.zeros([1]));
  const model: GenerativeModel = {
    optimizers: [{ name: 'main', config: optimizerSchema.parse({}) }],
    trainStep: (_b, ctx) => ({ loss: ctx.optimize('main', () => tf.sum(tf.square(tf.sub(w, 1))) as tf.Scalar, [w]) }),
    sample: (n) => tf.fill([n, 4, 4, 1], 0.5),
    getState: (): StateDict => ({ w: { shape: [1], dtype: 'float32', data: Float32Array.from(w.dataSync()) } }),
    setState: () => {},
    summary: () => [{ name: 'w', params: 1 }],
    dispose: () => w.dispose(),
  };
  if (withPreviews) {
    model.previews = (batch: Batch, opts) => {
      seen.push({ x: Array.from(batch.x.dataSync()), y: Array.from(batch.y.dataSync()), seed: opts.seed });
      return tf.tidy(() => ({
        // A grid of 2 rows × 3 columns, and a flat batch of 4 (laid out 2 × 2).
        pairs: tf.reshape(tf.slice(batch.x, 0, 6), [2, 3, 4, 4, 1]),
        flat: tf.slice(batch.x, 0, 4),
      }));
    };
  }
  return model;
}

async function run(model: GenerativeModel, previews: number) {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-samples-'));
  const dataset = randomDataset({ shape: [4, 4, 1], numClasses: 3, range: [0, 1] }, 40, 2);
  const tracker = new MemoryTracker();
  const trainer = new Trainer({
    config: testConfig({ name: 'preview' }, { train: { steps: 4, batchSize: 8, logEvery: 1 } }),
    model,
    dataset,
    tracker,
    callbacks: [samplesCallback.create(samplesCallback.configSchema.parse({ every: 2, n: 4, previews }))],
    runId: 'r',
    runName: 'r',
    runDir,
    backend: 'cpu',
    log: () => {},
  });
  const before = tf.memory().numTensors;
  const result = await trainer.run();
  trainer.dispose();
  return { runDir, tracker, dataset, result, leaked: tf.memory().numTensors - before };
}

describe('samples callback: model previews', () => {
  it('draws the previews of one fixed real batch at every grid, as samples/<name>/<label>.png artifacts', async () => {
    const seen: { x: number[]; y: number[]; seed: number }[] = [];
    const model = previewModel(seen);
    const { runDir, tracker, dataset, result, leaked } = await run(model, 6);
    model.dispose();
    expect(result.status).toBe('FINISHED');
    expect(leaked).toBe(0);
    // Grids at step 2 and at the end; the same batch of 6 real examples and seed each time.
    expect(seen).toHaveLength(2);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[0]!.x).toHaveLength(6 * 16);
    // The first batch of epoch 0 in the fixed preview order (seed 0), not the training order.
    const first = await dataset.batches({ batchSize: 6, epoch: 0, startBatch: 0, seed: 0 })[Symbol.asyncIterator]().next();
    expect(Array.from(first.value!.x.dataSync())).toEqual(seen[0]!.x);
    expect(Array.from(first.value!.y.dataSync())).toEqual(seen[0]!.y);
    tf.dispose([first.value!.x, first.value!.y]);

    for (const label of ['step-0000002', 'final']) {
      // [2, 3, …]: 3 columns of 4 + 2 px padding, 2 rows; [4, …]: 2 × 2.
      const pairs = decodePng(fs.readFileSync(path.join(runDir, 'samples', 'pairs', `${label}.png`)));
      expect([pairs.width, pairs.height]).toEqual([3 * 6 + 2, 2 * 6 + 2]);
      const flat = decodePng(fs.readFileSync(path.join(runDir, 'samples', 'flat', `${label}.png`)));
      expect([flat.width, flat.height]).toEqual([2 * 6 + 2, 2 * 6 + 2]);
      expect(fs.existsSync(path.join(runDir, 'samples', `${label}.png`))).toBe(true);
    }
    const logged = tracker.artifacts.map((a) => `${a.artifactPath}/${path.basename(a.localPath)}`);
    expect(logged).toEqual([
      'samples/step-0000002.png',
      'samples/pairs/step-0000002.png',
      'samples/flat/step-0000002.png',
      'samples/final.png',
      'samples/pairs/final.png',
      'samples/flat/final.png',
    ]);
  });

  it('draws nothing more for a model without previews, or with previews: 0', async () => {
    for (const [model, previews] of [
      [previewModel([], false), 16],
      [previewModel([]), 0],
    ] as const) {
      const { runDir, tracker } = await run(model, previews);
      model.dispose();
      expect(fs.readdirSync(path.join(runDir, 'samples')).sort()).toEqual(['final.png', 'step-0000002.png']);
      expect(tracker.artifacts.map((a) => a.artifactPath)).toEqual(['samples', 'samples']);
    }
  });

  it('names a preview of the wrong shape', async () => {
    const model = previewModel([]);
    model.previews = () => ({ bad: tf.zeros([2, 3, 3, 1]) });
    const { result } = await run(model, 4);
    model.dispose();
    expect(result.status).toBe('FAILED');
    expect(String((result.error as Error).message)).toContain("preview 'bad' has shape [2, 3, 3, 1]; expected [n, 4, 4, 1] or [rows, cols, 4, 4, 1]");
  });
});
