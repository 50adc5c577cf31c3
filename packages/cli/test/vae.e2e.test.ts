/**
 * End-to-end tests of the VAE plugins through the real CLI: a few steps of vae/mlp on
 * binarised MNIST (from configs/vae-mnist.yaml), its preview grids, `exp eval` giving the
 * test NLL in nats and bits/dim with its protocol, a conditional VAE, and refused configs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '@genlab/tracking';
import { exp, repo, runIdOf, write } from './helpers.js';

/** configs/<file> made tiny: small networks, a few steps, a cheap IWAE. */
const tinyVae = (file: string, extra = '') => `extends: ${path.join(repo, 'configs', file)}
model:
  latentDim: 4
  encoder: { hidden: [32] }
  decoder: { hidden: [32] }
  eval: { iwaeK: 3 }
train: { steps: 8, batchSize: 32, logEvery: 4 }
callbacks:
  samples: { every: 4, n: 16, previews: 8 }
  checkpoint: { every: 4 }
  progress: { mode: lines, every: 0.01 }
eval: false
${extra}`;

describe('VAEs through the CLI', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-vae-'));
  });

  it('trains vae/mlp on binarised MNIST with preview grids, then exp eval reports nll and bits_per_dim', () => {
    const r = exp(['run', write(cwd, 'vae.yaml', tinyVae('vae-mnist.yaml'))], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/vae\/mlp on mnist/);
    expect(r.stdout).toContain('FINISHED at step 8');
    expect(r.stderr).toMatch(/loss [\d.e+]+ {2}recon [\d.e+]+ {2}kl /);
    const runId = runIdOf(r.stdout);
    const store = new FileStore(path.join(cwd, 'mlruns'));
    let run = store.readRun(runId);
    for (const k of ['loss', 'recon', 'kl']) expect(Number.isFinite(run.metrics[k]![0]!.value), k).toBe(true);
    const artifacts = path.join(run.dir, 'artifacts', 'samples');
    for (const f of ['final.png', 'step-0000004.png', 'reconstructions/final.png', 'reconstructions/step-0000004.png', 'interpolations/final.png']) {
      expect(fs.existsSync(path.join(artifacts, f)), f).toBe(true);
    }

    const e = exp(['eval', runId, '--metrics', 'nll'], cwd);
    expect(e.code, e.stderr).toBe(0);
    const value = (key: string) => Number(new RegExp(`\\n${key}\\s+(-?[\\d.]+)`).exec(e.stdout)?.[1]);
    // 784 binary pixels: an untrained-for-8-steps model is far from 0 and below 784·log 2.
    expect(value('nll')).toBeGreaterThan(100);
    expect(value('nll')).toBeLessThan(784 * Math.LN2);
    expect(value('nll')).toBeLessThanOrEqual(value('nll_elbo'));
    expect(value('bits_per_dim')).toBeCloseTo(value('nll') / (784 * Math.LN2), 2);
    expect(e.stdout).toContain('nll protocol: data=mnist/test[999]; estimator=iwae k=3 seed=0');
    run = store.readRun(runId);
    expect(run.metrics.nll![0]!.value).toBeCloseTo(value('nll'), 1);
    expect(run.metrics.bits_per_dim).toBeDefined();
    expect(run.tags['genlab.eval.protocol.nll']).toBe('data=mnist/test[999]; estimator=iwae k=3 seed=0');

    // The evaluation noise is fixed: a second evaluation gives the same numbers.
    const again = exp(['eval', runId, '--metrics', 'nll', '--no-log'], cwd);
    expect(again.code, again.stderr).toBe(0);
    expect(/\nnll\s+(-?[\d.]+)/.exec(again.stdout)?.[1]).toBe(/\nnll\s+(-?[\d.]+)/.exec(e.stdout)?.[1]);
  });

  it('trains the conditional VAE and samples given classes', () => {
    const r = exp(['run', write(cwd, 'cvae.yaml', tinyVae('cvae-mnist.yaml'))], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/vae\/cvae on mnist/);
    const s = exp(['sample', runIdOf(r.stdout), '--n', '10', '--out', path.join(cwd, 'cvae.png')], cwd);
    expect(s.code, s.stderr).toBe(0);
    expect(fs.existsSync(path.join(cwd, 'cvae.png'))).toBe(true);
  });

  it('refuses a Bernoulli decoder on grey levels and an unknown cvae arch, with exit 2', () => {
    const grey = exp(['run', write(cwd, 'grey.yaml', tinyVae('vae-mnist.yaml')), '--set', 'dataset.binarize=none', '--set', 'model.decoder.likelihood=bernoulli'], cwd);
    expect(grey.code).toBe(2);
    expect(grey.stderr).toContain("'model.decoder.likelihood': bernoulli needs binary data, but this data has grey levels in [0, 1]");
    const bad = exp(['run', write(cwd, 'arch.yaml', tinyVae('cvae-mnist.yaml')), '--set', 'model.arch=rnn'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/'model\.arch'/);
  });
});
