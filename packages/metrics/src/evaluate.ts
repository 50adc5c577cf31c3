/**
 * One evaluation of a generative model under a recorded protocol: draw `samples` samples,
 * embed them and a fixed set of real images with the dataset's feature network, compute the
 * chosen metrics, and the real-vs-real floor (as many other real images, none of them in the
 * reference, scored as if they were samples), so every number has a meaning. Samples of
 * binary data are binarised, so both sides are in one pixel space. The protocol (feature
 * network and its weight hash, each side's split and count, the pixel rule, seed) goes with
 * every number; the real features are cached per protocol so the reference costs nothing
 * after the first evaluation.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { ArrayDataset, type Batch, type DataInfo, deriveSeed, type Features, type GenerativeModel, type ImageDataset, type MetricPlugin, type MetricSet, type ModelTraits, permutation, stableHash, type StepResult, UserError, unknownNameMessage, writeFileAtomic } from '@genlab/core';
import { FeatureNet, featureNetIssue } from './features.js';
import { metricPlugins } from './metric-plugins.js';

/** The built-in metric names: the metric plugins of this package, and `nll` (the model's own likelihood). */
export const METRICS = [...metricPlugins.map((m) => m.name), 'nll'] as readonly string[];
/** A metric's name: a built-in one or a registered metric plugin's. */
export type MetricName = string;
/** The built-in metric plugins by name (what an evaluation uses when it is given no registry). */
const BUILTIN = new Map(metricPlugins.map((m) => [m.name, m]));

/** Options of an evaluation (the `eval:` section of a config, and `exp eval`). */
export const evalOptionsShape = {
  /**
   * Metrics to compute, by name: the built-in ones (fid, kid, is, pr, dc, cas, modes, nll) or
   * registered metric plugins'; `auto`: FID, KID, IS, precision/recall, density/coverage for
   * images (plus class accuracy for conditional models and NLL for likelihood models); mode
   * counts for toy 2-D mixtures.
   */
  metrics: z.union([z.literal('auto'), z.array(z.string().min(1)).min(1)], { error: `expected 'auto' or a list of metric names, e.g. [fid, kid]` }).default('auto'),
  /** Generated samples (and at most as many real images) per evaluation. */
  samples: z.number().int().min(10).default(5000),
  /** The real reference: the `train` split (as StudioGAN does) or `test`. */
  real: z.enum(['train', 'test']).default('train'),
  /**
   * Also score `samples` other real images against the reference, as if they were samples:
   * the real-vs-real floor at the samples' N. They are the other split's (a fixed random
   * choice), topped up, when it is smaller, with images of the reference split that the
   * reference did not take; never the reference's own images.
   */
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
  /** The metric plugins by name (the run's registry); default: the built-in ones. */
  metricPlugins?: ReadonlyMap<string, MetricPlugin>;
}

export interface EvalReport {
  metrics: MetricName[];
  /** Metric values keyed as logged: fid, kid, kid_std, is, is_std, precision, recall, density, coverage, cas, modes_covered, high_quality, nll, bits_per_dim. */
  values: Record<string, number>;
  /** The same for real images outside the reference scored as samples (`floor/<key>`), when computed. */
  floor: Record<string, number>;
  /** Images on each side: the reference, the samples, and the floor's real images (when computed; fewer than `fake` only when the data have no more). */
  n: { real: number; fake: number; floor?: number };
  /**
   * One line naming the protocol, e.g. `features=mnist-cnn@1a2b…; real=mnist/train[5000];
   * fake=5000; pixels=binary (fake: bernoulli); seed=0; floor=mnist/test[999]+train[4001]`.
   */
  protocol: string;
  /** Tags recording the protocol of every metric. */
  tags: Record<string, string>;
  seconds: number;
}

/** Images [n, H, W, C] in the data range → [0, 1] for the feature network. */
export function toUnit(x: tf.Tensor, range: [number, number]): tf.Tensor {
  return tf.tidy(() => tf.clipByValue(tf.div(tf.sub(x, range[0]), range[1] - range[0]), 0, 1));
}

/** Images of one split: positions `at` in the split's view (a slice of its fixed random order). */
interface RealPart {
  split: 'train' | 'test';
  ds: ArrayDataset;
  at: Uint32Array;
}

/** The fixed random order of a split's examples: the reference is its head, and a floor drawn from the same split takes what follows. */
function realOrder(ds: ArrayDataset, seed: number): Uint32Array {
  return permutation(ds.info.size, deriveSeed(seed, 0x7ea1));
}

/** A real side of an evaluation (one or two splits' images, in order) as raw values, chunk by chunk. */
class RealSet {
  readonly n: number;
  readonly labels: Int32Array;
  constructor(readonly parts: RealPart[]) {
    this.n = parts.reduce((a, p) => a + p.at.length, 0);
    this.labels = Int32Array.from(parts.flatMap((p) => Array.from(p.at, (i) => p.ds.label(i))));
  }

  /** Rows [start, start + count) of the set, across parts. */
  rows(start: number, count: number): Float32Array {
    const chunks: Float32Array[] = [];
    let offset = 0;
    for (const p of this.parts) {
      const from = Math.max(start, offset);
      const to = Math.min(start + count, offset + p.at.length);
      if (from < to) chunks.push(p.ds.rows(p.at.subarray(from - offset, to - offset)).x);
      offset += p.at.length;
    }
    if (chunks.length === 1) return chunks[0]!;
    const out = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  take(start: number, count: number, shape: number[]): tf.Tensor {
    return tf.tensor(this.rows(start, count), [count, ...shape]);
  }

  /** The chosen images' values and labels: a cache entry is never reused for changed data. */
  fingerprint(): string {
    const h = crypto.createHash('sha256');
    for (let s = 0; s < this.n; s += 1000) {
      const x = this.rows(s, Math.min(1000, this.n - s));
      h.update(Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    }
    h.update(Buffer.from(this.labels.buffer, this.labels.byteOffset, this.labels.byteLength));
    return h.digest('hex').slice(0, 16);
  }

  /** `mnist/test[999]+train[4001]`. */
  describe(dataset: string): string {
    return `${dataset}/${this.parts.map((p) => `${p.split}[${p.at.length}]`).join('+')}`;
  }
}

/**
 * The floor's real images: `n` images that are not in the reference (the first `refN` of the
 * reference split's order), from the other split first and then, when it is smaller than
 * `n`, from the rest of the reference split (e.g. bundled MNIST: 999 test digits and 4,001
 * training digits at n = 5,000). Fewer than `n` when the two together have fewer.
 */
function floorParts(reference: { split: 'train' | 'test'; order: Uint32Array; refN: number }, other: { split: 'train' | 'test'; order: Uint32Array }, n: number): { split: 'train' | 'test'; at: Uint32Array }[] {
  const fromOther = other.order.subarray(0, Math.min(n, other.order.length));
  const fromRef = reference.order.subarray(reference.refN, Math.min(reference.order.length, reference.refN + n - fromOther.length));
  return [
    { split: other.split, at: fromOther },
    { split: reference.split, at: fromRef },
  ].filter((p) => p.at.length > 0);
}

/** One side of an evaluation as the metrics read it. */
type Embedded = MetricSet;

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

/** Scores of `fake` against `real` for the chosen metric plugins, in their order. */
function score(plugins: MetricPlugin[], real: Embedded, fake: Embedded, labels: Int32Array | undefined, info: DataInfo, seed: number): Record<string, number> {
  const v: Record<string, number> = {};
  for (const m of plugins) {
    const out = m.compute({ real, fake, ...(labels ? { labels } : {}), info, seed });
    for (const [k, x] of Object.entries(out)) {
      if (typeof x !== 'number') throw new Error(`metric '${m.name}' returned ${typeof x} for '${k}', not a number`);
      v[k] = x;
    }
  }
  return v;
}

/** The metrics an evaluation computes: plugins (in registry order) and whether `nll` is asked for; problems when a metric cannot be computed. */
export interface MetricPlan {
  metrics: MetricName[];
  plugins: MetricPlugin[];
  nll: boolean;
  /** Whether a feature network is needed (a chosen metric reads features). */
  features: boolean;
  problems: string[];
}

/**
 * Which metrics `metricsOption` selects for this data (and, at run time, this model), and
 * what is wrong with the selection: an unknown name, a metric the data or model cannot
 * support, feature metrics on data that are not images. Shared by evaluations and by the
 * `eval` callback's validation, so a config that validates evaluates.
 */
export function metricPlan(
  target: { info: DataInfo; model?: GenerativeModel | ModelTraits },
  metricsOption: EvalOptions['metrics'],
  registered: ReadonlyMap<string, MetricPlugin> = BUILTIN,
): MetricPlan {
  const { info } = target;
  const model = target.model && traitsOf(target.model);
  const names = metricsOption === 'auto' ? autoMetrics({ info, ...(model ? { model } : {}) }) : metricsOption;
  const problems: string[] = [];
  for (const n of names) if (n !== 'nll' && !registered.has(n)) problems.push(unknownNameMessage('metric', n, [...registered.keys(), 'nll']));
  const plugins = [...registered.values()].filter((m) => names.includes(m.name));
  for (const m of plugins) {
    const why = m.check?.({ data: info, ...(model ? { model } : {}) });
    if (why) problems.push(why);
  }
  const nll = names.includes('nll');
  if (nll && model && !model.likelihood) problems.push(`metric 'nll' needs a model with its own likelihood (a VAE, the Row LSTM); this model has none`);
  const features = plugins.some((m) => m.input === 'features');
  if (features && info.shape.length !== 3) {
    problems.push(`metrics ${plugins.filter((m) => m.input === 'features').map((m) => m.name).join(', ')} read image features; the data has shape [${info.shape.join(', ')}]`);
  }
  return { metrics: names, plugins, nll, features, problems };
}

/** The metrics `auto` picks for a model and dataset (without a model: the data's part of the choice). */
export function autoMetrics(target: { info: DataInfo; model?: GenerativeModel | ModelTraits }): MetricName[] {
  const model = target.model && traitsOf(target.model);
  if (target.info.mixture) return ['modes', ...(model?.likelihood ? ['nll'] : [])];
  const out: MetricName[] = ['fid', 'kid', 'is', 'pr', 'dc'];
  if (model?.conditional) out.push('cas');
  if (model?.likelihood) out.push('nll');
  return out;
}

/**
 * The metrics to compute and the feature network they need, checked against the model and
 * data (a missing feature network or an impossible metric is an error before any work).
 */
export function planMetrics(target: Pick<EvalTarget, 'model' | 'info' | 'dataset' | 'baseDir' | 'metricPlugins'>, opts: Pick<EvalOptions, 'metrics' | 'featureNet'>): MetricPlan & { fnet?: FeatureNet } {
  const plan = metricPlan(target, opts.metrics, target.metricPlugins);
  if (plan.problems.length) throw new UserError(plan.problems.join('; '));
  const fnet = plan.features ? featureNetFor(target, opts.featureNet, 'eval.featureNet') : undefined;
  return { ...plan, ...(fnet ? { fnet } : {}) };
}

/**
 * The feature network for a run's images: the folder `featureNet` (relative to `baseDir`)
 * when given, else the one shipped for the dataset. A missing network or one for other
 * image shapes is a `UserError` that says how to get one and names the option (`optionKey`).
 */
export function featureNetFor(target: Pick<EvalTarget, 'info' | 'dataset' | 'baseDir'>, featureNet: string | undefined, optionKey: string): FeatureNet {
  const why = featureNetIssue(target, featureNet, optionKey);
  if (why) throw new UserError(why);
  return featureNet ? FeatureNet.load(path.resolve(target.baseDir, featureNet)) : FeatureNet.builtin(target.dataset.name)!;
}

/** Run one evaluation. */
export async function evaluateModel(target: EvalTarget, opts: EvalOptions): Promise<EvalReport> {
  const t0 = performance.now();
  const { fnet, ...plan } = planMetrics(target, opts);
  try {
    return await runEvaluation(target, opts, plan, fnet, t0);
  } finally {
    fnet?.dispose();
  }
}

/**
 * Samples in the pixel space of binary data: each value, read as the probability of the
 * high end (its intensity in the data range), becomes one seeded Bernoulli draw, as
 * `binarize: static|stochastic` makes the real images from grey digits. A model of binary
 * images samples p(x) this way (a Bernoulli decoder's mean is E[x | z], not an image of
 * the data's kind); samples that are already binary come back unchanged.
 */
export function bernoulliSamples(x: tf.Tensor, range: [number, number], seed: number): tf.Tensor {
  return tf.tidy(() => {
    const hit = tf.less(tf.randomUniform(x.shape, 0, 1, 'float32', seed), toUnit(x, range));
    return tf.add(range[0], tf.mul(range[1] - range[0], tf.cast(hit, 'float32')));
  });
}

async function runEvaluation(target: EvalTarget, opts: EvalOptions, plan: MetricPlan, fnet: FeatureNet | undefined, t0: number): Promise<EvalReport> {
  const { metrics, plugins } = plan;
  // Raw values for metrics that read them (and for data without a feature network: toy 2-D points).
  const pixels = plugins.some((m) => m.input === 'pixels') || !fnet;
  const { model, info } = target;
  const netId = fnet ? `${target.dataset.name}-cnn@${fnet.hash()}` : 'none';
  const { name: dsName, split: _split, flip: _flip, ...dsOptions } = target.dataset;
  // v4: the floor's images are disjoint from the reference and as many as the samples; samples of binary data are binarised.
  const realKey = (set: RealSet) => stableHash({ v: 4, netId, pixels, dsName, dsOptions, parts: set.parts.map((p) => `${p.split}[${p.at.length}]`), seed: opts.seed, data: set.fingerprint() }).slice(0, 24);
  // Samples and references are compared in one pixel space: binary data (dataset.binarize) gets binary samples.
  const binarise = info.binary === true;

  const empty = { data: new Float32Array(0), n: 0, d: 0 };
  const embed = (n: number, take: (start: number, count: number) => tf.Tensor): Embedded => {
    const out: Embedded = { features: empty, probs: empty };
    if (fnet) Object.assign(out, fnet.extract(n, (s, c) => tf.tidy(() => toUnit(take(s, c), info.range)), opts.batchSize));
    if (pixels) {
      const d = info.shape.reduce((a, b) => a * b, 1);
      const raw = new Float32Array(n * d);
      for (let s = 0; s < n; s += opts.batchSize) {
        const c = Math.min(opts.batchSize, n - s);
        const t = take(s, c);
        raw.set(t.dataSync() as Float32Array, s * d);
        t.dispose();
      }
      out.pixels = { data: raw, n, d };
    }
    return out;
  };
  const embedReal = (set: RealSet): Embedded => cached(target.cacheDir, realKey(set), () => embed(set.n, (s, c) => set.take(s, c, info.shape)));

  // The reference is never flipped (for datasets that have the option).
  const noFlip = 'flip' in target.dataset ? { flip: false } : {};
  const otherSplit = opts.real === 'train' ? 'test' : 'train';
  const opened: ImageDataset[] = [];
  const open = async (split: 'train' | 'test'): Promise<ArrayDataset> => {
    const ds = await target.loadDataset({ split, ...noFlip });
    opened.push(ds);
    if (!(ds instanceof ArrayDataset)) throw new UserError('evaluation needs an in-memory dataset (ArrayDataset)');
    return ds;
  };
  try {
    target.log(`eval: ${metrics.join(', ')} on ${opts.samples} samples against ${target.dataset.name}/${opts.real}${fnet ? ` (features ${netId})` : ''}${binarise ? '; samples binarised (Bernoulli), as the data are' : ''}`);
    const refDs = await open(opts.real);
    const refOrder = realOrder(refDs, opts.seed);
    const reference = new RealSet([{ split: opts.real, ds: refDs, at: refOrder.subarray(0, Math.min(opts.samples, refOrder.length)) }]);
    const real = embedReal(reference);
    // Conditional models are asked for every class in turn; the labels are kept for `cas`.
    const labels = model.conditional && info.numClasses > 0 ? Int32Array.from({ length: opts.samples }, (_, i) => i % info.numClasses) : undefined;
    const fake = embed(opts.samples, (start, count) =>
      tf.tidy(() => {
        const y = labels ? tf.tensor1d(labels.subarray(start, start + count), 'int32') : undefined;
        const x = model.sample(count, { seed: deriveSeed(opts.seed, 0xfa6e, start), ...(y ? { labels: y } : {}) });
        return binarise ? bernoulliSamples(x, info.range, deriveSeed(opts.seed, 0xb1a5, start)) : x;
      }),
    );
    const values = score(plugins, real, fake, labels, info, opts.seed);

    let nllProtocol: string | undefined;
    if (plan.nll) {
      const nll = await likelihood(model, await target.loadDataset({ split: 'test', ...noFlip }), info, opts.batchSize);
      Object.assign(values, nll.values);
      // The NLL depends on the test examples and on how the model estimates it, not on samples or features.
      nllProtocol = `data=${target.dataset.name}/test[${nll.n}]; estimator=${model.likelihoodEstimator ?? 'exact'}`;
    }

    // The floor: real images outside the reference, as many as the samples, scored as if they were samples.
    const floor: Record<string, number> = {};
    let floorSet: RealSet | undefined;
    if (opts.floor) {
      const otherDs = await open(otherSplit);
      const parts = floorParts({ split: opts.real, order: refOrder, refN: reference.n }, { split: otherSplit, order: realOrder(otherDs, opts.seed) }, opts.samples);
      floorSet = new RealSet(parts.map((p) => ({ ...p, ds: p.split === opts.real ? refDs : otherDs })));
      if (floorSet.n < opts.samples) target.log(`eval: the floor has ${floorSet.n} real images outside the reference, fewer than the ${opts.samples} samples: it is computed at N = ${floorSet.n}`);
      const f = score(plugins, real, embedReal(floorSet), floorSet.labels, info, opts.seed);
      for (const [k, v] of Object.entries(f)) floor[`floor/${k}`] = v;
    }
    const floorText = !floorSet ? 'none' : `${floorSet.describe(target.dataset.name)}${floorSet.n < opts.samples ? ` (short: ${floorSet.n} < fake=${opts.samples}, all the real images outside the reference)` : ''}`;
    const protocol = `features=${netId}; real=${reference.describe(target.dataset.name)}; fake=${opts.samples}; pixels=${binarise ? 'binary (fake: bernoulli)' : 'as-is'}; seed=${opts.seed}; floor=${floorText}`;
    const tags: Record<string, string> = { 'genlab.eval.protocol': protocol };
    for (const m of metrics) tags[`genlab.eval.protocol.${m}`] = m === 'nll' && nllProtocol ? nllProtocol : protocol;
    const n = { real: reference.n, fake: opts.samples, ...(floorSet ? { floor: floorSet.n } : {}) };
    return { metrics, values, floor, n, protocol, tags, seconds: (performance.now() - t0) / 1000 };
  } finally {
    for (const ds of opened) ds.dispose?.();
  }
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
  const { floor: floorN, fake } = report.n;
  const short = floorN !== undefined && floorN < fake ? ` (at N = ${floorN}: the data have no more real images outside the reference; the samples are ${fake})` : '';
  const w0 = Math.max(6, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(5, ...rows.map((r) => r[1]!.length));
  return [
    `${'metric'.padEnd(w0)}  ${'value'.padStart(w1)}  real-vs-real floor${short}`,
    ...rows.map(([k, v, f]) => `${k!.padEnd(w0)}  ${v!.padStart(w1)}  ${f}`),
    `protocol: ${report.protocol}`,
    ...(report.tags['genlab.eval.protocol.nll'] && report.tags['genlab.eval.protocol.nll'] !== report.protocol ? [`nll protocol: ${report.tags['genlab.eval.protocol.nll']}`] : []),
  ].join('\n');
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3);
}

/** A model's traits, from the model itself or as its plugin declared them. */
function traitsOf(model: GenerativeModel | ModelTraits): ModelTraits {
  return 'likelihood' in model ? model : { conditional: model.conditional === true, likelihood: typeof model.evaluate === 'function' };
}
