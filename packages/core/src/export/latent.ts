/**
 * The export of a model that samples in one pass from latent noise (GANs, VAEs): a
 * `generator` graph z [n, L] (and labels [n]) → images, and the two-line sampler that runs it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelExport, RandomInput, SampleOptions } from '../contracts.js';
import { noiseSeed } from '../rng.js';
import type { ExportGraph, ExportInput } from './trace.js';

/** `sampler.mjs` of a latent model (an ES module with no imports: plain tfjs calls it). */
export const LATENT_SAMPLER_SOURCE = `// genlab sampler "latent": images = generator(z[, labels]), one graph pass.
// sample(tf, graphs, inputs, info): graphs are loaded tfjs graph models by name, inputs the
// random inputs by name ([n, ...] each, as genlab.json's "random" describes), info genlab.json.
// Returns float32 [n, ...info.output.shape] in info.output.range.
export function sample(tf, graphs, inputs, info) {
  const feeds = {};
  for (const name of Object.keys(info.graphs.generator.inputs)) feeds[name] = inputs[name];
  return graphs.generator.execute(feeds, 'images');
}
`;

/** What a latent model gives to describe its export. */
export interface LatentExportOptions {
  latentDim: number;
  /** Number of classes for a conditional model; 0 for an unconditional one. */
  numClasses: number;
  /** Shape of one image. */
  shape: number[];
  /** z [n, L] (and labels [n], and the extra inputs by name) → images [n, ...shape] in the data range, as `sample` computes them. */
  generate(z: tf.Tensor2D, labels: tf.Tensor1D | undefined, inputs: Record<string, tf.Tensor>): tf.Tensor;
  /** The latents `sample(n, { seed })` draws (default: N(0, I) with that seed, as tfjs draws it). */
  drawZ?(n: number, seed: number): tf.Tensor2D;
  /** Further graphs (e.g. a VAE's encoder). */
  extraGraphs?: Record<string, ExportGraph>;
  /** Further random inputs of the generator, beyond z and labels, with how `sample` draws them. */
  extraInputs?: { input: ExportInput; random: RandomInput; draw(n: number, seed: number): tf.Tensor }[];
  info?: Record<string, unknown>;
}

/** Classes 0, 1, … in turn: the labels a conditional `sample` uses when it is given none. */
export function cyclicLabels(n: number, k: number): tf.Tensor1D {
  return tf.tensor1d(Int32Array.from({ length: n }, (_, i) => i % k), 'int32');
}

/** The `ModelExport` of a latent model. */
export function latentExport(o: LatentExportOptions): ModelExport {
  const drawZ = o.drawZ ?? ((n: number, seed: number) => tf.randomNormal([n, o.latentDim], 0, 1, 'float32', noiseSeed(seed)) as tf.Tensor2D);
  const inputs: ExportInput[] = [{ name: 'z', shape: [o.latentDim], dtype: 'float32', description: 'latent vectors, N(0, I)', example: (n) => drawZ(n, 1) }];
  const random: Record<string, RandomInput> = { z: { distribution: 'normal', shape: [o.latentDim], description: 'latent vector z ~ N(0, I)' } };
  if (o.numClasses > 0) {
    inputs.push({ name: 'labels', shape: [], dtype: 'int32', description: `class indices 0…${o.numClasses - 1}`, example: (n) => cyclicLabels(n, o.numClasses) });
    random.labels = { distribution: 'labels', shape: [], description: `class index 0…${o.numClasses - 1}` };
  }
  for (const e of o.extraInputs ?? []) {
    inputs.push(e.input);
    random[e.input.name] = e.random;
  }
  const generator: ExportGraph = {
    inputs,
    outputs: { images: `images [n, ${o.shape.join(', ')}] in the data range` },
    forward: (x) => ({ images: o.generate(x.z as tf.Tensor2D, x.labels as tf.Tensor1D | undefined, x) }),
  };
  return {
    sampler: 'latent',
    graphs: { generator, ...o.extraGraphs },
    samplerSource: LATENT_SAMPLER_SOURCE,
    random,
    randomInputs: (n: number, opts: SampleOptions & { seed: number }) => {
      const out: Record<string, tf.Tensor> = { z: drawZ(n, opts.seed) };
      if (o.numClasses > 0) out.labels = opts.labels ? opts.labels.clone() : cyclicLabels(n, o.numClasses);
      for (const e of o.extraInputs ?? []) out[e.input.name] = e.draw(n, opts.seed);
      return out;
    },
    info: { latentDim: o.latentDim, ...o.info },
  };
}
