/**
 * Tracker logging: the mean of every step scalar over the last `train.logEvery` steps, plus
 * throughput, logged at the step they end on. The final partial window is logged at the end.
 * Values callbacks publish with `RunInfo.report` (health signals, evaluations) are logged
 * as they are, at the step they were reported at. After a rollback the steps that follow are
 * logged again (the tracker keeps both attempts; a `genlab.rollback.<n>` tag says why).
 */
import { z } from 'zod';
import type { Callback, CallbackPlugin, Report, RunInfo, StepEnd } from '../contracts.js';

const schema = z.object({}).strict();

class TrackerLog implements Callback {
  readonly name = 'tracker';
  private sums: Record<string, number> = {};
  private count = 0;
  private images = 0;
  private windowStart = 0;
  private lastStep = 0;

  onRunStart(): void {
    this.windowStart = performance.now();
  }

  async onStepEnd(run: RunInfo, end: StepEnd): Promise<void> {
    for (const [k, v] of Object.entries(end.values)) this.sums[k] = (this.sums[k] ?? 0) + v;
    this.count += 1;
    this.images += end.images;
    this.lastStep = end.step;
    // A non-finite value is logged at once, so the tracker shows where a run diverged.
    const bad = Object.values(end.values).some((v) => !Number.isFinite(v));
    if (end.step % run.config.train.logEvery === 0 || bad) await this.flush(run);
  }

  private async flush(run: RunInfo): Promise<void> {
    if (this.count === 0) return;
    const secs = (performance.now() - this.windowStart) / 1000;
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.sums)) values[k] = v / this.count;
    if (secs > 0) values['img_per_sec'] = this.images / secs;
    await run.tracker.logMetrics(this.lastStep, values);
    this.sums = {};
    this.count = 0;
    this.images = 0;
    this.windowStart = performance.now();
  }

  async onReport(run: RunInfo, report: Report): Promise<void> {
    await run.tracker.logMetrics(report.step, report.values);
  }

  /** The window so far belongs to the abandoned attempt: log it now, then start afresh. */
  async onRollback(run: RunInfo): Promise<void> {
    await this.flush(run);
  }

  async onRunEnd(run: RunInfo): Promise<void> {
    await this.flush(run);
  }
}

/** The `tracker` callback plugin (metrics to the run's tracker). */
export const trackerCallback: CallbackPlugin<Record<string, never>> = {
  name: 'tracker',
  description: 'logs step scalars (mean over train.logEvery steps), img/s and reported values to the tracker',
  configSchema: schema,
  enabledByDefault: true,
  create: () => new TrackerLog(),
};
