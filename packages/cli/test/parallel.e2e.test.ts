/**
 * Data-parallel training through the real CLI (`train.devices`): ranks in worker threads,
 * gradients averaged over the slices of each batch.
 *
 * - On deterministic models (an MLP and a conv net without batch norm, from a plugin module
 *   that every replica thread loads, and the Row LSTM), two replicas give the weights and
 *   losses of one device on the whole batch, within float rounding (relative 1e-4: a
 *   float32 mean summed in two halves differs from one sum by ~1e-5 relative at the first
 *   step, before any update, and six steps of momentum SGD carry that forward), also when
 *   the batch does not divide (15 = 8 + 7: the mean is weighted by rows).
 * - A GAN killed with -9 at 2 replicas resumes to the weights of an uninterrupted run, bit
 *   for bit.
 * - A replica that fails ends the run FAILED with its reason; nothing hangs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, type StateDict } from '@genlab/core';
import { loadNativeBlas } from '@genlab/kernels';
import { FileStore } from '@genlab/tracking';
import { bin, expAsync, here, runIdOf, write } from './helpers.js';

/** The stated float tolerance (relative): see the header. */
const TOLERANCE = 1e-4;
const plugin = path.join(here, 'fixtures', 'dp-models.mjs');
const mnist = 'dataset: { name: mnist, subset: 64, range: [0, 1], binarize: stochastic }';
const base = (model: string, batch: number, steps = 6) => `name: dp
seed: 3
plugins: [${plugin}]
model: ${model}
${mnist}
train: { steps: ${steps}, batchSize: ${batch}, logEvery: 1 }
callbacks:
  samples: false
  checkpoint: { every: ${steps} }
  progress: false
`;

/** max |a - b| over every model weight, relative to the largest weight. */
function relDiff(a: StateDict, b: StateDict): number {
  let diff = 0;
  let scale = 0;
  for (const k of Object.keys(a).filter((k) => k.startsWith('model/'))) {
    const x = a[k]!.data;
    const y = b[k]!.data;
    expect(y.length, k).toBe(x.length);
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
      scale = Math.max(scale, Math.abs(x[i]!));
    }
  }
  return diff / scale;
}

describe('data-parallel training (train.devices) through the CLI', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-dp-'));
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  async function train(name: string, cfg: string, devices: number, env: Record<string, string> = {}): Promise<{ state: StateDict; losses: number[]; stderr: string; runId: string }> {
    const file = write(cwd, `${name}.yaml`, cfg);
    const r = await expAsync(['run', file, '--set', `train.devices=${devices}`, '--set', `output.dir=./out-${name}-${devices}`], cwd, env);
    expect(r.code, r.stderr).toBe(0);
    const runId = runIdOf(r.stdout);
    const state = readCheckpoint(path.join(cwd, `out-${name}-${devices}`, runId, 'checkpoints', 'last')).state;
    const metric = Object.keys(new FileStore(path.join(cwd, 'mlruns')).readRun(runId).metrics).find((m) => m === 'loss' || m === 'nll' || m === 'loss_bits') ?? 'loss';
    const losses = new FileStore(path.join(cwd, 'mlruns')).readMetric(runId, metric).map((p) => p.value);
    return { state, losses, stderr: r.stderr, runId };
  }

  const cases: [string, string, number][] = [
    ['mlp', '{ name: test/dp-mlp, width: 16, lr: 0.5 }', 15],
    ['conv', '{ name: test/dp-conv, width: 8, lr: 0.5 }', 16],
    ['rnn', '{ name: rnn/row-lstm, hidden: 4, layers: 1, outputHidden: 0, optimizer: { lr: 0.01 } }', 16],
  ];
  // Both kernel paths: the native BLAS addon where it is built (CI builds it), and pure wasm.
  const paths: [string, Record<string, string>][] = [['pure wasm', { GENLAB_NATIVE: '0' }]];
  if (loadNativeBlas().blas) paths.unshift(['native BLAS', {}]);
  for (const [kernels, env] of paths)
  for (const [name, model, batch] of cases) {
    it(`${name} (${kernels}): 2 replicas give the weights and losses of 1 device on the whole batch (batch ${batch})`, async () => {
      const cfg = base(model, batch);
      const tag = `${name}${env.GENLAB_NATIVE ?? ''}`;
      const [one, two] = await Promise.all([train(tag, cfg, 1, env), train(tag, cfg, 2, env)]);
      expect(two.stderr).toContain(env.GENLAB_NATIVE === '0' ? 'native BLAS disabled' : 'native OpenBLAS');
      expect(two.stderr).toContain(`data-parallel on 2 replicas`);
      expect(one.stderr).not.toContain('data-parallel');
      expect(one.losses).toHaveLength(6);
      expect(two.losses).toHaveLength(6);
      for (let i = 0; i < 6; i++) expect(Math.abs(two.losses[i]! - one.losses[i]!) / Math.abs(one.losses[i]!), `loss at step ${i + 1}`).toBeLessThan(TOLERANCE);
      expect(relDiff(one.state, two.state)).toBeLessThan(TOLERANCE);
      // The runs trained (the comparison is not of two untouched models).
      expect(one.losses[5]!).toBeLessThan(one.losses[0]!);
    });
  }

  it('a GAN killed with -9 at 2 replicas resumes to the weights of an uninterrupted run, bit for bit', async () => {
    const cfg = write(
      cwd,
      'gan.yaml',
      `name: dpgan
seed: 5
model: { name: gan/mlp, latentDim: 4, generator: { hidden: [64, 64] }, discriminator: { hidden: [64, 64] } }
dataset: { name: toy2d, mixture: ring8 }
train: { steps: 300, batchSize: 32, logEvery: 5, devices: 2 }
callbacks:
  samples: false
  checkpoint: { every: 10 }
  progress: false
`,
    );
    const straight = await expAsync(['run', cfg, '--set', 'output.dir=./gan-straight'], cwd);
    expect(straight.code, straight.stderr).toBe(0);
    const straightId = runIdOf(straight.stdout);

    const child = spawn(process.execPath, [bin, 'run', cfg, '--set', 'output.dir=./gan-killed'], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const killedDir = () => {
      const root = path.join(cwd, 'gan-killed');
      const ids = fs.existsSync(root) ? fs.readdirSync(root).filter((d) => /^[0-9a-f]{32}$/.test(d)) : [];
      return ids[0] ? path.join(root, ids[0]) : undefined;
    };
    const checkpointStep = () => {
      try {
        return (JSON.parse(fs.readFileSync(path.join(killedDir()!, 'run.json'), 'utf8')) as { checkpointStep?: number }).checkpointStep ?? -1;
      } catch {
        return -1;
      }
    };
    const deadline = Date.now() + 120_000;
    while (checkpointStep() < 40) {
      if (Date.now() > deadline) throw new Error(`no checkpoint past step 40: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    const killedAt = checkpointStep();
    expect(killedAt).toBeLessThan(300);
    const runId = path.basename(killedDir()!);
    const resumed = await expAsync(['run', '--resume', runId, '--output-dir', './gan-killed'], cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming at step \d+, data-parallel on 2 replicas/);
    const a = readCheckpoint(path.join(cwd, 'gan-straight', straightId, 'checkpoints', 'last')).state;
    const b = readCheckpoint(path.join(killedDir()!, 'checkpoints', 'last')).state;
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const k of Object.keys(a)) expect(Buffer.from(b[k]!.data.buffer).equals(Buffer.from(a[k]!.data.buffer)), k).toBe(true);
    // Two replicas draw their own noise: the run differs from one device on the whole batch.
    const single = await expAsync(['run', cfg, '--set', 'train.devices=1', '--set', 'train.steps=20', '--set', 'output.dir=./gan-one'], cwd);
    const two = await expAsync(['run', cfg, '--set', 'train.steps=20', '--set', 'output.dir=./gan-two'], cwd);
    const lossOf = (r: { stdout: string }) => new FileStore(path.join(cwd, 'mlruns')).readMetric(runIdOf(r.stdout), 'loss_d').map((p) => p.value);
    expect(lossOf(single)[0]).not.toBe(lossOf(two)[0]);
  });

  it('a replica that fails ends the run FAILED with its reason, exit 1, and nothing hangs', async () => {
    // Batch 15 on 2 replicas: rank 1 gets 7 rows, and the model is told to fail on 7.
    const file = write(cwd, 'fail.yaml', base('{ name: test/dp-mlp, throwOnRows: 7 }', 15));
    const r = await expAsync(['run', file, '--set', 'train.devices=2'], cwd);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('data-parallel replica 1 of 2 failed: a slice of 7 rows (asked to fail on it)');
    expect(r.stdout).toMatch(/FAILED at step 0/);
  });

  it('devices: auto runs one replica per core, and the run records how many', async () => {
    const cores = Math.min(os.availableParallelism(), 16);
    const file = write(cwd, 'auto.yaml', base('{ name: test/dp-mlp }', 16, 2));
    const r = await expAsync(['run', file, '--set', 'train.devices=auto', '--set', 'output.dir=./out-auto'], cwd);
    expect(r.code, r.stderr).toBe(0);
    if (cores > 1) expect(r.stderr).toContain(`data-parallel on ${cores} replicas`);
    else expect(r.stderr).not.toContain('data-parallel');
    const runDir = path.join(cwd, 'out-auto', runIdOf(r.stdout));
    expect(fs.readFileSync(path.join(runDir, 'config.yaml'), 'utf8')).toMatch(new RegExp(`devices: ${cores}\\b`));
    expect(readCheckpoint(path.join(runDir, 'checkpoints', 'last')).meta.devices).toBe(cores);
  });

  it('refuses more devices than examples in a batch before a run exists', async () => {
    const file = write(cwd, 'many.yaml', base('{ name: test/dp-mlp }', 4));
    const r = await expAsync(['run', file, '--set', 'train.devices=8'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('train.devices is larger than train.batchSize');
  });
});
