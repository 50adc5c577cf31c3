/**
 * The resource-limit corpus: small files that claim, or decompress to, far more than they
 * are, zero-sized dimensions and empty sets, for every decoder. Each must be refused by
 * `load` (and, where headers and sizes show it, by `describe`, which `exp validate` runs)
 * with a UserError naming the file and the limit or dimension, leaving no cache behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { type DatasetPlugin, UserError } from '@genlab/core';
import { cifar10 } from './cifar10.js';
import { fashionMnist } from './fashion-mnist.js';
import { readMaybeGzip } from './files.js';
import { context, cifarRecords, gzipIdx, listFiles, pngClaiming, tmpDir, writeMnistFolder } from './fixtures.test-util.js';
import { encodeIdx, idx, writeIdxCache } from './idx.js';
import { imageFolder } from './image-folder.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, formatBytes } from './limits.js';
import { mnist } from './mnist.js';

/** A real PNG of `w`×`h`, one colour. */
const png = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: '#808080' } }).png().toBuffer();

/** Write `files` (name → bytes) under `dir/sub` and return that folder. */
function put(dir: string, sub: string, files: Record<string, Uint8Array>): string {
  const root = path.join(dir, sub);
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), data);
  }
  fs.mkdirSync(root, { recursive: true });
  return root;
}

/** An IDX pair named as the `idx` plugin's train split expects. */
const pair = (images: Uint8Array, labels: Uint8Array) => ({ 'train-images-idx3-ubyte': images, 'train-labels-idx1-ubyte': labels });
const gzPair = (images: Uint8Array, labels: Uint8Array) => ({ 'train-images-idx3-ubyte.gz': images, 'train-labels-idx1-ubyte.gz': zlib.gzipSync(labels) });

interface Case {
  name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each case's own options
  plugin: DatasetPlugin<any>;
  /** Write the bad input under `dir`; the dataset options (relative paths are under `dir`). */
  setup(dir: string): Promise<Record<string, unknown>> | Record<string, unknown>;
  /** What the message must contain (`dir` is the case's folder). */
  says(dir: string): string[];
  /** `describe` (exp validate) refuses it too, or (a body that disagrees with a sound header) only load can tell. */
  describe: 'refuses' | 'accepts';
}

const cases: Case[] = [
  {
    name: 'IDX header claiming 60000×65535×65535 in a 16-byte file',
    plugin: idx,
    setup: (dir) => (put(dir, 'd', pair(encodeIdx([60000, 65535, 65535], new Uint8Array(0)), encodeIdx([1], new Uint8Array(1)))), { dir: 'd' }),
    says: (dir) => [path.join(dir, 'd', 'train-images-idx3-ubyte'), 'truncated', 'dimensions 60000×65535×65535'],
    describe: 'refuses',
  },
  {
    name: 'gzip IDX header claiming 60000×65535×65535 (a few dozen bytes)',
    plugin: idx,
    setup: (dir) => (put(dir, 'd', gzPair(gzipIdx([60000, 65535, 65535], 0), encodeIdx([1], new Uint8Array(1)))), { dir: 'd' }),
    says: (dir) => [path.join(dir, 'd', 'train-images-idx3-ubyte.gz'), 'dimensions 60000×65535×65535', 'takes 257690173500000 bytes (234 TiB)', `more than dataset.maxBytes = ${formatBytes(DEFAULT_MAX_BYTES)},`, 'Raise dataset.maxBytes'],
    describe: 'refuses',
  },
  {
    name: 'gzip bomb: a sound 1×28×28 header, then 8 MB of zeros',
    plugin: idx,
    setup: (dir) => (put(dir, 'd', gzPair(gzipIdx([1, 28, 28], 8e6), encodeIdx([1], new Uint8Array(1)))), { dir: 'd' }),
    says: (dir) => [path.join(dir, 'd', 'train-images-idx3-ubyte.gz'), 'decompresses to more than the 800 bytes its IDX header declares (dimensions 1×28×28)', 'decompression stopped there'],
    describe: 'accepts',
  },
  {
    name: 'gzip IDX within its header but over a small dataset.maxBytes',
    plugin: idx,
    setup: (dir) => (put(dir, 'd', gzPair(gzipIdx([10, 28, 28], 7840), encodeIdx([10], new Uint8Array(10)))), { dir: 'd', maxBytes: 5000 }),
    says: (dir) => [path.join(dir, 'd', 'train-images-idx3-ubyte.gz'), 'takes 7840 bytes', 'more than dataset.maxBytes = 5000 bytes (4.88 KiB)'],
    describe: 'refuses',
  },
  {
    name: 'IDX images of height 0',
    plugin: idx,
    setup: (dir) => (put(dir, 'd', pair(encodeIdx([10, 0, 28], new Uint8Array(0)), encodeIdx([10], new Uint8Array(10)))), { dir: 'd' }),
    says: (dir) => [path.join(dir, 'd', 'train-images-idx3-ubyte'), 'dimension 2 of 3 in the IDX header (byte offset 8) is 0 (dimensions 10×0×28)'],
    describe: 'refuses',
  },
  {
    name: 'IDX set of 0 examples (0×28×28 images, 0 labels)',
    plugin: idx,
    setup: (dir) => (put(dir, 'd', pair(encodeIdx([0, 28, 28], new Uint8Array(0)), encodeIdx([0], new Uint8Array(0)))), { dir: 'd' }),
    says: (dir) => [path.join(dir, 'd', 'train-images-idx3-ubyte'), 'dimension 1 of 3 in the IDX header (byte offset 4) is 0'],
    describe: 'refuses',
  },
  {
    name: 'IDX labels file claiming 10⁹ labels',
    plugin: idx,
    setup: (dir) => (put(dir, 'd', gzPair(gzipIdx([2, 2, 2], 8), encodeIdx([1e9], new Uint8Array(0)))), { dir: 'd' }),
    says: (dir) => [path.join(dir, 'd', 'train-labels-idx1-ubyte.gz'), 'has 1000000000 labels'],
    describe: 'refuses',
  },
  {
    name: 'IDX images over dataset.maxPixels',
    plugin: idx,
    setup: (dir) => (put(dir, 'd', pair(encodeIdx([1, 300, 300], new Uint8Array(90000)), encodeIdx([1], new Uint8Array(1)))), { dir: 'd', maxPixels: 10000 }),
    says: (dir) => [path.join(dir, 'd', 'train-images-idx3-ubyte'), 'images of 300×300 = 90000 pixels, more than dataset.maxPixels (10000)', 'Raise dataset.maxPixels'],
    describe: 'refuses',
  },
  {
    name: 'IDX splits each within dataset.maxBytes, joined (split: all) over it',
    plugin: mnist,
    setup: (dir) => (writeMnistFolder(path.join(dir, 'd'), { nTrain: 10, nTest: 10, side: 10 }), { source: 'idx', dir: 'd', split: 'all', maxBytes: 1500 }),
    says: () => ['mnist: the decoded set (train-images-idx3-ubyte + t10k-images-idx3-ubyte) takes 2000 bytes', 'dataset.maxBytes = 1500 bytes (1.46 KiB)'],
    describe: 'refuses',
  },
  {
    name: 'PNG whose header claims 16000×16000 (no size option)',
    plugin: imageFolder,
    setup: async (dir) => (put(dir, 'img', { 'a.png': await png(4, 4), 'b.png': pngClaiming(16000, 16000) }), { dir: 'img' }),
    says: (dir) => [path.join(dir, 'img', 'b.png'), `images of 16000×16000 = 256000000 pixels, more than dataset.maxPixels (${DEFAULT_MAX_PIXELS})`, 'refused before decoding'],
    describe: 'refuses',
  },
  {
    name: 'PNG of 16000×16000 with a size option and onError: skip (a limit is not skipped)',
    plugin: imageFolder,
    setup: async (dir) => (put(dir, 'img', { 'a.png': await png(4, 4), 'b.png': pngClaiming(16000, 16000) }), { dir: 'img', size: 8, onError: 'skip' }),
    says: (dir) => [path.join(dir, 'img', 'b.png'), 'more than dataset.maxPixels'],
    describe: 'refuses',
  },
  {
    name: 'PNG of width 0',
    plugin: imageFolder,
    setup: async (dir) => (put(dir, 'img', { 'a.png': await png(4, 4), 'z.png': pngClaiming(0, 16) }), { dir: 'img' }),
    says: (dir) => [`cannot decode ${path.join(dir, 'img', 'z.png')}`],
    describe: 'refuses',
  },
  {
    name: 'image-folder size option over dataset.maxPixels',
    plugin: imageFolder,
    setup: async (dir) => (put(dir, 'img', { 'a.png': await png(4, 4) }), { dir: 'img', size: [20000, 20000] }),
    says: () => ['image-folder: dataset.size: images of 20000×20000 = 400000000 pixels, more than dataset.maxPixels'],
    describe: 'refuses',
  },
  {
    name: 'image-folder set over dataset.maxBytes',
    plugin: imageFolder,
    setup: async (dir) => (put(dir, 'img', { 'a.png': await png(8, 8), 'b.png': await png(8, 8), 'c.png': await png(8, 8) }), { dir: 'img', maxBytes: 500 }),
    says: (dir) => [`image-folder: ${path.join(dir, 'img')}: the decoded set (3 images of 8×8×3) takes 576 bytes, more than dataset.maxBytes = 500 bytes`],
    describe: 'refuses',
  },
  {
    name: 'empty image folder',
    plugin: imageFolder,
    setup: (dir) => (put(dir, 'img', {}), { dir: 'img' }),
    says: (dir) => [`image-folder: no PNG or JPEG files under ${path.join(dir, 'img')}`],
    describe: 'refuses',
  },
  {
    name: 'image folder of files that are not images',
    plugin: imageFolder,
    setup: (dir) => (put(dir, 'img', { 'notes.txt': Buffer.from('x'), 'a/.hidden.png': Buffer.from('x') }), { dir: 'img' }),
    says: (dir) => [`image-folder: no PNG or JPEG files under ${path.join(dir, 'img')}`],
    describe: 'refuses',
  },
  {
    name: 'empty CIFAR-10 batch file',
    plugin: cifar10,
    setup: (dir) => (put(dir, 'c', { 'test_batch.bin': new Uint8Array(0) }), { dir: 'c', split: 'test' }),
    says: (dir) => [`${path.join(dir, 'c', 'test_batch.bin')}: empty: no CIFAR-10 records`],
    describe: 'refuses',
  },
  {
    name: 'CIFAR-10 set over dataset.maxBytes',
    plugin: cifar10,
    setup: (dir) => (put(dir, 'c', { 'test_batch.bin': cifarRecords(2) }), { dir: 'c', split: 'test', maxBytes: 5000 }),
    says: (dir) => [`cifar10: ${path.join(dir, 'c')}: the decoded set (2 images of 32×32×3) takes 6144 bytes (6 KiB), more than dataset.maxBytes = 5000 bytes (4.88 KiB)`],
    describe: 'refuses',
  },
  {
    name: 'bundled Fashion-MNIST over a small dataset.maxBytes',
    plugin: fashionMnist,
    setup: () => ({ maxBytes: 1e6 }),
    says: () => ['fashion-mnist (bundled): the decoded set (70000 images of 28×28×1) takes 54880000 bytes', 'more than dataset.maxBytes = 1000000 bytes (977 KiB)'],
    describe: 'refuses',
  },
  {
    name: 'bundled MNIST over a small dataset.maxBytes',
    plugin: mnist,
    setup: () => ({ maxBytes: 1e6 }),
    says: () => ['mnist (bundled): the decoded set (10000 images of 28×28×1, as float32) takes 31360000 bytes'],
    describe: 'refuses',
  },
];

async function refusal(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(2);
    return error as UserError;
  }
  throw new Error('expected a refusal');
}

describe('resource limits: every bad input is refused, naming the file and the limit', () => {
  it.each(cases)('$name', async (c) => {
    const dir = tmpDir('genlab-limits-');
    const ctx = context(dir);
    const cfg = c.plugin.configSchema.parse(await c.setup(dir));
    const loaded = await refusal(c.plugin.load(cfg, ctx));
    for (const part of c.says(dir)) expect(loaded.message).toContain(part);
    if (c.describe === 'refuses') expect((await refusal(c.plugin.describe!(cfg, ctx))).message).toBe(loaded.message);
    else await expect(c.plugin.describe!(cfg, ctx)).resolves.toBeDefined();
    // Nothing decoded was written: no cache entry, and no temporary file either.
    expect(listFiles(ctx.cacheDir)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the limits are options with their defaults, and raising one lets the data through', async () => {
    expect(idx.configSchema.parse({ dir: 'd' })).toMatchObject({ maxPixels: DEFAULT_MAX_PIXELS, maxBytes: DEFAULT_MAX_BYTES });
    const dir = tmpDir('genlab-limits-');
    put(dir, 'd', pair(encodeIdx([1, 300, 300], new Uint8Array(90000)), encodeIdx([1], new Uint8Array(1))));
    const ds = await idx.load(idx.configSchema.parse({ dir: 'd', maxPixels: 90000, maxBytes: 90000 }), context(dir));
    expect(ds.info).toMatchObject({ shape: [300, 300, 1], size: 1 });
    await refusal(idx.load(idx.configSchema.parse({ dir: 'd', maxBytes: 89999 }), context(dir)));
  });

  it('a gzip file without a header to check is stopped at dataset.maxBytes', async () => {
    const dir = tmpDir('genlab-limits-');
    const file = path.join(dir, 'x.gz');
    fs.writeFileSync(file, zlib.gzipSync(Buffer.alloc(1e6)));
    expect(readMaybeGzip(file, 1e6).length).toBe(1e6);
    expect(() => readMaybeGzip(file, 1e6 - 1)).toThrow(`${file}: decompresses to more than dataset.maxBytes = 999999 bytes (977 KiB); decompression stopped there`);
  });

  it('a cache write that fails half-way leaves neither file', () => {
    const dir = tmpDir('genlab-limits-');
    const base = path.join(dir, 'cache', 'set');
    // The labels' name is taken by a folder: their rename fails after the images were written.
    fs.mkdirSync(`${base}-labels.idx`, { recursive: true });
    fs.writeFileSync(path.join(`${base}-labels.idx`, 'x'), 'x');
    expect(() => writeIdxCache(base, { pixels: new Uint8Array(8), labels: Int32Array.from([0, 1]), shape: [2, 2, 1] })).toThrow();
    expect(fs.existsSync(`${base}-images.idx`)).toBe(false);
    expect(listFiles(path.join(dir, 'cache')).filter((f) => !f.startsWith('set-labels.idx'))).toEqual([]);
  });
});
