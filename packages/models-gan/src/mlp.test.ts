import { describeModelContract } from '@genlab/core/testing';
import { mlpGan } from './mlp.js';

// A small network keeps the contract fast; the defaults are checked by the schema test.
describeModelContract(mlpGan, {
  config: { latentDim: 8, generator: { hidden: [16] }, discriminator: { hidden: [16] } },
  data: { shape: [4, 4, 1], numClasses: 2, range: [-1, 1] },
});

describeModelContract(mlpGan, {
  config: { latentDim: 4, generator: { hidden: [8, 8], activation: 'leakyRelu', batchNorm: true }, discriminator: { hidden: [8] }, loss: 'least-squares', dSteps: 2 },
  data: { shape: [2], numClasses: 0, range: [0, 1] },
});
