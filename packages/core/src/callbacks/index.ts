/** Built-in callbacks, in the order the trainer calls them. */
import type { PluginModule } from '../registry.js';
import { checkpointCallback } from './checkpoint.js';
import { divergenceCallback } from './divergence.js';
import { progressCallback } from './progress.js';
import { samplesCallback } from './samples.js';
import { trackerCallback } from './tracker-log.js';

export { checkpointCallback, divergenceCallback, progressCallback, samplesCallback, trackerCallback };
export { formatDuration } from './progress.js';
export { medianMad, spikeReason } from './divergence.js';
export { writeSampleGrid, writePreviews, previewBatch } from './samples.js';

/**
 * Progress first (its bar must be gone before other callbacks print at the end of a run),
 * then divergence (so a bad step is flagged for rollback or stop before anything saves),
 * then logging and outputs. Values reported by any callback reach all of them through
 * `onReport` after the phase, whatever the order.
 */
export const builtinCallbacks: PluginModule = {
  callbacks: [progressCallback, divergenceCallback, trackerCallback, samplesCallback, checkpointCallback],
};
