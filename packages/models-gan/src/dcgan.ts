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
 * D has no batch norm, so the gradient penalty applies; `discriminator.spectralNorm` puts
 * spectral normalisation on its three layers. Trained by the shared step in gan.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { deriveSeed, type ModelPlugin } from '@genlab/core';
import { ganIssues, requireImages } from './checks.js';
import { Gan } from './gan.js';
import { Net, type Fwd } from './nn.js';
import { checkGanOptions, ganTrainingOptions } from './options.js';
import { outputActivation, outputSchema } from './output.js';

const channels = z.tuple([z.number().int().positive(), z.number().int().positive()]);
/** DCGAN generator options (`model.generator`). */
export const dcganGeneratorSchema = z
  .object({
    /** Channels at H/4×W/4 (after the dense layer) and at H/2×W/2. */
    channels: channels.default([128, 64]),
    /** Transposed-convolution kernel size. */
    kernel: z.number().int().min(1).max(9).default(5),
    output: outputSchema,
  })
  .strict()
  .default({ channels: [128, 64], kernel: 5, output: 'auto' });

/** DCGAN discriminator options (`model.discriminator`). */
export const dcganDiscriminatorSchema = z
  .object({
    /** Channels of the two stride-2 convolutions. */
    channels: channels.default([64, 128]),
    kernel: z.number().int().min(1).max(9).default(5),
    /** Spectral normalisation of every layer (Miyato et al. 2018). */
    spectralNorm: z.boolean().default(false),
  })
  .strict()
  .default({ channels: [64, 128], kernel: 5, spectralNorm: false });

const schema = z
  .object({
    /** Size of the latent noise vector z ~ N(0, I). */
    latentDim: z.number().int().positive().default(100),
    generator: dcganGeneratorSchema,
    discriminator: dcganDiscriminatorSchema,
    ...ganTrainingOptions,
  })
  .strict()
  .superRefine(checkGanOptions);
export type DcganConfig = z.infer<typeof schema>;

/** Options of the DCGAN generator and discriminator blocks (shared by gan/cgan and gan/acgan). */
type GeneratorOptions = z.output<typeof dcganGeneratorSchema>;
type DiscriminatorOptions = z.output<typeof dcganDiscriminatorSchema>;

/**
 * The DCGAN generator's layers in `G`: z [n, latentDim] → images [n, H, W, C]. With
 * `classes` > 0 its batch norms are conditional (per-class γ, β; the labels choose them).
 */
export function dcganGenerator(G: Net, latentDim: number, shape: [number, number, number], range: [number, number], o: GeneratorOptions, classes = 0) {
  const [H, W, C] = shape;
  const [c1, c2] = o.channels;
  const g0 = G.dense('dense', latentDim, (H / 4) * (W / 4) * c1, { bias: false });
  const bn0 = G.batchNorm('bn0', (H / 4) * (W / 4) * c1, { classes });
  const g1 = G.convT('convT1', c1, c2, o.kernel, 2, { bias: false });
  const bn1 = G.batchNorm('bn1', c2, { classes });
  const g2 = G.convT('convT2', c2, C, o.kernel, 2);
  const output = outputActivation(o.output, range);
  return (z: tf.Tensor2D, f: Fwd, labels?: tf.Tensor1D): tf.Tensor => {
    const n = z.shape[0];
    let h: tf.Tensor = tf.relu(bn0.apply(g0.apply(z, f), f, labels)); // [n, (H/4)(W/4)c1], BN per unit
    h = tf.reshape(h, [n, H / 4, W / 4, c1]);
    h = tf.relu(bn1.apply(g1.apply(h, f), f, labels)); // [n, H/2, W/2, c2]
    return output(g2.apply(h, f)); // [n, H, W, C]
  };
}

/** The DCGAN discriminator's convolutions in `D`: images → features φ(x) [n, (H/4)(W/4)d2]; also returns the feature size. */
export function dcganFeatures(D: Net, shape: [number, number, number], o: DiscriminatorOptions, slope: number) {
  const [H, W, C] = shape;
  const [d1, d2] = o.channels;
  const c1 = D.conv('conv1', C, d1, o.kernel, 2, { spectralNorm: o.spectralNorm });
  const c2 = D.conv('conv2', d1, d2, o.kernel, 2, { spectralNorm: o.spectralNorm });
  const size = (H / 4) * (W / 4) * d2;
  const features = (x: tf.Tensor, f: Fwd): tf.Tensor2D => {
    const n = x.shape[0]!;
    let h: tf.Tensor = tf.leakyRelu(c1.apply(x, f), slope); // [n, H/2, W/2, d1]
    h = tf.leakyRelu(c2.apply(h, f), slope); // [n, H/4, W/4, d2]
    return tf.reshape(h, [n, size]);
  };
  return { features, size };
}

/** The `gan/dcgan` model plugin. */
export const dcgan: ModelPlugin<DcganConfig> = {
  name: 'gan/dcgan',
  family: 'gan',
  description: 'DCGAN: G dense 7x7x128, BN, convT 64, BN, convT C; D conv 64 s2, conv 128 s2, dense',
  configSchema: schema,
  check: (cfg, { data }) => ganIssues('gan/dcgan', cfg, data, { images: 4 }),
  traits: () => ({ conditional: false, likelihood: false }),
  create(cfg, { data, seed }) {
    const shape = requireImages('gan/dcgan', data.shape, 4);
    const G = new Net('generator', deriveSeed(seed, 1));
    const generator = dcganGenerator(G, cfg.latentDim, shape, data.range, cfg.generator);
    const D = new Net('discriminator', deriveSeed(seed, 2));
    const { features, size } = dcganFeatures(D, shape, cfg.discriminator, cfg.leakySlope);
    const head = D.dense('dense', size, 1, { spectralNorm: cfg.discriminator.spectralNorm });
    return new Gan(
      {
        G,
        D,
        conditioning: 'none',
        numClasses: data.numClasses,
        generate: (z, _labels, f) => generator(z, f),
        discriminate: (x, _labels, f) => ({ score: head.apply(features(x, f), f) }), // [n, 1]
      },
      cfg,
      data.shape,
    );
  },
};
