import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { type Batch, type DataInfo, mulberry32, UserError } from '@genlab/core';
import { describeModelContract, randomDataset, testTrainer } from '@genlab/core/testing';
import { RowLstmNet, type RowLstmSpec } from './net.js';
import { type RowLstm, rowLstm, type RowLstmConfig } from './row-lstm.js';
import { incrementalLogits } from './sample.js';

// Tiny sizes keep the contract fast on the cpu backend.
describeModelContract(rowLstm, {
  config: { hidden: 4, layers: 2, kernel: 2, outputHidden: 4 },
  data: { shape: [6, 6, 1], numClasses: 3, range: [0, 1], binary: true },
});

describeModelContract(rowLstm, {
  config: { cell: 'gru', hidden: 3, layers: 1, kernel: 3, outputHidden: 0, conditional: true },
  data: { shape: [5, 4, 1], numClasses: 2, range: [-1, 1], binary: true },
});

const info = (over: Partial<DataInfo> = {}): DataInfo => ({ shape: [6, 6, 1], numClasses: 3, size: 16, range: [0, 1], binary: true, ...over });
const build = (config: Record<string, unknown>, data: DataInfo = info(), seed = 1) => rowLstm.create(rowLstm.configSchema.parse(config), { data, seed }) as RowLstm;

/** A random binary image batch [n, H, W, 1] in {0, 1}, as plain numbers. */
function randomBits(n: number, h: number, w: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n * h * w }, () => (rand() < 0.4 ? 1 : 0));
}

/** Fill every variable of a net with uniform noise in [-scale, scale] (embeddings included). */
function randomise(net: RowLstmNet, seed: number, scale = 0.8): void {
  net.named().forEach(([, v], i) => tf.tidy(() => v.assign(tf.randomUniform(v.shape, -scale, scale, 'float32', seed + i))));
}

/**
 * The documented receptive field: does the logit of pixel q = (qi, qj) depend on pixel
 * p = (pi, pj)? R = k + (L-1)(k-1); the current row gives j-R … j-1, row i-d gives
 * j-R-d … j+d.
 */
function inContext(spec: RowLstmSpec, qi: number, qj: number, pi: number, pj: number): boolean {
  const R = spec.kernel + (spec.layers - 1) * (spec.kernel - 1);
  const d = qi - pi;
  if (d < 0) return false;
  if (d === 0) return pj >= qj - R && pj <= qj - 1;
  return pj >= qj - R - d && pj <= qj + d;
}

describe('rnn/row-lstm masking', () => {
  const specs: RowLstmSpec[] = [
    { height: 6, width: 9, hidden: 3, layers: 2, kernel: 3, cell: 'lstm', outputHidden: 0, numClasses: 0 },
    { height: 6, width: 9, hidden: 3, layers: 3, kernel: 2, cell: 'gru', outputHidden: 0, numClasses: 0 },
    { height: 5, width: 8, hidden: 2, layers: 1, kernel: 1, cell: 'lstm', outputHidden: 0, numClasses: 0 },
  ];
  for (const spec of specs) {
    it(`flipping pixel p changes exactly the conditionals whose context holds p (${spec.cell}, L=${spec.layers}, k=${spec.kernel})`, () => {
      const net = new RowLstmNet(spec, 7);
      randomise(net, 100);
      const { height: H, width: W } = spec;
      const bits = randomBits(1, H, W, 3);
      const logitsOf = (values: Float32Array) => tf.tidy(() => net.logits(tf.tensor4d(values, [1, H, W, 1])).dataSync() as Float32Array);
      const base = logitsOf(bits);
      let changedLater = 0;
      for (let p = 0; p < H * W; p++) {
        const flipped = bits.slice();
        flipped[p] = 1 - flipped[p]!;
        const after = logitsOf(flipped);
        const [pi, pj] = [Math.floor(p / W), p % W];
        for (let q = 0; q < H * W; q++) {
          const [qi, qj] = [Math.floor(q / W), q % W];
          const changed = after[q] !== base[q];
          // Every conditional up to and including p itself is untouched, bit for bit.
          if (q <= p) expect(changed, `logit ${qi},${qj} moved when pixel ${pi},${pj} flipped`).toBe(false);
          // Later ones move exactly where the documented (triangular) context says.
          else expect(changed, `logit ${qi},${qj} vs pixel ${pi},${pj}`).toBe(inContext(spec, qi, qj, pi, pj));
          if (q > p && changed) changedLater++;
        }
      }
      // The test can fail: later conditionals do depend on earlier pixels.
      expect(changedLater).toBeGreaterThan(H * W);
      tf.dispose(net.named().map(([, v]) => v));
    });
  }

  it('keeps earlier conditionals fixed with the non-linear head, class embeddings and the full model', () => {
    const model = build({ hidden: 4, layers: 2, kernel: 3, outputHidden: 5, conditional: true });
    randomise(model.net, 200);
    const bits = randomBits(2, 6, 6, 5);
    const y = tf.tensor1d([1, 2], 'int32');
    const logitsOf = (values: Float32Array) => tf.tidy(() => model.net.logits(tf.tensor4d(values, [2, 6, 6, 1]), y).dataSync() as Float32Array);
    const base = logitsOf(bits);
    for (const p of [0, 7, 20, 35]) {
      const flipped = bits.slice();
      flipped[p] = 1 - flipped[p]!;
      flipped[36 + p] = 1 - flipped[36 + p]!;
      const after = logitsOf(flipped);
      for (let b = 0; b < 2; b++) for (let q = 0; q <= p; q++) expect(after[36 * b + q]).toBe(base[36 * b + q]);
      if (p < 35) expect(Array.from(after.subarray(p + 1, 36))).not.toEqual(Array.from(base.subarray(p + 1, 36)));
    }
    y.dispose();
    model.dispose();
  });
});

/** Σ_ij softplus(z) − x·z in float64 (the Bernoulli log-loss from logits), per image. */
function nllFromLogits(logits: Float32Array, bits: Float32Array, n: number): number[] {
  const d = bits.length / n;
  return Array.from({ length: n }, (_, b) => {
    let s = 0;
    for (let k = b * d; k < (b + 1) * d; k++) {
      const z = logits[k]!;
      s += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - bits[k]! * z;
    }
    return s;
  });
}

describe('rnn/row-lstm likelihood', () => {
  const cases: { name: string; config: Record<string, unknown>; data: DataInfo }[] = [
    { name: 'lstm, [0, 1]', config: { hidden: 4, layers: 2, kernel: 3, outputHidden: 4 }, data: info() },
    { name: 'gru, conditional, [-1, 1]', config: { cell: 'gru', hidden: 3, layers: 3, kernel: 2, outputHidden: 0, conditional: true }, data: info({ range: [-1, 1], shape: [5, 7, 1] }) },
  ];
  for (const c of cases) {
    it(`evaluate's NLL equals the sum of the pixel-by-pixel conditionals of the sampling path (${c.name})`, () => {
      const model = build(c.config, c.data);
      randomise(model.net, 300);
      const [H, W] = c.data.shape as [number, number];
      const n = 3;
      const bits = randomBits(n, H, W, 9);
      const [lo, hi] = c.data.range;
      const x = tf.tensor4d(bits.map((v) => lo + (hi - lo) * v), [n, H, W, 1]);
      const y = tf.tensor1d([0, 2, 1], 'int32');
      // Independent path: one pixel at a time, later pixels not given yet.
      const incremental = tf.tidy(() => incrementalLogits(model.net, tf.tensor4d(bits, [n, H, W, 1]), model.conditional ? y : undefined).dataSync() as Float32Array);
      const perImage = nllFromLogits(incremental, bits, n);
      const nll = model.evaluate({ x, y }).nll;
      expect(nll.dataSync()[0]).toBeCloseTo(perImage.reduce((a, b) => a + b, 0) / n, 3);
      // And conditional by conditional.
      const whole = tf.tidy(() => model.net.logits(tf.tensor4d(bits, [n, H, W, 1]), model.conditional ? y : undefined).dataSync());
      incremental.forEach((v, k) => expect(v).toBeCloseTo(whole[k]!, 4));
      tf.dispose([x, y, nll]);
      model.dispose();
    });
  }

  it('trains: loss is the batch NLL before the update, bits/dim its scaled value, and it falls', () => {
    const data = info({ shape: [4, 4, 1], numClasses: 0 });
    const cfg = rowLstm.configSchema.parse({ hidden: 4, layers: 1, outputHidden: 0, optimizer: { lr: 0.05 } });
    const model = rowLstm.create(cfg, { data, seed: 2 }) as RowLstm;
    const dataset = randomDataset(data, 8, 4);
    const trainer = testTrainer(model, dataset, { model: { name: 'rnn/row-lstm', ...cfg }, train: { steps: 40, batchSize: 8, logEvery: 1 } });
    const batch: Batch = dataset.gather(Array.from({ length: 8 }, (_, i) => i));
    const nllNow = () => tf.tidy(() => model.evaluate(batch).nll.dataSync()[0]!);
    const before = nllNow();
    const first = trainer.trainStep(batch);
    expect(first.loss).toBeCloseTo(before, 4);
    expect(first.loss_bpd).toBeCloseTo(before / (16 * Math.LN2), 5);
    for (let s = 0; s < 30; s++) trainer.trainStep(batch);
    // 8 random 4×4 images: 16·ln 2 ≈ 11.1 nats each for a coin flip; a model can memorise below it.
    expect(nllNow()).toBeLessThan(before - 2);
    tf.dispose([batch.x, batch.y]);
    trainer.dispose();
    model.dispose();
  });
});

describe('rnn/row-lstm sampling', () => {
  it('draws binary values in the data range, the same for a seed, different for another', () => {
    const model = build({ hidden: 4, layers: 2, kernel: 2 }, info({ range: [-1, 1] }));
    randomise(model.net, 400);
    const before = tf.memory().numTensors;
    const a = model.sample(6, { seed: 3 });
    const b = model.sample(6, { seed: 3 });
    const c = model.sample(6, { seed: 4 });
    expect(a.shape).toEqual([6, 6, 6, 1]);
    const va = Array.from(a.dataSync());
    for (const v of va) expect([-1, 1]).toContain(v);
    expect(Array.from(b.dataSync())).toEqual(va);
    expect(Array.from(c.dataSync())).not.toEqual(va);
    tf.dispose([a, b, c]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('samples from the model: empirical frequencies match the first conditionals', () => {
    // A 2×3 image: p(x00) has no context; p(x01 | x00) has one pixel of context.
    const data = info({ shape: [2, 3, 1], numClasses: 0 });
    const model = build({ hidden: 3, layers: 1, kernel: 2, outputHidden: 0 }, data);
    randomise(model.net, 500, 1.5);
    const n = 4000;
    const s = model.sample(n, { seed: 11 });
    const v = s.dataSync();
    s.dispose();
    // The model's own conditionals, from the whole-image pass on images with x00 = 0 or 1.
    const z = tf.tidy(() => model.net.logits(tf.tensor4d([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], [2, 2, 3, 1])).dataSync());
    const sig = (t: number) => 1 / (1 + Math.exp(-t));
    const p00 = sig(z[0]!);
    const p01 = [sig(z[1]!), sig(z[7]!)]; // given x00 = 0, given x00 = 1
    let ones = 0;
    const count = [0, 0];
    const hits = [0, 0];
    for (let i = 0; i < n; i++) {
      const x00 = v[i * 6]!;
      ones += x00;
      count[x00]! += 1;
      hits[x00]! += v[i * 6 + 1]!;
    }
    const within = (k: number, m: number, p: number) => expect(Math.abs(k / m - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / m) + 1e-9);
    within(ones, n, p00);
    for (const a of [0, 1]) if (count[a]! > 50) within(hits[a]!, count[a]!, p01[a]!);
    model.dispose();
  });

  it('honours labels when conditional, and cycles through the classes when none are given', () => {
    const model = build({ hidden: 4, layers: 1, outputHidden: 0, conditional: true });
    randomise(model.net, 600, 2);
    const y0 = tf.tensor1d([0, 0, 0, 0], 'int32');
    const y1 = tf.tensor1d([1, 1, 1, 1], 'int32');
    const cyc = tf.tensor1d([0, 1, 2, 0], 'int32');
    const s0 = model.sample(4, { seed: 5, labels: y0 });
    const s1 = model.sample(4, { seed: 5, labels: y1 });
    const sCyc = model.sample(4, { seed: 5, labels: cyc });
    const sNone = model.sample(4, { seed: 5 });
    expect(Array.from(s1.dataSync())).not.toEqual(Array.from(s0.dataSync()));
    expect(Array.from(sNone.dataSync())).toEqual(Array.from(sCyc.dataSync()));
    expect(() => model.sample(3, { seed: 5, labels: y0 })).toThrow(/4 labels for 3 samples/);
    tf.dispose([y0, y1, cyc, s0, s1, sCyc, sNone]);
    model.dispose();
  });
});

describe('rnn/row-lstm config', () => {
  it('defaults: LSTM, 2 layers of 32, k = 3, Adam 1e-3 with β1 0.9 even when only lr is given', () => {
    const cfg: RowLstmConfig = rowLstm.configSchema.parse({});
    expect(cfg).toMatchObject({ cell: 'lstm', layers: 2, hidden: 32, kernel: 3, outputHidden: 32, conditional: false });
    expect(cfg.optimizer).toEqual({ type: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0 });
    expect(rowLstm.configSchema.parse({ optimizer: { lr: 0.01 } }).optimizer).toMatchObject({ lr: 0.01, beta1: 0.9 });
  });

  it('rejects bad options', () => {
    for (const bad of [{ cell: 'rnn' }, { hidden: 0 }, { layers: 0 }, { kernel: 1.5 }, { outputHidden: -1 }, { optimizer: { type: 'rmsprop' } }]) {
      expect(rowLstm.configSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('refuses data it cannot model, saying what to set', () => {
    const create = (data: DataInfo, config: Record<string, unknown> = {}) => () => build(config, data);
    expect(create(info({ binary: undefined }))).toThrow(UserError);
    expect(create(info({ binary: false }))).toThrow(/set 'dataset\.binarize' .* and 'dataset\.range: \[0, 1\]'/);
    expect(create(info({ shape: [4, 4, 3] }))).toThrow(/single-channel images \[H, W, 1\]; the data has shape \[4, 4, 3\]/);
    expect(create(info({ shape: [2] }))).toThrow(/the data has shape \[2\]/);
    expect(create(info({ numClasses: 0 }), { conditional: true })).toThrow(/'model\.conditional' is true but the data is unlabelled/);
  });

  it('reports parameter counts per group that add up to the variables', () => {
    const model = build({ hidden: 4, layers: 2, kernel: 3, outputHidden: 5, conditional: true });
    const groups = Object.fromEntries(model.summary().map((g) => [g.name, g.params]));
    // Layer 0: is 3·1·16 + 16, up 3·1·16, ss 3·4·16; layer 1: is 3·4·16 + 16, ss 3·4·16;
    // head 4·5+5 + 5+1; embeddings 2·3·16.
    expect(groups).toEqual({ rows: 64 + 48 + 192 + 208 + 192, head: 25 + 6, embedding: 96 });
    model.dispose();
  });
});
