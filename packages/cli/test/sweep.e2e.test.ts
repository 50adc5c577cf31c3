/**
 * Sweeps end to end: `exp run --sweep` / `sweep:` through the real CLI on tiny configs, in a
 * temporary working folder; the runs are read back from the MLflow file store it writes.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '@genlab/core';
import { FileStore } from '@genlab/tracking';
import { startMlflowStub } from '@genlab/tracking/testing';
import { bin, countRuns, exp, expAsync, here, tiny, write } from './helpers.js';

type StoredRun = ReturnType<FileStore['readRun']> & { id: string };

/** Every run of a sweep in `cwd/mlruns`: its parent and its variants (by index). */
function sweepRuns(cwd: string, sweepId: string): { parent: StoredRun; variants: StoredRun[] } {
  const store = new FileStore(path.join(cwd, 'mlruns'));
  const root = store.root;
  const all = fs
    .readdirSync(root)
    .filter((e) => /^\d+$/.test(e))
    .flatMap((e) => fs.readdirSync(path.join(root, e)).filter((r) => /^[0-9a-f]{32}$/.test(r)))
    .map((id) => ({ ...store.readRun(id), id }))
    .filter((r) => r.tags['genlab.sweep'] === sweepId);
  const parents = all.filter((r) => r.tags['genlab.sweep.role'] === 'parent');
  expect(parents).toHaveLength(1);
  const variants = all.filter((r) => r.tags['genlab.sweep.role'] === 'variant').sort((a, b) => Number(a.tags['genlab.sweep.index']) - Number(b.tags['genlab.sweep.index']));
  return { parent: parents[0]!, variants };
}

const sweepIdOf = (stdout: string) => {
  const m = /^sweep ([0-9a-f]{8}): /m.exec(stdout);
  if (!m) throw new Error(`no sweep id in: ${stdout}`);
  return m[1]!;
};

/** The table rows printed at the end: [#, variant, run, status]. */
const tableRows = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => /^\s*\d+ {2}/.test(l))
    .map((l) => l.trim().split(/ {2,}/));

describe('exp run with a sweep', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-sweep-e2e-'));
  });

  it('a 2×2 sweep from --sweep flags: 4 tagged variant runs under a FINISHED parent; exp compare --sweep lists exactly those', () => {
    const cfg = write(cwd, 'tiny.yaml', tiny());
    const r = exp(['run', cfg, '--sweep', 'seed=1,2', '--sweep', 'model.latentDim=4,8', '--set', 'callbacks.progress=false'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const id = sweepIdOf(r.stdout);
    expect(r.stderr).toContain(`sweep ${id}: 4 variants (grid over seed (2) × model.latentDim (2)), one after another`);
    expect(tableRows(r.stdout).map(([n, label, , status]) => [n, label, status])).toEqual([
      ['1', 'seed=1, model.latentDim=4', 'FINISHED'],
      ['2', 'seed=1, model.latentDim=8', 'FINISHED'],
      ['3', 'seed=2, model.latentDim=4', 'FINISHED'],
      ['4', 'seed=2, model.latentDim=8', 'FINISHED'],
    ]);
    expect(r.stdout).toContain(`compare: pnpm exp compare --sweep ${id}`);

    const { parent, variants } = sweepRuns(cwd, id);
    expect(parent.status).toBe('FINISHED');
    expect(parent.meta.run_name).toBe(`gan-mnist-sweep-${id}`);
    expect(parent.params).toMatchObject({ 'sweep.seed': '[1,2]', 'sweep.model.latentDim': '[4,8]', 'sweep.mode': 'grid', 'sweep.size': '4' });
    expect(parent.tags['genlab.sweep.finished']).toBe('4');
    expect(Object.keys(parent.metrics)).toEqual([]);
    expect(fs.existsSync(path.join(parent.dir, 'artifacts', 'sweep.json'))).toBe(true);

    expect(variants).toHaveLength(4);
    const expected = [
      ['1', '4'],
      ['1', '8'],
      ['2', '4'],
      ['2', '8'],
    ];
    for (const [i, v] of variants.entries()) {
      const [seed, latent] = expected[i]!;
      expect(v.status).toBe('FINISHED');
      expect(v.tags['mlflow.parentRunId']).toBe(parent.id);
      expect(v.tags['genlab.sweep.variant']).toBe(`seed=${seed}, model.latentDim=${latent}`);
      expect(v.meta.run_name).toBe(`gan-mnist-sweep-${id}-${i + 1}`);
      expect([v.params['seed'], v.params['model.latentDim']]).toEqual([seed, latent]);
      expect(v.params['train.steps']).toBe('12');
      // A variant's saved config is a single run's: no sweep in it, and it validates alone.
      const saved = path.join(cwd, 'outputs', v.id, 'config.yaml');
      expect(fs.readFileSync(saved, 'utf8')).not.toMatch(/^sweep:/m);
      expect(exp(['validate', saved, '-q'], cwd).code).toBe(0);
    }
    // Sequential variants run in one process: the live tensor count after each run is the same.
    const record = JSON.parse(fs.readFileSync(path.join(cwd, 'outputs', 'sweeps', id, 'sweep.json'), 'utf8')) as { status: string; variants: { liveTensors: number; runId: string }[] };
    expect(record.status).toBe('FINISHED');
    expect(record.variants.map((v) => v.runId)).toEqual(variants.map((v) => v.id));
    expect(new Set(record.variants.map((v) => v.liveTensors)).size).toBe(1);

    const c = exp(['compare', '--sweep', id, '--format', 'json'], cwd);
    expect(c.code, c.stderr).toBe(0);
    const table = JSON.parse(c.stdout) as { columns: string[]; rows: (string | number | null)[][] };
    expect(table.rows.map((row) => row[table.columns.indexOf('id')])).toEqual(variants.map((v) => v.id.slice(0, 8)));
    expect(table.columns).toEqual(expect.arrayContaining(['seed', 'model.latentDim']));
    expect(table.columns.filter((k) => k.startsWith('sweep.'))).toEqual([]);
    expect(c.stderr).toContain(`sweep ${id}: 4 of its 4 variants below (parent run ${parent.id.slice(0, 8)} gan-mnist-sweep-${id}, FINISHED)`);
    // Without --sweep, the parent is not a row either.
    const everything = JSON.parse(exp(['compare', '--format', 'json'], cwd).stdout) as { rows: unknown[][] };
    expect(everything.rows.map((row) => row[1])).not.toContain(parent.id.slice(0, 8));
  });

  it('--parallel 2 makes the same runs as one after another; with the same BLAS threads, the same final losses', async () => {
    const cfg = write(cwd, 'tiny-par.yaml', tiny());
    // OpenBLAS sums in a different order with another thread count, so the last digits of
    // a sequential sweep (all cores) and a parallel one (cores / N each) may differ; with the
    // thread count fixed, running variants in separate processes changes nothing.
    const env = { GENLAB_BLAS_THREADS: '1' };
    const args = ['run', cfg, '--sweep', 'seed=1,2', '--sweep', 'model.latentDim=4,8', '--set', 'callbacks.progress.every=0.2'];
    const seq = await expAsync(args, cwd, env);
    expect(seq.code, seq.stderr).toBe(0);
    const par = await expAsync([...args, '--parallel', '2'], cwd, env);
    expect(par.code, par.stderr).toBe(0);
    expect(par.stderr).toContain('4 variants (grid over seed (2) × model.latentDim (2)), 2 at a time');
    expect(par.stderr).toMatch(/2 processes at a time, 1 BLAS thread\(s\) each/);
    // Each variant's output is prefixed with it.
    expect(par.stderr).toMatch(/^\[1\/4 seed=1, model\.latentDim=4\] step \d+\/12/m);
    expect(par.stderr).toMatch(/^\[4\/4 seed=2, model\.latentDim=8\] run [0-9a-f]{32} FINISHED at step 12/m);

    const a = sweepRuns(cwd, sweepIdOf(seq.stdout));
    const b = sweepRuns(cwd, sweepIdOf(par.stdout));
    expect(b.parent.status).toBe('FINISHED');
    expect(b.variants).toHaveLength(4);
    const withoutName = (p: Record<string, string>) => Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'tracking.runName'));
    for (const [i, v] of b.variants.entries()) {
      const s = a.variants[i]!;
      expect(v.tags['genlab.sweep.variant']).toBe(s.tags['genlab.sweep.variant']);
      expect(v.tags['mlflow.parentRunId']).toBe(b.parent.id);
      expect(withoutName(v.params)).toEqual(withoutName(s.params));
      for (const key of ['loss_d', 'loss_g']) expect(v.metrics[key]!.map((p) => p.value), key).toEqual(s.metrics[key]!.map((p) => p.value));
    }
  });

  it('a sweep: block over whole model sections: exp validate lists the variants, --sweep replaces a YAML list, each runs its own model', () => {
    const cfg = write(
      cwd,
      'models.yaml',
      tiny(`sweep:
  model:
    - { name: gan/mlp, latentDim: 4, generator: { hidden: [16] }, discriminator: { hidden: [16] } }
    - { name: gan/dcgan, latentDim: 4, generator: { channels: [4, 2] }, discriminator: { channels: [2, 4] } }
  seed: [1, 2]
`),
    );
    const v = exp(['validate', cfg], cwd);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).toContain('OK, a sweep of 4 variants (grid over model (2) × seed (2)), each valid:');
    expect(v.stderr).toMatch(/ 3 {2}model\.name=gan\/dcgan, model\.latentDim=4, model\.generator\.channels=\[4,2\], model\.discriminator\.channels=\[2,4\], seed=1 {2}\(model gan\/dcgan, data mnist\)/);
    expect(v.stdout.match(/^# variant \d\/4: /gm)).toHaveLength(4);
    expect(v.stdout).not.toMatch(/^sweep:/m);
    // The replaced section has no trace of the base config's generator.hidden.
    expect(v.stdout.split('---\n')[2]).not.toContain('hidden');

    const r = exp(['run', cfg, '--sweep', 'seed=5', '--set', 'train.steps=3', '--set', 'callbacks.progress=false', '--set', 'callbacks.samples.n=4'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const { variants } = sweepRuns(cwd, sweepIdOf(r.stdout));
    expect(variants.map((x) => [x.tags['genlab.model'], x.params['seed'], x.params['train.steps'], x.status])).toEqual([
      ['gan/mlp', '5', '3', 'FINISHED'],
      ['gan/dcgan', '5', '3', 'FINISHED'],
    ]);
    expect(variants[1]!.params['model.generator.channels']).toBe('[4,2]');
  });

  it('a variant with a bad value fails validation before any run starts, naming the variant and the key', () => {
    const cfg = write(cwd, 'tiny-bad.yaml', tiny());
    const runs = countRuns(cwd);
    const sweeps = fs.existsSync(path.join(cwd, 'outputs', 'sweeps')) ? fs.readdirSync(path.join(cwd, 'outputs', 'sweeps')).length : 0;
    const r = exp(['run', cfg, '--sweep', 'seed=1,2', '--sweep', 'model.latentDim=4,-1'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('2 of 4 variants are invalid (no run was started)');
    expect(r.stderr).toMatch(/variant 2\/4 \(seed=1, model\.latentDim=-1\):\n {4}- --sweep model\.latentDim=-1: 'model\.latentDim': .*>0/);
    expect(r.stderr).toContain('variant 4/4 (seed=2, model.latentDim=-1)');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(countRuns(cwd)).toBe(runs);
    expect(fs.existsSync(path.join(cwd, 'outputs', 'sweeps')) ? fs.readdirSync(path.join(cwd, 'outputs', 'sweeps')).length : 0).toBe(sweeps);
  });

  it('one variant failing at run time leaves the others finished, the parent FAILED and the exit code 1; --fail-fast skips the rest', () => {
    const cfg = write(
      cwd,
      'nan.yaml',
      `plugins: [${path.join(here, 'fixtures', 'nan-model.mjs')}]
model: { name: test/nan }
dataset: { name: mnist }
train: { steps: 8, batchSize: 4, logEvery: 2 }
callbacks: { samples: false, progress: false, divergence: { maxRollbacks: 0 } }
`,
    );
    const r = exp(['run', cfg, '--sweep', 'model.nanAt=100,3,50'], cwd);
    expect(r.code, r.stderr).toBe(1);
    expect(tableRows(r.stdout).map((row) => row[3])).toEqual(['FINISHED', 'FAILED', 'FINISHED']);
    expect(r.stdout).toMatch(/^ {2}2: failed: non-finite loss=NaN at step 3 \(and grad_norm\/main=NaN\)$/m);
    const { parent, variants } = sweepRuns(cwd, sweepIdOf(r.stdout));
    expect(parent.status).toBe('FAILED');
    expect(parent.tags['genlab.sweep.failed']).toBe('1');
    expect(variants.map((v) => v.status)).toEqual(['FINISHED', 'FAILED', 'FINISHED']);

    const ff = exp(['run', cfg, '--sweep', 'model.nanAt=3,100', '--fail-fast'], cwd);
    expect(ff.code).toBe(1);
    expect(tableRows(ff.stdout).map((row) => [row[2], row[3]])).toEqual([
      [expect.stringMatching(/^[0-9a-f]{8}$/), 'FAILED'],
      ['–', 'SKIPPED'],
    ]);
    expect(sweepRuns(cwd, sweepIdOf(ff.stdout)).variants).toHaveLength(1);
  });

  it('SIGINT stops a parallel sweep cleanly: running variants end KILLED with a checkpoint, the rest never start, exit 130', async () => {
    const cfg = write(cwd, 'long.yaml', tiny().replace('steps: 12,', 'steps: 100000,'));
    const child = spawn(process.execPath, [bin, 'run', cfg, '--sweep', 'seed=1,2,3', '--parallel', '2', '--set', 'callbacks.progress.every=0.5'], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      let sent = false;
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // Once both running variants are training.
        if (!sent && /^\[1\/3 seed=1\] step \d+/m.test(stderr) && /^\[2\/3 seed=2\] step \d+/m.test(stderr)) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      child.on('close', resolve);
    });
    expect(code, stderr).toBe(130);
    expect(tableRows(stdout).map((row) => row[3])).toEqual(['KILLED', 'KILLED', 'SKIPPED']);
    const { parent, variants } = sweepRuns(cwd, sweepIdOf(stdout));
    expect(parent.status).toBe('KILLED');
    expect(variants).toHaveLength(2);
    for (const v of variants) {
      expect(v.status).toBe('KILLED');
      expect(v.tags['genlab.stop_reason']).toBe('interrupted (SIGINT)');
      // Nothing lost: the checkpoint holds the step the run stopped at.
      const step = Number(/KILLED at step (\d+)/.exec(stderr.split('\n').filter((l) => l.includes(v.id)).join('\n'))![1]);
      expect(readCheckpoint(path.join(cwd, 'outputs', v.id, 'checkpoints', 'last')).meta.step).toBe(step);
    }
  });

  it('refuses --resume with a sweep, and --parallel without one', () => {
    const cfg = write(cwd, 'tiny-refuse.yaml', tiny('sweep:\n  seed: [1, 2]\n'));
    const a = exp(['run', cfg, '--resume', 'abc'], cwd);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/resuming a whole sweep is not supported.*--resume <run id>/s);
    expect(exp(['run', write(cwd, 'plain.yaml', tiny()), '--sweep', 'seed=1,2', '--resume', 'abc'], cwd).code).toBe(2);
    const p = exp(['run', write(cwd, 'plain2.yaml', tiny()), '--parallel', '2'], cwd);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain('--parallel and --fail-fast apply to sweeps');
    // Other commands that need a single config say so.
    const d = exp(['data', cfg], cwd);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/has a 'sweep:' block/);
  });
});

describe('a sweep tracked on an MLflow server', () => {
  let cwd: string;
  let stub: Awaited<ReturnType<typeof startMlflowStub>>;
  beforeAll(async () => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-sweep-rest-'));
    stub = await startMlflowStub();
  });
  afterAll(async () => {
    await stub.close();
  });

  it("nests the variants under the parent with the server's run ids; exp compare --sweep reads them from the server", async () => {
    const cfg = write(cwd, 'tiny.yaml', tiny());
    const r = await expAsync(['run', cfg, '--sweep', 'seed=1,2', '--parallel', '2', '--set', `tracking.uri=${stub.url}`, '--set', 'callbacks.progress=false'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const id = sweepIdOf(r.stdout);
    expect(r.stdout).toContain(`compare: pnpm exp compare --sweep ${id} --source ${stub.url}`);
    const remote = [...stub.runs.values()].filter((x) => x.tags.get('genlab.sweep') === id);
    const parent = remote.find((x) => x.tags.get('genlab.sweep.role') === 'parent')!;
    const variants = remote.filter((x) => x.tags.get('genlab.sweep.role') === 'variant');
    expect(parent.info.status).toBe('FINISHED');
    expect(parent.params.get('sweep.seed')).toBe('[1,2]');
    expect(variants.map((x) => x.info.status)).toEqual(['FINISHED', 'FINISHED']);
    // The local store keeps local ids; the server gets the parent's server id.
    for (const x of variants) expect(x.tags.get('mlflow.parentRunId')).toBe(parent.info.run_id);
    const c = await expAsync(['compare', '--sweep', id, '--source', stub.url, '--format', 'csv'], cwd);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout.trim().split('\n')).toHaveLength(3); // header and two variants
  });
});
