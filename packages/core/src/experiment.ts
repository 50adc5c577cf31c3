/**
 * One experiment from a loaded config to a tracked, checkpointed run: the path of one run in
 * DESIGN.md, steps 4–8. The CLI parses arguments and picks the backend; everything after
 * that is here, so tests can run an experiment without a subprocess.
 *
 * Order matters for "nothing half-written": every check that can fail on bad input (output
 * folder, dataset files, model config, checkpoint compatibility) runs before the tracker
 * creates a run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { defaultCacheDir } from './cache.js';
import { DiskError, diskError, ensureDir } from './fs.js';
import { readRunRecord, reconcileInterrupted, RunHeartbeat, type RunRecord, writeRunRecord } from './run-folder.js';
import type { Callback, DatasetContext, DatasetPlugin, GenerativeModel, ImageDataset, StateDict, Tracker } from './contracts.js';
import { type CheckSource, checkRunnable } from './config/runnable.js';
import type { ResolvedConfig } from './config/schema.js';
import { toYaml } from './config/load.js';
import { recordRunEnd, recordRunStart, TAGS } from './run-record.js';
import { UserError } from './errors.js';
import type { Registry } from './registry.js';
import { deriveSeed, SeedStream } from './rng.js';
import { type CheckpointMeta, readCheckpoint } from './state.js';
import { stateMismatch } from './state-dict.js';
import { modelHash, resumeFrom, Trainer, type TrainerOptions, type TrainResult } from './trainer.js';
import { MAX_DEVICES, rowsOf, stateFloats, type ReplicaGroup, type ReplicaLauncher } from './train/parallel.js';

/** The genlab version (from core's package.json). */
export const GENLAB_VERSION: string = (
  JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Options for `runExperiment`. */
export interface ExperimentOptions {
  config: ResolvedConfig;
  registry: Registry;
  /** Backend chosen by the CLI, and why (logged as tags). */
  backend: { name: string; reason: string };
  /** Folder of the config file (dataset paths resolve against it). */
  baseDir: string;
  /** Resume this run folder from its last checkpoint. */
  resumeDir?: string;
  /** Aborting it stops the run after the current step (SIGINT/SIGTERM in the CLI). */
  signal?: AbortSignal;
  /** Diagnostics sink (stderr in the CLI). */
  log(message: string): void;
  /** Extra tags set when the tracker run is created (a sweep's `genlab.sweep`, `mlflow.parentRunId`). */
  tags?: Record<string, string>;
  /** Called once the tracker run exists, before training (a sweep records which run a variant made). */
  onRunStart?(run: { runId: string; runName: string; experimentId: string }): void;
  /** Where the config came from, so that a check that fails on the data names the `file:line`. */
  source?: CheckSource;
  /**
   * The tracker run's id, chosen before the run started (a queued sweep variant: its run on
   * the tracking server was made at submission; every attempt, on any machine, logs into it).
   * The run folder is `<output.dir>/<runId>`.
   */
  runId?: string;
  /** The tracker to log to, instead of the one `tracking.uri` names (the same kind, set up by the caller). */
  tracker?: Tracker;
  /** Callbacks added after the configured ones (a queue worker's: progress to the queue, checkpoint uploads). */
  callbacks?: Callback[];
  /** Starts the data-parallel replicas when `train.devices` > 1 (the CLI's worker threads). */
  replicas?: ReplicaLauncher;
}

/** What `runExperiment` reports. */
export interface ExperimentResult extends TrainResult {
  /** The steps the run was to reach (a FAILED run with `step === totalSteps` trained to the end). */
  totalSteps: number;
  runId: string;
  runDir: string;
  experimentId: string;
  /** Where the run is on a tracking server (its ids there); null when the tracker mirrors to a server that has not got it. */
  server?: { experimentId: string; runId: string } | null;
  wallSeconds: number;
  /** Images per second over the whole run (this process only). */
  imagesPerSecond: number;
  finalGrid?: string;
}

/** Turn a nested config into MLflow params: `model.latentDim` → '64'. Lists become JSON. */
export function flattenParams(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flattenParams(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined) {
    out[prefix] = Array.isArray(value) ? JSON.stringify(value) : String(value);
  }
  return out;
}

/** Fail early, with the folder named, if `dir` cannot be created or written. */
export function ensureWritableDir(dir: string, what: string): void {
  try {
    ensureDir(dir);
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (error) {
    const why = error instanceof DiskError ? error.message : ((error as NodeJS.ErrnoException).code ?? (error as Error).message);
    throw new UserError(`The ${what} ${dir} cannot be used: ${why}`);
  }
}

function gitCommit(): string | undefined {
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * `(overrides) => dataset`: a run's dataset loaded again with some options changed (e.g.
 * `{ split: 'test' }`), checked by the plugin's schema (`RunInfo.loadDataset`, `exp eval`).
 * Another split is another selection: the run's `subset` (a count of its own split's
 * examples) does not carry over to it, so a 2,000-image training subset still evaluates
 * against a test split of 1,000.
 */
export function datasetReloader(section: ResolvedConfig['dataset'], plugin: DatasetPlugin, ctx: DatasetContext): (overrides: Record<string, unknown>) => Promise<ImageDataset> {
  const { name, ...options } = section;
  return async (overrides) => {
    const otherSplit = overrides.split !== undefined && overrides.split !== options.split;
    const { subset: _subset, ...rest } = options;
    const parsed = plugin.configSchema.safeParse({ ...(otherSplit ? rest : options), ...overrides });
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ');
      throw new UserError(`dataset ${name} with ${JSON.stringify(overrides)}: ${why}`);
    }
    return plugin.load(parsed.data, ctx);
  };
}

/**
 * The checkpoint a resume starts from, checked before anything changes: whole (every file's
 * hash), written by this run, for this model config, data shape and seed, within the run's
 * steps, and holding exactly the model's weights with their shapes.
 */
function checkResumable(runDir: string, record: RunRecord, config: ResolvedConfig, model: GenerativeModel, dataShape: number[]): { state: StateDict; meta: CheckpointMeta } {
  const ckptDir = path.join(runDir, 'checkpoints', 'last');
  if (!fs.existsSync(ckptDir) && !fs.existsSync(`${ckptDir}.old`)) {
    throw new UserError(`Run ${record.runId} has no checkpoint to resume from (${ckptDir} is missing)`);
  }
  const { state, meta } = readCheckpoint(ckptDir);
  if (meta.runId !== record.runId) throw new UserError(`Checkpoint ${ckptDir} belongs to run ${meta.runId}, not to run ${record.runId} whose folder it is in`);
  if (meta.modelHash !== modelHash(config, dataShape)) {
    throw new UserError(
      `Checkpoint ${ckptDir} does not match this config: it was written by model '${meta.model}' with a different model config or data shape. ` +
        `Resume with the run's own config (${path.join(runDir, 'config.yaml')}) or start a new run.`,
    );
  }
  if (meta.seed !== config.seed) throw new UserError(`Checkpoint ${ckptDir} was trained with seed ${meta.seed}, the config says ${config.seed}`);
  const issue = stateMismatch(model.getState(), state, 'model/');
  if (issue) throw new UserError(`Checkpoint ${ckptDir} does not fit the model: ${issue}`);
  return { state, meta };
}

/**
 * The data-parallel replicas a run uses: `auto` is one per core (at most one per example of a
 * batch); a resume with `auto` runs as many as its checkpoint's run did, and a resume that
 * sets another number is told that it will not equal an uninterrupted run.
 */
export function resolveDevices(setting: number | 'auto', batchSize: number, resumedFrom: number | undefined, log: (m: string) => void, cores = os.availableParallelism()): number {
  if (setting === 'auto') return resumedFrom ?? Math.max(1, Math.min(cores, batchSize, MAX_DEVICES));
  if (resumedFrom !== undefined && resumedFrom !== setting) {
    log(`warning: this run's checkpoint was trained on ${resumedFrom} data-parallel replica${resumedFrom > 1 ? 's' : ''} and it resumes on ${setting}: it goes on, but will not equal a run never interrupted`);
  }
  return setting;
}

/** "32", or "8 or 7" where the batch does not divide (the rows `rowsOf` gives each rank). */
function examplesEach(batch: number, devices: number): string {
  const rows = rowsOf(batch, devices);
  return rows[0] === rows.at(-1) ? String(rows[0]) : `${rows[0]} or ${rows.at(-1)}`;
}

/** Run one experiment end to end. Throws `UserError` for bad input before any run is created. */
export async function runExperiment(opts: ExperimentOptions): Promise<ExperimentResult> {
  const { registry, log } = opts;
  let config = opts.config;
  const outputDir = path.resolve(config.output.dir);
  ensureWritableDir(outputDir, 'output folder (output.dir)');

  // 1. Data and model (bad files and bad shapes fail here, before a run exists).
  const datasetPlugin = registry.dataset(config.dataset.name);
  const modelPlugin = registry.model(config.model.name);
  const { name: _d, ...dataCfg } = config.dataset;
  const dataContext = { baseDir: opts.baseDir, cacheDir: defaultCacheDir(), log };
  const dataset = await datasetPlugin.load(dataCfg, dataContext);
  let model: GenerativeModel;
  try {
    // The plugins' checks against the data as loaded (exp validate ran them on its description).
    checkRunnable(config, dataset.info, registry, opts.source ?? { file: config.name });
    const { name: _m, ...modelCfg } = config.model;
    model = modelPlugin.create(modelCfg, { data: dataset.info, seed: deriveSeed(config.seed, SeedStream.init) });
  } catch (error) {
    dataset.dispose?.();
    throw error;
  }
  const loadDataset = datasetReloader(config.dataset, datasetPlugin, dataContext);

  // 2. Resume: the checkpoint must be whole and belong to this run, model config and data shape.
  let resume: TrainerOptions['resume'];
  let resumeMeta: CheckpointMeta | undefined;
  let record: RunRecord | undefined;
  if (opts.resumeDir) {
    try {
      record = readRunRecord(opts.resumeDir);
      const ckpt = checkResumable(opts.resumeDir, record, config, model, dataset.info.shape);
      resumeMeta = ckpt.meta;
      resume = resumeFrom(ckpt);
    } catch (error) {
      model.dispose();
      dataset.dispose?.();
      throw error;
    }
  }

  // `devices: auto` becomes a number now, so that the run's config.yaml, its params and its
  // checkpoints say how many replicas ran; a resume runs as many as the checkpoint's.
  const devices = resolveDevices(config.train.devices, config.train.batchSize, resumeMeta ? (resumeMeta.devices ?? 1) : undefined, log);
  config = { ...config, train: { ...config.train, devices } };

  // 3. Tracker run (created or reopened).
  const uri = config.tracking.uri;
  const trackingBaseDir = record?.trackingBaseDir ?? process.cwd();
  // Runs of this tracker whose process is gone (kill -9, power loss) are recorded as KILLED.
  await reconcileInterrupted(outputDir, registry, { log, only: (r) => r.trackingUri === uri && (r.trackingBaseDir ?? process.cwd()) === trackingBaseDir, ...(opts.resumeDir ? { skip: path.resolve(opts.resumeDir) } : {}) });
  const tracker: Tracker = opts.tracker ?? registry.trackerFor(uri).create(uri, { baseDir: trackingBaseDir });
  const experiment = config.tracking.experiment ?? config.name;
  const runName = record?.runName ?? config.tracking.runName ?? `${config.name}-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
  const { runId, experimentId } = await tracker.startRun({
    experiment,
    runName,
    ...(opts.runId ? { runId: opts.runId } : record ? { resumeRunId: record.runId } : {}),
    ...(opts.tags ? { tags: opts.tags } : {}),
  });
  opts.onRunStart?.({ runId, runName, experimentId });
  // From here on a run exists: any failure before training ends it as FAILED, not RUNNING.
  const runDir = opts.resumeDir ?? path.join(outputDir, runId);
  const newRecord: RunRecord = {
    ...(record ?? {}),
    runId,
    runName,
    experiment,
    experimentId,
    trackingUri: uri,
    trackingBaseDir,
    createdAt: record?.createdAt ?? new Date().toISOString(),
    status: 'RUNNING',
    step: resume?.position.step ?? 0,
    backend: opts.backend.name,
    configDir: record?.configDir ?? opts.baseDir,
  };
  delete newRecord.interrupted;
  let trainer: Trainer | undefined;
  let replicas: ReplicaGroup | undefined;
  const heartbeat = new RunHeartbeat(runDir, newRecord, () => trainer?.step ?? newRecord.step);
  try {
    ensureDir(runDir);
    heartbeat.start();
    const configFile = path.join(runDir, 'config.yaml');
    try {
      fs.writeFileSync(configFile, `# Resolved config of run ${runId} (every default filled in)\n` + toYaml(config));
    } catch (error) {
      throw diskError(error, 'write', configFile);
    }

    const commit = gitCommit();
    const tags: Record<string, string> = {
      [TAGS.version]: GENLAB_VERSION,
      [TAGS.backend]: opts.backend.name,
      [TAGS.backendReason]: opts.backend.reason,
      [TAGS.model]: config.model.name,
      [TAGS.family]: modelPlugin.family,
      [TAGS.dataset]: config.dataset.name,
      [TAGS.runDir]: runDir,
      ...(commit ? { [TAGS.gitCommit]: commit, [TAGS.mlflowGitCommit]: commit } : {}),
      ...config.tracking.tags,
    };
    for (const g of model.summary()) tags[TAGS.params(g.name)] = String(g.params);
    // A resumed run keeps the params and config it was created with.
    await recordRunStart(tracker, { tags, ...(record ? {} : { params: flattenParams(config), configFile }) });

    // 4. Train.
    const callbacks: Callback[] = [];
    for (const [name, plugin] of registry.callbacks) {
      const cbCfg = config.callbacks[name];
      if (cbCfg) callbacks.push(plugin.create(cbCfg, { registry }));
    }
    // run.json follows the checkpoints: a run killed now says where it can resume from.
    callbacks.push({ name: 'run.json', onCheckpoint: (_run, c) => (c.tag === 'last' ? heartbeat.checkpointed(c.step) : undefined) });
    callbacks.push(...(opts.callbacks ?? []));
    if (devices > 1) {
      if (!opts.replicas) throw new UserError(`train.devices is ${devices}, but this program gave runExperiment no replica launcher (ExperimentOptions.replicas); the genlab CLI has one`);
      replicas = await opts.replicas({ config, data: dataset.info, backend: opts.backend.name, plugins: [...opts.registry.loadedModules], devices, paramFloats: stateFloats(model.getState()), log });
    }
    trainer = new Trainer({
      ...(replicas ? { replicas } : {}),
      config,
      model,
      dataset,
      tracker,
      callbacks,
      runId,
      runName,
      runDir,
      backend: opts.backend.name,
      ...(resume ? { resume } : {}),
      log,
      loadDataset,
    });
  } catch (error) {
    heartbeat.stop();
    if (record) {
      // A resume that could not start changes nothing: the run keeps the status and record it had.
      await recordRunEnd(tracker, record.status === 'RUNNING' ? 'KILLED' : record.status, { log });
      writeRunRecord(opts.resumeDir!, record);
    } else {
      await recordRunEnd(tracker, 'FAILED', { reason: `setup failed: ${(error as Error).message}`, log });
    }
    await replicas?.dispose();
    model.dispose();
    dataset.dispose?.();
    throw error;
  }
  const onAbort = () => trainer.requestStop(`interrupted (${String(opts.signal?.reason ?? 'abort')})`, 'KILLED');
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort);
  log(
    `run ${runId} (${runName}): ${config.model.name} on ${config.dataset.name}, ${trainer.totalSteps} steps of ${config.train.batchSize}` +
      (resume ? `, resuming at step ${resume.position.step}` : '') +
      (resume?.position.rollbacks ? ` (after ${resume.position.rollbacks} rollback${resume.position.rollbacks > 1 ? 's' : ''})` : '') +
      (replicas ? `, data-parallel on ${replicas.devices} replicas (${examplesEach(config.train.batchSize, replicas.devices)} examples each)` : '') +
      ` -> ${runDir}`,
  );
  const t0 = performance.now();
  let result: TrainResult;
  try {
    result = await trainer.run();
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await replicas?.dispose();
  }
  // Training finished but an end-of-run callback failed (an evaluation, an upload): the run did
  // not do all it was asked, so it ends FAILED (its checkpoint is complete), with the reason.
  if (result.status === 'FINISHED' && result.error) {
    result = { ...result, status: 'FAILED', reason: `training finished, but a callback failed at the end: ${(result.error as Error)?.message ?? String(result.error)}` };
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const images = (result.step - (resume?.position.step ?? 0)) * config.train.batchSize;

  // 5. Close the run: status, reason, record.
  heartbeat.stop();
  await recordRunEnd(tracker, result.status, { ...(result.reason ? { reason: result.reason } : {}), log });
  const { pid: _pid, host: _host, ...ended } = heartbeat.current();
  writeRunRecord(runDir, { ...ended, status: result.status, step: result.step });
  const server = tracker.remoteRun ? (tracker.remoteRun() ?? null) : undefined;
  trainer.dispose();
  model.dispose();
  dataset.dispose?.();
  const finalGrid = path.join(runDir, 'samples', 'final.png');
  return {
    ...result,
    totalSteps: trainer.totalSteps,
    runId,
    runDir,
    experimentId,
    ...(server !== undefined ? { server } : {}),
    wallSeconds,
    imagesPerSecond: images / wallSeconds,
    ...(fs.existsSync(finalGrid) ? { finalGrid } : {}),
  };
}
