import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { Batch, Callback, GenerativeModel, StateDict, TrainContext } from './contracts.js';
import { optimizerSchema } from './optim.js';
import { MemoryTracker, randomDataset, testConfig } from './testing/index.js';
import { Trainer } from './trainer.js';

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
