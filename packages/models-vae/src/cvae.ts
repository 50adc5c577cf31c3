/**
 * `vae/cvae`: a conditional VAE (Sohn et al. 2015). The class y enters both networks as a
 * one-hot vector concatenated to their inputs, q(z | x, y) and p(x | z, y), with the prior
 * p(z) = N(0, I); `sample(n, { labels })` draws x ~ p(x | z, y) for the given classes.
 *
 * `arch: mlp` (default) uses the networks of `vae/mlp` (one-hot concatenated to x and to z),
 * `arch: conv` those of `vae/conv` (one-hot concatenated after the convolutions and to z),
 * with the same options. A one-hot input into a dense layer is a learned class embedding,
 * so no separate embedding option is needed.
 *
 * Its `nll` is the marginal −log p(x) = −log (1/K) Σ_y p(x | y) under a uniform p(y)
 * (comparable with unconditional models); `nll_cond` is −log p(x | y) for the true labels.
 */
import { z } from 'zod';
import { UserError, type ModelPlugin } from '@genlab/core';
import { convNets, convVaeSchema } from './conv.js';
import { mlpNets, mlpVaeSchema } from './mlp.js';
import { resolveOptions, Vae, vaeIssues } from './vae.js';

const schema = z.preprocess(
  // `arch` defaults to mlp (a discriminated union needs it present).
  (v) => (v && typeof v === 'object' && !Array.isArray(v) && !('arch' in v) ? { arch: 'mlp', ...v } : v),
  z.discriminatedUnion('arch', [mlpVaeSchema.extend({ arch: z.literal('mlp') }), convVaeSchema.extend({ arch: z.literal('conv') })]),
);
export type CvaeConfig = z.infer<typeof schema>;

/** The `vae/cvae` model plugin. */
export const cvae: ModelPlugin<CvaeConfig> = {
  name: 'vae/cvae',
  family: 'vae',
  description: 'class-conditional VAE (one-hot class into encoder and decoder), arch mlp or conv; NLL marginal over classes',
  configSchema: schema,
  check: (cfg, { data }) => vaeIssues(cfg, data, { name: cfg.arch === 'conv' ? 'vae/cvae (arch conv)' : 'vae/cvae', images: cfg.arch === 'conv', classes: true }),
  traits: () => ({ conditional: true, likelihood: true }),
  create(cfg, { data, seed }) {
    const K = data.numClasses;
    if (K === 0) throw new UserError(`vae/cvae is conditioned on the class, but the data is unlabelled (numClasses 0): use vae/${cfg.arch === 'conv' ? 'conv' : 'mlp'}, or a labelled dataset`);
    const nets = cfg.arch === 'conv' ? convNets(cfg, data, K, seed, 'vae/cvae (arch conv)') : mlpNets(cfg, data, K, seed);
    return new Vae(nets, resolveOptions(cfg, data, K), data);
  },
};
