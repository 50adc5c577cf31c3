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
import { z } from 'zod';
import { type ArrayDataset, type DatasetContext, type DatasetPlugin, UserError, writeFileAtomic } from '@genlab/core';
import { allIndices, type CommonOptions, commonOptions, imageDataset } from './common.js';
import { fileOptions, type FileOptions, type FileSpec, locateFiles, readMaybeGzip } from './files.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const TYPE_UBYTE = 0x08;
const TYPE_NAMES: Record<number, string> = { 0x08: 'ubyte', 0x09: 'byte', 0x0b: 'short', 0x0c: 'int', 0x0d: 'float', 0x0e: 'double' };

/** Parse an IDX buffer of unsigned bytes; errors name `file` and the byte offset. */
export function parseIdx(buf: Uint8Array, file: string): IdxArray {
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
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length < header + size) {
    throw new UserError(
      `${file}: truncated: the header (dimensions ${dims.join('×')}) promises ${size} bytes of data from byte offset ${header}, ` +
        `but the file ends at byte offset ${buf.length} (${header + size - buf.length} bytes missing)`,
    );
  }
  if (buf.length > header + size) throw new UserError(`${file}: ${buf.length - header - size} unexpected bytes after the data, from byte offset ${header + size}`);
  return { dims, data: buf.subarray(header, header + size) };
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

/** Read an images file ([N, H, W] or [N, H, W, C]) and its labels file ([N]). */
export function readIdxPair(imagesFile: string, labelsFile: string): IdxSet {
  const images = parseIdx(readMaybeGzip(imagesFile), imagesFile);
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new UserError(`${imagesFile}: expected images with 3 or 4 dimensions (N×H×W[×C]), found ${images.dims.length} (${images.dims.join('×')})`);
  }
  const labels = parseIdx(readMaybeGzip(labelsFile), labelsFile);
  if (labels.dims.length !== 1) throw new UserError(`${labelsFile}: expected labels with 1 dimension, found ${labels.dims.length} (${labels.dims.join('×')})`);
  if (labels.dims[0] !== images.dims[0]) {
    throw new UserError(`${imagesFile} has ${images.dims[0]} images but ${labelsFile} has ${labels.dims[0]} labels: the files do not belong together`);
  }
  const [, h, w, c = 1] = images.dims as [number, number, number, number?];
  return { pixels: images.data, labels: Int32Array.from(labels.data), shape: [h, w, c] };
}

/**
 * A decoded set as a cache: `<base>-images.idx` ([N, H, W] or [N, H, W, C]) and `<base>-labels.idx`,
 * each written atomically; `readIdxPair` reads it back. Labels must fit in a byte.
 */
export function writeIdxCache(base: string, set: Pick<IdxSet, 'pixels' | 'labels' | 'shape'>): void {
  // Single-channel images as [N, H, W], the MNIST convention.
  const [h, w, c] = set.shape;
  writeFileAtomic(`${base}-images.idx`, encodeIdx(c === 1 ? [set.labels.length, h, w] : [set.labels.length, h, w, c], set.pixels));
  writeFileAtomic(`${base}-labels.idx`, encodeIdx([set.labels.length], Uint8Array.from(set.labels)));
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
  const splits = cfg.split === 'all' ? (['train', 'test'] as const) : ([cfg.split] as const);
  const specs = splits.flatMap((s) => [specOf(layout[s].images), specOf(layout[s].labels)]);
  const paths = await locateFiles(specs, cfg, ctx, what);
  const sets = splits.map((_, i) => readIdxPair(paths[2 * i]!, paths[2 * i + 1]!));
  const first = sets[0]!;
  if (sets.length === 2 && sets[1]!.shape.join() !== first.shape.join()) {
    throw new UserError(`${what}: train images are ${first.shape.join('×')} but test images are ${sets[1]!.shape.join('×')}`);
  }
  for (const set of sets) {
    if (layout.transpose) transposeAll(set);
    if (layout.labelOffset) for (let i = 0; i < set.labels.length; i++) set.labels[i]! -= layout.labelOffset;
  }
  // One copy of the pixels: a single split keeps the decoded buffer; `all` joins the two.
  const pixels = sets.length === 1 ? first.pixels : concatBytes(sets.map((s) => s.pixels));
  const labels = sets.length === 1 ? first.labels : Int32Array.from([...first.labels, ...sets[1]!.labels]);
  let maxLabel = 0;
  labels.forEach((y, i) => {
    if (y < 0) throw new UserError(`${what}: label ${y + (layout.labelOffset ?? 0)} of example ${i} is below the first class`);
    maxLabel = Math.max(maxLabel, y);
  });
  const numClasses = layout.classNames?.length ?? maxLabel + 1;
  if (maxLabel >= numClasses) throw new UserError(`${what}: label ${maxLabel} is out of range: this set has ${numClasses} classes`);
  return imageDataset({ pixels, labels }, { shape: first.shape, numClasses, classNames: layout.classNames }, allIndices(labels.length), cfg, what);
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
};
