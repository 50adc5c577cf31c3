import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ArrayDataset } from '@genlab/core';
import { describeDatasetContract } from '@genlab/core/testing';
import { context, listFiles, messageOf, tmpDir } from './fixtures.test-util.js';
import { imageFolder } from './image-folder.js';

/** A w×h image in three vertical stripes: red | green | blue. */
async function stripes(file: string, w: number, h: number, format: 'png' | 'jpeg'): Promise<void> {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw[(y * w + x) * 3 + Math.min(2, Math.floor((3 * x) / w))] = 255;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
  await (format === 'png' ? img.png() : img.jpeg({ quality: 95 })).toFile(file);
}

/** A flat image of one grey level. */
async function flat(file: string, w: number, h: number, level: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.alloc(w * h, level), { raw: { width: w, height: h, channels: 1 } })
    .png()
    .toFile(file);
}

async function classFolder(root: string): Promise<void> {
  for (let i = 0; i < 6; i++) await stripes(path.join(root, 'stripes', `s${i}.${i % 2 ? 'jpg' : 'png'}`), 60, 20, i % 2 ? 'jpeg' : 'png');
  for (let i = 0; i < 4; i++) await flat(path.join(root, 'grey', `g${i}.png`), 16 + i, 16, 100);
}

const load = (cfg: object, root: string, ctx = context(root)) => imageFolder.load(imageFolder.configSchema.parse(cfg), ctx) as Promise<ArrayDataset>;

describe('image-folder', () => {
  it('labels by sub-folder, resizes and centre-crops, RGB', async () => {
    const root = tmpDir();
    await classFolder(root);
    const ds = await load({ dir: '.', size: 6, split: 'all', range: [0, 1] }, root);
    expect(ds.info).toMatchObject({ shape: [6, 6, 3], numClasses: 2, classNames: ['grey', 'stripes'], size: 10 });
    // A stripes image (index 4 after the 4 greys): 60×20 covers 18×6, the middle 6×6 is the green stripe.
    const b = ds.gather([4, 0]);
    const x = Array.from(b.x.dataSync(), (v) => Math.round(v * 255));
    const pixel = (n: number, p: number) => x.slice(n * 108 + 3 * p, n * 108 + 3 * p + 3);
    for (let p = 0; p < 36; p++) {
      const [r, g, bl] = pixel(0, p);
      expect(g).toBeGreaterThan(200); // Lanczos resampling rings a little near the stripe edges
      expect(r! + bl!).toBeLessThan(60);
      expect(pixel(1, p)).toEqual([100, 100, 100]);
    }
    expect(Array.from(b.y.dataSync())).toEqual([1, 0]);
    tf.dispose([b.x, b.y]);
  });

  it('stretches with fit: fill, greys with channels: 1, and splits by class', async () => {
    const root = tmpDir();
    await classFolder(root);
    const fill = await load({ dir: '.', size: [4, 12], fit: 'fill', channels: 1, split: 'all', range: [0, 1] }, root);
    expect(fill.info.shape).toEqual([4, 12, 1]);
    const row = Array.from(fill.rows([4]).x.subarray(0, 12), (v) => Math.round(v * 255));
    // Stretched: the red stripe on the left survives (sRGB luma of red ≈ 54 in libvips).
    expect(row[0]).toBeLessThan(row[5]!);
    const train = await load({ dir: '.', size: 4, testFraction: 0.5 }, root);
    const test = await load({ dir: '.', size: 4, testFraction: 0.5, split: 'test' }, root);
    expect(train.info.size + test.info.size).toBe(10);
    expect(test.info.size).toBe(5);
  });

  it('decodes once: the second load reads the cache; changed files invalidate it', async () => {
    const root = tmpDir();
    await classFolder(root);
    const ctx = context(root);
    await load({ dir: '.', size: 8 }, root, ctx);
    await load({ dir: '.', size: 8 }, root, ctx);
    expect(ctx.lines.filter((l) => l.startsWith('image-folder: decoding'))).toHaveLength(1);
    await flat(path.join(root, 'grey', 'g9.png'), 16, 16, 50);
    const grown = await load({ dir: '.', size: 8, split: 'all' }, root, ctx);
    expect(grown.info.size).toBe(11);
    expect(ctx.lines.filter((l) => l.startsWith('image-folder: decoding'))).toHaveLength(2);
  });

  it('names an undecodable file, or skips and reports it by option, leaving no partial cache', async () => {
    const root = tmpDir();
    await classFolder(root);
    fs.writeFileSync(path.join(root, 'grey', 'broken.png'), Buffer.from('this is not a png'));
    const jpeg = fs.readFileSync(path.join(root, 'stripes', 's1.jpg'));
    fs.writeFileSync(path.join(root, 'stripes', 'cut.jpg'), jpeg.subarray(0, jpeg.length >> 1));
    const ctx = context(root);
    expect(await messageOf(load({ dir: '.', size: 8 }, root, ctx))).toMatch(
      new RegExp(`^image-folder: cannot decode ${path.join(root, 'grey', 'broken.png').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .+ \\(set dataset.onError: skip`),
    );
    expect(listFiles(ctx.cacheDir)).toEqual([]);
    const skipped = await load({ dir: '.', size: 8, onError: 'skip', split: 'all' }, root, ctx);
    expect(skipped.info.size).toBe(10);
    expect(ctx.lines.join('\n')).toContain(`skipped 2 files that do not decode: ${path.join(root, 'grey', 'broken.png')}`);
    expect(ctx.lines.join('\n')).toContain(path.join(root, 'stripes', 'cut.jpg'));
  });

  it('refuses an empty folder, mixed sizes without resize, and loose files among class folders', async () => {
    const empty = tmpDir();
    fs.mkdirSync(path.join(empty, 'a'));
    fs.writeFileSync(path.join(empty, 'a', 'notes.txt'), 'hi');
    expect(await messageOf(load({ dir: '.' }, empty))).toBe(`image-folder: no PNG or JPEG files under ${empty}`);
    const mixed = tmpDir();
    await classFolder(mixed);
    expect(await messageOf(load({ dir: '.' }, mixed))).toMatch(/^image-folder: images have different sizes: .*g0\.png is 16×16 but .*g1\.png is 17×16; set dataset\.size to resize them$/);
    const loose = tmpDir();
    await classFolder(loose);
    await flat(path.join(loose, 'x.png'), 16, 16, 1);
    expect(await messageOf(load({ dir: '.', size: 4, labels: 'folders' }, loose))).toContain(`${path.join(loose, 'x.png')} is not inside a class folder`);
    expect(await messageOf(load({ dir: 'nope' }, loose))).toBe(`image-folder: dataset.dir ${path.join(loose, 'nope')} is not a folder`);
  });

  it('reads an unlabelled folder of same-size images without resizing', async () => {
    const root = tmpDir();
    for (let i = 0; i < 5; i++) await flat(path.join(root, `f${i}.png`), 5, 3, 20 * i);
    const ds = await load({ dir: '.', split: 'all', channels: 1, range: [0, 1] }, root);
    expect(ds.info).toMatchObject({ shape: [3, 5, 1], numClasses: 0, size: 5 });
    expect(Math.round(ds.rows([3]).x[0]! * 255)).toBe(60);
  });
});

const fixtures = tmpDir();
await classFolder(fixtures);
describeDatasetContract(imageFolder, {
  config: { dir: '.', size: 8, split: 'all', flip: true },
  context: context(fixtures),
  expect: { shape: [8, 8, 3], size: 10, numClasses: 2 },
  batchSize: 2,
  describeAlso: [{ dir: '.', size: [6, 4], channels: 1, testFraction: 0.5, split: 'test' }],
});
