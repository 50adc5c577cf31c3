/**
 * The fused LSTM cell (core's lstm-cell.ts, the SIMD module's four lstm_* kernels): values
 * and gradients on wasm against the same maths in tfjs ops on the cpu backend, over shapes
 * that run the 4-lane loop, the one-lane tail and both (H = 1, 3, 4, 5, 32), with a cell
 * state that needs a gradient and one that does not (a zero first state), through several
 * chained steps (what the Row LSTM does row by row), and with no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs's own gradients first, as every genlab process does
import { beforeAll, describe, expect, it } from 'vitest';
import { fusedLstmAvailable, lstmCell, lstmCellOps, LSTM_KERNELS as CORE_LSTM_KERNELS, registerHigherOrderGradients } from '@genlab/core';
import { installWasmSimd, LSTM_KERNELS } from './wasm-simd.js';
import { mulberry32, on, worstRelError } from './test-helpers.js';

const rand = mulberry32(47);
const data = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  installWasmSimd();
  registerHigherOrderGradients();
});

/**
 * `steps` cells in a chain (c and h of one feed the next, as rows do), a weighted sum of
 * every h and the last c as the loss: the loss's value, every h and c, and its gradients
 * with respect to each step's a and b and the first c (when `withC0`).
 */
function chain(cell: typeof lstmCell, lead: number[], H: number, steps: number, withC0: boolean, seedData: Float32Array[]) {
  return () => {
    const [c0v, ...rest] = seedData;
    const as = rest.slice(0, steps).map((v) => tf.tensor(v, [...lead, 4 * H]));
    const bs = rest.slice(steps, 2 * steps).map((v) => tf.tensor(v, [...lead, 4 * H]));
    const wh = tf.tensor(rest[2 * steps]!, [...lead, H]);
    const wc = tf.tensor(rest[2 * steps + 1]!, [...lead, H]);
    const c0 = tf.tensor(c0v!, [...lead, H]);
    const outs: tf.Tensor[] = []; // every h and c, kept past the gradient pass (which disposes what f made)
    const loss = (...xs: tf.Tensor[]) => {
      const a = xs.slice(0, steps);
      const b = xs.slice(steps, 2 * steps);
      let c = withC0 ? xs[2 * steps]! : c0;
      let total: tf.Tensor = tf.scalar(0);
      let hPrev: tf.Tensor | undefined;
      for (let s = 0; s < steps; s++) {
        // b reads the previous h, as a_ss does: the gradient flows through h as well as c
        const bIn = s === 0 ? b[s]! : tf.add(b[s]!, tf.tile(tf.mul(hPrev!, 0.5), [...lead.map(() => 1), 4]));
        const r = cell(a[s]!, bIn, c);
        outs.push(tf.keep(tf.clone(r.h)), tf.keep(tf.clone(r.c)));
        hPrev = r.h;
        total = tf.add(total, tf.sum(tf.mul(r.h, wh)));
        c = r.c;
      }
      return tf.add(total, tf.sum(tf.mul(c, wc))) as tf.Scalar;
    };
    const xs = [...as, ...bs, ...(withC0 ? [c0] : [])];
    const { value, grads } = tf.valueAndGrads(loss)(xs);
    return [value, ...outs, ...grads];
  };
}

describe('the fused LSTM cell on wasm against tfjs ops on the cpu backend', () => {
  it('has the kernel names core uses, registered on wasm', () => {
    expect(LSTM_KERNELS).toEqual(CORE_LSTM_KERNELS);
    for (const name of Object.values(LSTM_KERNELS)) expect(tf.getKernel(name, 'wasm')).toBeDefined();
  });

  const cases: { lead: number[]; H: number; steps: number; withC0: boolean }[] = [
    { lead: [1], H: 1, steps: 2, withC0: true },
    { lead: [3], H: 3, steps: 3, withC0: false },
    { lead: [2, 5], H: 4, steps: 2, withC0: true },
    { lead: [7], H: 5, steps: 3, withC0: true },
    { lead: [4, 28], H: 32, steps: 3, withC0: false },
  ];
  for (const { lead, H, steps, withC0 } of cases) {
    it(`values and gradients for [${lead}] × H = ${H}, ${steps} chained steps, ${withC0 ? 'a first c that needs a gradient' : 'a constant first c'}; no leak`, async () => {
      const P = lead.reduce((x, y) => x * y, 1);
      // pre-activations over [-6, 6]: saturated and linear parts of σ and tanh
      const seed = [data(P * H, 2), ...Array.from({ length: 2 * steps }, () => data(P * 4 * H, 3)), data(P * H, 1), data(P * H, 1)];
      await tf.setBackend('wasm');
      expect(fusedLstmAvailable()).toBe(true);
      const before = tf.memory().numTensors;
      const got = await on('wasm', chain(lstmCell, lead, H, steps, withC0, seed));
      expect(tf.memory().numTensors).toBe(before);
      const want = await on('cpu', chain(lstmCellOps, lead, H, steps, withC0, seed));
      expect(got.length).toBe(want.length);
      // every h, c and gradient element within 2e-6; the loss, a sum of thousands of terms of
      // both signs, differs by the order of the two backends' sums (up to 1e-5 measured)
      expect(worstRelError(got.slice(1), want.slice(1))).toBeLessThan(2e-6);
      expect(Math.abs(got[0]![0]! - want[0]![0]!)).toBeLessThan(1e-4);
    });
  }

  it('runs the four fused kernels on wasm and none of the ten-op form', async () => {
    await tf.setBackend('wasm');
    const lead = [2, 3];
    const profile = await tf.profile(() => {
      tf.tidy(() => {
        const a = tf.tensor(data(6 * 32, 2), [...lead, 32]);
        const b = tf.tensor(data(6 * 32, 2), [...lead, 32]);
        const c = tf.tensor(data(6 * 8, 1), [...lead, 8]);
        tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => {
          const r = lstmCell(x, y, z);
          return tf.add(tf.sum(r.h), tf.sum(r.c));
        })([a, b, c]);
      });
    });
    const names = new Set(profile.kernels.map((k) => k.name));
    for (const name of Object.values(LSTM_KERNELS)) expect(names).toContain(name);
    for (const name of ['Sigmoid', 'Tanh', 'SplitV', 'Concat']) expect(names).not.toContain(name);
  });

  it('falls back to tfjs ops where the backend has no fused kernels (cpu), or when asked to (graph export)', async () => {
    for (const [backend, fused] of [['cpu', undefined], ['wasm', false]] as const) {
      await tf.setBackend(backend);
      const profile = await tf.profile(() => {
        tf.tidy(() => {
          lstmCell(tf.zeros([2, 8]), tf.zeros([2, 8]), tf.zeros([2, 2]), { fused });
        });
      });
      const names = profile.kernels.map((k) => k.name);
      expect(names, backend).toContain('Sigmoid');
      expect(names, backend).not.toContain(LSTM_KERNELS.Gates);
    }
  });

  it('refuses inputs of the wrong shape with the kernel and input named', async () => {
    await tf.setBackend('wasm');
    expect(() => tf.tidy(() => tf.engine().runKernel(LSTM_KERNELS.State, { act: tf.zeros([2, 8]), c: tf.zeros([2, 3]) }))).toThrow(
      /GenlabLstmState: c must be float32 \[2,2\].*got float32 \[2,3\]/,
    );
    expect(() => tf.tidy(() => tf.engine().runKernel(LSTM_KERNELS.Gates, { a: tf.zeros([2, 6]), b: tf.zeros([2, 6]) }))).toThrow(/GenlabLstmGates: a must be float32/);
  });
});
