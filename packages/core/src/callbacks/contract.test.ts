/** Every built-in callback through the shared callback contract. */
import { describeCallbackContract } from '../testing/index.js';
import { checkpointCallback, divergenceCallback, progressCallback, samplesCallback, trackerCallback } from './index.js';

describeCallbackContract(progressCallback, { config: { mode: 'lines', every: 1 } });
describeCallbackContract(divergenceCallback);
describeCallbackContract(trackerCallback);
describeCallbackContract(samplesCallback, { config: { every: 2, n: 4 } });
// Flat 2-D data: the samples callback draws a scatter plot instead of a grid.
describeCallbackContract(samplesCallback, { config: { every: 3, n: 4 }, data: { shape: [2], numClasses: 0, range: [-2, 2] } });
describeCallbackContract(checkpointCallback, { config: { every: 2 } });
