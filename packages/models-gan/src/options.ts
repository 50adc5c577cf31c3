/**
 * Config keys every GAN plugin shares (spread into each plugin's schema), so their defaults
 * cannot drift apart, and the check that rejects combinations that make no sense.
 */
import { z } from 'zod';
import { optimizerSchema } from '@genlab/core';
import { augmentSchema } from './augment.js';
import { isLogistic, lossSchema, type GanLoss } from './losses.js';
import { penaltySchema, type PenaltyOptions } from './penalties.js';

/** Adam lr 2e-4, β1 0.5, as in DCGAN (Radford et al. 2016). */
const adam = { type: 'adam', lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8, momentum: 0 } as const;

/** Generator EMA (Yazıcı et al. 2019; Karras et al. 2018): sampling and evaluation use averaged weights. */
export const emaSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** w_ema ← decay·w_ema + (1 − decay)·w after every generator step. */
    decay: z.number().min(0).lt(1).default(0.999),
    /** Steps before averaging starts (the EMA copies the weights until then). */
    start: z.number().int().min(0).default(0),
  })
  .strict();

export const ganTrainingOptions = {
  /** Negative slope of LeakyReLU. */
  leakySlope: z.number().min(0).lt(1).default(0.2),
  /** GAN loss: non-saturating, minimax, least-squares, hinge or wasserstein. */
  loss: lossSchema.default('non-saturating'),
  /** Discriminator regulariser: gradient penalty (`gp`) or R1 (`r1`) with its weight. */
  penalty: penaltySchema.default({ type: 'none', weight: 10 }),
  /** Discriminator updates per generator update. */
  dSteps: z.number().int().positive().default(1),
  /** One-sided label smoothing of the real target (logistic losses only). */
  labelSmoothing: z.number().min(0).lt(0.5).default(0),
  /** DiffAugment policy for D's inputs: any of translation, cutout, color. */
  diffAugment: augmentSchema,
  /** Exponential moving average of the generator's weights, used for sampling. */
  ema: emaSchema.default({ enabled: false, decay: 0.999, start: 0 }),
  optimizerG: optimizerSchema.default(adam),
  optimizerD: optimizerSchema.default(adam),
};

/** The options every GAN has. */
export interface GanOptions {
  latentDim: number;
  leakySlope: number;
  loss: GanLoss;
  penalty: PenaltyOptions;
  dSteps: number;
  labelSmoothing: number;
  diffAugment: z.infer<typeof augmentSchema>;
  ema: z.infer<typeof emaSchema>;
  optimizerG: z.infer<typeof optimizerSchema>;
  optimizerD: z.infer<typeof optimizerSchema>;
}

/**
 * Reject combinations that are not meaningful, at the key that has to change:
 * - `wasserstein` needs a Lipschitz constraint on the critic: `penalty.type: gp` or
 *   `discriminator.spectralNorm: true` (Arjovsky et al. 2017 clip weights; genlab does not).
 * - label smoothing is defined for the logistic losses only.
 * - the gradient penalty is per example, which batch norm in the critic breaks
 *   (Gulrajani et al. 2017, §4): no `gp` with a batch-normalised discriminator.
 */
export function checkGanOptions(
  cfg: { loss: GanLoss; penalty: PenaltyOptions; labelSmoothing: number; discriminator?: { spectralNorm?: boolean; batchNorm?: boolean } },
  ctx: z.RefinementCtx,
): void {
  const sn = cfg.discriminator?.spectralNorm ?? false;
  if (cfg.loss === 'wasserstein' && cfg.penalty.type !== 'gp' && !sn) {
    ctx.addIssue({
      code: 'custom',
      path: ['loss'],
      message: "loss 'wasserstein' needs a Lipschitz critic: set penalty.type: gp (WGAN-GP) or discriminator.spectralNorm: true",
    });
  }
  if (cfg.labelSmoothing > 0 && !isLogistic(cfg.loss)) {
    ctx.addIssue({ code: 'custom', path: ['labelSmoothing'], message: `label smoothing applies to the logistic losses (non-saturating, minimax), not '${cfg.loss}'` });
  }
  if (cfg.penalty.type === 'gp' && cfg.discriminator?.batchNorm) {
    ctx.addIssue({ code: 'custom', path: ['penalty', 'type'], message: 'the gradient penalty is per example and batch norm in the discriminator mixes examples: turn off discriminator.batchNorm or use r1' });
  }
  if (cfg.penalty.type !== 'none' && cfg.penalty.weight === 0) {
    ctx.addIssue({ code: 'custom', path: ['penalty', 'weight'], message: `penalty '${cfg.penalty.type}' with weight 0 does nothing: set a weight > 0 or type: none` });
  }
}
