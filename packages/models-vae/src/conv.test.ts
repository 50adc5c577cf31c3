import { describe, expect, it } from 'vitest';
import { describeModelContract } from '@genlab/core/testing';
import { convVae } from './conv.js';

// Small channel counts keep the contract fast on the cpu backend.
describeModelContract(convVae, {
  config: { latentDim: 4, encoder: { channels: [4, 8], kernel: 3 }, decoder: { channels: [8, 4], kernel: 4 } },
  data: { shape: [8, 8, 1], numClasses: 10, range: [0, 1], binary: true }, // auto → bernoulli
});

describeModelContract(convVae, {
  config: { latentDim: 3, encoder: { channels: [4, 4] }, decoder: { channels: [4, 4], variance: 'pixel' }, activation: 'elu', sampleMode: 'sample' },
  data: { shape: [4, 8, 3], numClasses: 0, range: [-1, 1] }, // auto → gaussian
  batchSize: 4,
});

describeModelContract(convVae, {
  config: { latentDim: 2, encoder: { channels: [4, 4] }, decoder: { channels: [4, 4] } },
  data: { shape: [4, 4, 1], numClasses: 0, range: [0, 1] }, // auto → continuous Bernoulli
});

describe('vae/conv', () => {
  it('refuses data that is not [H, W, C] with H and W divisible by 4', () => {
    const cfg = convVae.configSchema.parse({});
    expect(() => convVae.create(cfg, { data: { shape: [6, 8, 1], numClasses: 0, size: 1, range: [0, 1] }, seed: 1 })).toThrow(
      'vae/conv needs images [H, W, C] with H and W divisible by 4, the data has shape [6, 8, 1]',
    );
    expect(() => convVae.create(cfg, { data: { shape: [2], numClasses: 0, size: 1, range: [0, 1] }, seed: 1 })).toThrow(/needs images/);
  });
});
