/**
 * The `health` callback: signals of mode collapse and of discriminator over-fitting while a
 * model trains, every `every` steps, published with `RunInfo.report` (so the tracker logs
 * them and the progress line shows them) and warned about on stderr.
 *
 * **Classes** (mode collapse). `samples` samples (fixed noise: checks are comparable) are
 * classified by the dataset's feature network (its classifier head, argmax); for toy 2-D
 * mixtures (`DataInfo.mixture`) each point's class is its nearest mode. From the histogram
 * p_k of the K classes:
 *
 *   health/class_entropy     H = −Σ_k p_k ln p_k / ln K   (1: every class equally often, 0: one class)
 *   health/max_class_share   max_k p_k
 *   health/classes_present   #{k : p_k ≥ presentAt / K}
 *   health/class_accuracy    conditional models: share of samples classified as the label asked for
 *   health/modes_covered     toy mixtures: modes holding ≥ 0.8 % of the samples within 3σ (scores.ts)
 *   health/high_quality      toy mixtures: share of samples within 3σ of a mode
 *
 * The same numbers for as many real training examples are computed once (tags
 * `genlab.health.real_*`), and a warning is printed when the samples' entropy falls below
 * `warnEntropy` × the real data's, or fewer classes (modes) are present than in real data
 * (Metz et al. 2017 count modes of stacked MNIST with a classifier the same way).
 *
 * **Diagnose** (over-fitting). For models with `diagnose(batch)` (e.g. a GAN's `d_real_pos`,
 * the share of real examples its discriminator scores as real), it is called on a fixed
 * batch of training data and a fixed batch of held-out data (the test split, loaded once):
 * `health/<key>_train`, `health/<key>_test` and `health/<key>_gap` (train − test). A
 * discriminator that over-fits scores its training images as real far more often than
 * unseen ones (Karras et al. 2020, "Training Generative Adversarial Networks with Limited
 * Data", §2: r_t and the validation gap); a gap above `warnGap` is warned about. Models
 * without `diagnose` skip this part.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { type Batch, type Callback, type CallbackPlugin, deriveSeed, type ImageDataset, type RunInfo, type StepEnd, UserError } from '@genlab/core';
import { featureNetFor, toUnit } from './evaluate.js';
import { featureNetIssue } from './features.js';
import type { FeatureNet } from './features.js';
import { mixtureModes } from './scores.js';

const classesSchema = z
  .object({
    /** Samples classified per check (and real examples for the reference, at most the split's size). */
    samples: z.number().int().min(10).default(1000),
    /** Seed of the samples' noise and of the real examples (fixed: checks compare over training). */
    seed: z.number().int().min(0).default(0),
    /** A class counts as present when it holds at least presentAt / K of the samples (K classes). */
    presentAt: z.number().gt(0).max(1).default(0.1),
    /** Warn when the class entropy falls below this multiple of the real data's. */
    warnEntropy: z.number().min(0).max(1).default(0.8),
    /** Samples per forward pass. */
    batchSize: z.number().int().positive().default(500),
    /** A feature-network folder to use instead of the shipped one for this dataset. */
    featureNet: z.string().min(1).optional(),
  })
  .strict();

const diagnoseSchema = z
  .object({
    /** Examples in each of the two fixed batches (training and held-out data). */
    examples: z.number().int().min(2).default(512),
    /** Warn when a diagnostic's training value exceeds its held-out value by more than this. */
    warnGap: z.number().positive().default(0.2),
    /** Seed choosing the examples of the two batches. */
    seed: z.number().int().min(0).default(0),
  })
  .strict();

const CLASSES_DEFAULT = classesSchema.parse({});
const DIAGNOSE_DEFAULT = diagnoseSchema.parse({});

const schema = z
  .object({
    /** Steps between checks. */
    every: z.number().int().positive().default(500),
    /** Mode-collapse signals from the domain classifier (false: off). */
    classes: z.union([z.literal(false), classesSchema]).default(CLASSES_DEFAULT),
    /** Over-fitting signals from the model's `diagnose` (false: off). */
    diagnose: z.union([z.literal(false), diagnoseSchema]).default(DIAGNOSE_DEFAULT),
  })
  .strict();
type Options = z.output<typeof schema>;
type ClassOptions = z.output<typeof classesSchema>;
type DiagnoseOptions = z.output<typeof diagnoseSchema>;

/** Statistics of a class histogram (counts per class, K = counts.length ≥ 2). */
export function classStats(counts: ArrayLike<number>, presentAt: number): { entropy: number; maxShare: number; argMax: number; present: number } {
  const K = counts.length;
  let total = 0;
  for (let k = 0; k < K; k++) total += counts[k]!;
  let h = 0;
  let maxShare = 0;
  let argMax = 0;
  let present = 0;
  for (let k = 0; k < K; k++) {
    const p = total > 0 ? counts[k]! / total : 0;
    if (p > 0) h -= p * Math.log(p);
    if (p > maxShare) {
      maxShare = p;
      argMax = k;
    }
    if (p > 0 && p >= presentAt / K) present++;
  }
  return { entropy: K > 1 ? h / Math.log(K) : 0, maxShare, argMax, present };
}

/** The first `n` examples of a dataset in a seeded order (fewer when it is smaller), as one batch. */
async function fixedBatch(ds: ImageDataset, n: number, seed: number): Promise<Batch> {
  const size = Math.min(n, ds.info.size);
  for await (const b of ds.batches({ batchSize: size, epoch: 0, startBatch: 0, seed })) return b;
  throw new UserError('health: the dataset gave no batch');
}

/** Classifies points: logits [n, K] for a batch [n, ...shape] in the data range. */
type Classifier = { classes: number; logits(x: tf.Tensor): tf.Tensor2D; dispose(): void };

class Health implements Callback {
  readonly name = 'health';
  private classifier?: Classifier;
  private real?: { entropy: number; present: number; modesCovered?: number };
  private held?: { train: Batch; test?: Batch };
  private classNames?: string[];

  constructor(private readonly opts: Options) {}

  /** Fail before training when a check cannot run; compute the real data's reference once. */
  async onRunStart(run: RunInfo): Promise<void> {
    const info = run.dataset.info;
    const cls = this.opts.classes;
    if (cls) {
      let classifier: Classifier;
      if (info.mixture) {
        const means = tf.tensor2d(info.mixture.means); // [K, D]
        classifier = {
          classes: info.mixture.means.length,
          // Nearest mode: logits −‖x − μ_k‖², [n, K].
          logits: (x) => tf.neg(tf.sum(tf.square(tf.sub(tf.expandDims(tf.reshape(x, [x.shape[0]!, -1]), 1), tf.expandDims(means, 0))), 2) as tf.Tensor2D),
          dispose: () => means.dispose(),
        };
      } else {
        if (info.shape.length !== 3) throw new UserError(`callbacks.health.classes needs images or a toy 2-D mixture; the data has shape [${info.shape.join(', ')}] (set callbacks.health.classes: false)`);
        const fnet: FeatureNet = featureNetFor({ info, dataset: run.config.dataset, baseDir: process.cwd() }, cls.featureNet, 'callbacks.health.classes.featureNet (or callbacks.health.classes: false)');
        classifier = { classes: fnet.spec.numClasses, logits: (x) => fnet.logits(toUnit(x, info.range)), dispose: () => fnet.dispose() };
        this.classNames = info.classNames;
      }
      this.classifier = classifier;
      if (classifier.classes < 2) throw new UserError(`callbacks.health.classes needs at least 2 classes, the classifier has ${classifier.classes}`);
      await this.realReference(run, cls);
    }
    const dg = this.opts.diagnose;
    if (dg && run.model.diagnose) {
      const trainSplit = run.config.dataset.split;
      const heldOut = trainSplit === 'test' ? 'train' : 'test';
      const train = await fixedBatch(run.dataset, dg.examples, deriveSeed(dg.seed, 0x0d1a));
      if (trainSplit === 'all') {
        run.log(`health: the run trains on split 'all', so there is no held-out data: diagnostics on training data only`);
        this.held = { train };
      } else {
        const noFlip = 'flip' in run.config.dataset ? { flip: false } : {};
        const ds = await run.loadDataset({ split: heldOut, ...noFlip });
        try {
          this.held = { train, test: await fixedBatch(ds, dg.examples, deriveSeed(dg.seed, 0x0d1b)) };
        } finally {
          ds.dispose?.();
        }
      }
    }
  }

  private async realReference(run: RunInfo, cls: ClassOptions): Promise<void> {
    const info = run.dataset.info;
    const batch = await fixedBatch(run.dataset, cls.samples, deriveSeed(cls.seed, 0x4ea1));
    try {
      const counts = this.histogram(batch.x.shape[0]!, cls.batchSize, (start, count) => tf.slice(batch.x, start, count));
      const stats = classStats(counts.counts, cls.presentAt);
      this.real = { entropy: stats.entropy, present: stats.present };
      const tags: Record<string, string> = {
        'genlab.health.real_class_entropy': stats.entropy.toFixed(4),
        'genlab.health.real_classes_present': String(stats.present),
      };
      if (info.mixture) {
        const m = mixtureModes({ data: batch.x.dataSync() as Float32Array, n: batch.x.shape[0]!, d: info.shape[0]! }, info.mixture);
        this.real.modesCovered = m.modesCovered;
        tags['genlab.health.real_modes_covered'] = String(m.modesCovered);
      }
      await run.tracker.setTags(tags);
    } finally {
      tf.dispose([batch.x, batch.y]);
    }
  }

  /**
   * Class counts [K] of `n` points produced `chunk` at a time by `take(start, count)`, summed
   * on the device and read once; with `labels`, also how many were classified as asked.
   */
  private histogram(n: number, chunk: number, take: (start: number, count: number) => tf.Tensor, labels?: Int32Array): { counts: Float32Array; hits: number } {
    const K = this.classifier!.classes;
    let total = tf.zeros([K + 1]);
    for (let start = 0; start < n; start += chunk) {
      const count = Math.min(chunk, n - start);
      const next = tf.tidy(() => {
        const predicted = tf.argMax(this.classifier!.logits(take(start, count)), 1); // [count]
        const counts = tf.sum(tf.oneHot(predicted, K), 0); // [K]
        const hits = labels ? tf.sum(tf.cast(tf.equal(predicted, tf.tensor1d(labels.subarray(start, start + count), 'int32')), 'float32')) : tf.scalar(0);
        return tf.add(total, tf.concat([tf.cast(counts, 'float32'), tf.reshape(hits, [1])]));
      });
      total.dispose();
      total = next;
    }
    const data = total.dataSync() as Float32Array;
    total.dispose();
    return { counts: data.slice(0, K), hits: data[K]! };
  }

  async onStepEnd(run: RunInfo, end: StepEnd): Promise<void> {
    if (end.step % this.opts.every !== 0 || run.stopping() || run.rollingBack()) return;
    const values: Record<string, number> = {};
    if (this.opts.classes && this.classifier) Object.assign(values, this.classCheck(run, end.step, this.opts.classes));
    if (this.opts.diagnose && this.held) Object.assign(values, this.diagnoseCheck(run, end.step, this.opts.diagnose));
    if (Object.keys(values).length) run.report(values);
  }

  private classCheck(run: RunInfo, step: number, cls: ClassOptions): Record<string, number> {
    const info = run.dataset.info;
    const K = this.classifier!.classes;
    const conditional = Boolean(run.model.conditional) && info.numClasses > 0;
    // Conditional models are asked for every class in turn.
    const labels = conditional ? Int32Array.from({ length: cls.samples }, (_, i) => i % info.numClasses) : undefined;
    const mixture = info.mixture;
    const points = mixture ? new Float32Array(cls.samples * info.shape[0]!) : undefined;
    const sample = (start: number, count: number) => {
      const y = labels ? tf.tensor1d(labels.subarray(start, start + count), 'int32') : undefined;
      const x = run.model.sample(count, { seed: deriveSeed(cls.seed, 0x4ea2, start), ...(y ? { labels: y } : {}) });
      y?.dispose();
      if (points) points.set(x.dataSync() as Float32Array, start * info.shape[0]!);
      return x;
    };
    const { counts, hits } = this.histogram(cls.samples, cls.batchSize, sample, labels);
    const stats = classStats(counts, cls.presentAt);
    const values: Record<string, number> = {
      'health/class_entropy': stats.entropy,
      'health/max_class_share': stats.maxShare,
      'health/classes_present': stats.present,
    };
    if (labels) values['health/class_accuracy'] = hits / cls.samples;
    let modes = '';
    if (mixture && points) {
      const m = mixtureModes({ data: points, n: cls.samples, d: info.shape[0]! }, mixture);
      values['health/modes_covered'] = m.modesCovered;
      values['health/high_quality'] = m.highQuality;
      if (this.real?.modesCovered !== undefined && m.modesCovered < this.real.modesCovered) modes = `, ${m.modesCovered} of ${this.real.modesCovered} modes covered`;
    }
    const real = this.real!;
    const lowEntropy = stats.entropy < cls.warnEntropy * real.entropy;
    if (lowEntropy || stats.present < real.present || modes) {
      const name = this.classNames?.[stats.argMax] ?? String(stats.argMax);
      run.log(
        `health: possible mode collapse at step ${step}: class entropy ${stats.entropy.toFixed(2)} (real data ${real.entropy.toFixed(2)}), ` +
          `largest class ${(100 * stats.maxShare).toFixed(0)} % ('${name}'), ${stats.present} of ${K} classes present (real data ${real.present})${modes}`,
      );
    }
    return values;
  }

  private diagnoseCheck(run: RunInfo, step: number, dg: DiagnoseOptions): Record<string, number> {
    const { train, test } = this.held!;
    const model = run.model;
    // Every diagnostic of both batches in one device read: [train…, test…].
    let keys: string[] = [];
    let data: Float32Array = new Float32Array(0);
    tf.tidy(() => {
      const a = model.diagnose!(train);
      const b = test ? model.diagnose!(test) : undefined;
      keys = Object.keys(a);
      const parts = [...keys.map((k) => a[k]!), ...(b ? keys.map((k) => b[k] ?? tf.scalar(NaN)) : [])];
      if (parts.length) data = tf.stack(parts.map((p) => tf.cast(p, 'float32'))).dataSync() as Float32Array;
    });
    const values: Record<string, number> = {};
    keys.forEach((k, i) => (values[`health/${k}_train`] = data[i]!));
    if (test) {
      const warn: string[] = [];
      keys.forEach((k, i) => {
        const tr = data[i]!;
        const te = data[keys.length + i]!;
        values[`health/${k}_test`] = te;
        values[`health/${k}_gap`] = tr - te;
        if (tr - te > dg.warnGap) warn.push(`${k} is ${tr.toFixed(2)} on training data, ${te.toFixed(2)} on held-out data (gap ${(tr - te).toFixed(2)} > ${dg.warnGap})`);
      });
      if (warn.length) run.log(`health: possible over-fitting at step ${step}: ${warn.join('; ')}`);
    }
    return values;
  }

  onRunEnd(): void {
    this.classifier?.dispose();
    this.classifier = undefined;
    if (this.held) tf.dispose([this.held.train.x, this.held.train.y, ...(this.held.test ? [this.held.test.x, this.held.test.y] : [])]);
    this.held = undefined;
  }
}

/** The `health` callback plugin (`callbacks: { health: { every: 500 } }`). */
export const healthCallback: CallbackPlugin<Options> = {
  name: 'health',
  description: 'mode-collapse signals (class histogram of samples under the domain classifier; modes on toy mixtures) and over-fitting signals (model diagnose() on training vs held-out data) every N steps',
  configSchema: schema,
  enabledByDefault: false,
  // The class histogram needs a classifier: a toy mixture's modes, or a feature network for the images.
  // Diagnostics compare training data with the held-out split: the dataset must have one.
  check(cfg, { data, config, registry }) {
    const issues: { path: string; message: string }[] = [];
    const split = config.dataset.split;
    if (cfg.diagnose && split !== 'all') {
      const heldOut = split === 'test' ? 'train' : 'test';
      const { name, subset: _s, ...options } = config.dataset;
      const plugin = registry.datasets.get(name);
      const parsed = plugin?.configSchema.safeParse({ ...options, split: heldOut });
      if (parsed && !parsed.success) {
        issues.push({ path: 'diagnose', message: `compares training data with the held-out split '${heldOut}', which dataset ${name} refuses (${parsed.error.issues[0]?.message ?? 'invalid'}): set dataset.split: all, or callbacks.health.diagnose: false` });
      }
    }
    if (!cfg.classes || data.mixture) return issues;
    if (data.shape.length !== 3) return [...issues, { path: 'classes', message: `needs images or a toy 2-D mixture; the data has shape [${data.shape.join(', ')}] (set callbacks.health.classes: false)` }];
    const why = featureNetIssue({ info: data, dataset: config.dataset, baseDir: process.cwd() }, cfg.classes.featureNet, 'callbacks.health.classes.featureNet (or callbacks.health.classes: false)');
    return why ? [...issues, { path: cfg.classes.featureNet ? 'classes.featureNet' : 'classes', message: why }] : issues;
  },
  create: (cfg) => new Health(cfg),
};
