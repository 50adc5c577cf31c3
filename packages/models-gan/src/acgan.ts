/**
 * `gan/acgan`: the auxiliary-classifier GAN (Odena et al. 2017), as in tfjs-examples'
 * mnist-acgan: G takes z multiplied element-wise by a learned embedding of the class; D has
 * two heads on shared features, the usual real/fake output and a K-way class classifier.
 * Both networks also minimise the classifier's cross-entropy (D on real and generated
 * images, G on its own), weighted by `auxWeight` (the paper's L_C, §3).
 *
 * The networks are the DCGAN ones (dcgan.ts).
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
    /** Weight of the auxiliary classification loss. */
    auxWeight: z.number().positive().default(1),
    generator: dcganGeneratorSchema,
    discriminator: dcganDiscriminatorSchema,
    ...ganTrainingOptions,
  })
  .strict()
  .superRefine(checkGanOptions);
export type AcganConfig = z.infer<typeof schema>;

/** The `gan/acgan` model plugin. */
export const acgan: ModelPlugin<AcganConfig> = {
  name: 'gan/acgan',
  family: 'gan',
  description: 'auxiliary-classifier GAN: z ⊙ embed(y) into a DCGAN generator; D with real/fake and class heads',
  configSchema: schema,
  check: (cfg, { data }) => ganIssues('gan/acgan', cfg, data, { images: 4, classes: true }),
  traits: () => ({ conditional: true, likelihood: false }),
  create(cfg, { data, seed }) {
    const shape = requireImages('gan/acgan', data.shape, 4);
    const K = requireClasses('gan/acgan', data.numClasses);
    const G = new Net('generator', deriveSeed(seed, 1));
    const embed = G.embedding('embed', K, cfg.latentDim);
    const generator = dcganGenerator(G, cfg.latentDim, shape, data.range, cfg.generator);

    const D = new Net('discriminator', deriveSeed(seed, 2));
    const spectralNorm = cfg.discriminator.spectralNorm;
    const { features, size } = dcganFeatures(D, shape, cfg.discriminator, cfg.leakySlope);
    const source = D.dense('source', size, 1, { spectralNorm });
    const classes = D.dense('classes', size, K, { spectralNorm });

    return new Gan(
      {
        G,
        D,
        conditioning: 'auxiliary',
        numClasses: K,
        auxWeight: cfg.auxWeight,
        generate: (z, labels, f) => generator(tf.mul(z, embed.apply(labels!, f)), f),
        discriminate: (x, _labels, f) => {
          const phi = features(x, f);
          return { score: source.apply(phi, f), classLogits: classes.apply(phi, f) };
        },
      },
      cfg,
      data.shape,
    );
  },
};
