/**
 * The training loop. It knows nothing about model families: it streams batches, calls
 * `model.trainStep` inside `tf.tidy`, owns the optimizers (so gradient handling lives in one
 * place: global gradient norms, clipping), reads the step's scalars and calls the callbacks
 * in order. It also carries out what callbacks ask for: stops, scalar reports delivered to
 * every callback, and rollbacks to the last good state.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node (CommonJS) bundle registers no gradients; tfjs-layers' bundle registers
// all of them. Import it for that side effect, so any model (layers or not) can be trained.
import '@tensorflow/tfjs-layers';
import path from 'node:path';
import type { Batch, Callback, GenerativeModel, ImageDataset, RunInfo, RunStatus, StateDict, StepEnd, StepResult, TrainContext, Tracker } from './contracts.js';
import type { ResolvedConfig } from './config/schema.js';
import { createOptimizer, lrFactor, type Optimizer } from './optim.js';
import { deriveSeed, SeedStream } from './rng.js';
import { type CheckpointMeta, readCheckpoint, stableHash, writeCheckpoint } from './state.js';

/** Where a run starts: fresh, or from a checkpoint. */
export interface StartPosition {
  step: number;
  epoch: number;
  batchInEpoch: number;
  /** Rollbacks before this point (default 0): random streams derive from (seed, rollbacks). */
  rollbacks?: number;
  /** Learning-rate scale in force (default 1). */
  lrScale?: number;
}

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
}

/** How a run ended. */
export interface TrainResult {
  status: RunStatus;
  reason?: string;
  /** Steps completed. */
  step: number;
  error?: unknown;
}

/** Prefixes of the two halves of a checkpoint's state dict. */
const MODEL_PREFIX = 'model/';
const OPTIM_PREFIX = 'optim/';

/** Prefix of the step scalars the trainer adds: `grad_norm/<optimizer>`. */
export const GRAD_NORM_PREFIX = 'grad_norm/';

/** Where a rollback returns to: a checkpoint on disk, or a snapshot taken at the start of the run. */
type Anchor = { dir: string } | { state: StateDict; meta: CheckpointMeta };

/** The trainer's `resume` option from a checkpoint (`readCheckpoint`): state, position, counters, callback state. */
export function resumeFrom(ckpt: { state: StateDict; meta: CheckpointMeta }): NonNullable<TrainerOptions['resume']> {
  const { state, meta } = ckpt;
  return {
    state,
    position: { step: meta.step, epoch: meta.epoch, batchInEpoch: meta.batchInEpoch, rollbacks: meta.rollbacks ?? 0, lrScale: meta.lrScale ?? 1 },
    ...(meta.callbacks ? { callbacks: meta.callbacks } : {}),
  };
}

/** The hash that ties a checkpoint to a model config and data shape. */
export function modelHash(config: ResolvedConfig, dataShape: number[]): string {
  return stableHash({ model: config.model, shape: dataShape });
}

/** Runs the loop of one experiment. */
export class Trainer {
  private readonly optimizers = new Map<string, Optimizer>();
  private step = 0;
  private epoch = 0;
  private batchInEpoch = 0;
  private rollbacks = 0;
  private lrScale = 1;
  private stop?: { reason: string; status: RunStatus };
  private ctx?: TrainContext;
  /** Gradient norms of the step being run, per optimizer (kept tensors, read with the losses). */
  private readonly stepNorms = new Map<string, tf.Scalar>();
  /** Values reported during the current hook phase. */
  private pendingReport?: Record<string, number>;
  private pendingRollback?: { reason: string; lrFactor: number };
  /** True while the callbacks of a step run (rollbacks may be asked for only then). */
  private inStepHooks = false;
  /** Whether a checkpoint was written during the current step's hooks. */
  private checkpointedThisStep = false;
  /** The last good state: the latest checkpoint written or resumed from, else the start. */
  private anchor?: Anchor;
  private resumeCallbacks?: Record<string, unknown>;
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
    if (opts.resume) {
      this.rollbacks = opts.resume.position.rollbacks ?? 0;
      this.lrScale = opts.resume.position.lrScale ?? 1;
      this.resumeCallbacks = opts.resume.callbacks;
    }
    this.createOptimizers();
    if (opts.resume) this.restore(opts.resume.state, opts.resume.position);
    const startStep = this.step;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the run info reads live counters
    const trainer = this;
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
      startStep,
      saveCheckpoint: (tag) => this.saveCheckpoint(tag),
      requestStop: (reason, status) => this.requestStop(reason, status),
      stopping: () => this.stop,
      report: (values) => this.report(values),
      rollback: (reason, o) => this.requestRollback(reason, o?.lrFactor ?? 1),
      rollingBack: () => (this.pendingRollback ? { reason: this.pendingRollback.reason } : undefined),
      get rollbacks() {
        return trainer.rollbacks;
      },
      get lrScale() {
        return trainer.lrScale;
      },
      log: opts.log,
      loadDataset:
        opts.loadDataset ??
        (() => Promise.reject(new Error('this trainer was built without a dataset loader (TrainerOptions.loadDataset)'))),
    };
  }

  /** Ask the loop to stop after the current step (e.g. on SIGINT). The first request wins. */
  requestStop(reason: string, status: RunStatus = 'KILLED'): void {
    this.stop ??= { reason, status };
  }

  /** Run to `totalSteps` (or until stopped). Never throws: failures come back as FAILED. */
  async run(): Promise<TrainResult> {
    const { config, dataset } = this.opts;
    let error: unknown;
    try {
      if (this.resumeCallbacks) this.loadCallbackState(this.resumeCallbacks);
      await this.phase('onRunStart', (cb) => cb.onRunStart?.(this.info));
      // The state a rollback returns to until a checkpoint is written.
      this.anchor ??= this.snapshot();
      outer: while (this.step < this.totalSteps && !this.stop) {
        if (this.batchInEpoch === 0) await this.phase('onEpochStart', (cb) => cb.onEpochStart?.(this.info, this.epoch));
        const batches = dataset.batches({ batchSize: config.train.batchSize, epoch: this.epoch, startBatch: this.batchInEpoch, seed: this.streamSeed() });
        for await (const batch of batches) {
          const images = batch.x.shape[0] ?? 0;
          let values: Record<string, number>;
          try {
            values = this.trainStep(batch);
          } finally {
            batch.x.dispose();
            batch.y.dispose();
          }
          this.step += 1;
          this.batchInEpoch += 1;
          const end: StepEnd = { step: this.step, epoch: this.epoch, images, values };
          this.inStepHooks = true;
          this.checkpointedThisStep = false;
          try {
            await this.phase('onStepEnd', (cb) => cb.onStepEnd?.(this.info, end));
          } finally {
            this.inStepHooks = false;
          }
          const rolledBack = await this.performRollback();
          // Give the event loop one turn: signal handlers (SIGINT) and timers run only here,
          // since a step and the batch iterator settle as microtasks.
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (rolledBack) continue outer; // the position changed: a new batch iterator
          if (this.batchInEpoch >= this.stepsPerEpoch) break; // epoch complete
          if (this.stop || this.step >= this.totalSteps) break outer;
        }
        if (this.batchInEpoch >= this.stepsPerEpoch) {
          await this.phase('onEpochEnd', (cb) => cb.onEpochEnd?.(this.info, this.epoch));
          this.epoch += 1;
          this.batchInEpoch = 0;
        }
      }
    } catch (e) {
      error = e;
      this.pendingRollback = undefined;
      this.pendingReport = undefined;
      this.requestStop(`error at step ${this.step + 1}: ${(e as Error)?.message ?? String(e)}`, 'FAILED');
      for (const cb of this.opts.callbacks) {
        try {
          await cb.onError?.(this.info, e);
        } catch (inner) {
          this.opts.log(`callback '${cb.name}' failed in onError: ${(inner as Error).message}`);
        }
      }
    }
    const status: RunStatus = this.stop?.status ?? 'FINISHED';
    const reason = this.stop?.reason;
    // Every callback gets onRunEnd even if an earlier one fails, so nothing is left half-done.
    for (const cb of this.opts.callbacks) {
      try {
        await cb.onRunEnd?.(this.info, status, reason);
      } catch (e) {
        this.opts.log(`callback '${cb.name}' failed at the end of the run: ${(e as Error).message}`);
        error ??= e;
      }
    }
    // Values reported at the end (e.g. a final evaluation) still reach every callback.
    const final = this.pendingReport;
    this.pendingReport = undefined;
    if (final) {
      for (const cb of this.opts.callbacks) {
        try {
          await cb.onReport?.(this.info, { step: this.step, values: final });
        } catch (e) {
          this.opts.log(`callback '${cb.name}' failed in onReport at the end of the run: ${(e as Error).message}`);
          error ??= e;
        }
      }
    }
    return { status, ...(reason !== undefined ? { reason } : {}), step: this.step, ...(error !== undefined ? { error } : {}) };
  }

  /**
   * One optimisation step on `batch` at the current position, without advancing it or
   * calling callbacks: `model.trainStep` inside `tf.tidy`, its scalars read in one go.
   * The caller owns (and disposes) the batch. Used by the loop and by contract tests.
   */
  trainStep(batch: Batch): Record<string, number> {
    this.ctx ??= this.context();
    const ctx = this.ctx;
    let out: StepResult;
    try {
      out = tf.tidy(() => this.opts.model.trainStep(batch, ctx));
    } catch (e) {
      tf.dispose([...this.stepNorms.values()]);
      this.stepNorms.clear();
      throw e;
    }
    // `grad_norm/<optimizer>` joins the model's scalars: still one device read for all.
    for (const [name, norm] of this.stepNorms) {
      const key = GRAD_NORM_PREFIX + name;
      out[key]?.dispose();
      out[key] = norm;
    }
    this.stepNorms.clear();
    return readScalars(out);
  }

  /** Free the optimizers' slots. The model is disposed by its owner. */
  dispose(): void {
    for (const o of this.optimizers.values()) o.dispose();
  }

  /** Run a hook of every callback in order, then deliver what they reported (`onReport`). */
  private async phase(hook: string, fn: (cb: Callback) => unknown): Promise<void> {
    await this.call(hook, fn);
    await this.deliverReport(this.step);
  }

  private async deliverReport(step: number): Promise<void> {
    const values = this.pendingReport;
    if (!values) return;
    this.pendingReport = undefined;
    await this.call('onReport', (cb) => cb.onReport?.(this.info, { step, values }));
  }

  private report(values: Record<string, number>): void {
    for (const [k, v] of Object.entries(values)) {
      if (typeof v !== 'number') throw new TypeError(`report: '${k}' is ${typeof v}, not a number`);
    }
    this.pendingReport = { ...this.pendingReport, ...values };
  }

  private requestRollback(reason: string, lrFactor: number): void {
    if (!(lrFactor > 0 && Number.isFinite(lrFactor))) throw new RangeError(`rollback: lrFactor must be a positive number, got ${lrFactor}`);
    if (!this.inStepHooks) throw new Error('rollback() can only be asked for while a step ends (onStepEnd, onReport)');
    if (this.pendingRollback) return;
    if (this.checkpointedThisStep) {
      // The bad state is already the last checkpoint: there is nothing good to return to.
      this.requestStop(`${reason} (no rollback: step ${this.step} was checkpointed before the rollback was asked for; a callback that rolls back must run before 'checkpoint')`, 'FAILED');
      return;
    }
    this.pendingRollback = { reason, lrFactor };
  }

  /**
   * Carry out a pending rollback: restore the anchor (model, optimizers, position, callback
   * state), count it, scale the learning rates, and tell every callback. Returns whether one ran.
   */
  private async performRollback(): Promise<boolean> {
    const pending = this.pendingRollback;
    if (!pending) return false;
    this.pendingRollback = undefined;
    const fromStep = this.step;
    const anchor = this.anchor!;
    const { state, meta } = 'dir' in anchor ? readCheckpoint(anchor.dir) : anchor;
    this.rollbacks += 1;
    this.lrScale *= pending.lrFactor;
    this.createOptimizers();
    this.restore(state, meta);
    this.loadCallbackState(meta.callbacks ?? {});
    const where = 'dir' in anchor ? path.relative(this.opts.runDir, anchor.dir) || anchor.dir : 'the start of the run';
    this.opts.log(
      `rollback ${this.rollbacks} at step ${fromStep}: ${pending.reason}; restored step ${this.step} (${where})` +
        `${pending.lrFactor !== 1 ? `, learning rates x${this.lrScale.toPrecision(3)}` : ''}, new random streams`,
    );
    await this.opts.tracker.setTags({
      'genlab.rollbacks': String(this.rollbacks),
      [`genlab.rollback.${this.rollbacks}`]: `step ${fromStep} -> ${this.step}: ${pending.reason}`,
    });
    const event = { fromStep, toStep: this.step, reason: pending.reason, rollbacks: this.rollbacks, lrScale: this.lrScale };
    await this.call('onRollback', (cb) => cb.onRollback?.(this.info, event));
    this.report({ 'health/rollbacks': this.rollbacks, 'health/lr_scale': this.lrScale });
    await this.deliverReport(fromStep);
    return true;
  }

  /** The run seed, or after rollbacks a seed derived from (seed, rollbacks), for step noise and data order. */
  private streamSeed(): number {
    const seed = this.opts.config.seed;
    return this.rollbacks === 0 ? seed : deriveSeed(seed, SeedStream.rollback, this.rollbacks);
  }

  /** (Re)create the optimizers the model declared, with learning rates scaled by `lrScale`. */
  private createOptimizers(): void {
    for (const o of this.optimizers.values()) o.dispose();
    this.optimizers.clear();
    for (const spec of this.opts.model.optimizers) {
      this.optimizers.set(spec.name, createOptimizer(this.lrScale === 1 ? spec.config : { ...spec.config, lr: spec.config.lr * this.lrScale }));
    }
  }

  private loadCallbackState(states: Record<string, unknown>): void {
    for (const cb of this.opts.callbacks) {
      if (cb.loadState && states[cb.name] !== undefined) cb.loadState(structuredClone(states[cb.name]));
    }
  }

  private async call(hook: string, fn: (cb: Callback) => unknown): Promise<void> {
    for (const cb of this.opts.callbacks) {
      try {
        await fn(cb);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        err.message = `callback '${cb.name}' failed in ${hook}: ${err.message}`;
        throw err;
      }
    }
  }

  private context(): TrainContext {
    const clip = this.opts.config.train.gradClip;
    const logNorm = this.opts.config.train.logGradNorm !== false;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the context reads live counters
    const trainer = this;
    return {
      get step() {
        return trainer.step;
      },
      get epoch() {
        return trainer.epoch;
      },
      seed: (stream: number) => deriveSeed(trainer.streamSeed(), SeedStream.step, trainer.step, stream),
      optimize: (name, lossFn, vars) => {
        const optimizer = this.optimizers.get(name);
        if (!optimizer) {
          throw new Error(`model asked for optimizer '${name}' but declared only: ${[...this.optimizers.keys()].join(', ')}`);
        }
        const { value, grads } = tf.variableGrads(lossFn, vars);
        if ((clip !== undefined || logNorm) && Object.keys(grads).length > 0) {
          const norm = globalNorm(grads); // [] ‖g‖₂ over every variable of this update
          if (clip !== undefined) clipByGlobalNorm(grads, norm, clip);
          if (logNorm) this.recordNorm(name, norm);
        }
        optimizer.apply(vars, grads, lrFactor(optimizer.config.schedule, trainer.step, trainer.totalSteps));
        tf.dispose(grads);
        return value;
      },
    };
  }

  /** Keep an update's gradient norm for the step's scalars; the largest when an optimizer steps twice. */
  private recordNorm(name: string, norm: tf.Scalar): void {
    const prev = this.stepNorms.get(name);
    const next: tf.Scalar = prev ? tf.maximum(prev, norm) : norm;
    // Kept: models may run `optimize` inside their own tidy.
    tf.keep(next);
    prev?.dispose();
    this.stepNorms.set(name, next);
  }

  /** The complete state (model, optimizer slots, position, counters, callback state). */
  private snapshot(): { state: StateDict; meta: CheckpointMeta } {
    const state: StateDict = {};
    for (const [k, v] of Object.entries(this.opts.model.getState())) state[MODEL_PREFIX + k] = v;
    for (const [name, opt] of this.optimizers) Object.assign(state, opt.getState(OPTIM_PREFIX + name));
    const callbacks: Record<string, unknown> = {};
    for (const cb of this.opts.callbacks) {
      const s = cb.saveState?.();
      if (s !== undefined) callbacks[cb.name] = structuredClone(s);
    }
    const atBoundary = this.batchInEpoch >= this.stepsPerEpoch;
    const meta: CheckpointMeta = {
      step: this.step,
      epoch: atBoundary ? this.epoch + 1 : this.epoch,
      batchInEpoch: atBoundary ? 0 : this.batchInEpoch,
      seed: this.opts.config.seed,
      modelHash: modelHash(this.opts.config, this.opts.dataset.info.shape),
      model: this.opts.config.model.name,
      runId: this.opts.runId,
      createdAt: new Date().toISOString(),
      rollbacks: this.rollbacks,
      lrScale: this.lrScale,
      ...(Object.keys(callbacks).length ? { callbacks } : {}),
    };
    return { state, meta };
  }

  private async saveCheckpoint(tag: string): Promise<string> {
    if (this.pendingRollback) {
      throw new Error(`refusing to checkpoint step ${this.step}: it is being rolled back (${this.pendingRollback.reason})`);
    }
    const { state, meta } = this.snapshot();
    const dir = path.join(this.opts.runDir, 'checkpoints', tag);
    writeCheckpoint(dir, state, meta);
    this.anchor = { dir };
    if (this.inStepHooks) this.checkpointedThisStep = true;
    return dir;
  }

  /** Model weights, optimizer slots and position from a checkpoint's state (counters are the caller's). */
  private restore(state: StateDict, position: StartPosition): void {
    const modelState: StateDict = {};
    for (const [k, v] of Object.entries(state)) if (k.startsWith(MODEL_PREFIX)) modelState[k.slice(MODEL_PREFIX.length)] = v;
    this.opts.model.setState(modelState);
    for (const [name, opt] of this.optimizers) opt.setState(state, OPTIM_PREFIX + name);
    this.step = position.step;
    this.epoch = position.epoch;
    this.batchInEpoch = position.batchInEpoch;
  }
}

/** Read a step's named scalars with one device read, then dispose them. */
function readScalars(out: Record<string, tf.Scalar>): Record<string, number> {
  const keys = Object.keys(out);
  if (keys.length === 0) return {};
  const stacked = tf.tidy(() => tf.stack(keys.map((k) => tf.cast(out[k]!, 'float32'))));
  const data = stacked.dataSync();
  tf.dispose([stacked, ...Object.values(out)]);
  const values: Record<string, number> = {};
  keys.forEach((k, i) => (values[k] = data[i]!));
  return values;
}

/** The global L2 norm of a set of gradients: ‖g‖ = √(Σ_v Σ_i g_{v,i}²), a float32 scalar. */
export function globalNorm(grads: tf.NamedTensorMap): tf.Scalar {
  // Σ g² as the dot product gᵀg: one matmul kernel per variable instead of square + sum (two
  // passes and a temporary), and a BLAS dot where the native matmul is installed.
  const sq = (g: tf.Tensor) => tf.matMul(tf.reshape(g, [1, g.size]), tf.reshape(g, [g.size, 1]));
  return tf.tidy(() => tf.sqrt(tf.reshape(tf.addN(Object.values(grads).map(sq)), [])) as tf.Scalar);
}

/**
 * Scale `grads` in place so their global L2 norm is at most `maxNorm` (Pascanu et al. 2013):
 * g ← g · maxNorm/‖g‖ when ‖g‖ > maxNorm, else g unchanged (also when ‖g‖ is NaN). Computed
 * on the device from the `norm` tensor (no read): g·1 is g exactly, and for a `maxNorm`
 * representable in float32 (1, 0.5, 10, …) the scale equals the host's float64 quotient
 * rounded to float32, so results are those of the former host-side version.
 */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, norm: tf.Scalar, maxNorm: number): void {
  const scale = tf.tidy(() => tf.where(tf.greater(norm, maxNorm), tf.div(maxNorm, norm), tf.onesLike(norm)));
  for (const n of Object.keys(grads)) {
    const old = grads[n]!;
    grads[n] = tf.mul(old, scale);
    old.dispose();
  }
  scale.dispose();
}
