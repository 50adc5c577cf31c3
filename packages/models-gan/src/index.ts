/** @genlab/models-gan: GAN model plugins. A new model is one file plus one line in `models`. */
import type { PluginModule } from '@genlab/core';
import { acgan } from './acgan.js';
import { cgan } from './cgan.js';
import { dcgan } from './dcgan.js';
import { mlpGan } from './mlp.js';
import { sngan } from './sngan.js';

export { mlpGan, type MlpGanConfig } from './mlp.js';
export { dcgan, type DcganConfig } from './dcgan.js';
export { cgan, type CganConfig } from './cgan.js';
export { acgan, type AcganConfig } from './acgan.js';
export { sngan, type SnganConfig } from './sngan.js';
export { Gan, type GanNetworks, type DOutput } from './gan.js';
export { Net, SpectralNorm, Dense, Conv2d, ConvTranspose2d, BatchNorm, Embedding, live, activate, upsample2x, downsample2x, type Fwd, type BnStats } from './nn.js';
export { ganTrainingOptions, checkGanOptions, type GanOptions } from './options.js';
export { ganIssues, requireImages, requireClasses, type GanNeeds } from './checks.js';
export { outputActivation } from './output.js';
export { discriminatorLoss, generatorLoss, classLoss, lossSchema, type GanLoss } from './losses.js';
export { gradientPenalty, r1Penalty, penaltySchema } from './penalties.js';
export { diffAugment } from './augment.js';

/** Every built-in GAN plugin. */
export const models: NonNullable<PluginModule['models']> = [mlpGan, dcgan, cgan, acgan, sngan];
