/**
 * Pixel-by-pixel loops over a Row LSTM: ancestral sampling, and the same loop with the
 * pixels given (teacher forcing), which yields every conditional p(x_ij = 1 | x_<ij) by
 * the incremental path, independently of the whole-image pass used in training.
 *
 * Both walk the image in raster order, H·W sequential steps of small batched ops; each row
 * runs in one `tf.tidy` (each pixel in its own, inside the row cursor), so memory stays at
 * a few rows of [n, W, hidden] whatever the image size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed } from '@genlab/core';
import type { RowLstmNet, RowState } from './net.js';

/**
 * Walk the image in raster order. At pixel (i, j) `choose(i, j, logit)` receives the logit
 * [n] of p(x_ij = 1 | x_<ij) and returns the value x_ij [n] in {0, 1} to continue with.
 * Returns the chosen image [n, H, W, 1] in {0, 1}.
 */
function walk(net: RowLstmNet, n: number, labels: tf.Tensor1D | undefined, choose: (i: number, j: number, logit: tf.Tensor1D) => tf.Tensor1D): tf.Tensor4D {
  const { height: H, width: W } = net.spec;
  let states: RowState[] = net.zeroState(n);
  const rows: tf.Tensor3D[] = [tf.zeros([n, W, 1])]; // the (zero) row above the first
  try {
    for (let i = 0; i < H; i++) {
      const next = tf.tidy(() => {
        const cursor = net.row(states, rows[i]!, labels);
        const xs: tf.Tensor1D[] = [];
        for (let j = 0; j < W; j++) {
          const x = choose(i, j, cursor.pixel(j));
          cursor.put(j, x);
          xs.push(x);
        }
        return { states: cursor.end(), row: tf.reshape(tf.stack(xs, 1), [n, W, 1]) as tf.Tensor3D };
      });
      tf.dispose(states.flatMap((s) => [s.h, s.c]));
      states = next.states;
      rows.push(next.row);
    }
    return tf.tidy(() => tf.stack(rows.slice(1), 1) as tf.Tensor4D); // [n, H, W, 1]
  } finally {
    tf.dispose(states.flatMap((s) => [s.h, s.c]));
    tf.dispose(rows);
  }
}

/**
 * Ancestral sampling: x_ij ~ Bernoulli(σ(logit_ij)) in raster order. The uniforms of row i
 * are drawn from `deriveSeed(seed, i)`, so a seed fixes the samples. Returns [n, H, W, 1]
 * in {0, 1}.
 */
export function ancestralSample(net: RowLstmNet, n: number, seed: number, labels?: tf.Tensor1D): tf.Tensor4D {
  const W = net.spec.width;
  let u: tf.Tensor1D[] = [];
  return walk(net, n, labels, (i, j, logit) => {
    // Created inside the row's tidy: freed with the row.
    if (j === 0) u = tf.unstack(tf.randomUniform([n, W], 0, 1, 'float32', deriveSeed(seed, i)), 1) as tf.Tensor1D[];
    // x = 1 exactly when u < p = σ(logit).
    return tf.tidy(() => tf.cast(tf.less(u[j]!, tf.sigmoid(logit)), 'float32') as tf.Tensor1D);
  });
}

/**
 * The per-pixel logits of `x01` [n, H, W, 1] in {0, 1}, computed pixel by pixel through the
 * sampling path (each conditional sees only the pixels before it, because the later ones
 * have not been given yet). Returns [n, H, W, 1].
 */
export function incrementalLogits(net: RowLstmNet, x01: tf.Tensor4D, labels?: tf.Tensor1D): tf.Tensor4D {
  const [n, H, W] = x01.shape;
  const pixels = tf.tidy(() => tf.unstack(tf.reshape(x01, [n, H * W]), 1) as tf.Tensor1D[]);
  const logits: tf.Tensor1D[] = [];
  try {
    const chosen = walk(net, n, labels, (i, j, logit) => {
      logits.push(tf.keep(tf.clone(logit)));
      return tf.clone(pixels[i * W + j]!);
    });
    chosen.dispose();
    return tf.tidy(() => tf.reshape(tf.stack(logits, 1), [n, H, W, 1]) as tf.Tensor4D);
  } finally {
    tf.dispose(pixels);
    tf.dispose(logits);
  }
}
