/**
 * genlab: the one package a plugin project depends on and imports from.
 *
 *     import { tf, z, type ModelPlugin, Net, discriminatorLoss } from 'genlab';
 *
 * - the contracts (`ModelPlugin`, `DatasetPlugin`, `CallbackPlugin`, `TrackerPlugin`,
 *   `MetricPlugin`, `GenerativeModel`, …) and everything else of `@genlab/core` (errors,
 *   seeds, optimizers, `ArrayDataset`, state-dict helpers, image encoding, the trainer);
 * - `tf`: the very tfjs-core instance the `exp` CLI's backend runs, so a plugin's tensors
 *   are the backend's tensors (a second copy of tfjs-core would have no backend);
 * - `z`: zod 4, for plugin option schemas;
 * - the building blocks the built-in models are made of: layers over explicit variables
 *   (dense, conv, conv-transpose, batch norm, embeddings, spectral norm), GAN losses,
 *   penalties, DiffAugment and the shared GAN step, and the dataset options every image
 *   dataset shares;
 * - the built-in plugin packages whole, as namespaces (`gan`, `vae`, `rnn`, `datasets`,
 *   `metrics`, `tracking`), to reuse or extend a built-in model.
 *
 * The contract tests are in `genlab/testing` (they import vitest; keep them out of plugin code).
 */
export * from '@genlab/core';
export * as tf from '@tensorflow/tfjs-core';
export { z } from 'zod';

export {
  Net,
  SpectralNorm,
  Dense,
  Conv2d,
  ConvTranspose2d,
  BatchNorm,
  Embedding,
  live,
  activate,
  upsample2x,
  downsample2x,
  type Fwd,
  type BnStats,
  discriminatorLoss,
  generatorLoss,
  classLoss,
  lossSchema,
  type GanLoss,
  gradientPenalty,
  r1Penalty,
  penaltySchema,
  diffAugment,
  Gan,
  type GanNetworks,
  type DOutput,
  ganTrainingOptions,
  checkGanOptions,
  type GanOptions,
  outputActivation,
} from '@genlab/models-gan';
export { commonOptions, imageDataset, selectIndices, stratifiedSplit } from '@genlab/datasets';

export * as gan from '@genlab/models-gan';
export * as vae from '@genlab/models-vae';
export * as rnn from '@genlab/models-rnn';
export * as datasets from '@genlab/datasets';
export * as metrics from '@genlab/metrics';
export * as tracking from '@genlab/tracking';
