import { describeModelContract } from '@genlab/core/testing';
import { mlpVae } from './mlp.js';

// Small networks keep the contract fast; each data kind picks another decoder likelihood.
describeModelContract(mlpVae, {
  config: { latentDim: 4, encoder: { hidden: [16] }, decoder: { hidden: [16] } },
  data: { shape: [4, 4, 1], numClasses: 2, range: [0, 1], binary: true }, // auto → bernoulli
});

describeModelContract(mlpVae, {
  config: { latentDim: 3, encoder: { hidden: [8, 8] }, decoder: { hidden: [8], variance: 'pixel' }, activation: 'tanh', sampleMode: 'sample', eval: { iwaeK: 5 } },
  data: { shape: [4, 4, 1], numClasses: 0, range: [-1, 1] }, // auto → gaussian
});

describeModelContract(mlpVae, {
  config: { latentDim: 2, encoder: { hidden: [] }, decoder: { hidden: [8] }, beta: 4, sampleMode: 'sample' },
  data: { shape: [3, 3, 1], numClasses: 0, range: [0, 1] }, // auto → continuous Bernoulli
});

describeModelContract(mlpVae, {
  config: { latentDim: 2, encoder: { hidden: [8] }, decoder: { hidden: [8] }, activation: 'leakyRelu' },
  data: { shape: [2], numClasses: 8, range: [-3, 3] }, // 2-D points → gaussian
});
