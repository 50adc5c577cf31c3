/**
 * Tracker logging: the mean of every step scalar over a window of steps, plus throughput,
 * logged at the step the window ends on. A window ends every `train.logEvery` steps and at
 * every checkpoint, so a run resumed from a checkpoint averages the same steps into the same
 * points as an uninterrupted run. The final partial window is logged at the end. Values
 * callbacks publish with `RunInfo.report` (health signals, evaluations) are logged as they
 * are, at the step they were reported at.
 *
 * Each step is logged once: a resumed run, which trains the steps after its checkpoint again
 * (bit-identically), does not log what the interrupted process had already logged. It asks
 * the tracker which step each metric has reached (`Tracker.loggedSteps`), key by key, so a
 * process killed halfway through logging one step leaves nothing twice and nothing missing;
 * for a tracker that cannot say, the last step logged is kept beside the run
 * (`<runDir>/.logged-step`). After a rollback the steps that
 * follow are logged again on purpose: they are a new attempt (the tracker keeps both; a
 * `genlab.rollback.<n>` tag says why).
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Callback, CallbackPlugin, Report, RunInfo, StepEnd } from '../contracts.js';
import { writeFileAtomic } from '../fs.js';

const schema = z.object({}).strict();
const LOGGED = '.logged-step';

class TrackerLog implements Callback {
  readonly name = 'tracker';
  private sums: Record<string, number> = {};
  private count = 0;
  private images = 0;
  private windowStart = 0;
  private lastStep = 0;
  /** A checkpoint at this step was written before this step's values arrived: end the window with them. */
  private endWindowAt = -1;
  /** Per metric, the step up to which an earlier process of this run logged it (`*`: every metric). */
  private loggedBefore: Record<string, number> = {};
  private logged = -1;

  async onRunStart(run: RunInfo): Promise<void> {
    this.windowStart = performance.now();
    // A resumed run (also one resumed from the checkpoint at step 0) finds what was logged.
    if (run.tracker.loggedSteps) {
      this.loggedBefore = await run.tracker.loggedSteps();
    } else {
      const n = Number.parseInt(safeRead(path.join(run.runDir, LOGGED)) ?? '', 10);
      if (Number.isInteger(n)) this.loggedBefore = { '*': n };
    }
  }

  async onStepEnd(run: RunInfo, end: StepEnd): Promise<void> {
    for (const [k, v] of Object.entries(end.values)) this.sums[k] = (this.sums[k] ?? 0) + v;
    this.count += 1;
    this.images += end.images;
    this.lastStep = end.step;
    // A non-finite value is logged at once, so the tracker shows where a run diverged.
    const bad = Object.values(end.values).some((v) => !Number.isFinite(v));
    if (end.step % run.config.train.logEvery === 0 || end.step === this.endWindowAt || bad) await this.flush(run);
  }

  /** A window ends at a checkpoint: a resume from it starts a fresh window, as this run does now. */
  async onCheckpoint(run: RunInfo, checkpoint: { step: number; tag: string }): Promise<void> {
    if (checkpoint.tag !== 'last') return; // a resume starts from 'last' only
    if (checkpoint.step > this.lastStep && this.count > 0) this.endWindowAt = checkpoint.step; // this step's values are still to come
    else if (checkpoint.step === this.lastStep) await this.flush(run);
  }

  private async flush(run: RunInfo): Promise<void> {
    if (this.count === 0) return;
    const secs = (performance.now() - this.windowStart) / 1000;
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.sums)) values[k] = v / this.count;
    if (secs > 0) values['img_per_sec'] = this.images / secs;
    await this.log(run, this.lastStep, values);
    this.sums = {};
    this.count = 0;
    this.images = 0;
    this.windowStart = performance.now();
  }

  private async log(run: RunInfo, step: number, values: Record<string, number>): Promise<void> {
    // What the interrupted process logged already (the same values: a resume is bit-identical).
    const before = this.loggedBefore;
    const fresh = Object.fromEntries(Object.entries(values).filter(([k]) => step > (before[k] ?? before['*'] ?? -1)));
    if (!Object.keys(fresh).length) return;
    await run.tracker.logMetrics(step, fresh);
    if (!run.tracker.loggedSteps && step > this.logged) {
      this.logged = step;
      try {
        writeFileAtomic(path.join(run.runDir, LOGGED), `${step}\n`);
      } catch {
        // Only a resume reads it; a run whose folder cannot take it still logs.
      }
    }
  }

  async onReport(run: RunInfo, report: Report): Promise<void> {
    await this.log(run, report.step, report.values);
  }

  /** The window so far belongs to the abandoned attempt: log it now, then start afresh (and log again what follows). */
  async onRollback(run: RunInfo): Promise<void> {
    await this.flush(run);
    this.loggedBefore = {};
  }

  async onRunEnd(run: RunInfo): Promise<void> {
    await this.flush(run);
  }
}

function safeRead(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The `tracker` callback plugin (metrics to the run's tracker). */
export const trackerCallback: CallbackPlugin<Record<string, never>> = {
  name: 'tracker',
  description: 'logs step scalars (mean over train.logEvery steps and up to each checkpoint), img/s and reported values to the tracker, each step once across resumes',
  configSchema: schema,
  enabledByDefault: true,
  create: () => new TrackerLog(),
};
