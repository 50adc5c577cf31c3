/** The SDK entry: everything a plugin imports, from one place, and the same instances the CLI runs. */
import * as tfCore from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import * as zod from 'zod';
import * as core from '@genlab/core';
import * as sdk from './index.js';
import * as testing from './testing.js';

describe('genlab (the SDK entry)', () => {
  it('re-exports tfjs-core and zod as the very instances genlab uses', () => {
    expect(sdk.tf.engine).toBe(tfCore.engine);
    expect(sdk.tf.engine()).toBe(tfCore.engine());
    expect(sdk.z).toBe(zod.z);
  });

  it('has the contracts, the core helpers and the building blocks of the built-in models', () => {
    for (const name of Object.keys(core)) expect(sdk, name).toHaveProperty(name);
    for (const name of ['Net', 'Dense', 'Conv2d', 'ConvTranspose2d', 'BatchNorm', 'SpectralNorm', 'Embedding', 'discriminatorLoss', 'generatorLoss', 'gradientPenalty', 'r1Penalty', 'diffAugment', 'Gan', 'commonOptions', 'imageDataset', 'stateDictOf', 'loadStateDict']) {
      expect(sdk, name).toHaveProperty(name);
    }
    for (const ns of ['gan', 'vae', 'rnn', 'datasets', 'metrics', 'tracking'] as const) expect(Object.keys(sdk[ns]).length, ns).toBeGreaterThan(3);
    expect(sdk.gan.models.map((m) => m.name)).toContain('gan/dcgan');
  });

  it('genlab/testing has a contract test for every extension point', () => {
    for (const name of ['describeModelContract', 'describeDatasetContract', 'describeCallbackContract', 'describeTrackerContract', 'describeMetricContract', 'MemoryTracker', 'randomDataset', 'tinyModel']) {
      expect(testing, name).toHaveProperty(name);
    }
  });
});
