/**
 * `exp eval <run>`: evaluate a run's last checkpoint with the sample-quality metrics, print
 * the values next to the real-vs-real floor, and log both (with the protocol as tags) into
 * the run in its tracker, at the run's last step.
 */
import path from 'node:path';
import { defaultCacheDir, recordRunEnd, type Registry, type ResolvedConfig, unknownNameMessage, UserError } from '@genlab/core';
import { type EvalOptions, evalOptionsShape, evaluateModel, formatReport, type MetricName } from '@genlab/metrics';
import { z } from 'zod';
import type { BackendName } from './backend.js';
import { openRun } from './commands.js';

const log = (message: string) => process.stderr.write(message + '\n');

export interface EvalArgs {
  run: string;
  outputDir: string;
  metrics?: string[];
  samples?: number;
  real?: 'train' | 'test';
  floor: boolean;
  seed?: number;
  featureNet?: string;
  log: boolean;
  backend?: BackendName;
}

export async function evalCommand(args: EvalArgs): Promise<number> {
  // Flags are checked before anything is loaded.
  // Names are checked against the run's registry (built-in and plugin metrics) once it is open.
  const metrics = args.metrics?.flatMap((m) => m.split(',')).map((m) => m.trim()).filter(Boolean);
  // The run's own eval options are the defaults; flags override them.
  let opts!: EvalOptions;
  const evalOptions = (config: ResolvedConfig, registry: Registry) => {
    for (const m of metrics ?? []) if (m !== 'nll' && !registry.metrics.has(m)) throw new UserError(unknownNameMessage('metric', m, [...registry.metrics.keys(), 'nll']));
    const { every: _every, ...configEval } = (config.callbacks.eval ?? {}) as Record<string, unknown>;
    opts = z.object(evalOptionsShape).parse({
      ...configEval,
      ...(metrics ? { metrics: metrics as MetricName[] } : {}),
      ...(args.samples !== undefined ? { samples: args.samples } : {}),
      ...(args.real ? { real: args.real } : {}),
      ...(args.seed !== undefined ? { seed: args.seed } : {}),
      ...(args.featureNet ? { featureNet: path.resolve(args.featureNet) } : {}),
      floor: args.floor,
    }) as EvalOptions;
  };
  const { record, registry, config, dataset, model, loadDataset } = await openRun(args.run, args.outputDir, args.backend, evalOptions);
  try {
    const report = await evaluateModel(
      {
        model,
        info: dataset.info,
        dataset: config.dataset,
        loadDataset,
        cacheDir: defaultCacheDir(),
        baseDir: process.cwd(),
        log,
        metricPlugins: registry.metrics,
      },
      opts,
    );
    process.stdout.write(`run ${record.runId} (${record.runName}), step ${record.step}, ${config.model.name} on ${config.dataset.name}:\n${formatReport(report)}\n`);
    log(`evaluated in ${report.seconds.toFixed(1)} s`);
    if (args.log) {
      const tracker = registry.trackerFor(record.trackingUri).create(record.trackingUri, { baseDir: process.cwd() });
      await tracker.startRun({ experiment: record.experiment, runName: record.runName, resumeRunId: record.runId });
      await tracker.logMetrics(record.step, { ...report.values, ...report.floor });
      await tracker.setTags(report.tags);
      // The run ends as it was (a run record still RUNNING belonged to a process that died: KILLED).
      await recordRunEnd(tracker, record.status === 'RUNNING' ? 'KILLED' : record.status, { log, what: `run ${record.runId}` });
      log(`logged to run ${record.runId} in ${record.trackingUri}`);
    }
  } finally {
    model.dispose();
    dataset.dispose?.();
  }
  return 0;
}
