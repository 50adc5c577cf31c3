/**
 * Sample grids: a PNG of samples every N steps and at the end, drawn from the same fixed
 * latent noise each time so grids are comparable over training. Saved under
 * `<runDir>/samples/` and logged to the tracker as artifacts.
 */
import path from 'node:path';
import { z } from 'zod';
import type { Callback, CallbackPlugin, RunInfo, RunStatus, StepEnd } from '../contracts.js';
import { writeFileAtomic } from '../fs.js';
import { encodeGrid, encodeScatter } from '../image.js';
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
