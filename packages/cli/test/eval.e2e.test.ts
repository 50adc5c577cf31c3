/**
 * End-to-end tests of the metrics through the real CLI: the `eval:` section during
 * training, `exp eval` on a finished run, mode counts on toy data, and bad input.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '@genlab/tracking';
import { exp, runIdOf, tiny, write } from './helpers.js';

describe('metrics through the CLI', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-eval-'));
  });

  it('evaluates at the end of a run (eval: section) and again with exp eval, logging values, floor and protocol', () => {
    const cfg = write(cwd, 'tiny-eval.yaml', tiny('eval: { samples: 300 }\n'));
    const r = exp(['run', cfg], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/eval at step 12 \(/);
    expect(r.stderr).toContain('real-vs-real floor');
    const runId = runIdOf(r.stdout);
    const store = new FileStore(path.join(cwd, 'mlruns'));
    let run = store.readRun(runId);
    for (const k of ['fid', 'kid', 'kid_std', 'is', 'is_std', 'precision', 'recall', 'density', 'coverage', 'floor/fid', 'floor/precision']) {
      expect(run.metrics[k], k).toBeDefined();
      expect(run.metrics[k]![0]!.step).toBe(12);
      expect(Number.isFinite(run.metrics[k]![0]!.value)).toBe(true);
    }
    // An untrained-for-12-steps generator is far from the real-vs-real floor.
    expect(run.metrics.fid![0]!.value).toBeGreaterThan(run.metrics['floor/fid']![0]!.value);
    expect(run.tags['genlab.eval.protocol.fid']).toMatch(/^features=mnist-cnn@[0-9a-f]{12}; real=mnist\/train\[300\]; fake=300; pixels=as-is; seed=0; floor=mnist\/test\[300\]$/);

    const e = exp(['eval', runId.slice(0, 10), '--samples', '300', '--metrics', 'fid', 'pr'], cwd);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/^run [0-9a-f]{32} .*step 12, gan\/mlp on mnist:\nmetric\s+value\s+real-vs-real floor\nfid\s/);
    expect(e.stdout).toMatch(/\nprecision\s+[\d.]+\s+[\d.]+\n/);
    // The same protocol and seed give the same FID as the evaluation during training.
    const fidLine = /\nfid\s+([\d.]+)/.exec(e.stdout)![1]!;
    expect(Number(fidLine)).toBeCloseTo(run.metrics.fid![0]!.value, fidLine.split('.')[1]!.length - 1);
    run = store.readRun(runId);
    expect(run.metrics.fid).toHaveLength(2);
    expect(run.status).toBe('FINISHED');
  });

  it('counts modes on a toy mixture', () => {
    const cfg = write(
      cwd,
      'ring-eval.yaml',
      `name: ring
model: { name: gan/mlp, latentDim: 4, generator: { hidden: [16] }, discriminator: { hidden: [16] } }
dataset: { name: toy2d, size: 512 }
train: { steps: 4, batchSize: 32 }
callbacks: { samples: false, progress: false }
eval: { samples: 400 }
`,
    );
    const r = exp(['run', cfg], cwd);
    expect(r.code, r.stderr).toBe(0);
    const run = new FileStore(path.join(cwd, 'mlruns')).readRun(runIdOf(r.stdout));
    expect(run.metrics.modes_covered![0]!.value).toBeGreaterThanOrEqual(0);
    expect(run.metrics['floor/modes_covered']![0]!.value).toBe(8);
    // In 2-D, a 3σ disc holds 1 − e^(−4.5) ≈ 98.9 % of a Gaussian's mass.
    expect(run.metrics['floor/high_quality']![0]!.value).toBeGreaterThan(0.97);
  });

  it('trains a feature network from a config and writes its weights with a card', () => {
    const cfg = write(cwd, 'features.yaml', 'dataset: { name: mnist, subset: 256 }\nnet: { channels: [4, 8], dim: 16 }\ntrain: { epochs: 1, batchSize: 32, lr: 0.003 }\nseed: 3\n');
    const out = path.join(cwd, 'net');
    const r = exp(['features', 'train', '--config', cfg, '--out', out], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^feature network for mnist: test accuracy \d+\.\d+ % on 256 images; weights [0-9a-f]{12} in /);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { meta: { card: Record<string, unknown> } };
    expect(manifest.meta.card).toMatchObject({ dataset: 'mnist', seed: 3, epochs: 1, trainExamples: 256, testExamples: 256, spec: { channels: [4, 8], dim: 16, numClasses: 10 } });
    expect((manifest.meta.card.datasetOptions as { range: number[] }).range).toEqual([0, 1]);
    const bad = exp(['features', 'train', '--config', write(cwd, 'bad-features.yaml', 'dataset: { name: mnist, split: tset }\n'), '--out', out], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'dataset.split': Invalid option");
  });

  it('refuses bad eval options with exit 2, naming the key', () => {
    const cfg = write(cwd, 'bad-eval.yaml', tiny('eval: { metrics: [fdi] }\n'));
    const r = exp(['run', cfg], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad-eval\.yaml:\d+: 'eval\.metrics': Unknown metric 'fdi'. Known metrics: fid, kid, is, pr, dc, cas, modes, nll \(did you mean 'fid'\?\)/);
    const ring = write(cwd, 'ring-fid.yaml', `model: { name: gan/mlp }\ndataset: { name: toy2d }\ntrain: { steps: 2 }\neval: { metrics: [fid] }\n`);
    // Refused before a run exists (it once failed at the end of training, exit 1).
    const r2 = exp(['run', ring], cwd);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/ring-fid\.yaml:4: 'eval\.metrics': metrics fid read image features; the data has shape \[2\]/);
    expect(r2.stdout).not.toMatch(/run [0-9a-f]{32}/);
  });
});
