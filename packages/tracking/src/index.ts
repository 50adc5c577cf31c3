/** @genlab/tracking: experiment trackers. A new backend is one file plus one line in `trackers`. */
import type { PluginModule } from '@genlab/core';
import { fileTracker } from './file-store.js';
import { restTracker } from './rest-tracker.js';

export { FileStore, FileStoreTracker, fileTracker, userName, formatMetricValue, checkKey, storeRoot, RUN_STATUS, type RunMeta, type StoredRun, type StoredExperiment, type MetricPoint, type Warn } from './file-store.js';
export { parseMetricLine, parseMetricText, stderrWarn } from './store-read.js';
export { MlflowClient, MlflowError, BATCH_LIMITS, FETCH_BAD_PORTS, blockedPortProblem, clientOptionsFromEnv, encodeValue, decodeValue, type ClientOptions, type RemoteRun, type RemoteMetric } from './rest-client.js';
export { RestTracker, restTracker, finalWaitFromEnv, type RestTrackerOptions } from './rest-tracker.js';
export { syncRun, localRunIds, LOCAL_RUN_TAG, PARENT_RUN_TAG, type SyncResult } from './sync.js';

/** Every built-in tracker plugin. */
export const trackers: NonNullable<PluginModule['trackers']> = [fileTracker, restTracker];
