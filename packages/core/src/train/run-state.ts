/**
 * A run's state and its rollbacks: where the run is (step, epoch, batch within the epoch), the
 * counters that change its random streams (rollbacks, learning-rate scale), the complete state
 * a checkpoint holds (model, optimizer slots, position, callback state), and the last good
 * state a rollback returns to (the latest checkpoint written or resumed from, else the start).
 */
import path from 'node:path';
import type { GenerativeModel, ImageDataset, StateDict } from '../contracts.js';
import type { ResolvedConfig } from '../config/schema.js';
import { deriveSeed, SeedStream } from '../rng.js';
import { type CheckpointMeta, readCheckpoint, stableHash, writeCheckpoint } from '../state.js';
import type { GradientHandler } from './gradients.js';
import type { HookDispatcher } from './hooks.js';

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

/** Prefixes of the two halves of a checkpoint's state dict. */
export const MODEL_PREFIX = 'model/';
export const OPTIM_PREFIX = 'optim/';

/** Where a rollback returns to: a checkpoint on disk, or a snapshot taken at the start of the run. */
type Anchor = { dir: string } | { state: StateDict; meta: CheckpointMeta };

/** The hash that ties a checkpoint to a model config and data shape. */
export function modelHash(config: ResolvedConfig, dataShape: number[]): string {
  return stableHash({ model: config.model, shape: dataShape });
}

/** What a rollback did. */
export interface RolledBack {
  fromStep: number;
  toStep: number;
  /** The state returned to, for messages: a checkpoint folder relative to the run, or the start. */
  where: string;
}

export class RunState {
  step = 0;
  epoch = 0;
  batchInEpoch = 0;
  rollbacks = 0;
  lrScale = 1;
  private anchor?: Anchor;

  constructor(
    private readonly deps: {
      config: ResolvedConfig;
      model: GenerativeModel;
      dataset: ImageDataset;
      gradients: GradientHandler;
      hooks: HookDispatcher;
      runId: string;
      runDir: string;
      stepsPerEpoch: number;
    },
  ) {}

  /** The run seed, or after rollbacks a seed derived from (seed, rollbacks), for step noise and data order. */
  streamSeed(): number {
    const seed = this.deps.config.seed;
    return this.rollbacks === 0 ? seed : deriveSeed(seed, SeedStream.rollback, this.rollbacks);
  }

  /** The complete state (model, optimizer slots, position, counters, callback state). */
  snapshot(): { state: StateDict; meta: CheckpointMeta } {
    const { model, gradients, hooks, config, dataset } = this.deps;
    const state: StateDict = {};
    for (const [k, v] of Object.entries(model.getState())) state[MODEL_PREFIX + k] = v;
    Object.assign(state, gradients.getState(OPTIM_PREFIX));
    const callbacks = hooks.saveStates();
    const atBoundary = this.batchInEpoch >= this.deps.stepsPerEpoch;
    const meta: CheckpointMeta = {
      step: this.step,
      epoch: atBoundary ? this.epoch + 1 : this.epoch,
      batchInEpoch: atBoundary ? 0 : this.batchInEpoch,
      seed: config.seed,
      modelHash: modelHash(config, dataset.info.shape),
      model: config.model.name,
      runId: this.deps.runId,
      createdAt: new Date().toISOString(),
      rollbacks: this.rollbacks,
      lrScale: this.lrScale,
      // The data-parallel replicas that trained it (a resume with `devices: auto` runs as many).
      devices: typeof config.train.devices === 'number' ? config.train.devices : 1,
      ...(Object.keys(callbacks).length ? { callbacks } : {}),
    };
    return { state, meta };
  }

  /** Model weights, optimizer slots and position from a checkpoint's state (counters are the caller's). */
  restore(state: StateDict, position: StartPosition): void {
    const modelState: StateDict = {};
    for (const [k, v] of Object.entries(state)) if (k.startsWith(MODEL_PREFIX)) modelState[k.slice(MODEL_PREFIX.length)] = v;
    this.deps.model.setState(modelState);
    this.deps.gradients.setState(state, OPTIM_PREFIX);
    this.step = position.step;
    this.epoch = position.epoch;
    this.batchInEpoch = position.batchInEpoch;
  }

  /** Remember the start of the run as the state to roll back to, until a checkpoint is written. */
  anchorAtStart(): void {
    this.anchor ??= this.snapshot();
  }

  /** Write the current state to `<runDir>/checkpoints/<tag>`; it becomes the state to roll back to. */
  saveCheckpoint(tag: string): string {
    const { state, meta } = this.snapshot();
    const dir = path.join(this.deps.runDir, 'checkpoints', tag);
    writeCheckpoint(dir, state, meta);
    this.anchor = { dir };
    return dir;
  }

  /**
   * Return to the last good state: count the rollback, scale the learning rates by `lrFactor`
   * (fresh optimizers), restore weights, slots, position and callback state.
   */
  rollBack(lrFactor: number): RolledBack {
    const fromStep = this.step;
    const anchor = this.anchor!;
    const { state, meta } = 'dir' in anchor ? readCheckpoint(anchor.dir) : anchor;
    this.rollbacks += 1;
    this.lrScale *= lrFactor;
    this.deps.gradients.create(this.lrScale);
    this.restore(state, meta);
    this.deps.hooks.loadStates(meta.callbacks ?? {});
    const where = 'dir' in anchor ? path.relative(this.deps.runDir, anchor.dir) || anchor.dir : 'the start of the run';
    return { fromStep, toStep: this.step, where };
  }
}
