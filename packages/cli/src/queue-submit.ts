/**
 * `exp run <config> --sweep … --queue redis://host:port/db`: a sweep for many machines.
 *
 * 1. Every variant is built and validated, as for a sweep on one machine (`loadSweep`).
 * 2. The tracking URI must be an MLflow server (`http(s)`): it is the one store every worker
 *    reaches, for the runs and for the checkpoints a variant resumes from on another machine.
 *    Or, with `--shared-fs` (`launcher.sharedFs`), a `file:` store that, like `output.dir`, is
 *    on a filesystem every worker mounts at the same path: both are made absolute here, and
 *    the checkpoints stay in the shared run folders (see sweep-store.ts).
 * 3. The sweep id is a hash of the frozen variants, so the same sweep submitted again is the
 *    same sweep: its parent and variant runs are found on the server (tag `genlab.sweep`) and
 *    its jobs (ids `<sweep id>-<k>`) are already in the queue; nothing is made twice.
 * 4. The parent run and one run per variant (status SCHEDULED, with the variant's tags and
 *    params) are created on the server, then one BullMQ job per variant holding its resolved
 *    config and its run's ids.
 * 5. `--wait` follows the sweep until every variant has ended (exit 1 if any failed).
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ensureDir, flattenParams, GENLAB_VERSION, loadSweep, toYaml, UserError, type Registry, type SweepPlan } from '@genlab/core';
import { storeRoot, userName } from '@genlab/tracking';
import { addVariantJobs, checkReachable, JOB_FORMAT, openQueue, parseQueueUrl, readSweepRecord, sweepStatus, statusTable, writeSweepRecord, type SweepQueue, type SweepRecord, type VariantJobData } from '@genlab/queue';
import { compareHint, SWEEP_INDEX_TAG, SWEEP_ROLE_TAG, SWEEP_TAG, variantTags } from './sweep.js';
import { onSignals, signalExitCode } from './signals.js';
import { openSweepStore, type StoreRun, type SweepStore } from './sweep-store.js';

const log = (message: string) => process.stderr.write(message + '\n');

/** Options of `exp run --queue`. */
export interface QueueSubmitArgs {
  config: string;
  overrides: string[];
  sweeps: string[];
  queue: string;
  /** Attempts per variant before it ends FAILED (default: the `launcher:` block's, else 3). */
  attempts?: number;
  /** A `file:` store and `output.dir` on a filesystem every worker mounts at the same path (default: the `launcher:` block's). */
  sharedFs?: boolean;
  wait: boolean;
}

/** The sweep id of a plan: 8 hex digits of the hash of its frozen variants (the same sweep, the same id). */
export function queuedSweepId(plan: SweepPlan): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(plan.spec));
  for (const v of plan.variants) h.update(toYaml(v.config));
  return h.digest('hex').slice(0, 8);
}

/** Why a tracking URI cannot hold a queued sweep, or undefined. */
export function queueTrackingProblem(uri: string, sharedFs = false): string | undefined {
  if (/^https?:\/\//.test(uri)) return undefined;
  if (uri.startsWith('file:') && sharedFs) return undefined;
  if (!uri.startsWith('file:')) return `A sweep on a queue keeps its runs on an MLflow server (http://…) or, with --shared-fs, in a file: store; tracking.uri '${uri}' is neither`;
  return (
    `A sweep on a queue needs an MLflow server as its tracking store (tracking.uri: http://host:5000, started with --serve-artifacts): ` +
    `the workers run on other machines, and it is where they log every variant and keep the checkpoints a variant resumes from when its machine dies. ` +
    `'${uri}' is a folder on this machine, which the workers do not see. Start a server (see the README, "Running a sweep on many machines") and --set tracking.uri=http://…; ` +
    `or, if this folder and output.dir are on a filesystem every worker mounts at the same path (NFS, a cluster's shared disk), add --shared-fs (launcher: { sharedFs: true })`
  );
}

/** `exp run --queue`: submit (and with `--wait`, follow) a sweep. */
export async function submitSweep(registry: Registry, args: QueueSubmitArgs): Promise<number> {
  parseQueueUrl(args.queue); // a bad URL is refused before the variants are built
  const plan = await loadSweep(args.config, registry, { overrides: args.overrides, sweeps: args.sweeps, checkData: { log } });
  return submitPlan(plan, args);
}

/** Submit a loaded sweep (from `--queue`, or from the config's `launcher:` block). */
export async function submitPlan(plan: SweepPlan, args: Pick<QueueSubmitArgs, 'queue' | 'attempts' | 'sharedFs' | 'wait'>): Promise<number> {
  const q = parseQueueUrl(args.queue);
  const attempts = args.attempts ?? plan.launcher?.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) throw new UserError(`--attempts must be a whole number ≥ 1, got ${args.attempts}`);
  for (const note of plan.notes) log(`note: ${note}`);
  const sharedFs = args.sharedFs ?? plan.launcher?.sharedFs ?? false;
  if (sharedFs) {
    // Every worker must name the same folders: relative paths are made absolute (from here, as a run on this machine would resolve them).
    for (const v of plan.variants) {
      const t = v.config.tracking;
      v.config = {
        ...v.config,
        ...(t.uri.startsWith('file:') ? { tracking: { ...t, uri: `file:${storeRoot(t.uri, process.cwd())}` } } : {}),
        output: { ...v.config.output, dir: path.resolve(v.config.output.dir) },
      };
      // Made now, so that a worker can tell the shared folder from one it would make on its own disk.
      ensureDir(v.config.output.dir);
    }
  }
  const first = plan.variants[0]!.config;
  const uri = first.tracking.uri;
  const experiment = first.tracking.experiment ?? first.name;
  const differ = plan.variants.find((v) => v.config.tracking.uri !== uri || (v.config.tracking.experiment ?? v.config.name) !== experiment);
  if (differ) throw new UserError(`The variants of a sweep are tracked together: variant ${differ.index + 1} (${differ.label}) goes to ${differ.config.tracking.uri}, experiment '${differ.config.tracking.experiment ?? differ.config.name}', variant 1 to ${uri}, experiment '${experiment}'`);
  const problem = queueTrackingProblem(uri, sharedFs);
  if (problem) throw new UserError(problem);
  await checkReachable(q);

  const name = new Set(plan.variants.map((v) => v.config.name)).size === 1 ? first.name : path.basename(plan.file).replace(/\.ya?ml$/i, '');
  const sweepId = queuedSweepId(plan);
  const total = plan.variants.length;
  for (const v of plan.variants) {
    v.config = { ...v.config, tracking: { ...v.config.tracking, runName: `${v.config.tracking.runName ?? `${name}-sweep-${sweepId}`}-${v.index + 1}` } };
  }
  const store = openSweepStore(uri);
  const queue = openQueue(q);
  try {
    const known = await readSweepRecord(queue, sweepId);
    const created = known ? undefined : await createRuns(store, plan, { sweepId, name, uri, experiment, total });
    const record = known ?? created!.record;
    if (!known) await writeSweepRecord(queue, record);
    const artifactUris = created?.artifactUris ?? (await Promise.all(record.runIds.map((id) => store.artifactUri(id))));
    const user = userName();
    const jobs = plan.variants.map((v) => {
      const data: VariantJobData = {
        format: JOB_FORMAT,
        genlabVersion: GENLAB_VERSION,
        sweepId,
        index: v.index,
        total,
        label: v.label,
        config: `# Variant ${v.index + 1}/${total} of sweep ${sweepId}: ${v.label}\n` + toYaml(v.config),
        configDir: plan.baseDir,
        trackingUri: uri,
        experiment,
        experimentId: record.experimentId,
        parentRunId: record.parentRunId,
        runId: record.runIds[v.index]!,
        runName: v.config.tracking.runName!,
        artifactUri: artifactUris[v.index] ?? '',
        submittedAt: Date.now(),
        submittedBy: `${user}@${os.hostname()}`,
      };
      return { data, attempts };
    });
    const added = await addVariantJobs(queue, jobs);
    const axes = plan.axes.map((a) => `${a.key} (${a.size})`).join(plan.mode === 'zip' ? ' with ' : ' × ');
    log(`sweep ${sweepId}: ${total} variant${total === 1 ? '' : 's'}${axes ? ` (${plan.mode} over ${axes})` : ''} on the queue ${q.display}`);
    for (const v of plan.variants) log(`  ${String(v.index + 1).padStart(String(total).length)}  ${v.label}`);
    const out = [
      `sweep ${sweepId}: ${added} job${added === 1 ? '' : 's'} queued${added < total ? ` (${total - added} of ${total} were already in the queue: the same sweep was submitted before)` : ''}; parent run ${record.parentRunId} on ${uri}`,
      `  workers (any machine that reaches ${q.display} and ${sharedFs && uri.startsWith('file:') ? `mounts ${storeRoot(uri, process.cwd())} and ${first.output.dir} at these paths` : uri}): pnpm exp worker --queue ${q.display}`,
      `  follow: pnpm exp sweep status ${sweepId} --queue ${q.display}`,
      `  compare: ${compareHint(sweepId, uri)}`,
    ];
    process.stdout.write(out.join('\n') + '\n');
    if (!args.wait) return 0;
    return await followSweep(queue, sweepId);
  } finally {
    await queue.close();
  }
}

/** Find (a resubmission) or create the sweep's parent and variant runs in its store; the sweep's record. */
async function createRuns(store: SweepStore, plan: SweepPlan, s: { sweepId: string; name: string; uri: string; experiment: string; total: number }): Promise<{ record: SweepRecord; artifactUris: string[] }> {
  const experimentId = await store.experimentId(s.experiment);
  const existing = await store.findRuns(experimentId, SWEEP_TAG, s.sweepId);
  const parentName = `${s.name}-sweep-${s.sweepId}`;
  let parentRunId = existing.find((r) => tagOf(r, SWEEP_ROLE_TAG) === 'parent')?.runId;
  if (!parentRunId) {
    const tags = { [SWEEP_TAG]: s.sweepId, [SWEEP_ROLE_TAG]: 'parent', 'genlab.sweep.size': String(s.total), 'genlab.version': GENLAB_VERSION, 'genlab.sweep.queue': 'redis' };
    parentRunId = (await store.createRun({ experimentId, experiment: s.experiment, runName: parentName, tags, params: plan.spec })).runId;
  }
  const runIds: string[] = [];
  const artifactUris: string[] = [];
  for (const v of plan.variants) {
    const found = existing.find((r) => tagOf(r, SWEEP_ROLE_TAG) === 'variant' && tagOf(r, SWEEP_INDEX_TAG) === String(v.index + 1));
    const run = found
      ? { runId: found.runId, artifactUri: found.artifactUri }
      : await store.createRun({ experimentId, experiment: s.experiment, runName: v.config.tracking.runName!, tags: variantTags({ sweepId: s.sweepId, parentRunId, index: v.index, label: v.label }), params: flattenParams(v.config) });
    runIds.push(run.runId);
    artifactUris.push(run.artifactUri);
  }
  const record: SweepRecord = {
    sweepId: s.sweepId,
    total: s.total,
    name: s.name,
    config: plan.file,
    trackingUri: s.uri,
    experiment: s.experiment,
    experimentId,
    parentRunId,
    parentRunName: parentName,
    genlabVersion: GENLAB_VERSION,
    submittedAt: Date.now(),
    labels: plan.variants.map((v) => v.label),
    runIds,
  };
  return { record, artifactUris };
}

const tagOf = (r: StoreRun, key: string) => r.tags[key];

/**
 * Follow a sweep until every variant has ended: a line whenever a variant changes state, the
 * table at the end; 0 when all finished, 1 otherwise. Redis going away only pauses it (the
 * connection reconnects by itself). Ctrl-C stops following, not the sweep.
 */
export async function followSweep(queue: SweepQueue, sweepId: string, intervalMs = 1000): Promise<number> {
  let stop: NodeJS.Signals | undefined;
  const off = onSignals(
    (sig) => {
      stop = sig;
      log(`${sig}: no longer following sweep ${sweepId} (it goes on; follow it again with exp sweep status ${sweepId})`);
    },
    () => process.exit(130),
  );
  const seen = new Map<number, string>();
  try {
    for (;;) {
      const s = await sweepStatus(queue, sweepId);
      if (!s) throw new UserError(`No sweep ${sweepId} in this queue`);
      for (const v of s.variants) {
        const key = `${v.state}|${v.host ?? ''}|${v.attempts}`;
        if (seen.get(v.index) === key) continue;
        seen.set(v.index, key);
        log(`[sweep ${sweepId}] ${v.index + 1}/${s.record.total} ${v.label}: ${v.state}${v.host && v.state === 'running' ? ` on ${v.host}` : ''}${v.attempts > 1 ? ` (attempt ${v.attempts}/${v.maxAttempts})` : ''}${v.reason && v.state !== 'running' ? `: ${v.reason}` : ''}`);
      }
      if (s.done) {
        process.stdout.write(statusTable(s) + '\n');
        return s.counts.finished === s.record.total ? 0 : 1;
      }
      if (stop) return signalExitCode(stop);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  } finally {
    off();
  }
}
