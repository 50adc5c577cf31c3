/**
 * An in-memory dataset over one flat pixel array, with index views for splits and subsets
 * (so a split never copies pixels) and seeded per-epoch shuffling. Dataset plugins that
 * decode their files into memory return one of these.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Batch, BatchOptions, DataInfo, ImageDataset } from './contracts.js';
import { deriveSeed, permutation, SeedStream } from './rng.js';

/** Pixels and labels of a whole set: `pixels` is [N, ...shape] row-major in `info.range`. */
export interface ArraySource {
  pixels: Float32Array;
  labels: Int32Array;
}

/** An `ImageDataset` over `source`, restricted to `indices` (all examples by default). */
export class ArrayDataset implements ImageDataset {
  readonly info: DataInfo;
  private readonly rowSize: number;
  private readonly indices: Uint32Array;

  constructor(
    private readonly source: ArraySource,
    info: Omit<DataInfo, 'size'>,
    indices?: Uint32Array,
  ) {
    this.rowSize = info.shape.reduce((a, b) => a * b, 1);
    const total = source.labels.length;
    if (source.pixels.length !== total * this.rowSize) {
      throw new Error(`pixel array has ${source.pixels.length} values, expected ${total} × ${this.rowSize}`);
    }
    this.indices = indices ?? Uint32Array.from({ length: total }, (_, i) => i);
    this.info = { ...info, size: this.indices.length };
  }

  batchesPerEpoch(batchSize: number): number {
    return Math.floor(this.indices.length / batchSize);
  }

  /** The epoch's order: a permutation seeded by (seed, epoch), so resume replays it exactly. */
  order(seed: number, epoch: number): Uint32Array {
    return permutation(this.indices.length, deriveSeed(seed, SeedStream.shuffle, epoch));
  }

  /** Copy rows `at` (positions in this view) into a batch. */
  gather(at: ArrayLike<number>): Batch {
    const n = at.length;
    const x = new Float32Array(n * this.rowSize);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const src = this.indices[at[i]!]!;
      x.set(this.source.pixels.subarray(src * this.rowSize, (src + 1) * this.rowSize), i * this.rowSize);
      y[i] = this.source.labels[src]!;
    }
    return { x: tf.tensor(x, [n, ...this.info.shape], 'float32'), y: tf.tensor1d(y, 'int32') };
  }

  async *batches(opts: BatchOptions): AsyncGenerator<Batch> {
    const order = this.order(opts.seed, opts.epoch);
    const count = this.batchesPerEpoch(opts.batchSize);
    for (let b = opts.startBatch; b < count; b++) {
      yield this.gather(order.subarray(b * opts.batchSize, (b + 1) * opts.batchSize));
    }
  }
}
