import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ArrayDataset } from '@genlab/core';
import { describeDatasetContract } from '@genlab/core/testing';
import { cifar10 } from './cifar10.js';
import { cifarRecords, context, listFiles, messageOf, serve, tmpDir } from './fixtures.test-util.js';

/** A `cifar-10-batches-bin` folder with `n` records per file. */
function writeCifar(root: string, n: number): string {
  const dir = path.join(root, 'cifar-10-batches-bin');
  fs.mkdirSync(dir, { recursive: true });
  [1, 2, 3, 4, 5].forEach((i) => fs.writeFileSync(path.join(dir, `data_batch_${i}.bin`), cifarRecords(n, 10 * i)));
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), cifarRecords(n, 100));
  fs.writeFileSync(path.join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
  return dir;
}

describe('cifar10', () => {
  const root = tmpDir();
  writeCifar(root, 6);

  it('decodes records into HWC RGB with labels and class names', async () => {
    const ds = (await cifar10.load(cifar10.configSchema.parse({ dir: '.', range: [0, 1] }), context(root))) as ArrayDataset;
    expect(ds.info).toMatchObject({ shape: [32, 32, 3], numClasses: 10, size: 30 });
    expect(ds.info.classNames![1]).toBe('automobile');
    // Example 7 = record 1 of data_batch_2 (offset 20): label 1, red 21, green = pixel % 256, blue 234.
    const b = ds.gather([7]);
    const x = Array.from(b.x.dataSync(), (v) => Math.round(v * 255));
    expect(b.y.dataSync()[0]).toBe(1);
    expect(x.slice(0, 6)).toEqual([21, 0, 234, 21, 1, 234]);
    expect(x.slice(3 * 300, 3 * 300 + 3)).toEqual([21, 300 % 256, 234]);
    tf.dispose([b.x, b.y]);
    const test = await cifar10.load(cifar10.configSchema.parse({ dir: 'cifar-10-batches-bin', split: 'test' }), context(root));
    expect(test.info.size).toBe(6);
  });

  it('names the file and byte offset of a short record and of a bad label', async () => {
    const bad = tmpDir();
    const dir = writeCifar(bad, 3);
    fs.writeFileSync(path.join(dir, 'data_batch_3.bin'), cifarRecords(3).subarray(0, 3 * 3073 - 100));
    expect(await messageOf(cifar10.load(cifar10.configSchema.parse({ dir: '.' }), context(bad)))).toBe(
      `${path.join(dir, 'data_batch_3.bin')}: 9119 bytes is not a whole number of 3073-byte CIFAR-10 records: 2 records, then 2973 stray bytes from byte offset 6146`,
    );
    const labels = cifarRecords(3);
    labels[3073] = 12;
    fs.writeFileSync(path.join(dir, 'data_batch_3.bin'), labels);
    expect(await messageOf(cifar10.load(cifar10.configSchema.parse({ dir: '.' }), context(bad)))).toBe(
      `${path.join(dir, 'data_batch_3.bin')}: record 1 at byte offset 3073 has label 12; CIFAR-10 labels are 0..9`,
    );
    fs.rmSync(path.join(dir, 'test_batch.bin'));
    expect(await messageOf(cifar10.load(cifar10.configSchema.parse({ dir: '.', split: 'test' }), context(bad)))).toContain(`lacks test_batch.bin`);
  });

  it('downloads the archive once, checks it, extracts it into the cache', async () => {
    const src = tmpDir();
    writeCifar(src, 4);
    const archive = path.join(src, 'cifar-10-binary.tar.gz');
    await tar.c({ gzip: true, file: archive, cwd: src }, ['cifar-10-batches-bin']);
    const body = fs.readFileSync(archive);
    const server = await serve({ '/c/cifar-10-binary.tar.gz': body });
    try {
      const home = tmpDir();
      const sha = crypto.createHash('sha256').update(body).digest('hex');
      const cfg = { url: `${server.url}/c/cifar-10-binary.tar.gz`, sha256: { 'cifar-10-binary.tar.gz': sha } };
      expect((await cifar10.load(cifar10.configSchema.parse(cfg), context(home))).info.size).toBe(20);
      expect((await cifar10.load(cifar10.configSchema.parse(cfg), context(home))).info.size).toBe(20);
      expect(server.requests).toHaveLength(1);
      const wrong = tmpDir();
      const msg = await messageOf(cifar10.load(cifar10.configSchema.parse({ ...cfg, sha256: { 'cifar-10-binary.tar.gz': '0'.repeat(64) } }), context(wrong)));
      expect(msg).toContain('Checksum mismatch');
      expect(listFiles(wrong)).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('needs files, said at config time', () => {
    expect(JSON.stringify(cifar10.configSchema.safeParse({}).error?.issues)).toContain('cifar10 needs dataset.dir');
  });
});

const fixtures = tmpDir();
writeCifar(fixtures, 4);
describeDatasetContract(cifar10, { config: { dir: '.', flip: true }, context: context(fixtures), expect: { shape: [32, 32, 3], size: 20 }, describeAlso: [{ dir: '.', split: 'test' }, { dir: '.', split: 'all', classes: [1, 2, 3], range: [0, 1] }] });
