/**
 * Resource limits through the real CLI: a config too large or an alias bomb, and data files
 * that claim or expand to far more than they are, refused with exit 2 and a message naming
 * the file, by `exp validate` and by `exp run` before any run exists, with no cache left.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeIdx } from '@genlab/datasets';
import { countRuns, expAsync, tiny, write } from './helpers.js';

/** A PNG whose (checksummed) header claims `width`×`height`; its pixel data is a stub. */
function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(16))), chunk('IEND', Buffer.alloc(0))]);
}

describe('resource limits through the CLI', () => {
  let cwd: string;
  let cache: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-limits-'));
    cache = path.join(cwd, 'cache');
  });
  const put = (sub: string, files: Record<string, Uint8Array>) => {
    fs.mkdirSync(path.join(cwd, sub), { recursive: true });
    for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(cwd, sub, name), data);
  };
  const idxFiles = (images: Uint8Array, n: number) => ({ 'train-images-idx3-ubyte.gz': images, 'train-labels-idx1-ubyte.gz': zlib.gzipSync(encodeIdx([n], new Uint8Array(n))) });
  const gzIdx = (dims: number[], bytes: number) => zlib.gzipSync(Buffer.concat([encodeIdx(dims, new Uint8Array(0)), Buffer.alloc(bytes)]), { level: 9 });

  interface Case {
    name: string;
    setup(): { config: string; env?: Record<string, string> };
    says: () => string[];
    /** `exp validate`'s exit: 2, or 0 where only decoding the data can tell (then `exp run` must refuse). */
    validate: 0 | 2;
  }
  const cases: Case[] = [
    {
      name: 'a config over GENLAB_MAX_CONFIG_BYTES',
      setup: () => ({ config: write(cwd, 'big.yaml', tiny()), env: { GENLAB_MAX_CONFIG_BYTES: '100' } }),
      says: () => [`Invalid config ${path.join(cwd, 'big.yaml')}`, 'larger than 100 bytes', 'GENLAB_MAX_CONFIG_BYTES'],
      validate: 2,
    },
    {
      name: 'a YAML alias bomb',
      setup: () => ({
        config: write(cwd, 'bomb.yaml', tiny(['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefg'.split('').map((l, i) => `${l}: &${l} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n'))),
      }),
      says: () => [`Invalid config ${path.join(cwd, 'bomb.yaml')}`, 'aliases (*name) expand past 100 uses'],
      validate: 2,
    },
    {
      name: 'a gzip IDX header claiming 60000×65535×65535',
      setup: () => (put('huge', idxFiles(gzIdx([60000, 65535, 65535], 0), 60000)), { config: write(cwd, 'huge.yaml', tiny('dataset: { name: idx, dir: ./huge }')) }),
      says: () => [path.join(cwd, 'huge', 'train-images-idx3-ubyte.gz'), 'more than dataset.maxBytes'],
      validate: 2,
    },
    {
      name: 'a gzip bomb behind a sound 16×28×28 header',
      setup: () => (put('bomb', idxFiles(gzIdx([16, 28, 28], 20e6), 16)), { config: write(cwd, 'gzbomb.yaml', tiny('dataset: { name: idx, dir: ./bomb }')) }),
      says: () => [path.join(cwd, 'bomb', 'train-images-idx3-ubyte.gz'), 'decompresses to more than the 12560 bytes its IDX header declares'],
      validate: 0,
    },
    {
      name: 'IDX images of height 0',
      setup: () => (put('zero', idxFiles(gzIdx([16, 0, 28], 0), 16)), { config: write(cwd, 'zero.yaml', tiny('dataset: { name: idx, dir: ./zero }')) }),
      says: () => [path.join(cwd, 'zero', 'train-images-idx3-ubyte.gz'), 'dimension 2 of 3 in the IDX header (byte offset 8) is 0'],
      validate: 2,
    },
    {
      name: 'a PNG whose header claims 16000×16000',
      setup: () => (put('png', { 'a.png': pngClaiming(16000, 16000) }), { config: write(cwd, 'png.yaml', tiny('dataset: { name: image-folder, dir: ./png }')) }),
      says: () => [path.join(cwd, 'png', 'a.png'), 'more than dataset.maxPixels (67108864)'],
      validate: 2,
    },
    {
      name: 'an empty image folder',
      setup: () => (put('empty', {}), { config: write(cwd, 'empty.yaml', tiny('dataset: { name: image-folder, dir: ./empty }')) }),
      says: () => [`no PNG or JPEG files under ${path.join(cwd, 'empty')}`],
      validate: 2,
    },
  ];

  it.each(cases)('$name: exit 2 from exp run before a run exists (exp validate: $validate)', async (c) => {
    const { config, env = {} } = c.setup();
    const environment = { ...env, GENLAB_CACHE_DIR: cache };
    const validated = await expAsync(['validate', config, '-q'], cwd, environment);
    expect(validated.code, validated.stderr).toBe(c.validate);
    const ran = await expAsync(['run', config], cwd, environment);
    expect(ran.code, ran.stderr).toBe(2);
    for (const part of c.says()) {
      if (c.validate === 2) expect(validated.stderr).toContain(part);
      expect(ran.stderr).toContain(part);
    }
    expect(ran.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(countRuns(cwd)).toBe(0);
    expect(fs.existsSync(cache) ? fs.readdirSync(cache, { recursive: true }) : []).toEqual([]);
  });
});
