/**
 * `exp new model|dataset|callback|metric <name> [--dir D]`: a ready plugin in a user's project,
 * as three files: the plugin (one TypeScript module, commented where a user changes it), a
 * config that uses it, and its contract test. The result validates, trains and passes its
 * test with no edits; it imports only `genlab` (and `genlab/testing` in the test).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureDir, UserError } from '@genlab/core';

export const PLUGIN_TEMPLATES = ['model', 'dataset', 'callback', 'metric'] as const;
export type TemplateKind = (typeof PLUGIN_TEMPLATES)[number];

/** Names of the files `exp new` writes, and what it prints. */
export interface Scaffold {
  files: string[];
  next: string[];
}

interface Names {
  /** The plugin's registry name (`my-gan`, `me/gan`). */
  name: string;
  /** File stem (`my-gan`, `me-gan`). */
  stem: string;
  /** The exported constant (`myGan`). */
  ident: string;
}

function namesOf(kind: TemplateKind, name: string): Names {
  if (!/^[a-z][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)?$/.test(name)) {
    throw new UserError(`exp new ${kind}: '${name}' is not a plugin name: lower-case letters, digits and -, optionally one / (e.g. my-gan or lab/my-gan)`);
  }
  const stem = name.replace('/', '-');
  const ident = stem.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return { name, stem, ident };
}

/** Write the plugin, its config and its test into `dir`; refuses to overwrite unless `force`. */
export function scaffold(kind: TemplateKind, name: string, dir: string, opts: { force?: boolean } = {}): Scaffold {
  const n = namesOf(kind, name);
  const files: [string, string][] = [
    [`${n.stem}.ts`, PLUGIN[kind](n)],
    [`${n.stem}.yaml`, CONFIG[kind](n)],
    [`${n.stem}.test.ts`, TEST[kind](n)],
  ];
  const root = path.resolve(dir);
  const existing = files.map(([f]) => path.join(root, f)).filter((f) => fs.existsSync(f));
  if (existing.length && !opts.force) throw new UserError(`exp new ${kind}: ${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; choose another name or --dir, or pass --force to overwrite`);
  try {
    ensureDir(root);
    for (const [f, text] of files) fs.writeFileSync(path.join(root, f), text);
  } catch (error) {
    throw new UserError(`exp new ${kind}: cannot write into ${root}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const rel = (f: string) => path.relative(process.cwd(), path.join(root, f)) || f;
  return {
    files: files.map(([f]) => rel(f)),
    next: [
      `npx exp validate ${rel(`${n.stem}.yaml`)}`,
      `npx exp run ${rel(`${n.stem}.yaml`)}`,
      `npx vitest run ${rel(`${n.stem}.test.ts`)}   (needs vitest: npm install -D vitest@4)`,
    ],
  };
}

// ------------------------------------------------------------------ the plugin files

const PLUGIN: Record<TemplateKind, (n: Names) => string> = {
  model: (n) => `/**
 * ${n.name}: a model plugin for genlab, scaffolded by \`exp new model ${n.name}\`.
 *
 * A small fully-connected GAN to start from: a generator G (z → hidden → data) and a
 * discriminator D (data → hidden → one logit), trained with the non-saturating loss. It
 * works on any data shape (images are flattened). Change the networks, the losses or the
 * step; the contract test (${n.stem}.test.ts) tells you when a change breaks the contract.
 *
 *   npx exp validate ${n.stem}.yaml      # options and data checked, nothing trained
 *   npx exp run ${n.stem}.yaml           # train, sample grids, checkpoints, a tracked run
 *   npx vitest run ${n.stem}.test.ts     # the shared model contract
 */
import { deriveSeed, discriminatorLoss, generatorLoss, latentExport, live, Net, noiseSeed, optimizerSchema, tf, z, type GenerativeModel, type ModelPlugin, type StateDict } from 'genlab';

// 1. Options: a zod schema with defaults, so \`model: { name: ${n.name} }\` is a whole config.
//    .strict() makes a misspelt option an error that names the key and its line.
const schema = z
  .object({
    /** Size of the noise vector z. */
    latentDim: z.number().int().positive().default(32),
    /** Width of the hidden layer of G and of D. */
    hidden: z.number().int().positive().default(256),
    /** One optimizer config for G and for D (Adam, lr 2e-4, β1 0.5 by default). */
    optimizer: optimizerSchema.prefault({}),
  })
  .strict();
export type ${cap(n.ident)}Options = z.infer<typeof schema>;

/** Values per example above which this fully-connected model is refused (use a convolutional one). */
const MAX_VALUES = 64 * 64 * 3;

export const ${n.ident}: ModelPlugin<${cap(n.ident)}Options> = {
  name: '${n.name}',
  family: 'gan',
  description: 'a small fully-connected GAN (scaffolded by exp new)',
  configSchema: schema,

  // 2. check: refuse data this model cannot train on. \`exp validate\` and \`exp run\` call it
  //    before any run exists, with the dataset's shape, classes, range and binarity.
  check(_cfg, { data }) {
    const values = data.shape.reduce((a, b) => a * b, 1);
    if (values > MAX_VALUES) return [{ message: \`a fully-connected GAN on \${values} values per example would be slow and large; use gan/dcgan or smaller images\` }];
    return [];
  },

  // 3. create: the networks for this data, initialised from \`seed\` (the same seed, the same weights).
  create(cfg, { data, seed }): GenerativeModel {
    const dim = data.shape.reduce((a, b) => a * b, 1);
    const [lo, hi] = data.range;
    const G = new Net('generator', deriveSeed(seed, 1));
    const g1 = G.dense('hidden', cfg.latentDim, cfg.hidden);
    const g2 = G.dense('out', cfg.hidden, dim);
    const D = new Net('discriminator', deriveSeed(seed, 2));
    const d1 = D.dense('hidden', dim, cfg.hidden);
    const d2 = D.dense('out', cfg.hidden, 1);
    const f = live(true); // forward passes with the live weights

    /** z [n, latentDim] → samples [n, ...shape] in the data range: tanh mapped onto [lo, hi]. */
    const generate = (zs: tf.Tensor2D): tf.Tensor => {
      const h = tf.relu(g1.apply(zs, f)); // [n, hidden]
      const unit = tf.div(tf.add(tf.tanh(g2.apply(h, f)), 1), 2); // [n, dim] in [0, 1]
      return tf.reshape(tf.add(tf.mul(unit, hi - lo), lo), [zs.shape[0], ...data.shape]);
    };
    /** x [n, ...shape] → logits [n, 1]. */
    const discriminate = (x: tf.Tensor): tf.Tensor2D => {
      const flat = tf.reshape(x, [x.shape[0]!, dim]);
      return d2.apply(tf.leakyRelu(d1.apply(flat, f), 0.2), f);
    };
    const noise = (n: number, seedOf: number) => tf.randomNormal([n, cfg.latentDim], 0, 1, 'float32', noiseSeed(seedOf)) as tf.Tensor2D; // noiseSeed: tfjs reads seed 0 as none

    return {
      // The trainer creates these optimizers and owns gradient handling (norms, clipping).
      optimizers: [
        { name: 'g', config: cfg.optimizer },
        { name: 'd', config: cfg.optimizer },
      ],

      // 4. One step, inside tf.tidy: every update goes through ctx.optimize(optimizer, loss, variables).
      //    ctx.seed(stream) gives this step's noise seed, so a resumed run draws the same noise.
      trainStep(batch, ctx) {
        const n = batch.x.shape[0]!;
        const lossD = ctx.optimize('d', () => discriminatorLoss('non-saturating', discriminate(batch.x), discriminate(generate(noise(n, ctx.seed(0))))), D.trainable);
        const lossG = ctx.optimize('g', () => generatorLoss('non-saturating', discriminate(generate(noise(n, ctx.seed(1))))), G.trainable);
        return { loss_d: lossD, loss_g: lossG }; // scalars: logged, shown, checked for divergence
      },

      // 5. sample: n examples in the data range, the same ones for the same seed.
      sample(n, opts = {}) {
        return tf.tidy(() => generate(noise(n, opts.seed ?? 0)));
      },

      // 5b. exportSpec (optional): what \`exp export\` writes, a tfjs graph model of \`generate\` that
      //     plain @tensorflow/tfjs loads; the contract test checks it reproduces \`sample\`.
      exportSpec: () => latentExport({ latentDim: cfg.latentDim, numClasses: 0, shape: data.shape, generate: (zs) => generate(zs), drawZ: noise }),

      // 6. State: every weight by name, for checkpoints (the trainer saves the optimizer slots).
      getState(): StateDict {
        const out: StateDict = {};
        G.state('generator', out);
        D.state('discriminator', out);
        return out;
      },
      setState(state) {
        G.setState('generator', state);
        D.setState('discriminator', state);
      },

      summary: () => [
        { name: 'generator', params: G.countParams() },
        { name: 'discriminator', params: D.countParams() },
      ],
      dispose() {
        G.dispose();
        D.dispose();
      },
    };
  },
};

/** What genlab reads from this module: its plugin lists. */
export const models = [${n.ident}];
`,

  dataset: (n) => `/**
 * ${n.name}: a dataset plugin for genlab, scaffolded by \`exp new dataset ${n.name}\`.
 *
 * Synthetic images to start from: \`size\` grey squares of \`side\`×\`side\` pixels, each with one
 * bright block at a random place; the label is the quadrant the block is in (4 classes). Drawn
 * from a fixed seed, so every run sees the same set. Replace \`draw\` with reading your files.
 *
 *   npx exp validate ${n.stem}.yaml      # options checked against describe(): no pixels decoded
 *   npx exp run ${n.stem}.yaml           # a GAN trained on it
 *   npx vitest run ${n.stem}.test.ts     # the shared dataset contract
 */
import { ArrayDataset, mulberry32, z, type DataInfo, type DatasetPlugin } from 'genlab';

// 1. Options: a zod schema with defaults; .strict() makes a typo an error naming the key and line.
const schema = z
  .object({
    /** Number of images. */
    size: z.number().int().positive().default(2000),
    /** Side of the square images, in pixels (a multiple of 4 suits convolutional models). */
    side: z.number().int().min(4).default(16),
    /** Pixel range of the batches: [-1, 1] for tanh generators, [0, 1] for sigmoid/likelihood models. */
    range: z.union([z.tuple([z.literal(-1), z.literal(1)]), z.tuple([z.literal(0), z.literal(1)])]).default([-1, 1]),
    /** Seed of the drawn images (fixed, independent of the run seed). */
    dataSeed: z.number().int().min(0).default(0),
  })
  .strict();
export type ${cap(n.ident)}Options = z.infer<typeof schema>;

const CLASSES = ['top-left', 'top-right', 'bottom-left', 'bottom-right'];

/** What \`load\` gives as \`info\`, computed from the options alone. */
function infoOf(cfg: ${cap(n.ident)}Options): DataInfo {
  return { shape: [cfg.side, cfg.side, 1], numClasses: CLASSES.length, classNames: CLASSES, size: cfg.size, range: cfg.range };
}

/** The images as intensities in [0, 1] ([size, side, side, 1] row-major) and their labels. */
function draw(cfg: ${cap(n.ident)}Options): { pixels: Float32Array; labels: Int32Array } {
  const { size, side } = cfg;
  const block = Math.max(1, Math.floor(side / 4));
  const rand = mulberry32(cfg.dataSeed);
  const pixels = new Float32Array(size * side * side);
  const labels = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const r = Math.floor(rand() * (side - block + 1));
    const c = Math.floor(rand() * (side - block + 1));
    for (let y = r; y < r + block; y++) for (let x = c; x < c + block; x++) pixels[i * side * side + y * side + x] = 1;
    labels[i] = (r + block / 2 < side / 2 ? 0 : 2) + (c + block / 2 < side / 2 ? 0 : 1);
  }
  return { pixels, labels };
}

export const ${n.ident}: DatasetPlugin<${cap(n.ident)}Options> = {
  name: '${n.name}',
  description: 'synthetic squares with a bright block, labelled by quadrant (scaffolded by exp new)',
  configSchema: schema,

  // 2. load: decode into memory once; ArrayDataset shuffles by (seed, epoch), resumes exactly
  //    and maps the [0, 1] intensities to \`range\`, one batch at a time.
  async load(cfg) {
    const { pixels, labels } = draw(cfg);
    const { size: _size, ...info } = infoOf(cfg);
    return new ArrayDataset({ pixels, labels }, info, undefined, { range: cfg.range, binarize: 'none', flip: false });
  },

  // 3. describe: the same info without the pixels (exp validate checks models against it).
  //    The contract test checks that it agrees with load.
  async describe(cfg) {
    return infoOf(cfg);
  },
};

/** What genlab reads from this module: its plugin lists. */
export const datasets = [${n.ident}];
`,

  callback: (n) => `/**
 * ${n.name}: a callback plugin for genlab, scaffolded by \`exp new callback ${n.name}\`.
 *
 * It keeps an exponential moving average of every step scalar (losses, D(x), gradient norms)
 * and reports it every \`every\` steps as \`ema/<scalar>\`: the tracker logs it and the progress
 * line shows it, like any reported value. Its averages are kept in checkpoints, so a resumed
 * run reports exactly what an uninterrupted one would.
 *
 *   npx exp validate ${n.stem}.yaml
 *   npx exp run ${n.stem}.yaml           # then: npx exp ui
 *   npx vitest run ${n.stem}.test.ts     # the shared callback contract
 */
import { z, type Callback, type CallbackPlugin, type RunInfo, type StepEnd } from 'genlab';

// 1. Options (configured under \`callbacks.${n.name}:\` in a config).
const schema = z
  .object({
    /** Weight of the newest value: ema ← (1 − alpha)·ema + alpha·value. */
    alpha: z.number().gt(0).max(1).default(0.1),
    /** Report every this many steps. */
    every: z.number().int().positive().default(10),
  })
  .strict();
export type ${cap(n.ident)}Options = z.infer<typeof schema>;

// 2. The callback: an object of optional hooks (onRunStart, onStepEnd, onReport, onRollback,
//    onEpochEnd, onRunEnd, onError), all of which may be async.
class MovingAverage implements Callback {
  readonly name = '${n.name}';
  private ema: Record<string, number> = {};
  constructor(private readonly opts: ${cap(n.ident)}Options) {}

  onStepEnd(run: RunInfo, end: StepEnd): void {
    for (const [key, value] of Object.entries(end.values)) {
      if (!Number.isFinite(value)) continue; // the divergence guard deals with those
      const prev = this.ema[key];
      this.ema[key] = prev === undefined ? value : (1 - this.opts.alpha) * prev + this.opts.alpha * value;
    }
    if (end.step % this.opts.every === 0) {
      run.report(Object.fromEntries(Object.entries(this.ema).map(([k, v]) => [\`ema/\${k}\`, v])));
    }
  }

  // 3. State kept in checkpoints (JSON), restored on resume and on rollback.
  saveState(): Record<string, number> {
    return { ...this.ema };
  }
  loadState(state: unknown): void {
    this.ema = { ...(state as Record<string, number>) };
  }
}

export const ${n.ident}: CallbackPlugin<${cap(n.ident)}Options> = {
  name: '${n.name}',
  description: 'exponential moving averages of the step scalars, reported as ema/<scalar> (scaffolded by exp new)',
  configSchema: schema,
  enabledByDefault: false, // on when a config names it under callbacks:
  create: (cfg) => new MovingAverage(cfg),
};

/** What genlab reads from this module: its plugin lists. */
export const callbacks = [${n.ident}];
`,

  metric: (n) => `/**
 * ${n.name}: a metric plugin for genlab, scaffolded by \`exp new metric ${n.name}\`.
 *
 * The gap between the real and the generated mean intensity and spread: |mean(real) − mean(fake)|
 * and |std(real) − std(fake)| over all values. 0 for a generator that matches the data's
 * first two moments (a low bar: FID and friends are the real test; this shows the contract).
 * Named in a config's \`eval.metrics\`, it is computed at every evaluation next to the others,
 * under the same protocol (samples, reference split, seed).
 *
 *   npx exp validate ${n.stem}.yaml
 *   npx exp run ${n.stem}.yaml           # evaluated at the end of the run
 *   npx vitest run ${n.stem}.test.ts     # the shared metric contract, and a closed form
 */
import type { Features, MetricPlugin } from 'genlab';

/** Mean and standard deviation of every value of a set. */
function moments(x: Features): { mean: number; std: number } {
  let sum = 0;
  let sq = 0;
  for (const v of x.data) {
    sum += v;
    sq += v * v;
  }
  const n = Math.max(1, x.data.length);
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}

export const ${n.ident}: MetricPlugin = {
  name: '${n.name}',
  description: 'gaps between real and generated mean intensity and spread (scaffolded by exp new); lower is better',
  // 'pixels': the raw values in the data range; 'features': the dataset's feature-network embeddings.
  input: 'pixels',
  // Why it cannot be computed for this data, else nothing (checked by exp validate).
  check: ({ data }) => (data.shape.length === 3 ? undefined : \`${n.name} measures images; the data has shape [\${data.shape.join(', ')}]\`),
  compute({ real, fake }) {
    const r = moments(real.pixels!);
    const f = moments(fake.pixels!);
    return { '${n.stem}_mean_gap': Math.abs(r.mean - f.mean), '${n.stem}_std_gap': Math.abs(r.std - f.std) };
  },
};

/** What genlab reads from this module: its plugin lists. */
export const metrics = [${n.ident}];
`,
};

// ------------------------------------------------------------------ configs

const COMMON_TAIL = `dataset:
  name: mnist
  subset: 2000
train:
  steps: 300
  batchSize: 64
  logEvery: 25
`;

/** The head of a config that trains the built-in MLP GAN with the scaffolded plugin module. */
const withMlpGan = (n: Names) => `name: ${n.stem}
seed: 1
plugins: [./${n.stem}.ts]
model:
  name: gan/mlp
  latentDim: 32
  generator: { hidden: [128, 256] }
  discriminator: { hidden: [256, 128] }
`;

const CONFIG: Record<TemplateKind, (n: Names) => string> = {
  model: (n) => `# The ${n.name} model on 2,000 MNIST digits (scaffolded by exp new). Paths are relative to this file.
#   npx exp run ${n.stem}.yaml                          # about a minute on 2 CPU cores
#   npx exp run ${n.stem}.yaml --set model.hidden=512   # any option from the command line
name: ${n.stem}
seed: 1
plugins: [./${n.stem}.ts]
model:
  name: ${n.name}
${COMMON_TAIL}callbacks:
  samples: { every: 100, n: 64 }
  checkpoint: { every: 100 }
`,
  dataset: (n) => `# The MLP GAN on the ${n.name} dataset (scaffolded by exp new). Paths are relative to this file.
${withMlpGan(n)}dataset:
  name: ${n.name}
  size: 2000
  side: 16
train:
  steps: 300
  batchSize: 64
  logEvery: 25
callbacks:
  samples: { every: 100, n: 64 }
  checkpoint: { every: 100 }
`,
  callback: (n) => `# The MLP GAN on MNIST with the ${n.name} callback (scaffolded by exp new).
${withMlpGan(n)}${COMMON_TAIL}callbacks:
  ${n.name}: { alpha: 0.1, every: 25 }
  samples: { every: 100, n: 64 }
`,
  metric: (n) => `# The MLP GAN on MNIST, evaluated at the end with the ${n.name} metric next to FID (scaffolded by exp new).
${withMlpGan(n)}${COMMON_TAIL}callbacks:
  samples: { every: 100, n: 64 }
eval:
  metrics: [${n.name}, fid]
  samples: 500
`,
};

// ------------------------------------------------------------------ tests

const TEST: Record<TemplateKind, (n: Names) => string> = {
  model: (n) => `// The shared model contract (config round trip, finite losses, no leaked tensors, samples
// in range and reproducible, exact state round trip, …) for ${n.name}.  npx vitest run ${n.stem}.test.ts
import { describeModelContract } from 'genlab/testing';
import { ${n.ident} } from './${n.stem}.ts';

describeModelContract(${n.ident}, {
  config: { latentDim: 8, hidden: 16 }, // small: the contract checks behaviour, not quality
  data: { shape: [28, 28, 1], numClasses: 10, range: [-1, 1] },
});
`,
  dataset: (n) => `// The shared dataset contract (batches of the declared shape and range, an order that is a
// function of (seed, epoch), exact mid-epoch resume, describe agreeing with load, no leaked
// tensors) for ${n.name}.  npx vitest run ${n.stem}.test.ts
import os from 'node:os';
import { describeDatasetContract } from 'genlab/testing';
import { ${n.ident} } from './${n.stem}.ts';

describeDatasetContract(${n.ident}, {
  config: { size: 64, side: 8 },
  context: { baseDir: process.cwd(), cacheDir: os.tmpdir(), log: () => {} },
  expect: { shape: [8, 8, 1], numClasses: 4, size: 64 },
  describeAlso: [{ size: 40, side: 12, range: [0, 1] }],
});
`,
  callback: (n) => `// The shared callback contract (a short training run with it: FINISHED, finite reports, no
// leaked tensors; its checkpointed state through JSON) for ${n.name}.  npx vitest run ${n.stem}.test.ts
import { describeCallbackContract } from 'genlab/testing';
import { ${n.ident} } from './${n.stem}.ts';

describeCallbackContract(${n.ident}, { config: { every: 2 }, reports: ['ema/loss'] });
`,
  metric: (n) => `// The shared metric contract (finite values, the same for the same input) for ${n.name},
// and its closed form: identical sets have no gap.  npx vitest run ${n.stem}.test.ts
import { describe, expect, it } from 'vitest';
import { describeMetricContract } from 'genlab/testing';
import { ${n.ident} } from './${n.stem}.ts';

describeMetricContract(${n.ident});

describe('${n.name}', () => {
  it('is 0 for identical sets and |Δmean| for a shifted copy', () => {
    const pixels = { data: Float32Array.from([0, 0.5, 1, 0.25]), n: 2, d: 2 };
    const shifted = { ...pixels, data: pixels.data.map((v) => v + 0.125) };
    const empty = { data: new Float32Array(0), n: 0, d: 0 };
    const info = { shape: [1, 2, 1], numClasses: 0, range: [0, 1.5] as [number, number], size: 2 };
    const side = (p: typeof pixels) => ({ features: empty, probs: empty, pixels: p });
    expect(${n.ident}.compute({ real: side(pixels), fake: side(pixels), info, seed: 0 })).toEqual({ '${n.stem}_mean_gap': 0, '${n.stem}_std_gap': 0 });
    const gap = ${n.ident}.compute({ real: side(pixels), fake: side(shifted), info, seed: 0 });
    expect(gap['${n.stem}_mean_gap']).toBeCloseTo(0.125, 6);
    expect(gap['${n.stem}_std_gap']).toBeCloseTo(0, 6);
  });
});
`,
};

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
