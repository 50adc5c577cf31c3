/**
 * Checkpoints: weights, optimizer slots, step, data position, rollback count and callback
 * state at the start of a new run (so a run killed before its first periodic checkpoint can
 * still be resumed), every N steps and at the end (also when interrupted), written atomically to
 * `<runDir>/checkpoints/last`. A failed step, or one being rolled back, never overwrites the
 * last good checkpoint (it is what a rollback returns to). The final checkpoint of a
 * finished run is logged to the tracker as an artifact.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Callback, CallbackPlugin, Report, RunInfo, RunStatus, StepEnd } from '../contracts.js';

const schema = z
  .object({
    /** Steps between checkpoints (0: only at the end). */
    every: z.number().int().min(0).default(1000),
    /** Log the final checkpoint to the tracker as an artifact. */
    logArtifact: z.boolean().default(true),
    /** Also keep the K most recent periodic checkpoints, as `checkpoints/step-NNNNNNN` (0: only `last`). */
    keep: z.number().int().min(0).default(0),
    /**
     * Also keep the checkpoint of the best value of a reported metric so far, as
     * `checkpoints/best` (e.g. `{ metric: fid }` with `eval.every` set: the step with the lowest FID).
     */
    best: z.object({ metric: z.string().min(1), mode: z.enum(['min', 'max']).default('min') }).strict().optional(),
  })
  .strict();
type Options = z.infer<typeof schema>;

/** The folder name of the periodic checkpoint at `step`. */
export const stepCheckpointName = (step: number) => `step-${String(step).padStart(7, '0')}`;

class Checkpoint implements Callback {
  readonly name = 'checkpoint';
  /** The best value of `best.metric` so far and its step (kept in checkpoints, so a resumed run compares with it). */
  private best: { value: number; step: number } | null = null;
  /** Steps completed so far. */
  private step = 0;
  constructor(private readonly opts: Options) {}

  saveState(): unknown {
    return { best: this.best };
  }

  loadState(state: unknown): void {
    this.best = (state as { best?: { value: number; step: number } | null } | undefined)?.best ?? null;
  }

  /** Copy `last` (just written) to `step-N`, and drop the oldest beyond `keep`. A copy: no second serialisation. */
  private keepCopy(run: RunInfo, step: number): void {
    const root = path.join(run.runDir, 'checkpoints');
    const name = stepCheckpointName(step);
    const tmp = path.join(root, `.${name}.tmp`);
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.cpSync(path.join(root, 'last'), tmp, { recursive: true });
    fs.rmSync(path.join(root, name), { recursive: true, force: true });
    fs.renameSync(tmp, path.join(root, name));
    const kept = fs.readdirSync(root).filter((n) => /^step-\d{7,}$/.test(n)).sort();
    for (const old of kept.slice(0, Math.max(0, kept.length - this.opts.keep))) fs.rmSync(path.join(root, old), { recursive: true, force: true });
  }

  async onReport(run: RunInfo, report: Report): Promise<void> {
    const b = this.opts.best;
    if (!b || run.rollingBack()) return;
    const value = report.values[b.metric];
    if (value === undefined || !Number.isFinite(value)) return;
    if (this.best && (b.mode === 'min' ? value >= this.best.value : value <= this.best.value)) return;
    this.best = { value, step: report.step };
    await run.saveCheckpoint('best');
    run.log(`checkpoint: best ${b.metric} ${value.toPrecision(4)} at step ${report.step} (checkpoints/best)`);
  }

  async onRunStart(run: RunInfo): Promise<void> {
    this.step = run.startStep;
    if (run.startStep === 0) await run.saveCheckpoint('last');
  }

  async onStepEnd(run: RunInfo, end: StepEnd): Promise<void> {
    this.step = end.step;
    if (run.stopping() || run.rollingBack()) return; // a bad step, or the end-of-run hook decides
    if (this.opts.every > 0 && end.step % this.opts.every === 0 && end.step < run.totalSteps) {
      await run.saveCheckpoint('last');
      if (this.opts.keep > 0) this.keepCopy(run, end.step);
    }
  }

  async onRunEnd(run: RunInfo, status: RunStatus): Promise<void> {
    if (status === 'FAILED') {
      run.log(`kept the last good checkpoint in ${run.runDir}/checkpoints/last (if one was written)`);
      return;
    }
    const dir = await run.saveCheckpoint('last');
    if (this.opts.keep > 0) this.keepCopy(run, this.step);
    if (status === 'FINISHED' && this.opts.logArtifact) await run.tracker.logArtifact(dir, 'checkpoint');
    run.log(`checkpoint: ${dir}`);
  }
}

/** The `checkpoint` callback plugin. */
export const checkpointCallback: CallbackPlugin<Options> = {
  name: 'checkpoint',
  description: 'atomic checkpoint (weights, optimizer, step, data position) every N steps and at the end',
  configSchema: schema,
  enabledByDefault: true,
  create: (opts) => new Checkpoint(opts),
};
