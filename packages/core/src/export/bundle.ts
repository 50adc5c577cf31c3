/**
 * A model's export as a whole: every graph traced, the sampler, and the `genlab.json`
 * manifest that says how to use them; plus loading it back with plain tfjs-converter (what
 * the contract test, `exp export`'s checks and a Node user do).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import type { DataInfo, GenerativeModel, ModelExport, RandomInput } from '../contracts.js';
import { ExportError } from './trace.js';
import { exportGraph, type GraphModelParts } from './graph.js';
import { graphModelArtifacts, type GraphModelArtifacts, type Quantization } from './weights.js';

/** The format `genlab.json` declares. */
export const EXPORT_FORMAT = 'genlab-export/1';

/** One graph of an export, traced. */
export interface BundleGraph {
  parts: GraphModelParts;
  /** Where its model.json goes, relative to the export folder (the first graph: `model.json`). */
  path: string;
  inputs: Record<string, { shape: number[]; dtype: string; description: string }>;
  outputs: Record<string, string>;
}

/** What `buildExport` returns. */
export interface ExportBundle {
  spec: ModelExport;
  graphs: Record<string, BundleGraph>;
}

/** The part of `genlab.json` a sampler needs (the CLI adds the run, its metrics and the quantization). */
export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  sampler: string;
  graphs: Record<string, { path: string; inputs: BundleGraph['inputs']; outputs: Record<string, string> }>;
  random: Record<string, RandomInput>;
  output: { shape: number[]; range: [number, number]; pixels: string };
  classes: { count: number; names?: string[] } | null;
  info: Record<string, unknown>;
  [key: string]: unknown;
}

/** Trace every graph of `model`'s export (the model must have `exportSpec`). */
export function buildExport(model: GenerativeModel, modelName = 'this model'): ExportBundle {
  if (!model.exportSpec) throw new ExportError(`${modelName} does not export (its GenerativeModel has no exportSpec)`);
  const spec = model.exportSpec();
  const names = Object.keys(spec.graphs);
  if (!names.length) throw new ExportError(`${modelName}'s export has no graphs`);
  const graphs: Record<string, BundleGraph> = {};
  names.forEach((name, i) => {
    const g = spec.graphs[name]!;
    graphs[name] = {
      parts: exportGraph(g),
      path: i === 0 ? 'model.json' : `${name}/model.json`,
      inputs: Object.fromEntries(g.inputs.map((x) => [x.name, { shape: x.shape, dtype: x.dtype, description: x.description }])),
      outputs: g.outputs,
    };
  });
  return { spec, graphs };
}

/** The sampler's view of an export: graphs, random inputs, output shape and range, classes. */
export function exportManifest(bundle: ExportBundle, data: DataInfo): ExportManifest {
  const [lo, hi] = data.range;
  return {
    format: EXPORT_FORMAT,
    sampler: bundle.spec.sampler,
    graphs: Object.fromEntries(Object.entries(bundle.graphs).map(([k, g]) => [k, { path: g.path, inputs: g.inputs, outputs: g.outputs }])),
    random: bundle.spec.random,
    output: { shape: data.shape, range: [lo, hi], pixels: `byte = round((x - ${lo}) / ${hi - lo} * 255), clipped to 0…255; channels last (${data.shape.at(-1) === 3 ? 'RGB' : 'grey'})` },
    classes: data.numClasses > 0 ? { count: data.numClasses, ...(data.classNames ? { names: data.classNames } : {}) } : null,
    info: bundle.spec.info ?? {},
  };
}

/** Every graph as model.json + weight bytes. */
export function bundleArtifacts(bundle: ExportBundle, opts: { quantize?: Quantization; generatedBy: string }): Record<string, GraphModelArtifacts> {
  return Object.fromEntries(Object.entries(bundle.graphs).map(([k, g]) => [k, graphModelArtifacts(g.parts, opts)]));
}

/** Load artifacts with plain tfjs-converter, from memory. */
export async function loadArtifacts(a: GraphModelArtifacts): Promise<GraphModel> {
  return loadGraphModel(tf.io.fromMemory({ modelTopology: a.modelJson.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData.slice().buffer }));
}

/** A sampler module's `sample`. */
export type SamplerFn = (tfjs: unknown, graphs: Record<string, GraphModel>, inputs: Record<string, tf.Tensor>, info: ExportManifest) => tf.Tensor;

/** Import a sampler's source as an ES module (through a temporary file: the source is code a page loads as is). */
export async function importSampler(source: string): Promise<SamplerFn> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-sampler-'));
  const file = path.join(dir, 'sampler.mjs');
  fs.writeFileSync(file, source);
  try {
    const mod = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as { sample?: SamplerFn };
    if (typeof mod.sample !== 'function') throw new ExportError('the export sampler does not export a function sample(tf, graphs, inputs, info)');
    return mod.sample;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
