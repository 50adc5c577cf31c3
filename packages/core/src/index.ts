/**
 * @genlab/core: the contracts every plugin implements, config loading, the registry, the
 * trainer and its built-in callbacks, and the experiment runner.
 */
export type * from './contracts.js';
export { ConfigError, type ConfigIssue, RunError, UserError, exitCodeOf } from './errors.js';
export { Registry, type PluginModule, type PluginKind, PLUGIN_KINDS, unknownNameMessage, isZodSchema, uriScheme } from './registry.js';
export { loadPluginModules, type PluginRef } from './plugin-loader.js';
export { loadConfig, deepMerge, resolveDatasetOptions, toYaml, hasSweepBlock, overridesSweep, type LoadedConfig, type LoadOptions, type SourceMap } from './config/load.js';
export { composeRoot } from './config/validate.js';
export { minimalConfig, rootSchema, trainSchema, trackingSchema, outputSchema, BACKENDS, type BackendName, type ResolvedConfig, type RootInput, type PluginSection } from './config/schema.js';
export { optimizerSchema, scheduleSchema, lrFactor, createOptimizer, ADAM_KERNEL, type ApplyOptions, type Optimizer, type OptimizerConfig, type ScheduleConfig } from './optim.js';
export { deriveSeed, mulberry32, noiseSeed, permutation, SeedStream } from './rng.js';
export { encodeGrid, encodeScatter, decodePng, type ImageBatch, type ScatterPlot } from './image.js';
export { writeCheckpoint, readCheckpoint, stableHash, CHECKPOINT_FORMAT, type CheckpointMeta } from './state.js';
export { Trainer, modelHash, resumeFrom, globalNorm, clipByGlobalNorm, GRAD_NORM_PREFIX, type TrainerOptions, type TrainResult, type StartPosition } from './trainer.js';
export { allocateReplicaBuffers, ReplicaChannel, ReplicaAbort, serveReplica, sliceRows, rowsOf, stateFloats, MAX_DEVICES, type ReplicaBuffers, type ReplicaGroup, type ReplicaLaunch, type ReplicaLauncher, type ReplicaSync } from './train/parallel.js';
export { runExperiment, flattenParams, ensureWritableDir, datasetReloader, resolveDevices, GENLAB_VERSION, type ExperimentOptions, type ExperimentResult } from './experiment.js';
export { findRunDir, readRunRecord, writeRunRecord, listRunDirs, listRunRecords, interruptedReason, reconcileInterrupted, pidAlive, HEARTBEAT_MS, STALE_MS, type RunRecord } from './run-folder.js';
export { builtinCallbacks, checkpointCallback, divergenceCallback, medianMad, spikeReason, progressCallback, samplesCallback, trackerCallback, formatDuration, writeSampleGrid, writePreviews, previewBatch } from './callbacks/index.js';
export { ArrayDataset, type ArraySource, type GatherContext, type PixelOptions } from './data.js';
export { defaultCacheDir } from './cache.js';
export { DiskError, diskError, ensureDir, writeFileAtomic } from './fs.js';
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
  type SweepLauncher,
} from './config/sweep.js';
export { LSTM_KERNELS, lstmCell, lstmCellOps, fusedLstmAvailable, registerLstmCellGradients } from './lstm-cell.js';
export { GRAD_KERNELS, registerComparisonGradients, registerFusedGradients, registerHigherOrderGradients, registerInputGradients } from './gradients.js';
export { stateDictOf, loadStateDict, stateMismatch, entryOf, layerTargets, type Assignable, type LayerWeight } from './state-dict.js';
export { MemoryTracker } from './memory-tracker.js';
export { checkRunnable, describeData, describeInfo, type CheckSource } from './config/runnable.js';
export { TAGS, recordRunStart, recordRollback, recordRunEnd } from './run-record.js';
export {
  exportGraph,
  graphModelArtifacts,
  writeGraphModel,
  readGraphModelFiles,
  toFloat16Bits,
  ExportError,
  QUANTIZE_MIN_SIZE,
  TRACE_BATCHES,
  latentExport,
  cyclicLabels,
  LATENT_SAMPLER_SOURCE,
  type LatentExportOptions,
  buildExport,
  exportManifest,
  bundleArtifacts,
  loadArtifacts,
  importSampler,
  EXPORT_FORMAT,
  type ExportBundle,
  type ExportManifest,
  type SamplerFn,
  type ExportGraph,
  type ExportInput,
  type GraphModelParts,
  type GraphModelArtifacts,
  type Quantization,
} from './export/index.js';
