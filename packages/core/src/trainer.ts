/**
 * The training loop. It knows nothing about model families: it streams batches, calls
 * `model.trainStep` inside `tf.tidy`, reads the step's scalars in one device read and runs
 * the callbacks' hooks. The jobs around the loop are modules of their own (train/):
 *
 * - gradients.ts: `ctx.optimize`: the optimizers, gradients, their norms, clipping;
 * - hooks.ts: the one hook dispatcher, and the values callbacks report;
 * - run-state.ts: position, counters, checkpoints, and rollbacks to the last good state.
 *
 * The trainer carries out what callbacks ask for: stops, reports delivered to every callback,
 * and rollbacks.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node (CommonJS) bundle registers no gradients; tfjs-layers' bundle registers
// all of them. Import it for that side effect, so any model (layers or not) can be trained.
import '@tensorflow/tfjs-layers';
import type { Batch, Callback, GenerativeModel, ImageDataset, RunInfo, RunStatus, StateDict, StepEnd, StepResult, TrainContext, Tracker } from './contracts.js';
import type { ResolvedConfig } from './config/schema.js';
import type { CheckpointMeta } from './state.js';
import { recordRollback } from './run-record.js';
import { GradientHandler } from './train/gradients.js';
import { HookDispatcher } from './train/hooks.js';
import { ReplicaAbort, rowsOf, rankSeed, shareBatch, stepScalars, type ReplicaGroup } from './train/parallel.js';
import { RunState, type StartPosition } from './train/run-state.js';

export { GRAD_NORM_PREFIX, globalNorm, clipByGlobalNorm } from './train/gradients.js';
export { modelHash, type StartPosition } from './train/run-state.js';

/** Everything the trainer needs; assembled by `runExperiment`. */
export interface TrainerOptions {
  config: ResolvedConfig;
  model: GenerativeModel;
  dataset: ImageDataset;
  tracker: Tracker;
  callbacks: Callback[];
  runId: string;
  runName: string;
  runDir: string;
  backend: string;
  /** Restored state (model + optimizer slots), position and callback state, when resuming. */
  resume?: { state: StateDict; position: StartPosition; callbacks?: Record<string, unknown> };
  log(message: string): void;
  /** Reloads the dataset with changed options (for evaluation callbacks); absent in bare trainers. */
  loadDataset?: (overrides: Record<string, unknown>) => Promise<ImageDataset>;
  /**
   * Data-parallel training (`train.devices` > 1): ranks 1..N-1, started by the caller, which
   * also disposes them. Each step the trainer trains on its own rows of the batch; the
   * gradients are averaged over every rank in `ctx.optimize` (train/parallel.ts).
   */
  replicas?: ReplicaGroup;
}

/** How a run ended. */
export interface TrainResult {
  status: RunStatus;
  reason?: string;
  /** Steps completed. */
  step: number;
  error?: unknown;
}

/** The trainer's `resume` option from a checkpoint (`readCheckpoint`): state, position, counters, callback state. */
export function resumeFrom(ckpt: { state: StateDict; meta: CheckpointMeta }): NonNullable<TrainerOptions['resume']> {
  const { state, meta } = ckpt;
  return {
    state,
    position: { step: meta.step, epoch: meta.epoch, batchInEpoch: meta.batchInEpoch, rollbacks: meta.rollbacks ?? 0, lrScale: meta.lrScale ?? 1 },
    ...(meta.callbacks ? { callbacks: meta.callbacks } : {}),
  };
}

/** Runs the loop of one experiment. */
export class Trainer {
  private readonly gradients: GradientHandler;
  private readonly hooks: HookDispatcher;
  private readonly state: RunState;
  private stop?: { reason: string; status: RunStatus };
  private ctx?: TrainContext;
  private pendingRollback?: { reason: string; lrFactor: number };
  /** True while the callbacks of a step run (rollbacks may be asked for only then). */
  private inStepHooks = false;
  /** Whether a checkpoint was written during the current step's hooks. */
  private checkpointedThisStep = false;
  private resumeCallbacks?: Record<string, unknown>;
  /** Rows of the current batch each rank trains on (data-parallel). */
  private rows: number[] = [];
  readonly totalSteps: number;
  readonly stepsPerEpoch: number;
  readonly info: RunInfo;

  constructor(private readonly opts: TrainerOptions) {
    const { config, model, dataset } = opts;
    const batchSize = config.train.batchSize;
    this.stepsPerEpoch = dataset.batchesPerEpoch(batchSize);
    if (this.stepsPerEpoch < 1) {
      throw new Error(`the dataset has ${dataset.info.size} examples, fewer than one batch of ${batchSize}: lower train.batchSize`);
    }
    this.totalSteps = config.train.steps ?? (config.train.epochs ?? 1) * this.stepsPerEpoch;
    this.gradients = new GradientHandler(model.optimizers, { ...(config.train.gradClip !== undefined ? { clip: config.train.gradClip } : {}), logNorm: config.train.logGradNorm !== false });
    this.hooks = new HookDispatcher(opts.callbacks, opts.log);
    const state = (this.state = new RunState({ config, model, dataset, gradients: this.gradients, hooks: this.hooks, runId: opts.runId, runDir: opts.runDir, stepsPerEpoch: this.stepsPerEpoch }));
    if (opts.resume) {
      state.rollbacks = opts.resume.position.rollbacks ?? 0;
      state.lrScale = opts.resume.position.lrScale ?? 1;
      this.resumeCallbacks = opts.resume.callbacks;
    }
    this.gradients.create(state.lrScale);
    if (opts.resume) state.restore(opts.resume.state, opts.resume.position);
    const replicas = opts.replicas;
    if (replicas) this.gradients.reducer = (grads) => replicas.channel.allReduce(grads, this.rows);
    this.info = {
      runId: opts.runId,
      runName: opts.runName,
      runDir: opts.runDir,
      config,
      model,
      dataset,
      tracker: opts.tracker,
      backend: opts.backend,
      totalSteps: this.totalSteps,
      stepsPerEpoch: this.stepsPerEpoch,
      batchSize,
      startStep: state.step,
      saveCheckpoint: (tag) => this.saveCheckpoint(tag),
      requestStop: (reason, status) => this.requestStop(reason, status),
      stopping: () => this.stop,
      report: (values) => this.hooks.report(values),
      rollback: (reason, o) => this.requestRollback(reason, o?.lrFactor ?? 1),
      rollingBack: () => (this.pendingRollback ? { reason: this.pendingRollback.reason } : undefined),
      get rollbacks() {
        return state.rollbacks;
      },
      get lrScale() {
        return state.lrScale;
      },
      log: opts.log,
      loadDataset:
        opts.loadDataset ??
        (() => Promise.reject(new Error('this trainer was built without a dataset loader (TrainerOptions.loadDataset)'))),
    };
  }

  /** Steps completed so far. */
  get step(): number {
    return this.state.step;
  }

  /** Ask the loop to stop after the current step (e.g. on SIGINT). The first request wins. */
  requestStop(reason: string, status: RunStatus = 'KILLED'): void {
    this.stop ??= { reason, status };
  }

  /** Run to `totalSteps` (or until stopped). Never throws: failures come back as FAILED. */
  async run(): Promise<TrainResult> {
    const { config, dataset } = this.opts;
    const s = this.state;
    let error: unknown;
    try {
      if (this.resumeCallbacks) this.hooks.loadStates(this.resumeCallbacks);
      await this.phase('onRunStart', (cb) => cb.onRunStart?.(this.info));
      // The state a rollback returns to until a checkpoint is written.
      s.anchorAtStart();
      this.syncReplicas();
      outer: while (s.step < this.totalSteps && !this.stop) {
        if (s.batchInEpoch === 0) await this.phase('onEpochStart', (cb) => cb.onEpochStart?.(this.info, s.epoch));
        const batches = dataset.batches({ batchSize: config.train.batchSize, epoch: s.epoch, startBatch: s.batchInEpoch, seed: s.streamSeed() });
        for await (const batch of batches) {
          const images = batch.x.shape[0] ?? 0;
          let values: Record<string, number>;
          try {
            values = this.trainStep(batch);
          } finally {
            batch.x.dispose();
            batch.y.dispose();
          }
          s.step += 1;
          s.batchInEpoch += 1;
          const end: StepEnd = { step: s.step, epoch: s.epoch, images, values };
          this.inStepHooks = true;
          this.checkpointedThisStep = false;
          try {
            await this.phase('onStepEnd', (cb) => cb.onStepEnd?.(this.info, end));
          } finally {
            this.inStepHooks = false;
          }
          const rolledBack = await this.performRollback();
          if (rolledBack) this.syncReplicas();
          // Give the event loop one turn: signal handlers (SIGINT) and timers run only here,
          // since a step and the batch iterator settle as microtasks.
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (rolledBack) continue outer; // the position changed: a new batch iterator
          if (s.batchInEpoch >= this.stepsPerEpoch) break; // epoch complete
          if (this.stop || s.step >= this.totalSteps) break outer;
        }
        if (s.batchInEpoch >= this.stepsPerEpoch) {
          await this.phase('onEpochEnd', (cb) => cb.onEpochEnd?.(this.info, s.epoch));
          s.epoch += 1;
          s.batchInEpoch = 0;
        }
      }
    } catch (e) {
      error = e;
      this.pendingRollback = undefined;
      this.hooks.takeReports();
      this.requestStop(`error at step ${s.step + 1}: ${(e as Error)?.message ?? String(e)}`, 'FAILED');
      await this.hooks.callEach('in onError', (cb) => cb.onError?.(this.info, e));
    }
    const status: RunStatus = this.stop?.status ?? 'FINISHED';
    const reason = this.stop?.reason;
    // Every callback gets onRunEnd even if an earlier one fails, so nothing is left half-done.
    const endFailure = await this.hooks.callEach('at the end of the run', (cb) => cb.onRunEnd?.(this.info, status, reason));
    error ??= endFailure;
    // Values reported at the end (e.g. a final evaluation) still reach every callback.
    const final = this.hooks.takeReports();
    if (final) error ??= await this.hooks.callEach('in onReport at the end of the run', (cb) => cb.onReport?.(this.info, { step: s.step, values: final }));
    return { status, ...(reason !== undefined ? { reason } : {}), step: s.step, ...(error !== undefined ? { error } : {}) };
  }

  /**
   * One optimisation step on `batch` at the current position, without advancing it or
   * calling callbacks: `model.trainStep` inside `tf.tidy`, its scalars read in one go.
   * The caller owns (and disposes) the batch. Used by the loop and by contract tests.
   */
  trainStep(batch: Batch): Record<string, number> {
    this.ctx ??= this.context();
    const ctx = this.ctx;
    const replicas = this.opts.replicas;
    let own = batch;
    if (replicas) {
      this.rows = rowsOf(batch.x.shape[0]!, replicas.devices);
      own = shareBatch(replicas.channel, batch, { step: this.state.step, epoch: this.state.epoch, streamSeed: this.state.streamSeed() });
    }
    let out: StepResult;
    try {
      out = tf.tidy(() => this.opts.model.trainStep(own, ctx));
    } catch (e) {
      this.gradients.discardNorms();
      throw this.replicaFailure(e);
    } finally {
      if (own !== batch) tf.dispose([own.x, own.y]);
    }
    // `grad_norm/<optimizer>` joins the model's scalars: still one device read for all.
    const values = stepScalars(out, this.gradients);
    if (!replicas) return values;
    try {
      replicas.channel.writeScalars(values);
      replicas.channel.barrier(); // every rank has written its scalars
    } catch (e) {
      throw this.replicaFailure(e);
    }
    return replicas.channel.averageScalars(values, this.rows);
  }

  /**
   * Give the replicas this rank's state (`run` does it at the start and after a rollback; a
   * caller that steps with `trainStep` alone, like the bench, calls it once first).
   */
  syncReplicas(): void {
    const replicas = this.opts.replicas;
    if (!replicas) return;
    try {
      replicas.sync({ state: this.state.snapshot().state, lrScale: this.state.lrScale, totalSteps: this.totalSteps });
    } catch (e) {
      throw this.replicaFailure(e);
    }
  }

  /** A failure during a data-parallel step: the replicas are told (they unwind), and a replica's own failure is named. */
  private replicaFailure(e: unknown): unknown {
    const replicas = this.opts.replicas;
    if (!replicas) return e;
    if (e instanceof ReplicaAbort) return new Error(`data-parallel replica ${e.rank} of ${replicas.devices} failed: ${replicas.failure() ?? 'no reason given'}`);
    replicas.channel.fail();
    return e;
  }

  /** Free the optimizers' slots. The model is disposed by its owner. */
  dispose(): void {
    this.gradients.dispose();
  }

  /** A hook phase: the hook of every callback, then what they reported (`onReport`). */
  private async phase(hook: string, fn: (cb: Callback) => unknown): Promise<void> {
    await this.hooks.call(hook, fn);
    await this.hooks.deliver(this.state.step, this.info);
  }

  private requestRollback(reason: string, lrFactor: number): void {
    if (!(lrFactor > 0 && Number.isFinite(lrFactor))) throw new RangeError(`rollback: lrFactor must be a positive number, got ${lrFactor}`);
    if (!this.inStepHooks) throw new Error('rollback() can only be asked for while a step ends (onStepEnd, onReport)');
    if (this.pendingRollback) return;
    if (this.checkpointedThisStep) {
      // The bad state is already the last checkpoint: there is nothing good to return to.
      this.requestStop(`${reason} (no rollback: step ${this.state.step} was checkpointed before the rollback was asked for; a callback that rolls back must run before 'checkpoint')`, 'FAILED');
      return;
    }
    this.pendingRollback = { reason, lrFactor };
  }

  /** Carry out a pending rollback (run-state.ts), record it and tell every callback. Returns whether one ran. */
  private async performRollback(): Promise<boolean> {
    const pending = this.pendingRollback;
    if (!pending) return false;
    this.pendingRollback = undefined;
    const s = this.state;
    const { fromStep, toStep, where } = s.rollBack(pending.lrFactor);
    this.opts.log(
      `rollback ${s.rollbacks} at step ${fromStep}: ${pending.reason}; restored step ${toStep} (${where})` +
        `${pending.lrFactor !== 1 ? `, learning rates x${s.lrScale.toPrecision(3)}` : ''}, new random streams`,
    );
    await recordRollback(this.opts.tracker, { rollbacks: s.rollbacks, fromStep, toStep, reason: pending.reason });
    const event = { fromStep, toStep, reason: pending.reason, rollbacks: s.rollbacks, lrScale: s.lrScale };
    await this.hooks.call('onRollback', (cb) => cb.onRollback?.(this.info, event));
    this.hooks.report({ 'health/rollbacks': s.rollbacks, 'health/lr_scale': s.lrScale });
    await this.hooks.deliver(fromStep, this.info);
    return true;
  }

  private async saveCheckpoint(tag: string): Promise<string> {
    if (this.pendingRollback) {
      throw new Error(`refusing to checkpoint step ${this.state.step}: it is being rolled back (${this.pendingRollback.reason})`);
    }
    const dir = this.state.saveCheckpoint(tag);
    if (this.inStepHooks) this.checkpointedThisStep = true;
    const step = this.state.step;
    await this.hooks.call('onCheckpoint', (cb) => cb.onCheckpoint?.(this.info, { step, tag, dir }));
    return dir;
  }

  private context(): TrainContext {
    const s = this.state;
    const totalSteps = this.totalSteps;
    const gradients = this.gradients;
    return {
      get step() {
        return s.step;
      },
      get epoch() {
        return s.epoch;
      },
      seed: (stream: number) => rankSeed(s.streamSeed(), s.step, stream, 0),
      optimize: (name, lossFn, vars) => gradients.optimize(name, lossFn, vars, s.step, totalSteps),
    };
  }
}
