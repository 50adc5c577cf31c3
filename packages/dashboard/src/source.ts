/**
 * Where the dashboard reads runs from: a local MLflow file store, or an MLflow server over
 * REST. Both answer the same small read-only interface.
 */
import fs from 'node:fs';
import path from 'node:path';
import { interruptedReason, readRunRecord } from '@genlab/core';
import { FileStore, MlflowClient, clientOptionsFromEnv, type Warn } from '@genlab/tracking';
import { OutsideError } from './http.js';
import { liveExports, type RunExport } from './exports.js';

export interface RunSummary {
  runId: string;
  experimentId: string;
  experiment: string;
  runName: string;
  status: string;
  startTime: number;
  endTime?: number;
  params: Record<string, string>;
  tags: Record<string, string>;
  /** Last value of every metric. */
  latest: Record<string, number | null>;
}

export interface Point {
  step: number;
  value: number | null;
  timestamp: number;
}

export interface DashboardSource {
  readonly description: string;
  runs(): Promise<RunSummary[]>;
  history(runId: string, key: string): Promise<Point[]>;
  /** Files under `dir` of a run's artifacts (relative paths). */
  listArtifacts(runId: string, dir: string): Promise<string[]>;
  /** Folders directly under `dir` of a run's artifacts (relative paths), e.g. a model's preview grids in `samples/<name>`. */
  listArtifactDirs(runId: string, dir: string): Promise<string[]>;
  /** A run artifact's bytes; throws `OutsideError` for paths that leave the artifacts. */
  artifact(runId: string, relPath: string): Promise<Buffer | undefined>;
  /**
   * The exports (`exp export`) of every run that has some and whose folder this machine can
   * read, by run id. Only where the run folders are known (a local store); absent elsewhere.
   */
  exports?(): Promise<Record<string, RunExport[]>>;
  /** The folder of export `index` of a run, if it is still an export of that run. */
  exportDir?(runId: string, index: number): Promise<string | undefined>;
}

/** A path that would leave a run's artifact folder (the servers answer it with 400). */
export { OutsideError };

const RUN_ID = /^[0-9a-f]{32}$/;
const json = (v: number) => (Number.isFinite(v) ? v : null);

/** Refuse `..`, absolute paths, backslashes and NUL before touching the file system. */
export function checkRelative(rel: string): string {
  const parts = rel.split('/');
  if (!rel || rel.startsWith('/') || rel.includes('\\') || rel.includes('\0') || parts.some((p) => p === '..' || p === '.' || p === '')) {
    throw new OutsideError(`path '${rel}' is not inside the run's artifacts`);
  }
  return rel;
}

/**
 * A RUNNING run as the dashboard shows it: INTERRUPTED when its `run.json` (found through the
 * `genlab.run_dir` tag) names a process that is gone. Read-only: the next `exp runs` or
 * `exp run` records it as KILLED.
 */
function liveness(runDir: string | undefined): string {
  if (!runDir) return 'RUNNING';
  try {
    return interruptedReason(readRunRecord(runDir)) ? 'INTERRUPTED' : 'RUNNING';
  } catch {
    return 'RUNNING'; // no readable run folder here (another machine's run): nothing to say
  }
}

export class LocalSource implements DashboardSource {
  private readonly store: FileStore;
  readonly description: string;

  /** `warn`: where skipped store entries are reported (stderr by default), once each. */
  constructor(root: string, opts: { warn?: Warn } = {}) {
    this.store = new FileStore(root, opts);
    this.description = `local store ${root}`;
  }

  /** The readable runs; a damaged run or entry is skipped with a warning naming it, never failing the list. */
  async runs(): Promise<RunSummary[]> {
    return this.store.listRuns().map((r) => {
      return {
        runId: r.meta.run_id,
        experimentId: r.meta.experiment_id,
        experiment: r.experiment,
        runName: r.meta.run_name,
        status: r.status === 'RUNNING' ? liveness(r.tags['genlab.run_dir']) : r.status,
        startTime: r.meta.start_time,
        ...(r.meta.end_time ? { endTime: r.meta.end_time } : {}),
        params: r.params,
        tags: r.tags,
        latest: Object.fromEntries(Object.entries(r.metrics).map(([k, pts]) => [k, json(pts.at(-1)!.value)])),
      };
    });
  }

  private runDir(runId: string): string {
    const dir = RUN_ID.test(runId) ? this.store.runDir(runId) : undefined;
    if (!dir) throw new OutsideError(`no run ${runId}`);
    return dir;
  }

  async history(runId: string, key: string): Promise<Point[]> {
    this.runDir(runId);
    let pts: { step: number; value: number; timestamp: number }[] = [];
    try {
      pts = this.store.readMetric(runId, key);
    } catch {
      // Not a valid metric key: no such metric.
    }
    return pts.map((p) => ({ step: p.step, value: json(p.value), timestamp: p.timestamp }));
  }

  /** The real path of `rel` inside the artifacts, after following links. */
  private resolve(runId: string, rel: string): string {
    const root = fs.realpathSync(path.join(this.runDir(runId), 'artifacts'));
    const full = path.join(root, checkRelative(rel));
    if (!fs.existsSync(full)) return full;
    const real = fs.realpathSync(full);
    if (real !== root && !real.startsWith(root + path.sep)) throw new OutsideError(`path '${rel}' leaves the run's artifacts`);
    return real;
  }

  async listArtifacts(runId: string, dir: string): Promise<string[]> {
    return this.entries(runId, dir, (s) => s.isFile());
  }

  async listArtifactDirs(runId: string, dir: string): Promise<string[]> {
    // Only real folders: a link is not followed (it could lead out of the artifacts).
    return this.entries(runId, dir, (s) => s.isDirectory() && !s.isSymbolicLink(), true);
  }

  private entries(runId: string, dir: string, keep: (s: fs.Stats) => boolean, noFollow = false): string[] {
    const base = this.resolve(runId, dir);
    if (!fs.existsSync(base) || !fs.statSync(base).isDirectory()) return [];
    return fs
      .readdirSync(base)
      .filter((f) => keep((noFollow ? fs.lstatSync : fs.statSync)(path.join(base, f))))
      .sort()
      .map((f) => (dir ? `${dir}/${f}` : f));
  }

  async artifact(runId: string, rel: string): Promise<Buffer | undefined> {
    const file = this.resolve(runId, rel);
    return fs.existsSync(file) && fs.statSync(file).isFile() ? fs.readFileSync(file) : undefined;
  }

  async exports(): Promise<Record<string, RunExport[]>> {
    const out: Record<string, RunExport[]> = {};
    for (const r of this.store.listRuns()) {
      const runDir = r.tags['genlab.run_dir'];
      const list = runDir ? liveExports(runDir, r.meta.run_id) : [];
      if (list.length) out[r.meta.run_id] = list;
    }
    return out;
  }

  async exportDir(runId: string, index: number): Promise<string | undefined> {
    this.runDir(runId);
    const runDir = this.store.readRun(runId).tags['genlab.run_dir'];
    return runDir ? liveExports(runDir, runId).find((e) => e.index === index)?.out : undefined;
  }
}

export class RemoteSource implements DashboardSource {
  private readonly client: MlflowClient;
  readonly description: string;
  private artifactUris = new Map<string, string>();

  constructor(uri: string) {
    this.client = new MlflowClient(uri, clientOptionsFromEnv());
    this.description = `MLflow server ${uri}`;
  }

  async runs(): Promise<RunSummary[]> {
    const experiments = await this.client.searchExperiments();
    const names = new Map(experiments.map((e) => [e.experiment_id, e.name]));
    const runs = experiments.length ? await this.client.searchRuns(experiments.map((e) => e.experiment_id)) : [];
    return runs.map((r) => {
      this.artifactUris.set(r.info.run_id, r.info.artifact_uri);
      return {
        runId: r.info.run_id,
        experimentId: r.info.experiment_id,
        experiment: names.get(r.info.experiment_id) ?? r.info.experiment_id,
        runName: r.info.run_name ?? r.info.run_id,
        status: r.info.status,
        startTime: r.info.start_time ?? 0,
        ...(r.info.end_time ? { endTime: r.info.end_time } : {}),
        params: Object.fromEntries((r.data.params ?? []).map((p) => [p.key, p.value])),
        tags: Object.fromEntries((r.data.tags ?? []).map((p) => [p.key, p.value])),
        latest: Object.fromEntries((r.data.metrics ?? []).map((m) => [m.key, json(Number(m.value))])),
      };
    });
  }

  async history(runId: string, key: string): Promise<Point[]> {
    return (await this.client.metricHistory(runId, key)).map((p) => ({ step: p.step, value: json(p.value), timestamp: p.timestamp }));
  }

  private async uri(runId: string): Promise<string> {
    if (!RUN_ID.test(runId)) throw new OutsideError(`no run ${runId}`);
    const known = this.artifactUris.get(runId) ?? (await this.client.getRun(runId)).info.artifact_uri;
    this.artifactUris.set(runId, known);
    return known;
  }

  async listArtifacts(runId: string, dir: string): Promise<string[]> {
    checkRelative(dir);
    return (await this.client.listArtifacts(runId, dir)).filter((f) => !f.is_dir).map((f) => f.path).sort();
  }

  async listArtifactDirs(runId: string, dir: string): Promise<string[]> {
    checkRelative(dir);
    return (await this.client.listArtifacts(runId, dir)).filter((f) => f.is_dir).map((f) => f.path).sort();
  }

  async artifact(runId: string, rel: string): Promise<Buffer | undefined> {
    checkRelative(rel);
    const uri = await this.uri(runId);
    // MLflow answers a missing artifact with a 500 (retried as a server failure) whose message
    // is its disk path: ask the listing of its folder first, and a missing one is not found.
    const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    if (!(await this.client.listArtifacts(runId, dir)).some((f) => f.path === rel && !f.is_dir)) return undefined;
    return this.client.downloadArtifact(uri, rel);
  }
}
