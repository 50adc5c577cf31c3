/**
 * Domain feature networks: a small CNN classifier per dataset, trained by genlab itself
 * (`exp features train`), whose penultimate layer gives the features for FID, KID,
 * precision/recall and density/coverage, and whose softmax gives the class probabilities for
 * the Inception-Score analogue and the accuracy of class-conditional samples. Inception
 * features mean nothing on 28×28 digits, and Inception's weights cannot be downloaded here.
 *
 *   input [H, W, C] in [0, 1] → conv 3×3 (c1) → ReLU → max-pool 2 → conv 3×3 (c2) → ReLU →
 *   max-pool 2 → dense (dim) → ReLU = features → dense (classes) = logits
 *
 * Trained weights live in `packages/metrics/weights/<dataset>/` (genlab checkpoint format)
 * with the command, seed, data and test accuracy that produced them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ArrayDataset, type Batch, deriveSeed, layerTargets, loadStateDict, mulberry32, type ImageDataset, readCheckpoint, stableHash, stateDictOf, type StateDict, UserError, writeCheckpoint } from '@genlab/core';
import type { Features } from './linalg.js';

export interface FeatureNetSpec {
  inputShape: [number, number, number];
  numClasses: number;
  channels: [number, number];
  dim: number;
}

/** What is stored next to the weights: how they were made and how good they are. */
export interface FeatureCard {
  dataset: string;
  datasetOptions: Record<string, unknown>;
  spec: FeatureNetSpec;
  seed: number;
  epochs: number;
  batchSize: number;
  lr: number;
  shift: number;
  testAccuracy: number;
  testExamples: number;
  trainExamples: number;
  command: string;
  backend: string;
  trainedAt: string;
  seconds: number;
}

/** A loaded (or freshly built) feature network. */
export class FeatureNet {
  private constructor(
    readonly spec: FeatureNetSpec,
    readonly net: tfl.LayersModel,
    readonly card?: FeatureCard,
  ) {}

  static create(spec: FeatureNetSpec, seed: number): FeatureNet {
    const [h, w] = spec.inputShape;
    if (h % 4 !== 0 || w % 4 !== 0) throw new UserError(`feature networks need image sides divisible by 4, got ${h}×${w}`);
    const init = (k: number) => tfl.initializers.glorotUniform({ seed: deriveSeed(seed, k) });
    const input = tfl.input({ shape: spec.inputShape });
    let x = tfl.layers.conv2d({ filters: spec.channels[0], kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }).apply(input) as tfl.SymbolicTensor;
    x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.conv2d({ filters: spec.channels[1], kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
    const features = tfl.layers.dense({ units: spec.dim, activation: 'relu', kernelInitializer: init(3) }).apply(x) as tfl.SymbolicTensor;
    const logits = tfl.layers.dense({ units: spec.numClasses, kernelInitializer: init(4) }).apply(features) as tfl.SymbolicTensor;
    return new FeatureNet(spec, tfl.model({ inputs: input, outputs: [features, logits] }));
  }

  /** Load weights written by `save`; errors name the folder. */
  static load(dir: string): FeatureNet {
    if (!fs.existsSync(path.join(dir, 'manifest.json'))) throw new UserError(`no feature network in ${dir}`);
    const { state, meta } = readCheckpoint(dir);
    const card = meta.card as FeatureCard | undefined;
    if (!card?.spec) throw new UserError(`${dir}: the checkpoint has no feature-network card`);
    const fnet = new FeatureNet(card.spec, FeatureNet.create(card.spec, 0).net, card);
    fnet.setState(state);
    return fnet;
  }

  /** The spec and card of the network in `dir`, from its manifest alone (no weights read, no backend needed). */
  static cardOf(dir: string): FeatureCard | undefined {
    const file = path.join(dir, 'manifest.json');
    if (!fs.existsSync(file)) return undefined;
    try {
      const card = (JSON.parse(fs.readFileSync(file, 'utf8')) as { meta?: { card?: FeatureCard } }).meta?.card;
      return card?.spec ? card : undefined;
    } catch {
      return undefined;
    }
  }

  /** The trained weights shipped for a dataset, or undefined when there are none. */
  static builtin(dataset: string): FeatureNet | undefined {
    const dir = builtinWeightsDir(dataset);
    return fs.existsSync(path.join(dir, 'manifest.json')) ? FeatureNet.load(dir) : undefined;
  }

  /** The weights as `w/<i>` (layers-model order). */
  private weightTargets() {
    return layerTargets('w', this.net.weights);
  }

  getState(): StateDict {
    return stateDictOf(this.weightTargets().map(([k, w]) => [k, w.read()] as const));
  }

  setState(state: StateDict): void {
    const weights = this.net.weights;
    const keys = Object.keys(state).filter((k) => k.startsWith('w/'));
    if (keys.length !== weights.length) throw new UserError(`feature network weights: expected ${weights.length} arrays, found ${keys.length}`);
    try {
      loadStateDict(this.weightTargets(), state);
    } catch (error) {
      throw new UserError(`feature network: ${(error as Error).message}`);
    }
  }

  /** A short hash of the weights: part of every metric's protocol record. */
  hash(): string {
    const h = stableHash(Object.entries(this.getState()).map(([k, e]) => [k, e.shape, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('base64')]));
    return h.slice(0, 12);
  }

  save(dir: string, card: FeatureCard): void {
    writeCheckpoint(dir, this.getState(), { step: 0, epoch: card.epochs, batchInEpoch: 0, seed: card.seed, modelHash: stableHash(card.spec), model: `features/${card.dataset}`, runId: '', createdAt: card.trainedAt, card });
  }

  /** Logits for a batch of images in [0, 1] (kept by the caller's tidy). */
  logits(x: tf.Tensor): tf.Tensor2D {
    return (this.net.apply(x, { training: false }) as tf.Tensor[])[1] as tf.Tensor2D;
  }

  /**
   * Features and class probabilities of `n` images produced `chunk` at a time by `images(start, count)`
   * (a tensor [count, H, W, C] in [0, 1], disposed here).
   */
  extract(n: number, images: (start: number, count: number) => tf.Tensor, chunk = 500): { features: Features; probs: Features } {
    const feats = new Float32Array(n * this.spec.dim);
    const probs = new Float32Array(n * this.spec.numClasses);
    for (let start = 0; start < n; start += chunk) {
      const count = Math.min(chunk, n - start);
      const [f, p] = tf.tidy(() => {
        const x = images(start, count);
        const [fe, lo] = this.net.apply(x, { training: false }) as tf.Tensor[];
        return [fe!.dataSync() as Float32Array, tf.softmax(lo!).dataSync() as Float32Array];
      });
      feats.set(f, start * this.spec.dim);
      probs.set(p, start * this.spec.numClasses);
    }
    return { features: { data: feats, n, d: this.spec.dim }, probs: { data: probs, n, d: this.spec.numClasses } };
  }

  dispose(): void {
    this.net.dispose();
  }
}

/** Where the shipped weights of a dataset's feature network live. */
export function builtinWeightsDir(dataset: string): string {
  return fileURLToPath(new URL(`../weights/${dataset}/`, import.meta.url));
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Peak learning rate; it follows a cosine from `lr` down to 0 over the training. */
  lr: number;
  /** Random translations of up to this many pixels (0: none). */
  shift?: number;
  seed: number;
  log(message: string): void;
}

/** Shift every image of `x` [B, H, W, C] by a seeded random offset in [-s, s]² (zeros fill in). */
export function randomShift(x: tf.Tensor4D, s: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const padded = tf.pad(x, [[0, 0], [s, s], [s, s], [0, 0]]);
    const rand = mulberry32(seed);
    // One slice per image: exact on every backend (the wasm backend's cropAndResize is not).
    const parts = Array.from({ length: b }, (_, i) => {
      const dy = Math.floor(rand() * (2 * s + 1));
      const dx = Math.floor(rand() * (2 * s + 1));
      return tf.slice(padded, [i, dy, dx, 0], [1, h, w, c]);
    });
    return tf.concat(parts, 0) as tf.Tensor4D;
  });
}

/** Share of correct argmax predictions on every example of `ds` (images in [0, 1]). */
export async function accuracy(fnet: FeatureNet, ds: ImageDataset, chunk = 500): Promise<number> {
  let hit = 0;
  let n = 0;
  const count = (b: Batch) => {
    hit += tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(fnet.logits(b.x), 1), b.y), 'int32')).dataSync()[0]!);
    n += b.y.shape[0];
    tf.dispose([b.x, b.y]);
  };
  if (ds instanceof ArrayDataset) {
    // Every example, in order (batches() would drop the last partial batch).
    for (let start = 0; start < ds.info.size; start += chunk) count(ds.gather(Array.from({ length: Math.min(chunk, ds.info.size - start) }, (_, i) => start + i)));
  } else {
    for await (const b of ds.batches({ batchSize: Math.min(chunk, ds.info.size), epoch: 0, startBatch: 0, seed: 0 })) count(b);
  }
  if (n === 0) throw new UserError('the test split is empty');
  return hit / n;
}

/** Train a feature network with Adam on cross-entropy; returns the per-epoch test accuracy. */
export async function trainFeatureNet(fnet: FeatureNet, train: ImageDataset, test: ImageDataset, opts: TrainOptions): Promise<number[]> {
  const optimizer = tf.train.adam(opts.lr);
  // tfjs's Adam reads its (protected) learning rate on every update: the schedule sets it.
  const schedule = optimizer as unknown as { learningRate: number };
  const vars = fnet.net.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const accs: number[] = [];
  const perEpoch = train.batchesPerEpoch(opts.batchSize);
  const total = perEpoch * opts.epochs;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const t0 = performance.now();
    let lossSum = 0;
    let steps = 0;
    for await (const b of train.batches({ batchSize: opts.batchSize, epoch, startBatch: 0, seed: opts.seed })) {
      schedule.learningRate = (opts.lr * (1 + Math.cos((Math.PI * (epoch * perEpoch + steps)) / total))) / 2;
      const x = opts.shift ? randomShift(b.x as tf.Tensor4D, opts.shift, deriveSeed(opts.seed, epoch, steps)) : b.x;
      lossSum += trainStep(fnet, optimizer, vars, { x, y: b.y });
      tf.dispose([b.x, b.y, x]);
      steps++;
      if (steps % 100 === 0) opts.log(`  epoch ${epoch + 1}/${opts.epochs}: batch ${steps}/${perEpoch}, loss ${(lossSum / steps).toFixed(4)}`);
    }
    const acc = await accuracy(fnet, test);
    accs.push(acc);
    opts.log(`epoch ${epoch + 1}/${opts.epochs}: loss ${(lossSum / steps).toFixed(4)}, test accuracy ${(100 * acc).toFixed(2)} % (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  optimizer.dispose();
  return accs;
}

function trainStep(fnet: FeatureNet, optimizer: tf.Optimizer, vars: tf.Variable[], b: Batch): number {
  return tf.tidy(() => {
    const loss = optimizer.minimize(
      () => {
        const logits = (fnet.net.apply(b.x, { training: true }) as tf.Tensor[])[1]!;
        return tf.losses.softmaxCrossEntropy(tf.oneHot(b.y, fnet.spec.numClasses), logits) as tf.Scalar;
      },
      true,
      vars,
    );
    return loss!.dataSync()[0]!;
  });
}

/**
 * Why there is no usable feature network for a run's images: none given and none shipped for
 * the dataset, or one for other image shapes; undefined when there is one. Reads only the
 * network's manifest, so validation can ask it before any backend exists. `optionKey` names
 * the option that would set one.
 */
export function featureNetIssue(target: { info: { shape: number[] }; dataset: { name: string }; baseDir: string }, featureNet: string | undefined, optionKey: string): string | undefined {
  const { info } = target;
  const dir = featureNet ? path.resolve(target.baseDir, featureNet) : builtinWeightsDir(target.dataset.name);
  const card = FeatureNet.cardOf(dir);
  if (!card) {
    return featureNet
      ? `no feature network in ${dir} (${optionKey})`
      : `no feature network for dataset '${target.dataset.name}': train one with 'pnpm exp features train --dataset ${target.dataset.name}' (a config in configs/features/) or set ${optionKey}`;
  }
  if (card.spec.inputShape.join() !== info.shape.join()) return `the feature network takes [${card.spec.inputShape.join(', ')}] images but the data is [${info.shape.join(', ')}]`;
  return undefined;
}
