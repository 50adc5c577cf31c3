/**
 * End-to-end tests: the real `exp` CLI (built `dist/bin.js`) in a child process, on tiny
 * configs, in a temporary working folder (so outputs/ and mlruns/ land there).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodePng, readCheckpoint } from '@genlab/core';
import { FileStore } from '@genlab/tracking';
import { bin, countRuns, exp, here, repo, runIdOf, seedConfig, tiny, write } from './helpers.js';

describe('exp CLI end to end', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-'));
  });

  it('lists the built-in plugins', () => {
    const r = exp(['list'], cwd);
    expect(r.code).toBe(0);
    for (const s of ['gan/mlp', 'mnist', 'progress', 'checkpoint', 'samples', 'divergence', 'file:']) expect(r.stdout).toContain(s);
  });

  it('validates a config and prints it resolved', () => {
    const cfg = write(cwd, 'tiny.yaml', tiny());
    const r = exp(['validate', cfg, '--set', 'model.loss=least-squares'], cwd);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('loss: least-squares');
    expect(r.stdout).toContain('latentDim: 8');
    expect(r.stdout).toMatch(/beta1: 0\.5/);
  });

  it('trains a tiny run to FINISHED with a grid, metrics, params, tags and artifacts', () => {
    const cfg = write(cwd, 'tiny.yaml', tiny());
    const r = exp(['run', cfg], cwd);
    expect(r.stderr).toMatch(/backend: (wasm|tensorflow|cpu) \(/);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('FINISHED at step 12');
    const runId = runIdOf(r.stdout);
    const grid = decodePng(fs.readFileSync(path.join(cwd, 'outputs', runId, 'samples', 'final.png')));
    // 16 samples of 28×28 in 4 columns with a 2-pixel border: 4·30 + 2.
    expect([grid.width, grid.height]).toEqual([122, 122]);
    const run = new FileStore(path.join(cwd, 'mlruns')).readRun(runId);
    expect(run.status).toBe('FINISHED');
    expect(run.metrics['loss_d']!.map((p) => p.step)).toEqual([4, 8, 12]);
    for (const p of run.metrics['loss_g']!) expect(Number.isFinite(p.value)).toBe(true);
    expect(run.metrics['img_per_sec']!.length).toBe(3);
    expect(run.params['model.latentDim']).toBe('8');
    expect(run.params['train.batchSize']).toBe('16');
    expect(run.params['model.optimizerG.lr']).toBe('0.0002');
    expect(run.tags['genlab.model']).toBe('gan/mlp');
    expect(run.tags['genlab.backend']).toMatch(/wasm|tensorflow|cpu/);
    expect(run.tags['mlflow.runName']).toBe(run.meta.run_name);
    const artifacts = path.join(run.dir, 'artifacts');
    expect(fs.existsSync(path.join(artifacts, 'config.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(artifacts, 'samples', 'final.png'))).toBe(true);
    expect(fs.existsSync(path.join(artifacts, 'samples', 'step-0000006.png'))).toBe(true);
    expect(fs.existsSync(path.join(artifacts, 'checkpoint', 'last', 'manifest.json'))).toBe(true);
    // The saved resolved config validates on its own.
    expect(exp(['validate', path.join(cwd, 'outputs', runId, 'config.yaml'), '-q'], cwd).code).toBe(0);

    // exp sample: same seed, same grid.
    const a = exp(['sample', runId.slice(0, 8), '--n', '9', '--out', 'a.png', '--seed', '3'], cwd);
    expect(a.code, a.stderr).toBe(0);
    const b = exp(['sample', runId, '--n', '9', '--out', 'b.png', '--seed', '3'], cwd);
    expect(b.code).toBe(0);
    const pa = fs.readFileSync(path.join(cwd, 'a.png'));
    expect(decodePng(pa).width).toBe(3 * 30 + 2);
    expect(pa.equals(fs.readFileSync(path.join(cwd, 'b.png')))).toBe(true);
  });

  it('runs the seed config as a smaller variant from --set overrides', () => {
    const r = exp(['run', seedConfig, '--set', 'train.steps=20', '--set', 'model.latentDim=64', '--set', 'callbacks.progress=false'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const run = new FileStore(path.join(cwd, 'mlruns')).readRun(runIdOf(r.stdout));
    expect(run.params['model.latentDim']).toBe('64');
    expect(run.params['train.steps']).toBe('20');
    expect(run.status).toBe('FINISHED');
  });

  it('trains the DCGAN config on the default backend (conv kernels of the pack)', () => {
    const dcganConfig = path.join(repo, 'configs', 'dcgan-mnist.yaml');
    const r = exp(
      ['run', dcganConfig, '--set', 'train.steps=3', '--set', 'train.batchSize=8', '--set', 'model.generator.channels=[8, 4]', '--set', 'model.discriminator.channels=[4, 8]', '--set', 'callbacks.progress=false', '--set', 'callbacks.samples.n=4'],
      cwd,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/backend: (wasm|tensorflow) \(/);
    const run = new FileStore(path.join(cwd, 'mlruns')).readRun(runIdOf(r.stdout));
    expect(run.status).toBe('FINISHED');
    expect(run.tags['genlab.model']).toBe('gan/dcgan');
    for (const p of run.metrics['loss_d']!) expect(Number.isFinite(p.value)).toBe(true);
    expect(decodePng(fs.readFileSync(path.join(cwd, 'outputs', runIdOf(r.stdout), 'samples', 'final.png'))).width).toBe(2 * 30 + 2);
  });

  describe('bad input: exit 2, a message naming what and where, no run left behind', () => {
    const rejects = (args: string[], pattern: RegExp) => {
      const before = countRuns(cwd);
      const r = exp(args, cwd);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
      expect(countRuns(cwd)).toBe(before);
      return r;
    };

    it('unknown key from --set', () => {
      rejects(['run', seedConfig, '--set', 'model.nope=1'], /model\.nope.*unknown key 'nope'/s);
    });
    it('unknown key in the file, with file:line', () => {
      const cfg = write(cwd, 'typo.yaml', tiny('tracking:\n  urii: file:./mlruns\n'));
      rejects(['run', cfg], new RegExp(`typo\\.yaml:12: 'tracking\\.urii': unknown key 'urii'.*did you mean 'uri'`));
    });
    it('wrong type and out-of-range values', () => {
      rejects(['run', seedConfig, '--set', 'train.batchSize=abc'], /train\.batchSize.*expected number/);
      rejects(['run', seedConfig, '--set', 'train.batchSize=-4'], /train\.batchSize.*>0/);
      rejects(['run', seedConfig, '--set', 'model.optimizerG.lr=0'], /model\.optimizerG\.lr/);
    });
    it('unknown model, listing the known ones', () => {
      rejects(['run', seedConfig, '--set', 'model.name=gan/nope'], /Unknown model 'gan\/nope'\. Known models: gan\/mlp/);
    });
    it('missing config file and invalid YAML', () => {
      rejects(['run', path.join(cwd, 'missing.yaml')], /Cannot read config .*missing\.yaml: no such file/);
      const bad = write(cwd, 'bad.yaml', 'model:\n  name: gan/mlp\n  latentDim: [1, 2\n');
      rejects(['validate', bad], /bad\.yaml:\d+:\d+: invalid YAML/);
    });
    it('unwritable output folder or tracking store', () => {
      // Tests run as root, so permissions cannot make a folder unwritable: a file in the way does.
      const blocker = write(cwd, 'a-file', 'not a folder');
      rejects(['run', write(cwd, 't.yaml', tiny()), '--set', `output.dir=${blocker}/out`], /output folder.*a-file\/out cannot be used: .*a-file is a file, not a folder/);
      rejects(['run', write(cwd, 't.yaml', tiny()), '--set', `tracking.uri=file:${blocker}/mlruns`], /tracking store .*a-file\/mlruns cannot be used: .*a-file is a file, not a folder/);
    });
    it('resume of a missing run', () => {
      rejects(['run', '--resume', 'feedface'], /No run 'feedface'/);
    });
    it('usage errors', () => {
      rejects(['frobnicate'], /Unknown argument|Name a command/);
      rejects(['run'], /needs a config file/);
    });
  });

  it('stops as FAILED on a NaN loss, naming the step, and keeps the last good checkpoint (plugin module)', () => {
    const fixture = path.join(here, 'fixtures', 'nan-model.mjs');
    const cfg = write(
      cwd,
      'nan.yaml',
      `plugins: [${fixture}]
model: { name: test/nan, nanAt: 5 }
dataset: { name: mnist }
train: { steps: 20, batchSize: 8, logEvery: 1 }
callbacks: { checkpoint: { every: 2 }, progress: false }
`,
    );
    const list = exp(['list', cfg], cwd);
    expect(list.stdout).toContain('test/nan');
    const r = exp(['run', cfg], cwd);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('FAILED at step 5');
    expect(r.stdout).toMatch(/non-finite loss=NaN at step 5/);
    const runId = runIdOf(r.stdout);
    const run = new FileStore(path.join(cwd, 'mlruns')).readRun(runId);
    expect(run.status).toBe('FAILED');
    expect(run.tags['genlab.stop_reason']).toMatch(/NaN at step 5/);
    expect(Number.isNaN(run.metrics['loss']!.at(-1)!.value)).toBe(true);
    const ckpt = readCheckpoint(path.join(cwd, 'outputs', runId, 'checkpoints', 'last'));
    expect(ckpt.meta.step).toBe(4);
    for (const v of ckpt.state['model/w']!.data) expect(Number.isFinite(v)).toBe(true);
  });

  it('an interrupted and resumed run ends with the same weights as an uninterrupted one', async () => {
    const cfg = write(
      cwd,
      'resume.yaml',
      `extends: ${seedConfig}
train: { steps: 150, batchSize: 32, logEvery: 10 }
callbacks:
  samples: { every: 0, n: 4 }
  checkpoint: { every: 1000 }
  progress: { mode: lines, every: 0.05 }
`,
    );
    const straight = exp(['run', cfg], cwd);
    expect(straight.code, straight.stderr).toBe(0);
    const straightId = runIdOf(straight.stdout);

    // Start the same run, interrupt it once it is training, then resume it.
    const child = spawn(process.execPath, [bin, 'run', cfg], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      let sent = false;
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (!sent && /step \d+\/150/.test(stderr)) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      child.on('close', resolve);
    });
    expect(code, stderr).toBe(130);
    expect(stdout).toMatch(/KILLED at step \d+/);
    const killedAt = Number(/KILLED at step (\d+)/.exec(stdout)![1]);
    expect(killedAt).toBeLessThan(150);
    const runId = runIdOf(stdout);
    const store = new FileStore(path.join(cwd, 'mlruns'));
    expect(store.readRun(runId).status).toBe('KILLED');

    const resumed = exp(['run', '--resume', runId], cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`run ${runId} FINISHED at step 150`);
    expect(resumed.stderr).toContain(`resuming at step ${killedAt}`);
    expect(store.readRun(runId).status).toBe('FINISHED');
    // Metric steps are strictly increasing across the interruption: nothing logged twice.
    const steps = store.readRun(runId).metrics['loss_d']!.map((p) => p.step);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    expect(new Set(steps).size).toBe(steps.length);

    const a = readCheckpoint(path.join(cwd, 'outputs', straightId, 'checkpoints', 'last'));
    const b = readCheckpoint(path.join(cwd, 'outputs', runId, 'checkpoints', 'last'));
    expect(b.meta.step).toBe(150);
    expect(Object.keys(b.state).sort()).toEqual(Object.keys(a.state).sort());
    for (const key of Object.keys(a.state)) {
      expect(Buffer.from(b.state[key]!.data.buffer).equals(Buffer.from(a.state[key]!.data.buffer)), key).toBe(true);
    }
  });

  it('refuses to resume with an incompatible model config', () => {
    const cfg = write(cwd, 'small.yaml', tiny());
    const first = exp(['run', cfg], cwd);
    expect(first.code).toBe(0);
    const other = write(cwd, 'other.yaml', tiny().replace('hidden: [32] }\n  discriminator', 'hidden: [48] }\n  discriminator'));
    const r = exp(['run', other, '--resume', runIdOf(first.stdout)], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not match this config/);
  });
});
