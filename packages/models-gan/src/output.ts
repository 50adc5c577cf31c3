/** The generator's output layer: an activation that maps into the data range. */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { UserError } from '@genlab/core';

/** Output activation: `auto` = tanh for data in [-1, 1], a sigmoid for [0, 1], linear otherwise. */
export const outputSchema = z.enum(['auto', 'tanh', 'sigmoid', 'linear']).default('auto');

/**
 * The generator's output activation for a data range. 'auto': tanh for [-1, 1], sigmoid for
 * [0, 1], linear for anything else (e.g. 2-D points of a toy mixture). A choice that cannot
 * reach the data range is an error.
 */
export function outputActivation(choice: z.infer<typeof outputSchema>, range: [number, number]): (x: tf.Tensor) => tf.Tensor {
  const why = outputIssue(choice, range);
  if (why) throw new UserError(`generator.output: ${why}`);
  const output = resolveOutput(choice, range);
  return output === 'linear' ? (x) => x : output === 'tanh' ? tf.tanh : tf.sigmoid;
}

function resolveOutput(choice: z.infer<typeof outputSchema>, [lo, hi]: [number, number]): 'tanh' | 'sigmoid' | 'linear' {
  return choice === 'auto' ? (lo === -1 && hi === 1 ? 'tanh' : lo === 0 && hi === 1 ? 'sigmoid' : 'linear') : choice;
}

/** Why an output activation cannot produce data in `range` (its values must span exactly the range), or undefined. */
export function outputIssue(choice: z.infer<typeof outputSchema>, range: [number, number]): string | undefined {
  const output = resolveOutput(choice, range);
  if (output === 'linear') return undefined;
  const [oLo, oHi] = output === 'tanh' ? [-1, 1] : [0, 1];
  if (oLo !== range[0] || oHi !== range[1]) return `'${output}' gives values in [${oLo}, ${oHi}] but the data range is [${range.join(', ')}]: use output 'auto' (or set dataset.range: [${oLo}, ${oHi}])`;
  return undefined;
}
