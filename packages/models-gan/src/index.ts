/** @genlab/models-gan: GAN model plugins. A new model is one file plus one line in `models`. */
import type { PluginModule } from '@genlab/core';
import { dcgan } from './dcgan.js';
import { mlpGan } from './mlp.js';

export { mlpGan, type MlpGanConfig } from './mlp.js';
export { dcgan, type DcganConfig } from './dcgan.js';
export { LayersGan, outputActivation, type GanOptions } from './layers-gan.js';
export { discriminatorLoss, generatorLoss, lossSchema, type GanLoss } from './losses.js';

/** Every built-in GAN plugin. */
export const models: NonNullable<PluginModule['models']> = [mlpGan, dcgan];
