/**
 * GAN losses on discriminator logits. Each returns the discriminator's and the generator's
 * loss as means over the batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';

/** Loss names accepted in configs. */
export const lossSchema = z.enum(['non-saturating', 'minimax', 'least-squares']);
export type GanLoss = z.infer<typeof lossSchema>;

/**
 * Discriminator loss for logits on real and generated data.
 * - non-saturating / minimax (Goodfellow et al. 2014, eq. 1): −log σ(D(x)) − log(1 − σ(D(G(z))))
 *   = softplus(−D(x)) + softplus(D(G(z)))
 * - least-squares (Mao et al. 2017, eq. 9 with a=0, b=1): ½(D(x) − 1)² + ½ D(G(z))²
 */
export function discriminatorLoss(loss: GanLoss, realLogits: tf.Tensor, fakeLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    if (loss === 'least-squares') {
      return tf.add(tf.mul(0.5, tf.mean(tf.square(tf.sub(realLogits, 1)))), tf.mul(0.5, tf.mean(tf.square(fakeLogits))));
    }
    return tf.add(tf.mean(tf.softplus(tf.neg(realLogits))), tf.mean(tf.softplus(fakeLogits)));
  });
}

/**
 * Generator loss for the discriminator's logits on generated data.
 * - non-saturating (Goodfellow et al. 2014, §3): −log σ(D(G(z))) = softplus(−D(G(z)))
 * - minimax (eq. 1): log(1 − σ(D(G(z)))) = −softplus(D(G(z)))
 * - least-squares (Mao et al. 2017, eq. 9 with c=1): ½(D(G(z)) − 1)²
 */
export function generatorLoss(loss: GanLoss, fakeLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    if (loss === 'least-squares') return tf.mul(0.5, tf.mean(tf.square(tf.sub(fakeLogits, 1))));
    if (loss === 'minimax') return tf.neg(tf.mean<tf.Scalar>(tf.softplus(fakeLogits)));
    return tf.mean(tf.softplus(tf.neg(fakeLogits)));
  });
}
