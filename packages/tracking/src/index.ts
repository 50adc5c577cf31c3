/** @genlab/tracking: experiment trackers. A new backend is one file plus one line in `trackers`. */
import type { PluginModule } from '@genlab/core';
import { fileTracker } from './file-store.js';

export { FileStore, FileStoreTracker, fileTracker, formatMetricValue, checkKey, storeRoot, RUN_STATUS, type RunMeta } from './file-store.js';

/** Every built-in tracker plugin. */
export const trackers: NonNullable<PluginModule['trackers']> = [fileTracker];
