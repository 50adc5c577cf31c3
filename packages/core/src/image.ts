/** Image grids: turn a batch of samples into one PNG (pngjs does the encoding). */
import pngjs from 'pngjs';

const { PNG } = pngjs;

/** Pixels of a batch, read from a tensor with `dataSync()`: [n, h, w, c] row-major. */
export interface ImageBatch {
  data: Float32Array | Uint8Array | number[];
  n: number;
  h: number;
  w: number;
  c: number;
  /** Value range of `data`, mapped to 0..255. */
  range: [number, number];
}

/**
 * Lay a batch out as a grid (`cols` columns, default √n rounded up) with a `pad`-pixel
 * border and encode it as PNG (RGBA, 8 bits). Values are clamped to the range.
 */
export function encodeGrid(batch: ImageBatch, opts: { cols?: number; pad?: number } = {}): Buffer {
  const { n, h, w, c, range } = batch;
  if (c !== 1 && c !== 3) throw new Error(`cannot draw images with ${c} channels (need 1 or 3)`);
  const cols = opts.cols ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const pad = opts.pad ?? 2;
  const W = cols * (w + pad) + pad;
  const H = rows * (h + pad) + pad;
  const png = new PNG({ width: W, height: H });
  png.data.fill(0);
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255; // opaque black background
  const [lo, hi] = range;
  const scale = 255 / (hi - lo);
  for (let k = 0; k < n; k++) {
    const ox = pad + (k % cols) * (w + pad);
    const oy = pad + Math.floor(k / cols) * (h + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((k * h + y) * w + x) * c;
        const dst = ((oy + y) * W + ox + x) * 4;
        for (let ch = 0; ch < 3; ch++) {
          const v = Number(batch.data[src + (c === 1 ? 0 : ch)]);
          png.data[dst + ch] = Math.max(0, Math.min(255, Math.round((v - lo) * scale)));
        }
      }
    }
  }
  return PNG.sync.write(png);
}

/** Decode a PNG (for tests and tools): width, height and RGBA bytes. */
export function decodePng(buf: Buffer): { width: number; height: number; data: Buffer } {
  const png = PNG.sync.read(buf);
  return { width: png.width, height: png.height, data: png.data };
}
