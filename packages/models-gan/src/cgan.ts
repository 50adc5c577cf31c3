/**
 * `gan/cgan`: a class-conditional DCGAN.
 *
 * - G: the DCGAN generator (dcgan.ts) with the class entering either through conditional
 *   batch norm (per-class γ and β, de Vries et al. 2017; as in Miyato & Koyama 2018), or by
 *   concatenating a learned class embedding to z (Mirza & Osindero 2014).
 * - D: the DCGAN discriminator's features φ(x) with a projection head (Miyato & Koyama
 *   2018, eq. 3): D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩, spectrally normalised when asked.
 *
 * `sample(n, { labels })` draws the requested classes; `exp eval` scores them with the
 * domain classifier (`cas`, the share classified as their requested label).
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { deriveSeed, type ModelPlugin } from '@genlab/core';
import { dcganDiscriminatorSchema, dcganFeatures, dcganGenerator, dcganGeneratorSchema } from './dcgan.js';
import { ganIssues, requireImages, requireClasses } from './checks.js';
import { Gan } from './gan.js';
import { Net } from './nn.js';
import { checkGanOptions, ganTrainingOptions } from './options.js';

const schema = z
  .object({
    latentDim: z.number().int().positive().default(100),
    /** How G sees the class: conditional batch norm, or an embedding concatenated to z. */
    conditioning: z.enum(['batchNorm', 'concat']).default('batchNorm'),
    /** Size of the class embedding concatenated to z (`conditioning: concat`). */
    embedDim: z.number().int().positive().default(16),
    generator: dcganGeneratorSchema,
    discriminator: dcganDiscriminatorSchema,
    ...ganTrainingOptions,
  })
  .strict()
  .superRefine(checkGanOptions);
export type CganConfig = z.infer<typeof schema>;

/** The `gan/cgan` model plugin. */
export const cgan: ModelPlugin<CganConfig> = {
  name: 'gan/cgan',
  family: 'gan',
  description: 'class-conditional DCGAN: conditional batch norm (or embedding) in G, projection discriminator',
  configSchema: schema,
  check: (cfg, { data }) => ganIssues('gan/cgan', cfg, data, { images: 4, classes: true }),
  traits: () => ({ conditional: true, likelihood: false }),
  create(cfg, { data, seed }) {
    const shape = requireImages('gan/cgan', data.shape, 4);
    const K = requireClasses('gan/cgan', data.numClasses);
    const G = new Net('generator', deriveSeed(seed, 1));
    const concat = cfg.conditioning === 'concat';
    const embedG = concat ? G.embedding('embed', K, cfg.embedDim) : undefined;
    const generator = dcganGenerator(G, cfg.latentDim + (concat ? cfg.embedDim : 0), shape, data.range, cfg.generator, concat ? 0 : K);

    const D = new Net('discriminator', deriveSeed(seed, 2));
    const spectralNorm = cfg.discriminator.spectralNorm;
    const { features, size } = dcganFeatures(D, shape, cfg.discriminator, cfg.leakySlope);
    const psi = D.dense('dense', size, 1, { spectralNorm });
    const embedD = D.embedding('embed', K, size, { spectralNorm });

    return new Gan(
      {
        G,
        D,
        conditioning: 'conditional',
        numClasses: K,
        generate: (z, labels, f) => (embedG ? generator(tf.concat([z, embedG.apply(labels!, f)], 1), f) : generator(z, f, labels)),
        discriminate: (x, labels, f) => {
          const phi = features(x, f); // [n, F]
          const projection = tf.sum(tf.mul(embedD.apply(labels!, f), phi), 1, true); // [n, 1]
          return { score: tf.add(psi.apply(phi, f), projection) };
        },
      },
      cfg,
      data.shape,
    );
  },
};
