/** Built-in callbacks, in the order the trainer calls them. */
import type { PluginModule } from '../registry.js';
import { checkpointCallback } from './checkpoint.js';
import { divergenceCallback } from './divergence.js';
import { progressCallback } from './progress.js';
import { samplesCallback } from './samples.js';
import { trackerCallback } from './tracker-log.js';

export { checkpointCallback, divergenceCallback, progressCallback, samplesCallback, trackerCallback };
export { formatDuration } from './progress.js';
export { writeSampleGrid, writePreviews, previewBatch } from './samples.js';

/**
 * Progress first (its bar must be gone before other callbacks print at the end of a run),
 * then divergence (so a bad step is known before anything saves), then logging and outputs.
 */
export const builtinCallbacks: PluginModule = {
  callbacks: [progressCallback, divergenceCallback, trackerCallback, samplesCallback, checkpointCallback],
};
