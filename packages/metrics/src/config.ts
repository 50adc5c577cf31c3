/** The config of `exp features train` (`configs/features/<dataset>.yaml`). */
import { z } from 'zod';

export const featureConfigSchema = z
  .object({
    /** The dataset section, as in an experiment config; `split` is the training split. */
    dataset: z.looseObject({ name: z.string().min(1) }),
    net: z
      .object({
        /** Channels of the two 3×3 convolutions. */
        channels: z.tuple([z.number().int().positive(), z.number().int().positive()]).default([32, 64]),
        /** Width of the feature layer. */
        dim: z.number().int().positive().default(128),
      })
      .strict()
      .default({ channels: [32, 64], dim: 128 }),
    train: z
      .object({
        epochs: z.number().int().positive().default(10),
        batchSize: z.number().int().positive().default(64),
        /** Peak learning rate (cosine decay to 0). */
        lr: z.number().positive().default(0.001),
        /** Random translations of up to this many pixels. */
        shift: z.number().int().min(0).default(0),
      })
      .strict()
      .default({ epochs: 10, batchSize: 64, lr: 0.001, shift: 0 }),
    seed: z.number().int().min(0).default(1),
  })
  .strict();
export type FeatureConfig = z.output<typeof featureConfigSchema>;
