/**
 * `exp data <config | dataset name>`: load a dataset the way training would and describe it:
 * shape, size, class counts, pixel statistics, load time and memory, plus a PNG of real
 * examples (a grid of images, or a scatter plot for 2-D points).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  ArrayDataset,
  defaultCacheDir,
  encodeGrid,
  encodeScatter,
  ensureWritableDir,
  loadConfig,
  resolveDatasetOptions,
  UserError,
  type ImageDataset,
  type PluginSection,
} from '@genlab/core';
import { builtinRegistry } from './registry.js';

const log = (message: string) => process.stderr.write(message + '\n');

export interface DataArgs {
  /** A config file, or a dataset name. */
  what: string;
  set: string[];
  n: number;
  out?: string;
}

/** Pixel statistics over the whole selection, read in chunks (never one big copy). */
export interface DataStats {
  min: number;
  max: number;
  mean: number;
  std: number;
  classCounts: number[];
}

/** Statistics of every example of `ds` (as training sees them at epoch 0, seed 0). */
export function datasetStats(ds: ArrayDataset): DataStats {
  const counts = new Array<number>(Math.max(ds.info.numClasses, 1)).fill(0);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sq = 0;
  let n = 0;
  const chunk = 1024;
  for (let start = 0; start < ds.info.size; start += chunk) {
    const at = Array.from({ length: Math.min(chunk, ds.info.size - start) }, (_, i) => start + i);
    const { x, y } = ds.rows(at);
    for (const label of y) counts[label]! += 1;
    for (const v of x) {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      sq += v * v;
    }
    n += x.length;
  }
  const mean = sum / n;
  return { min, max, mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)), classCounts: counts };
}

export async function dataCommand(args: DataArgs): Promise<number> {
  const registry = builtinRegistry();
  const isConfig = /\.ya?ml$/i.test(args.what) || fs.existsSync(args.what);
  let section: PluginSection;
  let baseDir = process.cwd();
  if (isConfig) {
    const loaded = await loadConfig(args.what, registry, { overrides: args.set });
    section = loaded.config.dataset;
    baseDir = loaded.baseDir;
  } else {
    section = resolveDatasetOptions(registry, args.what, args.set);
  }
  const { name, ...options } = section;
  const out = path.resolve(args.out ?? `data-${name.replace(/[^\w-]+/g, '_')}.png`);
  ensureWritableDir(path.dirname(out), 'output folder');

  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const ds: ImageDataset = await registry.dataset(name).load(options, { baseDir, cacheDir: defaultCacheDir(), log });
  const loadSeconds = (performance.now() - t0) / 1000;
  const info = ds.info;
  const lines = [
    `dataset ${name} (${Object.entries(options)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(', ')})`,
    `  examples: ${info.size}`,
    `  shape: [${info.shape.join(', ')}]`,
    `  range: [${info.range.join(', ')}]`,
    `  loaded in ${loadSeconds.toFixed(2)} s; resident memory +${((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(0)} MB`,
  ];
  if (ds instanceof ArrayDataset) {
    const t1 = performance.now();
    const s = datasetStats(ds);
    lines.push(
      `  values: min ${s.min.toFixed(4)}, max ${s.max.toFixed(4)}, mean ${s.mean.toFixed(4)}, std ${s.std.toFixed(4)} (one pass in ${((performance.now() - t1) / 1000).toFixed(2)} s)`,
    );
    if (info.numClasses > 0) {
      lines.push(`  classes: ${info.numClasses}`);
      const width = Math.max(...(info.classNames ?? []).map((c) => c.length), String(info.numClasses - 1).length);
      s.classCounts.forEach((count, c) => lines.push(`    ${String(c).padStart(3)}  ${(info.classNames?.[c] ?? String(c)).padEnd(width)}  ${count}`));
    } else {
      lines.push('  classes: none (unlabelled)');
    }
  }
  fs.writeFileSync(out, pictureOf(ds, args.n));
  lines.push(`  examples drawn to ${out}`);
  process.stdout.write(lines.join('\n') + '\n');
  (ds as ImageDataset).dispose?.();
  return 0;
}

/** A grid of the first `n` examples of epoch 0 (seed 0), or a scatter plot for 2-D points. */
function pictureOf(ds: ImageDataset, n: number): Buffer {
  const { shape, range } = ds.info;
  const scatter = shape.length === 1 && shape[0] === 2;
  if (!(ds instanceof ArrayDataset)) throw new UserError('exp data can draw only in-memory datasets');
  const count = Math.min(ds.info.size, scatter ? Math.max(n, 2000) : n);
  const order = ds.order(0, 0).subarray(0, count);
  const { x } = ds.rows(order);
  if (scatter) return encodeScatter({ points: x, range, centres: ds.info.mixture?.means });
  if (shape.length !== 3) throw new UserError(`cannot draw examples of shape [${shape.join(', ')}]`);
  const [h, w, c] = shape as [number, number, number];
  return encodeGrid({ data: x, n: count, h, w, c, range });
}
