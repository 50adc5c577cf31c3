/**
 * `toy2d`: the standard GAN diagnostic mixtures, as 2-D points labelled with their mode.
 *
 * - `ring8`: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02 (Metz et al. 2017,
 *   "Unrolled GANs").
 * - `grid25`: 25 Gaussians on the 5×5 grid {-4, -2, 0, 2, 4}², std 0.05 (as in VEEGAN and
 *   PacGAN).
 *
 * Points are drawn once at load from a fixed seed (`dataSeed`; the test split uses another
 * stream), with the modes in equal shares. The mode centres and std are published in
 * `info.mixture`, so metrics can count covered modes and high-quality samples exactly.
 */
import { z } from 'zod';
import { ArrayDataset, type DataInfo, type DatasetPlugin, deriveSeed, mulberry32 } from '@genlab/core';

const schema = z
  .object({
    /** Which mixture. */
    mixture: z.enum(['ring8', 'grid25']).default('ring8'),
    /** Points per split. */
    size: z.number().int().positive().default(50_000),
    /** `train` and `test` are independent draws; `all` is both. */
    split: z.enum(['train', 'test', 'all']).default('train'),
    /** Override the standard deviation of every mode. */
    std: z.number().positive().optional(),
    /** Multiply the centres and std (e.g. 0.5 to fit the ring inside [-1, 1]). */
    scale: z.number().positive().default(1),
    /** Seed of the drawn points (fixed, independent of the run seed). */
    dataSeed: z.number().int().min(0).default(0),
  })
  .strict();
type Options = z.infer<typeof schema>;

/** Centres and std of a mixture. */
export function mixtureModes(name: Options['mixture'], scale = 1, std?: number): { means: number[][]; std: number } {
  if (name === 'ring8') {
    const means = Array.from({ length: 8 }, (_, k) => [2 * Math.cos((2 * Math.PI * k) / 8) * scale, 2 * Math.sin((2 * Math.PI * k) / 8) * scale]);
    return { means, std: (std ?? 0.02) * scale };
  }
  const means: number[][] = [];
  for (let i = -2; i <= 2; i++) for (let j = -2; j <= 2; j++) means.push([2 * i * scale, 2 * j * scale]);
  return { means, std: (std ?? 0.05) * scale };
}

/** `n` points of the mixture, mode k taking examples k, k+K, k+2K, … (equal shares). */
export function drawMixture(mixture: { means: number[][]; std: number }, n: number, seed: number): { pixels: Float32Array; labels: Int32Array } {
  const rand = mulberry32(seed);
  const normal = () => {
    // Box–Muller; 1 - u keeps the log finite.
    const u = 1 - rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const pixels = new Float32Array(2 * n);
  const labels = new Int32Array(n);
  const K = mixture.means.length;
  for (let i = 0; i < n; i++) {
    const k = i % K;
    labels[i] = k;
    pixels[2 * i] = mixture.means[k]![0]! + mixture.std * normal();
    pixels[2 * i + 1] = mixture.means[k]![1]! + mixture.std * normal();
  }
  return { pixels, labels };
}

const SPLIT_STREAM = { train: 1, test: 2 } as const;

/** The `toy2d` dataset plugin. */
export const toy2d: DatasetPlugin<Options> = {
  name: 'toy2d',
  description: 'Toy 2-D Gaussian mixtures (ring8: 8 modes on a circle; grid25: 5x5 grid) with mode labels',
  configSchema: schema,
  async load(cfg) {
    const mixture = mixtureModes(cfg.mixture, cfg.scale, cfg.std);
    const splits = cfg.split === 'all' ? (['train', 'test'] as const) : [cfg.split];
    const parts = splits.map((s) => drawMixture(mixture, cfg.size, deriveSeed(cfg.dataSeed, SPLIT_STREAM[s])));
    const pixels = new Float32Array(parts.reduce((n, p) => n + p.pixels.length, 0));
    const labels = new Int32Array(parts.reduce((n, p) => n + p.labels.length, 0));
    parts.forEach((p, i) => {
      pixels.set(p.pixels, i * p.pixels.length);
      labels.set(p.labels, i * p.labels.length);
    });
    return new ArrayDataset({ pixels, labels }, infoOf(cfg));
  },
  async describe(cfg) {
    return { ...infoOf(cfg), size: cfg.size * (cfg.split === 'all' ? 2 : 1) };
  },
};

function infoOf(cfg: Options): Omit<DataInfo, 'size'> {
  const mixture = mixtureModes(cfg.mixture, cfg.scale, cfg.std);
  const reach = Math.max(...mixture.means.flat().map(Math.abs)) + 4 * mixture.std;
  return {
    shape: [2],
    numClasses: mixture.means.length,
    classNames: mixture.means.map((m) => `(${m.map((v) => +v.toFixed(3)).join(', ')})`),
    range: [-reach, reach],
    mixture,
  };
}
