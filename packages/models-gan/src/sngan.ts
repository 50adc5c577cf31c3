/**
 * `gan/sngan`: the ResNet GAN of Miyato et al. (2018, Appendix B, Table 4 — CIFAR-10) with
 * spectral normalisation on every discriminator layer and the hinge loss by default.
 *
 *   G: z (128) → dense (H/2ᵇ)·(W/2ᵇ)·ch → b × ResBlock-up(ch) → BN → ReLU → conv3×3 C → tanh
 *   D: OptimizedBlock-down(ch) → ResBlock-down(ch) → ResBlock(ch) → ResBlock(ch)
 *        → ReLU → global sum pool → dense 1
 *
 *   ResBlock-up:   x → BN → ReLU → up2 → conv3×3 → BN → ReLU → conv3×3,  + conv1×1(up2(x))
 *   ResBlock-down: x → ReLU → conv3×3 → ReLU → conv3×3 → avgpool2,       + avgpool2(conv1×1(x))
 *   OptimizedBlock: x → conv3×3 → ReLU → conv3×3 → avgpool2,             + conv1×1(avgpool2(x))
 *
 * b = 3 up-blocks for 32×32 (4 → 8 → 16 → 32), 2 for 28×28 (7 → 14 → 28). The paper uses
 * ch = 256 (G) and 128 (D) with 5 D steps per G step, Adam lr 2e-4, β1 0, β2 0.9; the
 * defaults keep the paper's optimiser and loss but narrower widths and 1 D step, so it trains
 * on 2 CPU cores (set `generator.channels: 256`, `discriminator.channels: 128`, `dSteps: 5`
 * for the paper's model).
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { deriveSeed, type ModelPlugin } from '@genlab/core';
import { ganIssues, requireImages } from './checks.js';
import { Gan } from './gan.js';
import { downsample2x, Net, upsample2x, type Fwd } from './nn.js';
import { checkGanOptions, ganTrainingOptions } from './options.js';
import { outputActivation, outputSchema } from './output.js';

const snAdam = { type: 'adam', lr: 2e-4, beta1: 0, beta2: 0.9, eps: 1e-8, momentum: 0 } as const;

const schema = z
  .object({
    latentDim: z.number().int().positive().default(128),
    generator: z
      .object({
        channels: z.number().int().positive().default(128),
        output: outputSchema,
      })
      .strict()
      .default({ channels: 128, output: 'auto' }),
    discriminator: z
      .object({
        channels: z.number().int().positive().default(64),
        /** Spectral normalisation of every layer (the point of SNGAN; off only for ablations). */
        spectralNorm: z.boolean().default(true),
      })
      .strict()
      .default({ channels: 64, spectralNorm: true }),
    ...ganTrainingOptions,
    loss: ganTrainingOptions.loss.unwrap().default('hinge'),
    optimizerG: ganTrainingOptions.optimizerG.unwrap().default(snAdam),
    optimizerD: ganTrainingOptions.optimizerD.unwrap().default(snAdam),
  })
  .strict()
  .superRefine(checkGanOptions);
export type SnganConfig = z.infer<typeof schema>;

/** The `gan/sngan` model plugin. */
export const sngan: ModelPlugin<SnganConfig> = {
  name: 'gan/sngan',
  family: 'gan',
  description: 'SNGAN ResNet (Miyato et al. 2018) for 32x32 RGB (or 28x28): spectral norm on D, hinge loss',
  configSchema: schema,
  check: (cfg, { data }) => ganIssues('gan/sngan', cfg, data, { images: 4 }),
  traits: () => ({ conditional: false, likelihood: false }),
  create(cfg, { data, seed }) {
    const [H, W, C] = requireImages('gan/sngan', data.shape, 4);
    const ups = H % 8 === 0 && W % 8 === 0 ? 3 : 2;
    const [h0, w0] = [H >> ups, W >> ups];

    // ---- generator
    const gc = cfg.generator.channels;
    const G = new Net('generator', deriveSeed(seed, 1));
    const dense = G.dense('dense', cfg.latentDim, h0 * w0 * gc);
    const upBlocks = Array.from({ length: ups }, (_, i) => {
      const k = `up${i}`;
      return {
        bn1: G.batchNorm(`${k}/bn1`, gc),
        conv1: G.conv(`${k}/conv1`, gc, gc, 3, 1),
        bn2: G.batchNorm(`${k}/bn2`, gc),
        conv2: G.conv(`${k}/conv2`, gc, gc, 3, 1),
        shortcut: G.conv(`${k}/shortcut`, gc, gc, 1, 1),
      };
    });
    const bnOut = G.batchNorm('bn_out', gc);
    const convOut = G.conv('conv_out', gc, C, 3, 1);
    const output = outputActivation(cfg.generator.output, data.range);
    const generate = (z: tf.Tensor2D, f: Fwd): tf.Tensor => {
      let x = tf.reshape(dense.apply(z, f), [z.shape[0], h0, w0, gc]) as tf.Tensor4D;
      for (const b of upBlocks) {
        let h = upsample2x(tf.relu(b.bn1.apply(x, f)) as tf.Tensor4D);
        h = b.conv2.apply(tf.relu(b.bn2.apply(b.conv1.apply(h, f), f)), f);
        x = tf.add(h, b.shortcut.apply(upsample2x(x), f));
      }
      return output(convOut.apply(tf.relu(bnOut.apply(x, f)), f)); // [n, H, W, C]
    };

    // ---- discriminator
    const dc = cfg.discriminator.channels;
    const sn = { spectralNorm: cfg.discriminator.spectralNorm };
    const D = new Net('discriminator', deriveSeed(seed, 2));
    const block = (k: string, inC: number, shortcut: boolean) => ({
      conv1: D.conv(`${k}/conv1`, inC, dc, 3, 1, sn),
      conv2: D.conv(`${k}/conv2`, dc, dc, 3, 1, sn),
      shortcut: shortcut ? D.conv(`${k}/shortcut`, inC, dc, 1, 1, sn) : undefined,
    });
    const opt = block('block0', C, true);
    const down = block('block1', dc, true);
    const plain = [block('block2', dc, false), block('block3', dc, false)];
    const head = D.dense('dense', dc, 1, sn);
    const discriminate = (input: tf.Tensor, f: Fwd): tf.Tensor2D => {
      let x = input as tf.Tensor4D;
      // Optimized block (first block: no ReLU before the first conv; pool before the shortcut conv).
      x = tf.add(downsample2x(opt.conv2.apply(tf.relu(opt.conv1.apply(x, f)), f)), opt.shortcut!.apply(downsample2x(x), f));
      // Down block.
      x = tf.add(downsample2x(down.conv2.apply(tf.relu(down.conv1.apply(tf.relu(x), f)), f)), downsample2x(down.shortcut!.apply(x, f)));
      // Two blocks without resampling: identity shortcuts.
      for (const b of plain) x = tf.add(b.conv2.apply(tf.relu(b.conv1.apply(tf.relu(x), f)), f), x);
      const pooled = tf.sum(tf.relu(x), [1, 2]); // global sum pooling [n, dc]
      return head.apply(pooled, f);
    };

    return new Gan(
      {
        G,
        D,
        conditioning: 'none',
        numClasses: data.numClasses,
        generate: (z, _labels, f) => generate(z, f),
        discriminate: (x, _labels, f) => ({ score: discriminate(x, f) }),
      },
      cfg,
      data.shape,
    );
  },
};
