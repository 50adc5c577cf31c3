/**
 * GAN losses on discriminator outputs ("logits" for the logistic losses, "scores" or critic
 * values for the others). Each returns the discriminator's and the generator's loss as means
 * over the batch. Any loss combines with any penalty in `penalties.ts`; the combinations that
 * make no sense are rejected by `checkGanOptions` (options.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';

/** Loss names accepted in configs. */
export const lossSchema = z.enum(['non-saturating', 'minimax', 'least-squares', 'hinge', 'wasserstein']);
export type GanLoss = z.infer<typeof lossSchema>;

/** Losses whose discriminator output is the logit of a probability (so σ(D) and label smoothing mean something). */
export function isLogistic(loss: GanLoss): boolean {
  return loss === 'non-saturating' || loss === 'minimax';
}

/**
 * Discriminator loss for outputs on real and generated data.
 * - non-saturating / minimax (Goodfellow et al. 2014, eq. 1): −log σ(D(x)) − log(1 − σ(D(G(z))))
 *   = softplus(−D(x)) + softplus(D(G(z))). With one-sided label smoothing s (Salimans et al.
 *   2016, §3.4) the real target is 1 − s: (1 − s)·softplus(−D(x)) + s·softplus(D(x)).
 * - least-squares (Mao et al. 2017, eq. 9 with a=0, b=1): ½(D(x) − 1)² + ½ D(G(z))²
 * - hinge (Lim & Ye 2017; Miyato et al. 2018): max(0, 1 − D(x)) + max(0, 1 + D(G(z)))
 * - wasserstein (Arjovsky et al. 2017): D(G(z)) − D(x), the negated critic objective
 */
export function discriminatorLoss(loss: GanLoss, real: tf.Tensor, fake: tf.Tensor, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    switch (loss) {
      case 'least-squares':
        return tf.add(tf.mul(0.5, tf.mean(tf.square(tf.sub(real, 1)))), tf.mul(0.5, tf.mean(tf.square(fake))));
      case 'hinge':
        return tf.add(tf.mean(tf.relu(tf.sub(1, real))), tf.mean(tf.relu(tf.add(1, fake))));
      case 'wasserstein':
        return tf.sub(tf.mean(fake), tf.mean(real));
      default: {
        let realTerm: tf.Tensor = tf.softplus(tf.neg(real));
        if (labelSmoothing > 0) realTerm = tf.add(tf.mul(1 - labelSmoothing, realTerm), tf.mul(labelSmoothing, tf.softplus(real)));
        return tf.add(tf.mean(realTerm), tf.mean(tf.softplus(fake)));
      }
    }
  });
}

/**
 * Generator loss for the discriminator's outputs on generated data.
 * - non-saturating (Goodfellow et al. 2014, §3): −log σ(D(G(z))) = softplus(−D(G(z)))
 * - minimax (eq. 1): log(1 − σ(D(G(z)))) = −softplus(D(G(z)))
 * - least-squares (Mao et al. 2017, eq. 9 with c=1): ½(D(G(z)) − 1)²
 * - hinge and wasserstein (Miyato et al. 2018, eq. 17; Arjovsky et al. 2017): −D(G(z))
 */
export function generatorLoss(loss: GanLoss, fake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    switch (loss) {
      case 'least-squares':
        return tf.mul(0.5, tf.mean(tf.square(tf.sub(fake, 1))));
      case 'minimax':
        return tf.neg(tf.mean<tf.Scalar>(tf.softplus(fake)));
      case 'hinge':
      case 'wasserstein':
        return tf.neg(tf.mean<tf.Scalar>(fake));
      default:
        return tf.mean(tf.softplus(tf.neg(fake)));
    }
  });
}

/** Mean softmax cross-entropy of class logits [n, K] against int32 labels [n] (ACGAN's auxiliary loss). */
export function classLoss(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1]!;
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.mean<tf.Scalar>(tf.sum(tf.mul(tf.cast(tf.oneHot(labels, k), 'float32'), logp), 1)));
  });
}
