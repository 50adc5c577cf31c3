/**
 * The contracts every genlab plugin implements. They are deliberately small: the trainer
 * only ever sees these types, so a new model family, dataset, callback or tracker never
 * needs a special case in the trainer.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { z } from 'zod';
import type { ResolvedConfig } from './config/schema.js';
import type { OptimizerConfig } from './optim.js';
import type { Registry } from './registry.js';
import type { ExportGraph } from './export/trace.js';

export type { ExportGraph, ExportInput } from './export/trace.js';

/** A zod schema for a plugin's options (the `name` key is added by the loader). */
export type Schema<C> = z.ZodType<C>;

// ---------------------------------------------------------------- data

/** What a model needs to know about the data it is trained on. */
export interface DataInfo {
  /** Shape of one example: [H, W, C] for images, [D] for flat vectors (e.g. toy 2-D points). */
  shape: number[];
  /** Number of classes (labels are 0..numClasses-1); 0 when unlabelled. */
  numClasses: number;
  /** Number of examples in the selected split. */
  size: number;
  /** Pixel range of `x`, e.g. [-1, 1] or [0, 1]. */
  range: [number, number];
  /** Optional human names of the classes. */
  classNames?: string[];
  /**
   * For synthetic Gaussian mixtures (e.g. `toy2d`): each mode's centre and the common
   * standard deviation, so metrics can count covered modes exactly. Labels are mode indices.
   */
  mixture?: { means: number[][]; std: number };
  /**
   * True when every value is one of the two ends of `range` (binarised data). Likelihood
   * models use it to choose a Bernoulli likelihood and to refuse grey levels where an exact
   * discrete NLL is promised.
   */
  binary?: boolean;
}

/** One batch. The trainer owns and disposes both tensors after the step. */
export interface Batch {
  /** float32 [B, ...info.shape] in `info.range`. */
  x: tf.Tensor;
  /** int32 [B] class labels (zeros when unlabelled). */
  y: tf.Tensor1D;
}

/** Where an epoch's iteration starts; lets the trainer checkpoint and resume exactly. */
export interface BatchOptions {
  batchSize: number;
  /** Epoch number (0-based); the shuffle order is a function of (seed, epoch). */
  epoch: number;
  /** Index of the first batch to yield within the epoch (for resume). */
  startBatch: number;
  /** Run seed: shuffling is derived from it. */
  seed: number;
}

/** A dataset ready to stream batches. */
export interface ImageDataset {
  info: DataInfo;
  /** Full batches per epoch for this batch size (the last partial batch is dropped). */
  batchesPerEpoch(batchSize: number): number;
  /** Batches of one epoch in a seeded order. Tensors are created lazily, one batch at a time. */
  batches(opts: BatchOptions): AsyncIterable<Batch>;
  /** Release any cached memory. */
  dispose?(): void;
}

/** Context given to a dataset plugin's `load`. */
export interface DatasetContext {
  /** Folder of the config file, for resolving relative paths. */
  baseDir: string;
  /** Where a plugin may cache decoded data. */
  cacheDir: string;
  /** Progress and diagnostics (to stderr, never stdout). */
  log(message: string): void;
}

/** A dataset plugin: one file, one registry line. */
export interface DatasetPlugin<C = Record<string, unknown>> {
  name: string;
  description: string;
  configSchema: Schema<C>;
  load(cfg: C, ctx: DatasetContext): Promise<ImageDataset>;
  /**
   * What `load` would return as `info`, without decoding the data: from headers, file
   * listings and known counts. `exp validate` checks a config's plugins against it, so it must
   * agree with `load(cfg).info` (the dataset contract test checks that), and it should throw
   * the same `UserError`s as `load` for missing files or an empty selection. Without it,
   * validation loads the dataset to learn its info.
   */
  describe?(cfg: C, ctx: DatasetContext): Promise<DataInfo>;
}

// ---------------------------------------------------------------- validation

/**
 * A problem a plugin's `check` finds with its options for the run's data: the key path of the
 * option inside the plugin's section (`generator.output`; empty or absent for the section as
 * a whole) and what is wrong, said so that the user knows what to change.
 */
export interface CheckIssue {
  path?: string;
  message: string;
}

/** What a `check` returns: issues (none when it is fine), or one message about the whole section. */
export type CheckResult = CheckIssue[] | string | undefined | void;

/** What a plugin's `check` sees: the run's data and its resolved config. */
export interface CheckContext {
  /** The data the run will train on (from `DatasetPlugin.describe`, or the loaded dataset). */
  data: DataInfo;
  /** The run's resolved config (batch size, the model section for a callback, …). */
  config: ResolvedConfig;
  /** The run's plugins (e.g. the metric plugins an evaluation names). */
  registry: Registry;
  /** What the run's model will be able to do (`ModelPlugin.traits`); absent when its plugin does not say. */
  model?: ModelTraits;
}

/**
 * What a model of given options can do, known before it is created: whether it draws
 * samples of a class asked for, and whether it has its own likelihood (`evaluate`). The
 * checks of metrics and callbacks read it (`nll` needs a likelihood, `cas` a conditional
 * model), so `exp validate` refuses what only the model could otherwise say at run time.
 */
export interface ModelTraits {
  conditional: boolean;
  likelihood: boolean;
}

// ---------------------------------------------------------------- models

/** Named arrays: the serialisable form of weights and optimizer slots. */
export interface ArrayEntry {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}
export type StateDict = Record<string, ArrayEntry>;

/** Scalars a train step reports (losses, D(x), …). The trainer reads and disposes them. */
export type StepResult = Record<string, tf.Scalar>;

/** What the trainer gives a model on every step. */
export interface TrainContext {
  /** Global step being run (0-based). */
  readonly step: number;
  /** Epoch being run (0-based). */
  readonly epoch: number;
  /**
   * A seed for random ops in this step, a pure function of (run seed, step, stream), so a
   * resumed run draws the same noise. Use a different `stream` per independent draw.
   */
  seed(stream: number): number;
  /**
   * Minimise `lossFn` over `vars` with the optimizer the model declared as `name`.
   * The trainer owns gradient handling (clipping, non-finite checks, later all-reduce);
   * models never call `optimizer.minimize` themselves. Returns the loss (kept, not disposed).
   */
  optimize(name: string, lossFn: () => tf.Scalar, vars: tf.Variable[]): tf.Scalar;
}

/** Options for `sample`. */
export interface SampleOptions {
  /** Seed for the latent noise: the same seed gives the same samples from the same weights. */
  seed?: number;
  /** int32 [n] class labels for conditional models (ignored by unconditional ones). */
  labels?: tf.Tensor1D;
}

/** A parameter group (e.g. the generator) and its size. */
export interface ParamSummary {
  name: string;
  params: number;
}

/** Declares an optimizer a model uses; the trainer's `optimize(name, …)` looks it up here. */
export interface OptimizerSpec {
  name: string;
  config: OptimizerConfig;
}

/** A trainable generative model. Created by a `ModelPlugin` for a given data shape. */
export interface GenerativeModel {
  /** The optimizers this model's `trainStep` refers to by name. */
  readonly optimizers: OptimizerSpec[];
  /**
   * One optimisation step on a batch (synchronous, run inside `tf.tidy` by the trainer).
   * Returns named scalars to log, e.g. `{ loss_d, loss_g }`.
   */
  trainStep(batch: Batch, ctx: TrainContext): StepResult;
  /** True when `sample` honours `labels` (class-conditional models). */
  readonly conditional?: boolean;
  /** `n` samples, float32 [n, ...dataShape] in the data range. Caller disposes. */
  sample(n: number, opts?: SampleOptions): tf.Tensor;
  /** Likelihood-type metrics on a batch, where the model has them (e.g. NLL). */
  evaluate?(batch: Batch): StepResult;
  /**
   * Model-specific health scalars on a batch of real data, where the model has them: e.g. a
   * GAN's `d_real_pos`, the share of real examples its discriminator scores as real. Health
   * callbacks compare them on training and held-out data (over-fitting signals). Called
   * inside `tf.tidy` (outside training: no weight changes); the caller reads and disposes.
   */
  diagnose?(batch: Batch): StepResult;
  /**
   * Extra pictures a model can draw from a batch of real data, e.g. a VAE's reconstructions
   * or latent interpolations: name (a plain folder name) → float32 [n, ...dataShape] (laid
   * out like a sample grid) or [rows, cols, ...dataShape] (a grid of that layout), in the
   * data range. The samples callback saves each as `samples/<name>/<label>.png`. Caller disposes.
   */
  previews?(batch: Batch, opts: { seed: number }): Record<string, tf.Tensor>;
  /**
   * How `evaluate`'s `nll` is computed when it is an estimate or a bound rather than exact,
   * e.g. `iwae k=100 seed=0`; recorded in the `nll` metric's protocol, so runs whose NLLs were
   * estimated differently are not compared in one column. Unset: exact.
   */
  readonly likelihoodEstimator?: string;
  /**
   * Every weight and non-trainable buffer of the model. Optimizer slots are not here: the
   * trainer creates the optimizers from `optimizers` and checkpoints their state itself.
   */
  getState(): StateDict;
  /** Restore what `getState` returned; throws on missing keys or shape mismatch. */
  setState(state: StateDict): void;
  /** Parameter counts per group (e.g. generator, discriminator). */
  summary(): ParamSummary[];
  /**
   * The networks that generate, for `exp export`: traced into tfjs graph models that plain
   * `@tensorflow/tfjs` loads, with the plain-JS loop that samples with them. Called with
   * the weights to export already set; the model is not trained afterwards.
   */
  exportSpec?(): ModelExport;
  dispose(): void;
}

/** A random input of a sampler: what a page or program draws for each sample. */
export interface RandomInput {
  /** `normal`: N(0, 1) values; `uniform`: U(0, 1) values; `labels`: class indices 0…K-1 (int32). */
  distribution: 'normal' | 'uniform' | 'labels';
  /** Shape of one sample's values (without the batch dimension). */
  shape: number[];
  description: string;
}

/** What a model exports (see `GenerativeModel.exportSpec`). */
export interface ModelExport {
  /** How the graphs sample, in a word (`latent`: one generator pass; `row-lstm`: a pixel loop). */
  sampler: string;
  /** Name → network, traced at export. */
  graphs: Record<string, ExportGraph>;
  /**
   * The sampling loop as an ES module with no imports, shipped beside the graphs as
   * `sampler.mjs`: `export function sample(tf, graphs, inputs, info)` → images (synchronous: graph models without control flow run synchronously)
   * float32 [n, ...shape] in `info.output.range`, where `graphs` are the loaded graph models
   * by name, `inputs` the random inputs by name ([n, ...shape] each) and `info` genlab.json.
   */
  samplerSource: string;
  /** The random inputs the sampler takes, by name (labels only for conditional models). */
  random: Record<string, RandomInput>;
  /**
   * The random inputs `sample(n, { seed, labels })` draws, so an export reproduces a run's
   * samples exactly (the contract test and `exp export`'s check use it). Caller disposes.
   */
  randomInputs(n: number, opts: SampleOptions & { seed: number }): Record<string, tf.Tensor>;
  /** Family facts for genlab.json (latent size, EMA, …). */
  info?: Record<string, unknown>;
}

/** What a model plugin gets when it builds a model. */
export interface ModelContext {
  data: DataInfo;
  /** Seed for weight initialisation. */
  seed: number;
}

/** A model plugin: one file with its schema, defaults and a typed factory. */
export interface ModelPlugin<C = Record<string, unknown>> {
  name: string;
  /** Model family, used to group runs ('gan', 'vae', 'rnn', …). */
  family: string;
  description: string;
  configSchema: Schema<C>;
  /**
   * Whether these options can train on this data (shape, channels, classes, binary, range):
   * e.g. an image model refuses flat data, a conditional one unlabelled data. Run by
   * `exp validate` and by `exp run` before any run exists, so that `create` and the first
   * step never fail on the data. Everything `create` would refuse belongs here.
   */
  check?(cfg: C, ctx: CheckContext): CheckResult;
  /** What a model of these options on this data can do (must agree with the created model's `conditional` and `evaluate`; the contract test checks). */
  traits?(cfg: C, data: DataInfo): ModelTraits;
  create(cfg: C, ctx: ModelContext): GenerativeModel;
}

// ---------------------------------------------------------------- callbacks

/**
 * Everything a callback may look at. Read-only except for the requests a callback may make:
 * `requestStop`, `rollback`, `report` and `saveCheckpoint`.
 */
export interface RunInfo {
  runId: string;
  runName: string;
  /** Folder of this run's local outputs (checkpoints, samples, resolved config). */
  runDir: string;
  config: ResolvedConfig;
  model: GenerativeModel;
  dataset: ImageDataset;
  tracker: Tracker;
  backend: string;
  /** Total steps the run will reach. */
  totalSteps: number;
  stepsPerEpoch: number;
  batchSize: number;
  /** Step the run started (or resumed) at. */
  startStep: number;
  /** Writes a checkpoint of the current state to `<runDir>/checkpoints/<tag>`; returns its folder. */
  saveCheckpoint(tag: string): Promise<string>;
  /**
   * Ask the trainer to stop after the current step, with a reason and the status the run
   * will end with (default KILLED; a divergence guard uses FAILED). The first request wins.
   */
  requestStop(reason: string, status?: RunStatus): void;
  /** The pending stop request, if any (e.g. a checkpoint callback skips a failed step). */
  stopping(): { reason: string; status: RunStatus } | undefined;
  /**
   * Publish scalars at the current step (health signals, evaluations), e.g.
   * `run.report({ 'health/class_entropy': 0.93 })`. Values reported while a hook phase runs
   * (every callback's `onStepEnd` of one step, or `onRunStart`, `onEpochEnd`, `onRunEnd`…)
   * are merged and handed to every callback's `onReport` once that phase has ended, so
   * the order of callbacks does not matter: the `tracker` callback logs them, the `progress`
   * callback shows them. A later value of a key in the same phase replaces an earlier one.
   */
  report(values: Record<string, number>): void;
  /**
   * Ask the trainer to undo the current step: once every callback's `onStepEnd` of this step
   * (and `onReport`) has run, it restores the weights, optimizer state, data position and
   * callback state of the last checkpoint this process wrote or resumed from (or of the
   * start of the run when there is none), counts the rollback (`rollbacks`), multiplies
   * every learning rate by `lrFactor` (default 1), and continues on new random streams:
   * step noise and data order derive from (seed, rollbacks), so the same divergence is not
   * replayed deterministically. The first request of a step wins. A rollback must be asked
   * for before the step is checkpointed (the built-in `divergence` callback runs before
   * `checkpoint`); asked after, the run stops as FAILED instead.
   */
  rollback(reason: string, opts?: { lrFactor?: number }): void;
  /** The pending rollback of this step, if any (a checkpoint callback never saves such a step). */
  rollingBack(): { reason: string } | undefined;
  /** Rollbacks so far in this run (kept in checkpoints; a rollback never lowers it). */
  readonly rollbacks: number;
  /** Product of the `lrFactor`s of the rollbacks so far: every optimizer's lr is scaled by it. */
  readonly lrScale: number;
  /** Diagnostics to stderr (keeps stdout clean). */
  log(message: string): void;
  /**
   * Load the run's dataset again with some options changed, e.g. `{ split: 'test' }` for an
   * evaluation's reference data. The caller disposes it.
   */
  loadDataset(overrides: Record<string, unknown>): Promise<ImageDataset>;
}

/** The scalars of one step, already read from the device. */
export interface StepEnd {
  step: number;
  epoch: number;
  /** Images processed in this step. */
  images: number;
  values: Record<string, number>;
}

/** Scalars published by callbacks through `RunInfo.report`, delivered at the end of a hook phase. */
export interface Report {
  /** Steps completed when they were reported. */
  step: number;
  values: Record<string, number>;
}

/** What a rollback did (`Callback.onRollback`). */
export interface Rollback {
  /** Steps completed when the rollback was asked for (the bad step). */
  fromStep: number;
  /** Steps completed in the restored state. */
  toStep: number;
  reason: string;
  /** Rollbacks so far, this one included. */
  rollbacks: number;
  /** Learning-rate scale now in force. */
  lrScale: number;
}

/** Why a run ended. */
export type RunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

/**
 * A callback: an object of optional async hooks, called in order by the trainer (built-in
 * callbacks first, in registry order, then those of plugin packages).
 *
 * One step ends in this order: every callback's `onStepEnd`; then, if any callback called
 * `run.report`, every callback's `onReport` with the merged values; then, if a callback
 * called `run.rollback`, the trainer restores the last good state and calls every
 * callback's `onRollback`. A stop request takes effect after all of that.
 */
export interface Callback {
  name: string;
  onRunStart?(run: RunInfo): Promise<void> | void;
  onEpochStart?(run: RunInfo, epoch: number): Promise<void> | void;
  onStepEnd?(run: RunInfo, step: StepEnd): Promise<void> | void;
  /** Scalars other callbacks published with `run.report` during the phase that just ended. */
  onReport?(run: RunInfo, report: Report): Promise<void> | void;
  /** The trainer has just restored an earlier state (`run.rollback`); the next step is `toStep + 1`. */
  onRollback?(run: RunInfo, rollback: Rollback): Promise<void> | void;
  /**
   * A checkpoint of the state after `step` steps has just been written (`run.saveCheckpoint`):
   * what a resume would start from. The `tracker` callback ends its logging window here, so a
   * resumed run logs the same windows as an uninterrupted one.
   */
  onCheckpoint?(run: RunInfo, checkpoint: { step: number; tag: string; dir: string }): Promise<void> | void;
  onEpochEnd?(run: RunInfo, epoch: number): Promise<void> | void;
  /** Called once at the end, with the final status (FINISHED, FAILED or KILLED). */
  onRunEnd?(run: RunInfo, status: RunStatus, reason?: string): Promise<void> | void;
  /** Called when a step or hook throws, before `onRunEnd(…, 'FAILED')`. */
  onError?(run: RunInfo, error: unknown): Promise<void> | void;
  /**
   * State to keep in checkpoints (JSON-serialisable), for callbacks whose decisions depend
   * on history (e.g. the divergence guard's running statistics), so a resumed run decides
   * exactly as an uninterrupted one. Restored by `loadState` on resume and on rollback.
   */
  saveState?(): unknown;
  loadState?(state: unknown): void;
}

/** A callback plugin: registered by name, configured under `callbacks.<name>`. */
export interface CallbackPlugin<C = Record<string, unknown>> {
  name: string;
  description: string;
  configSchema: Schema<C>;
  /** Whether the callback is on when the config does not mention it. */
  enabledByDefault: boolean;
  /**
   * A top-level config key of its own for this callback's options (the metrics package's
   * `eval` callback reads `eval:`), instead of `callbacks.<name>:`. Setting it turns the
   * callback on; the root schema learns the key from the registered plugins.
   */
  configKey?: string;
  /** Whether these options can run with this data and config (as `ModelPlugin.check`). */
  check?(cfg: C, ctx: CheckContext): CheckResult;
  create(cfg: C, ctx?: CallbackContext): Callback;
}

/** What a callback plugin gets when it is created for a run. */
export interface CallbackContext {
  /** The run's registry: other plugins by name (e.g. the metric plugins an evaluation names). */
  registry: Registry;
}

// ---------------------------------------------------------------- metrics

/** n vectors of dimension d, row-major. */
export interface Features {
  data: Float32Array;
  n: number;
  d: number;
}

/** One side of an evaluation (the real reference or the generated samples), as a metric reads it. */
export interface MetricSet {
  /** Feature-network embeddings (input 'features'). */
  features: Features;
  /** The feature network's class probabilities (input 'features'). */
  probs: Features;
  /** The raw values in the data range, flattened per example (input 'pixels'). */
  pixels?: Features;
}

/** Everything a metric is computed from. */
export interface MetricInput {
  real: MetricSet;
  fake: MetricSet;
  /** The class each generated sample was asked for (conditional models), else undefined. */
  labels?: Int32Array;
  info: DataInfo;
  /** The evaluation seed (for metrics that subsample). */
  seed: number;
}

/**
 * A sample-quality metric, named in `eval.metrics` (and `exp eval --metrics`): computed from
 * the real reference and the generated samples of one evaluation, under its protocol.
 */
export interface MetricPlugin {
  name: string;
  description: string;
  /** What it reads: the dataset's feature-network embeddings, or the raw samples. */
  input: 'features' | 'pixels';
  /** Why it cannot be computed for this data and model (its traits: known at validation when its plugin says), else nothing. */
  check?(ctx: { data: DataInfo; model?: ModelTraits }): string | undefined | void;
  /** The values, keyed as logged (a metric may report several, e.g. `kid` and `kid_std`). Synchronous, on host arrays. */
  compute(input: MetricInput): Record<string, number>;
}

// ---------------------------------------------------------------- tracking

/** A metric point. */
export interface MetricPoint {
  key: string;
  value: number;
  step: number;
  /** ms since epoch. */
  timestamp: number;
}

/** An MLflow-style experiment tracker. One backend per file. */
export interface Tracker {
  /**
   * Start a new run, or reopen `resumeRunId` (status back to RUNNING). `runId`: the id the run
   * must have (a queued sweep variant's, given when the sweep was submitted; the run is
   * reopened when the store has it already). Trackers that cannot choose ids refuse it.
   */
  startRun(opts: { experiment: string; runName: string; resumeRunId?: string; runId?: string; tags?: Record<string, string> }): Promise<{ runId: string; experimentId: string }>;
  logParams(params: Record<string, string>): Promise<void>;
  logMetrics(step: number, values: Record<string, number>, timestamp?: number): Promise<void>;
  /**
   * The highest step of each metric the open run already holds. A resumed run trains the
   * steps after its checkpoint again; the `tracker` callback does not log again what the
   * interrupted process had logged (optional: without it, a file beside the run says).
   */
  loggedSteps?(): Promise<Record<string, number>>;
  setTags(tags: Record<string, string>): Promise<void>;
  /** Copy a local file or folder into the run's artifacts at `artifactPath` (a relative folder). */
  logArtifact(localPath: string, artifactPath?: string): Promise<void>;
  endRun(status: RunStatus): Promise<void>;
  /** Flush anything buffered. */
  flush?(): Promise<void>;
  /**
   * For a tracker that mirrors runs to a server: the run's ids there (a server numbers
   * experiments and runs its own way), or undefined while the server has not got the run.
   */
  remoteRun?(): { experimentId: string; runId: string } | undefined;
}

/** A tracker plugin, chosen by the scheme of `tracking.uri` (`file:`, `http:`…). */
export interface TrackerPlugin {
  name: string;
  description: string;
  /** URI schemes handled, e.g. ['file']. */
  schemes: string[];
  /** What is wrong with a URI of these schemes that no request would fix (e.g. a port fetch refuses), or undefined. */
  checkUri?(uri: string): string | undefined;
  create(uri: string, ctx: { baseDir: string }): Tracker;
}
