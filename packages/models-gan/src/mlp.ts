/**
 * `gan/mlp`: the classic fully-connected GAN of the seed article — generator
 * 100 → 256 → 512 → 1024 → 784, discriminator 784 → 512 → 256 → 1 — trained correctly:
 * one discriminator update on a real and a generated batch, then one generator update,
 * with the non-saturating loss and Adam (lr 2e-4, β1 0.5) by default.
 *
 * Works for any data shape: examples are flattened to vectors, so it also fits 2-D points.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { deriveSeed, type ModelPlugin } from '@genlab/core';
import { ganIssues } from './checks.js';
import { Gan } from './gan.js';
import { activate, Net, type BatchNorm, type Dense, type Fwd } from './nn.js';
import { checkGanOptions, ganTrainingOptions } from './options.js';
import { outputActivation, outputSchema } from './output.js';

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
        output: outputSchema,
        /** Batch normalisation after each hidden layer (batch statistics in training, moving averages when sampling). */
        batchNorm: z.boolean().default(false),
      })
      .strict()
      .default({ hidden: [256, 512, 1024], activation: 'relu', output: 'auto', batchNorm: false }),
    discriminator: z
      .object({
        hidden: z.array(z.number().int().positive()).min(1).default([512, 256]),
        activation: activation.default('leakyRelu'),
        /** Spectral normalisation of every layer (Miyato et al. 2018). */
        spectralNorm: z.boolean().default(false),
      })
      .strict()
      .default({ hidden: [512, 256], activation: 'leakyRelu', spectralNorm: false }),
    ...ganTrainingOptions,
  })
  .strict()
  .superRefine(checkGanOptions);
export type MlpGanConfig = z.infer<typeof schema>;

/** A dense stack: hidden layers with `act` (and batch norm), then a linear layer of `out` units. */
function mlp(net: Net, input: number, hidden: number[], out: number, opts: { batchNorm?: boolean; spectralNorm?: boolean }) {
  const layers: { dense: Dense; bn?: BatchNorm }[] = [];
  let width = input;
  hidden.forEach((units, i) => {
    const dense = net.dense(`dense${i}`, width, units, { spectralNorm: opts.spectralNorm });
    layers.push({ dense, ...(opts.batchNorm ? { bn: net.batchNorm(`bn${i}`, units) } : {}) });
    width = units;
  });
  const last = net.dense(`dense${hidden.length}`, width, out, { spectralNorm: opts.spectralNorm });
  return (x: tf.Tensor, f: Fwd, act: 'relu' | 'leakyRelu' | 'elu' | 'tanh', slope: number): tf.Tensor2D => {
    let h = x;
    for (const { dense, bn } of layers) {
      h = dense.apply(h, f);
      if (bn) h = bn.apply(h, f);
      h = activate(h, act, slope);
    }
    return last.apply(h, f);
  };
}

/** The `gan/mlp` model plugin. */
export const mlpGan: ModelPlugin<MlpGanConfig> = {
  name: 'gan/mlp',
  family: 'gan',
  description: 'fully-connected GAN (the seed article: G 100-256-512-1024-784, D 784-512-256-1), non-saturating loss',
  configSchema: schema,
  check: (cfg, { data }) => ganIssues('gan/mlp', cfg, data, {}),
  traits: () => ({ conditional: false, likelihood: false }),
  create(cfg, { data, seed }) {
    const dim = data.shape.reduce((a, b) => a * b, 1);
    const g = cfg.generator;
    const d = cfg.discriminator;
    const G = new Net('generator', deriveSeed(seed, 1));
    const D = new Net('discriminator', deriveSeed(seed, 2));
    const gNet = mlp(G, cfg.latentDim, g.hidden, dim, { batchNorm: g.batchNorm });
    const dNet = mlp(D, dim, d.hidden, 1, { spectralNorm: d.spectralNorm });
    // Map the generator's output into the data range: tanh covers [-1, 1], sigmoid [0, 1].
    const output = outputActivation(g.output, data.range);
    return new Gan(
      {
        G,
        D,
        conditioning: 'none',
        numClasses: data.numClasses,
        generate: (z, _labels, f) => output(gNet(z, f, g.activation, cfg.leakySlope)),
        discriminate: (x, _labels, f) => ({ score: dNet(tf.reshape(x, [x.shape[0]!, dim]), f, d.activation, cfg.leakySlope) }),
      },
      cfg,
      data.shape,
    );
  },
};
