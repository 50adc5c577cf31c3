/**
 * A tracker that writes MLflow's own file-store layout (`mlruns/`), so
 * `mlflow ui --backend-store-uri ./mlruns` shows genlab runs without conversion.
 *
 *     mlruns/<exp_id>/meta.yaml
 *     mlruns/<exp_id>/<run_id>/meta.yaml
 *     mlruns/<exp_id>/<run_id>/metrics/<key>   "<ts_ms> <value> <step>\n" per point
 *     mlruns/<exp_id>/<run_id>/params/<key>    raw value, no trailing newline
 *     mlruns/<exp_id>/<run_id>/tags/<key>      raw value, no trailing newline
 *     mlruns/<exp_id>/<run_id>/artifacts/...
 *
 * MLflow fails the search of a whole experiment on one malformed metric file (blank line,
 * empty file, fractional timestamp), so every write here is whole or absent: new files are
 * written to a temporary name and renamed; metric points are appended with one `write` of
 * one complete line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { UserError, writeFileAtomic as writeAtomic, type RunStatus, type Tracker, type TrackerPlugin } from '@genlab/core';

/** MLflow's integer run statuses. */
export const RUN_STATUS = { RUNNING: 1, SCHEDULED: 2, FINISHED: 3, FAILED: 4, KILLED: 5 } as const;
const STATUS_NAME = Object.fromEntries(Object.entries(RUN_STATUS).map(([k, v]) => [v, k])) as Record<number, keyof typeof RUN_STATUS>;

/** MLflow's rule for metric, param and tag keys. */
const KEY_RE = /^[\w\-. :/]+$/;

/** Check a key as MLflow would; throws with the key named. */
export function checkKey(key: string, what: string): void {
  if (!key || key.length > 250 || !KEY_RE.test(key) || key.split('/').some((s) => s === '..' || s === '.' || s === '') ) {
    throw new Error(`invalid ${what} key '${key}': MLflow keys are at most 250 letters, digits, '_ - . space : /' with no empty, '.' or '..' path segments`);
  }
}

/** Format a metric value as MLflow (Python's repr of a float) writes it. */
export function formatMetricValue(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.0`;
  return String(v);
}

/** Resolve `file:./mlruns`, `file:///abs/mlruns` or a plain path to an absolute folder. */
export function storeRoot(uri: string, baseDir: string): string {
  if (uri.startsWith('file://')) return fileURLToPath(uri);
  const p = uri.startsWith('file:') ? uri.slice('file:'.length) : uri;
  return path.resolve(baseDir, p);
}

interface ExperimentMeta {
  artifact_location: string;
  creation_time: number;
  experiment_id: string;
  last_update_time: number;
  lifecycle_stage: string;
  name: string;
}

/** Run metadata as MLflow keeps it in `meta.yaml`. */
export interface RunMeta {
  artifact_uri: string;
  end_time: number | null;
  entry_point_name: string;
  experiment_id: string;
  lifecycle_stage: string;
  run_id: string;
  run_name: string;
  run_uuid: string;
  source_name: string;
  source_type: number;
  source_version: string;
  start_time: number;
  status: number;
  tags: unknown[];
  user_id: string;
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/** Read and write an `mlruns/` folder. */
export class FileStore {
  constructor(readonly root: string) {}

  private readYaml<T>(file: string): T | undefined {
    try {
      return parseYaml(fs.readFileSync(file, 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  /** Create the store (with MLflow's `Default` experiment 0) if it does not exist. */
  init(): void {
    try {
      fs.mkdirSync(path.join(this.root, '.trash'), { recursive: true });
      fs.accessSync(this.root, fs.constants.W_OK);
    } catch (error) {
      throw new UserError(`The tracking store ${this.root} is not writable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (!fs.existsSync(path.join(this.root, '0', 'meta.yaml'))) this.createExperimentWithId('0', 'Default');
  }

  /** Experiments in the store (id and name). */
  experiments(): { id: string; name: string }[] {
    if (!fs.existsSync(this.root)) return [];
    const out: { id: string; name: string }[] = [];
    for (const id of fs.readdirSync(this.root)) {
      const meta = this.readYaml<ExperimentMeta>(path.join(this.root, id, 'meta.yaml'));
      if (meta?.name !== undefined) out.push({ id: String(meta.experiment_id ?? id), name: String(meta.name) });
    }
    return out;
  }

  private createExperimentWithId(id: string, name: string): boolean {
    const dir = path.join(this.root, id);
    try {
      fs.mkdirSync(dir); // atomic: fails if another process took this id
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    const now = Date.now();
    const meta: ExperimentMeta = {
      artifact_location: pathToFileURL(dir).href,
      creation_time: now,
      experiment_id: id,
      last_update_time: now,
      lifecycle_stage: 'active',
      name,
    };
    writeAtomic(path.join(dir, 'meta.yaml'), toYaml(meta));
    return true;
  }

  /** The id of the experiment called `name`, created when missing. */
  experimentId(name: string): string {
    for (;;) {
      const found = this.experiments().find((e) => e.name === name);
      if (found) return found.id;
      const ids = this.experiments().map((e) => Number(e.id)).filter(Number.isFinite);
      const id = String(Math.max(0, ...ids) + 1);
      if (this.createExperimentWithId(id, name)) return id;
    }
  }

  /** The folder of a run, searched across experiments. */
  runDir(runId: string): string | undefined {
    if (!/^[0-9a-f]{32}$/.test(runId) || !fs.existsSync(this.root)) return undefined;
    for (const exp of fs.readdirSync(this.root)) {
      const dir = path.join(this.root, exp, runId);
      if (fs.existsSync(path.join(dir, 'meta.yaml'))) return dir;
    }
    return undefined;
  }

  readRunMeta(runDir: string): RunMeta {
    const meta = this.readYaml<RunMeta>(path.join(runDir, 'meta.yaml'));
    if (!meta) throw new Error(`cannot read ${path.join(runDir, 'meta.yaml')}`);
    return meta;
  }

  writeRunMeta(runDir: string, meta: RunMeta): void {
    writeAtomic(path.join(runDir, 'meta.yaml'), toYaml(meta));
  }

  /** Everything recorded for a run (for tests, `exp` tools and the dashboard). */
  readRun(runId: string): {
    dir: string;
    meta: RunMeta;
    status: string;
    params: Record<string, string>;
    tags: Record<string, string>;
    metrics: Record<string, MetricPoint[]>;
  } {
    const dir = this.runDir(runId);
    if (!dir) throw new UserError(`No run ${runId} in ${this.root}`);
    const meta = this.readRunMeta(dir);
    const readKeys = (sub: string): Record<string, string> => {
      const base = path.join(dir, sub);
      const out: Record<string, string> = {};
      const walk = (d: string) => {
        if (!fs.existsSync(d)) return;
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p);
          else if (!e.name.startsWith('.')) out[path.relative(base, p).split(path.sep).join('/')] = fs.readFileSync(p, 'utf8');
        }
      };
      walk(base);
      return out;
    };
    const metrics: Record<string, MetricPoint[]> = {};
    for (const [key, text] of Object.entries(readKeys('metrics'))) metrics[key] = parseMetricLines(text);
    return { dir, meta, status: STATUS_NAME[meta.status] ?? String(meta.status), params: readKeys('params'), tags: readKeys('tags'), metrics };
  }

  /** One metric's points (empty when the run never logged it), without reading the others. */
  readMetric(runId: string, key: string): MetricPoint[] {
    checkKey(key, 'metric');
    const dir = this.runDir(runId);
    if (!dir) throw new UserError(`No run ${runId} in ${this.root}`);
    const file = path.join(dir, 'metrics', ...key.split('/'));
    return fs.existsSync(file) && fs.statSync(file).isFile() ? parseMetricLines(fs.readFileSync(file, 'utf8')) : [];
  }
}

type MetricPoint = { timestamp: number; value: number; step: number };

/** The points of a metric file: one `<timestamp> <value> <step>` line each. */
function parseMetricLines(text: string): MetricPoint[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [ts, v, step] = l.split(' ');
      return { timestamp: Number(ts), value: v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v), step: Number(step) };
    });
}

/** The `file:` tracker: one run in an MLflow file store. */
export class FileStoreTracker implements Tracker {
  private readonly store: FileStore;
  private dir?: string;

  constructor(root: string) {
    this.store = new FileStore(root);
  }

  private run(): string {
    if (!this.dir) throw new Error('tracker: no run started');
    return this.dir;
  }

  async startRun(opts: { experiment: string; runName: string; resumeRunId?: string; tags?: Record<string, string> }) {
    this.store.init();
    if (opts.resumeRunId) {
      const dir = this.store.runDir(opts.resumeRunId);
      if (!dir) throw new UserError(`Cannot resume: run ${opts.resumeRunId} is not in the tracking store ${this.store.root}`);
      const meta = this.store.readRunMeta(dir);
      this.store.writeRunMeta(dir, { ...meta, status: RUN_STATUS.RUNNING, end_time: null });
      this.dir = dir;
      if (opts.tags) await this.setTags(opts.tags);
      return { runId: meta.run_id, experimentId: String(meta.experiment_id) };
    }
    const experimentId = this.store.experimentId(opts.experiment);
    const runId = randomUUID().replace(/-/g, '');
    const dir = path.join(this.store.root, experimentId, runId);
    fs.mkdirSync(path.join(dir, 'artifacts'), { recursive: true });
    for (const sub of ['metrics', 'params', 'tags']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    const user = userName();
    const meta: RunMeta = {
      artifact_uri: pathToFileURL(path.join(dir, 'artifacts')).href,
      end_time: null,
      entry_point_name: '',
      experiment_id: experimentId,
      lifecycle_stage: 'active',
      run_id: runId,
      run_name: opts.runName,
      run_uuid: runId,
      source_name: '',
      source_type: 4,
      source_version: '',
      start_time: Date.now(),
      status: RUN_STATUS.RUNNING,
      tags: [],
      user_id: user,
    };
    this.store.writeRunMeta(dir, meta);
    this.dir = dir;
    await this.setTags({
      'mlflow.runName': opts.runName,
      'mlflow.user': user,
      'mlflow.source.name': 'genlab exp',
      'mlflow.source.type': 'LOCAL',
      ...opts.tags,
    });
    return { runId, experimentId };
  }

  async logParams(params: Record<string, string>): Promise<void> {
    for (const [key, value] of Object.entries(params)) {
      checkKey(key, 'param');
      const file = path.join(this.run(), 'params', key);
      if (fs.existsSync(file)) {
        const old = fs.readFileSync(file, 'utf8');
        if (old !== value) throw new Error(`param '${key}' is already logged as '${old}' and cannot change to '${value}' (MLflow params are write-once)`);
        continue;
      }
      writeAtomic(file, value);
    }
  }

  async logMetrics(step: number, values: Record<string, number>, timestamp = Date.now()): Promise<void> {
    const ts = Math.round(timestamp);
    for (const [key, value] of Object.entries(values)) {
      checkKey(key, 'metric');
      const file = path.join(this.run(), 'metrics', key);
      const line = `${ts} ${formatMetricValue(value)} ${Math.round(step)}\n`;
      // First point: whole file by rename (never an empty file). Later: one append of one line.
      if (fs.existsSync(file)) fs.appendFileSync(file, line);
      else writeAtomic(file, line);
    }
  }

  async setTags(tags: Record<string, string>): Promise<void> {
    for (const [key, value] of Object.entries(tags)) {
      checkKey(key, 'tag');
      writeAtomic(path.join(this.run(), 'tags', key), value);
    }
  }

  async logArtifact(localPath: string, artifactPath = ''): Promise<void> {
    const base = path.resolve(this.run(), 'artifacts');
    const dest = path.join(base, artifactPath, path.basename(localPath));
    const rel = path.relative(base, dest);
    if (rel === '' || rel.split(path.sep)[0] === '..' || path.isAbsolute(rel)) throw new Error(`artifact path '${artifactPath}' leaves the run's artifact folder`);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.tmp`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.cpSync(localPath, tmp, { recursive: true });
    fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(tmp, dest);
  }

  async endRun(status: RunStatus): Promise<void> {
    const dir = this.run();
    const meta = this.store.readRunMeta(dir);
    this.store.writeRunMeta(dir, { ...meta, status: RUN_STATUS[status], end_time: Date.now() });
  }
}

/** The `file` tracker plugin (`tracking.uri: file:./mlruns`). */
export const fileTracker: TrackerPlugin = {
  name: 'mlflow-file',
  description: "MLflow file-store layout on disk (file:./mlruns); 'mlflow ui --backend-store-uri ./mlruns' reads it",
  schemes: ['file'],
  create: (uri, ctx) => new FileStoreTracker(storeRoot(uri, ctx.baseDir)),
};
