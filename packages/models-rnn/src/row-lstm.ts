/**
 * `rnn/row-lstm`: an autoregressive model of binary H×W×1 images in the spirit of
 * PixelRNN's Row LSTM (van den Oord et al. 2016, §3.1; the network is in net.ts):
 *
 *     p(x) = Π_{i,j} Bernoulli(x_ij | σ(f(x_<ij)))      (raster order, x_<ij: the pixels before)
 *
 * Trained by maximum likelihood with teacher forcing: one pass over the whole image gives
 * every conditional at once, and the loss is the exact negative log-likelihood per image
 * in nats, Σ_ij [softplus(z_ij) − x_ij·z_ij]. Sampling is ancestral, pixel by pixel.
 *
 * Data: binary images (`dataset.binarize`), any two-valued range; the low end is pixel 0,
 * the high end pixel 1, and samples come back in the data range.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { type Batch, type CheckIssue, type DataInfo, type GenerativeModel, type ModelExport, loadStateDict, type ModelPlugin, optimizerSchema, stateDictOf, type SampleOptions, type StateDict, type TrainContext, UserError } from '@genlab/core';
import { RowLstmNet } from './net.js';
import { ancestralSample } from './sample.js';
import { rowLstmExport } from './export.js';

/** Adam with lr 1e-3, β1 0.9 (the usual settings for likelihood models, not the GAN's 2e-4, 0.5). */
const adam = { type: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0 } as const;

/** Core's optimizer options with this model's defaults for the keys a config leaves out. */
const rnnOptimizerSchema = optimizerSchema.extend({
  lr: z.number().positive().default(adam.lr),
  beta1: z.number().min(0).max(1).lt(1).default(adam.beta1),
});

const schema = z
  .object({
    /** Recurrent cell of every layer: `lstm` (the paper's) or `gru`. */
    cell: z.enum(['lstm', 'gru']).default('lstm'),
    /** Number of Row LSTM layers L (layer 0 reads the pixels with mask A, the others mask B). */
    layers: z.number().int().min(1).default(2),
    /** Hidden channels h of every layer (the gates have 4h channels for LSTM, 3h for GRU). */
    hidden: z.number().int().positive().default(32),
    /** Width k of the masked input-to-state convolution along the row. */
    kernel: z.number().int().positive().default(3),
    /** Channels of the output head's hidden 1×1 conv; 0: one linear 1×1 conv to the logit. */
    outputHidden: z.number().int().min(0).default(32),
    /** Class-conditional: a learned class embedding added to every layer's input-to-state term. */
    conditional: z.boolean().default(false),
    /** The optimizer (Adam, lr 1e-3, β1 0.9 by default). Gradient clipping: `train.gradClip`. */
    optimizer: rnnOptimizerSchema.default(adam),
  })
  .strict();
export type RowLstmConfig = z.infer<typeof schema>;

/** A trained-or-not Row LSTM bound to its data shape and range. */
export class RowLstm implements GenerativeModel {
  readonly optimizers;
  readonly conditional: boolean;
  readonly net: RowLstmNet;
  private readonly vars: tf.Variable[];
  private readonly pixels: number;

  constructor(
    cfg: RowLstmConfig,
    shape: [number, number, number],
    private readonly range: [number, number],
    numClasses: number,
    seed: number,
  ) {
    const [height, width] = shape;
    this.conditional = cfg.conditional;
    this.net = new RowLstmNet(
      { height, width, hidden: cfg.hidden, layers: cfg.layers, kernel: cfg.kernel, cell: cfg.cell, outputHidden: cfg.outputHidden, numClasses: cfg.conditional ? numClasses : 0 },
      seed,
    );
    this.vars = this.net.named().map(([, v]) => v);
    this.pixels = height * width;
    this.optimizers = [{ name: 'rnn', config: cfg.optimizer }];
  }

  /** Data-range values → {0, 1}. */
  private toBits(x: tf.Tensor): tf.Tensor4D {
    const [lo, hi] = this.range;
    return tf.div(tf.sub(x, lo), hi - lo) as tf.Tensor4D;
  }

  /** Labels for the network: the batch's when conditional, none otherwise. */
  private labels(y: tf.Tensor1D | undefined): tf.Tensor1D | undefined {
    return this.conditional ? y : undefined;
  }

  /** Mean over the batch of −log p(x) in nats: Σ_ij softplus(z) − x·z (Bernoulli log-loss from logits). */
  nll(batch: Batch): tf.Scalar {
    const x = this.toBits(batch.x);
    const logits = this.net.logits(x, this.labels(batch.y)); // [B, H, W, 1]
    const perPixel = tf.sub(tf.softplus(logits), tf.mul(x, logits));
    return tf.mean(tf.sum(perPixel, [1, 2, 3]));
  }

  trainStep(batch: Batch, ctx: TrainContext) {
    const loss = ctx.optimize('rnn', () => this.nll(batch), this.vars);
    return { loss, loss_bpd: tf.div(loss, this.pixels * Math.LN2) as tf.Scalar };
  }

  /** `nll`: the exact negative log-likelihood per image in nats (the metric derives bits/dim). */
  evaluate(batch: Batch) {
    return { nll: tf.tidy(() => this.nll(batch)) };
  }

  /**
   * `n` samples by ancestral sampling, [n, H, W, 1] in the data range. Conditional models use
   * `labels` ([n] int32), or classes 0, 1, 2, … in turn when none are given.
   */
  sample(n: number, opts: SampleOptions = {}): tf.Tensor {
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
    const numClasses = this.net.spec.numClasses;
    let labels: tf.Tensor1D | undefined;
    if (this.conditional) {
      if (opts.labels && opts.labels.shape[0] !== n) throw new Error(`sample: ${opts.labels.shape[0]} labels for ${n} samples`);
      labels = opts.labels ?? tf.tensor1d(Int32Array.from({ length: n }, (_, i) => i % numClasses), 'int32');
    }
    try {
      const [lo, hi] = this.range;
      return tf.tidy(() => tf.add(tf.mul(ancestralSample(this.net, n, seed, labels), hi - lo), lo));
    } finally {
      if (labels && labels !== opts.labels) labels.dispose();
    }
  }

  /** `step`, the one-row network, and the pixel loop that samples with it. */
  exportSpec(): ModelExport {
    return rowLstmExport(this.net, { conditional: this.conditional });
  }

  getState(): StateDict {
    return stateDictOf(this.net.named());
  }

  setState(state: StateDict): void {
    loadStateDict(this.net.named(), state);
  }

  summary() {
    const sum = (keep: (key: string) => boolean) =>
      this.net
        .named()
        .filter(([k]) => keep(k))
        .reduce((a, [, v]) => a + v.size, 0);
    return [
      { name: 'rows', params: sum((k) => k.startsWith('layer') && !k.endsWith('/embedding')) },
      { name: 'head', params: sum((k) => k.startsWith('head/')) },
      ...(this.conditional ? [{ name: 'embedding', params: sum((k) => k.endsWith('/embedding')) }] : []),
    ];
  }

  dispose(): void {
    tf.dispose(this.vars);
  }
}

/** The `rnn/row-lstm` model plugin. */
export const rowLstm: ModelPlugin<RowLstmConfig> = {
  name: 'rnn/row-lstm',
  family: 'rnn',
  description: 'autoregressive pixel RNN (PixelRNN Row LSTM, masked row convolutions) for binary images; exact NLL',
  configSchema: schema,
  check: (cfg, { data }) => rowLstmIssues(cfg, data),
  traits: (cfg) => ({ conditional: cfg.conditional, likelihood: true }),
  create(cfg, { data, seed }) {
    const [first] = rowLstmIssues(cfg, data);
    if (first) throw new UserError(first.path ? `'model.${first.path}' ${first.message}` : first.message);
    return new RowLstm(cfg, data.shape as [number, number, number], data.range, data.numClasses, seed);
  },
};

/** What the Row LSTM needs of the data: single-channel binary images, and labels when conditional. */
export function rowLstmIssues(cfg: Pick<RowLstmConfig, 'conditional'>, data: DataInfo): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const shape = data.shape;
  if (shape.length !== 3 || shape[2] !== 1) issues.push({ message: `rnn/row-lstm models single-channel images [H, W, 1]; the data has shape [${shape.join(', ')}]` });
  if (!data.binary || !(data.range[1] > data.range[0])) {
    issues.push({ message: `rnn/row-lstm models binary pixels (a Bernoulli per pixel), but the data has grey levels: set 'dataset.binarize' (threshold, static or stochastic) and 'dataset.range: [0, 1]'` });
  }
  if (cfg.conditional && data.numClasses < 1) issues.push({ path: 'conditional', message: `is true but the data is unlabelled: set 'model.conditional: false' or use a labelled dataset` });
  return issues;
}
