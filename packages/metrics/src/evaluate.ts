/**
 * One evaluation of a generative model under a recorded protocol: draw `samples` samples,
 * embed them and a fixed set of real images with the dataset's feature network, compute the
 * chosen metrics, and the real-vs-real floor (the test split scored as if it were samples),
 * so every number has a meaning. The protocol (feature network and its weight hash, sample
 * counts, reference split, seed) goes with every number; the real features are cached per
 * protocol so the reference costs nothing after the first evaluation.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { ArrayDataset, type Batch, type DataInfo, deriveSeed, type GenerativeModel, type ImageDataset, permutation, stableHash, type StepResult, UserError, writeFileAtomic } from '@genlab/core';
import { FeatureNet } from './features.js';
import type { Features } from './linalg.js';
import { classAccuracy, densityCoverage, fid, inceptionScore, kid, mixtureModes, precisionRecall } from './scores.js';

export const METRICS = ['fid', 'kid', 'is', 'pr', 'dc', 'cas', 'modes', 'nll'] as const;
export type MetricName = (typeof METRICS)[number];
/** Metrics that need the dataset's feature network. */
const FEATURE_METRICS: readonly MetricName[] = ['fid', 'kid', 'is', 'pr', 'dc', 'cas'];

/** Options of an evaluation (the `eval:` section of a config, and `exp eval`). */
export const evalOptionsShape = {
  /** Metrics to compute; `auto`: FID, KID, IS, precision/recall, density/coverage for images (plus class accuracy for conditional models and NLL for likelihood models); mode counts for toy 2-D mixtures. */
  metrics: z.union([z.literal('auto'), z.array(z.enum(METRICS)).min(1)], { error: `expected 'auto' or a list of: ${METRICS.join(', ')}` }).default('auto'),
  /** Generated samples (and at most as many real images) per evaluation. */
  samples: z.number().int().min(10).default(5000),
  /** The real reference: the `train` split (as StudioGAN does) or `test`. */
  real: z.enum(['train', 'test']).default('train'),
  /** Also score the test split against the reference: the real-vs-real floor. */
  floor: z.boolean().default(true),
  /** Seed of the evaluation noise and of the real subset (fixed: evaluations are comparable). */
  seed: z.number().int().min(0).default(0),
  /** Images per forward pass. */
  batchSize: z.number().int().positive().default(500),
  /** A feature-network folder to use instead of the shipped one for this dataset. */
  featureNet: z.string().min(1).optional(),
};
const _evalOptions = z.object(evalOptionsShape).strict();
export type EvalOptions = z.output<typeof _evalOptions>;

/** What an evaluation needs from a run. */
export interface EvalTarget {
  model: GenerativeModel;
  /** Info of the training data (shape, range, classes, mixture). */
  info: DataInfo;
  /** Dataset name and options (for the protocol and the cache key). */
  dataset: { name: string } & Record<string, unknown>;
  /** The dataset with some options changed (`{ split: 'test' }`). */
  loadDataset(overrides: Record<string, unknown>): Promise<ImageDataset>;
  cacheDir: string;
  /** Folder for resolving `featureNet` paths. */
  baseDir: string;
  log(message: string): void;
}

export interface EvalReport {
  metrics: MetricName[];
  /** Metric values keyed as logged: fid, kid, kid_std, is, is_std, precision, recall, density, coverage, cas, modes_covered, high_quality, nll, bits_per_dim. */
  values: Record<string, number>;
  /** The same for the test split scored as samples (`floor/<key>`), when computed. */
  floor: Record<string, number>;
  /** One line naming the protocol, e.g. `features=mnist-cnn@1a2b…; real=mnist/train[5000]; fake=5000; seed=0`. */
  protocol: string;
  /** Tags recording the protocol of every metric. */
  tags: Record<string, string>;
  seconds: number;
}

/** The metrics `auto` picks for a model and dataset. */
export function autoMetrics(target: Pick<EvalTarget, 'model' | 'info' | 'dataset'>): MetricName[] {
  if (target.info.mixture) return ['modes', ...(target.model.evaluate ? (['nll'] as const) : [])];
  const out: MetricName[] = ['fid', 'kid', 'is', 'pr', 'dc'];
  if (target.model.conditional) out.push('cas');
  if (target.model.evaluate) out.push('nll');
  return out;
}

/** Images [n, H, W, C] in the data range → [0, 1] for the feature network. */
export function toUnit(x: tf.Tensor, range: [number, number]): tf.Tensor {
  return tf.tidy(() => tf.clipByValue(tf.div(tf.sub(x, range[0]), range[1] - range[0]), 0, 1));
}

/** `n` examples of `ds` (a fixed random choice) as raw values, chunk by chunk. */
function realRows(ds: ImageDataset, n: number, seed: number): { take(start: number, count: number): tf.Tensor; labels: Int32Array; n: number; fingerprint(): string } {
  if (!(ds instanceof ArrayDataset)) throw new UserError('evaluation needs an in-memory dataset (ArrayDataset)');
  const m = Math.min(n, ds.info.size);
  const order = permutation(ds.info.size, deriveSeed(seed, 0x7ea1)).subarray(0, m);
  const labels = Int32Array.from(order, (i) => ds.label(i));
  return {
    n: m,
    labels,
    take: (start, count) => {
      const { x } = ds.rows(order.subarray(start, start + count));
      return tf.tensor(x, [count, ...ds.info.shape]);
    },
    // The chosen images' values and labels: a cache entry is never reused for changed data.
    fingerprint: () => {
      const h = crypto.createHash('sha256');
      for (let s = 0; s < m; s += 1000) {
        const { x } = ds.rows(order.subarray(s, Math.min(m, s + 1000)));
        h.update(Buffer.from(x.buffer, x.byteOffset, x.byteLength));
      }
      h.update(Buffer.from(labels.buffer, labels.byteOffset, labels.byteLength));
      return h.digest('hex').slice(0, 16);
    },
  };
}

interface Embedded {
  features: Features;
  probs: Features;
  raw?: Features;
}

/** Cached real features for a protocol key. */
function cached(dir: string, key: string, compute: () => Embedded): Embedded {
  const file = path.join(dir, 'metrics', `${key}.bin`);
  if (fs.existsSync(file)) {
    try {
      const buf = fs.readFileSync(file);
      const headerLen = buf.readUInt32LE(0);
      const header = JSON.parse(buf.subarray(4, 4 + headerLen).toString('utf8')) as { parts: { name: keyof Embedded; n: number; d: number }[] };
      const out: Partial<Embedded> = {};
      let at = 4 + headerLen;
      for (const p of header.parts) {
        const bytes = p.n * p.d * 4;
        const data = new Float32Array(buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + bytes));
        if (data.length !== p.n * p.d) throw new Error('short file');
        out[p.name] = { data, n: p.n, d: p.d };
        at += bytes;
      }
      if (out.features && out.probs) return out as Embedded;
    } catch {
      // Unreadable: recompute and overwrite below.
    }
  }
  const value = compute();
  const parts = (Object.entries(value) as [keyof Embedded, Features | undefined][]).filter((e): e is [keyof Embedded, Features] => e[1] !== undefined);
  const header = Buffer.from(JSON.stringify({ parts: parts.map(([name, f]) => ({ name, n: f.n, d: f.d })) }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length, 0);
  writeFileAtomic(file, Buffer.concat([len, header, ...parts.map(([, f]) => Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength))]));
  return value;
}

/** Scores of `fake` against `real` for the chosen metrics. */
function score(metrics: MetricName[], real: Embedded, fake: Embedded, labels: Int32Array | undefined, info: DataInfo, seed: number): Record<string, number> {
  const v: Record<string, number> = {};
  if (metrics.includes('fid')) v.fid = fid(real.features, fake.features);
  if (metrics.includes('kid')) {
    const k = kid(real.features, fake.features, { seed });
    v.kid = k.mean;
    v.kid_std = k.std;
  }
  if (metrics.includes('is')) {
    const s = inceptionScore(fake.probs);
    v.is = s.mean;
    v.is_std = s.std;
  }
  if (metrics.includes('pr')) Object.assign(v, precisionRecall(real.features, fake.features));
  if (metrics.includes('dc')) Object.assign(v, densityCoverage(real.features, fake.features));
  if (metrics.includes('cas') && labels) v.cas = classAccuracy(fake.probs, labels);
  if (metrics.includes('modes') && info.mixture && fake.raw) {
    const m = mixtureModes(fake.raw, info.mixture);
    v.modes_covered = m.modesCovered;
    v.high_quality = m.highQuality;
  }
  return v;
}

/**
 * The metrics to compute and the feature network they need, checked against the model and
 * data (a missing feature network or an impossible metric is an error before any work).
 */
export function planMetrics(target: Pick<EvalTarget, 'model' | 'info' | 'dataset' | 'baseDir'>, opts: Pick<EvalOptions, 'metrics' | 'featureNet'>): { metrics: MetricName[]; fnet?: FeatureNet } {
  const { model, info } = target;
  const metrics = opts.metrics === 'auto' ? autoMetrics(target) : opts.metrics;
  const needFeatures = metrics.some((m) => FEATURE_METRICS.includes(m));
  if (metrics.includes('modes') && !info.mixture) throw new UserError(`metric 'modes' needs a Gaussian-mixture dataset (toy2d), not ${target.dataset.name}`);
  if (metrics.includes('nll') && !model.evaluate) throw new UserError(`metric 'nll' needs a likelihood model; this model has no evaluate()`);
  if (metrics.includes('cas') && !model.conditional) throw new UserError(`metric 'cas' (accuracy of class-conditional samples) needs a conditional model`);
  let fnet: FeatureNet | undefined;
  if (needFeatures) {
    if (info.shape.length !== 3) throw new UserError(`metrics ${metrics.join(', ')} need images; the data has shape [${info.shape.join(', ')}]`);
    fnet = featureNetFor(target, opts.featureNet, 'eval.featureNet');
  }
  return { metrics, ...(fnet ? { fnet } : {}) };
}

/**
 * The feature network for a run's images: the folder `featureNet` (relative to `baseDir`)
 * when given, else the one shipped for the dataset. A missing network or one for other
 * image shapes is a `UserError` that says how to get one and names the option (`optionKey`).
 */
export function featureNetFor(target: Pick<EvalTarget, 'info' | 'dataset' | 'baseDir'>, featureNet: string | undefined, optionKey: string): FeatureNet {
  const { info } = target;
  const fnet = featureNet ? FeatureNet.load(path.resolve(target.baseDir, featureNet)) : FeatureNet.builtin(target.dataset.name);
  if (!fnet) {
    throw new UserError(
      `no feature network for dataset '${target.dataset.name}': train one with 'pnpm exp features train --dataset ${target.dataset.name}' (a config in configs/features/) or set ${optionKey}`,
    );
  }
  if (fnet.spec.inputShape.join() !== info.shape.join()) {
    fnet.dispose();
    throw new UserError(`the feature network takes [${fnet.spec.inputShape.join(', ')}] images but the data is [${info.shape.join(', ')}]`);
  }
  return fnet;
}

/** Run one evaluation. */
export async function evaluateModel(target: EvalTarget, opts: EvalOptions): Promise<EvalReport> {
  const t0 = performance.now();
  const { metrics, fnet } = planMetrics(target, opts);
  try {
    return await runEvaluation(target, opts, metrics, fnet, t0);
  } finally {
    fnet?.dispose();
  }
}

async function runEvaluation(target: EvalTarget, opts: EvalOptions, metrics: MetricName[], fnet: FeatureNet | undefined, t0: number): Promise<EvalReport> {
  const { model, info } = target;
  const netId = fnet ? `${target.dataset.name}-cnn@${fnet.hash()}` : 'none';
  const { name: dsName, split: _split, flip: _flip, ...dsOptions } = target.dataset;
  const realKey = (split: string, n: number, data: string) => stableHash({ v: 2, netId, dsName, dsOptions, split, n, seed: opts.seed, data }).slice(0, 24);

  // The reference is never flipped (for datasets that have the option).
  const noFlip = 'flip' in target.dataset ? { flip: false } : {};
  const embedReal = async (split: 'train' | 'test'): Promise<Embedded & { labels: Int32Array }> => {
    const ds = await target.loadDataset({ split, ...noFlip });
    try {
      const rows = realRows(ds, opts.samples, opts.seed);
      const e = cached(target.cacheDir, realKey(split, rows.n, rows.fingerprint()), () => embed(rows.n, (s, c) => rows.take(s, c)));
      return { ...e, labels: rows.labels };
    } finally {
      ds.dispose?.();
    }
  };
  const embed = (n: number, take: (start: number, count: number) => tf.Tensor): Embedded => {
    if (fnet) {
      const { features, probs } = fnet.extract(n, (s, c) => tf.tidy(() => toUnit(take(s, c), info.range)), opts.batchSize);
      return { features, probs };
    }
    // No feature network (toy 2-D data): keep the raw points.
    const d = info.shape.reduce((a, b) => a * b, 1);
    const raw = new Float32Array(n * d);
    for (let s = 0; s < n; s += opts.batchSize) {
      const c = Math.min(opts.batchSize, n - s);
      const t = take(s, c);
      raw.set(t.dataSync() as Float32Array, s * d);
      t.dispose();
    }
    const empty = { data: new Float32Array(0), n: 0, d: 0 };
    return { features: empty, probs: empty, raw: { data: raw, n, d } };
  };

  target.log(`eval: ${metrics.join(', ')} on ${opts.samples} samples against ${target.dataset.name}/${opts.real}${fnet ? ` (features ${netId})` : ''}`);
  const real = await embedReal(opts.real);
  // Conditional models are asked for every class in turn; the labels are kept for `cas`.
  const labels = model.conditional && info.numClasses > 0 ? Int32Array.from({ length: opts.samples }, (_, i) => i % info.numClasses) : undefined;
  const fake = embed(opts.samples, (start, count) =>
    tf.tidy(() => {
      const y = labels ? tf.tensor1d(labels.subarray(start, start + count), 'int32') : undefined;
      return model.sample(count, { seed: deriveSeed(opts.seed, 0xfa6e, start), ...(y ? { labels: y } : {}) });
    }),
  );
  const values = score(metrics, real, fake, labels, info, opts.seed);

  let nllProtocol: string | undefined;
  if (metrics.includes('nll')) {
    const nll = await likelihood(model, await target.loadDataset({ split: 'test', ...noFlip }), info, opts.batchSize);
    Object.assign(values, nll.values);
    // The NLL depends on the test examples and on how the model estimates it, not on samples or features.
    nllProtocol = `data=${target.dataset.name}/test[${nll.n}]; estimator=${model.likelihoodEstimator ?? 'exact'}`;
  }

  const floor: Record<string, number> = {};
  if (opts.floor) {
    const other = await embedReal(opts.real === 'train' ? 'test' : 'train');
    const f = score(
      metrics.filter((m) => m !== 'nll'),
      real,
      other,
      metrics.includes('cas') ? other.labels : undefined,
      info,
      opts.seed,
    );
    for (const [k, v] of Object.entries(f)) floor[`floor/${k}`] = v;
  }
  const protocol = `features=${netId}; real=${target.dataset.name}/${opts.real}[${real.features.n || real.raw?.n}]; fake=${opts.samples}; seed=${opts.seed}; floor=${opts.floor ? (opts.real === 'train' ? 'test' : 'train') : 'none'}`;
  const tags: Record<string, string> = { 'genlab.eval.protocol': protocol };
  for (const m of metrics) tags[`genlab.eval.protocol.${m}`] = m === 'nll' && nllProtocol ? nllProtocol : protocol;
  return { metrics, values, floor, protocol, tags, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Mean of every scalar `evaluate` reports (each a mean over its batch) over every example of
 * the test split, weighted by batch size; `nll` (nats) also as bits/dim. An in-memory split
 * is read whole, in index order (the last batch smaller); other datasets in full batches.
 */
async function likelihood(model: GenerativeModel, ds: ImageDataset, info: DataInfo, batchSize: number): Promise<{ values: Record<string, number>; n: number }> {
  const sums: Record<string, number> = {};
  let n = 0;
  const add = (b: Batch) => {
    try {
      const count = b.x.shape[0]!;
      const r: StepResult = tf.tidy(() => model.evaluate!(b));
      for (const [k, v] of Object.entries(r)) {
        sums[k] = (sums[k] ?? 0) + count * v.dataSync()[0]!;
        v.dispose();
      }
      n += count;
    } finally {
      tf.dispose([b.x, b.y]);
    }
  };
  try {
    if (ds instanceof ArrayDataset) {
      for (let s = 0; s < ds.info.size; s += batchSize) add(ds.gather(Array.from({ length: Math.min(batchSize, ds.info.size - s) }, (_, i) => s + i)));
    } else {
      for await (const b of ds.batches({ batchSize: Math.min(batchSize, ds.info.size), epoch: 0, startBatch: 0, seed: 0 })) add(b);
    }
  } finally {
    ds.dispose?.();
  }
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(sums)) values[k] = v / n;
  if (values.nll !== undefined) values.bits_per_dim = values.nll / (info.shape.reduce((a, b) => a * b, 1) * Math.LN2);
  return { values, n };
}

/** A table of values next to their floor, for the terminal. */
export function formatReport(report: EvalReport): string {
  const rows = Object.entries(report.values).map(([k, v]) => [k, fmt(v), report.floor[`floor/${k}`] !== undefined ? fmt(report.floor[`floor/${k}`]!) : '-']);
  const w0 = Math.max(6, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(5, ...rows.map((r) => r[1]!.length));
  return [
    `${'metric'.padEnd(w0)}  ${'value'.padStart(w1)}  real-vs-real floor`,
    ...rows.map(([k, v, f]) => `${k!.padEnd(w0)}  ${v!.padStart(w1)}  ${f}`),
    `protocol: ${report.protocol}`,
    ...(report.tags['genlab.eval.protocol.nll'] && report.tags['genlab.eval.protocol.nll'] !== report.protocol ? [`nll protocol: ${report.tags['genlab.eval.protocol.nll']}`] : []),
  ].join('\n');
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3);
}
