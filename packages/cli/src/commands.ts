/** The `exp` subcommands. Each returns the process exit code. */
import fs from 'node:fs';
import path from 'node:path';
import {
  datasetReloader,
  defaultCacheDir,
  ensureWritableDir,
  findRunDir,
  loadConfig,
  readCheckpoint,
  readRunRecord,
  reconcileInterrupted,
  listRunRecords,
  runExperiment,
  toYaml,
  UserError,
  writeSampleGrid,
  formatDuration,
  type GenerativeModel,
  type ImageDataset,
  type PluginKind,
  type Registry,
  type ResolvedConfig,
  type RunRecord,
  configHasSweep,
  checkRunnable,
  describeData,
  describeInfo,
  loadSweep,
  type ExperimentResult,
} from '@genlab/core';
import { chooseBackend, type BackendName } from './backend.js';
import { builtinRegistry } from './registry.js';
import { launchReplicas } from './replicas.js';
import { onSignals, signalExitCode } from './signals.js';
import { runSweep, variantTags, type SweepChildSpec } from './sweep.js';

const log = (message: string) => process.stderr.write(message + '\n');
/** Whether the command line asked for stack traces. */
const VERBOSE = process.argv.includes('--verbose') || process.argv.includes('-v');

/** Options of `exp run`. */
export interface RunArgs {
  config?: string;
  set: string[];
  resume?: string;
  steps?: number;
  backend?: BackendName;
  outputDir?: string;
  /** `--sweep key=a,b,c` axes (a sweep also comes from the config's `sweep:` block). */
  sweep?: string[];
  /** Sweep variants at a time, as child processes. */
  parallel?: number;
  failFast?: boolean;
  /** Internal: this process runs one variant of a `--parallel` sweep (JSON `SweepChildSpec`). */
  sweepChild?: string;
  /** Put the sweep on this Redis queue (`redis://host:port/db`) for `exp worker` processes. */
  queue?: string;
  /** With `queue`: attempts per variant. */
  attempts?: number;
  /** With `queue`: follow the sweep to its end. */
  wait?: boolean;
  /** With `queue`: a `file:` store and `output.dir` every worker mounts at the same path. */
  sharedFs?: boolean;
}

/** `exp run`: train one experiment, or every variant of a sweep. 0 finished, 1 failed, 130/143 interrupted. */
export async function runCommand(args: RunArgs): Promise<number> {
  const registry = builtinRegistry();
  const overrides = [...args.set];
  if (args.steps !== undefined) overrides.push(`train.steps=${args.steps}`);
  if (args.backend) overrides.push(`backend=${args.backend}`);
  const sweeps = args.sweep ?? [];

  if (args.sweepChild) {
    if (!args.config) throw new UserError('--sweep-child needs the variant config');
    return runSweepChild(registry, args.config, overrides, JSON.parse(args.sweepChild) as SweepChildSpec);
  }
  const isSweep = sweeps.length > 0 || (args.config !== undefined && configHasSweep(args.config, overrides));
  if (args.resume && isSweep) {
    throw new UserError(
      `exp run --resume continues one run; resuming a whole sweep is not supported. Resume its unfinished variants one by one ` +
        `(pnpm exp run --resume <run id>: the table at the end of the sweep and <output.dir>/sweeps/<id>/sweep.json list them), ` +
        `or run the sweep again.`,
    );
  }
  if (!isSweep && (args.parallel !== undefined || args.failFast)) {
    throw new UserError(`--parallel and --fail-fast apply to sweeps: give --sweep key=a,b,… or a config with a 'sweep:' block`);
  }
  if (!isSweep && (args.queue !== undefined || args.attempts !== undefined || args.wait || args.sharedFs)) {
    throw new UserError(`--queue, --attempts, --wait and --shared-fs apply to sweeps: give --sweep key=a,b,… or a config with a 'sweep:' block`);
  }
  if (isSweep && args.queue !== undefined) {
    if (!args.config) throw new UserError('exp run --queue needs a config file');
    if (args.parallel !== undefined || args.failFast) throw new UserError('--parallel and --fail-fast are for a sweep on this machine; on a queue, start as many exp worker processes as you like');
    const { submitSweep } = await import('./queue-submit.js');
    return submitSweep(registry, { config: args.config, overrides, sweeps, queue: args.queue, ...(args.attempts !== undefined ? { attempts: args.attempts } : {}), ...(args.sharedFs !== undefined ? { sharedFs: args.sharedFs } : {}), wait: Boolean(args.wait) });
  }
  if (isSweep) {
    if (!args.config) throw new UserError('exp run --sweep needs a config file');
    return runSweep(registry, {
      config: args.config,
      overrides,
      sweeps,
      parallel: args.parallel ?? 1,
      failFast: Boolean(args.failFast),
      ...(args.parallel !== undefined ? { parallelGiven: true } : {}),
      ...(args.attempts !== undefined ? { attempts: args.attempts } : {}),
      ...(args.wait ? { wait: true } : {}),
      ...(args.sharedFs !== undefined ? { sharedFs: args.sharedFs } : {}),
    });
  }

  let configFile = args.config;
  let resumeDir: string | undefined;
  let baseDir: string | undefined;
  if (args.resume) {
    let outputDir = args.outputDir ?? './outputs';
    if (configFile && !args.outputDir) outputDir = (await loadConfig(configFile, registry, { overrides })).config.output.dir;
    resumeDir = findRunDir(args.resume, outputDir);
    configFile ??= path.join(resumeDir, 'config.yaml');
    baseDir = readRunRecord(resumeDir).configDir;
    // A fresh registry: the config above may have loaded plugin modules already.
    return runLoaded(builtinRegistry(), configFile, overrides, resumeDir, baseDir);
  }
  if (!configFile) throw new UserError('exp run needs a config file (or --resume <run>)');
  return runLoaded(registry, configFile, overrides, undefined, undefined);
}

/** What a sweep adds to one run: its tags, and hooks that report the run to the sweep. */
interface RunExtras {
  tags?: Record<string, string>;
  onRunStart?(run: { runId: string }): void;
  onResult?(result: ExperimentResult): Promise<void>;
}

/** One variant of a `--parallel` sweep, in a child process: report the run and its end over IPC. */
async function runSweepChild(registry: Registry, configFile: string, overrides: string[], spec: SweepChildSpec): Promise<number> {
  const send = (message: object) => new Promise<void>((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));
  // The sweep process died (the IPC channel closed): stop like SIGTERM, checkpointing.
  // Its output then goes nowhere: a write to the closed pipe must not crash the run.
  const orphaned = () => process.kill(process.pid, 'SIGTERM');
  process.on('disconnect', orphaned);
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  process.channel?.unref();
  try {
    return await runLoaded(registry, configFile, overrides, undefined, spec.baseDir, {
      tags: variantTags(spec),
      onRunStart: ({ runId }) => void send({ type: 'run', runId }),
      onResult: (r) =>
        send({
          type: 'result',
          runId: r.runId,
          status: r.status,
          wallSeconds: r.wallSeconds,
          ...(r.reason ? { reason: r.reason } : {}),
        }),
    });
  } catch (error) {
    // Failed before or outside the run (a config or data error): the sweep hears why over IPC.
    await send({ type: 'result', status: 'FAILED', reason: (error as Error)?.message ?? String(error) });
    throw error;
  } finally {
    process.off('disconnect', orphaned);
  }
}

async function runLoaded(registry: Registry, configFile: string, overrides: string[], resumeDir?: string, baseDir?: string, extras: RunExtras = {}): Promise<number> {
  const loaded = await loadConfig(configFile, registry, { overrides });
  const backend = await chooseBackend(loaded.config.backend, { devices: loaded.config.train.devices });
  log(`backend: ${backend.name} (${backend.reason})`);

  const controller = new AbortController();
  const off = onSignals(
    (sig) => {
      log(`${sig}: finishing the current step, then checkpointing (press Ctrl-C again to exit at once)`);
      controller.abort(sig);
    },
    (sig) => {
      log(`${sig} again: exiting now without a final checkpoint`);
      process.exit(signalExitCode(sig));
    },
  );
  try {
    const result = await runExperiment({
      replicas: launchReplicas,
      config: loaded.config,
      registry,
      backend,
      baseDir: baseDir ?? loaded.baseDir,
      ...(resumeDir ? { resumeDir } : {}),
      signal: controller.signal,
      log,
      ...(extras.tags ? { tags: extras.tags } : {}),
      ...(extras.onRunStart ? { onRunStart: extras.onRunStart } : {}),
      source: loaded,
    });
    await extras.onResult?.(result);
    const summary = [
      `run ${result.runId} ${result.status} at step ${result.step} in ${formatDuration(result.wallSeconds)} (${result.imagesPerSecond.toFixed(0)} img/s on ${backend.name})`,
      result.reason ? `  reason: ${result.reason}` : '',
      `  outputs: ${result.runDir}`,
      result.finalGrid ? `  final grid: ${result.finalGrid}` : '',
      `  tracked: ${loaded.config.tracking.uri} (${trackedWhere(result)})`,
      // Only where a resume can work: a checkpoint exists (a run writes one before its first step).
      result.status !== 'FINISHED' && result.step < result.totalSteps && hasCheckpoint(result.runDir) ? `  resume with: pnpm exp run --resume ${result.runId}` : '',
    ].filter(Boolean);
    process.stdout.write(summary.join('\n') + '\n');
    if (result.error) {
      const e = result.error as Error;
      log(`error: ${VERBOSE && e?.stack ? e.stack : (e?.message ?? String(e))}${VERBOSE ? '' : ' (run with --verbose for the stack trace)'}`);
    }
    if (result.status === 'FINISHED') return 0;
    if (result.status === 'KILLED') return signalExitCode(controller.signal.reason);
    return 1;
  } finally {
    off();
  }
}

/** The ids of the end-of-run line: the server's when the run went to one, else the store's. */
function trackedWhere(result: ExperimentResult): string {
  if (result.server) return `experiment ${result.server.experimentId}, run ${result.server.runId}`;
  if (result.server === null) return `not on the server yet; local experiment ${result.experimentId}, run ${result.runId}`;
  return `experiment ${result.experimentId}`;
}

/** `exp validate`: load and check a config, print the resolved YAML; for a sweep, every variant's. */
export async function validateCommand(args: { config: string; set: string[]; sweep?: string[]; quiet?: boolean }): Promise<number> {
  if (args.sweep?.length || configHasSweep(args.config, args.set)) {
    const plan = await loadSweep(args.config, builtinRegistry(), { overrides: args.set, sweeps: args.sweep ?? [], checkData: { log } });
    const n = plan.variants.length;
    if (!args.quiet) {
      process.stdout.write(plan.variants.map((v) => `# variant ${v.index + 1}/${n}: ${v.label}\n${toYaml(v.config)}`).join('---\n'));
    }
    for (const note of plan.notes) log(`note: ${note}`);
    const axes = plan.axes.map((a) => `${a.key} (${a.size})`).join(plan.mode === 'zip' ? ' with ' : ' × ');
    log(`${args.config}: OK, a sweep of ${n} variant${n === 1 ? '' : 's'}${axes ? ` (${plan.mode} over ${axes})` : ''}, each valid:`);
    for (const v of plan.variants) log(`  ${String(v.index + 1).padStart(String(n).length)}  ${v.label}  (model ${v.config.model.name}, data ${v.config.dataset.name})`);
    return 0;
  }
  const registry = builtinRegistry();
  const loaded = await loadConfig(args.config, registry, { overrides: args.set });
  // The schema says the config is well-formed; the data says whether it can run.
  const data = await describeData(loaded.config, registry, { baseDir: loaded.baseDir, cacheDir: defaultCacheDir(), log });
  checkRunnable(loaded.config, data, registry, loaded);
  if (!args.quiet) process.stdout.write(toYaml(loaded.config));
  log(`${args.config}: OK (model ${loaded.config.model.name}, data ${loaded.config.dataset.name} ${describeInfo(data)}), checked against the data`);
  return 0;
}

/** `exp list`: every registered plugin with a one-line description. */
export async function listCommand(args: { config?: string }): Promise<number> {
  const registry = builtinRegistry();
  // Loading the config adds its plugin modules (a sweep's: those of every variant).
  if (args.config) await (configHasSweep(args.config) ? loadSweep(args.config, registry) : loadConfig(args.config, registry));
  const section = (title: string, rows: [string, string][]) => {
    const width = Math.max(...rows.map(([n]) => n.length), 4);
    return `${title}:\n` + rows.map(([n, d]) => `  ${n.padEnd(width)}  ${d}`).join('\n');
  };
  // Plugins from a config's modules say where they come from.
  const from = (kind: PluginKind, name: string) => {
    const origin = registry.origin(kind, name);
    return origin && !origin.startsWith('@genlab/') ? ` (${origin})` : '';
  };
  const out = [
    section('models', [...registry.models.values()].map((p) => [p.name, `[${p.family}] ${p.description}${from('model', p.name)}`])),
    section('datasets', [...registry.datasets.values()].map((p) => [p.name, `${p.description}${from('dataset', p.name)}`])),
    section('callbacks', [...registry.callbacks.values()].map((p) => [p.name, `${p.enabledByDefault ? '(on by default) ' : ''}${p.description}${from('callback', p.name)}`])),
    section('trackers', [...registry.trackers.values()].map((p) => [p.schemes.map((s) => `${s}:`).join(', '), `${p.name}: ${p.description}${from('tracker', p.name)}`])),
    section('metrics (eval.metrics)', [...registry.metrics.values()].map((p) => [p.name, `${p.description}${from('metric', p.name)}`])),
  ];
  process.stdout.write(out.join('\n\n') + '\n');
  return 0;
}

/** A finished (or interrupted) run, reopened: its config, data and model with the last checkpoint's weights. */
export interface OpenRun {
  record: RunRecord;
  registry: Registry;
  config: ResolvedConfig;
  dataset: ImageDataset;
  model: GenerativeModel;
  /** The run's dataset with some options changed. */
  loadDataset(overrides: Record<string, unknown>): Promise<ImageDataset>;
}

/** The checkpoints a run folder holds: `last`, `best` and `step-NNNNNNN` (kept with `callbacks.checkpoint.keep`). */
export function runCheckpoints(runDir: string): string[] {
  const root = path.join(runDir, 'checkpoints');
  let names: string[] = [];
  try {
    names = fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'manifest.json')));
  } catch {
    // No checkpoints folder.
  }
  const rank = (n: string) => (n === 'last' ? 0 : n === 'best' ? 1 : 2);
  return names.filter((n) => n === 'last' || n === 'best' || /^step-\d+$/.test(n)).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The folder of checkpoint `which` (`last`, `best` or a step number) of a run; a UserError names what the run has. */
export function checkpointDir(runDir: string, runId: string, which = 'last'): string {
  const name = /^\d+$/.test(which) ? `step-${which.padStart(7, '0')}` : which;
  if (!/^(last|best|step-\d+)$/.test(name)) throw new UserError(`--checkpoint ${which}: expected last, best or a step number`);
  const have = runCheckpoints(runDir);
  if (!have.includes(name)) {
    const old = name === 'last' && fs.existsSync(path.join(runDir, 'checkpoints', 'last.old', 'manifest.json'));
    throw new UserError(
      have.length
        ? `run ${runId} has no checkpoint '${which}' (it has: ${have.map((h) => h.replace(/^step-0*(\d)/, '$1')).join(', ')})`
        : `run ${runId} has no checkpoint${old ? ' (only an unfinished one, checkpoints/last.old: resume the run to complete it)' : ''}: ${path.join(runDir, 'checkpoints')} holds none`,
    );
  }
  return path.join(runDir, 'checkpoints', name);
}

/** Reopen a run for `exp sample`, `exp eval` and `exp export`; the caller disposes `model` and `dataset`. */
export async function openRun(
  run: string,
  outputDir: string,
  backendChoice?: BackendName,
  beforeLoad?: (config: ResolvedConfig, registry: Registry) => void,
  opts: { checkpoint?: string } = {},
): Promise<OpenRun & { checkpoint: { dir: string; step: number } }> {
  const runDir = findRunDir(run, outputDir);
  const record = readRunRecord(runDir);
  const registry = builtinRegistry();
  const ckptDir = checkpointDir(runDir, record.runId, opts.checkpoint ?? 'last');
  let config: ResolvedConfig;
  try {
    ({ config } = await loadConfig(path.join(runDir, 'config.yaml'), registry));
  } catch (error) {
    if (error instanceof UserError) throw new UserError(`run ${record.runId} cannot be reopened: its config does not load here (a plugin it uses missing or changed?)\n${error.message}`);
    throw error;
  }
  const { state, meta } = readCheckpoint(ckptDir);
  beforeLoad?.(config, registry);
  const backend = await chooseBackend(backendChoice ?? config.backend);
  log(`backend: ${backend.name} (${backend.reason})`);
  const plugin = registry.dataset(config.dataset.name);
  const loadDataset = datasetReloader(config.dataset, plugin, { baseDir: record.configDir, cacheDir: defaultCacheDir(), log });
  const dataset = await loadDataset({});
  const { name: _m, ...modelCfg } = config.model;
  const model = registry.model(config.model.name).create(modelCfg, { data: dataset.info, seed: 0 });
  try {
    model.setState(Object.fromEntries(Object.entries(state).filter(([k]) => k.startsWith('model/')).map(([k, v]) => [k.slice('model/'.length), v])));
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { record, registry, config, dataset, model, loadDataset, checkpoint: { dir: ckptDir, step: meta.step } };
}

/** `exp sample`: draw a grid from a run's last checkpoint. */
export async function sampleCommand(args: { run: string; n: number; out: string; seed?: number; backend?: BackendName; outputDir: string }): Promise<number> {
  const out = path.resolve(args.out);
  const { record, dataset, model } = await openRun(args.run, args.outputDir, args.backend, () => ensureWritableDir(path.dirname(out), 'output folder'));
  try {
    const seed = args.seed ?? Math.floor(Math.random() * 2 ** 31);
    if (!writeSampleGrid({ model, dataset }, args.n, seed, out)) throw new UserError(`run ${record.runId}'s data is not images (shape [${dataset.info.shape.join(', ')}]): no grid to draw`);
    process.stdout.write(`${out}\n`);
    log(`${args.n} samples from run ${record.runId} (step ${record.step}, seed ${seed})`);
  } finally {
    model.dispose();
    dataset.dispose?.();
  }
  return 0;
}

/** Whether a run folder holds a checkpoint to resume from. */
function hasCheckpoint(runDir: string): boolean {
  const last = path.join(runDir, 'checkpoints', 'last');
  return fs.existsSync(path.join(last, 'manifest.json')) || fs.existsSync(path.join(`${last}.old`, 'manifest.json'));
}

/**
 * `exp runs`: list the runs in an output folder. Runs whose process is gone (kill -9, a lost
 * machine) are first recorded as KILLED, resumable; a damaged run folder is skipped with a
 * warning naming it.
 */
export async function runsCommand(args: { outputDir: string }): Promise<number> {
  const root = path.resolve(args.outputDir);
  await reconcileInterrupted(root, builtinRegistry(), { log });
  const rows = listRunRecords(root, (m) => log(`warning: ${m}`));
  if (!rows.length) {
    log(`no runs in ${root}`);
    return 0;
  }
  for (const r of rows) {
    const note = r.interrupted ? `  (interrupted; ${r.checkpointStep !== undefined ? `resume from step ${r.checkpointStep}` : 'no checkpoint'})` : '';
    process.stdout.write(`${r.runId}  ${r.status.padEnd(8)}  step ${String(r.step).padStart(7)}  ${r.createdAt}  ${r.runName}${note}\n`);
  }
  return 0;
}
