/**
 * The Row LSTM's whole-image pass on the wasm backend with genlab's kernel pack runs core's
 * fused LSTM cell (`GenlabLstmGates`, `GenlabLstmState` and their gradients); on the cpu
 * backend it runs tfjs ops. The same weights and batch give the same NLL and the same
 * gradient of every variable on both, for the LSTM with two layers, the class embedding and
 * the hidden output head; and the pass through the fused kernels leaks nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32, type Batch, type DataInfo } from '@genlab/core';
import { rowLstm, type RowLstm } from '@genlab/models-rnn';
import { chooseBackend } from '../src/backend.js';

const data: DataInfo = { shape: [5, 6, 1], numClasses: 3, size: 16, range: [0, 1], binary: true };

/** The model on the active backend with weights drawn from `seed` (plain numbers: the same on every backend). */
function model(seed: number): RowLstm {
  const m = rowLstm.create(rowLstm.configSchema.parse({ hidden: 8, layers: 2, kernel: 3, outputHidden: 4, conditional: true }), { data, seed: 1 }) as RowLstm;
  const rand = mulberry32(seed);
  for (const [, v] of m.net.named()) v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => (rand() * 2 - 1) * 0.7), v.shape));
  return m;
}

function batch(n: number, seed: number): Batch {
  const rand = mulberry32(seed);
  const [h, w] = data.shape;
  return {
    x: tf.tensor4d(Float32Array.from({ length: n * h! * w! }, () => (rand() < 0.4 ? 1 : 0)), [n, h!, w!, 1]),
    y: tf.tensor1d(Int32Array.from({ length: n }, (_, i) => i % 3), 'int32'),
  };
}

/** NLL and the gradient of every variable, as plain arrays, with the kernels the pass ran. */
async function nllAndGrads(backend: string): Promise<{ values: Float32Array[]; kernels: Set<string>; leaked: number }> {
  await tf.setBackend(backend);
  const m = model(11);
  const b = batch(5, 12);
  const vars = m.net.named().map(([, v]) => v);
  const before = tf.memory().numTensors;
  let out: tf.Tensor[] = [];
  const profile = await tf.profile(() => {
    out = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => m.nll(b), vars);
      return [value, ...vars.map((v) => grads[v.name]!)];
    });
  });
  const values = out.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(out);
  const leaked = tf.memory().numTensors - before;
  tf.dispose([b.x, b.y!]);
  m.net.named().forEach(([, v]) => v.dispose());
  return { values, kernels: new Set(profile.kernels.map((k) => k.name)), leaked };
}

beforeAll(async () => {
  await chooseBackend('wasm'); // the wasm backend with genlab's kernel pack, as `backend: wasm` runs
});

describe('the Row LSTM on the fused LSTM cell (wasm kernel pack) against tfjs ops (cpu)', () => {
  it('gives the same NLL and gradients, through the fused kernels, with no leak', async () => {
    const wasm = await nllAndGrads('wasm');
    const cpu = await nllAndGrads('cpu');
    for (const k of ['GenlabLstmGates', 'GenlabLstmState', 'GenlabLstmGatesGrad', 'GenlabLstmStateGrad']) expect(wasm.kernels).toContain(k);
    expect(wasm.kernels).not.toContain('Tanh'); // only the cell has tanh (the loss's softplus has a sigmoid in its gradient)
    expect(cpu.kernels).toContain('Tanh');
    expect(cpu.kernels).not.toContain('GenlabLstmGates');
    expect(wasm.leaked).toBe(0);
    expect(wasm.values.length).toBe(cpu.values.length);
    expect(Math.abs(wasm.values[0]![0]! - cpu.values[0]![0]!) / cpu.values[0]![0]!).toBeLessThan(1e-5);
    wasm.values.slice(1).forEach((g, i) => {
      const want = cpu.values[i + 1]!;
      const scale = Math.max(...want.map(Math.abs));
      expect(scale, `gradient ${i}`).toBeGreaterThan(0);
      const worst = g.reduce((w, v, j) => Math.max(w, Math.abs(v - want[j]!)), 0);
      expect(worst / scale, `gradient ${i}`).toBeLessThan(1e-4);
    });
  });
});
