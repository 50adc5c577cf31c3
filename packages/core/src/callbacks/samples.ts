/**
 * Sample grids: a PNG of samples every N steps and at the end, drawn from the same fixed
 * latent noise each time so grids are comparable over training. Saved under
 * `<runDir>/samples/` and logged to the tracker as artifacts. Models with a `previews` hook
 * (e.g. a VAE's reconstructions and interpolations) also get their pictures of a fixed batch
 * of real data drawn at the same steps, under `samples/<name>/`.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Batch, Callback, CallbackPlugin, DataInfo, GenerativeModel, ImageDataset, RunInfo, RunStatus, StepEnd } from '../contracts.js';
import { writeFileAtomic } from '../fs.js';
import { encodeGrid, encodeScatter } from '../image.js';
import { deriveSeed, SeedStream } from '../rng.js';

const schema = z
  .object({
    /** Steps between grids (0: only the final grid). */
    every: z.number().int().min(0).default(500),
    /** Images per grid. */
    n: z.number().int().positive().max(1024).default(64),
    /** Real examples given to the model's `previews` hook (reconstructions, interpolations…) at every grid; 0: none. */
    previews: z.number().int().min(0).max(256).default(16),
  })
  .strict();
type Options = z.infer<typeof schema>;

/** Points drawn in a scatter plot of 2-D samples (a 64-point grid says little about a mixture). */
const SCATTER_POINTS = 2000;

/**
 * Write a picture of samples from `run.model` (noise from `seed`) to `file`: a grid of `n`
 * images, or a scatter plot of 2-D points (with the mixture's centres when known). Returns
 * false for data it cannot draw.
 */
export function writeSampleGrid(run: Pick<RunInfo, 'model' | 'dataset'>, n: number, seed: number, file: string): boolean {
  const info = run.dataset.info;
  const shape = info.shape;
  const scatter = shape.length === 1 && shape[0] === 2;
  if (shape.length !== 3 && !scatter) return false;
  const count = scatter ? Math.max(n, SCATTER_POINTS) : n;
  const samples = run.model.sample(count, { seed });
  let png: Buffer;
  try {
    const data = samples.dataSync() as Float32Array;
    if (scatter) {
      png = encodeScatter({ points: data, range: info.range, centres: info.mixture?.means });
    } else {
      const [h, w, c] = shape as [number, number, number];
      png = encodeGrid({ data, n, h, w, c, range: info.range });
    }
  } finally {
    samples.dispose();
  }
  writeFileAtomic(file, png);
  return true;
}

/** Seed of the order the preview batch is drawn in: fixed, so every run of a dataset previews the same examples. */
const PREVIEW_DATA_SEED = 0;

/** Values of a batch of real data, kept in JS so no tensor outlives a call. */
interface HostBatch {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

/**
 * The first batch of `n` examples (at most the dataset's size) of epoch 0 in a fixed order:
 * the same examples at every step and in every run of the dataset. Undefined for an empty set.
 */
export async function previewBatch(dataset: ImageDataset, n: number): Promise<HostBatch | undefined> {
  const size = Math.min(n, dataset.info.size);
  if (size === 0) return undefined;
  for await (const b of dataset.batches({ batchSize: size, epoch: 0, startBatch: 0, seed: PREVIEW_DATA_SEED })) {
    try {
      return { x: Float32Array.from(b.x.dataSync()), y: Int32Array.from(b.y.dataSync()), n: size };
    } finally {
      tf.dispose([b.x, b.y]);
    }
  }
  return undefined;
}

/**
 * Write `model.previews` of `batch` as `<dir>/<name>/<label>.png`, one grid per picture: a
 * tensor [n, H, W, C] is laid out like a sample grid, one [rows, cols, H, W, C] with that many
 * rows and columns. Returns the name and file of each picture written (none for data that
 * are not images, or a model without the hook).
 */
export function writePreviews(model: GenerativeModel, info: DataInfo, batch: HostBatch, seed: number, dir: string, label: string): { name: string; file: string }[] {
  if (!model.previews || info.shape.length !== 3) return [];
  const [h, w, c] = info.shape as [number, number, number];
  const input: Batch = { x: tf.tensor(batch.x, [batch.n, h, w, c], 'float32'), y: tf.tensor1d(batch.y, 'int32') };
  let pictures: Record<string, tf.Tensor> = {};
  try {
    pictures = model.previews(input, { seed });
    const written: { name: string; file: string }[] = [];
    for (const [name, t] of Object.entries(pictures)) {
      if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`preview name '${name}' is not a plain folder name (letters, digits, _ and -)`);
      const grid = t.rank === 5 ? { n: t.shape[0]! * t.shape[1]!, cols: t.shape[1]! } : t.rank === 4 ? { n: t.shape[0]!, cols: undefined } : undefined;
      if (!grid || t.shape.slice(-3).join() !== info.shape.join()) {
        throw new Error(`preview '${name}' has shape [${t.shape.join(', ')}]; expected [n, ${info.shape.join(', ')}] or [rows, cols, ${info.shape.join(', ')}]`);
      }
      const png = encodeGrid({ data: t.dataSync() as Float32Array, n: grid.n, h, w, c, range: info.range }, grid.cols ? { cols: grid.cols } : {});
      const file = path.join(dir, name, `${label}.png`);
      writeFileAtomic(file, png);
      written.push({ name, file });
    }
    return written;
  } finally {
    tf.dispose([input.x, input.y, ...Object.values(pictures)]);
  }
}

class Samples implements Callback {
  readonly name = 'samples';
  /** The fixed batch of real data the previews are drawn from (read on first use). */
  private previewData?: Promise<HostBatch | undefined>;
  constructor(private readonly opts: Options) {}

  private async grid(run: RunInfo, label: string): Promise<void> {
    const dir = path.join(run.runDir, 'samples');
    const file = path.join(dir, `${label}.png`);
    // The same seed every time: grids over training show the same latent points.
    const seed = deriveSeed(run.config.seed, SeedStream.sampleGrid);
    if (writeSampleGrid(run, this.opts.n, seed, file)) {
      await run.tracker.logArtifact(file, 'samples');
    }
    if (this.opts.previews > 0 && run.model.previews && run.dataset.info.shape.length === 3) {
      this.previewData ??= previewBatch(run.dataset, this.opts.previews);
      const batch = await this.previewData;
      if (!batch) return;
      for (const p of writePreviews(run.model, run.dataset.info, batch, seed, dir, label)) {
        await run.tracker.logArtifact(p.file, `samples/${p.name}`);
      }
    }
  }

  async onStepEnd(run: RunInfo, end: StepEnd): Promise<void> {
    if (this.opts.every > 0 && end.step % this.opts.every === 0 && end.step < run.totalSteps && !run.stopping()) {
      await this.grid(run, `step-${String(end.step).padStart(7, '0')}`);
    }
  }

  async onRunEnd(run: RunInfo, status: RunStatus): Promise<void> {
    if (status !== 'FAILED') await this.grid(run, status === 'FINISHED' ? 'final' : 'last');
  }
}

/** The `samples` callback plugin. */
export const samplesCallback: CallbackPlugin<Options> = {
  name: 'samples',
  description: 'PNG grid of samples (fixed noise) every N steps and at the end, plus the model\'s previews of a fixed real batch (e.g. reconstructions), logged as artifacts',
  configSchema: schema,
  enabledByDefault: true,
  create: (opts) => new Samples(opts),
};
