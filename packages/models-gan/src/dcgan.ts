/**
 * `gan/dcgan`: a small DCGAN (Radford et al. 2016) for 28×28 (or any H×W divisible by 4)
 * images, as in the TensorFlow DCGAN tutorial:
 *
 *   G: z → dense (H/4)·(W/4)·128 → BN → ReLU → reshape [H/4, W/4, 128]
 *        → convT 64, 5×5, stride 2 → BN → ReLU            [H/2, W/2, 64]
 *        → convT C, 5×5, stride 2 → tanh (or sigmoid)      [H, W, C]
 *   D: x → conv 64, 5×5, stride 2 → LeakyReLU               [H/2, W/2, 64]
 *        → conv 128, 5×5, stride 2 → LeakyReLU              [H/4, W/4, 128]
 *        → flatten → dense 1 (logit)
 *
 * Trained with the same alternating updates as `gan/mlp` (see layers-gan.ts).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { deriveSeed, type ModelPlugin } from '@genlab/core';
import { ganTrainingOptions, LayersGan, outputActivation } from './layers-gan.js';

const schema = z
  .object({
    /** Size of the latent noise vector z ~ N(0, I). */
    latentDim: z.number().int().positive().default(100),
    generator: z
      .object({
        /** Channels at H/4×W/4 (after the dense layer) and at H/2×W/2. */
        channels: z.tuple([z.number().int().positive(), z.number().int().positive()]).default([128, 64]),
        /** Transposed-convolution kernel size. */
        kernel: z.number().int().min(1).max(9).default(5),
        /** Output activation: `auto` = tanh for data in [-1, 1], a sigmoid for [0, 1]. */
        output: z.enum(['auto', 'tanh', 'sigmoid', 'linear']).default('auto'),
      })
      .strict()
      .default({ channels: [128, 64], kernel: 5, output: 'auto' }),
    discriminator: z
      .object({
        /** Channels of the two stride-2 convolutions. */
        channels: z.tuple([z.number().int().positive(), z.number().int().positive()]).default([64, 128]),
        kernel: z.number().int().min(1).max(9).default(5),
      })
      .strict()
      .default({ channels: [64, 128], kernel: 5 }),
    ...ganTrainingOptions,
  })
  .strict();
export type DcganConfig = z.infer<typeof schema>;

/** The `gan/dcgan` model plugin. */
export const dcgan: ModelPlugin<DcganConfig> = {
  name: 'gan/dcgan',
  family: 'gan',
  description: 'DCGAN: G dense 7x7x128, BN, convT 64, BN, convT C; D conv 64 s2, conv 128 s2, dense',
  configSchema: schema,
  create(cfg, { data, seed }) {
    if (data.shape.length !== 3 || data.shape[0]! % 4 !== 0 || data.shape[1]! % 4 !== 0) {
      throw new Error(`gan/dcgan needs images [H, W, C] with H and W divisible by 4, the data has shape [${data.shape.join(', ')}]`);
    }
    const [H, W, C] = data.shape as [number, number, number];
    const init = (k: number) => tfl.initializers.glorotUniform({ seed: deriveSeed(seed, k) });
    const [c1, c2] = cfg.generator.channels;
    const gk = cfg.generator.kernel;

    const G = tfl.sequential({ name: 'generator' });
    G.add(tfl.layers.dense({ inputShape: [cfg.latentDim], units: (H / 4) * (W / 4) * c1, useBias: false, kernelInitializer: init(1) }));
    G.add(tfl.layers.batchNormalization({ momentum: 0.9 }));
    G.add(tfl.layers.reLU());
    G.add(tfl.layers.reshape({ targetShape: [H / 4, W / 4, c1] })); // [B, H/4, W/4, c1]
    G.add(tfl.layers.conv2dTranspose({ filters: c2, kernelSize: gk, strides: 2, padding: 'same', useBias: false, kernelInitializer: init(2) }));
    G.add(tfl.layers.batchNormalization({ momentum: 0.9 })); // [B, H/2, W/2, c2]
    G.add(tfl.layers.reLU());
    G.add(tfl.layers.conv2dTranspose({ filters: C, kernelSize: gk, strides: 2, padding: 'same', kernelInitializer: init(3) })); // [B, H, W, C]
    G.add(tfl.layers.activation({ activation: outputActivation(cfg.generator.output, data.range) }));

    const [d1, d2] = cfg.discriminator.channels;
    const dk = cfg.discriminator.kernel;
    const D = tfl.sequential({ name: 'discriminator' });
    D.add(tfl.layers.conv2d({ inputShape: [H, W, C], filters: d1, kernelSize: dk, strides: 2, padding: 'same', kernelInitializer: init(4) })); // [B, H/2, W/2, d1]
    D.add(tfl.layers.leakyReLU({ alpha: cfg.leakySlope }));
    D.add(tfl.layers.conv2d({ filters: d2, kernelSize: dk, strides: 2, padding: 'same', kernelInitializer: init(5) })); // [B, H/4, W/4, d2]
    D.add(tfl.layers.leakyReLU({ alpha: cfg.leakySlope }));
    D.add(tfl.layers.flatten());
    D.add(tfl.layers.dense({ units: 1, kernelInitializer: init(6) })); // [B, 1]
    return new LayersGan(G, D, cfg, data.shape);
  },
};
