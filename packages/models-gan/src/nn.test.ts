import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import '@genlab/core';
import { downsample2x, live, Net, upsample2x } from './nn.js';

/** A 2-D rotation by θ. */
const rot = (t: number) => [
  [Math.cos(t), -Math.sin(t)],
  [Math.sin(t), Math.cos(t)],
];
const matmul = (a: number[][], b: number[][]) => a.map((r) => b[0]!.map((_, j) => r.reduce((s, v, k) => s + v * b[k]![j]!, 0)));

describe('spectral normalisation', () => {
  it("the power iteration's σ converges to the largest singular value of a known matrix", () => {
    // W = U diag(3, 0.5) Vᵀ with rotations U, V: singular values 3 and 0.5 exactly.
    const W = matmul(matmul(rot(0.4), [[3, 0], [0, 0.5]]), rot(-1.1));
    const net = new Net('d', 7);
    const layer = net.dense('l', 2, 2, { spectralNorm: true });
    layer.kernel.assign(tf.tensor2d(W));
    const sn = layer.sn!;
    for (let i = 0; i < 30; i++) sn.iterate();
    expect(sn.sigma(layer.kernel).dataSync()[0]).toBeCloseTo(3, 4);
    // The normalised weight has spectral norm 1: ‖W/σ · v‖ for its top right-singular vector.
    const normed = sn.normalize(layer.kernel).arraySync() as number[][];
    const v = rot(-1.1)[0]!; // Vᵀ = rot(-1.1): the top right-singular vector is its first row
    const image = [0, 1].map((i) => normed[i]![0]! * v[0]! + normed[i]![1]! * v[1]!);
    expect(Math.hypot(...image)).toBeCloseTo(1, 4);
    net.dispose();
  });

  it('estimates a convolution kernel as the matrix [k·k·inC, outC], and its vectors are checkpointed state', () => {
    const net = new Net('d', 3);
    const conv = net.conv('c', 2, 3, 3, 1, { spectralNorm: true });
    for (let i = 0; i < 50; i++) conv.sn!.iterate();
    const m = conv.kernel.arraySync() as number[][][][]; // [3, 3, 2, 3]
    // Largest singular value of the reshaped matrix by power iteration in float64 on WᵀW.
    const rows = m.flat(2); // [18][3]
    const wtw = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows.reduce((s, r) => s + r[i]! * r[j]!, 0)));
    let u = [1, 0.5, 0.25];
    for (let i = 0; i < 500; i++) {
      const w = wtw.map((r) => r.reduce((s, v, k) => s + v * u[k]!, 0));
      const n = Math.hypot(...w);
      u = w.map((x) => x / n);
    }
    const lambda = wtw.map((r) => r.reduce((s, v, k) => s + v * u[k]!, 0)).reduce((s, v, k) => s + v * u[k]!, 0);
    expect(conv.sn!.sigma(conv.kernel).dataSync()[0]).toBeCloseTo(Math.sqrt(lambda), 3);
    const state: Record<string, unknown> = {};
    net.state('d', state as never);
    expect(Object.keys(state)).toEqual(expect.arrayContaining(['d/c/sn_u', 'd/c/sn_v', 'd/c/kernel', 'd/c/bias']));
    expect(net.trainable).toHaveLength(2); // u and v are buffers, not parameters
    net.dispose();
  });
});

describe('layers', () => {
  it('batch norm normalises with batch statistics in training and running ones otherwise', () => {
    const net = new Net('g', 1);
    const bn = net.batchNorm('bn', 2);
    const x = tf.tensor2d([
      [1, 10],
      [3, 30],
    ]);
    const y = bn.apply(x, live(true)).arraySync() as number[][];
    // mean (2, 20), variance (1, 100): (x − μ)/√(σ² + 1e-3)
    expect(y[0]![0]).toBeCloseTo(-1 / Math.sqrt(1.001), 5);
    expect(y[1]![1]).toBeCloseTo(10 / Math.sqrt(100.001), 5);
    // running statistics moved 10% of the way from (0, 1)
    expect(Array.from(bn.mean.dataSync())).toEqual([0.2, 2].map(Math.fround));
    const z = bn.apply(x, live(false)).arraySync() as number[][];
    expect(z[0]![1]).toBeCloseTo((10 - 2) / Math.sqrt(0.9 + 0.1 * 100 + 1e-3), 4);
    net.dispose();
  });

  it('batch norm can hand its batch statistics out without moving the running ones, and normalise with given ones', () => {
    const net = new Net('g', 1);
    const bn = net.batchNorm('bn', 2);
    expect(net.batchNorms).toEqual([bn]);
    const x = tf.tensor2d([
      [1, 10],
      [3, 30],
    ]);
    const seen: number[][] = [];
    const w = (v: tf.Variable) => v;
    const y = bn.apply(x, { training: true, w, bn: { collect: (b, s) => (expect(b).toBe(bn), seen.push([...s.mean.dataSync(), ...s.variance.dataSync()])) } });
    expect(seen).toEqual([[2, 20, 1, 100]]);
    expect(Array.from(y.dataSync())).toEqual(Array.from(bn.apply(x, live(true)).dataSync())); // same output as a normal training pass
    net.dispose();
    const net2 = new Net('g', 1);
    const bn2 = net2.batchNorm('bn', 2);
    bn2.apply(x, { training: true, w, bn: { collect: () => {} } });
    expect(Array.from(bn2.mean.dataSync())).toEqual([0, 0]); // running averages untouched
    expect(Array.from(bn2.variance.dataSync())).toEqual([1, 1]);
    const given = { mean: tf.tensor1d([1, 10]), variance: tf.tensor1d([4, 25]) };
    const z = bn2.apply(x, { training: false, w, bn: { use: new Map([[bn2, given]]) } }).arraySync() as number[][];
    expect(z[1]![0]).toBeCloseTo((3 - 1) / Math.sqrt(4.001), 5);
    expect(z[1]![1]).toBeCloseTo((30 - 10) / Math.sqrt(25.001), 5);
    net2.dispose();
  });

  it('conditional batch norm picks γ and β by class', () => {
    const net = new Net('g', 1);
    const bn = net.batchNorm('bn', 1, { classes: 2 });
    bn.gamma.assign(tf.tensor2d([[2], [-1]]));
    bn.beta.assign(tf.tensor2d([[0], [5]]));
    const x = tf.tensor2d([[1], [3]]); // normalised: −1, +1 (≈)
    const y = bn.apply(x, live(true), tf.tensor1d([0, 1], 'int32')).dataSync();
    expect(y[0]).toBeCloseTo(2 * (-1 / Math.sqrt(1.001)), 4);
    expect(y[1]).toBeCloseTo(-1 * (1 / Math.sqrt(1.001)) + 5, 4);
    net.dispose();
  });

  it('upsampling repeats pixels; downsampling averages 2×2 blocks', () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    expect(Array.from(upsample2x(x).dataSync())).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    expect(Array.from(downsample2x(upsample2x(x)).dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(downsample2x(x).dataSync())).toEqual([2.5]);
  });

  it('refuses a state with a missing key or a wrong shape before changing anything', () => {
    const net = new Net('g', 1);
    net.dense('a', 2, 2);
    const state: Record<string, { shape: number[]; dtype: 'float32'; data: Float32Array }> = {};
    net.state('g', state);
    expect(() => net.setState('g', { ...state, 'g/a/bias': { shape: [3], dtype: 'float32', data: new Float32Array(3) } })).toThrow(/shape \[3\].*expects \[2\]/);
    const { ['g/a/kernel']: _, ...missing } = state;
    expect(() => net.setState('g', missing)).toThrow(/missing 'g\/a\/kernel'/);
    net.dispose();
  });
});
