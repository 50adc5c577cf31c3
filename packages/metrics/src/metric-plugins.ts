/**
 * The built-in metrics, as metric plugins: each is named in `eval.metrics` (or
 * `exp eval --metrics`) and computed from one evaluation's real reference and generated
 * samples, exactly as a user's own metric plugin is. `nll` is not among them: it is the
 * model's likelihood of the test split (`GenerativeModel.evaluate`), not a sample statistic.
 */
import type { MetricPlugin } from '@genlab/core';
import { classAccuracy, densityCoverage, fid, inceptionScore, kid, mixtureModes, precisionRecall } from './scores.js';

export const fidMetric: MetricPlugin = {
  name: 'fid',
  description: 'Fréchet distance between Gaussians fitted to real and generated features (Heusel et al. 2017); lower is better',
  input: 'features',
  compute: ({ real, fake }) => ({ fid: fid(real.features, fake.features) }),
};

export const kidMetric: MetricPlugin = {
  name: 'kid',
  description: 'kernel inception distance: unbiased MMD² with a cubic polynomial kernel over subsets (Bińkowski et al. 2018), mean and std',
  input: 'features',
  compute: ({ real, fake, seed }) => {
    const k = kid(real.features, fake.features, { seed });
    return { kid: k.mean, kid_std: k.std };
  },
};

export const isMetric: MetricPlugin = {
  name: 'is',
  description: "inception score of the generated samples under the feature network's classifier (Salimans et al. 2016), mean and std",
  input: 'features',
  compute: ({ fake }) => {
    const s = inceptionScore(fake.probs);
    return { is: s.mean, is_std: s.std };
  },
};

export const prMetric: MetricPlugin = {
  name: 'pr',
  description: 'precision and recall of k-NN manifolds in feature space (Kynkäänniemi et al. 2019)',
  input: 'features',
  compute: ({ real, fake }) => precisionRecall(real.features, fake.features),
};

export const dcMetric: MetricPlugin = {
  name: 'dc',
  description: 'density and coverage in feature space (Naeem et al. 2020)',
  input: 'features',
  compute: ({ real, fake }) => densityCoverage(real.features, fake.features),
};

export const casMetric: MetricPlugin = {
  name: 'cas',
  description: "class accuracy of conditional samples: the share the feature network's classifier labels as the class asked for",
  input: 'features',
  check: ({ data, model }) => {
    if (data.numClasses < 2) return `metric 'cas' needs labelled data (the dataset has ${data.numClasses} classes)`;
    if (model && !model.conditional) return `metric 'cas' (accuracy of class-conditional samples) needs a conditional model`;
    return undefined;
  },
  compute: ({ fake, labels }): Record<string, number> => (labels ? { cas: classAccuracy(fake.probs, labels) } : {}),
};

export const modesMetric: MetricPlugin = {
  name: 'modes',
  description: 'modes of a toy Gaussian mixture covered by the samples, and the share of high-quality samples (within 3σ of a mode)',
  input: 'pixels',
  check: ({ data }) => (data.mixture ? undefined : `metric 'modes' needs a Gaussian-mixture dataset (toy2d)`),
  compute: ({ fake, info }): Record<string, number> => {
    if (!info.mixture || !fake.pixels) return {};
    const m = mixtureModes(fake.pixels, info.mixture);
    return { modes_covered: m.modesCovered, high_quality: m.highQuality };
  },
};

/** Every built-in metric plugin, in the order their values are reported. */
export const metricPlugins: MetricPlugin[] = [fidMetric, kidMetric, isMetric, prMetric, dcMetric, casMetric, modesMetric];
