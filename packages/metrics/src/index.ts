/** @genlab/metrics: domain feature networks and sample-quality metrics. */
export { type Features, meanCov, sqrtmPsd, frechetDistance } from './linalg.js';
export { fid, kid, inceptionScore, precisionRecall, densityCoverage, knnRadii, mixtureModes, classAccuracy } from './scores.js';
export { FeatureNet, featureNetIssue, builtinWeightsDir, trainFeatureNet, accuracy, randomShift, type FeatureCard, type FeatureNetSpec } from './features.js';
export { featureConfigSchema, type FeatureConfig } from './config.js';
export { evaluateModel, autoMetrics, metricPlan, planMetrics, toUnit, formatReport, evalOptionsShape, featureNetFor, METRICS, type EvalOptions, type EvalReport, type EvalTarget, type MetricName, type MetricPlan } from './evaluate.js';
export { metricPlugins, fidMetric, kidMetric, isMetric, prMetric, dcMetric, casMetric, modesMetric } from './metric-plugins.js';
export { evalCallback } from './callback.js';
export { healthCallback, classStats } from './health.js';

import type { PluginModule } from '@genlab/core';
import { evalCallback } from './callback.js';
import { healthCallback } from './health.js';
import { metricPlugins } from './metric-plugins.js';
/** The callbacks this package registers (`eval`, `health`). */
export const callbacks: NonNullable<PluginModule['callbacks']> = [evalCallback, healthCallback];
/** The metrics this package registers (fid, kid, is, pr, dc, cas, modes). */
export const metrics: NonNullable<PluginModule['metrics']> = metricPlugins;
