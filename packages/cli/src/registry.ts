/** The registry with every built-in plugin, each under the package it comes from. */
import { builtinCallbacks, Registry } from '@genlab/core';
import { datasets } from '@genlab/datasets';
import { callbacks as metricCallbacks, metrics } from '@genlab/metrics';
import { models as ganModels } from '@genlab/models-gan';
import { models as rnnModels } from '@genlab/models-rnn';
import { models as vaeModels } from '@genlab/models-vae';
import { trackers } from '@genlab/tracking';

/** A registry holding the built-in models, datasets, callbacks and trackers. */
export function builtinRegistry(): Registry {
  return new Registry()
    .add(builtinCallbacks, '@genlab/core')
    .add({ callbacks: metricCallbacks, metrics }, '@genlab/metrics')
    .add({ models: ganModels }, '@genlab/models-gan')
    .add({ models: vaeModels }, '@genlab/models-vae')
    .add({ models: rnnModels }, '@genlab/models-rnn')
    .add({ datasets }, '@genlab/datasets')
    .add({ trackers }, '@genlab/tracking');
}
