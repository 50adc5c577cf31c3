/**
 * The IDX format of MNIST and its relatives (Fashion-MNIST, KMNIST, EMNIST): a 4-byte
 * magic (two zero bytes, a type code, the number of dimensions), one big-endian uint32 per
 * dimension, then the values. Only unsigned bytes (type 0x08) are used by image sets.
 *
 * Written by hand: the format is a dozen lines, and the npm IDX readers are unmaintained
 * and do not report where a file is broken. Files may be gzip-compressed.
 *
 * This file also holds `idxDataset`, the loader behind every IDX-based plugin (`mnist`
 * and `fashion-mnist` with `source: idx`, `kmnist`, `emnist`, and the generic `idx`).
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { z } from 'zod';
import { type ArrayDataset, type DataInfo, type DatasetContext, type DatasetPlugin, UserError, writeFileAtomic } from '@genlab/core';
import { allIndices, type CommonOptions, commonOptions, imageDataset, imageInfo } from './common.js';
import { fileOptions, type FileOptions, type FileSpec, locateFiles, readMaybeGzip } from './files.js';
import { checkBytes, checkImageSize, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, type Limits } from './limits.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const TYPE_UBYTE = 0x08;
/** The limits of a read outside a dataset's options (e.g. a test reading one file). */
const DEFAULTS: Limits = { maxPixels: DEFAULT_MAX_PIXELS, maxBytes: DEFAULT_MAX_BYTES };
const TYPE_NAMES: Record<number, string> = { 0x08: 'ubyte', 0x09: 'byte', 0x0b: 'short', 0x0c: 'int', 0x0d: 'float', 0x0e: 'double' };

/** The header of an IDX buffer of unsigned bytes: its dimensions and where the data starts; errors name `file` and the byte offset. */
function parseIdxHeader(buf: Uint8Array, file: string): { dims: number[]; header: number } {
  if (buf.length < 4) throw new UserError(`${file}: not an IDX file: only ${buf.length} bytes (an IDX header has at least 4)`);
  if (buf[0] !== 0 || buf[1] !== 0 || !(buf[2]! in TYPE_NAMES) || buf[3] === 0) {
    const hex = Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new UserError(`${file}: wrong IDX magic at byte offset 0: ${hex} (expected 00 00 08 0N for an unsigned-byte IDX file)`);
  }
  if (buf[2] !== TYPE_UBYTE) throw new UserError(`${file}: IDX value type '${TYPE_NAMES[buf[2]!]}' at byte offset 2 is not supported; image sets use 'ubyte' (08)`);
  const ndims = buf[3]!;
  const header = 4 + 4 * ndims;
  if (buf.length < header) throw new UserError(`${file}: truncated IDX header: ${ndims} dimensions need ${header} bytes, the file has ${buf.length}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const zero = dims.indexOf(0);
  if (zero >= 0) {
    throw new UserError(`${file}: dimension ${zero + 1} of ${ndims} in the IDX header (byte offset ${4 + 4 * zero}) is 0 (dimensions ${dims.join('×')}): the file holds no data to train on`);
  }
  return { dims, header };
}

/** The bytes of data an IDX header declares, refused above `maxBytes` before anything is allocated. */
function declaredBytes(dims: number[], file: string, limits: Pick<Limits, 'maxBytes'>): number {
  const size = dims.reduce((a, b) => a * b, 1);
  checkBytes(size, `the data its IDX header declares (dimensions ${dims.join('×')})`, file, limits);
  return size;
}

/** Check that `length` bytes hold exactly the data the header promises. */
function checkIdxLength(dims: number[], header: number, length: number, file: string): number {
  const size = dims.reduce((a, b) => a * b, 1);
  if (length < header + size) {
    throw new UserError(
      `${file}: truncated: the header (dimensions ${dims.join('×')}) promises ${size} bytes of data from byte offset ${header}, ` +
        `but the file ends at byte offset ${length} (${header + size - length} bytes missing)`,
    );
  }
  if (length > header + size) throw new UserError(`${file}: ${length - header - size} unexpected bytes after the data, from byte offset ${header + size}`);
  return size;
}

/** Parse an IDX buffer of unsigned bytes; errors name `file` and the byte offset. */
export function parseIdx(buf: Uint8Array, file: string): IdxArray {
  const { dims, header } = parseIdxHeader(buf, file);
  const size = checkIdxLength(dims, header, buf.length, file);
  return { dims, data: buf.subarray(header, header + size) };
}

/**
 * The header of an IDX file, read alone: a gzip file has only its first bytes inflated (a
 * compressed head of 1 KiB, doubled while it does not yet hold the header, so a gzip bomb
 * yields at most about a thousand times that); an uncompressed one also has its length
 * checked against the header. Dimensions of 0 and data over `maxBytes` are refused here.
 */
function readIdxHead(file: string, limits: Pick<Limits, 'maxBytes'>): { dims: number[]; header: number } {
  let raw: Buffer;
  let length: number | undefined;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      raw = Buffer.alloc(64 * 1024);
      raw = raw.subarray(0, fs.readSync(fd, raw, 0, raw.length, 0));
      if (!isGzip(raw)) length = fs.fstatSync(fd).size;
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    throw new UserError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let head = raw;
  if (length === undefined) {
    for (let n = 1024; ; n *= 2) {
      try {
        head = zlib.gunzipSync(raw.subarray(0, n), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch (error) {
        throw new UserError(`${file} is not a valid gzip file: ${(error as Error).message}`);
      }
      // The magic says how long the header is (4 bytes per dimension).
      if (n >= raw.length || (head.length >= 4 && head.length >= 4 + 4 * head[3]!)) break;
    }
  }
  const { dims, header } = parseIdxHeader(head, file);
  // A wrong length is a broken file, whatever its size: said first.
  if (length !== undefined) checkIdxLength(dims, header, length, file);
  declaredBytes(dims, file, limits);
  return { dims, header };
}

const isGzip = (buf: Uint8Array) => buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;

/** The dimensions of an IDX file from its header alone (see `readIdxHead`). */
export function readIdxDims(file: string, limits: Pick<Limits, 'maxBytes'> = DEFAULTS): number[] {
  return readIdxHead(file, limits).dims;
}

/**
 * Read an IDX file of unsigned bytes: its header first, so that nothing is allocated for
 * data that is over `maxBytes` or for a file that is not as long as it says; a gzip file is
 * inflated no further than its header declares.
 */
export function readIdx(file: string, limits: Pick<Limits, 'maxBytes'> = DEFAULTS): IdxArray {
  const { dims, header } = readIdxHead(file, limits);
  const bytes = header + dims.reduce((a, b) => a * b, 1);
  return parseIdx(readMaybeGzip(file, limits.maxBytes, { bytes, what: `the ${bytes} bytes its IDX header declares (dimensions ${dims.join('×')})` }), file);
}

/** Encode an IDX file of unsigned bytes (used for the decoded caches). */
export function encodeIdx(dims: number[], data: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + 4 * dims.length + data.length);
  out[2] = TYPE_UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Images and labels of one IDX pair, checked against each other. */
export interface IdxSet {
  pixels: Uint8Array;
  labels: Int32Array;
  /** [H, W, C] */
  shape: [number, number, number];
}

/** Read an images file ([N, H, W] or [N, H, W, C]) and its labels file ([N]), within `limits`. */
export function readIdxPair(imagesFile: string, labelsFile: string, limits: Limits = DEFAULTS): IdxSet {
  // The images' header is checked (shape, pixels per image) before their data is read.
  const dims = readIdxDims(imagesFile, limits);
  checkImageDims(dims, imagesFile, limits);
  const { labels, shape } = checkPair(dims, imagesFile, labelsFile, limits);
  return { pixels: readIdx(imagesFile, limits).data, labels, shape };
}

/** Images of 3 or 4 dimensions, each image within `maxPixels`. */
function checkImageDims(dims: number[], imagesFile: string, limits: Pick<Limits, 'maxPixels'>): void {
  if (dims.length !== 3 && dims.length !== 4) {
    throw new UserError(`${imagesFile}: expected images with 3 or 4 dimensions (N×H×W[×C]), found ${dims.length} (${dims.join('×')})`);
  }
  checkImageSize(dims[1]!, dims[2]!, imagesFile, limits);
}

/** The labels of a pair and the images' [H, W, C], checked against the images' dimensions. */
function checkPair(dims: number[], imagesFile: string, labelsFile: string, limits: Limits): { labels: Int32Array; shape: [number, number, number] } {
  // The labels' header too, before their data: a labels file claiming 10⁹ labels is refused unread.
  const labelDims = readIdxDims(labelsFile, limits);
  if (labelDims.length !== 1) throw new UserError(`${labelsFile}: expected labels with 1 dimension, found ${labelDims.length} (${labelDims.join('×')})`);
  if (labelDims[0] !== dims[0]) {
    throw new UserError(`${imagesFile} has ${dims[0]} images but ${labelsFile} has ${labelDims[0]} labels: the files do not belong together`);
  }
  const labels = readIdx(labelsFile, limits);
  const [, h, w, c = 1] = dims as [number, number, number, number?];
  return { labels: Int32Array.from(labels.data), shape: [h, w, c] };
}

/**
 * A decoded set as a cache: `<base>-images.idx` ([N, H, W] or [N, H, W, C]) and `<base>-labels.idx`,
 * each written atomically; `readIdxPair` reads it back. Labels must fit in a byte.
 */
export function writeIdxCache(base: string, set: Pick<IdxSet, 'pixels' | 'labels' | 'shape'>): void {
  // Single-channel images as [N, H, W], the MNIST convention.
  const [h, w, c] = set.shape;
  const images = `${base}-images.idx`;
  writeFileAtomic(images, encodeIdx(c === 1 ? [set.labels.length, h, w] : [set.labels.length, h, w, c], set.pixels));
  try {
    writeFileAtomic(`${base}-labels.idx`, encodeIdx([set.labels.length], Uint8Array.from(set.labels)));
  } catch (error) {
    // Not half a cache: images without their labels would never be read, only take the space.
    fs.rmSync(images, { force: true });
    throw error;
  }
}

/** Transpose every [H, W] image of a single-channel set in place (EMNIST stores images transposed). */
function transposeAll(set: IdxSet): void {
  const [h, w, c] = set.shape;
  if (h !== w || c !== 1) throw new UserError(`transpose needs square single-channel images, these are ${h}×${w}×${c}`);
  const px = set.pixels;
  for (let base = 0; base < px.length; base += h * w) {
    for (let r = 0; r < h; r++) {
      for (let k = r + 1; k < w; k++) {
        const a = base + r * w + k;
        const b = base + k * w + r;
        const t = px[a]!;
        px[a] = px[b]!;
        px[b] = t;
      }
    }
  }
}

/** How one IDX set is laid out: file names per split, classes, fixes. */
export interface IdxLayout {
  /** Base names without `.gz` (either form is accepted in a folder; `.gz` is downloaded). */
  train: { images: string; labels: string };
  test: { images: string; labels: string };
  classNames?: string[];
  /** Images are stored transposed (EMNIST). */
  transpose?: boolean;
  /** Subtract this from every label (EMNIST letters are labelled 1..26). */
  labelOffset?: number;
}

const specOf = (name: string): FileSpec => ({ names: [`${name}.gz`, name] });

/** Load the chosen split(s) of an IDX set and apply the common options. */
export async function idxDataset(layout: IdxLayout, cfg: CommonOptions & FileOptions, ctx: DatasetContext, what: string): Promise<ArrayDataset> {
  const paths = await idxFiles(layout, cfg, ctx, what);
  // Every header first: the joined set must fit in maxBytes before any file is read whole.
  checkJoined(paths, cfg, what);
  const sets = paths.map(([images, labels]) => readIdxPair(images, labels, cfg));
  for (const set of sets) if (layout.transpose) transposeAll(set);
  // One copy of the pixels: a single split keeps the decoded buffer; `all` joins the two.
  const pixels = sets.length === 1 ? sets[0]!.pixels : concatBytes(sets.map((s) => s.pixels));
  const { labels, info } = idxLabels(sets, layout, what);
  return imageDataset({ pixels, labels }, info, allIndices(labels.length), cfg, what);
}

/** What `idxDataset` would give as `info`, from the label files and the images' headers. */
export async function idxInfo(layout: IdxLayout, cfg: CommonOptions & FileOptions, ctx: DatasetContext, what: string): Promise<DataInfo> {
  const paths = await idxFiles(layout, cfg, ctx, what);
  checkJoined(paths, cfg, what);
  const sets = paths.map(([images, labels]) => checkPair(readIdxDims(images, cfg), images, labels, cfg));
  const [h, w, c] = sets[0]!.shape;
  if (layout.transpose && (h !== w || c !== 1)) throw new UserError(`transpose needs square single-channel images, these are ${h}×${w}×${c}`);
  const { labels, info } = idxLabels(sets, layout, what);
  return imageInfo(labels, info, allIndices(labels.length), cfg, what);
}

/** The images' headers of the chosen split(s): each file within the limits, and the joined pixels within `maxBytes`. */
function checkJoined(paths: [string, string][], limits: Limits, what: string): void {
  let total = 0;
  for (const [images] of paths) {
    const dims = readIdxDims(images, limits);
    checkImageDims(dims, images, limits);
    total += dims.reduce((a, b) => a * b, 1);
  }
  if (paths.length > 1) checkBytes(total, `the decoded set (${paths.map(([f]) => path.basename(f)).join(' + ')})`, what, limits);
}

/** The [images, labels] files of the chosen split(s), found in `dir` or downloaded. */
async function idxFiles(layout: IdxLayout, cfg: CommonOptions & FileOptions, ctx: DatasetContext, what: string): Promise<[string, string][]> {
  const splits = cfg.split === 'all' ? (['train', 'test'] as const) : ([cfg.split] as const);
  const paths = await locateFiles(
    splits.flatMap((s) => [specOf(layout[s].images), specOf(layout[s].labels)]),
    cfg,
    ctx,
    what,
  );
  return splits.map((_, i) => [paths[2 * i]!, paths[2 * i + 1]!]);
}

/** The joined labels of the split(s) (offset applied, checked) and the set's info; the splits' shapes must agree. */
function idxLabels(sets: { labels: Int32Array; shape: [number, number, number] }[], layout: IdxLayout, what: string): { labels: Int32Array; info: Omit<DataInfo, 'size' | 'range'> } {
  const first = sets[0]!;
  if (sets.length === 2 && sets[1]!.shape.join() !== first.shape.join()) {
    throw new UserError(`${what}: train images are ${first.shape.join('×')} but test images are ${sets[1]!.shape.join('×')}`);
  }
  const labels = sets.length === 1 ? Int32Array.from(first.labels) : Int32Array.from([...first.labels, ...sets[1]!.labels]);
  if (layout.labelOffset) for (let i = 0; i < labels.length; i++) labels[i]! -= layout.labelOffset;
  let maxLabel = 0;
  labels.forEach((y, i) => {
    if (y < 0) throw new UserError(`${what}: label ${y + (layout.labelOffset ?? 0)} of example ${i} is below the first class`);
    maxLabel = Math.max(maxLabel, y);
  });
  const numClasses = layout.classNames?.length ?? maxLabel + 1;
  if (maxLabel >= numClasses) throw new UserError(`${what}: label ${maxLabel} is out of range: this set has ${numClasses} classes`);
  return { labels, info: { shape: first.shape, numClasses, classNames: layout.classNames } };
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The standard MNIST file names, shared by MNIST, Fashion-MNIST and KMNIST. */
export const MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

const idxSchema = z
  .object({
    ...commonOptions,
    ...fileOptions,
    /** File names (without `.gz`) of each split. Default: the MNIST names. */
    files: z
      .object({
        train: z.object({ images: z.string().min(1), labels: z.string().min(1) }).strict(),
        test: z.object({ images: z.string().min(1), labels: z.string().min(1) }).strict(),
      })
      .strict()
      .default(MNIST_FILES),
    /** Class names in label order (sets the number of classes). */
    classNames: z.array(z.string().min(1)).min(1).optional(),
    /** Images are stored transposed (as in EMNIST). */
    transpose: z.boolean().default(false),
  })
  .strict();
type IdxOptions = z.output<typeof idxSchema>;

/** `idx`: any set of IDX files, by file names. */
export const idx: DatasetPlugin<IdxOptions> = {
  name: 'idx',
  description: 'Any MNIST-style IDX image set from a folder or URL (file names configurable)',
  configSchema: idxSchema,
  load: (cfg, ctx) => idxDataset({ ...cfg.files, classNames: cfg.classNames, transpose: cfg.transpose }, cfg, ctx, 'idx'),
  describe: (cfg, ctx) => idxInfo({ ...cfg.files, classNames: cfg.classNames, transpose: cfg.transpose }, cfg, ctx, 'idx'),
};
