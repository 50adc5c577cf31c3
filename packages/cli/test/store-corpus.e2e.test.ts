/**
 * A damaged tracking store and output folder, read by every reader: the file store API,
 * `exp runs`, `exp compare` and the dashboard's `/api/runs` (through `exp ui`, over HTTP).
 * One store holds good runs (one made by `exp run`, two by the file tracker) next to every
 * kind of bad entry in the table below; each reader must list the good runs, exit 0, and
 * name each bad entry in exactly one warning. Entries that only lose part of a run (a bad
 * metric file, line or param) keep the run listed without the bad part.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, FileStoreTracker } from '@genlab/tracking';
import { bin, expAsync, runIdOf, tiny, write } from './helpers.js';

/** chmod 000 stops nobody when the tests run as root: those cases are then not tried. */
const ROOT = process.getuid?.() === 0;

interface Ctx {
  cwd: string;
  store: string;
  outputs: string;
  /** A finished run made by the file tracker: its folder. */
  makeRun(experiment: string, name: string): Promise<string>;
  /** A run folder with a valid run.json (copied from the real run) under outputs. */
  makeRecord(name: string): string;
}

interface Case {
  kind: string;
  /** Which readers see it: the tracking store, or run folders under output.dir. */
  where: 'store' | 'outputs';
  /** Builds the bad entry; returns the path its warning must name. */
  make(c: Ctx): Promise<string> | string;
  /** The run stays listed (only a part of it was bad), under this name. */
  keeps?: string;
  nonRoot?: boolean;
}

const run32 = (n: number) => n.toString(16).padStart(32, 'f');
const meta = (dir: string) => path.join(dir, 'meta.yaml');
const setYaml = (dir: string, from: RegExp, to: string) => fs.writeFileSync(meta(dir), fs.readFileSync(meta(dir), 'utf8').replace(from, to));
const fifo = (p: string) => expect(spawnSync('mkfifo', [p]).status).toBe(0);

const CASES: Case[] = [
  // The store root.
  { kind: 'dangling symlink in the store root', where: 'store', make: ({ store }) => link('/nonexistent/genlab', path.join(store, '41')) },
  { kind: 'symlink loop in the store root', where: 'store', make: ({ store }) => link(path.join(store, '42'), path.join(store, '42')) },
  { kind: 'a file where an experiment folder is expected', where: 'store', make: ({ store }) => touch(path.join(store, '43'), 'x') },
  // Experiments.
  { kind: 'experiment meta.yaml missing', where: 'store', make: async (c) => expDir(await c.makeRun('exp-no-meta', 'in-exp-no-meta'), (d) => fs.rmSync(meta(d))) },
  { kind: 'experiment meta.yaml empty', where: 'store', make: async (c) => meta(expDir(await c.makeRun('exp-empty', 'in-exp-empty'), (d) => fs.writeFileSync(meta(d), ''))) },
  { kind: 'experiment meta.yaml invalid YAML', where: 'store', make: async (c) => meta(expDir(await c.makeRun('exp-yaml', 'in-exp-yaml'), (d) => fs.writeFileSync(meta(d), 'name: [unclosed\n'))) },
  { kind: 'experiment meta.yaml without artifact_location', where: 'store', make: async (c) => meta(expDir(await c.makeRun('exp-noloc', 'in-exp-noloc'), (d) => setYaml(d, /^artifact_location:.*$/m, ''))) },
  { kind: 'experiment meta.yaml name of the wrong type', where: 'store', make: async (c) => meta(expDir(await c.makeRun('exp-type', 'in-exp-type'), (d) => setYaml(d, /^name:.*$/m, 'name: { a: 1 }'))) },
  { kind: "experiment id that is not its folder's name", where: 'store', make: async (c) => meta(expDir(await c.makeRun('exp-id', 'in-exp-id'), (d) => setYaml(d, /^experiment_id:.*$/m, "experiment_id: '999'"))) },
  { kind: 'experiment meta.yaml is a folder', where: 'store', make: async (c) => meta(expDir(await c.makeRun('exp-dir', 'in-exp-dir'), (d) => (fs.rmSync(meta(d)), fs.mkdirSync(meta(d))))) },
  // Runs.
  { kind: 'run meta.yaml empty', where: 'store', make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-empty'), (d) => fs.writeFileSync(meta(d), ''))) },
  { kind: 'run meta.yaml invalid YAML', where: 'store', make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-yaml'), (d) => fs.writeFileSync(meta(d), 'status: : :\n\t- x'))) },
  { kind: 'run meta.yaml a list', where: 'store', make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-list'), (d) => fs.writeFileSync(meta(d), '- 1\n- 2\n'))) },
  { kind: 'run status 99', where: 'store', make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-status'), (d) => setYaml(d, /^status:.*$/m, 'status: 99'))) },
  { kind: 'run status a string', where: 'store', make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-status-s'), (d) => setYaml(d, /^status:.*$/m, 'status: FINISHED'))) },
  { kind: 'run start_time null', where: 'store', make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-start'), (d) => setYaml(d, /^start_time:.*$/m, 'start_time: null'))) },
  { kind: "run_id that is not its folder's name", where: 'store', make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-id'), (d) => setYaml(d, /^run_id:.*$/m, `run_id: '${run32(1)}'`))) },
  { kind: 'run meta.yaml a dangling symlink', where: 'store', make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-link'), (d) => (fs.rmSync(meta(d)), link('/nonexistent/meta.yaml', meta(d))))) },
  { kind: 'run meta.yaml a FIFO', where: 'store', make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-fifo'), (d) => (fs.rmSync(meta(d)), fifo(meta(d))))) },
  { kind: 'run meta.yaml unreadable (chmod 000)', where: 'store', nonRoot: true, make: async (c) => meta(withDir(await c.makeRun('corpus', 'bad-perm'), (d) => fs.chmodSync(meta(d), 0))) },
  { kind: 'run folder unreadable (chmod 000)', where: 'store', nonRoot: true, make: async (c) => withDir(await c.makeRun('corpus', 'bad-perm-dir'), (d) => fs.chmodSync(d, 0)) },
  { kind: 'run folder without meta.yaml', where: 'store', make: async (c) => withDir(await c.makeRun('corpus', 'bad-nometa'), (d) => fs.rmSync(meta(d))) },
  { kind: 'a file where a run folder is expected', where: 'store', make: ({ store }) => touch(path.join(store, '1', run32(2)), 'x') },
  { kind: 'run folder a dangling symlink', where: 'store', make: ({ store }) => link('/nonexistent/run', path.join(store, '1', run32(3))) },
  { kind: 'a folder that is not a run id in an experiment', where: 'store', make: ({ store }) => (fs.mkdirSync(path.join(store, '1', 'not-a-run')), path.join(store, '1', 'not-a-run')) },
  // Parts of a run: the run stays, the part goes.
  { kind: 'empty metric file', where: 'store', keeps: 'part-empty-metric', make: async (c) => touch(path.join(await c.makeRun('corpus', 'part-empty-metric'), 'metrics', 'fid'), '') },
  { kind: 'garbage metric lines', where: 'store', keeps: 'part-garbage', make: async (c) => append(path.join(await c.makeRun('corpus', 'part-garbage'), 'metrics', 'loss'), 'garbage\n1700000000000 abc 40\n\n1700000000000\t0.5\t41\n1700000000000.5 0.5 42\n') },
  { kind: 'truncated last metric line', where: 'store', keeps: 'part-truncated', make: async (c) => append(path.join(await c.makeRun('corpus', 'part-truncated'), 'metrics', 'loss'), '1700000000000 0.12') },
  { kind: 'metric file a FIFO', where: 'store', keeps: 'part-fifo', make: async (c) => ((p) => (fifo(p), p))(path.join(await c.makeRun('corpus', 'part-fifo'), 'metrics', 'fid')) },
  { kind: 'metric file unreadable (chmod 000)', where: 'store', nonRoot: true, keeps: 'part-perm', make: async (c) => ((p) => (fs.chmodSync(p, 0), p))(path.join(await c.makeRun('corpus', 'part-perm'), 'metrics', 'loss')) },
  { kind: 'params folder is a file', where: 'store', keeps: 'part-params-file', make: async (c) => ((p) => (fs.rmSync(p, { recursive: true }), touch(p, 'x')))(path.join(await c.makeRun('corpus', 'part-params-file'), 'params')) },
  { kind: 'tag file a dangling symlink', where: 'store', keeps: 'part-tag-link', make: async (c) => link('/nonexistent/tag', path.join(await c.makeRun('corpus', 'part-tag-link'), 'tags', 'broken')) },
  { kind: 'metrics folder a dangling symlink', where: 'store', keeps: 'part-metrics-link', make: async (c) => ((p) => (fs.rmSync(p, { recursive: true }), link('/nonexistent/metrics', p)))(path.join(await c.makeRun('corpus', 'part-metrics-link'), 'metrics')) },
  // Run folders under output.dir (exp runs).
  { kind: 'run.json {}', where: 'outputs', make: (c) => record(c, 'rec-empty-object', () => '{}') },
  { kind: 'run.json empty', where: 'outputs', make: (c) => record(c, 'rec-empty', () => '') },
  { kind: 'run.json invalid JSON', where: 'outputs', make: (c) => record(c, 'rec-json', () => '{"runId": ') },
  { kind: 'run.json null', where: 'outputs', make: (c) => record(c, 'rec-null', () => 'null') },
  { kind: 'run.json status 99', where: 'outputs', make: (c) => record(c, 'rec-status', (r) => JSON.stringify({ ...r, status: 99 })) },
  { kind: 'run.json unknown status string', where: 'outputs', make: (c) => record(c, 'rec-status-s', (r) => JSON.stringify({ ...r, status: 'DONE' })) },
  { kind: 'run.json step a string', where: 'outputs', make: (c) => record(c, 'rec-step', (r) => JSON.stringify({ ...r, step: '12' })) },
  { kind: 'run.json createdAt not a date', where: 'outputs', make: (c) => record(c, 'rec-date', (r) => JSON.stringify({ ...r, createdAt: 42 })) },
  { kind: 'run.json a folder', where: 'outputs', make: (c) => ((d) => (fs.rmSync(path.join(d, 'run.json')), fs.mkdirSync(path.join(d, 'run.json')), path.join(d, 'run.json')))(c.makeRecord('rec-dir')) },
  { kind: 'run.json a dangling symlink', where: 'outputs', make: (c) => ((d) => (fs.rmSync(path.join(d, 'run.json')), link('/nonexistent/run.json', path.join(d, 'run.json'))))(c.makeRecord('rec-link')) },
  { kind: 'run.json a FIFO', where: 'outputs', make: (c) => ((d) => (fs.rmSync(path.join(d, 'run.json')), fifo(path.join(d, 'run.json')), path.join(d, 'run.json')))(c.makeRecord('rec-fifo')) },
  { kind: 'run.json unreadable (chmod 000)', where: 'outputs', nonRoot: true, make: (c) => ((d) => (fs.chmodSync(path.join(d, 'run.json'), 0), path.join(d, 'run.json')))(c.makeRecord('rec-perm')) },
  { kind: 'dangling symlink in the output folder', where: 'outputs', make: ({ outputs }) => link('/nonexistent/outputs', path.join(outputs, 'gone')) },
];

function link(target: string, at: string): string {
  fs.symlinkSync(target, at);
  return at;
}
function touch(p: string, text: string): string {
  fs.writeFileSync(p, text);
  return p;
}
function append(p: string, text: string): string {
  fs.appendFileSync(p, text);
  return p;
}
function withDir(dir: string, f: (dir: string) => unknown): string {
  f(dir);
  return dir;
}
function expDir(runDir: string, f: (dir: string) => unknown): string {
  return withDir(path.dirname(runDir), f);
}
function record(c: Ctx, name: string, text: (r: Record<string, unknown>) => string): string {
  const file = path.join(c.makeRecord(name), 'run.json');
  fs.writeFileSync(file, text(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>));
  return file;
}

/** Warning lines (of a reader's stderr or collected) that name `p` exactly. */
function naming(warnings: string[], p: string): string[] {
  const at = new RegExp(`(skipping|of) ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[: ]`);
  return warnings.filter((w) => at.test(w));
}

const warningLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('warning: '));

describe('a damaged store: every reader lists the good runs and names each bad entry once', () => {
  let cwd: string;
  let ctx: Ctx;
  const tried: { c: Case; bad: string }[] = [];
  const good = ['good-a', 'good-b'];
  let realName: string;
  let realId: string;

  beforeAll(async () => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-corpus-'));
    // One real run: its run.json and store entries are what genlab actually writes.
    const r = await expAsync(['run', write(cwd, 'tiny.yaml', tiny())], cwd);
    expect(r.code, r.stderr).toBe(0);
    realId = runIdOf(r.stdout);
    const store = path.join(cwd, 'mlruns');
    const outputs = path.join(cwd, 'outputs');
    realName = new FileStore(store).readRun(realId).meta.run_name;
    const realRecord = path.join(outputs, realId, 'run.json');
    let n = 0;
    ctx = {
      cwd,
      store,
      outputs,
      makeRun: async (experiment, name) => {
        const t = new FileStoreTracker(store, { warn: () => {} });
        const { runId } = await t.startRun({ experiment, runName: name, tags: { 'genlab.model': 'gan/mlp' } });
        await t.logParams({ 'model.latentDim': String(8 + n++) });
        for (const step of [10, 20, 30]) await t.logMetrics(step, { loss: step / 100 }, 1_700_000_000_000 + step);
        await t.endRun('FINISHED');
        return new FileStore(store, { warn: () => {} }).runDir(runId)!;
      },
      makeRecord: (name) => {
        const dir = path.join(outputs, `${run32(1000 + n++)}-${name}`);
        fs.mkdirSync(dir);
        const rec = JSON.parse(fs.readFileSync(realRecord, 'utf8')) as Record<string, unknown>;
        fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ ...rec, runId: path.basename(dir).slice(0, 32), runName: name }));
        return dir;
      },
    };
    for (const g of good) await ctx.makeRun('corpus', g);
    ctx.makeRecord('rec-good');
    for (const c of CASES) if (!(c.nonRoot && ROOT)) tried.push({ c, bad: await c.make(ctx) });
  });

  afterAll(() => {
    // chmod 000 entries must not stop the temporary folder's removal.
    for (const { c, bad } of tried) if (c.nonRoot) fs.chmodSync(bad, 0o755);
  });

  const storeCases = () => tried.filter((t) => t.c.where === 'store');
  const expectedNames = () => [...good, realName, ...storeCases().flatMap((t) => (t.c.keeps ? [t.c.keeps] : []))].sort();

  /** Each bad store entry named by exactly one warning; returns the kinds that were not. */
  function unwarned(warnings: string[], cases: { c: Case; bad: string }[]): string[] {
    return cases.filter(({ bad }) => naming(warnings, bad).length !== 1).map(({ c, bad }) => `${c.kind} (${bad}): ${naming(warnings, bad).length} warnings`);
  }

  it('the file store API', () => {
    const warnings: string[] = [];
    const store = new FileStore(ctx.store, { warn: (m) => warnings.push(`warning: ${m}`) });
    const runs = store.listRuns();
    // Twice: a long-lived reader (the dashboard) warns once per entry, not per listing.
    store.listRuns();
    expect(runs.map((r) => r.meta.run_name).sort()).toEqual(expectedNames());
    expect(unwarned(warnings, storeCases())).toEqual([]);
    // The parts that were bad are gone; the rest of those runs is intact.
    const byName = new Map(runs.map((r) => [r.meta.run_name, r]));
    expect(byName.get('part-empty-metric')!.metrics.fid).toBeUndefined();
    expect(byName.get('part-garbage')!.metrics.loss!.map((p) => [p.step, p.value])).toEqual([[10, 0.1], [20, 0.2], [30, 0.3]]);
    expect(byName.get('part-truncated')!.metrics.loss!.map((p) => p.step)).toEqual([10, 20, 30]);
    expect(byName.get('part-params-file')!.params).toEqual({});
    expect(byName.get('part-tag-link')!.tags['genlab.model']).toBe('gan/mlp');
    expect(byName.get('part-metrics-link')!.metrics).toEqual({});
    expect(byName.get('good-a')!.status).toBe('FINISHED');
  });

  it('exp compare, through the CLI', async () => {
    const r = await expAsync(['compare', '--source', 'mlruns', '--format', 'json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const table = JSON.parse(r.stdout) as { columns: string[]; rows: (string | number | null)[][] };
    expect(table.rows.map((row) => row[0]).sort()).toEqual(expectedNames());
    expect(unwarned(warningLines(r.stderr), storeCases())).toEqual([]);
  });

  it('exp ui: /api/runs over HTTP, and a history without the bad points', async () => {
    const child = spawn(process.execPath, [bin, 'ui', 'mlruns', '--port', '0'], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
          if (m) resolve(m[1]!);
        });
        child.on('close', () => reject(new Error(`exp ui exited: ${stderr}`)));
      });
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${url}/api/runs`);
        expect(res.status).toBe(200);
        const runs = (await res.json()) as { runId: string; runName: string; latest: Record<string, number | null> }[];
        expect(runs.map((x) => x.runName).sort()).toEqual(expectedNames());
        expect(runs.find((x) => x.runName === 'part-garbage')!.latest.loss).toBe(0.3);
      }
      const garbage = new FileStore(ctx.store, { warn: () => {} }).listRuns().find((x) => x.meta.run_name === 'part-garbage')!;
      const hist = (await (await fetch(`${url}/api/runs/${garbage.meta.run_id}/history?key=loss`)).json()) as { step: number; value: number | null }[];
      expect(hist.map((p) => [p.step, p.value])).toEqual([[10, 0.1], [20, 0.2], [30, 0.3]]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(unwarned(warningLines(stderr), storeCases())).toEqual([]);
  });

  it('exp runs, through the CLI', async () => {
    const r = await expAsync(['runs'], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const names = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).at(-1));
    expect(names.sort()).toEqual(['rec-good', realName].sort());
    expect(unwarned(warningLines(r.stderr), tried.filter((t) => t.c.where === 'outputs'))).toEqual([]);
  });

  it('tried every kind in the table (chmod 000 ones only when not root)', () => {
    expect(tried.length).toBe(CASES.filter((c) => !(c.nonRoot && ROOT)).length);
    expect(tried.length).toBeGreaterThanOrEqual(40);
  });
});
