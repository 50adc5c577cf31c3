/** The generator's output layer: an activation that maps into the data range. */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';

/** Output activation: `auto` = tanh for data in [-1, 1], a sigmoid for [0, 1], linear otherwise. */
export const outputSchema = z.enum(['auto', 'tanh', 'sigmoid', 'linear']).default('auto');

/**
 * The generator's output activation for a data range. 'auto': tanh for [-1, 1], sigmoid for
 * [0, 1], linear for anything else (e.g. 2-D points of a toy mixture). A choice that cannot
 * reach the data range is an error.
 */
export function outputActivation(choice: z.infer<typeof outputSchema>, range: [number, number]): (x: tf.Tensor) => tf.Tensor {
  const [lo, hi] = range;
  const output = choice === 'auto' ? (lo === -1 && hi === 1 ? 'tanh' : lo === 0 && hi === 1 ? 'sigmoid' : 'linear') : choice;
  if (output === 'linear') return (x) => x;
  const [oLo, oHi] = output === 'tanh' ? [-1, 1] : [0, 1];
  if (oLo !== lo || oHi !== hi) {
    throw new Error(`generator output '${output}' gives values in [${oLo}, ${oHi}] but the data range is [${lo}, ${hi}]: use output 'auto'`);
  }
  return output === 'tanh' ? tf.tanh : tf.sigmoid;
}
