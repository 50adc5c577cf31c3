import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ArrayDataset } from '@genlab/core';
import { describeDatasetContract } from '@genlab/core/testing';
import { emnist, emnistLayout } from './emnist.js';
import { context, listFiles, messageOf, patterned, serve, tmpDir, writeMnistFolder } from './fixtures.test-util.js';
import { encodeIdx, idx, parseIdx, readIdxPair } from './idx.js';
import { kmnist } from './kmnist.js';
import { mnist } from './mnist.js';

describe('IDX reader', () => {
  it('round-trips encodeIdx and parseIdx', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    const back = parseIdx(encodeIdx([2, 3, 4], data), 'x');
    expect(back.dims).toEqual([2, 3, 4]);
    expect(Array.from(back.data)).toEqual(Array.from(data));
  });

  it('names the file and offset of a wrong magic', async () => {
    const buf = encodeIdx([1, 2, 2], new Uint8Array(4));
    buf[0] = 0x1f;
    expect(await messageOf(() => parseIdx(buf, 'f.idx'))).toBe('f.idx: wrong IDX magic at byte offset 0: 1f 00 08 03 (expected 00 00 08 0N for an unsigned-byte IDX file)');
    const floats = encodeIdx([1], new Uint8Array(1));
    floats[2] = 0x0d;
    expect(await messageOf(() => parseIdx(floats, 'g.idx'))).toContain("g.idx: IDX value type 'float' at byte offset 2 is not supported");
  });

  it('names the file, the offsets and the missing bytes of a truncated file', async () => {
    const buf = encodeIdx([10, 28, 28], new Uint8Array(7840)).subarray(0, 16 + 5000);
    expect(await messageOf(() => parseIdx(buf, 'train-images'))).toBe(
      'train-images: truncated: the header (dimensions 10×28×28) promises 7840 bytes of data from byte offset 16, but the file ends at byte offset 5016 (2840 bytes missing)',
    );
    expect(await messageOf(() => parseIdx(encodeIdx([1, 2, 2], new Uint8Array(4)).subarray(0, 9), 'h'))).toContain('h: truncated IDX header: 3 dimensions need 16 bytes, the file has 9');
    const long = Buffer.concat([encodeIdx([2], new Uint8Array(2)), Buffer.from([1, 2, 3])]);
    expect(await messageOf(() => parseIdx(long, 'l'))).toBe('l: 3 unexpected bytes after the data, from byte offset 10');
  });

  it('refuses images and labels whose counts disagree, naming both files', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'img'), encodeIdx([5, 2, 2], new Uint8Array(20)));
    fs.writeFileSync(path.join(dir, 'lab'), encodeIdx([4], new Uint8Array(4)));
    expect(await messageOf(() => readIdxPair(path.join(dir, 'img'), path.join(dir, 'lab')))).toBe(
      `${path.join(dir, 'img')} has 5 images but ${path.join(dir, 'lab')} has 4 labels: the files do not belong together`,
    );
  });

  it('reads gzip files and names a broken one', async () => {
    const dir = tmpDir();
    const gz = zlib.gzipSync(encodeIdx([3], Uint8Array.from([1, 2, 3])));
    fs.writeFileSync(path.join(dir, 'ok.gz'), gz);
    fs.writeFileSync(path.join(dir, 'imgs.gz'), zlib.gzipSync(encodeIdx([3, 1, 1], Uint8Array.from([9, 8, 7]))));
    const set = readIdxPair(path.join(dir, 'imgs.gz'), path.join(dir, 'ok.gz'));
    expect(Array.from(set.labels)).toEqual([1, 2, 3]);
    fs.writeFileSync(path.join(dir, 'bad.gz'), gz.subarray(0, gz.length - 10));
    expect(await messageOf(() => readIdxPair(path.join(dir, 'imgs.gz'), path.join(dir, 'bad.gz')))).toContain(`${path.join(dir, 'bad.gz')} is not a valid gzip file`);
  });
});

describe('mnist with source: idx', () => {
  const dir = tmpDir();
  writeMnistFolder(path.join(dir, 'mnist'), { nTrain: 30, nTest: 12, gz: true });

  it('needs a folder or URL, said at config time', () => {
    const r = mnist.configSchema.safeParse({ source: 'idx' });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('source: idx needs dataset.dir, a folder with train-images-idx3-ubyte[.gz]');
    expect(mnist.configSchema.safeParse({ dir: './x' }).success).toBe(false);
  });

  it('reads the official split from the folder, pixels exact', async () => {
    const train = (await mnist.load(mnist.configSchema.parse({ source: 'idx', dir: 'mnist', range: [0, 1] }), context(dir))) as ArrayDataset;
    expect(train.info).toMatchObject({ shape: [28, 28, 1], numClasses: 10, size: 30 });
    const expected = patterned(30, 784, 10);
    const b = train.gather([4]);
    expect(Array.from(b.x.dataSync()).map((v) => Math.round(v * 255))).toEqual(Array.from(expected.pixels.subarray(4 * 784, 5 * 784)));
    expect(b.y.dataSync()[0]).toBe(4);
    tf.dispose([b.x, b.y]);
    const test = await mnist.load(mnist.configSchema.parse({ source: 'idx', dir: 'mnist', split: 'test' }), context(dir));
    expect(test.info.size).toBe(12);
    const all = await mnist.load(mnist.configSchema.parse({ source: 'idx', dir: 'mnist', split: 'all' }), context(dir));
    expect(all.info.size).toBe(42);
  });

  it('says exactly which files are missing and where they go', async () => {
    fs.mkdirSync(path.join(dir, 'half'));
    fs.copyFileSync(path.join(dir, 'mnist', 'train-images-idx3-ubyte.gz'), path.join(dir, 'half', 'train-images-idx3-ubyte.gz'));
    expect(await messageOf(mnist.load(mnist.configSchema.parse({ source: 'idx', dir: 'half' }), context(dir)))).toBe(
      `mnist: ${path.join(dir, 'half')} lacks train-labels-idx1-ubyte[.gz]; put train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] in one folder and set dataset.dir to it (relative to the config file) for 'mnist'`,
    );
  });

  it('downloads from a URL once into the cache, checked by SHA-256', async () => {
    const files: Record<string, Uint8Array> = {};
    for (const f of fs.readdirSync(path.join(dir, 'mnist'))) files[`/data/${f}`] = fs.readFileSync(path.join(dir, 'mnist', f));
    const server = await serve(files);
    try {
      const home = tmpDir();
      const ctx = context(home);
      const sha = (name: string) => crypto.createHash('sha256').update(files[`/data/${name}`]!).digest('hex') as string;
      const cfg = { source: 'idx', url: `${server.url}/data/`, sha256: { 'train-images-idx3-ubyte.gz': sha('train-images-idx3-ubyte.gz') } };
      const ds = await mnist.load(mnist.configSchema.parse(cfg), ctx);
      expect(ds.info.size).toBe(30);
      expect(server.requests).toEqual(['/data/train-images-idx3-ubyte.gz', '/data/train-labels-idx1-ubyte.gz']);
      // The label file had no pinned hash: its hash is printed so the user can pin it.
      expect(ctx.lines.join('\n')).toContain(`sha256 of train-labels-idx1-ubyte.gz is ${sha('train-labels-idx1-ubyte.gz')}`);
      await mnist.load(mnist.configSchema.parse(cfg), ctx);
      expect(server.requests.length).toBe(2);
      // A hash pinned after the download: the cached file is checked against it, and a cached
      // file that does not match is fetched again.
      const pinned = { ...cfg, sha256: { ...cfg.sha256, 'train-labels-idx1-ubyte.gz': sha('train-labels-idx1-ubyte.gz') } };
      const labelsFile = fs.readdirSync(path.join(home, 'cache', 'downloads'))[0]!;
      fs.writeFileSync(path.join(home, 'cache', 'downloads', labelsFile, 'train-labels-idx1-ubyte.gz'), 'corrupt');
      expect((await mnist.load(mnist.configSchema.parse(pinned), ctx)).info.size).toBe(30);
      expect(server.requests.length).toBe(3);

      // A wrong checksum: a clear error and nothing left in the cache.
      const other = tmpDir();
      const bad = { ...cfg, sha256: { 'train-images-idx3-ubyte.gz': 'ab'.repeat(32) } };
      const msg = await messageOf(mnist.load(mnist.configSchema.parse(bad), context(other)));
      expect(msg).toContain(`Checksum mismatch for ${server.url}/data/train-images-idx3-ubyte.gz: expected sha256 ${'ab'.repeat(32)}, got ${sha('train-images-idx3-ubyte.gz')}`);
      expect(listFiles(path.join(other, 'cache'))).toEqual([]);

      // A 404 and a typo in sha256 keys.
      expect(await messageOf(mnist.load(mnist.configSchema.parse({ source: 'idx', url: `${server.url}/nothing/` }), context(tmpDir())))).toContain(
        'the server answered HTTP 404',
      );
      expect(await messageOf(mnist.load(mnist.configSchema.parse({ ...cfg, sha256: { 'train-images.gz': 'ab'.repeat(32) } }), context(tmpDir())))).toContain(
        "dataset.sha256 names 'train-images.gz', which is not one of the files",
      );
    } finally {
      await server.close();
    }
    // No network (the server is gone): say which files to put where.
    const msg = await messageOf(mnist.load(mnist.configSchema.parse({ source: 'idx', url: `${server.url}/x/` }), context(tmpDir())));
    expect(msg).toMatch(/^Cannot download http:\/\/127\.0\.0\.1:\d+\/x\/train-images-idx3-ubyte\.gz: ECONNREFUSED\. Without network, put train-images-idx3-ubyte\[\.gz\], train-labels-idx1-ubyte\[\.gz\] in one folder and set dataset\.dir/);
  });
});

describe('EMNIST and KMNIST layouts', () => {
  it('turns EMNIST images upright and shifts letter labels to 0..25', async () => {
    const dir = tmpDir();
    const layout = emnistLayout('letters');
    const img = Uint8Array.from({ length: 2 * 4 }, (_, i) => i); // two 2×2 images
    fs.writeFileSync(path.join(dir, `${layout.train.images}`), encodeIdx([2, 2, 2], img));
    fs.writeFileSync(path.join(dir, `${layout.train.labels}`), encodeIdx([2], Uint8Array.from([1, 26])));
    const ds = (await emnist.load(emnist.configSchema.parse({ variant: 'letters', dir: '.', range: [0, 1] }), context(dir))) as ArrayDataset;
    expect(ds.info.numClasses).toBe(26);
    expect(ds.info.classNames![25]).toBe('z');
    const b = ds.gather([0, 1]);
    expect(Array.from(b.x.dataSync()).map((v) => Math.round(v * 255))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(Array.from(b.y.dataSync())).toEqual([0, 25]);
    tf.dispose([b.x, b.y]);
  });

  it('refuses labels beyond the class list', async () => {
    const dir = tmpDir();
    writeMnistFolder(dir, { nTrain: 12, nTest: 1, numClasses: 12 });
    expect(await messageOf(kmnist.load(kmnist.configSchema.parse({ dir: '.' }), context(dir)))).toBe('kmnist: label 11 is out of range: this set has 10 classes');
  });
});

const fixtures = tmpDir();
writeMnistFolder(path.join(fixtures, 'k'), { nTrain: 40, nTest: 8 });
describeDatasetContract(kmnist, { config: { dir: 'k' }, context: context(fixtures), expect: { shape: [28, 28, 1], numClasses: 10, size: 40, range: [-1, 1] }, describeAlso: [{ dir: 'k', split: 'all', classes: [0, 1], subset: 3 }] });
describeDatasetContract(idx, {
  config: { dir: 'k', split: 'test', classNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] },
  context: context(fixtures),
  expect: { size: 8, numClasses: 10 },
  batchSize: 2,
});
describeDatasetContract(mnist, { config: { source: 'idx', dir: 'k', binarize: 'stochastic', range: [0, 1] }, context: context(fixtures), expect: { size: 40 } });
// Gzipped files: `describe` inflates only the images' header.
writeMnistFolder(path.join(fixtures, 'gz'), { nTrain: 24, nTest: 8, side: 12, gz: true });
describeDatasetContract(idx, { config: { dir: 'gz' }, context: context(fixtures), expect: { shape: [12, 12, 1], size: 24 }, describeAlso: [{ dir: 'gz', split: 'all' }] });
