/**
 * The shared GAN step: option checks, what the options change in training, the generator
 * EMA, DiffAugment, and the diagnose hook.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { randomDataset, testTrainer } from '@genlab/core/testing';
import type { GenerativeModel, ModelPlugin } from '@genlab/core';
import { cutout, translate } from './augment.js';
import { dcgan } from './dcgan.js';
import { mlpGan } from './mlp.js';

const issues = (plugin: ModelPlugin<unknown>, cfg: object) => {
  const r = plugin.configSchema.safeParse(cfg);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('option combinations', () => {
  it('rejects a Wasserstein critic without a Lipschitz constraint, at the loss', () => {
    expect(issues(dcgan as never, { loss: 'wasserstein' })).toEqual([expect.stringMatching(/^loss: .*needs a Lipschitz critic.*penalty.type: gp.*spectralNorm/)]);
    expect(issues(dcgan as never, { loss: 'wasserstein', penalty: { type: 'gp' } })).toEqual([]);
    expect(issues(dcgan as never, { loss: 'wasserstein', discriminator: { spectralNorm: true } })).toEqual([]);
  });

  it('rejects label smoothing with a non-logistic loss, and a zero-weight penalty', () => {
    expect(issues(mlpGan as never, { loss: 'hinge', labelSmoothing: 0.1 })).toEqual([expect.stringMatching(/^labelSmoothing: .*not 'hinge'/)]);
    expect(issues(mlpGan as never, { penalty: { type: 'r1', weight: 0 } })).toEqual([expect.stringMatching(/^penalty.weight: /)]);
    expect(issues(mlpGan as never, { loss: 'minimax', labelSmoothing: 0.2, penalty: { type: 'r1', weight: 5 } })).toEqual([]);
  });

  it('rejects unknown losses, penalties and augmentations', () => {
    expect(issues(mlpGan as never, { loss: 'relativistic' }).length).toBe(1);
    expect(issues(mlpGan as never, { penalty: { type: 'gp2' } }).length).toBe(1);
    expect(issues(mlpGan as never, { diffAugment: ['rotate'] }).length).toBe(1);
  });
});

/** Train `steps` steps of a plugin on fixed random data; returns the model, the step values and a cleanup. */
function train(plugin: ModelPlugin<unknown>, options: object, steps: number, shape = [8, 8, 1], after?: (m: GenerativeModel) => void) {
  const cfg = plugin.configSchema.parse(options) as object;
  const dataset = randomDataset({ shape, numClasses: 2, range: [-1, 1] }, 16, 5);
  const model = plugin.create(cfg, { data: dataset.info, seed: 3 });
  const trainer = testTrainer(model, dataset, { model: { name: plugin.name, ...cfg }, train: { steps, batchSize: 8, logEvery: 1 } });
  const values: Record<string, number>[] = [];
  after?.(model);
  for (let s = 0; s < steps; s++) {
    const batch = dataset.gather([0, 1, 2, 3, 4, 5, 6, 7]);
    values.push(trainer.trainStep(batch));
    tf.dispose([batch.x, batch.y]);
    after?.(model);
  }
  return { model, values, dataset, done: () => (trainer.dispose(), model.dispose()) };
}

const tiny = { latentDim: 4, generator: { channels: [4, 4], kernel: 3 }, discriminator: { channels: [4, 4], kernel: 3 } };

describe('what the options change', () => {
  it('spectralNorm: true adds power-iteration state and changes the losses', () => {
    const plain = train(dcgan as never, tiny, 2);
    const sn = train(dcgan as never, { ...tiny, discriminator: { ...tiny.discriminator, spectralNorm: true } }, 2);
    const keys = Object.keys(sn.model.getState());
    expect(keys.filter((k) => k.endsWith('/sn_u'))).toHaveLength(3); // conv1, conv2, dense
    expect(Object.keys(plain.model.getState()).some((k) => k.includes('sn_'))).toBe(false);
    expect(sn.values[1]!.loss_d).not.toBeCloseTo(plain.values[1]!.loss_d!, 4);
    plain.done();
    sn.done();
  });

  it('the loss and penalty report their own scalars', () => {
    const gp = train(dcgan as never, { ...tiny, loss: 'wasserstein', penalty: { type: 'gp', weight: 10 } }, 1);
    expect(Object.keys(gp.values[0]!).sort()).toEqual(['d_fake', 'd_real', 'gp', 'grad_norm/d', 'grad_norm/g', 'loss_d', 'loss_g']);
    const r1 = train(dcgan as never, { ...tiny, penalty: { type: 'r1', weight: 1 } }, 1);
    expect(r1.values[0]!.r1).toBeGreaterThan(0);
    // non-saturating reports σ(D) (in (0, 1)); hinge reports the raw scores.
    expect(r1.values[0]!.d_real).toBeGreaterThan(0);
    expect(r1.values[0]!.d_real).toBeLessThan(1);
    gp.done();
    r1.done();
  });

  it('EMA weights follow w_ema ← d·w_ema + (1 − d)·w after each generator step, and sampling uses them', () => {
    const states: ReturnType<GenerativeModel['getState']>[] = [];
    const opts = { latentDim: 2, generator: { hidden: [4] }, discriminator: { hidden: [4] }, ema: { enabled: true, decay: 0.5, start: 0 } };
    const run = train(mlpGan as never, opts, 2, [8, 8, 1], (m) => states.push(m.getState()));
    const [init, s0, s1] = states as [(typeof states)[0], (typeof states)[0], (typeof states)[0]];
    const key = 'dense0/kernel';
    const w = (s: typeof init) => s[`generator/${key}`]!.data;
    const e = (s: typeof init) => s[`generator_ema/${key}`]!.data;
    expect(Array.from(e(init))).toEqual(Array.from(w(init))); // starts as a copy
    e(s0).forEach((v, i) => expect(v).toBeCloseTo(0.5 * w(init)[i]! + 0.5 * w(s0)[i]!, 6));
    e(s1).forEach((v, i) => expect(v).toBeCloseTo(0.5 * e(s0)[i]! + 0.5 * w(s1)[i]!, 6));
    // Before `start` the EMA copies the weights.
    const late: typeof states = [];
    const copy = train(mlpGan as never, { ...opts, ema: { enabled: true, decay: 0.5, start: 10 } }, 1, [8, 8, 1], (m) => late.push(m.getState()));
    expect(Array.from(e(late[1]!))).toEqual(Array.from(w(late[1]!)));
    copy.done();
    // Samples come from the EMA weights: copying the live weights into the EMA slots changes them.
    const withEma = Array.from(run.model.sample(2, { seed: 1 }).dataSync());
    const liveState = { ...s1 };
    for (const k of Object.keys(liveState)) if (k.startsWith('generator_ema/')) liveState[k] = s1[k.replace('generator_ema/', 'generator/')]!;
    run.model.setState(liveState);
    expect(Array.from(run.model.sample(2, { seed: 1 }).dataSync())).not.toEqual(withEma);
    run.done();
  });

  const worst = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

  it('standing statistics hold one generator pass at a time in memory; large samples are made in chunks', async () => {
    const opts = { latentDim: 3, generator: { hidden: [64, 64], batchNorm: true }, discriminator: { hidden: [4] } };
    const ema = train(mlpGan as never, { ...opts, ema: { enabled: true, decay: 0.9, start: 0 } }, 1);
    const plain = train(mlpGan as never, opts, 1);
    const peak = async (m: GenerativeModel, n: number) => (await tf.profile(() => m.sample(n, { seed: 1 }))).peakBytes;
    // 16 passes of 64 for the statistics, then 4 samples: about one pass of 64 at the peak.
    expect(await peak(ema.model, 4)).toBeLessThan(3 * (await peak(plain.model, 64)));
    // Large requests are generated in chunks of SAMPLE_CHUNK (128), with the same result for the same seed.
    expect(await peak(plain.model, 1024)).toBeLessThan(3 * (await peak(plain.model, 128)));
    const big = plain.model.sample(300, { seed: 4 });
    const first = plain.model.sample(128, { seed: 4 });
    expect(big.shape).toEqual([300, 8, 8, 1]);
    expect(worst(tf.slice(big, [0, 0, 0, 0], [128, -1, -1, -1]), first)).toBeLessThan(1e-6);
    tf.dispose([big, first]);
    ema.done();
    plain.done();
  });

  it('an EMA generator with batch norm samples with standing statistics of the EMA weights, not the live running ones', () => {
    const opts = { latentDim: 3, generator: { hidden: [5], batchNorm: true }, discriminator: { hidden: [4] }, ema: { enabled: true, decay: 0.9, start: 0 } };
    const run = train(mlpGan as never, opts, 3);
    const state = run.model.getState();
    const before = tf.memory().numTensors;
    const t = run.model.sample(4, { seed: 2 });
    const a = Array.from(t.dataSync());
    t.dispose();
    expect(tf.memory().numTensors).toBe(before); // nothing kept between calls…
    // …and the live running statistics do not enter: overwrite them, the samples stay.
    const moved = { ...state };
    for (const k of Object.keys(moved)) if (/generator(_ema)?\/bn\d+\/moving_/.test(k)) moved[k] = { ...moved[k]!, data: moved[k]!.data.map(() => 7) };
    expect(Object.keys(moved).filter((k) => /generator\/bn\d+\/moving_/.test(k)).length).toBeGreaterThan(0);
    run.model.setState(moved);
    expect(Array.from(run.model.sample(4, { seed: 2 }).dataSync())).toEqual(a);
    // Without EMA the running statistics are what sampling uses.
    const plain = train(mlpGan as never, { ...opts, ema: { enabled: false } }, 3);
    const p = Array.from(plain.model.sample(4, { seed: 2 }).dataSync());
    const pState = plain.model.getState();
    for (const k of Object.keys(pState)) if (/generator\/bn\d+\/moving_mean/.test(k)) pState[k] = { ...pState[k]!, data: pState[k]!.data.map(() => 7) };
    plain.model.setState(pState);
    expect(Array.from(plain.model.sample(4, { seed: 2 }).dataSync())).not.toEqual(p);
    plain.done();
    run.done();
  });

  it('diagnose reports the share of real examples scored as real', () => {
    const run = train(dcgan as never, tiny, 1);
    const batch = run.dataset.gather([0, 1, 2, 3]);
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => run.model.diagnose!(batch));
    const share = out.d_real_pos!.dataSync()[0]!;
    tf.dispose(Object.values(out));
    expect(tf.memory().numTensors).toBe(before);
    expect([0, 0.25, 0.5, 0.75, 1]).toContain(share);
    tf.dispose([batch.x, batch.y]);
    run.done();
  });
});

describe('DiffAugment', () => {
  const image = () => tf.tensor4d(Array.from({ length: 2 * 8 * 8 }, (_, i) => 1 + (i % 64)), [2, 8, 8, 1]);

  it('translation shifts each image by whole pixels within ±1/8 of its size, filling zeros', () => {
    const x = image();
    const y = translate(x, 42).arraySync() as number[][][][];
    const src = x.arraySync() as number[][][][];
    for (let b = 0; b < 2; b++) {
      const found = [-1, 0, 1].flatMap((dy) => [-1, 0, 1].map((dx) => [dy, dx])).filter(([dy, dx]) =>
        y[b]!.every((row, i) => row.every((v, j) => v[0] === (src[b]![i - dy!]?.[j - dx!]?.[0] ?? 0))),
      );
      expect(found.length, `image ${b}`).toBe(1);
    }
    x.dispose();
  });

  it('cutout zeroes one 4×4 square (clipped at the border) and passes gradients elsewhere', () => {
    const x = image();
    const y = cutout(x, 7).dataSync();
    const zeros = Array.from(y).filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(0);
    expect(zeros).toBeLessThanOrEqual(2 * 16);
    const g = tf.grad((t: tf.Tensor) => tf.sum(cutout(t as tf.Tensor4D, 7)))(x).dataSync();
    Array.from(y).forEach((v, i) => expect(g[i]).toBe(v === 0 ? 0 : 1));
    x.dispose();
  });

  it('is differentiable into the generator', () => {
    const run = train(dcgan as never, { ...tiny, diffAugment: ['translation', 'cutout', 'color'] }, 2);
    for (const v of run.values) for (const [k, val] of Object.entries(v)) expect(Number.isFinite(val), k).toBe(true);
    run.done();
  });
});
