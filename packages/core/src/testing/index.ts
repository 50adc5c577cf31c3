/**
 * Test helpers shared by every plugin package and plugin project (`@genlab/core/testing`,
 * re-exported as `genlab/testing`): one contract test per extension point, each a vitest
 * suite a plugin's own test file calls (`describeModelContract(myModel, { … })`), and the
 * pieces they are built from. A new extension point gets its contract here.
 */
export { MemoryTracker } from '../memory-tracker.js';
export { minimalConfig as testConfig } from '../config/schema.js';
export { randomDataset, testTrainer, tinyModel, tempDir, ensureBackend } from './helpers.js';
export { describeModelContract, type ModelContractOptions } from './model-contract.js';
export { describeDatasetContract, type DatasetContractOptions } from './dataset-contract.js';
export { describeCallbackContract, type CallbackContractOptions } from './callback-contract.js';
export { describeTrackerContract, type TrackerContractOptions, type TrackedRun } from './tracker-contract.js';
export { describeMetricContract, type MetricContractOptions } from './metric-contract.js';
