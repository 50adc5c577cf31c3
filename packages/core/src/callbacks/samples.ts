/**
 * Sample grids: a PNG of samples every N steps and at the end, drawn from the same fixed
 * latent noise each time so grids are comparable over training. Saved under
 * `<runDir>/samples/` and logged to the tracker as artifacts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Callback, CallbackPlugin, RunInfo, RunStatus, StepEnd } from '../contracts.js';
import { encodeGrid } from '../image.js';
import { deriveSeed, SeedStream } from '../rng.js';

const schema = z
  .object({
    /** Steps between grids (0: only the final grid). */
    every: z.number().int().min(0).default(500),
    /** Images per grid. */
    n: z.number().int().positive().max(1024).default(64),
  })
  .strict();
type Options = z.infer<typeof schema>;

/** Write a grid of `n` samples from `run.model` (noise from `seed`) to `file`; returns false for non-image data. */
export function writeSampleGrid(run: Pick<RunInfo, 'model' | 'dataset'>, n: number, seed: number, file: string): boolean {
  const shape = run.dataset.info.shape;
  if (shape.length !== 3) return false;
  const [h, w, c] = shape as [number, number, number];
  const images = run.model.sample(n, { seed });
  try {
    const png = encodeGrid({ data: images.dataSync() as Float32Array, n, h, w, c, range: run.dataset.info.range });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, png);
    fs.renameSync(tmp, file);
  } finally {
    images.dispose();
  }
  return true;
}

class Samples implements Callback {
  readonly name = 'samples';
  constructor(private readonly opts: Options) {}

  private async grid(run: RunInfo, label: string): Promise<void> {
    const file = path.join(run.runDir, 'samples', `${label}.png`);
    // The same seed every time: grids over training show the same latent points.
    if (writeSampleGrid(run, this.opts.n, deriveSeed(run.config.seed, SeedStream.sampleGrid), file)) {
      await run.tracker.logArtifact(file, 'samples');
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
  description: 'PNG grid of samples (fixed noise) every N steps and at the end, logged as artifacts',
  configSchema: schema,
  enabledByDefault: true,
  create: (opts) => new Samples(opts),
};
