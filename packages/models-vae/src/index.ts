/** @genlab/models-vae: VAE model plugins. A new model is one file plus one line in `models`. */
import type { PluginModule } from '@genlab/core';
import { convVae } from './conv.js';
import { cvae } from './cvae.js';
import { mlpVae } from './mlp.js';

export { mlpVae, mlpNets, denseStack, type MlpVaeConfig } from './mlp.js';
export { convVae, convNets, type ConvVaeConfig } from './conv.js';
export { cvae, type CvaeConfig } from './cvae.js';
export { Vae, vaeIssues, convShapeIssue, vaeOptions, likelihoodOptions, resolveOptions, type VaeNets, type VaeOptions, type ElboTerms } from './vae.js';
export { LIKELIHOODS, LOG_VAR_MIN, likelihoodIssue, cbLogNormaliser, cbMean, cbSample, decoderMean, decoderSample, gaussianKl, logProb, resolveLikelihood, type Likelihood, type LikelihoodChoice } from './likelihood.js';

/** Every built-in VAE plugin. */
export const models: NonNullable<PluginModule['models']> = [mlpVae, convVae, cvae];
