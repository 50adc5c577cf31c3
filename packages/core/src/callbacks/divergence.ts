/**
 * Divergence guard: a non-finite scalar from a train step stops the run as FAILED, naming
 * the step and the scalar. It runs before the checkpoint callback, so the bad weights never
 * replace the last good checkpoint.
 */
import { z } from 'zod';
import type { Callback, CallbackPlugin, RunInfo, StepEnd } from '../contracts.js';

const schema = z.object({}).strict();

class Divergence implements Callback {
  readonly name = 'divergence';
  onStepEnd(run: RunInfo, end: StepEnd): void {
    const bad = Object.entries(end.values).filter(([, v]) => !Number.isFinite(v));
    if (bad.length) {
      run.requestStop(`non-finite ${bad.map(([k, v]) => `${k}=${v}`).join(', ')} at step ${end.step}`, 'FAILED');
    }
  }
}

/** The `divergence` callback plugin. */
export const divergenceCallback: CallbackPlugin<Record<string, never>> = {
  name: 'divergence',
  description: 'stops the run as FAILED on a non-finite loss, keeping the last good checkpoint',
  configSchema: schema,
  enabledByDefault: true,
  create: () => new Divergence(),
};
