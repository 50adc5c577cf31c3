import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { Batch, Callback, GenerativeModel, StateDict, TrainContext } from '../contracts.js';
import { optimizerSchema } from '../optim.js';
import { deriveSeed, SeedStream } from '../rng.js';
import { readCheckpoint } from '../state.js';
import { MemoryTracker, randomDataset, testConfig } from '../testing/index.js';
import { resumeFrom, Trainer } from '../trainer.js';
import { checkpointCallback } from './checkpoint.js';
import { divergenceCallback, medianMad, spikeReason } from './divergence.js';
import { trackerCallback } from './tracker-log.js';

const RUN_SEED = 1; // testConfig's seed

describe('spike rules', () => {
  it('median and MAD match a direct computation', () => {
    expect(medianMad([5, 1, 3])).toEqual({ median: 3, mad: 2 });
    // Even count: means of the middle pair. |x − 2.5| = 1.5, 0.5, 0.5, 7.5 → MAD (0.5 + 1.5)/2.
    expect(medianMad([1, 2, 3, 10])).toEqual({ median: 2.5, mad: 1 });
  });

  it('flags by robust z-score and/or ratio to the median; every set criterion must hold', () => {
    const history = [1, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98]; // median 1, MAD 0.05 → σ̂ 0.07413
    const sigma = 1.4826 * 0.05;
    expect(spikeReason(1 + 5 * sigma, history, { zScore: 6, factor: false })).toBeUndefined();
    expect(spikeReason(1 + 7 * sigma, history, { zScore: 6, factor: false })).toMatch(/robust z 7\.0 > 6 over the last 7 steps/);
    // z 7 passes, but 1.52× is not 3×: no spike with both criteria.
    expect(spikeReason(1 + 7 * sigma, history, { zScore: 6, factor: 3 })).toBeUndefined();
    expect(spikeReason(3.5, history, { zScore: 6, factor: 3 })).toMatch(/^3\.500 against a median of 1\.000 \(robust z 33\.7 > 6, 3\.5x > 3x/);
    expect(spikeReason(2.9, history, { zScore: false, factor: 3 })).toBeUndefined();
    // Negative medians (e.g. a critic's loss): the ratio means nothing, the z-score decides.
    const negative = history.map((v) => -v);
    expect(spikeReason(0, negative, { zScore: 6, factor: 3 })).toMatch(/robust z 13\.5 > 6/);
    expect(spikeReason(100, negative, { zScore: false, factor: 3 })).toBeUndefined();
    // A constant history: the spread is floored at 1e-3·|median|, so round-off is no spike.
    expect(spikeReason(2 * (1 + 1e-7), [2, 2, 2, 2], { zScore: 6, factor: false })).toBeUndefined();
    expect(spikeReason(2.1, [2, 2, 2, 2], { zScore: 6, factor: false })).toMatch(/robust z 50\.0/);
  });

  it('refuses a spike rule with neither criterion, naming it', () => {
    const r = divergenceCallback.configSchema.safeParse({ loss: { zScore: false, factor: false } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('set zScore or factor');
    expect(divergenceCallback.configSchema.safeParse({ lrFactor: 0 }).success).toBe(false);
    expect(divergenceCallback.configSchema.parse({})).toMatchObject({ maxRollbacks: 2, lrFactor: 0.5, loss: { keys: ['loss*'] }, gradNorm: { keys: ['grad_norm/*'] } });
  });
});

/**
 * A model that misbehaves at step `badAt` on the run's original random stream only (as a
 * rare numerical accident would): NaN, or a loss (and gradient) 1000× too large. One weight
 * vector pulled to the batch mean plus noise from `ctx.seed`; every batch's first value is
 * recorded, to see the data order.
 */
function flakyModel(badAt: number, kind: 'nan' | 'spike', firstValues: number[] = []): GenerativeModel {
  const w = tf.tidy(() => tf.variable(tf.zeros([4]), true));
  return {
    optimizers: [{ name: 'main', config: optimizerSchema.parse({ lr: 0.05 }) }],
    trainStep(batch: Batch, ctx: TrainContext) {
      firstValues.push(batch.x.dataSync()[0]!);
      const original = ctx.seed(0) === deriveSeed(RUN_SEED, SeedStream.step, ctx.step, 0);
      const bad = ctx.step + 1 === badAt && original;
      const target = tf.add(tf.mean(tf.reshape(batch.x, [-1, 4]), 0), tf.randomNormal([4], 0, 0.1, 'float32', ctx.seed(0)));
      const loss = ctx.optimize(
        'main',
        () => {
          const l: tf.Scalar = tf.sum(tf.square(tf.sub(w, target)));
          return bad ? tf.mul<tf.Scalar>(l, kind === 'nan' ? NaN : 1000) : l;
        },
        [w],
      );
      return { loss };
    },
    sample: (n) => tf.tidy(() => tf.tile(tf.reshape(w, [1, 4]), [n, 1])),
    getState: (): StateDict => ({ w: { shape: [4], dtype: 'float32', data: Float32Array.from(w.dataSync()) } }),
    setState: (s) => tf.tidy(() => w.assign(tf.tensor(s.w!.data, [4]))),
    summary: () => [{ name: 'w', params: 4 }],
    dispose: () => w.dispose(),
  };
}

interface Setup {
  steps: number;
  badAt: number;
  kind: 'nan' | 'spike';
  divergence?: Record<string, unknown>;
  checkpointEvery?: number;
  runDir?: string;
  extra?: Callback[];
  resume?: ConstructorParameters<typeof Trainer>[0]['resume'];
}

function setup(o: Setup) {
  const runDir = o.runDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-divergence-'));
  const firstValues: number[] = [];
  const model = flakyModel(o.badAt, o.kind, firstValues);
  const tracker = new MemoryTracker();
  const logs: string[] = [];
  const callbacks = [
    divergenceCallback.create(divergenceCallback.configSchema.parse(o.divergence ?? {})),
    trackerCallback.create({}),
    checkpointCallback.create(checkpointCallback.configSchema.parse({ every: o.checkpointEvery ?? 4, logArtifact: false })),
    ...(o.extra ?? []),
  ];
  const trainer = new Trainer({
    config: testConfig({ name: 'flaky' }, { train: { steps: o.steps, batchSize: 8, logEvery: 1 } }),
    model,
    dataset: randomDataset({ shape: [4], numClasses: 2, range: [0, 1] }, 40, 3),
    tracker,
    callbacks,
    runId: 'r',
    runName: 'r',
    runDir,
    backend: 'cpu',
    log: (m) => logs.push(m),
    ...(o.resume ? { resume: o.resume } : {}),
  });
  const weights = () => Array.from(model.getState().w!.data);
  const done = () => {
    trainer.dispose();
    model.dispose();
  };
  return { trainer, model, tracker, logs, runDir, firstValues, weights, done };
}

describe('divergence rollbacks', () => {
  it('rolls back to the last checkpoint on a NaN, continues on new random streams with a lower lr, and finishes', async () => {
    const s = setup({ steps: 16, badAt: 7, kind: 'nan' });
    const result = await s.trainer.run();
    expect(result).toMatchObject({ status: 'FINISHED', step: 16 });
    expect(s.trainer.info.rollbacks).toBe(1);
    expect(s.trainer.info.lrScale).toBe(0.5);
    expect(s.logs.some((l) => /^rollback 1 at step 7: non-finite loss=NaN at step 7 \(and grad_norm\/main=NaN\); restored step 4 \(checkpoints\/last\), learning rates x0\.500, new random streams$/.test(l))).toBe(true);
    expect(s.tracker.tags['genlab.rollbacks']).toBe('1');
    expect(s.tracker.tags['genlab.rollback.1']).toMatch(/^step 7 -> 4: non-finite loss=NaN/);
    expect(s.tracker.metrics).toContainEqual({ step: 7, values: { 'health/rollbacks': 1, 'health/lr_scale': 0.5 } });
    // Steps 5–7 ran twice: 7 + 12 train steps; the second attempt saw a different data order.
    expect(s.firstValues).toHaveLength(19);
    expect(s.firstValues.slice(7, 10)).not.toEqual(s.firstValues.slice(4, 7));
    for (const v of s.weights()) expect(Number.isFinite(v)).toBe(true);
    const ckpt = readCheckpoint(path.join(s.runDir, 'checkpoints', 'last'));
    expect(ckpt.meta).toMatchObject({ step: 16, rollbacks: 1, lrScale: 0.5 });
    s.done();
  });

  it('with maxRollbacks 0 stops FAILED at the bad step and leaves the last good checkpoint intact', async () => {
    const s = setup({ steps: 16, badAt: 7, kind: 'nan', divergence: { maxRollbacks: 0 } });
    const result = await s.trainer.run();
    expect(result).toMatchObject({ status: 'FAILED', step: 7 });
    expect(result.reason).toBe('non-finite loss=NaN at step 7 (and grad_norm/main=NaN)');
    const ckpt = readCheckpoint(path.join(s.runDir, 'checkpoints', 'last'));
    expect(ckpt.meta).toMatchObject({ step: 4, rollbacks: 0 });
    for (const v of ckpt.state['model/w']!.data) expect(Number.isFinite(v)).toBe(true);
    s.done();
  });

  it('never checkpoints a bad step: a NaN on a checkpoint step rolls back to the one before', async () => {
    const toSteps: number[] = [];
    const spy: Callback = { name: 'spy', onRollback: (_r, rb) => void toSteps.push(rb.toStep) };
    const s = setup({ steps: 12, badAt: 8, kind: 'nan', extra: [spy] });
    expect(await s.trainer.run()).toMatchObject({ status: 'FINISHED', step: 12 });
    expect(toSteps).toEqual([4]);
    s.done();
  });

  it('before any periodic checkpoint, returns to the one written at the start of the run', async () => {
    const toSteps: number[] = [];
    const s = setup({ steps: 6, badAt: 3, kind: 'nan', checkpointEvery: 100, extra: [{ name: 'spy', onRollback: (_r, rb) => void toSteps.push(rb.toStep) }] });
    expect(await s.trainer.run()).toMatchObject({ status: 'FINISHED', step: 6 });
    expect(toSteps).toEqual([0]);
    expect(s.logs.some((l) => l.includes(`restored step 0 (${path.join('checkpoints', 'last')})`))).toBe(true);
    s.done();
  });

  it('gives up after maxRollbacks when every attempt diverges, naming the step, the scalar and the rollbacks', async () => {
    // A model that is NaN at step 5 on every stream.
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-divergence-'));
    const always = flakyModel(5, 'nan');
    const origTrain = always.trainStep.bind(always);
    always.trainStep = (batch, ctx) => {
      const r = origTrain(batch, ctx);
      return ctx.step + 1 === 5 ? { loss: tf.mul(r.loss!, NaN) } : r;
    };
    const t = new Trainer({
      config: testConfig({ name: 'flaky' }, { train: { steps: 10, batchSize: 8, logEvery: 1 } }),
      model: always,
      dataset: randomDataset({ shape: [4], numClasses: 2, range: [0, 1] }, 40, 3),
      tracker: new MemoryTracker(),
      callbacks: [divergenceCallback.create(divergenceCallback.configSchema.parse({ maxRollbacks: 2 })), checkpointCallback.create(checkpointCallback.configSchema.parse({ every: 2, logArtifact: false }))],
      runId: 'r',
      runName: 'r',
      runDir,
      backend: 'cpu',
      log: () => {},
    });
    const result = await t.run();
    expect(result.status).toBe('FAILED');
    expect(result.step).toBe(5);
    expect(result.reason).toBe('non-finite loss=NaN at step 5; gave up after 2 rollbacks (divergence.maxRollbacks: 2)');
    expect(t.info.rollbacks).toBe(2);
    expect(readCheckpoint(path.join(runDir, 'checkpoints', 'last')).meta.step).toBe(4);
    t.dispose();
    always.dispose();
  });

  it('detects a loss spike after the warm-up (and the gradient-norm spike with it) and recovers', async () => {
    const s = setup({ steps: 30, badAt: 25, kind: 'spike', divergence: { window: 10, warmup: 10 } });
    const result = await s.trainer.run();
    expect(result).toMatchObject({ status: 'FINISHED', step: 30 });
    expect(s.trainer.info.rollbacks).toBe(1);
    const tag = s.tracker.tags['genlab.rollback.1']!;
    expect(tag).toMatch(/^step 25 -> 24: loss spiked at step 25: .* against a median of .*over the last 10 steps\); grad_norm\/main spiked at step 25: /);
    s.done();
  });

  it('does not check spikes during the warm-up', async () => {
    const s = setup({ steps: 12, badAt: 6, kind: 'spike', divergence: { window: 10, warmup: 10 } });
    expect(await s.trainer.run()).toMatchObject({ status: 'FINISHED', step: 12 });
    expect(s.trainer.info.rollbacks).toBe(0);
    s.done();
  });

  it('resumes a run that rolled back exactly: same weights, counters and spike window as without the interruption', async () => {
    const opts = { steps: 30, badAt: 22, kind: 'spike' as const, divergence: { window: 8, warmup: 8 } };
    const straight = setup(opts);
    expect(await straight.trainer.run()).toMatchObject({ status: 'FINISHED', step: 30 });
    expect(straight.trainer.info.rollbacks).toBe(1);

    // The same run, interrupted at step 26 (after the rollback), then resumed from its checkpoint.
    const stopper: Callback = { name: 'stopper', onStepEnd: (run, e) => (e.step === 26 ? run.requestStop('interrupted', 'KILLED') : undefined) };
    const first = setup({ ...opts, extra: [stopper] });
    expect(await first.trainer.run()).toMatchObject({ status: 'KILLED', step: 26 });
    const ckpt = readCheckpoint(path.join(first.runDir, 'checkpoints', 'last'));
    expect(ckpt.meta).toMatchObject({ step: 26, rollbacks: 1, lrScale: 0.5 });
    expect((ckpt.meta.callbacks as { divergence: { recent: Record<string, number[]> } }).divergence.recent.loss).toHaveLength(8);
    first.done();
    const resumed = setup({ ...opts, runDir: first.runDir, resume: resumeFrom(ckpt) });
    expect(await resumed.trainer.run()).toMatchObject({ status: 'FINISHED', step: 30 });
    expect(resumed.trainer.info.rollbacks).toBe(1);
    const a = readCheckpoint(path.join(straight.runDir, 'checkpoints', 'last'));
    const b = readCheckpoint(path.join(resumed.runDir, 'checkpoints', 'last'));
    for (const key of Object.keys(a.state)) expect(Buffer.from(b.state[key]!.data.buffer).equals(Buffer.from(a.state[key]!.data.buffer)), key).toBe(true);
    expect(b.meta.callbacks).toEqual(a.meta.callbacks);
    straight.done();
    resumed.done();
  });

  it('a rollback asked for after the step was checkpointed stops the run FAILED instead; no checkpoint of a step being rolled back', async () => {
    const late: Callback = { name: 'late', onStepEnd: (run, e) => (e.step === 4 ? run.rollback('too late') : undefined) };
    const s = setup({ steps: 8, badAt: 100, kind: 'nan', extra: [late] });
    const r = await s.trainer.run();
    expect(r.status).toBe('FAILED');
    expect(r.reason).toMatch(/^too late \(no rollback: step 4 was checkpointed before the rollback was asked for/);
    s.done();

    const saver: Callback = { name: 'saver', onStepEnd: async (run, e) => void (e.step === 3 ? await run.saveCheckpoint('x') : undefined) };
    const early: Callback = { name: 'early', onStepEnd: (run, e) => (e.step === 3 ? run.rollback('bad') : undefined) };
    const s2 = setup({ steps: 8, badAt: 100, kind: 'nan', extra: [early, saver] });
    const r2 = await s2.trainer.run();
    expect(r2.status).toBe('FAILED');
    expect(r2.reason).toMatch(/callback 'saver' failed in onStepEnd: refusing to checkpoint step 3: it is being rolled back \(bad\)/);
    s2.done();
  });

  it('an interrupt in the step that rolls back ends the run on the restored state, checkpointed with the rollback counted', async () => {
    const stopper: Callback = { name: 'stopper', onStepEnd: (run, e) => (e.step === 7 ? run.requestStop('interrupted', 'KILLED') : undefined) };
    const s = setup({ steps: 16, badAt: 7, kind: 'nan', extra: [stopper] });
    expect(await s.trainer.run()).toMatchObject({ status: 'KILLED', step: 4 });
    const ckpt = readCheckpoint(path.join(s.runDir, 'checkpoints', 'last'));
    expect(ckpt.meta).toMatchObject({ step: 4, rollbacks: 1, lrScale: 0.5 });
    for (const v of ckpt.state['model/w']!.data) expect(Number.isFinite(v)).toBe(true);
    s.done();
  });

  it('leaks no tensors through rollbacks', async () => {
    const warm = setup({ steps: 6, badAt: 3, kind: 'nan' });
    await warm.trainer.run();
    warm.done();
    const before = tf.memory().numTensors;
    const s = setup({ steps: 12, badAt: 7, kind: 'nan' });
    await s.trainer.run();
    expect(s.trainer.info.rollbacks).toBe(1);
    s.done();
    expect(tf.memory().numTensors).toBe(before);
  });
});
