/** @genlab/metrics: domain feature networks and sample-quality metrics. */
export { type Features, meanCov, sqrtmPsd, frechetDistance } from './linalg.js';
export { fid, kid, inceptionScore, precisionRecall, densityCoverage, knnRadii, mixtureModes, classAccuracy } from './scores.js';
export { FeatureNet, builtinWeightsDir, trainFeatureNet, accuracy, randomShift, type FeatureCard, type FeatureNetSpec } from './features.js';
export { featureConfigSchema, type FeatureConfig } from './config.js';
export { evaluateModel, autoMetrics, toUnit, formatReport, evalOptionsShape, featureNetFor, METRICS, type EvalOptions, type EvalReport, type EvalTarget, type MetricName } from './evaluate.js';
export { evalCallback } from './callback.js';
export { healthCallback, classStats } from './health.js';

import type { PluginModule } from '@genlab/core';
import { evalCallback } from './callback.js';
import { healthCallback } from './health.js';
/** The callbacks this package registers (`eval`, `health`). */
export const callbacks: NonNullable<PluginModule['callbacks']> = [evalCallback, healthCallback];
