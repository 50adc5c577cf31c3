/**
 * @genlab/core: the contracts every plugin implements, config loading, the registry, the
 * trainer and its built-in callbacks, and the experiment runner.
 */
export type * from './contracts.js';
export { ConfigError, type ConfigIssue, RunError, UserError, exitCodeOf } from './errors.js';
export { Registry, type PluginModule, unknownNameMessage } from './registry.js';
export { loadConfig, deepMerge, resolveDatasetOptions, toYaml, type LoadedConfig, type LoadOptions, type SourceMap } from './config/load.js';
export { rootSchema, trainSchema, trackingSchema, outputSchema, sweepSchema, type ResolvedConfig, type RootInput, type PluginSection, type SweepAxes } from './config/schema.js';
export { optimizerSchema, scheduleSchema, lrFactor, createOptimizer, ADAM_KERNEL, type Optimizer, type OptimizerConfig, type ScheduleConfig } from './optim.js';
export { deriveSeed, mulberry32, permutation, SeedStream } from './rng.js';
export { encodeGrid, encodeScatter, decodePng, type ImageBatch, type ScatterPlot } from './image.js';
export { writeCheckpoint, readCheckpoint, stableHash, CHECKPOINT_FORMAT, type CheckpointMeta } from './state.js';
export { Trainer, modelHash, resumeFrom, globalNorm, clipByGlobalNorm, GRAD_NORM_PREFIX, type TrainerOptions, type TrainResult, type StartPosition } from './trainer.js';
export {
  runExperiment,
  findRunDir,
  readRunRecord,
  flattenParams,
  ensureWritableDir,
  datasetReloader,
  GENLAB_VERSION,
  type ExperimentOptions,
  type ExperimentResult,
  type RunRecord,
} from './experiment.js';
export { builtinCallbacks, checkpointCallback, divergenceCallback, medianMad, spikeReason, progressCallback, samplesCallback, trackerCallback, formatDuration, writeSampleGrid, writePreviews, previewBatch } from './callbacks/index.js';
export { ArrayDataset, type ArraySource, type GatherContext, type PixelOptions } from './data.js';
export { defaultCacheDir } from './cache.js';
export { writeFileAtomic } from './fs.js';
export {
  loadSweep,
  configHasSweep,
  parseSweepFlag,
  splitList,
  SweepError,
  MAX_SWEEP_VARIANTS,
  type SweepOptions,
  type SweepPlan,
  type SweepVariant,
  type SweepAxisInfo,
} from './config/sweep.js';
