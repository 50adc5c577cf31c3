import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { Batch, Callback, GenerativeModel, StateDict, TrainContext } from './contracts.js';
import { progressCallback } from './callbacks/progress.js';
import { trackerCallback } from './callbacks/tracker-log.js';
import { optimizerSchema } from './optim.js';
import { mulberry32 } from './rng.js';
import { MemoryTracker, randomDataset, testConfig } from './testing/index.js';
import { clipByGlobalNorm, globalNorm, Trainer } from './trainer.js';

/** A linear "model": one weight vector fitted to the batch mean, with noise from ctx.seed. */
function tinyModel(): GenerativeModel {
  const w = tf.tidy(() => tf.variable(tf.zeros([4]), true));
  return {
    optimizers: [{ name: 'main', config: optimizerSchema.parse({ lr: 0.05 }) }],
    trainStep(batch: Batch, ctx: TrainContext) {
      const target = tf.add(tf.mean(tf.reshape(batch.x, [-1, 4]), 0), tf.randomNormal([4], 0, 0.1, 'float32', ctx.seed(0)));
      const loss = ctx.optimize('main', () => tf.sum(tf.square(tf.sub(w, target))), [w]);
      return { loss };
    },
    sample: (n) => tf.tidy(() => tf.tile(tf.reshape(w, [1, 4]), [n, 1])),
    getState: (): StateDict => ({ w: { shape: [4], dtype: 'float32', data: Float32Array.from(w.dataSync()) } }),
    setState: (s) => tf.tidy(() => w.assign(tf.tensor(s.w!.data, [4]))),
    summary: () => [{ name: 'w', params: 4 }],
    dispose: () => w.dispose(),
  };
}

function trainer(opts: { steps?: number; epochs?: number; callbacks?: Callback[]; resume?: ConstructorParameters<typeof Trainer>[0]['resume'] }) {
  const dataset = randomDataset({ shape: [4], numClasses: 2, range: [0, 1] }, 40, 3);
  const model = tinyModel();
  const t = new Trainer({
    config: testConfig({ name: 'tiny' }, { train: { ...(opts.steps ? { steps: opts.steps } : {}), ...(opts.epochs ? { epochs: opts.epochs } : {}), batchSize: 8, logEvery: 1 } }),
    model,
    dataset,
    tracker: new MemoryTracker(),
    callbacks: opts.callbacks ?? [],
    runId: 'r',
    runName: 'r',
    runDir: '/nonexistent',
    backend: 'cpu',
    ...(opts.resume ? { resume: opts.resume } : {}),
    log: () => {},
  });
  return { t, model };
}

/** Records every hook call. */
function recorder(events: string[], name = 'rec'): Callback {
  return {
    name,
    onRunStart: () => void events.push(`${name}:start`),
    onEpochStart: (_r, e) => void events.push(`${name}:epoch${e}`),
    onStepEnd: (_r, s) => void events.push(`${name}:step${s.step}`),
    onEpochEnd: (_r, e) => void events.push(`${name}:end${e}`),
    onRunEnd: (_r, status) => void events.push(`${name}:${status}`),
  };
}

describe('Trainer', () => {
  it('runs whole epochs (5 batches of 8 from 40 examples) and calls hooks in order', async () => {
    const events: string[] = [];
    const { t, model } = trainer({ epochs: 2, callbacks: [recorder(events, 'a'), recorder(events, 'b')] });
    expect(t.totalSteps).toBe(10);
    const result = await t.run();
    expect(result).toMatchObject({ status: 'FINISHED', step: 10 });
    expect(events.slice(0, 5)).toEqual(['a:start', 'b:start', 'a:epoch0', 'b:epoch0', 'a:step1']);
    expect(events.filter((e) => e.startsWith('a:end'))).toEqual(['a:end0', 'a:end1']);
    expect(events.slice(-2)).toEqual(['a:FINISHED', 'b:FINISHED']);
    t.dispose();
    model.dispose();
  });

  it('stops after the step in which a stop is requested, with that status', async () => {
    const stopper: Callback = { name: 'stop', onStepEnd: (run, s) => (s.step === 3 ? run.requestStop('enough', 'KILLED') : undefined) };
    const { t, model } = trainer({ steps: 10, callbacks: [stopper] });
    expect(await t.run()).toMatchObject({ status: 'KILLED', reason: 'enough', step: 3 });
    t.dispose();
    model.dispose();
  });

  it('turns an exception in a hook into FAILED with the callback named, and still ends every callback', async () => {
    const events: string[] = [];
    const bad: Callback = { name: 'bad', onStepEnd: (_r, s) => { if (s.step === 2) throw new Error('boom'); } };
    const { t, model } = trainer({ steps: 10, callbacks: [bad, recorder(events)] });
    const result = await t.run();
    expect(result.status).toBe('FAILED');
    expect(result.reason).toMatch(/callback 'bad' failed in onStepEnd: boom/);
    expect(events.at(-1)).toBe('rec:FAILED');
    t.dispose();
    model.dispose();
  });

  it('does not leak tensors over a run', async () => {
    const { t, model } = trainer({ steps: 3 });
    await t.run(); // warm: creates optimizer slots
    const before = tf.memory().numTensors;
    const again = trainer({ steps: 6 });
    await again.t.run();
    again.t.dispose();
    again.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
    model.dispose();
  });
});

/**
 * A model with a closed-form gradient: loss_a = Σ cA·wA, so ∂loss/∂wA = cA; optimizer `b`
 * steps twice per train step, with gradients c1 and c2.
 */
function linearModel(cA: number[], c1: number[], c2: number[]): GenerativeModel {
  const wA = tf.tidy(() => tf.variable(tf.zeros([cA.length]), true));
  const wB = tf.tidy(() => tf.variable(tf.zeros([c1.length]), true));
  const sgd = optimizerSchema.parse({ type: 'sgd', lr: 0.1 });
  return {
    optimizers: [
      { name: 'a', config: sgd },
      { name: 'b', config: sgd },
    ],
    trainStep(_batch: Batch, ctx: TrainContext) {
      const loss = ctx.optimize('a', () => tf.sum(tf.mul(wA, tf.tensor1d(cA))), [wA]);
      // Inside a model's own tidy, as layers-based models do.
      tf.tidy(() => {
        ctx.optimize('b', () => tf.sum(tf.mul(wB, tf.tensor1d(c1))), [wB]);
      });
      ctx.optimize('b', () => tf.sum(tf.mul(wB, tf.tensor1d(c2))), [wB]);
      return { loss };
    },
    sample: (n) => tf.zeros([n, 4]),
    getState: (): StateDict => ({
      a: { shape: [cA.length], dtype: 'float32', data: Float32Array.from(wA.dataSync()) },
      b: { shape: [c1.length], dtype: 'float32', data: Float32Array.from(wB.dataSync()) },
    }),
    setState: () => {},
    summary: () => [{ name: 'w', params: cA.length + c1.length }],
    dispose: () => tf.dispose([wA, wB]),
  };
}

function bareTrainer(model: GenerativeModel, train: Record<string, unknown> = {}, callbacks: Callback[] = [], log: (m: string) => void = () => {}) {
  return new Trainer({
    config: testConfig({ name: 'm' }, { train: { steps: 3, batchSize: 8, logEvery: 1, ...train } }),
    model,
    dataset: randomDataset({ shape: [4], numClasses: 2, range: [0, 1] }, 40, 3),
    tracker: new MemoryTracker(),
    callbacks,
    runId: 'r',
    runName: 'r',
    runDir: '/nonexistent',
    backend: 'cpu',
    log,
  });
}

const l2 = (v: number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));

describe('gradient norms', () => {
  const cA = [3, -4, 12, 0.5];
  const c1 = [1, 2];
  const c2 = [-6, 8];

  it('reports each optimizer global L2 norm with the step scalars (the largest of repeated updates), without leaking', () => {
    const model = linearModel(cA, c1, c2);
    const t = bareTrainer(model);
    const ds = randomDataset({ shape: [4], numClasses: 2, range: [0, 1] }, 8, 1);
    const batch = ds.gather([0, 1, 2, 3, 4, 5, 6, 7]);
    const first = t.trainStep(batch);
    expect(Object.keys(first)).toEqual(['loss', 'grad_norm/a', 'grad_norm/b']);
    // float64 references: ‖cA‖ = 13.0096…, max(‖c1‖, ‖c2‖) = 10.
    expect(first['grad_norm/a']).toBeCloseTo(l2(cA), 5);
    expect(first['grad_norm/b']).toBeCloseTo(Math.max(l2(c1), l2(c2)), 5);
    const before = tf.memory().numTensors;
    t.trainStep(batch);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([batch.x, batch.y]);
    t.dispose();
    model.dispose();
  });

  it('are left out with train.logGradNorm: false', () => {
    const model = linearModel(cA, c1, c2);
    const t = bareTrainer(model, { logGradNorm: false });
    const batch = randomDataset({ shape: [4], numClasses: 2, range: [0, 1] }, 8, 1).gather([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Object.keys(t.trainStep(batch))).toEqual(['loss']);
    tf.dispose([batch.x, batch.y]);
    t.dispose();
    model.dispose();
  });

  it('are measured before clipping, and clipping bounds the applied update to gradClip', () => {
    const model = linearModel(cA, c1, c2);
    const t = bareTrainer(model, { gradClip: 1 });
    const batch = randomDataset({ shape: [4], numClasses: 2, range: [0, 1] }, 8, 1).gather([0, 1, 2, 3, 4, 5, 6, 7]);
    const v = t.trainStep(batch);
    expect(v['grad_norm/a']).toBeCloseTo(l2(cA), 5);
    // SGD with lr 0.1 from zeros, every update clipped to norm 1: wA = −0.1·cA/‖cA‖, and
    // wB = −0.1·(c1/‖c1‖ + c2/‖c2‖) (float64 reference).
    const state = model.getState();
    Array.from(state.a!.data).forEach((w, i) => expect(w).toBeCloseTo((-0.1 * cA[i]!) / l2(cA), 6));
    Array.from(state.b!.data).forEach((w, i) => expect(w).toBeCloseTo(-0.1 * (c1[i]! / l2(c1) + c2[i]! / l2(c2)), 6));
    tf.dispose([batch.x, batch.y]);
    t.dispose();
    model.dispose();
  });
});

/** The clipping genlab used before norms stayed on the device: the norm read to the host. */
function clipOnHost(grads: tf.NamedTensorMap, maxNorm: number): void {
  const names = Object.keys(grads);
  const norm = tf.tidy(() => globalNorm(grads)).dataSync()[0]!;
  if (!(norm > maxNorm)) return;
  const scale = maxNorm / norm;
  for (const n of names) {
    const old = grads[n]!;
    grads[n] = tf.mul(old, scale);
    old.dispose();
  }
}

describe('globalNorm', () => {
  it('is the L2 norm over every gradient, as a float64 sum of squares computes it', () => {
    const rand = mulberry32(3);
    for (const sizes of [[1], [17, 6], [1000, 4, 4096]]) {
      const arrays = sizes.map((n) => Float32Array.from({ length: n }, () => 10 * (rand() - 0.5)));
      const grads: tf.NamedTensorMap = Object.fromEntries(arrays.map((a, i) => [`g${i}`, i === 1 ? tf.tensor2d(a, [a.length / 2, 2]) : tf.tensor1d(a)]));
      const before = tf.memory().numTensors;
      const norm = globalNorm(grads);
      expect(norm.shape).toEqual([]);
      expect(tf.memory().numTensors).toBe(before + 1);
      let sum = 0;
      for (const a of arrays) for (const x of a) sum += x * x;
      expect(norm.dataSync()[0]!).toBeCloseTo(Math.sqrt(sum), 3);
      expect(Math.abs(norm.dataSync()[0]! - Math.sqrt(sum)) / Math.sqrt(sum)).toBeLessThan(1e-6);
      tf.dispose([norm, ...Object.values(grads)]);
    }
  });
});

describe('clipByGlobalNorm on the device', () => {
  it('gives bit-identical gradients to the host-side version, above and below the threshold and for NaN', () => {
    const rand = mulberry32(7);
    for (const maxNorm of [0.25, 1, 3, 10, 1000]) {
      for (let trial = 0; trial < 20; trial++) {
        const scale = 10 ** (4 * rand() - 2);
        const arrays = [Array.from({ length: 17 }, () => scale * (rand() - 0.5)), Array.from({ length: 6 }, () => scale * (rand() - 0.5))];
        if (trial === 0) arrays[1]![2] = NaN;
        const make = (): tf.NamedTensorMap => ({ a: tf.tensor1d(arrays[0]!), b: tf.tensor2d(arrays[1]!, [2, 3]) });
        const host = make();
        const device = make();
        clipOnHost(host, maxNorm);
        const norm = globalNorm(device);
        clipByGlobalNorm(device, norm, maxNorm);
        for (const k of ['a', 'b']) {
          expect(Buffer.from(device[k]!.dataSync().buffer).equals(Buffer.from(host[k]!.dataSync().buffer)), `maxNorm ${maxNorm} trial ${trial} ${k}`).toBe(true);
        }
        tf.dispose([norm, ...Object.values(host), ...Object.values(device)]);
      }
    }
  });
});

describe('RunInfo.report', () => {
  it('delivers values reported in a phase to every callback (also earlier ones), and the tracker and progress callbacks show them', async () => {
    const seen: string[] = [];
    const lines: string[] = [];
    const early: Callback = { name: 'early', onReport: (_r, rep) => void seen.push(`early@${rep.step}:${JSON.stringify(rep.values)}`) };
    const reporter: Callback = {
      name: 'reporter',
      onStepEnd: (run, s) => {
        if (s.step % 2 === 0) run.report({ 'health/x': s.step / 10 });
        if (s.step === 2) run.report({ 'health/y': 1 });
      },
      onRunEnd: (run) => run.report({ 'health/final': 7 }),
    };
    const late: Callback = { name: 'late', onReport: (_r, rep) => void seen.push(`late@${rep.step}`) };
    const tracker = new MemoryTracker();
    const callbacks = [progressCallback.create(progressCallback.configSchema.parse({ mode: 'lines', every: 1000 })), early, reporter, late, trackerCallback.create({})];
    const t = new Trainer({
      config: testConfig({ name: 'tiny' }, { train: { steps: 4, batchSize: 8, logEvery: 100 } }),
      model: tinyModel(),
      dataset: randomDataset({ shape: [4], numClasses: 2, range: [0, 1] }, 40, 3),
      tracker,
      callbacks,
      runId: 'r',
      runName: 'r',
      runDir: '/nonexistent',
      backend: 'cpu',
      log: (m) => lines.push(m),
    });
    expect(await t.run()).toMatchObject({ status: 'FINISHED', step: 4 });
    expect(seen).toEqual([
      'early@2:{"health/x":0.2,"health/y":1}',
      'late@2',
      'early@4:{"health/x":0.4}',
      'late@4',
      'early@4:{"health/final":7}',
      'late@4',
    ]);
    const reported = tracker.metrics.filter((m) => Object.keys(m.values).some((k) => k.startsWith('health/')));
    expect(reported).toEqual([
      { step: 2, values: { 'health/x': 0.2, 'health/y': 1 } },
      { step: 4, values: { 'health/x': 0.4 } },
      { step: 4, values: { 'health/final': 7 } },
    ]);
    // The windowed step scalars are logged apart from them, with the gradient norm.
    const windowed = tracker.metrics.filter((m) => 'loss' in m.values);
    expect(windowed.map((m) => m.step)).toEqual([4]);
    expect(Object.keys(windowed[0]!.values)).toEqual(['loss', 'grad_norm/main', 'img_per_sec']);
    expect(lines).toContain('step 2/4 | health/x 0.200  health/y 1');
    expect(lines).toContain('step 4/4 | health/x 0.400');
    expect(lines.some((l) => l.includes('health/final'))).toBe(false); // after the progress line ended
    t.dispose();
  });

  it('refuses a non-number', async () => {
    const bad: Callback = { name: 'bad', onStepEnd: (run) => run.report({ x: '1' as unknown as number }) };
    const { t, model } = trainer({ steps: 2, callbacks: [bad] });
    const r = await t.run();
    expect(r.status).toBe('FAILED');
    expect(r.reason).toMatch(/callback 'bad' failed in onStepEnd: report: 'x' is string, not a number/);
    t.dispose();
    model.dispose();
  });
});
