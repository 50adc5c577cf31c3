/**
 * A run's folder and its `run.json`: how to find a run again (`--resume`, `exp sample`,
 * `exp runs`), and whether the process that trains it is still there.
 *
 * A process killed with -9 (or a machine that loses power) cannot write its own end, so a
 * running run says who runs it (`pid`, `host`) and when it last did (`heartbeatAt`, rewritten
 * every `HEARTBEAT_MS` and at every checkpoint, with the checkpoint's step). A RUNNING record
 * whose process is gone is *interrupted*: `reconcileInterrupted` records it as KILLED, in
 * `run.json` and in the tracker, with the reason and the step it can be resumed from, and it
 * stays resumable (`exp run --resume <id>` sets it RUNNING again). The process is gone when,
 * on the same host, its pid is no longer alive; on another host (a shared output folder),
 * when its heartbeat is older than `STALE_MS`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { RunStatus } from './contracts.js';
import { UserError } from './errors.js';
import { writeFileAtomic } from './fs.js';
import type { Registry } from './registry.js';
import { recordRunEnd } from './run-record.js';

/** How often a running process rewrites its heartbeat. */
export const HEARTBEAT_MS = 15_000;
/** A heartbeat older than this, from another host, means that host's process is gone. */
export const STALE_MS = 10 * 60_000;

const runRecordSchema = z.looseObject({
  runId: z.string().min(1),
  runName: z.string(),
  experiment: z.string(),
  experimentId: z.string(),
  trackingUri: z.string().min(1),
  createdAt: z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'not an ISO date'),
  status: z.enum(['RUNNING', 'FINISHED', 'FAILED', 'KILLED']),
  step: z.number().int().min(0),
  backend: z.string(),
  configDir: z.string(),
  trackingBaseDir: z.string().optional(),
  pid: z.number().int().positive().optional(),
  host: z.string().optional(),
  heartbeatAt: z.string().optional(),
  checkpointStep: z.number().int().min(0).optional(),
  interrupted: z.string().optional(),
});

/** Saved as `<runDir>/run.json`: how to find a run again for `--resume` and `exp sample`. */
export interface RunRecord {
  runId: string;
  runName: string;
  experiment: string;
  experimentId: string;
  trackingUri: string;
  createdAt: string;
  status: RunStatus | 'RUNNING';
  /** The step reached (while running: the last checkpoint's step or the step at the last heartbeat). */
  step: number;
  backend: string;
  /** Folder of the original config file (relative dataset paths resolve against it). */
  configDir: string;
  /** Folder a relative `trackingUri` (`file:./mlruns`) resolves against: the working folder of the run's first process. */
  trackingBaseDir?: string;
  /** The process training the run, while RUNNING. */
  pid?: number;
  host?: string;
  heartbeatAt?: string;
  /** Step of the last checkpoint written (what a resume starts from). */
  checkpointStep?: number;
  /** Why a RUNNING record was found without its process, and when. */
  interrupted?: string;
}

/** Read `<runDir>/run.json`, checked field by field; throws a `UserError` naming the file and what is wrong. */
export function readRunRecord(runDir: string): RunRecord {
  const file = path.join(runDir, 'run.json');
  let value: unknown;
  try {
    // A FIFO or folder in its place is refused before it is opened (a FIFO would block).
    if (!fs.statSync(file).isFile()) throw new Error('not a regular file');
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`Cannot read ${file}: ${code === 'ENOENT' ? 'missing (or a dangling symlink)' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`);
  }
  const r = runRecordSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UserError(`Cannot read ${file}: ${issue.path.length ? `${issue.path.join('.')}: ` : 'not a run record: '}${issue.message}`);
  }
  return r.data as RunRecord;
}

/**
 * The runs of an output folder, oldest first. A folder with a `run.json` that cannot be
 * read, or an entry that cannot be looked into (a dangling link, no permission), is skipped
 * with one warning naming its path; other files and folders (`sweeps/`) are not runs.
 */
export function listRunRecords(outputDir: string, warn: (message: string) => void): RunRecord[] {
  return runEntries(outputDir, warn)
    .map((e) => e.record)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** The run folders of an output folder with their records (what `listRunRecords` lists). */
function runEntries(outputDir: string, warn: (message: string) => void): { dir: string; record: RunRecord }[] {
  const root = path.resolve(outputDir);
  if (!fs.existsSync(root)) return [];
  const out: { dir: string; record: RunRecord }[] = [];
  for (const name of fs.readdirSync(root).sort()) {
    if (name.startsWith('.')) continue;
    const dir = path.join(root, name);
    const file = path.join(dir, 'run.json');
    const st = fs.statSync(dir, { throwIfNoEntry: false });
    if (!st) {
      warn(`skipping ${dir}: a dangling symlink`);
      continue;
    }
    if (!st.isDirectory()) continue;
    try {
      fs.readdirSync(dir);
    } catch (error) {
      warn(`skipping ${dir}: cannot look inside (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      continue;
    }
    if (!fs.lstatSync(file, { throwIfNoEntry: false })) continue;
    try {
      out.push({ dir, record: readRunRecord(dir) });
    } catch (error) {
      warn(`skipping ${(error as Error).message.replace(/^Cannot read /, '')}`);
    }
  }
  return out;
}

/** Write `<runDir>/run.json` atomically. */
export function writeRunRecord(runDir: string, record: RunRecord): void {
  writeFileAtomic(path.join(runDir, 'run.json'), JSON.stringify(record, null, 2) + '\n');
}

/** Locate a run folder from a run id (or unique prefix) under `outputDir`, or a folder path. */
export function findRunDir(idOrDir: string, outputDir: string): string {
  if (fs.existsSync(path.join(idOrDir, 'run.json'))) return path.resolve(idOrDir);
  const root = path.resolve(outputDir);
  const direct = path.join(root, idOrDir);
  if (fs.existsSync(path.join(direct, 'run.json'))) return direct;
  const matches = listRunDirs(root).filter((d) => path.basename(d).startsWith(idOrDir));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new UserError(`Run id prefix '${idOrDir}' is ambiguous in ${root}: ${matches.map((d) => path.basename(d)).join(', ')}`);
  throw new UserError(`No run '${idOrDir}': not a run folder, and no run with that id in ${root}`);
}

/** The run folders (those with a `run.json`) directly under `root`; entries that cannot be read are left out. */
export function listRunDirs(root: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  return names.map((d) => path.join(root, d)).filter((d) => {
    try {
      return fs.statSync(path.join(d, 'run.json')).isFile();
    } catch {
      return false;
    }
  });
}

/** Whether process `pid` exists on this host (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why a RUNNING record's process is gone (undefined: it may still be running, or the record
 * is not RUNNING, or it is too old to say: records without a pid).
 */
export function interruptedReason(record: RunRecord, now = Date.now()): string | undefined {
  if (record.status !== 'RUNNING' || record.pid === undefined) return undefined;
  const beat = record.heartbeatAt ? Date.parse(record.heartbeatAt) : NaN;
  const last = Number.isFinite(beat) ? `, last heartbeat ${record.heartbeatAt}` : '';
  if (record.host === undefined || record.host === os.hostname()) {
    if (record.pid === process.pid || pidAlive(record.pid)) return undefined;
    return `its process (pid ${record.pid}) is gone${last}`;
  }
  if (Number.isFinite(beat) && now - beat > STALE_MS) return `no heartbeat from host ${record.host} since ${record.heartbeatAt}`;
  return undefined;
}

/** What to say about resuming a run, from its record. */
function resumableFrom(record: RunRecord): string {
  return record.checkpointStep !== undefined ? `resumable from step ${record.checkpointStep}` : 'no checkpoint to resume from';
}

/**
 * Record every interrupted run under `outputDir` as KILLED (in the tracker, then in its
 * `run.json`), leaving it resumable. `only` limits it to runs of one tracking URI (a run
 * start reconciles the runs of the tracker it opens anyway); `skip` leaves one run alone (the
 * one being resumed). A tracker that cannot be reached leaves the record as it is, to be
 * tried again next time. Returns the run ids recorded.
 */
export async function reconcileInterrupted(
  outputDir: string,
  registry: Registry,
  opts: { log(message: string): void; only?: (record: RunRecord) => boolean; skip?: string },
): Promise<string[]> {
  const done: string[] = [];
  // Listings warn about malformed records; there is nothing to reconcile in one.
  for (const { dir, record } of runEntries(outputDir, () => {})) {
    if (path.resolve(dir) === opts.skip || record.runId === opts.skip) continue;
    if (opts.only && !opts.only(record)) continue;
    const why = interruptedReason(record);
    if (!why) continue;
    const reason = `interrupted: ${why}; ${resumableFrom(record)}`;
    try {
      const tracker = registry.trackerFor(record.trackingUri).create(record.trackingUri, { baseDir: record.trackingBaseDir ?? process.cwd() });
      await tracker.startRun({ experiment: record.experiment, runName: record.runName, resumeRunId: record.runId });
      if (!(await recordRunEnd(tracker, 'KILLED', { reason, log: opts.log, what: `interrupted run ${record.runId}` }))) continue;
    } catch (error) {
      opts.log(`warning: run ${record.runId} in ${dir} was interrupted (${why}), but its tracker could not record it: ${(error as Error)?.message ?? String(error)}`);
      continue;
    }
    const { pid: _p, host: _h, ...rest } = record;
    writeRunRecord(dir, { ...rest, status: 'KILLED', step: record.checkpointStep ?? record.step, interrupted: `${new Date().toISOString()}: ${why}` });
    opts.log(`run ${record.runId} was interrupted (${why}): recorded as KILLED, ${resumableFrom(record)} (exp run --resume ${record.runId})`);
    done.push(record.runId);
  }
  return done;
}

/**
 * The running process's side: `run.json` says RUNNING with this pid and host, and is
 * rewritten with a fresh heartbeat every `HEARTBEAT_MS` (timers run between steps) and at
 * every checkpoint.
 */
export class RunHeartbeat {
  private timer?: NodeJS.Timeout;
  private record: RunRecord;

  constructor(
    private readonly runDir: string,
    record: RunRecord,
    private readonly currentStep: () => number,
  ) {
    this.record = { ...record, pid: process.pid, host: os.hostname() };
  }

  /** Write the record now and every `HEARTBEAT_MS` until `stop`. */
  start(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  /** A checkpoint at `step` was written. */
  checkpointed(step: number): void {
    this.record.checkpointStep = step;
    this.beat();
  }

  /** The record with its latest position (for the caller's final write). */
  current(): RunRecord {
    return this.record;
  }

  private beat(): void {
    this.record = { ...this.record, step: this.currentStep(), heartbeatAt: new Date().toISOString() };
    try {
      writeRunRecord(this.runDir, this.record);
    } catch {
      // A heartbeat that cannot be written (a full disk) is not worth stopping the run for;
      // the checkpoint write that follows reports the disk.
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
