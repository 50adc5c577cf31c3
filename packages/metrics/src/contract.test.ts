/** The metrics package's plugins through the shared contracts: its callbacks and its metrics. */
import { Registry } from '@genlab/core';
import { describeCallbackContract, describeMetricContract } from '@genlab/core/testing';
import { callbacks, metrics } from './index.js';
import { evalCallback } from './callback.js';
import { healthCallback } from './health.js';

const mixture = { means: [[-1, 0], [1, 0]], std: 0.1 };
const toy = { shape: [2], numClasses: 2, range: [-2, 2] as [number, number], mixture };
const registry = new Registry().add({ callbacks, metrics }, '@genlab/metrics');

// On a toy mixture: the evaluation counts modes, the health check classifies by nearest mode.
describeCallbackContract(evalCallback, { config: { samples: 10, floor: false }, data: toy, registry, reports: ['modes_covered', 'high_quality'] });
describeCallbackContract(healthCallback, { config: { every: 2, classes: { samples: 10 } }, data: toy, registry, reports: ['health/class_entropy'] });

for (const m of metrics) describeMetricContract(m, m.name === 'modes' ? { data: toy } : {});
