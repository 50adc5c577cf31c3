/**
 * Push runs of a local MLflow file store to an MLflow server, idempotently: running it twice
 * creates no second run and no duplicate point. The local store is the source of truth;
 * what has reached the server is recorded per run in `<run>/.genlab-sync-<server>.json`
 * (MLflow ignores other files in a run folder):
 *
 * - the remote run id (and the run carries the tag `genlab.local_run_id`, so a lost state
 *   file still finds its run instead of creating another);
 * - per metric key, how many points were accepted. Before a batch is sent its range is
 *   written down as pending; if the process dies before the answer is recorded, the next
 *   sync asks the server how many points that key has, so a batch is never sent twice;
 * - the params sent (params are write-once: resending an accepted value is harmless), the
 *   tags and artifact files sent (with their size and modification time), and the status.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '@genlab/core';
import { FileStore, userName } from './file-store.js';
import { BATCH_LIMITS, type MlflowClient, MlflowError, type RemoteMetric } from './rest-client.js';

/** Tag linking a server run to the local run it mirrors. */
export const LOCAL_RUN_TAG = 'genlab.local_run_id';

interface SyncState {
  server: string;
  remoteRunId: string;
  experimentId: string;
  artifactUri: string;
  params: string[];
  tags: Record<string, string>;
  metrics: Record<string, number>;
  pending?: Record<string, { from: number; to: number }>;
  artifacts: Record<string, string>;
  status?: string;
}

export interface SyncResult {
  localRunId: string;
  remoteRunId: string;
  /** The server's id of the run's experiment (not the local store's). */
  experimentId: string;
  created: boolean;
  metrics: number;
  params: number;
  tags: number;
  artifacts: number;
  status?: string;
}

function stateFile(runDir: string, server: string): string {
  return path.join(runDir, `.genlab-sync-${crypto.createHash('sha256').update(server).digest('hex').slice(0, 12)}.json`);
}

function saveState(file: string, state: SyncState): void {
  writeFileAtomic(file, JSON.stringify(state));
}

function walkFiles(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !e.name.startsWith('.')) out.push(p);
    }
  };
  walk(root);
  return out.sort();
}

/**
 * Push one local run to the server. `signal` stops the push between requests (a tracker
 * that gave up waiting must not keep pushing next to a later `exp sync`).
 */
export async function syncRun(store: FileStore, localRunId: string, client: MlflowClient, opts: { signal?: AbortSignal } = {}): Promise<SyncResult> {
  const check = () => {
    if (opts.signal?.aborted) throw new MlflowError(0, 'ABORTED', `the push of run ${localRunId} was stopped`);
  };
  const run = store.readRun(localRunId);
  const file = stateFile(run.dir, client.base);
  let state: SyncState | undefined;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8')) as SyncState;
  } catch {
    state = undefined;
  }
  let created = false;
  if (!state) {
    const experimentId = await client.experimentId(run.experiment);
    const existing = await client.findRunsByTag(experimentId, LOCAL_RUN_TAG, localRunId);
    const remote = existing[0] ?? (await client.createRun(experimentId, run.meta.run_name, run.meta.start_time, { [LOCAL_RUN_TAG]: localRunId }, run.meta.user_id || userName()));
    created = existing.length === 0;
    // A run found by its tag (the state file was lost): count what the server already has.
    const counts: Record<string, number> = {};
    if (!created) for (const key of Object.keys(run.metrics)) counts[key] = (await client.metricHistory(remote.info.run_id, key)).length;
    state = { server: client.base, remoteRunId: remote.info.run_id, experimentId, artifactUri: remote.info.artifact_uri, params: [], tags: { [LOCAL_RUN_TAG]: localRunId }, metrics: counts, artifacts: {}, status: created ? 'RUNNING' : remote.info.status };
    saveState(file, state);
  }
  const s = state;
  const result: SyncResult = { localRunId, remoteRunId: s.remoteRunId, experimentId: s.experimentId, created, metrics: 0, params: 0, tags: 0, artifacts: 0 };

  // A batch whose answer was never recorded: the server's count says whether it landed.
  if (s.pending) {
    for (const key of Object.keys(s.pending)) s.metrics[key] = (await client.metricHistory(s.remoteRunId, key)).length;
    delete s.pending;
    saveState(file, s);
  }

  const sent = new Set(s.params);
  const params = Object.fromEntries(Object.entries(run.params).filter(([k]) => !sent.has(k)));
  if (Object.keys(params).length) {
    check();
    await client.logBatch(s.remoteRunId, { params });
    s.params.push(...Object.keys(params));
    result.params = Object.keys(params).length;
    saveState(file, s);
  }
  const tags = Object.fromEntries(Object.entries(run.tags).filter(([k, v]) => s.tags[k] !== v));
  // MLflow nests a run under `mlflow.parentRunId`: locally that is the parent's local id, on the
  // server it must be the parent's server id. Until the parent is on the server, the tag waits.
  const parent = tags[PARENT_RUN_TAG];
  const remoteTags = { ...tags };
  if (parent !== undefined && store.runDir(parent)) {
    const remoteParent = await remoteRunIdOf(store, parent, client, s.experimentId);
    if (remoteParent) remoteTags[PARENT_RUN_TAG] = remoteParent;
    else {
      delete tags[PARENT_RUN_TAG];
      delete remoteTags[PARENT_RUN_TAG];
    }
  }
  if (Object.keys(tags).length) {
    check();
    await client.logBatch(s.remoteRunId, { tags: remoteTags });
    Object.assign(s.tags, tags);
    result.tags = Object.keys(tags).length;
    saveState(file, s);
  }

  // Metrics: new points of every key, in their logged order, at most one request at a time.
  const queue: { key: string; points: RemoteMetric[]; from: number }[] = [];
  for (const [key, points] of Object.entries(run.metrics)) {
    const from = s.metrics[key] ?? 0;
    if (points.length > from) queue.push({ key, from, points: points.slice(from).map((p) => ({ key, value: p.value, timestamp: p.timestamp, step: p.step })) });
  }
  while (queue.some((q) => q.points.length)) {
    const batch: RemoteMetric[] = [];
    const ranges: Record<string, { from: number; to: number }> = {};
    for (const q of queue) {
      const take = q.points.splice(0, BATCH_LIMITS.metrics - batch.length);
      if (!take.length) continue;
      ranges[q.key] = { from: q.from, to: q.from + take.length };
      q.from += take.length;
      batch.push(...take);
      if (batch.length === BATCH_LIMITS.metrics) break;
    }
    check();
    s.pending = ranges;
    saveState(file, s);
    await client.logBatch(s.remoteRunId, { metrics: batch });
    for (const [key, r] of Object.entries(ranges)) s.metrics[key] = r.to;
    delete s.pending;
    saveState(file, s);
    result.metrics += batch.length;
  }

  // Artifacts: files new or changed since they were sent.
  const artifactRoot = path.join(run.dir, 'artifacts');
  for (const f of walkFiles(artifactRoot)) {
    const rel = path.relative(artifactRoot, f).split(path.sep).join('/');
    const st = fs.statSync(f);
    const stamp = `${st.size}:${st.mtimeMs}`;
    if (s.artifacts[rel] === stamp) continue;
    check();
    await client.uploadArtifact(s.artifactUri, rel, fs.readFileSync(f));
    s.artifacts[rel] = stamp;
    result.artifacts++;
    saveState(file, s);
  }

  const status = run.status;
  if (status !== s.status) {
    check();
    await client.updateRun(s.remoteRunId, status as 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED', run.meta.end_time ?? undefined);
    s.status = status;
    result.status = status;
    saveState(file, s);
  }
  return result;
}

/** MLflow's tag naming a run's parent (nested runs: a sweep and its variants). */
export const PARENT_RUN_TAG = 'mlflow.parentRunId';

/** The server id of a local run, from its sync state or its `genlab.local_run_id` tag; undefined if not pushed yet. */
async function remoteRunIdOf(store: FileStore, localRunId: string, client: MlflowClient, experimentId: string): Promise<string | undefined> {
  const dir = store.runDir(localRunId);
  if (!dir) return undefined;
  try {
    return (JSON.parse(fs.readFileSync(stateFile(dir, client.base), 'utf8')) as SyncState).remoteRunId;
  } catch {
    return (await client.findRunsByTag(experimentId, LOCAL_RUN_TAG, localRunId))[0]?.info.run_id;
  }
}

/** Every readable run id in a local store (all experiments; bad entries skipped with a warning). */
export function localRunIds(store: FileStore): string[] {
  return store.runEntries().map((r) => r.meta.run_id);
}

export { FileStore };
