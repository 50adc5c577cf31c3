/**
 * The Row LSTM's export: `step`, the network of one row (the states and pixels of the row
 * above and this row's pixels so far → this row's logits and states), and the plain-JS loop
 * that samples with it pixel by pixel, shipped beside it as `sampler.mjs`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cyclicLabels, deriveSeed, type ExportInput, type ModelExport, type SampleOptions } from '@genlab/core';
import type { RowLstmNet, RowState } from './net.js';

/**
 * Ancestral sampling with the exported `step` graph: for each row i, for each column j, run
 * `step` on the row so far and set x_ij = 1 exactly when u_ij < σ(logit_ij); the states the
 * run at the last column returns are the row's (no state of a row reads its last pixel).
 * H·W runs of a one-row network: a 28×28 image is 784 graph calls.
 */
export const ROW_LSTM_SAMPLER_SOURCE = `// genlab sampler "row-lstm": ancestral sampling, pixel by pixel, with the one-row network "step".
// sample(tf, graphs, inputs, info): inputs.u [n, H, W] uniforms in [0, 1) (and inputs.labels [n]
// for a conditional model); returns float32 [n, H, W, 1] in info.output.range.
export function sample(tf, graphs, inputs, info) {
  const step = graphs.step;
  const { height: H, width: W, hidden, states: stateNames } = info.info;
  const [lo, hi] = info.output.range;
  const u = inputs.u;
  const n = u.shape[0];
  let states = stateNames.map(() => tf.zeros([n, W, hidden]));
  let above = tf.zeros([n, W, 1]);
  const rows = [];
  const columns = tf.tidy(() => Array.from({ length: W }, (_, j) => tf.reshape(tf.oneHot(tf.tensor1d([j], 'int32'), W), [1, W, 1])));
  const outputs = ['logits', ...stateNames.map((s) => s + '_next')];
  for (let i = 0; i < H; i++) {
    const ui = tf.tidy(() => tf.reshape(tf.slice(u, [0, i, 0], [n, 1, W]), [n, W]));
    let row = tf.zeros([n, W, 1]);
    for (let j = 0; j < W; j++) {
      const feeds = { above, row };
      stateNames.forEach((s, k) => (feeds[s] = states[k]));
      if (inputs.labels) feeds.labels = inputs.labels;
      const [logits, ...next] = step.execute(feeds, outputs);
      const nextRow = tf.tidy(() => {
        const p = tf.sigmoid(tf.slice(logits, [0, j], [n, 1]));
        const x = tf.cast(tf.less(tf.slice(ui, [0, j], [n, 1]), p), 'float32');
        return tf.add(row, tf.mul(tf.reshape(x, [n, 1, 1]), columns[j]));
      });
      logits.dispose();
      row.dispose();
      row = nextRow;
      if (j === W - 1) {
        tf.dispose(states);
        states = next;
      } else tf.dispose(next);
    }
    ui.dispose();
    above.dispose();
    above = row;
    rows.push(tf.clone(row));
  }
  const image = tf.tidy(() => tf.add(tf.mul(tf.stack(rows, 1), hi - lo), lo));
  tf.dispose([...rows, ...states, above, ...columns]);
  return image;
}
`;

/** The export of a Row LSTM network for data of `range`. */
export function rowLstmExport(net: RowLstmNet, opts: { conditional: boolean }): ModelExport {
  const { height: H, width: W, hidden, layers, cell, numClasses } = net.spec;
  const lstm = cell === 'lstm';
  const stateNames = Array.from({ length: layers }, (_, l) => (lstm ? [`h${l}`, `c${l}`] : [`h${l}`])).flat();
  const zeros = (n: number) => tf.zeros([n, W, hidden]);
  const bits = (n: number, seed: number) => tf.cast(tf.less(tf.randomUniform([n, W, 1], 0, 1, 'float32', seed), 0.5), 'float32');
  const inputs: ExportInput[] = [
    ...stateNames.map((s): ExportInput => ({ name: s, shape: [W, hidden], dtype: 'float32', description: `layer ${s.slice(1)}'s ${s[0]} state of the row above (zeros above the first row)`, example: (n) => tf.add(zeros(n), 0.1) })),
    { name: 'above', shape: [W, 1], dtype: 'float32', description: 'pixels of the row above in {0, 1} (zeros above the first row)', example: (n) => bits(n, 1) },
    { name: 'row', shape: [W, 1], dtype: 'float32', description: "this row's pixels so far in {0, 1} (zeros where not drawn yet)", example: (n) => bits(n, 2) },
  ];
  if (opts.conditional) inputs.push({ name: 'labels', shape: [], dtype: 'int32', description: `class indices 0…${numClasses - 1}`, example: (n) => cyclicLabels(n, numClasses) });
  const outputs: Record<string, string> = { logits: 'logit of p(x_ij = 1 | pixels before it), per column [n, W]' };
  for (const s of stateNames) outputs[`${s}_next`] = `this row's ${s} state [n, W, hidden]`;
  return {
    sampler: 'row-lstm',
    graphs: {
      step: {
        inputs,
        outputs,
        forward: (x) => {
          const prev: RowState[] = Array.from({ length: layers }, (_, l) => ({ h: x[`h${l}`] as tf.Tensor3D, c: (x[lstm ? `c${l}` : `h${l}`]) as tf.Tensor3D }));
          const { logits, states } = net.rowForward(prev, x.above as tf.Tensor3D, x.row as tf.Tensor3D, x.labels as tf.Tensor1D | undefined);
          const out: Record<string, tf.Tensor> = { logits: tf.reshape(logits, [-1, W]) };
          states.forEach((s, l) => {
            out[`h${l}_next`] = s.h;
            if (lstm) out[`c${l}_next`] = s.c;
          });
          return out;
        },
      },
    },
    samplerSource: ROW_LSTM_SAMPLER_SOURCE,
    random: {
      u: { distribution: 'uniform', shape: [H, W], description: 'one uniform per pixel: x_ij = 1 exactly when u_ij < p(x_ij = 1 | pixels before it)' },
      ...(opts.conditional ? { labels: { distribution: 'labels' as const, shape: [], description: `class index 0…${numClasses - 1}` } } : {}),
    },
    // The uniforms `ancestralSample` draws: row i from deriveSeed(seed, i).
    randomInputs: (n: number, o: SampleOptions & { seed: number }) => {
      const u = tf.tidy(() => tf.stack(Array.from({ length: H }, (_, i) => tf.randomUniform([n, W], 0, 1, 'float32', deriveSeed(o.seed, i))), 1));
      return { u, ...(opts.conditional ? { labels: o.labels ? o.labels.clone() : cyclicLabels(n, numClasses) } : {}) };
    },
    info: { height: H, width: W, hidden, layers, cell, states: stateNames },
  };
}
