/**
 * Progress: step, img/s, ETA and the latest scalars. A live bar (cli-progress) on a TTY,
 * plain lines every few seconds otherwise (CI logs, pipes). Always on stderr, so stdout stays
 * clean for machine-readable output.
 *
 * Values other callbacks publish with `RunInfo.report` (health signals, evaluations) are
 * shown too: on the bar, after the step scalars, until they are reported again; as plain
 * lines, in a line of their own when they are reported (`step 200/1000 | health/… 0.93`).
 */
import cliProgress from 'cli-progress';
import { z } from 'zod';
import type { Callback, CallbackPlugin, Report, Rollback, RunInfo, StepEnd } from '../contracts.js';

const schema = z
  .object({
    /** Seconds between plain lines when stderr is not a TTY. */
    every: z.number().positive().default(10),
    /** 'auto' (bar on a TTY), 'bar' or 'lines'. */
    mode: z.enum(['auto', 'bar', 'lines']).default('auto'),
  })
  .strict();
type Options = z.infer<typeof schema>;

/** Format seconds as 1h02m, 4m05s or 12s. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

function formatValues(values: Record<string, number>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k} ${Number.isInteger(v) && Math.abs(v) < 1e6 ? String(v) : Math.abs(v) >= 100 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : v.toFixed(3)}`)
    .join('  ');
}

class Progress implements Callback {
  readonly name = 'progress';
  private bar?: cliProgress.SingleBar;
  private t0 = 0;
  private lastLine = 0;
  /** Images/s over a moving window. */
  private window: { t: number; images: number }[] = [];
  /** The latest reported values (shown on the bar). */
  private reported: Record<string, number> = {};
  private lastValues: Record<string, number> = {};
  private ended = false;

  constructor(private readonly opts: Options) {}

  onRunStart(run: RunInfo): void {
    this.t0 = performance.now();
    const tty = Boolean(process.stderr.isTTY);
    if (this.opts.mode === 'bar' || (this.opts.mode === 'auto' && tty)) {
      this.bar = new cliProgress.SingleBar(
        { format: ' {bar} {value}/{total} | {rate} img/s | ETA {eta_h} | {values}', hideCursor: true, stream: process.stderr, etaBuffer: 50 },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(run.totalSteps, run.startStep, { rate: '-', eta_h: '?', values: '' });
    }
  }

  onStepEnd(run: RunInfo, end: StepEnd): void {
    const now = performance.now();
    this.window.push({ t: now, images: end.images });
    while (this.window.length > 2 && now - this.window[0]!.t > 20_000) this.window.shift();
    const first = this.window[0]!;
    const imgs = this.window.slice(1).reduce((a, w) => a + w.images, 0);
    const rate = this.window.length > 1 ? imgs / ((now - first.t) / 1000) : NaN;
    const eta = ((run.totalSteps - end.step) * run.batchSize) / rate;
    this.lastValues = end.values;
    const values = formatValues({ ...end.values, ...this.reported });
    if (this.bar) {
      this.bar.update(end.step, { rate: Number.isFinite(rate) ? rate.toFixed(0) : '-', eta_h: formatDuration(eta), values });
      return;
    }
    if (now - this.lastLine >= this.opts.every * 1000 || end.step === run.totalSteps || end.step === run.startStep + 1) {
      this.lastLine = now;
      const pct = ((100 * end.step) / run.totalSteps).toFixed(0).padStart(3);
      run.log(`step ${end.step}/${run.totalSteps} (${pct}%) epoch ${end.epoch + 1} | ${Number.isFinite(rate) ? rate.toFixed(0) : '-'} img/s | ETA ${formatDuration(eta)} | ${formatValues(end.values)}`);
    }
  }

  onReport(run: RunInfo, report: Report): void {
    if (this.ended) return; // reported after the run ended (a final evaluation): the tracker has them
    Object.assign(this.reported, report.values);
    if (this.bar) {
      this.bar.update({ values: formatValues({ ...this.lastValues, ...this.reported }) });
      return;
    }
    run.log(`step ${report.step}/${run.totalSteps} | ${formatValues(report.values)}`);
  }

  /** The rate window spans the abandoned steps: start it afresh. */
  onRollback(_run: RunInfo, rollback: Rollback): void {
    this.window = [];
    this.bar?.update(rollback.toStep);
  }

  onRunEnd(run: RunInfo, status: string): void {
    this.ended = true;
    this.bar?.stop();
    const secs = (performance.now() - this.t0) / 1000;
    run.log(`${status.toLowerCase()} after ${formatDuration(secs)} (${run.startStep > 0 ? `resumed at step ${run.startStep}` : 'fresh start'})`);
  }
}

/** The `progress` callback plugin. */
export const progressCallback: CallbackPlugin<Options> = {
  name: 'progress',
  description: 'progress bar on a TTY (plain lines otherwise): step, img/s, ETA, losses',
  configSchema: schema,
  enabledByDefault: true,
  create: (opts) => new Progress(opts),
};
