/**
 * `exp export <run> --out <dir>`: the networks of a run's checkpoint that generate, as tfjs
 * graph models that plain `@tensorflow/tfjs` loads (`tf.loadGraphModel`) with no genlab code,
 * the plain-JS sampler that runs them (`sampler.mjs`), `genlab.json` (what the export is and
 * how to use it: family, inputs, output range and pixels, classes, the run, its metrics and
 * their protocol) and, with `--with-page`, a static sampler page.
 *
 * Graph models, not layers models, for every family: genlab's networks are tfjs-core ops over
 * explicit variables (spectral norm, EMA weights with standing statistics, conditional batch
 * norm, the Row LSTM's masked row convolutions), which tfjs-layers cannot express without
 * custom layers, and custom layers would need genlab code at load time. A graph model is
 * inference-only, which is what an export is for. See core/src/export for how it is traced.
 *
 * Nothing is half-written: the export is assembled in a sibling folder, checked (the files
 * loaded back with tfjs-converter reproduce `exp sample` for the same latents), and only then
 * moved to `--out`.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import {
  buildExport,
  defaultCacheDir,
  ensureWritableDir,
  ExportError,
  exportManifest,
  GENLAB_VERSION,
  graphModelArtifacts,
  importSampler,
  loadArtifacts,
  readGraphModelFiles,
  UserError,
  writeFileAtomic,
  writeGraphModel,
  type ExportBundle,
  type ExportManifest,
  type GenerativeModel,
  type Quantization,
  type RunRecord,
  type SamplerFn,
} from '@genlab/core';
import { evalOptionsShape, evaluateModel, featureNetIssue, type EvalOptions } from '@genlab/metrics';
import { z } from 'zod';
import { LocalSource, RemoteSource } from '@genlab/dashboard';
import type { BackendName } from './backend.js';
import { openRun, type OpenRun } from './commands.js';
import { METRIC_PROTOCOL } from './compare.js';
import { recordInRun, writeSamplerPage } from './page.js';

const log = (message: string) => process.stderr.write(message + '\n');

/**
 * The largest FID increase a quantized export may cost before it is refused (without
 * `--force`): 5% of the float32 export's FID, and at least 1.0 (below that the difference is
 * within the spread of FID estimates at a few thousand samples).
 */
export const QUANTIZE_FID_BOUND = { relative: 0.05, absolute: 1.0 } as const;
/** Largest |Δ| between the float32 export and `exp sample` on the same backend. */
export const EXPORT_TOLERANCE = 1e-5;

export interface ExportArgs {
  run: string;
  out: string;
  outputDir: string;
  quantize?: Quantization;
  checkpoint?: string;
  withPage: boolean;
  force: boolean;
  /** Samples per side for the quantization FID check. */
  fidSamples: number;
  backend?: BackendName;
}

/** The export folder may be new or empty; anything else only with --force. Checked before the run is opened. */
function checkOutFolder(out: string, force: boolean): void {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(out);
  } catch {
    // Absent: fine.
  }
  if (stat && !stat.isDirectory()) throw new UserError(`--out ${out} exists and is not a folder`);
  if (stat && fs.readdirSync(out).length && !force) throw new UserError(`--out ${out} exists and is not empty: choose another folder, or pass --force to replace its contents`);
  ensureWritableDir(path.dirname(out), 'export parent folder');
}

/** A GenerativeModel that samples with exported graphs (for the metrics to score an export as they score a run). */
function exportedModel(graphs: Record<string, GraphModel>, bundle: ExportBundle, manifest: ExportManifest, sample: SamplerFn, conditional: boolean): GenerativeModel {
  return {
    optimizers: [],
    conditional,
    trainStep: () => {
      throw new Error('an export does not train');
    },
    sample: (n, opts = {}) => {
      const inputs = bundle.spec.randomInputs(n, { seed: opts.seed ?? 0, ...(opts.labels ? { labels: opts.labels } : {}) });
      try {
        return sample(tf, graphs, inputs, manifest);
      } finally {
        tf.dispose(Object.values(inputs));
      }
    },
    getState: () => ({}),
    setState: () => {},
    summary: () => [],
    dispose: () => {},
  };
}

/** Load the graphs of an export folder back with plain tfjs-converter. */
async function loadFolder(dir: string, manifest: ExportManifest): Promise<Record<string, GraphModel>> {
  const out: Record<string, GraphModel> = {};
  for (const [name, g] of Object.entries(manifest.graphs)) {
    const { modelJson, weightData } = readGraphModelFiles(path.join(dir, path.dirname(g.path)));
    out[name] = await loadArtifacts({ modelJson, weightSpecs: modelJson.weightsManifest.flatMap((m) => m.weights), weightData });
  }
  return out;
}

/** The largest |a − b|. */
function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** The run's final metrics with their protocols, from its tracker (none, with a warning, when it cannot be read). */
async function runMetrics(record: RunRecord): Promise<{ metrics: { name: string; value: number; floor?: number; protocol: string | null }[]; tags: Record<string, string> }> {
  try {
    const uri = record.trackingUri;
    const source = /^https?:/.test(uri) ? new RemoteSource(uri) : new LocalSource(path.resolve(record.trackingBaseDir ?? process.cwd(), uri.replace(/^file:(\/\/)?/, '')), { warn: () => {} });
    const run = (await source.runs()).find((r) => r.runId === record.runId);
    if (!run) throw new Error(`run ${record.runId} is not in ${source.description}`);
    const metrics = METRIC_PROTOCOL.flatMap(([key, m]) => {
      const value = run.latest[key];
      if (value === undefined || value === null) return [];
      const floor = run.latest[`floor/${key}`];
      return [{ name: key, value, ...(typeof floor === 'number' ? { floor } : {}), protocol: run.tags[`genlab.eval.protocol.${m}`] ?? run.tags['genlab.eval.protocol'] ?? null }];
    });
    return { metrics, tags: run.tags };
  } catch (error) {
    log(`warning: the run's metrics are not in genlab.json: its tracker ${record.trackingUri} could not be read (${(error as Error).message})`);
    return { metrics: [], tags: {} };
  }
}

/** Score the float32 and the quantized export with the same protocol; the FID change. */
async function quantizationFid(opened: OpenRun, f32: GenerativeModel, quantized: GenerativeModel, samples: number): Promise<{ fid32: number; fidQ: number; protocol: string } | { skipped: string }> {
  const { config, dataset, loadDataset, record } = opened;
  const evalCfg = (config.callbacks.eval ?? {}) as Record<string, unknown>;
  const featureNet = typeof evalCfg.featureNet === 'string' ? evalCfg.featureNet : undefined;
  const baseDir = record.configDir;
  const why = featureNetIssue({ info: dataset.info, dataset: config.dataset, baseDir }, featureNet, 'eval.featureNet');
  if (why) return { skipped: why };
  const opts = z.object(evalOptionsShape).parse({ metrics: ['fid'], samples, real: 'test', floor: false, seed: 0, ...(featureNet ? { featureNet } : {}) }) as EvalOptions;
  const score = async (model: GenerativeModel) =>
    evaluateModel({ model, info: dataset.info, dataset: config.dataset, loadDataset, cacheDir: defaultCacheDir(), baseDir, log, metricPlugins: opened.registry.metrics }, opts);
  const a = await score(f32);
  const b = await score(quantized);
  return { fid32: a.values.fid!, fidQ: b.values.fid!, protocol: a.protocol };
}

export async function exportCommand(args: ExportArgs): Promise<number> {
  const out = path.resolve(args.out);
  checkOutFolder(out, args.force);
  const t0 = performance.now();
  const opened = await openRun(args.run, args.outputDir, args.backend, undefined, args.checkpoint ? { checkpoint: args.checkpoint } : {});
  const { record, config, dataset, model } = opened;
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.partial-${process.pid}`);
  const graphs: GraphModel[] = [];
  try {
    let bundle: ExportBundle;
    try {
      bundle = buildExport(model, `model ${config.model.name}`);
    } catch (error) {
      if (error instanceof ExportError) throw new UserError(`cannot export run ${record.runId}: ${error.message}`);
      throw error;
    }
    const manifest = exportManifest(bundle, dataset.info);
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    const generatedBy = `genlab ${GENLAB_VERSION}`;
    // The float32 encoding, once: written as is, or (when quantizing) the reference the quantized export is scored against.
    const float32 = Object.fromEntries(Object.entries(bundle.graphs).map(([name, g]) => [name, graphModelArtifacts(g.parts, { generatedBy })]));
    const files: Record<string, { bytes: number; float32Bytes: number }> = {};
    for (const [name, g] of Object.entries(bundle.graphs)) {
      const dir = path.join(tmp, path.dirname(g.path));
      fs.mkdirSync(dir, { recursive: true });
      const written = writeGraphModel(dir, args.quantize ? graphModelArtifacts(g.parts, { generatedBy, quantize: args.quantize }) : float32[name]!);
      const float32Bytes = args.quantize ? float32[name]!.weightData.byteLength : written.bytes;
      files[name] = { bytes: written.bytes, float32Bytes };
    }
    writeFileAtomic(path.join(tmp, 'sampler.mjs'), bundle.spec.samplerSource);

    // The check: the files as written, loaded with tfjs-converter, against `exp sample`.
    const sample = await importSampler(bundle.spec.samplerSource);
    const loaded = await loadFolder(tmp, manifest);
    graphs.push(...Object.values(loaded));
    const n = 16;
    const exported = exportedModel(loaded, bundle, manifest, sample, model.conditional === true);
    // Seed 1, not 0: tfjs's seeded random ops treat a seed of 0 as "no seed".
    const got = exported.sample(n, { seed: 1 });
    const want = model.sample(n, { seed: 1 });
    const diff = maxAbs(got, want);
    tf.dispose([got, want]);
    const backend = tf.getBackend();
    let quantization: Record<string, unknown> | null = null;
    if (!args.quantize) {
      if (!(diff <= EXPORT_TOLERANCE)) throw new Error(`the export does not reproduce the run's samples: max |Δ| = ${diff} over ${n} samples (tolerance ${EXPORT_TOLERANCE}); please report this with the model name (${config.model.name})`);
      log(`check: the export reproduces exp sample (max |Δ| ${diff.toExponential(1)} over ${n} samples on ${backend})`);
    } else {
      // The float32 graphs, in memory, as the reference the quantized ones are scored against.
      const f32Graphs: Record<string, GraphModel> = {};
      for (const [name, a] of Object.entries(float32)) f32Graphs[name] = await loadArtifacts(a);
      graphs.push(...Object.values(f32Graphs));
      const f32 = exportedModel(f32Graphs, bundle, manifest, sample, model.conditional === true);
      log(`check: ${args.quantize} weights change samples by at most ${diff.toPrecision(3)} (data range [${dataset.info.range.join(', ')}]); measuring the FID change on ${args.fidSamples} samples…`);
      const fid = await quantizationFid(opened, f32, exported, args.fidSamples);
      if ('skipped' in fid) {
        if (!args.force) throw new UserError(`--quantize ${args.quantize}: the FID change cannot be measured (${fid.skipped}); pass --force to export quantized weights unmeasured`);
        log(`warning: --quantize ${args.quantize} exported unmeasured (${fid.skipped}; --force)`);
        quantization = { dtype: args.quantize, maxAbsChange: diff, fid: null, note: fid.skipped };
      } else {
        const change = fid.fidQ - fid.fid32;
        const bound = Math.max(QUANTIZE_FID_BOUND.absolute, QUANTIZE_FID_BOUND.relative * fid.fid32);
        const line = `FID ${fid.fid32.toFixed(2)} (float32) → ${fid.fidQ.toFixed(2)} (${args.quantize}): ${change >= 0 ? '+' : ''}${change.toFixed(2)}, bound +${bound.toFixed(2)}`;
        log(`quantization: ${line}`);
        if (change > bound && !args.force) throw new UserError(`--quantize ${args.quantize} costs too much quality for ${config.model.name}: ${line}; export float32 (or float16), or pass --force`);
        quantization = { dtype: args.quantize, maxAbsChange: diff, fid: { float32: fid.fid32, quantized: fid.fidQ, change, bound, samples: args.fidSamples, protocol: fid.protocol }, forced: change > bound };
      }
    }

    const { metrics, tags } = await runMetrics(record);
    const genlabJson: ExportManifest = {
      ...manifest,
      family: opened.registry.model(config.model.name).family,
      model: config.model.name,
      dataset: config.dataset.name,
      run: {
        id: record.runId,
        name: record.runName,
        experiment: record.experiment,
        trackingUri: record.trackingUri,
        status: record.status,
        step: opened.checkpoint.step,
        checkpoint: path.basename(opened.checkpoint.dir),
        commit: tags['genlab.git_commit'] ?? null,
        createdAt: record.createdAt,
      },
      metrics,
      quantization,
      check: { maxAbsDiff: diff, samples: n, backend, tolerance: args.quantize ? null : EXPORT_TOLERANCE },
      files: { sampler: 'sampler.mjs', ...(args.withPage ? { page: 'index.html' } : {}) },
      generatedBy,
      exportedAt: new Date().toISOString(),
    };
    writeFileAtomic(path.join(tmp, 'genlab.json'), JSON.stringify(genlabJson, null, 2) + '\n');
    if (args.withPage) writeSamplerPage(tmp, genlabJson);

    // Into place: the old contents (with --force) go only once the new export is complete.
    if (fs.existsSync(out)) {
      const old = `${tmp}.old`;
      fs.renameSync(out, old);
      fs.renameSync(tmp, out);
      fs.rmSync(old, { recursive: true, force: true });
    } else fs.renameSync(tmp, out);
    recordInRun(args.run, args.outputDir, { out, exportedAt: genlabJson.exportedAt as string, page: args.withPage, model: config.model.name, checkpoint: path.basename(opened.checkpoint.dir), step: opened.checkpoint.step, quantize: args.quantize ?? null });

    const total = Object.values(files).reduce((a, f) => a + f.bytes, 0);
    for (const [name, f] of Object.entries(files)) {
      log(`  ${name}: ${path.join(out, bundle.graphs[name]!.path)} (${(f.bytes / 1024).toFixed(0)} KiB${args.quantize ? `; float32 ${(f.float32Bytes / 1024).toFixed(0)} KiB` : ''})`);
    }
    process.stdout.write(`${out}\n`);
    log(
      `exported run ${record.runId} (${config.model.name}, checkpoint ${path.basename(opened.checkpoint.dir)} at step ${opened.checkpoint.step}) in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
        `${Object.keys(files).length} graph${Object.keys(files).length > 1 ? 's' : ''}, ${(total / 1024).toFixed(0)} KiB${args.quantize ? ` (${args.quantize})` : ''}` +
        (args.withPage ? `\n  page: ${path.join(out, 'index.html')} (open it, or: pnpm exp serve ${args.out})` : `\n  load it with tf.loadGraphModel (see the README's "Using an export"); --with-page adds a sampler page`),
    );
    return 0;
  } finally {
    for (const g of graphs) g.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
    model.dispose();
    dataset.dispose?.();
  }
}
