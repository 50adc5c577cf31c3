/**
 * `vae/mlp`: a fully-connected VAE (Kingma & Welling 2014) for any data shape (examples are
 * flattened to D values):
 *
 *   encoder: x [D] → dense 512 → act → dense 256 → act → dense 2L   (μ, log σ² of q(z | x))
 *   decoder: z [L] → dense 256 → act → dense 512 → act → dense D    (logits, or Gaussian means)
 *
 * with latentDim L = 32, ReLU, and the decoder likelihood chosen from the data (see
 * likelihood.ts). Training, evaluation and sampling are in vae.ts.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { deriveSeed, type DataInfo, type ModelPlugin } from '@genlab/core';
import { activationLayer, likelihoodOptions, resolveOptions, Vae, vaeIssues, vaeOptions, type VaeNets } from './vae.js';

const widths = z.array(z.number().int().positive());
export const mlpVaeSchema = z
  .object({
    ...vaeOptions,
    encoder: z
      .object({
        /** Hidden widths of q(z | x) (may be empty: a linear encoder). */
        hidden: widths.default([512, 256]),
      })
      .strict()
      .prefault({}),
    decoder: z
      .object({
        /** Hidden widths of p(x | z) (may be empty: a linear decoder). */
        hidden: widths.default([256, 512]),
        ...likelihoodOptions,
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type MlpVaeConfig = z.infer<typeof mlpVaeSchema>;

/**
 * A dense stack over the concatenation of `inputs`: `hidden` layers with `act`, then a
 * linear layer of `out` units (Glorot-uniform weights seeded by `seed` and the layer index).
 */
export function denseStack(
  name: string,
  inputs: tfl.SymbolicTensor[],
  hidden: number[],
  out: number,
  act: MlpVaeConfig['activation'],
  seed: number,
): tfl.LayersModel {
  let h = inputs.length > 1 ? (tfl.layers.concatenate().apply(inputs) as tfl.SymbolicTensor) : inputs[0]!;
  const dense = (units: number, i: number) => tfl.layers.dense({ units, kernelInitializer: tfl.initializers.glorotUniform({ seed: deriveSeed(seed, i) }) });
  hidden.forEach((units, i) => {
    h = activationLayer(act).apply(dense(units, i).apply(h)) as tfl.SymbolicTensor;
  });
  return tfl.model({ name, inputs, outputs: dense(out, hidden.length).apply(h) as tfl.SymbolicTensor });
}

/** The MLP encoder and decoder; with `numClasses` > 0 each also takes a one-hot class (concatenated to its input). */
export function mlpNets(cfg: Pick<MlpVaeConfig, 'latentDim' | 'activation' | 'encoder' | 'decoder'>, data: DataInfo, numClasses: number, seed: number): VaeNets {
  const D = data.shape.reduce((a, b) => a * b, 1);
  const L = cfg.latentDim;
  const cond = () => (numClasses > 0 ? [tfl.input({ shape: [numClasses] })] : []);
  const encoder = denseStack('encoder', [tfl.input({ shape: [D] }), ...cond()], cfg.encoder.hidden, 2 * L, cfg.activation, deriveSeed(seed, 1));
  const decoder = denseStack('decoder', [tfl.input({ shape: [L] }), ...cond()], cfg.decoder.hidden, D, cfg.activation, deriveSeed(seed, 2));
  return { encoder, decoder };
}

/** The `vae/mlp` model plugin. */
export const mlpVae: ModelPlugin<MlpVaeConfig> = {
  name: 'vae/mlp',
  family: 'vae',
  description: 'fully-connected VAE (encoder D-512-256-2L, decoder L-256-512-D), Bernoulli / continuous-Bernoulli / Gaussian decoder, IWAE NLL',
  configSchema: mlpVaeSchema,
  check: (cfg, { data }) => vaeIssues(cfg, data, { name: 'vae/mlp' }),
  traits: () => ({ conditional: false, likelihood: true }),
  create(cfg, { data, seed }) {
    return new Vae(mlpNets(cfg, data, 0, seed), resolveOptions(cfg, data, 0), data);
  },
};
