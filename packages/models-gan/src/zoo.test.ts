/**
 * Every GAN plugin through the shared contract, and the option combinations the zoo offers
 * (each loss, each penalty, spectral norm, EMA, DiffAugment, label smoothing, schedules).
 */
import { describeModelContract } from '@genlab/core/testing';
import { acgan } from './acgan.js';
import { cgan } from './cgan.js';
import { dcgan } from './dcgan.js';
import { mlpGan } from './mlp.js';
import { sngan } from './sngan.js';

const tinyDc = { latentDim: 4, generator: { channels: [4, 4], kernel: 3 }, discriminator: { channels: [4, 4], kernel: 3 } };
const image = { shape: [8, 8, 1], numClasses: 3, range: [-1, 1] as [number, number] };

describeModelContract(cgan, { config: { ...tinyDc, loss: 'hinge', discriminator: { ...tinyDc.discriminator, spectralNorm: true } }, data: image });
describeModelContract(cgan, { config: { ...tinyDc, conditioning: 'concat', embedDim: 3, ema: { enabled: true, decay: 0.9 } }, data: image });
describeModelContract(acgan, { config: { ...tinyDc, auxWeight: 0.5, labelSmoothing: 0.1 }, data: image });
describeModelContract(sngan, {
  config: { latentDim: 4, generator: { channels: 4 }, discriminator: { channels: 4 } },
  data: { shape: [8, 8, 3], numClasses: 0, range: [-1, 1] },
  batchSize: 4,
});
describeModelContract(dcgan, { config: { ...tinyDc, loss: 'wasserstein', penalty: { type: 'gp', weight: 10 }, dSteps: 2 }, data: image, batchSize: 4 });
describeModelContract(dcgan, { config: { ...tinyDc, penalty: { type: 'r1', weight: 1 }, diffAugment: ['translation', 'cutout', 'color'] }, data: { ...image, shape: [8, 8, 3] }, batchSize: 4 });
describeModelContract(mlpGan, {
  config: {
    latentDim: 3,
    generator: { hidden: [8], batchNorm: true },
    discriminator: { hidden: [8], spectralNorm: true },
    loss: 'least-squares',
    ema: { enabled: true, start: 1 },
    optimizerG: { schedule: { type: 'linear' } },
  },
  data: { shape: [2], numClasses: 0, range: [-4, 4] },
});
