/**
 * `vae/conv`: a small convolutional VAE for [H, W, C] images with H and W divisible by 4,
 * shaped like a small DCGAN:
 *
 *   encoder: x [H, W, C] → conv c₁, k×k, stride 2 → act          [H/2, W/2, c₁]
 *                        → conv c₂, k×k, stride 2 → act          [H/4, W/4, c₂]
 *                        → flatten → dense 2L                    (μ, log σ² of q(z | x))
 *   decoder: z [L] → dense (H/4)(W/4)d₁ → act → reshape          [H/4, W/4, d₁]
 *                  → conv-transpose d₂, k×k, stride 2 → act      [H/2, W/2, d₂]
 *                  → conv-transpose C, k×k, stride 2 → flatten   [H·W·C] (logits, or means)
 *
 * Defaults c = [32, 64], d = [64, 32], k = 4 (a kernel divisible by the stride avoids the
 * checkerboard of transposed convolutions; Odena et al. 2016). No batch norm, so a sample
 * does not depend on the other examples of its batch. Training etc. are in vae.ts.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { deriveSeed, UserError, type DataInfo, type ModelPlugin } from '@genlab/core';
import { activationLayer, convShapeIssue, likelihoodOptions, resolveOptions, Vae, vaeIssues, vaeOptions, type VaeNets } from './vae.js';

const pair = z.tuple([z.number().int().positive(), z.number().int().positive()]);
export const convVaeSchema = z
  .object({
    ...vaeOptions,
    encoder: z
      .object({
        /** Channels of the two stride-2 convolutions. */
        channels: pair.default([32, 64]),
        /** Kernel size. */
        kernel: z.number().int().min(1).max(9).default(4),
      })
      .strict()
      .prefault({}),
    decoder: z
      .object({
        /** Channels at H/4×W/4 (after the dense layer) and at H/2×W/2. */
        channels: pair.default([64, 32]),
        /** Transposed-convolution kernel size. */
        kernel: z.number().int().min(1).max(9).default(4),
        ...likelihoodOptions,
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type ConvVaeConfig = z.infer<typeof convVaeSchema>;

/** The convolutional encoder and decoder; with `numClasses` > 0 each also takes a one-hot class (concatenated after the convolutions / to z). */
export function convNets(cfg: Pick<ConvVaeConfig, 'latentDim' | 'activation' | 'encoder' | 'decoder'>, data: DataInfo, numClasses: number, seed: number, model = 'vae/conv'): VaeNets {
  const why = convShapeIssue(model, data);
  if (why) throw new UserError(why);
  const [H, W, C] = data.shape as [number, number, number];
  const L = cfg.latentDim;
  const init = (k: number) => tfl.initializers.glorotUniform({ seed: deriveSeed(seed, k) });
  const act = (x: tfl.SymbolicTensor) => activationLayer(cfg.activation).apply(x) as tfl.SymbolicTensor;
  const cond = numClasses > 0 ? () => [tfl.input({ shape: [numClasses] })] : () => [];

  const [c1, c2] = cfg.encoder.channels;
  const ek = cfg.encoder.kernel;
  const x = tfl.input({ shape: [H, W, C] });
  const ec = cond();
  let h = act(tfl.layers.conv2d({ filters: c1, kernelSize: ek, strides: 2, padding: 'same', kernelInitializer: init(1) }).apply(x) as tfl.SymbolicTensor); // [B, H/2, W/2, c1]
  h = act(tfl.layers.conv2d({ filters: c2, kernelSize: ek, strides: 2, padding: 'same', kernelInitializer: init(2) }).apply(h) as tfl.SymbolicTensor); // [B, H/4, W/4, c2]
  h = tfl.layers.flatten().apply(h) as tfl.SymbolicTensor;
  if (ec.length) h = tfl.layers.concatenate().apply([h, ...ec]) as tfl.SymbolicTensor;
  const stats = tfl.layers.dense({ units: 2 * L, kernelInitializer: init(3) }).apply(h) as tfl.SymbolicTensor; // [B, 2L]
  const encoder = tfl.model({ name: 'encoder', inputs: [x, ...ec], outputs: stats });

  const [d1, d2] = cfg.decoder.channels;
  const dk = cfg.decoder.kernel;
  const zIn = tfl.input({ shape: [L] });
  const dc = cond();
  let g = dc.length ? (tfl.layers.concatenate().apply([zIn, ...dc]) as tfl.SymbolicTensor) : zIn;
  g = act(tfl.layers.dense({ units: (H / 4) * (W / 4) * d1, kernelInitializer: init(4) }).apply(g) as tfl.SymbolicTensor);
  g = tfl.layers.reshape({ targetShape: [H / 4, W / 4, d1] }).apply(g) as tfl.SymbolicTensor; // [B, H/4, W/4, d1]
  g = act(tfl.layers.conv2dTranspose({ filters: d2, kernelSize: dk, strides: 2, padding: 'same', kernelInitializer: init(5) }).apply(g) as tfl.SymbolicTensor); // [B, H/2, W/2, d2]
  g = tfl.layers.conv2dTranspose({ filters: C, kernelSize: dk, strides: 2, padding: 'same', kernelInitializer: init(6) }).apply(g) as tfl.SymbolicTensor; // [B, H, W, C]
  const decoder = tfl.model({ name: 'decoder', inputs: [zIn, ...dc], outputs: tfl.layers.flatten().apply(g) as tfl.SymbolicTensor }); // [B, H·W·C]
  return { encoder, decoder };
}

/** The `vae/conv` model plugin. */
export const convVae: ModelPlugin<ConvVaeConfig> = {
  name: 'vae/conv',
  family: 'vae',
  description: 'convolutional VAE (conv 32, 64 stride 2 / conv-transpose 64, 32 stride 2), Bernoulli / continuous-Bernoulli / Gaussian decoder, IWAE NLL',
  configSchema: convVaeSchema,
  check: (cfg, { data }) => vaeIssues(cfg, data, { name: 'vae/conv', images: true }),
  traits: () => ({ conditional: false, likelihood: true }),
  create(cfg, { data, seed }) {
    return new Vae(convNets(cfg, data, 0, seed), resolveOptions(cfg, data, 0), data);
  },
};
