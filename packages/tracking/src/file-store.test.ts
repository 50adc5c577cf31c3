import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { UserError } from '@genlab/core';
import { checkKey, FileStore, FileStoreTracker, formatMetricValue, RUN_STATUS, storeRoot, type RunMeta } from './file-store.js';

/** One metric line as MLflow's file store parses it. */
const METRIC_LINE = /^\d+ (-?\d+(\.\d+)?(e[-+]?\d+)?|nan|inf|-inf) \d+$/;

/** Every field MLflow's run `meta.yaml` has (MLFLOW.md, "The file store layout"). */
const RUN_META_FIELDS = [
  'artifact_uri',
  'end_time',
  'entry_point_name',
  'experiment_id',
  'lifecycle_stage',
  'run_id',
  'run_name',
  'run_uuid',
  'source_name',
  'source_type',
  'source_version',
  'start_time',
  'status',
  'tags',
  'user_id',
];

let tmp: string;
let root: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-mlruns-'));
  root = path.join(tmp, 'mlruns');
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function readText(...parts: string[]): string {
  return fs.readFileSync(path.join(...parts), 'utf8');
}

function readYamlFile<T>(...parts: string[]): T {
  return parseYaml(readText(...parts)) as T;
}

/** Every file under `dir`, as paths relative to it with '/' separators. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p).split(path.sep).join('/'));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}

/** Names of every file and folder under `dir` (any depth). */
function namesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((p) => path.basename(p));
}

async function startedRun(experiment = 'mnist', runName = 'run-1') {
  const tracker = new FileStoreTracker(root);
  const { runId, experimentId } = await tracker.startRun({ experiment, runName, tags: { team: 'vision' } });
  return { tracker, runId, experimentId, dir: path.join(root, experimentId, runId) };
}

describe('FileStoreTracker: store and experiment layout', () => {
  it('creates .trash and the Default experiment 0', async () => {
    await startedRun();
    expect(fs.statSync(path.join(root, '.trash')).isDirectory()).toBe(true);
    const meta = readYamlFile<Record<string, unknown>>(root, '0', 'meta.yaml');
    expect(meta.name).toBe('Default');
    expect(meta.experiment_id).toBe('0');
    expect(meta.lifecycle_stage).toBe('active');
    expect(meta.artifact_location).toBe(pathToFileURL(path.join(root, '0')).href);
  });

  it('writes an experiment meta.yaml with every field and a quoted id', async () => {
    const before = Date.now();
    const { experimentId } = await startedRun('mnist');
    const after = Date.now();
    expect(experimentId).toMatch(/^\d+$/);
    expect(experimentId).not.toBe('0');

    const raw = readText(root, experimentId, 'meta.yaml');
    // An all-digit id must be quoted so YAML reads it back as a string.
    expect(raw).toMatch(new RegExp(`^experiment_id: (["'])${experimentId}\\1$`, 'm'));
    expect(readText(root, '0', 'meta.yaml')).toMatch(/^experiment_id: (["'])0\1$/m);

    const meta = parseYaml(raw) as Record<string, unknown>;
    expect(Object.keys(meta).sort()).toEqual(['artifact_location', 'creation_time', 'experiment_id', 'last_update_time', 'lifecycle_stage', 'name']);
    expect(meta.experiment_id).toBe(experimentId);
    expect(meta.name).toBe('mnist');
    expect(meta.lifecycle_stage).toBe('active');
    expect(meta.artifact_location).toBe(pathToFileURL(path.join(root, experimentId)).href);
    expect(Number.isInteger(meta.creation_time)).toBe(true);
    expect(meta.creation_time as number).toBeGreaterThanOrEqual(before);
    expect(meta.creation_time as number).toBeLessThanOrEqual(after);
    expect(Number.isInteger(meta.last_update_time)).toBe(true);
    expect(meta.last_update_time as number).toBeGreaterThanOrEqual(meta.creation_time as number);
  });

  it('reuses the experiment of the same name and gives a new name a new id', async () => {
    const a = await startedRun('alpha');
    const a2 = await startedRun('alpha');
    const b = await startedRun('beta');
    expect(a2.experimentId).toBe(a.experimentId);
    expect(a2.runId).not.toBe(a.runId);
    expect(b.experimentId).not.toBe(a.experimentId);
    expect(b.experimentId).not.toBe('0');
    expect(readYamlFile<{ name: string }>(root, b.experimentId, 'meta.yaml').name).toBe('beta');

    const store = new FileStore(root);
    expect(store.experiments().sort((x, y) => Number(x.id) - Number(y.id))).toEqual([
      { id: '0', name: 'Default' },
      { id: a.experimentId, name: 'alpha' },
      { id: b.experimentId, name: 'beta' },
    ]);
    // Both alpha runs sit in alpha's folder.
    expect(fs.existsSync(path.join(root, a.experimentId, a.runId, 'meta.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(root, a.experimentId, a2.runId, 'meta.yaml'))).toBe(true);
  });

  it("logs to 'Default' (experiment 0) when asked for it by name", async () => {
    const { experimentId } = await startedRun('Default');
    expect(experimentId).toBe('0');
  });
});

describe('FileStoreTracker: run meta.yaml', () => {
  it('has every field while running', async () => {
    const before = Date.now();
    const { runId, experimentId, dir } = await startedRun('mnist', 'my-run');
    expect(runId).toMatch(/^[0-9a-f]{32}$/);
    expect(path.basename(dir)).toBe(runId);

    const raw = readText(dir, 'meta.yaml');
    const meta = parseYaml(raw) as Record<string, unknown>;
    expect(Object.keys(meta).sort()).toEqual(RUN_META_FIELDS);
    expect(meta.run_id).toBe(runId);
    expect(meta.run_uuid).toBe(runId);
    expect(meta.run_name).toBe('my-run');
    expect(meta.experiment_id).toBe(experimentId);
    expect(raw).toMatch(new RegExp(`^experiment_id: (["'])${experimentId}\\1$`, 'm'));
    expect(meta.status).toBe(1);
    expect(raw).toMatch(/^status: 1$/m); // an integer, not 'RUNNING'
    expect(meta.end_time).toBeNull();
    expect(raw).toMatch(/^end_time: null$/m); // the key is present
    expect(Number.isInteger(meta.start_time)).toBe(true);
    expect(meta.start_time as number).toBeGreaterThanOrEqual(before);
    expect(meta.lifecycle_stage).toBe('active');
    expect(meta.entry_point_name).toBe('');
    expect(meta.source_name).toBe('');
    expect(meta.source_version).toBe('');
    expect(meta.source_type).toBe(4);
    expect(meta.tags).toEqual([]);
    expect(typeof meta.user_id).toBe('string');
    expect(meta.artifact_uri).toBe(pathToFileURL(path.join(dir, 'artifacts')).href);
    expect(fileURLToPath(meta.artifact_uri as string)).toBe(path.join(dir, 'artifacts'));
    expect(fs.statSync(path.join(dir, 'artifacts')).isDirectory()).toBe(true);
  });

  it.each([
    ['FINISHED', 3],
    ['FAILED', 4],
    ['KILLED', 5],
  ] as const)('endRun(%s) writes status %i and an end_time', async (status, code) => {
    const { tracker, dir } = await startedRun();
    const startTime = readYamlFile<RunMeta>(dir, 'meta.yaml').start_time;
    await tracker.endRun(status);
    const raw = readText(dir, 'meta.yaml');
    const meta = parseYaml(raw) as RunMeta;
    expect(meta.status).toBe(code);
    expect(raw).toMatch(new RegExp(`^status: ${code}$`, 'm'));
    expect(Number.isInteger(meta.end_time)).toBe(true);
    expect(meta.end_time!).toBeGreaterThanOrEqual(startTime);
    expect(meta.start_time).toBe(startTime);
    expect(Object.keys(meta).sort()).toEqual(RUN_META_FIELDS);
  });

  it('sets the usual mlflow tags and the extra ones', async () => {
    const { dir } = await startedRun('mnist', 'run-7');
    expect(readText(dir, 'tags', 'mlflow.runName')).toBe('run-7');
    expect(readText(dir, 'tags', 'mlflow.source.type')).toBe('LOCAL');
    expect(readText(dir, 'tags', 'mlflow.source.name')).toBe('genlab exp');
    expect(readText(dir, 'tags', 'mlflow.user')).toBe(readYamlFile<RunMeta>(dir, 'meta.yaml').user_id);
    expect(readText(dir, 'tags', 'team')).toBe('vision');
  });

  it('resumes a run: same id and folder, RUNNING again, end_time null, start_time kept', async () => {
    const first = await startedRun('mnist', 'orig');
    await first.tracker.logMetrics(0, { loss: 1 }, 1000);
    await first.tracker.endRun('FAILED');
    const ended = readYamlFile<RunMeta>(first.dir, 'meta.yaml');
    expect(ended.status).toBe(RUN_STATUS.FAILED);

    const tracker = new FileStoreTracker(root);
    const resumed = await tracker.startRun({ experiment: 'ignored-on-resume', runName: 'other', resumeRunId: first.runId, tags: { resumed: 'yes' } });
    expect(resumed).toEqual({ runId: first.runId, experimentId: first.experimentId });

    const raw = readText(first.dir, 'meta.yaml');
    const meta = parseYaml(raw) as RunMeta;
    expect(meta.status).toBe(1);
    expect(meta.end_time).toBeNull();
    expect(raw).toMatch(/^end_time: null$/m);
    expect(meta.start_time).toBe(ended.start_time);
    expect(meta.run_id).toBe(first.runId);
    expect(meta.run_uuid).toBe(first.runId);
    expect(meta.run_name).toBe('orig');
    expect(raw).toMatch(new RegExp(`^experiment_id: (["'])${first.experimentId}\\1$`, 'm'));
    expect(readText(first.dir, 'tags', 'resumed')).toBe('yes');
    // No new experiment or run was created.
    expect(new FileStore(root).experiments().map((e) => e.name)).not.toContain('ignored-on-resume');
    expect(fs.readdirSync(path.join(root, first.experimentId)).filter((n) => n !== 'meta.yaml')).toEqual([first.runId]);

    // Metrics continue in the same file.
    await tracker.logMetrics(1, { loss: 0.5 }, 2000);
    expect(readText(first.dir, 'metrics', 'loss')).toBe('1000 1.0 0\n2000 0.5 1\n');
    await tracker.endRun('FINISHED');
    expect(readYamlFile<RunMeta>(first.dir, 'meta.yaml').status).toBe(3);
  });

  it('refuses to resume a run that is not in the store', async () => {
    const tracker = new FileStoreTracker(root);
    const missing = 'f'.repeat(32);
    const error = await tracker.startRun({ experiment: 'e', runName: 'r', resumeRunId: missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(2);
    expect((error as Error).message).toContain(missing);
  });

  it('quotes an all-digit or number-like run id so it reads back as a string', () => {
    const store = new FileStore(root);
    for (const id of ['12345678901234567890123456789012', '1234567890123456789012345678e901', '0'.repeat(32)]) {
      // In experiment 12's folder: a run's folder and experiment_id must agree.
      const dir = path.join(tmp, '12', id);
      fs.mkdirSync(dir, { recursive: true });
      const meta: RunMeta = {
        artifact_uri: pathToFileURL(path.join(dir, 'artifacts')).href,
        end_time: null,
        entry_point_name: '',
        experiment_id: '12',
        lifecycle_stage: 'active',
        run_id: id,
        run_name: '007',
        run_uuid: id,
        source_name: '',
        source_type: 4,
        source_version: '',
        start_time: 1,
        status: 1,
        tags: [],
        user_id: 'u',
      };
      store.writeRunMeta(dir, meta);
      const raw = readText(dir, 'meta.yaml');
      expect(raw).toMatch(new RegExp(`^run_id: (["'])${id}\\1$`, 'm'));
      expect(raw).toMatch(/^experiment_id: (["'])12\1$/m);
      expect(store.readRunMeta(dir)).toEqual(meta);
    }
  });
});

describe('FileStoreTracker: metrics', () => {
  it('writes one "<ts> <value> <step>" line per point, as MLflow formats values', async () => {
    const { tracker, dir } = await startedRun();
    await tracker.logMetrics(0, { loss: 1, 'd/real': 0.25, nanny: NaN, big: Infinity, small: -Infinity, neg: -3 }, 1700000000000);
    await tracker.logMetrics(1, { loss: 0.5, 'd/real': 2 }, 1700000000123.6);
    await tracker.logMetrics(2.4, { loss: 1e-7 }, 1700000000200);

    expect(readText(dir, 'metrics', 'loss')).toBe('1700000000000 1.0 0\n1700000000124 0.5 1\n1700000000200 1e-7 2\n');
    // A key with '/' makes nested folders.
    expect(fs.statSync(path.join(dir, 'metrics', 'd')).isDirectory()).toBe(true);
    expect(readText(dir, 'metrics', 'd', 'real')).toBe('1700000000000 0.25 0\n1700000000124 2.0 1\n');
    expect(readText(dir, 'metrics', 'nanny')).toBe('1700000000000 nan 0\n');
    expect(readText(dir, 'metrics', 'big')).toBe('1700000000000 inf 0\n');
    expect(readText(dir, 'metrics', 'small')).toBe('1700000000000 -inf 0\n');
    expect(readText(dir, 'metrics', 'neg')).toBe('1700000000000 -3.0 0\n');

    const files = filesUnder(path.join(dir, 'metrics'));
    expect(files).toEqual(['big', 'd/real', 'loss', 'nanny', 'neg', 'small']);
    for (const f of files) {
      const text = readText(dir, 'metrics', f);
      expect(text.endsWith('\n')).toBe(true);
      expect(text).not.toContain('\t');
      const lines = text.slice(0, -1).split('\n');
      for (const line of lines) {
        expect(line).not.toBe('');
        expect(line).toMatch(METRIC_LINE);
      }
    }
  });

  it('uses the current time when no timestamp is given', async () => {
    const { tracker, dir } = await startedRun();
    const before = Date.now();
    await tracker.logMetrics(3, { acc: 0.75 });
    const after = Date.now();
    const [ts, value, step] = readText(dir, 'metrics', 'acc').trimEnd().split(' ');
    expect(Number(ts)).toBeGreaterThanOrEqual(before);
    expect(Number(ts)).toBeLessThanOrEqual(after);
    expect(ts).toMatch(/^\d+$/);
    expect(value).toBe('0.75');
    expect(step).toBe('3');
  });

  it('formats values as Python writes floats', () => {
    expect(formatMetricValue(1)).toBe('1.0');
    expect(formatMetricValue(0)).toBe('0.0');
    expect(formatMetricValue(-2)).toBe('-2.0');
    expect(formatMetricValue(0.25)).toBe('0.25');
    expect(formatMetricValue(NaN)).toBe('nan');
    expect(formatMetricValue(Infinity)).toBe('inf');
    expect(formatMetricValue(-Infinity)).toBe('-inf');
    for (const v of [1, 0.25, -1.5, 1e-7, 3e21, 123456789, NaN, Infinity, -Infinity]) {
      expect(`1 ${formatMetricValue(v)} 0`).toMatch(METRIC_LINE);
    }
  });

  it('rejects an invalid key before writing anything', async () => {
    const { tracker, dir } = await startedRun();
    await expect(tracker.logMetrics(0, { 'a..b/../c': 1 })).rejects.toThrow(/invalid metric key 'a\.\.b\/\.\.\/c'/);
    await expect(tracker.logMetrics(0, { '': 1 })).rejects.toThrow(/invalid metric key/);
    expect(filesUnder(path.join(dir, 'metrics'))).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'c'))).toBe(false);
  });
});

describe('FileStoreTracker: params and tags', () => {
  it('writes raw values with no trailing newline', async () => {
    const { tracker, dir } = await startedRun();
    await tracker.logParams({ lr: '0.0002', 'model/latentDim': '64', note: 'two words: yes' });
    await tracker.setTags({ 'genlab.model': 'gan/mlp', empty: '' });
    expect(readText(dir, 'params', 'lr')).toBe('0.0002');
    expect(readText(dir, 'params', 'model', 'latentDim')).toBe('64');
    expect(readText(dir, 'params', 'note')).toBe('two words: yes');
    expect(readText(dir, 'tags', 'genlab.model')).toBe('gan/mlp');
    expect(readText(dir, 'tags', 'empty')).toBe('');
  });

  it('params are write-once: the same value is fine, a different one throws', async () => {
    const { tracker, dir } = await startedRun();
    await tracker.logParams({ lr: '0.1' });
    await expect(tracker.logParams({ lr: '0.1' })).resolves.toBeUndefined();
    await expect(tracker.logParams({ lr: '0.2' })).rejects.toThrow(/param 'lr' is already logged as '0.1' and cannot change to '0.2'/);
    expect(readText(dir, 'params', 'lr')).toBe('0.1');
  });

  it('tags can change', async () => {
    const { tracker, dir } = await startedRun();
    await tracker.setTags({ stage: 'a' });
    await tracker.setTags({ stage: 'b' });
    expect(readText(dir, 'tags', 'stage')).toBe('b');
  });

  it.each(['a..b/../c', '', 'x'.repeat(251), '/abs', 'a//b', 'a/', './a', '..', 'tab\there', 'semi;colon', 'ünï'])(
    'rejects the invalid key %j',
    async (key) => {
      const { tracker, dir } = await startedRun();
      await expect(tracker.logParams({ [key]: 'v' })).rejects.toThrow(/invalid param key/);
      await expect(tracker.setTags({ [key]: 'v' })).rejects.toThrow(/invalid tag key/);
      expect(filesUnder(path.join(dir, 'params'))).toEqual([]);
      expect(filesUnder(path.join(dir, 'tags')).filter((k) => !k.startsWith('mlflow.') && k !== 'team')).toEqual([]);
    },
  );

  it.each(['a..b', 'x'.repeat(250), 'loss/d real:1', 'a-b_c.d'])('accepts the valid key %j', (key) => {
    expect(() => checkKey(key, 'metric')).not.toThrow();
  });

  it('leaves no temporary files in metrics, params or tags', async () => {
    const { tracker, dir } = await startedRun();
    for (let step = 0; step < 5; step++) await tracker.logMetrics(step, { loss: step / 3, 'g/loss': step, 'd/nested/x': -step });
    await tracker.logParams({ a: '1', 'b/c': '2' });
    await tracker.setTags({ t: 'x', 'u/v': 'y' });
    await tracker.setTags({ t: 'z' });
    await tracker.endRun('FINISHED');
    for (const sub of ['metrics', 'params', 'tags']) {
      const names = namesUnder(path.join(dir, sub));
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((n) => n.startsWith('.') || n.endsWith('.tmp'))).toEqual([]);
    }
    expect(namesUnder(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(namesUnder(root).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('FileStoreTracker: artifacts', () => {
  it('copies a file and a folder under artifacts/', async () => {
    const { tracker, dir } = await startedRun();
    const src = path.join(tmp, 'src');
    fs.mkdirSync(path.join(src, 'ckpt', 'inner'), { recursive: true });
    fs.writeFileSync(path.join(src, 'config.yaml'), 'a: 1\n');
    fs.writeFileSync(path.join(src, 'ckpt', 'weights.bin'), Buffer.from([1, 2, 3]));
    fs.writeFileSync(path.join(src, 'ckpt', 'inner', 'state.json'), '{}');

    await tracker.logArtifact(path.join(src, 'config.yaml'));
    await tracker.logArtifact(path.join(src, 'ckpt'), 'checkpoints/step-10');
    expect(filesUnder(path.join(dir, 'artifacts'))).toEqual([
      'checkpoints/step-10/ckpt/inner/state.json',
      'checkpoints/step-10/ckpt/weights.bin',
      'config.yaml',
    ]);
    expect(readText(dir, 'artifacts', 'config.yaml')).toBe('a: 1\n');
    expect([...fs.readFileSync(path.join(dir, 'artifacts', 'checkpoints', 'step-10', 'ckpt', 'weights.bin'))]).toEqual([1, 2, 3]);

    // Logging again replaces the copy (a removed file does not linger).
    fs.rmSync(path.join(src, 'ckpt', 'inner'), { recursive: true });
    fs.writeFileSync(path.join(src, 'ckpt', 'weights.bin'), Buffer.from([9]));
    await tracker.logArtifact(path.join(src, 'ckpt'), 'checkpoints/step-10');
    expect(filesUnder(path.join(dir, 'artifacts', 'checkpoints'))).toEqual(['step-10/ckpt/weights.bin']);
    expect([...fs.readFileSync(path.join(dir, 'artifacts', 'checkpoints', 'step-10', 'ckpt', 'weights.bin'))]).toEqual([9]);
    expect(namesUnder(path.join(dir, 'artifacts')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a full disk while copying leaves no partial artifact and names the path (injected ENOSPC)', async () => {
    const { tracker, dir } = await startedRun();
    const src = path.join(tmp, 'ckpt');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'weights.bin'), Buffer.from([1, 2, 3]));
    const real = fs.cpSync;
    const spy = vi.spyOn(fs, 'cpSync').mockImplementationOnce((from, to, opts) => {
      real(from, to, opts); // a partial copy is on disk when the disk fills
      throw Object.assign(new Error('ENOSPC: no space left on device, copyfile'), { code: 'ENOSPC' });
    });
    try {
      await expect(tracker.logArtifact(src, 'checkpoint')).rejects.toThrow(`cannot log the artifact to ${path.join(dir, 'artifacts', 'checkpoint', 'ckpt')}: no space left on device (ENOSPC)`);
    } finally {
      spy.mockRestore();
    }
    expect(namesUnder(path.join(dir, 'artifacts'))).toEqual(['checkpoint']);
    expect(fs.readdirSync(path.join(dir, 'artifacts', 'checkpoint'))).toEqual([]);
  });

  it.each(['..', '../artifacts-evil', '../../x', 'a/../../b'])('refuses an artifact path that leaves the folder: %j', async (artifactPath) => {
    const { tracker, dir } = await startedRun();
    const file = path.join(tmp, 'f.txt');
    fs.writeFileSync(file, 'x');
    await expect(tracker.logArtifact(file, artifactPath)).rejects.toThrow(/leaves the run's artifact folder/);
    expect(filesUnder(dir).filter((f) => f.endsWith('f.txt'))).toEqual([]);
  });

  it('works with a relative store root', async () => {
    const tracker = new FileStoreTracker(path.relative(process.cwd(), root));
    const { runId, experimentId } = await tracker.startRun({ experiment: 'rel', runName: 'r' });
    const file = path.join(tmp, 'f.txt');
    fs.writeFileSync(file, 'x');
    await tracker.logArtifact(file, 'sub');
    expect(readText(root, experimentId, runId, 'artifacts', 'sub', 'f.txt')).toBe('x');
    const meta = readYamlFile<RunMeta>(root, experimentId, runId, 'meta.yaml');
    expect(meta.artifact_uri).toBe(pathToFileURL(path.join(root, experimentId, runId, 'artifacts')).href);
  });

  it('refuses to log before a run is started', async () => {
    const tracker = new FileStoreTracker(root);
    await expect(tracker.logMetrics(0, { a: 1 })).rejects.toThrow(/no run started/);
    await expect(tracker.logParams({ a: '1' })).rejects.toThrow(/no run started/);
  });
});

describe('FileStore.readRun', () => {
  it('returns what was written', async () => {
    const { tracker, runId, experimentId, dir } = await startedRun('mnist', 'rr');
    await tracker.logParams({ lr: '0.1', 'net/width': '8' });
    await tracker.setTags({ kind: 'test' });
    await tracker.logMetrics(0, { loss: 1, 'd/x': NaN }, 1000);
    await tracker.logMetrics(5, { loss: 0.25, 'd/x': -Infinity }, 2000);
    await tracker.endRun('FINISHED');

    const run = new FileStore(root).readRun(runId);
    expect(run.dir).toBe(dir);
    expect(run.status).toBe('FINISHED');
    expect(run.meta.run_id).toBe(runId);
    expect(run.meta.experiment_id).toBe(experimentId);
    expect(run.meta.status).toBe(3);
    expect(run.params).toEqual({ lr: '0.1', 'net/width': '8' });
    expect(run.tags).toMatchObject({ kind: 'test', team: 'vision', 'mlflow.runName': 'rr', 'mlflow.source.type': 'LOCAL' });
    expect(run.metrics).toEqual({
      loss: [
        { timestamp: 1000, value: 1, step: 0 },
        { timestamp: 2000, value: 0.25, step: 5 },
      ],
      'd/x': [
        { timestamp: 1000, value: NaN, step: 0 },
        { timestamp: 2000, value: -Infinity, step: 5 },
      ],
    });
  });

  it('reports RUNNING for a live run and refuses an unknown or malformed id', async () => {
    const { runId } = await startedRun();
    const store = new FileStore(root);
    expect(store.readRun(runId).status).toBe('RUNNING');
    expect(() => store.readRun('0'.repeat(32))).toThrow(UserError);
    expect(store.runDir('../etc')).toBeUndefined();
    expect(store.runDir(runId.toUpperCase())).toBeUndefined();
  });
});

describe('storeRoot', () => {
  it('resolves file: URIs and plain paths to absolute folders', () => {
    expect(storeRoot('file:./mlruns', '/base')).toBe(path.resolve('/base', 'mlruns'));
    expect(storeRoot('file:///abs/mlruns', '/base')).toBe('/abs/mlruns');
    expect(storeRoot('runs/x', '/base')).toBe('/base/runs/x');
    expect(storeRoot('/elsewhere', '/base')).toBe('/elsewhere');
  });
});
