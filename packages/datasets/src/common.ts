/**
 * Options every image dataset shares (split, subset, class filter, pixel range,
 * binarisation, flips) and the one function that turns a decoded set plus those options
 * into an `ArrayDataset`. Each adapter spreads `commonOptions` into its own schema, so the
 * options are spelled and defaulted the same everywhere.
 */
import { z } from 'zod';
import { ArrayDataset, type ArraySource, type DataInfo, deriveSeed, permutation, UserError } from '@genlab/core';
import { limitOptions } from './limits.js';

/** Pixel range of the batches: [-1, 1] (tanh generators) or [0, 1] (sigmoid, likelihood models). */
export const rangeSchema = z.union([z.tuple([z.literal(-1), z.literal(1)]), z.tuple([z.literal(0), z.literal(1)])]);

/** Schema fields shared by the image datasets. */
export const commonOptions = {
  /** Which split to read: `train`, `test`, or `all` (both). */
  split: z.enum(['train', 'test', 'all']).default('train'),
  /** Keep only these classes (indices or class names). Labels keep their original values. */
  classes: z.array(z.union([z.number().int().min(0), z.string().min(1)])).min(1).optional(),
  /** Use only this many examples of the selection (a fixed random choice, the same in every run). */
  subset: z.number().int().positive().optional(),
  range: rangeSchema.default([-1, 1]),
  /**
   * `none` keeps grey levels; `threshold` at half intensity; `static`: one fixed Bernoulli
   * draw per image (the same in every run); `stochastic`: a fresh draw every epoch.
   */
  binarize: z.enum(['none', 'threshold', 'static', 'stochastic']).default('none'),
  /** Random horizontal flips (for natural images; digits and letters are not symmetric). */
  flip: z.boolean().default(false),
  /** Limits on decoded data (limits.ts): `maxPixels` per image, `maxBytes` per file and per set. */
  ...limitOptions,
};

const _commonObject = z.object(commonOptions);
export type CommonOptions = z.output<typeof _commonObject>;

/** The subset choice never depends on the run seed: the same N examples everywhere. */
const SUBSET_SEED = 0x5b5e7;
/** Nor does the train/test split. */
const SPLIT_SEED = 20240611;

/**
 * Apply the class filter and the subset to `indices` (positions in the source, sorted).
 * `what` names the dataset in errors.
 */
export function selectIndices(indices: Uint32Array, labels: Int32Array, cfg: Pick<CommonOptions, 'classes' | 'subset'>, info: Pick<DataInfo, 'numClasses' | 'classNames'>, what: string): Uint32Array {
  let out = indices;
  if (cfg.classes) {
    const wanted = new Set(
      cfg.classes.map((c) => {
        if (typeof c === 'number') {
          if (c >= info.numClasses) throw new UserError(`${what}: class ${c} does not exist (dataset.classes); the classes are 0..${info.numClasses - 1}`);
          return c;
        }
        const i = info.classNames?.indexOf(c) ?? -1;
        if (i < 0) {
          const names = info.classNames ? `: ${info.classNames.join(', ')}` : ' (this dataset has no class names; use indices)';
          throw new UserError(`${what}: unknown class '${c}' in dataset.classes. The classes are${names}`);
        }
        return i;
      }),
    );
    out = out.filter((i) => wanted.has(labels[i]!));
  }
  if (cfg.subset !== undefined) {
    if (cfg.subset > out.length) {
      throw new UserError(`${what}: dataset.subset is ${cfg.subset} but the selection has only ${out.length} examples`);
    }
    const perm = permutation(out.length, deriveSeed(SUBSET_SEED, out.length));
    out = Uint32Array.from(perm.subarray(0, cfg.subset), (p) => out[p]!).sort();
  }
  if (out.length === 0) throw new UserError(`${what}: the selection (split, classes, subset) is empty`);
  return out;
}

/**
 * Stratified split: within each class, a fixed-seed permutation puts the first
 * round(n·testFraction) examples in test and the rest in train. Returns sorted indices.
 * The seed is fixed, so train and test are the same sets in every run.
 */
export function stratifiedSplit(labels: Int32Array, testFraction: number, split: 'train' | 'test' | 'all'): Uint32Array {
  if (split === 'all') return Uint32Array.from({ length: labels.length }, (_, i) => i);
  const byClass = new Map<number, number[]>();
  labels.forEach((y, i) => {
    const list = byClass.get(y) ?? [];
    list.push(i);
    byClass.set(y, list);
  });
  const out: number[] = [];
  for (const [y, idx] of [...byClass].sort((a, b) => a[0] - b[0])) {
    const perm = permutation(idx.length, deriveSeed(SPLIT_SEED, y));
    const nTest = Math.round(idx.length * testFraction);
    perm.forEach((p, rank) => {
      if ((rank < nTest) === (split === 'test')) out.push(idx[p]!);
    });
  }
  return Uint32Array.from(out.sort((a, b) => a - b));
}
/**
 * An `ArrayDataset` over a decoded set: `source.pixels` hold intensities (0..255 as
 * `Uint8Array`, or [0, 1] as `Float32Array`), `splitIndices` the chosen split.
 */
export function imageDataset(source: ArraySource, info: Omit<DataInfo, 'size' | 'range'>, splitIndices: Uint32Array, cfg: CommonOptions, what: string): ArrayDataset {
  const indices = selectImages(source.labels, info, splitIndices, cfg, what);
  return new ArrayDataset(source, { ...info, range: cfg.range }, indices, { range: cfg.range, binarize: cfg.binarize, flip: cfg.flip });
}

/**
 * The `info` `imageDataset` gives for these labels and options, without any pixels: what a
 * dataset plugin's `describe` returns (the same checks, the same errors).
 */
export function imageInfo(labels: Int32Array, info: Omit<DataInfo, 'size' | 'range'>, splitIndices: Uint32Array, cfg: CommonOptions, what: string): DataInfo {
  const indices = selectImages(labels, info, splitIndices, cfg, what);
  return { ...info, range: cfg.range, size: indices.length, ...(cfg.binarize !== 'none' ? { binary: true } : {}) };
}

function selectImages(labels: Int32Array, info: Omit<DataInfo, 'size' | 'range'>, splitIndices: Uint32Array, cfg: CommonOptions, what: string): Uint32Array {
  const indices = selectIndices(splitIndices, labels, cfg, info, what);
  if (cfg.flip && info.shape.length !== 3) throw new UserError(`${what}: dataset.flip needs images`);
  return indices;
}

/** Labels of a set stored class by class: `counts[k]` examples of class k, in class order. */
export function labelsByCount(counts: readonly number[]): Int32Array {
  const labels = new Int32Array(counts.reduce((a, b) => a + b, 0));
  let at = 0;
  counts.forEach((n, k) => {
    labels.fill(k, at, at + n);
    at += n;
  });
  return labels;
}

/** 0..n-1. */
export function allIndices(n: number): Uint32Array {
  return Uint32Array.from({ length: n }, (_, i) => i);
}
