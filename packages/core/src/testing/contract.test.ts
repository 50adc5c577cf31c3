/** The shared model contract run on a tiny plugin that has every optional hook it checks. */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { ModelPlugin } from '../contracts.js';
import { optimizerSchema } from '../optim.js';
import { describeModelContract } from './index.js';

const schema = z.object({ scale: z.number().default(1) }).strict();

/** x̂ = tanh(w)·scale for every sample; `diagnose` gives the share of positive values of a batch. */
const tiny: ModelPlugin<z.infer<typeof schema>> = {
  name: 'test/tiny',
  family: 'test',
  description: 'a weight vector as every sample, for the contract test',
  configSchema: schema,
  create(cfg, { data }) {
    const d = data.shape.reduce((a, b) => a * b, 1);
    const w = tf.tidy(() => tf.variable(tf.zeros([d]), true));
    return {
      optimizers: [{ name: 'main', config: optimizerSchema.parse({}) }],
      trainStep(batch, ctx) {
        const loss = ctx.optimize('main', () => tf.mean(tf.square(tf.sub(tf.reshape(batch.x, [-1, d]), tf.tanh(w)))), [w]);
        return { loss };
      },
      diagnose: (batch) => ({ share_positive: tf.mean(tf.cast(tf.greater(batch.x, 0), 'float32')) }),
      sample: (n) => tf.tidy(() => tf.reshape(tf.tile(tf.mul(tf.reshape(tf.tanh(w), [1, d]), cfg.scale), [n, 1]), [n, ...data.shape])),
      getState: () => ({ w: { shape: [d], dtype: 'float32', data: Float32Array.from(w.dataSync()) } }),
      setState: (s) => {
        if (s.w?.shape.join() !== String(d)) throw new Error('shape mismatch');
        tf.tidy(() => w.assign(tf.tensor1d(s.w!.data as Float32Array)));
      },
      summary: () => [{ name: 'w', params: d }],
      dispose: () => w.dispose(),
    };
  },
};

describeModelContract(tiny, { config: {}, data: { shape: [3, 2, 1], numClasses: 2, range: [-1, 1] } });
