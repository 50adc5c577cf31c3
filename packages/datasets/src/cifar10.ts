/**
 * `cifar10`: CIFAR-10 (Krizhevsky 2009), 32×32 RGB, ten classes, 50,000/10,000, in its
 * binary format: `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`, each a run
 * of 3,073-byte records (one label byte, then the 1,024 red, 1,024 green and 1,024 blue
 * bytes of the image, row-major), plus `batches.meta.txt` with the class names.
 *
 * From `dir` (the `cifar-10-batches-bin` folder or the folder holding it), or from `url`:
 * either the official archive (`…/cifar-10-binary.tar.gz`, extracted once into the cache
 * with the `tar` package) or a base URL of the `.bin` files.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import * as tar from 'tar';
import { z } from 'zod';
import { type DatasetContext, type DatasetPlugin, ensureDir, UserError } from '@genlab/core';
import { allIndices, commonOptions, imageDataset, imageInfo } from './common.js';
import { download, fileOptions, type FileOptions, type FileSpec, locateFiles, placementHelp, readFile, sha256File } from './files.js';
import { checkBytes, type Limits } from './limits.js';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const RECORD = 1 + 32 * 32 * 3;
const PLANE = 32 * 32;
const TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_FILES = ['test_batch.bin'];

const schema = z
  .object({
    ...commonOptions,
    ...fileOptions,
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.dir === undefined && v.url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['dir'], message: `cifar10 needs dataset.dir (a folder with ${[...TRAIN_FILES, ...TEST_FILES].join(', ')}) or dataset.url` });
    }
  });
type Options = z.infer<typeof schema>;

/**
 * Decode CIFAR-10 records from `buf` into `pixels` (HWC) and `labels` from example `at`.
 * Errors name the file and the byte offset of the bad record.
 */
export function decodeCifarRecords(buf: Uint8Array, file: string, pixels: Uint8Array, labels: Int32Array, at: number): number {
  const n = checkRecords(buf, file);
  if (at + n > labels.length) throw new UserError(`${file}: ${n} records do not fit: expected at most ${labels.length - at}`);
  for (let r = 0; r < n; r++) {
    const off = r * RECORD;
    labels[at + r] = checkLabel(buf[off]!, file, r);
    const out = (at + r) * PLANE * 3;
    for (let p = 0; p < PLANE; p++) {
      pixels[out + 3 * p] = buf[off + 1 + p]!;
      pixels[out + 3 * p + 1] = buf[off + 1 + PLANE + p]!;
      pixels[out + 3 * p + 2] = buf[off + 1 + 2 * PLANE + p]!;
    }
  }
  return n;
}

/** The number of whole records in `buf`; a stray partial record is an error naming its offset. */
function checkRecords(buf: Uint8Array, file: string): number {
  return recordCount(buf.length, file);
}

/** The records in a file of `length` bytes: a whole, non-zero number of them. */
function recordCount(length: number, file: string): number {
  if (length === 0) throw new UserError(`${file}: empty: no CIFAR-10 records (each is ${RECORD} bytes: a label, then the image)`);
  if (length % RECORD !== 0) {
    const whole = Math.floor(length / RECORD);
    throw new UserError(
      `${file}: ${length} bytes is not a whole number of ${RECORD}-byte CIFAR-10 records: ${whole} records, then ${length - whole * RECORD} stray bytes from byte offset ${whole * RECORD}`,
    );
  }
  return length / RECORD;
}

/** The record count of every file from its size, checked, and the decoded set within `maxBytes`, before any file is read. */
function countRecords(files: string[], cfg: Limits): number {
  const total = files.reduce((n, file) => {
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch (error) {
      throw new UserError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return n + recordCount(size, file);
  }, 0);
  checkBytes(total * PLANE * 3, `the decoded set (${total} images of 32×32×3)`, `cifar10: ${path.dirname(files[0]!)}`, cfg);
  return total;
}

function checkLabel(y: number, file: string, r: number): number {
  if (y > 9) throw new UserError(`${file}: record ${r} at byte offset ${r * RECORD} has label ${y}; CIFAR-10 labels are 0..9`);
  return y;
}

/** The folder holding the `.bin` files, from `dir` or the downloaded archive. */
async function binFolder(cfg: FileOptions, ctx: DatasetContext, names: string[]): Promise<string[]> {
  const specs: FileSpec[] = names.map((n) => ({ names: [n, path.join('cifar-10-batches-bin', n)] }));
  if (cfg.url && /\.(tar\.gz|tgz)$/i.test(cfg.url)) {
    const archiveName = path.basename(new URL(cfg.url).pathname);
    const folder = path.join(ctx.cacheDir, 'downloads', crypto.createHash('sha256').update(cfg.url).digest('hex').slice(0, 16));
    const archive = await download(cfg.url, path.join(folder, archiveName), cfg.sha256?.[archiveName], ctx, () => placementHelp(specs, 'cifar10'));
    // Extracted per archive content: a replaced archive is never read through an old extraction.
    const extracted = path.join(folder, `extracted-${(await sha256File(archive)).slice(0, 16)}`);
    if (!fs.existsSync(extracted)) {
      const tmp = `${extracted}.tmp-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      ensureDir(tmp);
      try {
        ctx.log(`cifar10: extracting ${archive}`);
        await tar.x({ file: archive, cwd: tmp });
        fs.renameSync(tmp, extracted);
      } catch (error) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw new UserError(`cifar10: cannot extract ${archive}: ${(error as Error).message}`);
      }
    }
    return locateFiles(specs, { dir: extracted }, ctx, 'cifar10');
  }
  return locateFiles(specs, cfg, ctx, 'cifar10');
}

/** The `cifar10` dataset plugin. */
export const cifar10: DatasetPlugin<Options> = {
  name: 'cifar10',
  description: 'CIFAR-10 (32x32x3, 10 classes, 50,000/10,000) from the binary-format files in dataset.dir or dataset.url',
  configSchema: schema,
  async load(cfg, ctx) {
    const files = await binFolder(cfg, ctx, splitFiles(cfg));
    const total = countRecords(files, cfg);
    const pixels = new Uint8Array(total * PLANE * 3);
    const labels = new Int32Array(total);
    let at = 0;
    for (const file of files) at += decodeCifarRecords(readFile(file, cfg.maxBytes), file, pixels, labels, at);
    return imageDataset({ pixels, labels }, { shape: [32, 32, 3], numClasses: 10, classNames: classNames(files) }, allIndices(total), cfg, 'cifar10');
  },
  async describe(cfg, ctx) {
    // The label byte of every record (each file checked as load checks it), no pixels decoded.
    const files = await binFolder(cfg, ctx, splitFiles(cfg));
    countRecords(files, cfg);
    const parts = files.map((file) => {
      const buf = readFile(file, cfg.maxBytes);
      const n = checkRecords(buf, file);
      const labels = new Int32Array(n);
      for (let r = 0; r < n; r++) labels[r] = checkLabel(buf[r * RECORD]!, file, r);
      return labels;
    });
    const labels = Int32Array.from(parts.flatMap((p) => Array.from(p)));
    return imageInfo(labels, { shape: [32, 32, 3], numClasses: 10, classNames: classNames(files) }, allIndices(labels.length), cfg, 'cifar10');
  },
};

function splitFiles(cfg: Options): string[] {
  return cfg.split === 'train' ? TRAIN_FILES : cfg.split === 'test' ? TEST_FILES : [...TRAIN_FILES, ...TEST_FILES];
}

/** The class names from `batches.meta.txt` beside the files, or the standard ones. */
function classNames(files: string[]): string[] {
  const meta = path.join(path.dirname(files[0]!), 'batches.meta.txt');
  const names = fs.existsSync(meta)
    ? fs
        .readFileSync(meta, 'utf8')
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean)
    : CIFAR10_CLASSES;
  if (names.length !== 10) throw new UserError(`${meta}: expected 10 class names, found ${names.length}`);
  return names;
}
