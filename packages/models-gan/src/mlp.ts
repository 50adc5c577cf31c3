/**
 * `gan/mlp`: the classic fully-connected GAN of the seed article — generator
 * 100 → 256 → 512 → 1024 → 784, discriminator 784 → 512 → 256 → 1 — trained correctly:
 * one discriminator update on a real and a generated batch, then one generator update,
 * with the non-saturating loss and Adam (lr 2e-4, β1 0.5) by default.
 *
 * Works for any data shape: examples are flattened to vectors, so it also fits 2-D points.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { deriveSeed, type ModelPlugin } from '@genlab/core';
import { ganTrainingOptions, LayersGan, outputActivation } from './layers-gan.js';

const activation = z.enum(['relu', 'leakyRelu', 'elu', 'tanh']);
const schema = z
  .object({
    /** Size of the latent noise vector z ~ N(0, I). */
    latentDim: z.number().int().positive().default(100),
    generator: z
      .object({
        /** Hidden layer widths. */
        hidden: z.array(z.number().int().positive()).min(1).default([256, 512, 1024]),
        /** Hidden activation. */
        activation: activation.default('relu'),
        /** Output activation: `auto` = tanh for data in [-1, 1], a sigmoid for [0, 1]. */
        output: z.enum(['auto', 'tanh', 'sigmoid', 'linear']).default('auto'),
        /** Batch normalisation after each hidden layer (batch statistics in training, moving averages when sampling). */
        batchNorm: z.boolean().default(false),
      })
      .strict()
      .default({ hidden: [256, 512, 1024], activation: 'relu', output: 'auto', batchNorm: false }),
    discriminator: z
      .object({
        hidden: z.array(z.number().int().positive()).min(1).default([512, 256]),
        activation: activation.default('leakyRelu'),
      })
      .strict()
      .default({ hidden: [512, 256], activation: 'leakyRelu' }),
    ...ganTrainingOptions,
  })
  .strict();
export type MlpGanConfig = z.infer<typeof schema>;

/** A dense stack: hidden layers with `act`, then a linear layer of `out` units. */
function mlp(name: string, input: number, hidden: number[], out: number, act: string, slope: number, seed: number, batchNorm = false): tfl.Sequential {
  const net = tfl.sequential({ name });
  hidden.forEach((units, i) => {
    net.add(
      tfl.layers.dense({
        units,
        ...(i === 0 ? { inputShape: [input] } : {}),
        kernelInitializer: tfl.initializers.glorotUniform({ seed: deriveSeed(seed, i) }),
      }),
    );
    // Moving averages with PyTorch's default rate (0.1 of each new batch).
    if (batchNorm) net.add(tfl.layers.batchNormalization({ momentum: 0.9 }));
    net.add(act === 'leakyRelu' ? tfl.layers.leakyReLU({ alpha: slope }) : tfl.layers.activation({ activation: act as 'relu' }));
  });
  net.add(tfl.layers.dense({ units: out, kernelInitializer: tfl.initializers.glorotUniform({ seed: deriveSeed(seed, hidden.length) }) }));
  return net;
}

/** The `gan/mlp` model plugin. */
export const mlpGan: ModelPlugin<MlpGanConfig> = {
  name: 'gan/mlp',
  family: 'gan',
  description: 'fully-connected GAN (the seed article: G 100-256-512-1024-784, D 784-512-256-1), non-saturating loss',
  configSchema: schema,
  create(cfg, { data, seed }) {
    const dim = data.shape.reduce((a, b) => a * b, 1);
    const g = cfg.generator;
    const G = mlp('generator', cfg.latentDim, g.hidden, dim, g.activation, cfg.leakySlope, deriveSeed(seed, 1), g.batchNorm);
    // Map the generator's output into the data range: tanh covers [-1, 1], sigmoid [0, 1].
    G.add(tfl.layers.activation({ activation: outputActivation(g.output, data.range) }));
    const d = cfg.discriminator;
    const D = mlp('discriminator', dim, d.hidden, 1, d.activation, cfg.leakySlope, deriveSeed(seed, 2));
    return new LayersGan(G, D, cfg, data.shape);
  },
};
