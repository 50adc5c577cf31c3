/**
 * DiffAugment (Zhao et al. 2020): the same random, differentiable augmentations applied to
 * real and generated images before the discriminator, so a GAN trained on little data does
 * not let D memorise it. Gradients flow through the augmentation into the generator.
 *
 * Written with matmuls and masks rather than gathers so every op has a gradient on every
 * backend: a per-example translation is a product with shift matrices, cutout a product
 * with a 0/1 mask.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { deriveSeed } from '@genlab/core';

export const augmentSchema = z.array(z.enum(['translation', 'cutout', 'color'])).default([]);
export type AugmentPolicy = z.infer<typeof augmentSchema>;

/** Integer offsets in [−max, max] per example: int32-valued float [n]. */
function offsets(n: number, max: number, seed: number): tf.Tensor1D {
  return tf.floor(tf.randomUniform([n], -max, max + 1, 'float32', seed)) as tf.Tensor1D;
}

/**
 * Shift matrices [n, L, L]: S[b, i, j] = 1 when j = i − shift[b] (zero where the source is
 * outside the image, i.e. zero padding).
 */
function shiftMatrices(shift: tf.Tensor1D, L: number): tf.Tensor3D {
  const i = tf.reshape(tf.range(0, L), [1, L, 1]);
  const j = tf.reshape(tf.range(0, L), [1, 1, L]);
  return tf.cast(tf.equal(tf.sub(i, tf.reshape(shift, [-1, 1, 1])), j), 'float32') as tf.Tensor3D;
}

/**
 * Translate each image by up to `ratio` of its size (default 1/8, as in the paper), filling
 * with zeros (the middle of the data range for [-1, 1] images).
 */
export function translate(x: tf.Tensor4D, seed: number, ratio = 0.125): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const sy = shiftMatrices(offsets(n, Math.round(h * ratio), deriveSeed(seed, 1)), h); // [n, h, h]
  const sx = shiftMatrices(offsets(n, Math.round(w * ratio), deriveSeed(seed, 2)), w); // [n, w, w]
  // Rows: [n, h, h] × [n, h, w·c] ; columns: transpose to [n, w, h·c] and shift the same way.
  const rows = tf.reshape(tf.matMul(sy, tf.reshape(x, [n, h, w * c])), [n, h, w, c]);
  const cols = tf.matMul(sx, tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [n, w, h * c]));
  return tf.transpose(tf.reshape(cols, [n, w, h, c]), [0, 2, 1, 3]);
}

/** Zero a square of half the image size at a random centre of each image (DeVries & Taylor 2017). */
export function cutout(x: tf.Tensor4D, seed: number, ratio = 0.5): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const sh = Math.round(h * ratio);
  const sw = Math.round(w * ratio);
  const cy = tf.reshape(tf.floor(tf.randomUniform([n], 0, h + (1 - (sh % 2)), 'float32', deriveSeed(seed, 3))), [n, 1, 1]);
  const cx = tf.reshape(tf.floor(tf.randomUniform([n], 0, w + (1 - (sw % 2)), 'float32', deriveSeed(seed, 4))), [n, 1, 1]);
  const i = tf.reshape(tf.range(0, h), [1, h, 1]);
  const j = tf.reshape(tf.range(0, w), [1, 1, w]);
  // Rows [cy − ⌊sh/2⌋, cy − ⌊sh/2⌋ + sh), likewise columns, as in the paper's code.
  const y0 = tf.sub(cy, Math.floor(sh / 2));
  const x0 = tf.sub(cx, Math.floor(sw / 2));
  const inY = tf.logicalAnd(tf.greaterEqual(i, y0), tf.less(i, tf.add(y0, sh)));
  const inX = tf.logicalAnd(tf.greaterEqual(j, x0), tf.less(j, tf.add(x0, sw)));
  const keep = tf.sub(1, tf.cast(tf.logicalAnd(inY, inX), 'float32')); // [n, h, w]
  return tf.mul(x, tf.expandDims(keep, 3));
}

/** Random brightness, saturation and contrast per example (the paper's `color`). */
export function color(x: tf.Tensor4D, seed: number): tf.Tensor4D {
  const n = x.shape[0];
  const r = (k: number, lo: number, hi: number) => tf.randomUniform([n, 1, 1, 1], lo, hi, 'float32', deriveSeed(seed, k));
  let y: tf.Tensor4D = tf.add(x, r(5, -0.5, 0.5));
  const meanC = tf.mean(y, 3, true);
  y = tf.add(tf.mul(tf.sub(y, meanC), r(6, 0, 2)), meanC);
  const meanAll = tf.mean(y, [1, 2, 3], true);
  return tf.add(tf.mul(tf.sub(y, meanAll), r(7, 0.5, 1.5)), meanAll);
}

/** Apply `policy` in the paper's order (color, translation, cutout). Images [n, H, W, C]. */
export function diffAugment(x: tf.Tensor, policy: AugmentPolicy, seed: number): tf.Tensor {
  if (policy.length === 0 || x.rank !== 4) return x;
  let y = x as tf.Tensor4D;
  if (policy.includes('color')) y = color(y, deriveSeed(seed, 10));
  if (policy.includes('translation')) y = translate(y, deriveSeed(seed, 11));
  if (policy.includes('cutout')) y = cutout(y, deriveSeed(seed, 12));
  return y;
}
