/**
 * The few network layers genlab's GANs are made of, written on tfjs-core ops over explicit
 * variables instead of tfjs-layers. Written by hand because the GAN zoo needs three things
 * tfjs-layers models do not offer: spectral normalisation whose power-iteration vectors are
 * checkpointed state (Miyato et al. 2018), a generator EMA that samples with a second set
 * of weights through the same forward code, and second-order gradients (gradient penalty,
 * R1) through plain differentiable ops on every backend.
 *
 * A `Net` owns named variables (trainable parameters and non-trainable buffers such as
 * batch-norm statistics and spectral-norm vectors). Layers are small objects created by the
 * net; their `apply` reads weights through `Fwd.w`, so the same forward code runs with the
 * live weights or with the EMA copies.
 */
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, loadStateDict, stateDictOf, type StateDict } from '@genlab/core';

/** Batch-norm statistics: a per-channel mean and variance. */
export interface BnStats {
  mean: tf.Tensor;
  variance: tf.Tensor;
}

/** How one forward pass runs. */
export interface Fwd {
  /** Batch statistics (and their running averages updated) vs running statistics. */
  training: boolean;
  /** The tensor to use for a variable: itself, or its EMA copy when sampling with EMA. */
  w(v: tf.Variable): tf.Tensor;
  /**
   * Batch-norm statistics apart from the running averages, for weights those averages do not
   * belong to (the generator EMA): `use` replaces the running statistics of an inference
   * pass; `collect` receives a training pass's batch statistics, and the running averages
   * are then left as they are.
   */
  bn?: { use?: Map<BatchNorm, BnStats>; collect?: (bn: BatchNorm, stats: BnStats) => void };
}

/** A forward pass with the live weights. */
export const live = (training: boolean): Fwd => ({ training, w: (v) => v });

/** A set of named variables: trainable parameters and non-trainable buffers. */
export class Net {
  /** Every variable by key (`<layer>/<weight>`), in creation order. */
  readonly vars = new Map<string, tf.Variable>();
  /** The trainable ones, in creation order (the optimizer keys its slots by this order). */
  readonly trainable: tf.Variable[] = [];
  /** Spectral-norm states, updated by `powerIterate`. */
  readonly spectral: SpectralNorm[] = [];
  /** Batch norms, in creation order. */
  readonly batchNorms: BatchNorm[] = [];
  private count = 0;

  constructor(
    readonly name: string,
    private readonly seed: number,
  ) {}

  /** A variable initialised by `init` (called inside tidy); `trainable` false for buffers. */
  variable(key: string, init: () => tf.Tensor, trainable = true): tf.Variable {
    if (this.vars.has(key)) throw new Error(`${this.name}: duplicate weight '${key}'`);
    const v = tf.tidy(() => tf.variable(init(), trainable));
    this.vars.set(key, v);
    if (trainable) this.trainable.push(v);
    return v;
  }

  /** Glorot-uniform values (Glorot & Bengio 2010), seeded by the net's seed and a counter. */
  glorot(shape: number[], fanIn: number, fanOut: number): () => tf.Tensor {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const seed = this.nextSeed();
    return () => tf.randomUniform(shape, -limit, limit, 'float32', seed);
  }

  /** A fresh seed for the next initialiser (a function of the net's seed and a counter). */
  nextSeed(): number {
    return deriveSeed(this.seed, this.count++);
  }

  /** One power iteration for every spectrally normalised weight (outside any gradient tape). */
  powerIterate(): void {
    for (const sn of this.spectral) sn.iterate();
  }

  /** Number of trainable values. */
  countParams(): number {
    return this.trainable.reduce((a, v) => a + v.size, 0);
  }

  /** Every variable as `<prefix>/<key>`. */
  state(prefix: string, out: StateDict, source: (v: tf.Variable) => tf.Tensor = (v) => v): void {
    stateDictOf([...this.vars].map(([key, v]) => [key, source(v)] as const), prefix, out);
  }

  /** Restore what `state` wrote; checks every key and shape before assigning anything. */
  setState(prefix: string, state: StateDict, target: (v: tf.Variable) => tf.Variable = (v) => v): void {
    loadStateDict([...this.vars].map(([key, v]) => [key, target(v)] as const), state, prefix);
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
  }

  // ------------------------------------------------------------- layer builders

  dense(key: string, inDim: number, units: number, opts: { bias?: boolean; spectralNorm?: boolean } = {}): Dense {
    return new Dense(this, key, inDim, units, opts.bias ?? true, opts.spectralNorm ?? false);
  }

  conv(key: string, inC: number, outC: number, kernel: number, stride: number, opts: { bias?: boolean; spectralNorm?: boolean } = {}): Conv2d {
    return new Conv2d(this, key, inC, outC, kernel, stride, opts.bias ?? true, opts.spectralNorm ?? false);
  }

  convT(key: string, inC: number, outC: number, kernel: number, stride: number, opts: { bias?: boolean } = {}): ConvTranspose2d {
    return new ConvTranspose2d(this, key, inC, outC, kernel, stride, opts.bias ?? true);
  }

  batchNorm(key: string, channels: number, opts: { classes?: number } = {}): BatchNorm {
    return new BatchNorm(this, key, channels, opts.classes ?? 0);
  }

  embedding(key: string, classes: number, dim: number, opts: { spectralNorm?: boolean } = {}): Embedding {
    return new Embedding(this, key, classes, dim, opts.spectralNorm ?? false);
  }
}

/**
 * Spectral normalisation (Miyato et al. 2018): W / σ(W), with σ estimated by power iteration
 * on W viewed as a matrix [fanIn, fanOut]. `u` [fanOut] and `v` [fanIn] are buffers (saved
 * in checkpoints); `iterate` runs one step, `sigma` reads vᵀ W u with u and v held constant,
 * so the gradient flows into W only, as in the paper's Algorithm 1.
 */
export class SpectralNorm {
  readonly u: tf.Variable;
  readonly v: tf.Variable;
  private readonly rows: number;

  constructor(
    net: Net,
    key: string,
    private readonly weight: tf.Variable,
  ) {
    const cols = weight.shape[weight.shape.length - 1]!;
    this.rows = weight.size / cols;
    const seed = net.nextSeed();
    // u starts as a random unit vector (as in the paper); v from one half-step.
    this.u = net.variable(`${key}/sn_u`, () => l2normalize(tf.randomNormal([cols], 0, 1, 'float32', seed)), false);
    this.v = net.variable(`${key}/sn_v`, () => tf.zeros([this.rows]), false);
    net.spectral.push(this);
    this.iterate();
  }

  /** v ← W u / ‖W u‖, u ← Wᵀ v / ‖Wᵀ v‖ (one power iteration). */
  iterate(): void {
    tf.tidy(() => {
      const W = tf.reshape(this.weight, [this.rows, -1]); // [fanIn, fanOut]
      const v = l2normalize(tf.squeeze(tf.matMul(W, tf.reshape(this.u, [-1, 1])), [1])); // [fanIn]
      const u = l2normalize(tf.squeeze(tf.matMul(W, tf.reshape(v, [-1, 1]), true, false), [1])); // [fanOut]
      this.v.assign(v);
      this.u.assign(u);
    });
  }

  /** σ(W) ≈ vᵀ W u for the tensor `W` (the live weight or its EMA copy). */
  sigma(W: tf.Tensor): tf.Scalar {
    const Wm = tf.reshape(W, [this.rows, -1]);
    return tf.sum(tf.mul(tf.matMul(tf.reshape(this.v, [1, -1]), Wm), tf.reshape(this.u, [1, -1])));
  }

  /** W / σ(W). */
  normalize(W: tf.Tensor): tf.Tensor {
    return tf.div(W, this.sigma(W));
  }
}

function l2normalize(x: tf.Tensor1D): tf.Tensor1D {
  return tf.div(x, tf.add(tf.norm(x), 1e-12));
}

/** x W + b. */
export class Dense {
  readonly kernel: tf.Variable;
  readonly bias?: tf.Variable;
  readonly sn?: SpectralNorm;
  constructor(net: Net, key: string, inDim: number, units: number, bias: boolean, spectralNorm: boolean) {
    this.kernel = net.variable(`${key}/kernel`, net.glorot([inDim, units], inDim, units));
    if (bias) this.bias = net.variable(`${key}/bias`, () => tf.zeros([units]));
    if (spectralNorm) this.sn = new SpectralNorm(net, key, this.kernel);
  }

  /** [n, inDim] → [n, units]. */
  apply(x: tf.Tensor, f: Fwd): tf.Tensor2D {
    let W = f.w(this.kernel);
    if (this.sn) W = this.sn.normalize(W);
    const y = tf.matMul(x as tf.Tensor2D, W as tf.Tensor2D) as tf.Tensor2D;
    return this.bias ? (tf.add(y, f.w(this.bias)) as tf.Tensor2D) : y;
  }
}

/** A 'same'-padded 2-D convolution, NHWC, filter [k, k, inC, outC]. */
export class Conv2d {
  readonly kernel: tf.Variable;
  readonly bias?: tf.Variable;
  readonly sn?: SpectralNorm;
  constructor(
    net: Net,
    key: string,
    inC: number,
    outC: number,
    private readonly k: number,
    private readonly stride: number,
    bias: boolean,
    spectralNorm: boolean,
  ) {
    this.kernel = net.variable(`${key}/kernel`, net.glorot([k, k, inC, outC], k * k * inC, k * k * outC));
    if (bias) this.bias = net.variable(`${key}/bias`, () => tf.zeros([outC]));
    if (spectralNorm) this.sn = new SpectralNorm(net, key, this.kernel);
  }

  /** [n, H, W, inC] → [n, H/stride, W/stride, outC]. */
  apply(x: tf.Tensor, f: Fwd): tf.Tensor4D {
    let W = f.w(this.kernel);
    if (this.sn) W = this.sn.normalize(W);
    const y = tf.conv2d(x as tf.Tensor4D, W as tf.Tensor4D, this.stride, 'same');
    return this.bias ? tf.add(y, f.w(this.bias)) : y;
  }
}

/** A 'same'-padded transposed convolution (fractionally strided), filter [k, k, outC, inC]. */
export class ConvTranspose2d {
  readonly kernel: tf.Variable;
  readonly bias?: tf.Variable;
  constructor(
    net: Net,
    key: string,
    inC: number,
    private readonly outC: number,
    k: number,
    private readonly stride: number,
    bias: boolean,
  ) {
    this.kernel = net.variable(`${key}/kernel`, net.glorot([k, k, outC, inC], k * k * inC, k * k * outC));
    if (bias) this.bias = net.variable(`${key}/bias`, () => tf.zeros([outC]));
  }

  /** [n, H, W, inC] → [n, H·stride, W·stride, outC]. */
  apply(x: tf.Tensor, f: Fwd): tf.Tensor4D {
    const [n, h, w] = x.shape as [number, number, number, number];
    const out: [number, number, number, number] = [n, h * this.stride, w * this.stride, this.outC];
    const y = tf.conv2dTranspose(x as tf.Tensor4D, f.w(this.kernel) as tf.Tensor4D, out, this.stride, 'same');
    return this.bias ? tf.add(y, f.w(this.bias)) : y;
  }
}

/**
 * Batch normalisation (Ioffe & Szegedy 2015) over every axis but the last. With `classes`
 * > 0 it is conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018): γ and β are
 * rows of per-class tables chosen by the labels. Running statistics use PyTorch's default
 * rate (0.1 of each new batch) and are updated on every training-mode pass.
 */
export class BatchNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly mean: tf.Variable;
  readonly variance: tf.Variable;
  private readonly eps = 1e-3;
  constructor(
    net: Net,
    key: string,
    private readonly channels: number,
    private readonly classes: number,
  ) {
    const table = classes > 0 ? [classes, channels] : [channels];
    this.gamma = net.variable(`${key}/gamma`, () => tf.ones(table));
    this.beta = net.variable(`${key}/beta`, () => tf.zeros(table));
    this.mean = net.variable(`${key}/moving_mean`, () => tf.zeros([channels]), false);
    this.variance = net.variable(`${key}/moving_variance`, () => tf.ones([channels]), false);
    net.batchNorms.push(this);
  }

  /** x [n, ..., C]; `labels` int32 [n] when conditional. */
  apply(x: tf.Tensor, f: Fwd, labels?: tf.Tensor1D): tf.Tensor {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    if (f.training) {
      const m = tf.moments(x, axes);
      mean = m.mean;
      variance = m.variance;
      if (f.bn?.collect) f.bn.collect(this, m);
      else {
        tf.tidy(() => {
          this.mean.assign(tf.add(tf.mul(this.mean, 0.9), tf.mul(m.mean, 0.1)));
          this.variance.assign(tf.add(tf.mul(this.variance, 0.9), tf.mul(m.variance, 0.1)));
        });
      }
    } else {
      const given = f.bn?.use?.get(this);
      mean = given?.mean ?? this.mean;
      variance = given?.variance ?? this.variance;
    }
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
    if (this.classes === 0) return tf.add(tf.mul(normed, f.w(this.gamma)), f.w(this.beta));
    if (!labels) throw new Error('conditional batch norm needs labels');
    // Rows of the tables by one-hot matmul (differentiable on every backend): [n, C].
    const onehot = tf.cast(tf.oneHot(labels, this.classes), 'float32');
    const bshape = [x.shape[0]!, ...x.shape.slice(1, -1).map(() => 1), this.channels];
    const g = tf.reshape(tf.matMul(onehot, f.w(this.gamma) as tf.Tensor2D), bshape);
    const b = tf.reshape(tf.matMul(onehot, f.w(this.beta) as tf.Tensor2D), bshape);
    return tf.add(tf.mul(normed, g), b);
  }
}

/** A class embedding table [classes, dim], looked up by one-hot matmul. */
export class Embedding {
  readonly table: tf.Variable;
  readonly sn?: SpectralNorm;
  constructor(
    net: Net,
    key: string,
    private readonly classes: number,
    dim: number,
    spectralNorm: boolean,
  ) {
    this.table = net.variable(`${key}/table`, net.glorot([classes, dim], classes, dim));
    if (spectralNorm) this.sn = new SpectralNorm(net, key, this.table);
  }

  /** int32 [n] → [n, dim]. */
  apply(labels: tf.Tensor1D, f: Fwd): tf.Tensor2D {
    let T = f.w(this.table);
    if (this.sn) T = this.sn.normalize(T);
    return tf.matMul(tf.cast(tf.oneHot(labels, this.classes), 'float32'), T as tf.Tensor2D);
  }
}

/** An activation by name. */
export function activate(x: tf.Tensor, act: 'relu' | 'leakyRelu' | 'elu' | 'tanh' | 'linear', slope = 0.2): tf.Tensor {
  switch (act) {
    case 'relu':
      return tf.relu(x);
    case 'leakyRelu':
      return tf.leakyRelu(x, slope);
    case 'elu':
      return tf.elu(x);
    case 'tanh':
      return tf.tanh(x);
    default:
      return x;
  }
}

/** Nearest-neighbour 2× upsampling [n, H, W, C] → [n, 2H, 2W, C] by broadcasting (differentiable everywhere). */
export function upsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.reshape(tf.mul(tf.reshape(x, [n, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1])), [n, 2 * h, 2 * w, c]);
}

/** 2×2 average pooling [n, H, W, C] → [n, H/2, W/2, C] as a reshape and mean (second-order safe). */
export function downsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.mean(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]);
}
