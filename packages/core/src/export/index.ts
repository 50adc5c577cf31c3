/**
 * Exporting a model's networks as tfjs graph models: trace (trace.ts), write as a GraphDef
 * (graph.ts), write the files (weights.ts).
 */
export { ExportError, traceOnce, batchDependence, type ExportGraph, type ExportInput, type Trace } from './trace.js';
export { toGraphModel, exportGraph, TRACE_BATCHES, type GraphModelParts, type GraphNode, type GraphWeight } from './graph.js';
export { latentExport, cyclicLabels, LATENT_SAMPLER_SOURCE, type LatentExportOptions } from './latent.js';
export { graphModelArtifacts, writeGraphModel, readGraphModelFiles, toFloat16Bits, QUANTIZE_MIN_SIZE, type GraphModelArtifacts, type Quantization, type WeightSpec } from './weights.js';

export { buildExport, exportManifest, bundleArtifacts, loadArtifacts, importSampler, EXPORT_FORMAT, type ExportBundle, type BundleGraph, type ExportManifest, type SamplerFn } from './bundle.js';
