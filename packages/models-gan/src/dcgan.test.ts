import { describeModelContract } from '@genlab/core/testing';
import { dcgan } from './dcgan.js';

// Small channel counts keep the contract fast on the cpu backend.
describeModelContract(dcgan, {
  config: { latentDim: 8, generator: { channels: [8, 4], kernel: 3 }, discriminator: { channels: [4, 8], kernel: 3 } },
  data: { shape: [8, 8, 1], numClasses: 10, range: [-1, 1] },
});

describeModelContract(dcgan, {
  config: { latentDim: 4, generator: { channels: [4, 4], kernel: 5, output: 'sigmoid' }, discriminator: { channels: [4, 4] }, loss: 'least-squares' },
  data: { shape: [4, 8, 3], numClasses: 0, range: [0, 1] },
  batchSize: 4,
});
