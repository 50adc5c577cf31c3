/**
 * Divergence guard. After every step it looks for
 *
 * - non-finite scalars (NaN, ±Infinity), in any step scalar;
 * - loss spikes: a watched scalar (default `loss*`) far above its recent level;
 * - gradient-norm spikes: `grad_norm/*` (reported by the trainer) far above its recent level.
 *
 * "Far above" is judged against the last `window` values of that scalar, once it has
 * `warmup` of them: a robust z-score (v − median) / (1.4826 · MAD) above `zScore` (the MAD
 * scaled to a Gaussian's σ; median and MAD are not dragged up by the spikes they must
 * detect, as a mean and standard deviation would be), and/or a ratio v / median above
 * `factor` (for positive medians). Every criterion that is set must hold.
 *
 * On a bad step it asks the trainer to roll back (`RunInfo.rollback`) to the last good
 * checkpoint, with the learning rates scaled by `lrFactor`, up to `maxRollbacks` times per
 * run; then it stops the run as FAILED, naming the step and the scalar. It runs before the
 * checkpoint callback, so a bad step is never checkpointed. Its window of recent values is
 * part of every checkpoint (`saveState`), so a resumed or rolled-back run judges exactly as
 * an uninterrupted one.
 */
import { z } from 'zod';
import type { Callback, CallbackPlugin, RunInfo, StepEnd } from '../contracts.js';

/** A criterion: a threshold, or `false` for off. */
const criterion = (min: number) => z.union([z.number().gt(min), z.literal(false)]);

const spikeSchema = (keys: string[], zScore: number | false, factor: number | false) =>
  z
    .object({
      /** Step scalars to watch: names, `*` matching any run of characters. */
      keys: z.array(z.string().min(1)).min(1).default(keys),
      /** Flag v when (v − median) / (1.4826 · MAD) exceeds this (false: off). */
      zScore: criterion(0).default(zScore),
      /** Flag v when v / median exceeds this, for a positive median (false: off). */
      factor: criterion(1).default(factor),
    })
    .strict()
    .refine((s) => s.zScore !== false || s.factor !== false, { message: 'set zScore or factor (or turn the check off with false)' });

// Defaults chosen against healthy runs: over 900 steps of the MLP GAN on MNIST (window 100,
// warm-up 200) the largest robust z of a loss was 4.9 and its largest ratio to the median 1.9;
// the discriminator's gradient norm reached 3.3x its median. A healthy DCGAN on binarised
// MNIST reached z 15.3 and 3.8x (loss_d at step 220, as G caught up with D), so the loss
// thresholds sit well above that: a rollback halves the learning rate, a false one costs.
const LOSS_DEFAULT = { keys: ['loss*'], zScore: 25 as number | false, factor: 10 as number | false };
const GRAD_DEFAULT = { keys: ['grad_norm/*'], zScore: false as number | false, factor: 50 as number | false };

const schema = z
  .object({
    /** Rollbacks to the last good checkpoint before the run stops as FAILED (0: stop at once). */
    maxRollbacks: z.number().int().min(0).default(2),
    /** Every learning rate is multiplied by this on each rollback (1: unchanged). */
    lrFactor: z.number().gt(0).max(1).default(0.5),
    /** Recent values of each scalar the spike checks compare against. */
    window: z.number().int().min(3).default(100),
    /** Values a scalar needs before its spikes are checked (training starts with large transients). */
    warmup: z.number().int().min(3).default(200),
    /** Loss spikes (false: off). */
    loss: z.union([z.literal(false), spikeSchema(LOSS_DEFAULT.keys, LOSS_DEFAULT.zScore, LOSS_DEFAULT.factor)]).default(LOSS_DEFAULT),
    /** Gradient-norm spikes (false: off). */
    gradNorm: z.union([z.literal(false), spikeSchema(GRAD_DEFAULT.keys, GRAD_DEFAULT.zScore, GRAD_DEFAULT.factor)]).default(GRAD_DEFAULT),
  })
  .strict();
type Options = z.output<typeof schema>;
type Spike = Exclude<Options['loss'], false>;

/** `*` globs to one regular expression. */
function matcher(patterns: string[]): RegExp {
  const esc = patterns.map((p) => p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*'));
  return new RegExp(`^(?:${esc.join('|')})$`);
}

function median(sorted: number[]): number {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/** Median and MAD (median absolute deviation) of `values`, in float64. */
export function medianMad(values: number[]): { median: number; mad: number } {
  const m = median([...values].sort((a, b) => a - b));
  const mad = median(values.map((v) => Math.abs(v - m)).sort((a, b) => a - b));
  return { median: m, mad };
}

/** The Gaussian consistency constant: 1.4826 · MAD estimates σ for normal data (1 / Φ⁻¹(3/4)). */
const MAD_TO_SIGMA = 1.4826;

/**
 * Why `v` is a spike against `history` under `rule`, or undefined. A zero spread (a constant
 * history) is floored at 1e-3·|median| (or 1e-12), so round-off alone is never a spike.
 */
export function spikeReason(v: number, history: number[], rule: Pick<Spike, 'zScore' | 'factor'>): string | undefined {
  const { median: m, mad } = medianMad(history);
  const parts: string[] = [];
  if (rule.zScore !== false) {
    const sigma = Math.max(MAD_TO_SIGMA * mad, 1e-3 * Math.abs(m), 1e-12);
    const z = (v - m) / sigma;
    if (!(z > rule.zScore)) return undefined;
    parts.push(`robust z ${z.toFixed(1)} > ${rule.zScore}`);
  }
  if (rule.factor !== false) {
    if (m > 0) {
      if (!(v > rule.factor * m)) return undefined;
      parts.push(`${(v / m).toFixed(1)}x > ${rule.factor}x`);
    } else if (rule.zScore === false) {
      return undefined; // a ratio means nothing for a non-positive median
    }
  }
  return `${fmt(v)} against a median of ${fmt(m)} (${parts.join(', ')} over the last ${history.length} steps)`;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(4);
}

/** What the guard keeps between steps and in checkpoints: recent values and counts per scalar. */
interface State {
  recent: Record<string, number[]>;
  seen: Record<string, number>;
}

class Divergence implements Callback {
  readonly name = 'divergence';
  private state: State = { recent: {}, seen: {} };
  private readonly watches: { rule: Spike; match: RegExp }[];

  constructor(private readonly opts: Options) {
    this.watches = [opts.loss, opts.gradNorm].filter((w): w is Spike => w !== false).map((rule) => ({ rule, match: matcher(rule.keys) }));
  }

  onStepEnd(run: RunInfo, end: StepEnd): void {
    const bad = Object.entries(end.values).filter(([, v]) => !Number.isFinite(v));
    if (bad.length) {
      const [first, ...more] = bad.map(([k, v]) => `${k}=${v}`);
      this.act(run, `non-finite ${first} at step ${end.step}${more.length ? ` (and ${more.join(', ')})` : ''}`);
      return;
    }
    const spikes: string[] = [];
    for (const [key, v] of Object.entries(end.values)) {
      const watch = this.watches.find((w) => w.match.test(key));
      if (!watch) continue;
      const recent = this.state.recent[key] ?? [];
      if ((this.state.seen[key] ?? 0) < this.opts.warmup) continue;
      const why = spikeReason(v, recent, watch.rule);
      if (why) spikes.push(`${key} spiked at step ${end.step}: ${why}`);
    }
    if (spikes.length) {
      // The spike stays out of the window: the next attempt is judged against good steps.
      this.act(run, spikes.join('; '));
      return;
    }
    for (const [key, v] of Object.entries(end.values)) {
      if (!this.watches.some((w) => w.match.test(key))) continue;
      const recent = (this.state.recent[key] ??= []);
      recent.push(v);
      if (recent.length > this.opts.window) recent.shift();
      this.state.seen[key] = (this.state.seen[key] ?? 0) + 1;
    }
  }

  /** Roll back while rollbacks are left, else stop as FAILED. */
  private act(run: RunInfo, reason: string): void {
    if (run.rollbacks < this.opts.maxRollbacks) {
      run.rollback(reason, { lrFactor: this.opts.lrFactor });
    } else {
      const tried = run.rollbacks > 0 ? `; gave up after ${run.rollbacks} rollback${run.rollbacks > 1 ? 's' : ''} (divergence.maxRollbacks: ${this.opts.maxRollbacks})` : '';
      run.requestStop(reason + tried, 'FAILED');
    }
  }

  saveState(): State {
    return this.state;
  }

  loadState(state: unknown): void {
    const s = state as Partial<State> | undefined;
    this.state = { recent: { ...s?.recent }, seen: { ...s?.seen } };
  }
}

/** The `divergence` callback plugin. */
export const divergenceCallback: CallbackPlugin<Options> = {
  name: 'divergence',
  description: 'rolls back to the last good checkpoint on a non-finite scalar, a loss spike or a gradient-norm spike; FAILED after maxRollbacks',
  configSchema: schema,
  enabledByDefault: true,
  create: (opts) => new Divergence(opts),
};
