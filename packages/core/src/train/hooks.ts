/**
 * The one hook dispatcher (as Lightning's `trainer/call.py`): every callback hook the trainer
 * runs goes through here, in the callbacks' order. Two ways to call: `call` stops at the first
 * failure and throws it, naming the callback and the hook (hooks during training); `callEach`
 * runs every callback even when some fail and returns the first failure (the end of a run,
 * so nothing is left half-done). Values callbacks `report` during a phase are merged and
 * delivered to every callback's `onReport` when the phase ends.
 */
import type { Callback } from '../contracts.js';

export class HookDispatcher {
  /** Values reported during the current phase. */
  private pending?: Record<string, number>;

  constructor(
    readonly callbacks: Callback[],
    private readonly log: (message: string) => void,
  ) {}

  /** Run a hook of every callback in order; the first failure is thrown, named. */
  async call(hook: string, fn: (cb: Callback) => unknown): Promise<void> {
    for (const cb of this.callbacks) {
      try {
        await fn(cb);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        err.message = `callback '${cb.name}' failed in ${hook}: ${err.message}`;
        throw err;
      }
    }
  }

  /** Run a hook of every callback even when some fail: each failure is logged (`callback 'x' failed <what>: …`); the first is returned. */
  async callEach(what: string, fn: (cb: Callback) => unknown): Promise<unknown> {
    let first: unknown;
    for (const cb of this.callbacks) {
      try {
        await fn(cb);
      } catch (e) {
        this.log(`callback '${cb.name}' failed ${what}: ${(e as Error)?.message ?? String(e)}`);
        first ??= e;
      }
    }
    return first;
  }

  /** Publish scalars in the current phase (`RunInfo.report`). */
  report(values: Record<string, number>): void {
    for (const [k, v] of Object.entries(values)) {
      if (typeof v !== 'number') throw new TypeError(`report: '${k}' is ${typeof v}, not a number`);
    }
    this.pending = { ...this.pending, ...values };
  }

  /** What was reported and not yet delivered (taken: the buffer is emptied). */
  takeReports(): Record<string, number> | undefined {
    const values = this.pending;
    this.pending = undefined;
    return values;
  }

  /** Hand what was reported to every callback's `onReport`, at `step`. */
  async deliver(step: number, info: Parameters<NonNullable<Callback['onReport']>>[0]): Promise<void> {
    const values = this.takeReports();
    if (values) await this.call('onReport', (cb) => cb.onReport?.(info, { step, values }));
  }

  /** The state every callback keeps in checkpoints, by callback name (copies). */
  saveStates(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const cb of this.callbacks) {
      const s = cb.saveState?.();
      if (s !== undefined) out[cb.name] = structuredClone(s);
    }
    return out;
  }

  /** Restore what `saveStates` returned (copies; callbacks without saved state are left alone). */
  loadStates(states: Record<string, unknown>): void {
    for (const cb of this.callbacks) {
      if (cb.loadState && states[cb.name] !== undefined) cb.loadState(structuredClone(states[cb.name]));
    }
  }
}
