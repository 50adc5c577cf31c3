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

/** 2-D points to plot: [n, 2] row-major. */
export interface ScatterPlot {
  points: Float32Array | number[];
  /** Axis range shown on both axes. */
  range: [number, number];
  /** Optional reference points drawn underneath in grey (e.g. real data). */
  reference?: Float32Array | number[];
  /** Optional mode centres, drawn as red crosses. */
  centres?: number[][];
  /** Margin around `range`, as a share of its width (default 0.1). */
  pad?: number;
}

/**
 * A square PNG scatter plot of 2-D points (blue) over optional reference points (grey) and
 * centres (red crosses), for toy 2-D data. Drawn by hand: a few dozen lines of raster code
 * are lighter than a plotting stack (canvas, vega) that would need native builds.
 */
export function encodeScatter(plot: ScatterPlot, size = 400): Buffer {
  const png = new PNG({ width: size, height: size });
  png.data.fill(255);
  const margin = (plot.pad ?? 0.1) * (plot.range[1] - plot.range[0]);
  const [lo, hi] = [plot.range[0] - margin, plot.range[1] + margin];
  const toPx = (v: number) => Math.round(((v - lo) / (hi - lo)) * (size - 1));
  const put = (x: number, y: number, rgb: [number, number, number]) => {
    if (x < 0 || y < 0 || x >= size || y >= size) return;
    const i = (y * size + x) * 4;
    png.data[i] = rgb[0];
    png.data[i + 1] = rgb[1];
    png.data[i + 2] = rgb[2];
  };
  const dots = (pts: Float32Array | number[], rgb: [number, number, number]) => {
    for (let k = 0; k + 1 < pts.length; k += 2) {
      const x = toPx(Number(pts[k]));
      const y = size - 1 - toPx(Number(pts[k + 1]));
      for (let dx = 0; dx < 2; dx++) for (let dy = 0; dy < 2; dy++) put(x + dx, y + dy, rgb);
    }
  };
  // Axes through the origin when it is in view.
  const o = toPx(0);
  for (let t = 0; t < size; t++) {
    put(o, t, [220, 220, 220]);
    put(t, size - 1 - o, [220, 220, 220]);
  }
  if (plot.reference) dots(plot.reference, [170, 170, 170]);
  dots(plot.points, [30, 90, 200]);
  for (const [cx, cy] of plot.centres ?? []) {
    const x = toPx(cx!);
    const y = size - 1 - toPx(cy!);
    for (let d = -4; d <= 4; d++) {
      put(x + d, y + d, [220, 30, 30]);
      put(x + d, y - d, [220, 30, 30]);
    }
  }
  return PNG.sync.write(png);
}
