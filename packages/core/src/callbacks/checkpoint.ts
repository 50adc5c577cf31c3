/**
 * Checkpoints: weights, optimizer slots, step, data position, rollback count and callback
 * state at the start of a new run (so a run killed before its first periodic checkpoint can
 * still be resumed), every N steps and at the end (also when interrupted), written atomically to
 * `<runDir>/checkpoints/last`. A failed step, or one being rolled back, never overwrites the
 * last good checkpoint (it is what a rollback returns to). The final checkpoint of a
 * finished run is logged to the tracker as an artifact.
 */
import { z } from 'zod';
import type { Callback, CallbackPlugin, RunInfo, RunStatus, StepEnd } from '../contracts.js';

const schema = z
  .object({
    /** Steps between checkpoints (0: only at the end). */
    every: z.number().int().min(0).default(1000),
    /** Log the final checkpoint to the tracker as an artifact. */
    logArtifact: z.boolean().default(true),
  })
  .strict();
type Options = z.infer<typeof schema>;

class Checkpoint implements Callback {
  readonly name = 'checkpoint';
  constructor(private readonly opts: Options) {}

  async onRunStart(run: RunInfo): Promise<void> {
    if (run.startStep === 0) await run.saveCheckpoint('last');
  }

  async onStepEnd(run: RunInfo, end: StepEnd): Promise<void> {
    if (run.stopping() || run.rollingBack()) return; // a bad step, or the end-of-run hook decides
    if (this.opts.every > 0 && end.step % this.opts.every === 0 && end.step < run.totalSteps) await run.saveCheckpoint('last');
  }

  async onRunEnd(run: RunInfo, status: RunStatus): Promise<void> {
    if (status === 'FAILED') {
      run.log(`kept the last good checkpoint in ${run.runDir}/checkpoints/last (if one was written)`);
      return;
    }
    const dir = await run.saveCheckpoint('last');
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
