/**
 * State dicts: a model's weights and buffers as named host arrays (what checkpoints store and
 * `GenerativeModel.getState`/`setState` exchange). One pair of helpers for every model, so
 * each reads and checks its state the same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ArrayEntry, StateDict } from './contracts.js';

/** Something a state entry can be written into: a `tf.Variable`, or a layers weight wrapped as one. */
export interface Assignable {
  readonly shape: number[];
  assign(value: tf.Tensor): void;
}

/** A float32 copy of a tensor's values. */
export function entryOf(t: tf.Tensor): ArrayEntry {
  return { shape: t.shape.slice(), dtype: 'float32', data: Float32Array.from(t.dataSync()) };
}

/** Named tensors as a state dict, each key written `<prefix>/<key>` (or `<key>` without a prefix). */
export function stateDictOf(named: Iterable<readonly [string, tf.Tensor]>, prefix = '', out: StateDict = {}): StateDict {
  for (const [key, t] of named) out[prefix ? `${prefix}/${key}` : key] = entryOf(t);
  return out;
}

/**
 * Assign `state`'s entries to named targets (keys as `stateDictOf` writes them). Every key and
 * shape is checked before anything is assigned, so a mismatch leaves the model as it was;
 * entries the targets do not name are ignored (another part of the model reads them).
 */
export function loadStateDict(targets: Iterable<readonly [string, Assignable]>, state: StateDict, prefix = ''): void {
  const checked = [...targets].map(([key, target]) => {
    const name = prefix ? `${prefix}/${key}` : key;
    const entry = state[name];
    if (!entry) throw new Error(`state is missing '${name}'`);
    if (!tf.util.arraysEqual(entry.shape, target.shape)) {
      throw new Error(`state '${name}' has shape [${entry.shape.join(', ')}], the model expects [${target.shape.join(', ')}]`);
    }
    return [target, entry] as const;
  });
  tf.tidy(() => {
    for (const [target, entry] of checked) target.assign(tf.tensor(entry.data, entry.shape, 'float32'));
  });
}

/** A weight of a tfjs-layers model, structurally (`LayerVariable`): readable and writable. */
export interface LayerWeight {
  readonly shape: readonly (number | null)[];
  read(): tf.Tensor;
  write(value: tf.Tensor): unknown;
}

/** A layers model's weights as `[<prefix>/<i>, target]` pairs, for `stateDictOf` (through `read`) and `loadStateDict`. */
export function layerTargets(prefix: string, weights: readonly LayerWeight[]): [string, Assignable & { read(): tf.Tensor }][] {
  return weights.map((w, i) => [`${prefix}/${i}`, { shape: w.shape as number[], read: () => w.read(), assign: (t: tf.Tensor) => void w.write(t) }]);
}

/**
 * How `state`'s entries under `prefix` differ from `expected` (a model's own `getState()`):
 * a missing or extra key, another shape or dtype; undefined when they hold the same entries.
 * Checked before a resume restores anything, so a checkpoint that does not fit never
 * half-loads.
 */
export function stateMismatch(expected: StateDict, state: StateDict, prefix = ''): string | undefined {
  for (const [key, want] of Object.entries(expected)) {
    const got = state[prefix + key];
    if (!got) return `it has no '${prefix + key}'`;
    if (!tf.util.arraysEqual(got.shape, want.shape)) return `'${prefix + key}' has shape [${got.shape.join(', ')}], the model's is [${want.shape.join(', ')}]`;
    if (got.dtype !== want.dtype) return `'${prefix + key}' is ${got.dtype}, the model's is ${want.dtype}`;
  }
  const extra = Object.keys(state).find((k) => k.startsWith(prefix) && !(k.slice(prefix.length) in expected));
  return extra ? `it has '${extra}', which the model does not` : undefined;
}
