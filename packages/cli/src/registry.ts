/** The registry with every built-in plugin. */
import { builtinCallbacks, Registry } from '@genlab/core';
import { datasets } from '@genlab/datasets';
import { callbacks as metricCallbacks } from '@genlab/metrics';
import { models as ganModels } from '@genlab/models-gan';
import { models as rnnModels } from '@genlab/models-rnn';
import { models as vaeModels } from '@genlab/models-vae';
import { trackers } from '@genlab/tracking';

/** A registry holding the built-in models, datasets, callbacks and trackers. */
export function builtinRegistry(): Registry {
  return new Registry().add(builtinCallbacks).add({ callbacks: metricCallbacks }).add({ models: ganModels }).add({ models: vaeModels }).add({ models: rnnModels }).add({ datasets }).add({ trackers });
}
