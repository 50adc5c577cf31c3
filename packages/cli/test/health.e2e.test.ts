/**
 * End-to-end tests of training health through the real CLI: gradient norms and the health
 * callback's signals in the tracker and the progress line, and a rollback after a NaN.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '@genlab/core';
import { FileStore } from '@genlab/tracking';
import { exp, here, runIdOf, tiny, write } from './helpers.js';

describe('training health through the CLI', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-health-'));
  });

  it('logs gradient norms and the health signals to the tracker and shows them in the progress line', () => {
    const cfg = write(cwd, 'tiny-health.yaml', tiny('  health: { every: 6, classes: { samples: 200 } }\n'));
    const r = exp(['run', cfg], cwd);
    expect(r.code, r.stderr).toBe(0);
    // The health check's line, at the step it ran: the class histogram's signals, then the
    // discriminator's share of real images scored as real (gan/mlp has `diagnose`) on a
    // training batch and a held-out one.
    expect(r.stderr).toMatch(
      /\nstep 6\/12 \| health\/class_entropy -?[\d.]+(?:e[-+]\d+)? {2}health\/max_class_share -?[\d.]+(?:e[-+]\d+)? {2}health\/classes_present -?[\d.]+(?:e[-+]\d+)? {2}health\/d_real_pos_train -?[\d.]+(?:e[-+]\d+)? {2}health\/d_real_pos_test -?[\d.]+(?:e[-+]\d+)? {2}health\/d_real_pos_gap -?[\d.]+(?:e[-+]\d+)?\n/,
    );
    // A generator trained for 6 steps draws one blob, which the classifier puts in one class.
    expect(r.stderr).toMatch(/\nhealth: possible mode collapse at step 6: class entropy 0\.\d\d \(real data 0\.9\d\), largest class \d+ % \('\d'\), \d of 10 classes present \(real data 10\)\n/);
    expect(r.stderr).toMatch(/\nstep 12\/12 \| health\/class_entropy /);
    // Gradient norms are among the step scalars of the regular progress lines.
    expect(r.stderr).toMatch(/step 1\/12 .*grad_norm\/d \d+\.\d{3} {2}grad_norm\/g \d+\.\d{3}/);
    const run = new FileStore(path.join(cwd, 'mlruns')).readRun(runIdOf(r.stdout));
    for (const k of ['health/class_entropy', 'health/max_class_share', 'health/classes_present', 'health/d_real_pos_train', 'health/d_real_pos_test', 'health/d_real_pos_gap']) {
      expect(run.metrics[k]!.map((p) => p.step), k).toEqual([6, 12]);
    }
    const entropy = run.metrics['health/class_entropy']![0]!.value;
    expect(entropy).toBeGreaterThanOrEqual(0);
    expect(entropy).toBeLessThanOrEqual(1);
    expect(run.metrics['grad_norm/d']!.map((p) => p.step)).toEqual([4, 8, 12]);
    for (const p of run.metrics['grad_norm/g']!) expect(p.value).toBeGreaterThan(0);
    // MNIST's training digits under the shipped classifier: nearly uniform over 10 classes.
    expect(Number(run.tags['genlab.health.real_class_entropy'])).toBeGreaterThan(0.95);
    expect(run.tags['genlab.health.real_classes_present']).toBe('10');
  });

  it('rolls back on a NaN to the last good checkpoint, continues on new random streams and finishes', () => {
    const fixture = path.join(here, 'fixtures', 'flaky-model.mjs');
    const cfg = write(
      cwd,
      'flaky.yaml',
      `plugins: [${fixture}]
model: { name: test/flaky, nanAt: 7 }
dataset: { name: mnist }
train: { steps: 12, batchSize: 8, logEvery: 1 }
callbacks: { checkpoint: { every: 4 }, progress: { mode: lines, every: 0.01 }, samples: false }
`,
    );
    const r = exp(['run', cfg], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('FINISHED at step 12');
    expect(r.stderr).toContain('rollback 1 at step 7: non-finite loss=NaN at step 7 (and grad_norm/main=NaN); restored step 4 (checkpoints/last), learning rates x0.500, new random streams');
    expect(r.stderr).toMatch(/\nstep 7\/12 \| health\/rollbacks 1 {2}health\/lr_scale 0\.500\n/);
    const runId = runIdOf(r.stdout);
    const run = new FileStore(path.join(cwd, 'mlruns')).readRun(runId);
    expect(run.status).toBe('FINISHED');
    expect(run.tags['genlab.rollbacks']).toBe('1');
    expect(run.tags['genlab.rollback.1']).toMatch(/^step 7 -> 4: non-finite loss=NaN at step 7/);
    expect(run.metrics['health/rollbacks']).toEqual([expect.objectContaining({ step: 7, value: 1 })]);
    // The NaN step is in the tracker's history; the run went on from step 4.
    expect(run.metrics['loss']!.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 5, 6, 7, 8, 9, 10, 11, 12]);
    const ckpt = readCheckpoint(path.join(cwd, 'outputs', runId, 'checkpoints', 'last'));
    expect(ckpt.meta).toMatchObject({ step: 12, rollbacks: 1, lrScale: 0.5 });
    for (const v of ckpt.state['model/w']!.data) expect(Number.isFinite(v)).toBe(true);
  });
});
