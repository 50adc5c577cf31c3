/**
 * An in-memory dataset over one flat pixel array, with index views for splits, class
 * filters and subsets (so a selection never copies pixels) and seeded per-epoch shuffling.
 * Dataset plugins that decode their files into memory return one of these.
 *
 * Memory: the set is held once, compactly (`Uint8Array` for 8-bit images: 55 MB for the
 * 70,000 Fashion-MNIST images instead of 220 MB as floats), and converted to float32 one
 * batch at a time in `gather`, where the pixel options (range, binarisation, flips) are
 * applied. The whole set is never one tensor.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Batch, BatchOptions, DataInfo, ImageDataset } from './contracts.js';
import { deriveSeed, mulberry32, permutation, SeedStream } from './rng.js';

/**
 * Values and labels of a whole set: `pixels` is [N, ...shape] row-major. Without pixel
 * options the values are used as they are; with them, a `Uint8Array` holds 0..255 and a
 * `Float32Array` holds [0, 1] intensities that are mapped to `PixelOptions.range`.
 */
export interface ArraySource {
  pixels: Float32Array | Uint8Array;
  labels: Int32Array;
}

/** How stored intensities become batch values. */
export interface PixelOptions {
  /** Output range: intensity 0 maps to `range[0]`, full intensity to `range[1]`. */
  range: [number, number];
  /**
   * `none`: grey levels. `threshold`: intensity ≥ 0.5. `static`: one Bernoulli draw per
   * example, fixed for good (the same in every run). `stochastic`: a fresh Bernoulli draw
   * every epoch (seeded by run seed, epoch and example, so resume replays it).
   */
  binarize: 'none' | 'threshold' | 'static' | 'stochastic';
  /** Random horizontal flip with probability 1/2 (seeded like `stochastic`). Images only. */
  flip: boolean;
}

/** Where a gathered batch sits in training; draws for `stochastic`/`flip` depend on it. */
export interface GatherContext {
  seed: number;
  epoch: number;
}

/** The fixed seed behind `static` binarisation: it never depends on the run. */
const STATIC_BINARIZE_SEED = 0x5eed_b17;
const Stream = { binarize: 11, flip: 12 } as const;

/** An `ImageDataset` over `source`, restricted to `indices` (all examples by default). */
export class ArrayDataset implements ImageDataset {
  readonly info: DataInfo;
  private readonly rowSize: number;
  private readonly indices: Uint32Array;

  constructor(
    private readonly source: ArraySource,
    info: Omit<DataInfo, 'size'>,
    indices?: Uint32Array,
    private readonly pixelOptions?: PixelOptions,
  ) {
    this.rowSize = info.shape.reduce((a, b) => a * b, 1);
    const total = source.labels.length;
    if (source.pixels.length !== total * this.rowSize) {
      throw new Error(`pixel array has ${source.pixels.length} values, expected ${total} × ${this.rowSize}`);
    }
    if (pixelOptions?.flip && info.shape.length !== 3) throw new Error(`flip needs images [H, W, C], the data has shape [${info.shape.join(', ')}]`);
    this.indices = indices ?? Uint32Array.from({ length: total }, (_, i) => i);
    for (const i of this.indices) if (i >= total) throw new Error(`index ${i} is outside the ${total} examples`);
    this.info = { ...info, size: this.indices.length, range: pixelOptions?.range ?? info.range };
    if (pixelOptions?.binarize && pixelOptions.binarize !== 'none') this.info.binary = true;
  }

  batchesPerEpoch(batchSize: number): number {
    return Math.floor(this.indices.length / batchSize);
  }

  /** The epoch's order: a permutation seeded by (seed, epoch), so resume replays it exactly. */
  order(seed: number, epoch: number): Uint32Array {
    return permutation(this.indices.length, deriveSeed(seed, SeedStream.shuffle, epoch));
  }

  /** Label of position `i` in this view. */
  label(i: number): number {
    return this.source.labels[this.indices[i]!]!;
  }

  /** Copy rows `at` (positions in this view) into float32 values, pixel options applied. */
  rows(at: ArrayLike<number>, ctx: GatherContext = { seed: 0, epoch: 0 }): { x: Float32Array; y: Int32Array } {
    const n = at.length;
    const size = this.rowSize;
    const x = new Float32Array(n * size);
    const y = new Int32Array(n);
    const { pixels, labels } = this.source;
    const opts = this.pixelOptions;
    const unit = pixels instanceof Uint8Array ? 1 / 255 : 1;
    for (let i = 0; i < n; i++) {
      const src = this.indices[at[i]!]!;
      y[i] = labels[src]!;
      const row = pixels.subarray(src * size, (src + 1) * size);
      const out = x.subarray(i * size, (i + 1) * size);
      if (!opts) {
        out.set(row);
        continue;
      }
      const [lo, hi] = opts.range;
      const span = hi - lo;
      if (opts.binarize === 'none') {
        for (let k = 0; k < size; k++) out[k] = lo + span * row[k]! * unit;
      } else if (opts.binarize === 'threshold') {
        for (let k = 0; k < size; k++) out[k] = row[k]! * unit >= 0.5 ? hi : lo;
      } else {
        // The draw for example `src` depends only on its index in the source (and the epoch
        // for `stochastic`), never on the batch it lands in, so shuffling cannot change it.
        const seed =
          opts.binarize === 'static' ? deriveSeed(STATIC_BINARIZE_SEED, src) : deriveSeed(ctx.seed, Stream.binarize, ctx.epoch, src);
        const rand = mulberry32(seed);
        for (let k = 0; k < size; k++) out[k] = rand() < row[k]! * unit ? hi : lo;
      }
      if (opts.flip && mulberry32(deriveSeed(ctx.seed, Stream.flip, ctx.epoch, src))() < 0.5) flipRow(out, this.info.shape);
    }
    return { x, y };
  }

  /** Rows `at` as a batch of tensors (the caller disposes them). */
  gather(at: ArrayLike<number>, ctx?: GatherContext): Batch {
    const { x, y } = this.rows(at, ctx);
    return { x: tf.tensor(x, [at.length, ...this.info.shape], 'float32'), y: tf.tensor1d(y, 'int32') };
  }

  async *batches(opts: BatchOptions): AsyncGenerator<Batch> {
    const order = this.order(opts.seed, opts.epoch);
    const count = this.batchesPerEpoch(opts.batchSize);
    const ctx = { seed: opts.seed, epoch: opts.epoch };
    for (let b = opts.startBatch; b < count; b++) {
      yield this.gather(order.subarray(b * opts.batchSize, (b + 1) * opts.batchSize), ctx);
    }
  }
}

/** Mirror one [H, W, C] image left to right, in place. */
function flipRow(img: Float32Array, shape: number[]): void {
  const [h, w, c] = shape as [number, number, number];
  for (let r = 0; r < h; r++) {
    for (let a = 0, b = w - 1; a < b; a++, b--) {
      const pa = (r * w + a) * c;
      const pb = (r * w + b) * c;
      for (let k = 0; k < c; k++) {
        const t = img[pa + k]!;
        img[pa + k] = img[pb + k]!;
        img[pb + k] = t;
      }
    }
  }
}
