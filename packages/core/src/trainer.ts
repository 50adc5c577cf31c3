/**
 * The training loop. It knows nothing about model families: it streams batches, calls
 * `model.trainStep` inside `tf.tidy`, owns the optimizers (so gradient handling lives in one
 * place), reads the step's scalars and calls the callbacks in order.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node (CommonJS) bundle registers no gradients; tfjs-layers' bundle registers
// all of them. Import it for that side effect, so any model (layers or not) can be trained.
import '@tensorflow/tfjs-layers';
import path from 'node:path';
import type { Batch, Callback, GenerativeModel, ImageDataset, RunInfo, RunStatus, StateDict, StepEnd, TrainContext, Tracker } from './contracts.js';
import type { ResolvedConfig } from './config/schema.js';
import { createOptimizer, lrFactor, type Optimizer } from './optim.js';
import { deriveSeed, SeedStream } from './rng.js';
import { type CheckpointMeta, stableHash, writeCheckpoint } from './state.js';

/** Where a run starts: fresh, or from a checkpoint. */
export interface StartPosition {
  step: number;
  epoch: number;
  batchInEpoch: number;
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
  /** Restored state (model + optimizer slots) and position, when resuming. */
  resume?: { state: StateDict; position: StartPosition };
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
  private stop?: { reason: string; status: RunStatus };
  private ctx?: TrainContext;
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
    for (const spec of model.optimizers) this.optimizers.set(spec.name, createOptimizer(spec.config));
    if (opts.resume) this.restore(opts.resume.state, opts.resume.position);
    const startStep = this.step;
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
      await this.call('onRunStart', (cb) => cb.onRunStart?.(this.info));
      outer: while (this.step < this.totalSteps && !this.stop) {
        if (this.batchInEpoch === 0) await this.call('onEpochStart', (cb) => cb.onEpochStart?.(this.info, this.epoch));
        const batches = dataset.batches({ batchSize: config.train.batchSize, epoch: this.epoch, startBatch: this.batchInEpoch, seed: config.seed });
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
          await this.call('onStepEnd', (cb) => cb.onStepEnd?.(this.info, end));
          // Give the event loop one turn: signal handlers (SIGINT) and timers run only here,
          // since a step and the batch iterator settle as microtasks.
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (this.batchInEpoch >= this.stepsPerEpoch) break; // epoch complete
          if (this.stop || this.step >= this.totalSteps) break outer;
        }
        if (this.batchInEpoch >= this.stepsPerEpoch) {
          await this.call('onEpochEnd', (cb) => cb.onEpochEnd?.(this.info, this.epoch));
          this.epoch += 1;
          this.batchInEpoch = 0;
        }
      }
    } catch (e) {
      error = e;
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
    const out = tf.tidy(() => this.opts.model.trainStep(batch, ctx));
    return readScalars(out);
  }

  /** Free the optimizers' slots. The model is disposed by its owner. */
  dispose(): void {
    for (const o of this.optimizers.values()) o.dispose();
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
    const seed = this.opts.config.seed;
    const clip = this.opts.config.train.gradClip;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the context reads live counters
    const trainer = this;
    return {
      get step() {
        return trainer.step;
      },
      get epoch() {
        return trainer.epoch;
      },
      seed: (stream: number) => deriveSeed(seed, SeedStream.step, trainer.step, stream),
      optimize: (name, lossFn, vars) => {
        const optimizer = this.optimizers.get(name);
        if (!optimizer) {
          throw new Error(`model asked for optimizer '${name}' but declared only: ${[...this.optimizers.keys()].join(', ')}`);
        }
        const { value, grads } = tf.variableGrads(lossFn, vars);
        if (clip !== undefined) clipByGlobalNorm(grads, clip);
        optimizer.apply(vars, grads, lrFactor(optimizer.config.schedule, trainer.step, trainer.totalSteps));
        tf.dispose(grads);
        return value;
      },
    };
  }

  private async saveCheckpoint(tag: string): Promise<string> {
    const state: StateDict = {};
    for (const [k, v] of Object.entries(this.opts.model.getState())) state[MODEL_PREFIX + k] = v;
    for (const [name, opt] of this.optimizers) Object.assign(state, opt.getState(OPTIM_PREFIX + name));
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
    };
    const dir = path.join(this.opts.runDir, 'checkpoints', tag);
    writeCheckpoint(dir, state, meta);
    return dir;
  }

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

/** Scale `grads` in place so their global L2 norm is at most `maxNorm`. */
function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): void {
  const names = Object.keys(grads);
  const norm = tf.tidy(() => tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]!)))))).dataSync()[0]!;
  if (!(norm > maxNorm)) return;
  const scale = maxNorm / norm;
  for (const n of names) {
    const old = grads[n]!;
    grads[n] = tf.mul(old, scale);
    old.dispose();
  }
}
