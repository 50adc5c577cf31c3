/**
 * End-to-end test of the pixel RNN through the real CLI: a tiny rnn/row-lstm trained on
 * binarised MNIST, its test NLL from `exp eval`, a sample grid, the shipped config, and the
 * config error for grey-level data.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '@genlab/core';
import { FileStore } from '@genlab/tracking';
import { exp, repo, runIdOf, write } from './helpers.js';

const tinyRnn = (dataset = 'dataset: { name: mnist, subset: 64, range: [0, 1], binarize: stochastic }') => `name: rnn-tiny
model: { name: rnn/row-lstm, hidden: 4, layers: 1, outputHidden: 0 }
${dataset}
train: { steps: 4, batchSize: 8, logEvery: 2 }
callbacks:
  samples: { every: 4, n: 4 }
  checkpoint: { every: 4 }
  progress: false
`;

describe('rnn/row-lstm through the CLI', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-rnn-'));
  });

  it('trains on binarised MNIST, and exp eval reports the test NLL in nats and bits/dim', () => {
    const r = exp(['run', write(cwd, 'rnn.yaml', tinyRnn())], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('FINISHED at step 4');
    const runId = runIdOf(r.stdout);
    const store = new FileStore(path.join(cwd, 'mlruns'));
    let run = store.readRun(runId);
    expect(run.tags['genlab.model']).toBe('rnn/row-lstm');
    expect(run.params['model.cell']).toBe('lstm');
    expect(run.params['model.optimizer.lr']).toBe('0.001');
    const loss = run.metrics.loss!;
    expect(loss.map((p) => p.step)).toEqual([2, 4]);
    // Per image: at most the 784·ln 2 ≈ 543 nats of a coin flip (plus init noise), and positive.
    for (const p of loss) expect(p.value).toBeGreaterThan(0);
    for (const [p, b] of loss.map((p, i) => [p, run.metrics.loss_bpd![i]!] as const)) expect(b.value).toBeCloseTo(p.value / (784 * Math.LN2), 4);
    // The grid of binary samples.
    const grid = decodePng(fs.readFileSync(path.join(cwd, 'outputs', runId, 'samples', 'final.png')));
    expect([grid.width, grid.height]).toEqual([2 * 30 + 2, 2 * 30 + 2]);

    const e = exp(['eval', runId, '--metrics', 'nll', '--samples', '10', '--no-floor'], cwd);
    expect(e.code, e.stderr).toBe(0);
    const nll = Number(/\nnll\s+([\d.]+)/.exec(e.stdout)?.[1]);
    const bpd = Number(/\nbits_per_dim\s+([\d.]+)/.exec(e.stdout)?.[1]);
    expect(nll).toBeGreaterThan(50);
    expect(nll).toBeLessThan(700);
    expect(bpd).toBeCloseTo(nll / (784 * Math.LN2), 2);
    run = store.readRun(runId);
    expect(run.metrics.nll![0]!.step).toBe(4);
    expect(run.metrics.nll![0]!.value).toBeCloseTo(nll, 1);
    // The evaluation's bits/dim has its own key, apart from the training batches' loss_bpd.
    expect(run.metrics.bits_per_dim!.map((p) => p.step)).toEqual([4]);
    expect(run.metrics.bits_per_dim![0]!.value).toBeCloseTo(bpd, 3);
  });

  it('validates the shipped configs/rnn-mnist.yaml', () => {
    const r = exp(['validate', path.join(repo, 'configs', 'rnn-mnist.yaml')], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('name: rnn/row-lstm');
    expect(r.stdout).toContain('binarize: stochastic');
  });

  it('refuses grey-level data with exit 2, saying which dataset options to set', () => {
    const r = exp(['run', write(cwd, 'grey.yaml', tinyRnn('dataset: { name: mnist, subset: 64 }'))], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("rnn/row-lstm models binary pixels (a Bernoulli per pixel), but the data has grey levels: set 'dataset.binarize'");
    expect(r.stderr).toContain("'dataset.range: [0, 1]'");
  });
});
