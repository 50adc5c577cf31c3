/**
 * `image-folder`: PNG and JPEG files under `dir`, one class per sub-folder (or unlabelled),
 * resized and centre-cropped to `size`, grey or RGB. Decoding and resizing go through
 * `sharp` (libvips, prebuilt from npm): fast, correct colour handling, EXIF orientation.
 *
 * Every image is decoded once, at load, into one `Uint8Array`; so later epochs never decode
 * again. The decoded set is also cached on disk (keyed by the files' names, sizes and
 * modification times and the options), so the next run skips decoding too.
 *
 * Splits: a fixed-seed stratified split holds out `testFraction` of each class as `test`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { type DatasetContext, type DatasetPlugin, UserError, writeFileAtomic } from '@genlab/core';
import { commonOptions, imageDataset, imageInfo, stratifiedSplit } from './common.js';
import { readIdxPair, writeIdxCache } from './idx.js';
import { checkBytes, checkImageSize } from './limits.js';

const EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
/** Bump when the decoding changes, so old caches are not reused. */
const CACHE_VERSION = 1;

const sizeSchema = z.union([z.number().int().positive(), z.tuple([z.number().int().positive(), z.number().int().positive()])]);

const schema = z
  .object({
    /** Root folder of the images (relative to the config file). */
    dir: z.string().min(1),
    /** Output size: `64` or `[height, width]`. Unset: every image must already have the same size. */
    size: sizeSchema.optional(),
    /** `cover`: resize to cover, then centre-crop; `fill`: stretch; `contain`: fit inside, pad with black. */
    fit: z.enum(['cover', 'fill', 'contain']).default('cover'),
    /** 1 for grey, 3 for RGB (alpha is dropped onto black). */
    channels: z.union([z.literal(1), z.literal(3)]).default(3),
    /** `folders`: each sub-folder of `dir` is a class; `none`: unlabelled; `auto`: folders when there are any. */
    labels: z.enum(['auto', 'folders', 'none']).default('auto'),
    /** On a file that does not decode: `fail` (default) or `skip` it and report it. */
    onError: z.enum(['fail', 'skip']).default('fail'),
    /** Share of each class held out as `test` (fixed seed). */
    testFraction: z.number().min(0).lt(1).default(0.1),
    /** Keep the decoded set in the cache folder for the next run. */
    cache: z.boolean().default(true),
    ...commonOptions,
  })
  .strict();
type Options = z.infer<typeof schema>;

interface Listing {
  files: string[];
  labels: number[];
  classNames: string[] | undefined;
}

/** Image files under `root`, sorted, with their class (first-level folder) when labelled. */
export function listImages(root: string, mode: Options['labels']): Listing {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new UserError(`image-folder: dataset.dir ${root} is not a folder`);
  const walk = (dir: string): string[] =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) return walk(p);
        return e.isFile() && EXTENSIONS.has(path.extname(e.name).toLowerCase()) ? [p] : [];
      });
  const files = walk(root);
  if (files.length === 0) throw new UserError(`image-folder: no PNG or JPEG files under ${root}`);
  const top = (f: string) => path.relative(root, f).split(path.sep);
  const useFolders = mode === 'folders' || (mode === 'auto' && files.some((f) => top(f).length > 1));
  if (!useFolders) return { files, labels: files.map(() => 0), classNames: undefined };
  const loose = files.find((f) => top(f).length === 1);
  if (loose) throw new UserError(`image-folder: ${loose} is not inside a class folder; put every image in a sub-folder of ${root} named after its class, or set dataset.labels: none`);
  const classNames = [...new Set(files.map((f) => top(f)[0]!))].sort();
  return { files, labels: files.map((f) => classNames.indexOf(top(f)[0]!)), classNames };
}

interface Decoded {
  pixels: Uint8Array;
  labels: Int32Array;
  shape: [number, number, number];
  classNames: string[] | undefined;
  skipped: string[];
}

/** The upright width and height of `file` from its header, within `maxPixels`; a file whose header does not read is an `Error` (skippable), a limit a `UserError`. */
async function headerSize(file: string, cfg: Options): Promise<{ width: number; height: number }> {
  const meta = await sharp(file).metadata();
  // EXIF orientations 5–8 are quarter turns: decoding (rotate()) swaps width and height.
  const turned = (meta.orientation ?? 1) >= 5;
  const [width, height] = turned ? [meta.height, meta.width] : [meta.width, meta.height];
  checkImageSize(height ?? 0, width ?? 0, `image-folder: ${file}`, cfg);
  return { width: width!, height: height! };
}

async function decodeOne(file: string, cfg: Options): Promise<{ data: Buffer; width: number; height: number }> {
  // Every header has been checked against maxPixels (readHeaders); libvips' own pixel limit
  // is the same number, should a header and the decoder ever disagree.
  let img = sharp(file, { failOn: 'truncated', limitInputPixels: cfg.maxPixels }).rotate().flatten({ background: '#000000' });
  if (cfg.size !== undefined) {
    const [h, w] = outputSize(cfg.size);
    img = img.resize(w, h, { fit: cfg.fit, position: 'centre', background: '#000000' });
  }
  img = cfg.channels === 1 ? img.greyscale() : img.toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== cfg.channels) throw new Error(`decoded to ${info.channels} channels, expected ${cfg.channels}`);
  return { data, width: info.width, height: info.height };
}

/**
 * `read` on every file, four at a time, under one error policy: a limit (a `UserError`) always
 * stops; a file that cannot be read stops with onError: fail, and is left out (and named in
 * `skipped`) with onError: skip. `kept`: the indices read; at least one, or an error.
 */
async function eachFile<T>(listing: Listing, cfg: Options, read: (file: string) => Promise<T>, onRead?: (done: number, n: number) => void): Promise<{ results: (T | undefined)[]; kept: number[]; skipped: string[] }> {
  const n = listing.files.length;
  const results: (T | undefined)[] = new Array(n);
  const skipped: string[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const file = listing.files[i]!;
      try {
        results[i] = await read(file);
      } catch (error) {
        // A limit is not a broken file: onError: skip does not drop images for being large.
        if (error instanceof UserError) throw error;
        const why = (error as Error).message.split('\n')[0];
        if (cfg.onError === 'fail') throw new UserError(`image-folder: cannot decode ${file}: ${why} (set dataset.onError: skip to leave such files out)`);
        skipped.push(`${file} (${why})`);
      }
      onRead?.(++done, n);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const kept = results.map((r, i) => (r ? i : -1)).filter((i) => i >= 0);
  if (kept.length === 0) throw new UserError(`image-folder: none of the ${n} files under ${cfg.dir} could be decoded`);
  return { results, kept, skipped };
}

/** Refuse images of different sizes among the kept ones (naming the first and the odd one). */
function checkSameSize(listing: Listing, kept: number[], sizes: readonly ({ width: number; height: number } | undefined)[]): void {
  const first = sizes[kept[0]!]!;
  for (const i of kept) {
    const r = sizes[i]!;
    if (r.width !== first.width || r.height !== first.height) throw mixedSizes(listing.files[kept[0]!]!, first, listing.files[i]!, r);
  }
}

/** Decode every file (a few at a time), checking sizes agree. */
async function decodeAll(listing: Listing, cfg: Options, ctx: DatasetContext): Promise<Decoded> {
  let lastLog = Date.now();
  const { results, kept, skipped } = await eachFile(listing, cfg, (file) => decodeOne(file, cfg), (done, n) => {
    if (Date.now() - lastLog > 2000) {
      lastLog = Date.now();
      ctx.log(`image-folder: decoded ${done}/${n} images`);
    }
  });
  checkSameSize(listing, kept, results);
  const first = results[kept[0]!]!;
  const rowSize = first.width * first.height * cfg.channels;
  const pixels = new Uint8Array(kept.length * rowSize);
  kept.forEach((i, k) => pixels.set(results[i]!.data, k * rowSize));
  const labels = Int32Array.from(kept, (i) => listing.labels[i]!);
  return { pixels, labels, shape: [first.height, first.width, cfg.channels], classNames: listing.classNames, skipped };
}

/** The decoded set, from the on-disk cache when the files and options are unchanged. */
async function decodedSet(root: string, cfg: Options, ctx: DatasetContext): Promise<Decoded> {
  const listing = listImages(root, cfg.labels);
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify({ v: CACHE_VERSION, size: cfg.size, fit: cfg.fit, channels: cfg.channels, onError: cfg.onError, classNames: listing.classNames }))
    .update(
      listing.files
        .map((f) => {
          const st = fs.statSync(f);
          return `${path.relative(root, f)}\t${st.size}\t${st.mtimeMs}`;
        })
        .join('\n'),
    )
    .digest('hex')
    .slice(0, 20);
  const base = path.join(ctx.cacheDir, 'image-folder', key);
  if (cfg.cache && fs.existsSync(`${base}.json`)) {
    try {
      const meta = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as { classNames?: string[]; skipped: string[] };
      const cached = readIdxPair(`${base}-images.idx`, `${base}-labels.idx`, cfg);
      if (meta.skipped.length) ctx.log(`image-folder: ${meta.skipped.length} files were skipped when this set was decoded: ${meta.skipped.slice(0, 5).join('; ')}`);
      return { ...cached, classNames: meta.classNames, skipped: meta.skipped };
    } catch (error) {
      ctx.log(`image-folder: the decoded cache ${base} is unreadable (${(error as Error).message}); decoding again`);
    }
  }
  // Every header before any pixel: a 16000×16000 image, or a set too large for maxBytes, is
  // refused before decoding starts (and so before a cache could be written).
  const { kept, shape } = await readHeaders(listing, cfg);
  checkSetBytes(kept.length, shape, root, cfg);
  ctx.log(`image-folder: decoding ${listing.files.length} images under ${root}`);
  const set = await decodeAll(listing, cfg, ctx);
  if (set.skipped.length) ctx.log(`image-folder: skipped ${set.skipped.length} files that do not decode: ${set.skipped.slice(0, 5).join('; ')}${set.skipped.length > 5 ? '; …' : ''}`);
  if (cfg.cache && (set.classNames?.length ?? 1) <= 256) {
    writeIdxCache(base, set);
    // The metadata goes last: a cache entry exists only once all three files do.
    writeFileAtomic(`${base}.json`, JSON.stringify({ shape: set.shape, classNames: set.classNames, skipped: set.skipped }));
  }
  return set;
}

/** The `image-folder` dataset plugin. */
export const imageFolder: DatasetPlugin<Options> = {
  name: 'image-folder',
  description: 'PNG/JPEG files under a folder (one class per sub-folder, or unlabelled), resized and centre-cropped, grey or RGB',
  configSchema: schema,
  async load(cfg, ctx) {
    const root = path.resolve(ctx.baseDir, cfg.dir);
    const set = await decodedSet(root, cfg, ctx);
    const numClasses = set.classNames?.length ?? 0;
    return imageDataset({ pixels: set.pixels, labels: set.labels }, { shape: set.shape, numClasses, classNames: set.classNames }, splitOf(set.labels, cfg), cfg, 'image-folder');
  },
  async describe(cfg, ctx) {
    // The file listing gives the labels; every file's header its size (checked against the
    // limits and, without the size option, against each other), as load would find them.
    const root = path.resolve(ctx.baseDir, cfg.dir);
    const listing = listImages(root, cfg.labels);
    const { kept, shape } = await readHeaders(listing, cfg);
    checkSetBytes(kept.length, shape, root, cfg);
    const labels = Int32Array.from(kept, (i) => listing.labels[i]!);
    const numClasses = listing.classNames?.length ?? 0;
    return imageInfo(labels, { shape, numClasses, classNames: listing.classNames }, splitOf(labels, cfg), cfg, 'image-folder');
  },
};

function splitOf(labels: Int32Array, cfg: Options): Uint32Array {
  if (cfg.split === 'test' && cfg.testFraction === 0) throw new UserError('image-folder: dataset.split is test but dataset.testFraction is 0');
  return stratifiedSplit(labels, cfg.testFraction, cfg.testFraction === 0 ? 'all' : cfg.split);
}

/** [height, width] of the `size` option. */
const outputSize = (size: NonNullable<Options['size']>): [number, number] => (typeof size === 'number' ? [size, size] : size);

/** The size option within `maxPixels` (a config error: said before any file is opened). */
function checkSizeOption(cfg: Options): void {
  if (cfg.size !== undefined) checkImageSize(...outputSize(cfg.size), 'image-folder: dataset.size', cfg);
}

/** The decoded set of `n` images of `shape` within `maxBytes`, before anything is decoded. */
function checkSetBytes(n: number, shape: [number, number, number], root: string, cfg: Options): void {
  checkBytes(n * shape[0] * shape[1] * shape[2], `the decoded set (${n} images of ${shape.join('×')})`, `image-folder: ${root}`, cfg);
}

/**
 * Every file's header (four at a time): the indices of the files kept (all, unless
 * onError: skip leaves out a file whose header does not read) and the decoded [H, W, C].
 * Without the size option the images must all have the first one's size.
 */
async function readHeaders(listing: Listing, cfg: Options): Promise<{ kept: number[]; shape: [number, number, number] }> {
  checkSizeOption(cfg);
  const { results: sizes, kept } = await eachFile(listing, cfg, (file) => headerSize(file, cfg));
  const first = sizes[kept[0]!]!;
  if (cfg.size === undefined) checkSameSize(listing, kept, sizes);
  const [h, w] = cfg.size !== undefined ? outputSize(cfg.size) : [first.height, first.width];
  return { kept, shape: [h, w, cfg.channels] };
}

function mixedSizes(a: string, sa: { width: number; height: number }, b: string, sb: { width: number; height: number }): UserError {
  return new UserError(`image-folder: images have different sizes: ${a} is ${sa.width}×${sa.height} but ${b} is ${sb.width}×${sb.height}; set dataset.size to resize them`);
}
