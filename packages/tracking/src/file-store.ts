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
import { stringify as toYaml } from 'yaml';
import { diskError, ensureDir, UserError, writeFileAtomic as writeAtomic, type RunStatus, type Tracker, type TrackerPlugin } from '@genlab/core';
import {
  BadEntry,
  entryKind,
  experimentMetaSchema,
  fsProblem,
  type MetricPoint,
  parseMetricText,
  readEntryText,
  readFolder,
  readYamlEntry,
  RUN_ID_RE,
  RUN_STATUS,
  runMetaSchema,
  type RunStatusName,
  statusName,
  stderrWarn,
  type Warn,
} from './store-read.js';

export { RUN_STATUS, type MetricPoint, type RunStatusName, type Warn };

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

/** The user a run is recorded for (`user_id`, tag `mlflow.user`), as MLflow's client finds it. */
export function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    // No passwd entry (a container running as an arbitrary uid).
    return process.env.USER || 'genlab';
  }
}

/** An experiment of the store whose `meta.yaml` is valid. */
export interface StoredExperiment {
  id: string;
  name: string;
  dir: string;
  lifecycle: 'active' | 'deleted';
}

/** Everything recorded for a run. */
export interface StoredRun {
  dir: string;
  meta: RunMeta;
  /** Its experiment's name (the folder name when that experiment cannot be read). */
  experiment: string;
  status: RunStatusName;
  params: Record<string, string>;
  tags: Record<string, string>;
  metrics: Record<string, MetricPoint[]>;
}

/** Throws `BadEntry(missing)` when nothing is at `file`; a dangling link or no permission throws as such. */
function mustExist(file: string, missing: string): void {
  if (!fs.lstatSync(file, { throwIfNoEntry: false })) throw new BadEntry(missing);
}

/** Folders of the store root that are not experiments (MLflow's trash and model registry). */
const RESERVED = new Set(['.trash', 'models']);

/**
 * Read and write an `mlruns/` folder. Readers survive a damaged store: an entry that is not
 * what MLflow writes is skipped with one warning naming its path (to `warn`, stderr by
 * default; each message once per store object, so a dashboard polling the runs does not
 * repeat it), and the rest is read.
 */
export class FileStore {
  private readonly warnSink: Warn;
  private readonly warned = new Set<string>();

  constructor(
    readonly root: string,
    opts: { warn?: Warn } = {},
  ) {
    this.warnSink = opts.warn ?? stderrWarn;
  }

  private warn(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.warnSink(message);
  }

  private skip(p: string, error: unknown): void {
    this.warn(`skipping ${p}: ${fsProblem(error)}`);
  }

  /** Create the store (with MLflow's `Default` experiment 0) if it does not exist. */
  init(): void {
    try {
      ensureDir(path.join(this.root, '.trash'));
      fs.accessSync(this.root, fs.constants.W_OK);
    } catch (error) {
      throw new UserError(`The tracking store ${this.root} cannot be used: ${error instanceof Error && error.name === 'DiskError' ? error.message : ((error as NodeJS.ErrnoException).code ?? (error as Error).message)}`);
    }
    if (!fs.existsSync(path.join(this.root, '0', 'meta.yaml'))) this.createExperimentWithId('0', 'Default');
  }

  /** The names in the store root (none when it does not exist); an unreadable root is an error. */
  private rootEntries(): string[] {
    if (!fs.existsSync(this.root)) return [];
    try {
      return readFolder(this.root);
    } catch (error) {
      throw new UserError(`Cannot read the tracking store ${this.root}: ${fsProblem(error)}`);
    }
  }

  /** Every experiment whose folder and `meta.yaml` are valid; the others are skipped with a warning. */
  experimentEntries(): StoredExperiment[] {
    const out: StoredExperiment[] = [];
    for (const name of this.rootEntries()) {
      if (RESERVED.has(name) || name.startsWith('.')) continue;
      const dir = path.join(this.root, name);
      const file = path.join(dir, 'meta.yaml');
      // The path a warning names: the folder until its meta.yaml is known to be there.
      let at = dir;
      try {
        if (entryKind(dir) !== 'dir') throw new BadEntry('a file where an experiment folder is expected');
        mustExist(file, 'not an experiment (no meta.yaml)');
        at = file;
        const meta = readYamlEntry(file, experimentMetaSchema);
        // MLflow refuses an experiment whose id is not its folder's name.
        if (meta.experiment_id !== name) throw new BadEntry(`experiment_id '${meta.experiment_id}' is not the folder's name`);
        out.push({ id: name, name: meta.name, dir, lifecycle: meta.lifecycle_stage });
      } catch (error) {
        this.skip(at, error);
      }
    }
    return out;
  }

  /** Experiments in the store (id and name). */
  experiments(): { id: string; name: string }[] {
    return this.experimentEntries().map(({ id, name }) => ({ id, name }));
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

  /** The id of experiment `name`, created when missing. */
  experimentId(name: string): string {
    for (;;) {
      const found = this.experiments().find((e) => e.name === name);
      if (found) return found.id;
      // Above every numeric entry, readable or not: a damaged folder "7" still holds id 7.
      const ids = this.rootEntries().filter((e) => /^\d+$/.test(e)).map(Number);
      const id = String(Math.max(0, ...ids) + 1);
      if (this.createExperimentWithId(id, name)) return id;
    }
  }

  /** The folder of a run, searched across experiments. */
  runDir(runId: string): string | undefined {
    if (!RUN_ID_RE.test(runId)) return undefined;
    for (const exp of this.rootEntries()) {
      const dir = path.join(this.root, exp, runId);
      if (fs.existsSync(path.join(dir, 'meta.yaml'))) return dir;
    }
    return undefined;
  }

  /** A run's `meta.yaml`, checked as MLflow would read it; throws `BadEntry` saying what is wrong. */
  private checkedRunMeta(runDir: string): RunMeta {
    const meta = readYamlEntry(path.join(runDir, 'meta.yaml'), runMetaSchema);
    const folder = path.basename(runDir);
    const id = meta.run_id ?? meta.run_uuid;
    if (!id) throw new BadEntry('no run_id (nor run_uuid)');
    if (meta.run_id && meta.run_uuid && meta.run_id !== meta.run_uuid) throw new BadEntry(`run_id ${meta.run_id} and run_uuid ${meta.run_uuid} differ`);
    if (id !== folder) throw new BadEntry(`run_id ${id} is not the folder's name`);
    if (meta.experiment_id !== path.basename(path.dirname(runDir))) throw new BadEntry(`experiment_id '${meta.experiment_id}' is not its experiment folder's name`);
    return { ...meta, run_id: id, run_uuid: id, run_name: meta.run_name ?? id } as RunMeta;
  }

  readRunMeta(runDir: string): RunMeta {
    const file = path.join(runDir, 'meta.yaml');
    try {
      return this.checkedRunMeta(runDir);
    } catch (error) {
      throw new UserError(`Cannot read ${file}: ${fsProblem(error)}`);
    }
  }

  writeRunMeta(runDir: string, meta: RunMeta): void {
    writeAtomic(path.join(runDir, 'meta.yaml'), toYaml(meta));
  }

  /**
   * Every active run with a valid `meta.yaml`, by id, without reading what it logged. An
   * entry of an experiment folder that is not such a run is skipped with a warning.
   */
  runEntries(): { dir: string; meta: RunMeta; experiment: string }[] {
    const out: { dir: string; meta: RunMeta; experiment: string }[] = [];
    for (const exp of this.experimentEntries()) {
      if (exp.lifecycle !== 'active') continue;
      let names: string[];
      try {
        names = readFolder(exp.dir);
      } catch (error) {
        this.skip(exp.dir, error);
        continue;
      }
      for (const name of names) {
        // The experiment's own files; dot files are other tools' state (sync, editors).
        if (name === 'meta.yaml' || name === 'tags' || name.startsWith('.')) continue;
        const dir = path.join(exp.dir, name);
        const file = path.join(dir, 'meta.yaml');
        let at = dir;
        try {
          if (!RUN_ID_RE.test(name)) throw new BadEntry('not a run (the name is not a 32-hex run id)');
          if (entryKind(dir) !== 'dir') throw new BadEntry('a file where a run folder is expected');
          mustExist(file, 'not a run (no meta.yaml)');
          at = file;
          const meta = this.checkedRunMeta(dir);
          if (meta.lifecycle_stage === 'active') out.push({ dir, meta, experiment: exp.name });
        } catch (error) {
          this.skip(at, error);
        }
      }
    }
    return out.sort((a, b) => a.meta.run_id.localeCompare(b.meta.run_id));
  }

  /** Every readable active run with what it logged (bad runs and entries skipped with a warning). */
  listRuns(): StoredRun[] {
    return this.runEntries().map(({ dir, meta, experiment }) => this.readContents(dir, meta, experiment));
  }

  /**
   * The files under a run's `params`, `tags` or `metrics` as keys (a key with '/' is a
   * nested folder). A file that cannot be read is skipped with a warning, the others kept.
   */
  private readKeys(base: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (!fs.existsSync(base)) {
      // Absent is fine (nothing logged), unless it is a dangling link.
      if (fs.lstatSync(base, { throwIfNoEntry: false })) this.warn(`skipping ${base}: a dangling symlink`);
      return out;
    }
    const walk = (d: string) => {
      let names: string[];
      try {
        names = readFolder(d);
      } catch (error) {
        this.skip(d, error);
        return;
      }
      for (const name of names) {
        if (name.startsWith('.')) continue;
        const p = path.join(d, name);
        try {
          if (entryKind(p) === 'dir') walk(p);
          else out[path.relative(base, p).split(path.sep).join('/')] = readEntryText(p);
        } catch (error) {
          this.skip(p, error);
        }
      }
    };
    walk(base);
    return out;
  }

  private readContents(dir: string, meta: RunMeta, experiment: string): StoredRun {
    const metrics: Record<string, MetricPoint[]> = {};
    for (const [key, text] of Object.entries(this.readKeys(path.join(dir, 'metrics')))) {
      const points = parseMetricText(text, path.join(dir, 'metrics', ...key.split('/')), (m) => this.warn(m));
      if (points.length) metrics[key] = points;
    }
    return { dir, meta, experiment, status: statusName(meta.status), params: this.readKeys(path.join(dir, 'params')), tags: this.readKeys(path.join(dir, 'tags')), metrics };
  }

  /** The highest step of each metric of the run in `dir` (a damaged line is skipped, with a warning). */
  metricSteps(dir: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, text] of Object.entries(this.readKeys(path.join(dir, 'metrics')))) {
      const points = parseMetricText(text, path.join(dir, 'metrics', ...key.split('/')), (m) => this.warn(m));
      if (points.length) out[key] = Math.max(...points.map((p) => p.step));
    }
    return out;
  }

  /** Everything recorded for a run (for tests, `exp` tools and the dashboard). */
  readRun(runId: string): StoredRun {
    const dir = this.runDir(runId);
    if (!dir) throw new UserError(`No run ${runId} in ${this.root}`);
    const meta = this.readRunMeta(dir);
    const expDir = path.dirname(dir);
    const exp = this.experimentEntries().find((e) => e.dir === expDir);
    return this.readContents(dir, meta, exp?.name ?? path.basename(expDir));
  }

  /** One metric's points (empty when the run never logged it), without reading the others. */
  readMetric(runId: string, key: string): MetricPoint[] {
    checkKey(key, 'metric');
    const dir = this.runDir(runId);
    if (!dir) throw new UserError(`No run ${runId} in ${this.root}`);
    const file = path.join(dir, 'metrics', ...key.split('/'));
    if (!fs.existsSync(file)) return [];
    try {
      return parseMetricText(readEntryText(file), file, (m) => this.warn(m));
    } catch (error) {
      this.skip(file, error);
      return [];
    }
  }
}

/** The `file:` tracker: one run in an MLflow file store. */
export class FileStoreTracker implements Tracker {
  private readonly store: FileStore;
  private dir?: string;

  /** `warn`: where damaged store entries met on the way (while finding an experiment) are reported. */
  constructor(root: string, opts: { warn?: Warn } = {}) {
    this.store = new FileStore(root, opts);
  }

  private run(): string {
    if (!this.dir) throw new Error('tracker: no run started');
    return this.dir;
  }

  async startRun(opts: { experiment: string; runName: string; resumeRunId?: string; runId?: string; tags?: Record<string, string> }) {
    this.store.init();
    if (opts.runId !== undefined && !/^[0-9a-f]{32}$/.test(opts.runId)) throw new UserError(`A run id must be 32 hex digits, got '${opts.runId}'`);
    const reopen = opts.resumeRunId ?? (opts.runId !== undefined && this.store.runDir(opts.runId) ? opts.runId : undefined);
    if (reopen) {
      const dir = this.store.runDir(reopen);
      if (!dir) throw new UserError(`Cannot resume: run ${reopen} is not in the tracking store ${this.store.root}`);
      const meta = this.store.readRunMeta(dir);
      this.store.writeRunMeta(dir, { ...meta, status: RUN_STATUS.RUNNING, end_time: null });
      this.dir = dir;
      if (opts.tags) await this.setTags(opts.tags);
      return { runId: meta.run_id, experimentId: String(meta.experiment_id) };
    }
    const experimentId = this.store.experimentId(opts.experiment);
    const runId = opts.runId ?? randomUUID().replace(/-/g, '');
    const dir = path.join(this.store.root, experimentId, runId);
    try {
      ensureDir(path.join(dir, 'artifacts'));
      for (const sub of ['metrics', 'params', 'tags']) ensureDir(path.join(dir, sub));
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true }); // no half-made run in the store
      throw error;
    }
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
    try {
      this.store.writeRunMeta(dir, meta);
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
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
      try {
        if (fs.existsSync(file)) fs.appendFileSync(file, line);
        else writeAtomic(file, line);
      } catch (error) {
        throw diskError(error, 'log a metric to', file);
      }
    }
  }

  async loggedSteps(): Promise<Record<string, number>> {
    return this.store.metricSteps(this.run());
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
    ensureDir(path.dirname(dest));
    // Copied beside its place and renamed in: a full disk leaves no partial artifact behind.
    const tmp = `${dest}.${process.pid}.tmp`;
    try {
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.cpSync(localPath, tmp, { recursive: true });
      fs.rmSync(dest, { recursive: true, force: true });
      fs.renameSync(tmp, dest);
    } catch (error) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw diskError(error, 'log the artifact to', dest);
    }
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
