/**
 * The LSTM cell as one op, for recurrent models (the Row LSTM): gate pre-activations
 * `a + b` [..., 4H] (gates i, f, o, g along the last axis) and the previous cell state
 * `c` [..., H] → the new hidden and cell states,
 *
 *     i, f, o = σ(·), g = tanh(·) of a + b;   c' = f·c + i·g;   h = o·tanh(c').
 *
 * Written with tfjs ops this is ten kernels forward and about thirty backward (the split,
 * the sigmoids' and tanhs' gradients, the products' both sides, the concat of the four gate
 * gradients), each one pass over memory: 43 % of a Row LSTM training step in
 * `pnpm bench --profile rnn`. A backend may register four fused kernels instead (the wasm
 * kernel pack does, `@genlab/kernels`' wasm-simd.ts), used here when the active backend has
 * all four; elsewhere the same maths runs as tfjs ops:
 *
 *   - `GenlabLstmGates` {a, b} → act = [σ, σ, σ, tanh](a + b), the activated gates [..., 4H];
 *   - `GenlabLstmState` {act, c} → [h, c'];
 *   - their gradients `GenlabLstmGatesGrad` {act, dy} → dz and `GenlabLstmStateGrad`
 *     {act, c, cNew, dh, dc} → [dact, dc], registered below as the first two's gradients.
 *
 * The activated gates are an output of their own so that the backward pass reads them
 * instead of recomputing the sigmoids. The fused kernels have no gradients of their own: a
 * second derivative through the fused cell is refused by tfjs ("gradient function not
 * found"), where the tfjs-op form would give one (no model here needs it).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Kernel names (the wasm kernel pack registers these; a test checks they agree). */
export const LSTM_KERNELS = {
  Gates: 'GenlabLstmGates',
  GatesGrad: 'GenlabLstmGatesGrad',
  State: 'GenlabLstmState',
  StateGrad: 'GenlabLstmStateGrad',
} as const;

/** Whether the active backend runs the fused cell (all four kernels registered for it). */
export function fusedLstmAvailable(): boolean {
  const backend = tf.getBackend();
  return Object.values(LSTM_KERNELS).every((name) => tf.getKernel(name, backend) !== undefined);
}

/** The cell with tfjs ops (every backend; what the fused kernels compute). */
export function lstmCellOps(a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): { h: tf.Tensor; c: tf.Tensor } {
  const [i, f, o, g] = tf.split(tf.add(a, b), 4, a.rank - 1) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const cNew = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
  return { h: tf.mul(tf.sigmoid(o), tf.tanh(cNew)), c: cNew };
}

/**
 * The cell: fused where the backend has the kernels (and `fused` is not false), else with
 * tfjs ops. `a`, `b` [..., 4H] (same shape), `c` [..., H]. Graph export traces the tfjs-op
 * form (pass `fused: false`): a tfjs graph model knows no genlab kernels.
 */
export function lstmCell(a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, opts: { fused?: boolean } = {}): { h: tf.Tensor; c: tf.Tensor } {
  const G = a.shape[a.rank - 1]!;
  const fusable =
    opts.fused !== false &&
    a.dtype === 'float32' &&
    b.dtype === 'float32' &&
    c.dtype === 'float32' &&
    G % 4 === 0 &&
    tf.util.arraysEqual(a.shape, b.shape) &&
    tf.util.arraysEqual(c.shape, [...a.shape.slice(0, -1), G / 4]) &&
    fusedLstmAvailable();
  if (!fusable) return lstmCellOps(a, b, c);
  const engine = tf.engine();
  const act = engine.runKernel(LSTM_KERNELS.Gates, { a, b } as unknown as tf.NamedTensorMap) as tf.Tensor;
  const [h, cNew] = engine.runKernel(LSTM_KERNELS.State, { act, c } as unknown as tf.NamedTensorMap) as tf.Tensor[];
  return { h: h!, c: cNew! };
}

/** Marks the gradients registered here, so registering again is a no-op. */
const MARK = Symbol.for('genlab.gradient.lstm');

/** The fused kernels' gradients (idempotent; harmless where no backend has the kernels). */
export function registerLstmCellGradients(): void {
  const configs: (tf.GradConfig & { [MARK]: true })[] = [
    {
      kernelName: LSTM_KERNELS.Gates,
      outputsToSave: [true],
      gradFunc: (dy, saved) => {
        const [act] = saved as [tf.Tensor];
        // Run here, not in a thunk (see State's); b gets its own handle of the one dz (the tape may add to and dispose either).
        const dz = tf.engine().runKernel(LSTM_KERNELS.GatesGrad, { act, dy } as unknown as tf.NamedTensorMap) as tf.Tensor;
        return { a: () => dz, b: () => tf.clone(dz) };
      },
      [MARK]: true,
    },
    {
      kernelName: LSTM_KERNELS.State,
      inputsToSave: ['act', 'c'],
      outputsToSave: [false, true],
      gradFunc: (dys, saved) => {
        const [act, c, cNew] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const [dh, dc] = dys as tf.Tensor[];
        // One kernel makes both gradients, so it runs here, in the backward pass's own scope,
        // and not in a thunk: each thunk runs in a tidy of its own, which would dispose the
        // other's half, and a thunk whose input needs no gradient (a zero first state) is never
        // called. What no input takes is disposed with the backward pass's other temporaries.
        const [dact, dcPrev] = tf.engine().runKernel(LSTM_KERNELS.StateGrad, { act, c, cNew, dh: dh!, dc: dc! } as unknown as tf.NamedTensorMap) as tf.Tensor[];
        return { act: () => dact!, c: () => dcPrev! };
      },
      [MARK]: true,
    },
  ];
  for (const config of configs) {
    const current = tf.getGradient(config.kernelName) as (tf.GradConfig & { [MARK]?: true }) | undefined;
    if (!current?.[MARK]) tf.registerGradient(config);
  }
}
