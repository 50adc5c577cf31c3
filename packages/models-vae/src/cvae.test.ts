import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeModelContract } from '@genlab/core/testing';
import { cvae } from './cvae.js';

describeModelContract(cvae, {
  config: { latentDim: 4, encoder: { hidden: [16] }, decoder: { hidden: [16] }, eval: { iwaeK: 4 } },
  data: { shape: [4, 4, 1], numClasses: 3, range: [0, 1], binary: true },
});

describeModelContract(cvae, {
  config: { arch: 'conv', latentDim: 3, encoder: { channels: [4, 4] }, decoder: { channels: [4, 4] } },
  data: { shape: [4, 4, 1], numClasses: 10, range: [-1, 1] },
});

describe('vae/cvae', () => {
  const data = { shape: [4, 4, 1], numClasses: 3, size: 10, range: [0, 1] as [number, number], binary: true };

  it('is conditional and honours the labels it is given', () => {
    const model = cvae.create(cvae.configSchema.parse({ latentDim: 2, encoder: { hidden: [8] }, decoder: { hidden: [8] } }), { data, seed: 1 });
    try {
      expect(model.conditional).toBe(true);
      const before = tf.memory().numTensors;
      const draw = (labels: number[]) => {
        const y = tf.tensor1d(labels, 'int32');
        const s = model.sample(labels.length, { seed: 5, labels: y });
        const v = Array.from(s.dataSync());
        tf.dispose([y, s]);
        return v;
      };
      // The same noise with other classes gives other images; the same classes the same images.
      const a = draw([0, 0, 0]);
      expect(draw([0, 0, 0])).toEqual(a);
      const b = draw([1, 2, 2]);
      expect(b).not.toEqual(a);
      // Each image depends only on its own label: example 0 (label 1 vs 0) changes, 1 and 2 equal between [1,2,2] and [2,2,2].
      const c = draw([2, 2, 2]);
      expect(c.slice(16)).toEqual(b.slice(16));
      expect(c.slice(0, 16)).not.toEqual(b.slice(0, 16));
      expect(() => model.sample(2, { labels: tf.tensor1d([0], 'int32') })).toThrow('sample: got 1 labels for 2 samples');
      expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 1); // the label tensor of the refused call
    } finally {
      model.dispose();
    }
  });

  it('refuses unlabelled data with a clear error', () => {
    const cfg = cvae.configSchema.parse({});
    expect(() => cvae.create(cfg, { data: { ...data, numClasses: 0 }, seed: 1 })).toThrow(
      'vae/cvae is conditioned on the class, but the data is unlabelled (numClasses 0): use vae/mlp, or a labelled dataset',
    );
  });

  it('defaults arch to mlp and rejects keys of the other architecture', () => {
    expect(cvae.configSchema.parse({}).arch).toBe('mlp');
    expect(cvae.configSchema.parse({ arch: 'conv' }).encoder).toEqual({ channels: [32, 64], kernel: 4 });
    const bad = cvae.configSchema.safeParse({ encoder: { channels: [4, 4] } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['channels'], path: ['encoder'] });
    expect(cvae.configSchema.safeParse({ arch: 'rnn' }).success).toBe(false);
  });
});
