/**
 * `exp run` with a sweep: every variant of `loadSweep`'s plan is a tracked run of its own,
 * grouped under one sweep id and one parent run (MLflow's nested runs).
 *
 * - All variants are validated before anything starts (`loadSweep`).
 * - A parent run `<name>-sweep-<id>` holds the sweep spec as params; every variant run gets
 *   the tags `genlab.sweep`, `genlab.sweep.variant`, `genlab.sweep.index` and
 *   `mlflow.parentRunId`, so MLflow's UI nests them. The parent ends FINISHED when every
 *   variant did, KILLED when the sweep was interrupted, FAILED otherwise.
 * - Sequential by default, in this process (each run disposes what it made; the live tensor
 *   count after each run is recorded). `--parallel N` runs N variants at a time as child
 *   processes of the CLI, each with its share of the CPU threads and its output prefixed.
 * - A failing variant does not stop the others (unless `--fail-fast`). SIGINT stops the
 *   sweep cleanly: the running variants finish their step, checkpoint and end KILLED.
 * - The sweep's record (`<output.dir>/sweeps/<id>/sweep.json`, with each variant's frozen
 *   resolved config) is written as it goes and logged into the parent run at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { onSignals, signalExitCode } from './signals.js';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  formatDuration,
  GENLAB_VERSION,
  recordRunEnd,
  loadSweep,
  runExperiment,
  toYaml,
  UserError,
  writeFileAtomic,
  ensureDir,
  type Registry,
  type RunStatus,
  type SweepPlan,
  type SweepVariant,
  type Tracker,
} from '@genlab/core';
import { chooseBackend } from './backend.js';
import { launchReplicas } from './replicas.js';

const log = (message: string) => process.stderr.write(message + '\n');
/** The CLI entry the variant processes run (`pnpm exp` imports it from a script of its own). */
const cliEntry = fileURLToPath(new URL('./bin.js', import.meta.url));

/** Tags that group a sweep. */
export const SWEEP_TAG = 'genlab.sweep';
export const SWEEP_ROLE_TAG = 'genlab.sweep.role';
export const SWEEP_VARIANT_TAG = 'genlab.sweep.variant';
export const SWEEP_INDEX_TAG = 'genlab.sweep.index';
export const PARENT_RUN_TAG = 'mlflow.parentRunId';

/** Options of `exp run` with a sweep. */
export interface SweepArgs {
  config: string;
  /** `--set` overrides (with `--steps`/`--backend` folded in): every variant. */
  overrides: string[];
  /** `--sweep key=a,b,c` axes. */
  sweeps: string[];
  /** Variants at a time, as child processes (1: sequential, in this process). */
  parallel: number;
  failFast: boolean;
  /** `--parallel` was given (refused with a `launcher:` block). */
  parallelGiven?: boolean;
  /** For a config with a `launcher:` block: `--attempts`, `--wait`. */
  attempts?: number;
  wait?: boolean;
  sharedFs?: boolean;
}

/** What a variant child process is told (the hidden `--sweep-child` flag, as JSON). */
export interface SweepChildSpec {
  sweepId: string;
  parentRunId: string;
  index: number;
  total: number;
  label: string;
  /** Folder of the original config (relative dataset paths resolve against it). */
  baseDir: string;
}

/** A variant's outcome, as the table and `sweep.json` report it. */
export interface VariantOutcome {
  index: number;
  label: string;
  assignments: [string, string][];
  config: string;
  runId?: string;
  /** SKIPPED: never started (after an interrupt, or `--fail-fast`). */
  status: RunStatus | 'SKIPPED' | 'RUNNING' | 'PENDING';
  wallSeconds?: number;
  reason?: string;
  /** Sequential runs: live tensors after the run ended (the same after every run: nothing piles up). */
  liveTensors?: number;
}

/** The tags every variant run gets. */
export function variantTags(spec: Pick<SweepChildSpec, 'sweepId' | 'parentRunId' | 'index' | 'label'>): Record<string, string> {
  return {
    [SWEEP_TAG]: spec.sweepId,
    [SWEEP_ROLE_TAG]: 'variant',
    [SWEEP_VARIANT_TAG]: spec.label,
    [SWEEP_INDEX_TAG]: String(spec.index + 1),
    [PARENT_RUN_TAG]: spec.parentRunId,
  };
}

/** `exp compare --sweep <id>` for a tracking URI (with `--source` unless it is the default store). */
export function compareHint(sweepId: string, uri: string): string {
  const source = uri === 'file:./mlruns' || uri === 'file:mlruns' ? '' : ` --source ${uri.replace(/^file:(?!\/\/)/, '')}`;
  return `pnpm exp compare --sweep ${sweepId}${source}`;
}

/** Threads per child process so that N of them share the cores without oversubscribing them. */
export function threadEnv(parallel: number, base: NodeJS.ProcessEnv = process.env, cores = os.availableParallelism()): { env: NodeJS.ProcessEnv; perChild: number } {
  const perChild = Math.max(1, Math.floor(cores / parallel));
  const env: NodeJS.ProcessEnv = { ...base };
  // OpenBLAS (the native addon under the wasm backend; wasm itself runs one thread in Node),
  // OpenMP, and libtensorflow's pools (tfjs-node). A value the user set is kept.
  env.GENLAB_BLAS_THREADS ??= env.OPENBLAS_NUM_THREADS ?? String(perChild);
  for (const k of ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'TF_NUM_INTRAOP_THREADS']) env[k] ??= String(perChild);
  env.TF_NUM_INTEROP_THREADS ??= '1';
  return { env, perChild };
}

const shortLabel = (label: string, max = 48) => (label.length > max ? `${label.slice(0, max - 1)}…` : label);

/** The variants table printed at the end. */
export function outcomeTable(outcomes: VariantOutcome[]): string {
  const rows = outcomes.map((o) => [String(o.index + 1), o.label, o.runId ? o.runId.slice(0, 8) : '–', o.status, o.wallSeconds !== undefined ? formatDuration(o.wallSeconds) : '–']);
  const head = ['#', 'variant', 'run', 'status', 'wall-clock'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Run a sweep; the exit code (0 all finished, 1 any failed, 130/143 interrupted). */
export async function runSweep(registry: Registry, args: SweepArgs): Promise<number> {
  if (!Number.isInteger(args.parallel) || args.parallel < 1) throw new UserError(`--parallel must be a whole number ≥ 1, got ${args.parallel}`);
  const plan = await loadSweep(args.config, registry, { overrides: args.overrides, sweeps: args.sweeps, checkData: { log } });
  if (plan.launcher) {
    // The config says where its variants run: on a queue, for exp worker processes.
    if (args.parallelGiven || args.failFast) throw new UserError(`--parallel and --fail-fast are for a sweep on this machine; ${plan.file} puts its variants on the queue ${plan.launcher.queue} (launcher:)`);
    const { submitPlan } = await import('./queue-submit.js');
    return submitPlan(plan, { queue: plan.launcher.queue, ...(args.attempts !== undefined ? { attempts: args.attempts } : {}), ...(args.sharedFs !== undefined ? { sharedFs: args.sharedFs } : {}), wait: Boolean(args.wait) });
  }
  if (args.attempts !== undefined || args.wait || args.sharedFs) throw new UserError('--attempts, --wait and --shared-fs apply to a sweep on a queue: add --queue redis://host:6379/0 (or a launcher: block)');
  for (const note of plan.notes) log(`note: ${note}`);
  const first = plan.variants[0]!.config;
  const uri = first.tracking.uri;
  const experiment = first.tracking.experiment ?? first.name;
  const differ = plan.variants.find((v) => v.config.tracking.uri !== uri || (v.config.tracking.experiment ?? v.config.name) !== experiment);
  if (differ) {
    throw new UserError(
      `The variants of a sweep are tracked together (one parent run and its children): variant ${differ.index + 1} (${differ.label}) would go to ` +
        `${differ.config.tracking.uri}, experiment '${differ.config.tracking.experiment ?? differ.config.name}', variant 1 to ${uri}, experiment '${experiment}'. ` +
        `Set tracking.experiment (or keep 'name' and tracking.uri out of the sweep).`,
    );
  }
  const sweepId = randomBytes(4).toString('hex');
  const total = plan.variants.length;
  const parallel = Math.min(args.parallel, total);
  const name = new Set(plan.variants.map((v) => v.config.name)).size === 1 ? first.name : path.basename(plan.file).replace(/\.ya?ml$/i, '');
  // Variant runs are named after the sweep: `<name>-sweep-<id>-<k>` (or `<tracking.runName>-<k>`).
  for (const v of plan.variants) {
    v.config = { ...v.config, tracking: { ...v.config.tracking, runName: `${v.config.tracking.runName ?? `${name}-sweep-${sweepId}`}-${v.index + 1}` } };
  }
  const recordDir = path.resolve(first.output.dir, 'sweeps', sweepId);
  ensureDir(recordDir);

  const outcomes: VariantOutcome[] = plan.variants.map((v) => {
    const config = path.join(recordDir, `variant-${v.index + 1}.yaml`);
    fs.writeFileSync(config, `# Variant ${v.index + 1}/${total} of sweep ${sweepId}: ${v.label}\n` + toYaml(v.config));
    return { index: v.index, label: v.label, assignments: v.assignments, config, status: 'PENDING' };
  });
  const axes = plan.axes.map((a) => `${a.key} (${a.size})`).join(plan.mode === 'zip' ? ' with ' : ' × ');
  log(`sweep ${sweepId}: ${total} variant${total === 1 ? '' : 's'}${axes ? ` (${plan.mode} over ${axes})` : ''}, ${parallel > 1 ? `${parallel} at a time` : 'one after another'}`);
  for (const o of outcomes) log(`  ${String(o.index + 1).padStart(String(total).length)}  ${o.label}`);

  // The parent run: the sweep spec as params; its status is the sweep's.
  const parentTracker: Tracker = registry.trackerFor(uri).create(uri, { baseDir: process.cwd() });
  const parentName = `${name}-sweep-${sweepId}`;
  let parent: { runId: string };
  try {
    parent = await parentTracker.startRun({
      experiment,
      runName: parentName,
      tags: { [SWEEP_TAG]: sweepId, [SWEEP_ROLE_TAG]: 'parent', 'genlab.sweep.size': String(total), 'genlab.version': GENLAB_VERSION, 'genlab.sweep.record': recordDir },
    });
  } catch (error) {
    fs.rmSync(recordDir, { recursive: true, force: true }); // nothing ran: leave nothing behind
    throw error;
  }
  const record = {
    sweepId,
    config: plan.file,
    createdAt: new Date().toISOString(),
    mode: plan.mode,
    axes: plan.axes,
    parallel,
    parentRunId: parent.runId,
    parentRunName: parentName,
    trackingUri: uri,
    experiment,
    status: 'RUNNING' as RunStatus | 'RUNNING',
    variants: outcomes,
  };
  const saveRecord = () => writeFileAtomic(path.join(recordDir, 'sweep.json'), JSON.stringify(record, null, 2) + '\n');
  saveRecord();
  log(`parent run ${parent.runId} (${parentName}) in ${uri}; record: ${recordDir}`);

  let interrupted: NodeJS.Signals | undefined;
  let stopped = false; // --fail-fast
  try {
    await parentTracker.logParams(plan.spec);
    const onHardExit = () => {
      record.status = 'KILLED';
      saveRecord();
      // The file store writes synchronously inside endRun (a server gets it at the next sync).
      void parentTracker.endRun('KILLED').catch(() => {});
    };
    const common = { plan, sweepId, parentRunId: parent.runId, outcomes, saveRecord, failFast: args.failFast, onHardExit };
    const onStop = (sig: NodeJS.Signals) => (interrupted ??= sig);
    const r = parallel > 1 ? await runParallel({ ...common, parallel, onStop }) : await runSequential({ ...common, registry, onStop });
    stopped = r.stopped;
  } finally {
    // Whatever happened (even an unexpected error here), the parent run and the record end.
    for (const o of outcomes) if (o.status === 'PENDING') o.status = 'SKIPPED';
    const failed = outcomes.filter((o) => o.status !== 'FINISHED').length;
    const status: RunStatus = interrupted ? 'KILLED' : failed ? 'FAILED' : 'FINISHED';
    record.status = status;
    saveRecord();
    await parentTracker.logArtifact(path.join(recordDir, 'sweep.json')).catch((error: Error) => log(`tracker: could not store the sweep's record in its parent run: ${error.message}`));
    const reason = interrupted ? `interrupted (${interrupted})` : stopped ? 'a variant failed (--fail-fast)' : undefined;
    await recordRunEnd(parentTracker, status, {
      ...(reason ? { reason } : {}),
      tags: { 'genlab.sweep.finished': String(outcomes.filter((o) => o.status === 'FINISHED').length), 'genlab.sweep.failed': String(outcomes.filter((o) => o.status === 'FAILED').length) },
      log,
      what: "the sweep's parent run",
    });
  }

  const finished = outcomes.filter((o) => o.status === 'FINISHED').length;
  const counts = ['FINISHED', 'FAILED', 'KILLED', 'SKIPPED'].map((s) => [s, outcomes.filter((o) => o.status === s).length] as const).filter(([, n]) => n);
  const out = [
    `sweep ${sweepId}: ${counts.map(([s, n]) => `${n} ${s.toLowerCase()}`).join(', ')} of ${total} (parent run ${parent.runId}, ${record.status})`,
    outcomeTable(outcomes),
    ...outcomes.filter((o) => o.reason && o.status !== 'FINISHED').map((o) => `  ${o.index + 1}: ${o.status.toLowerCase()}: ${o.reason}`),
    ...(outcomes.some((o) => o.runId && (o.status === 'KILLED' || o.status === 'FAILED')) ? ['resume a stopped variant with: pnpm exp run --resume <run>'] : []),
    ...(finished ? [`compare: ${compareHint(sweepId, uri)}`] : []),
  ];
  process.stdout.write(out.join('\n') + '\n');
  if (interrupted) return signalExitCode(interrupted);
  return finished === total ? 0 : 1;
}

interface RunnerArgs {
  plan: SweepPlan;
  sweepId: string;
  parentRunId: string;
  outcomes: VariantOutcome[];
  saveRecord(): void;
  failFast: boolean;
  /** Called with the signal when the user interrupts the sweep. */
  onStop(sig: NodeJS.Signals): void;
  /** Called before this process exits at once (a second Ctrl-C): the parent run ends KILLED. */
  onHardExit(): void;
}

/** One variant after another, in this process. */
async function runSequential(a: RunnerArgs & { registry: Registry }): Promise<{ stopped: boolean }> {
  const total = a.plan.variants.length;
  let controller: AbortController | undefined;
  let stop = false;
  let backendLine = '';
  const off = onSignals(
    (sig) => {
      a.onStop(sig);
      stop = true;
      log(`${sig}: finishing the current step of the running variant, checkpointing, then stopping the sweep (press Ctrl-C again to exit at once)`);
      controller?.abort(sig);
    },
    (sig) => {
      log(`${sig} again: exiting now without a final checkpoint`);
      a.onHardExit();
      process.exit(signalExitCode(sig));
    },
  );
  try {
    for (const v of a.plan.variants) {
      if (stop) break;
      const o = a.outcomes[v.index]!;
      log(`\n── sweep ${a.sweepId}: variant ${v.index + 1}/${total}: ${v.label} ──`);
      controller = new AbortController();
      o.status = 'RUNNING';
      a.saveRecord();
      const t0 = performance.now();
      try {
        const backend = await chooseBackend(v.config.backend, { devices: v.config.train.devices });
        if (`${backend.name}${backend.reason}` !== backendLine) log(`backend: ${backend.name} (${backend.reason})`);
        backendLine = `${backend.name}${backend.reason}`;
        const result = await runExperiment({
      replicas: launchReplicas,
          config: v.config,
          registry: a.registry,
          backend,
          baseDir: a.plan.baseDir,
          signal: controller.signal,
          log,
          tags: variantTags({ sweepId: a.sweepId, parentRunId: a.parentRunId, index: v.index, label: v.label }),
          onRunStart: ({ runId }) => {
            o.runId = runId;
            a.saveRecord();
          },
        });
        o.status = result.status;
        o.wallSeconds = result.wallSeconds;
        if (result.reason) o.reason = result.reason;
        log(`run ${result.runId} ${result.status} at step ${result.step} in ${formatDuration(result.wallSeconds)} (${result.imagesPerSecond.toFixed(0)} img/s on ${backend.name})`);
      } catch (error) {
        o.status = 'FAILED';
        o.wallSeconds = (performance.now() - t0) / 1000;
        o.reason = (error as Error).message ?? String(error);
        log(`variant ${v.index + 1}/${total} failed: ${o.reason}`);
      }
      o.liveTensors = tf.memory().numTensors;
      a.saveRecord();
      if (o.status === 'FAILED' && a.failFast) {
        log(`--fail-fast: variant ${v.index + 1} failed, the remaining variants are skipped`);
        return { stopped: true };
      }
    }
    return { stopped: false };
  } finally {
    off();
  }
}

/** N variants at a time, each a child process of this CLI. */
async function runParallel(a: RunnerArgs & { parallel: number }): Promise<{ stopped: boolean }> {
  const total = a.plan.variants.length;
  const { env, perChild } = threadEnv(a.parallel);
  log(`${a.parallel} processes at a time, ${env.GENLAB_BLAS_THREADS} BLAS thread(s) each (${os.availableParallelism()} cores${env.GENLAB_BLAS_THREADS === String(perChild) ? '' : '; GENLAB_BLAS_THREADS as you set it'})`);
  const running = new Map<number, ChildProcess>();
  const queue = [...a.plan.variants];
  let stop = false;
  let failedFast = false;
  const stoppedByFailFast = new Set<number>();
  const done = () => a.outcomes.filter((o) => ['FINISHED', 'FAILED', 'KILLED'].includes(o.status)).length;
  const off = onSignals(
    (sig) => {
      a.onStop(sig);
      stop = true;
      log(`${sig}: the ${running.size} running variant(s) finish their step, checkpoint and stop; no new variant starts (press Ctrl-C again to stop them at once)`);
      for (const child of running.values()) child.kill(sig);
    },
    (sig) => {
      log(`${sig} again: stopping the running variants now`);
      for (const child of running.values()) child.kill(sig);
    },
  );

  const start = (v: SweepVariant) =>
    new Promise<void>((resolve) => {
      const o = a.outcomes[v.index]!;
      const spec: SweepChildSpec = { sweepId: a.sweepId, parentRunId: a.parentRunId, index: v.index, total, label: v.label, baseDir: a.plan.baseDir };
      const prefix = `[${v.index + 1}/${total} ${shortLabel(v.label)}]`;
      const t0 = performance.now();
      // Own process group: a Ctrl-C in the terminal reaches only this process, which passes
      // it on once (the child would take a second one as "exit at once").
      const child = spawn(process.execPath, [...process.execArgv, cliEntry, 'run', o.config, '--sweep-child', JSON.stringify(spec)], {
        env,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        detached: true,
      });
      running.set(v.index, child);
      o.status = 'RUNNING';
      a.saveRecord();
      // Output is passed through, prefixed; the outcome comes over IPC ('run', 'result'), never from the text.
      let spawnError = '';
      for (const stream of [child.stdout!, child.stderr!]) {
        readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => process.stderr.write(`${prefix} ${line}\n`));
      }
      let result: { status?: RunStatus; reason?: string; wallSeconds?: number } = {};
      child.on('message', (m: { type: string; runId?: string; status?: RunStatus; reason?: string; wallSeconds?: number }) => {
        if (m.type === 'run' && m.runId) {
          o.runId = m.runId;
          a.saveRecord();
        } else if (m.type === 'result') result = m;
      });
      child.on('error', (error) => {
        spawnError = error.message;
      });
      child.on('close', (code, signal) => {
        running.delete(v.index);
        o.wallSeconds = result.wallSeconds ?? (performance.now() - t0) / 1000;
        o.status = result.status ?? (code === 130 || code === 143 || signal ? 'KILLED' : 'FAILED');
        if (code !== 0 && o.status === 'FINISHED') o.status = 'FAILED'; // the run finished, but its process failed after reporting it
        const reason = stoppedByFailFast.has(v.index) ? 'stopped by --fail-fast (another variant failed)' : (result.reason ?? (o.status !== 'FINISHED' ? spawnError || `the variant's process ended with ${code !== null ? `exit code ${code}` : signal} before reporting a result` : undefined));
        if (reason) o.reason = reason;
        a.saveRecord();
        const n = done();
        log(`[sweep ${a.sweepId}] variant ${v.index + 1}/${total} ${o.status}${o.runId ? ` (run ${o.runId.slice(0, 8)})` : ''}; ${n}/${total} done, ${running.size} running`);
        resolve();
      });
    });

  try {
    const workers = Array.from({ length: a.parallel }, async () => {
      for (let v = queue.shift(); v; v = queue.shift()) {
        if (stop || failedFast) return;
        await start(v);
        if (a.failFast && a.outcomes[v.index]!.status === 'FAILED' && !failedFast) {
          failedFast = true;
          log(`--fail-fast: variant ${v.index + 1} failed; stopping the running variants, the rest are skipped`);
          for (const [index, child] of running) {
            stoppedByFailFast.add(index);
            child.kill('SIGINT');
          }
        }
      }
    });
    await Promise.all(workers);
    return { stopped: failedFast };
  } finally {
    off();
  }
}
