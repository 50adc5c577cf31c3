/**
 * Where a queued sweep's runs and checkpoints live, as the submitter and the workers see it.
 * Two kinds, chosen by the tracking URI:
 *
 * - **An MLflow server** (`http(s)://`): runs over REST; every checkpoint is uploaded to its
 *   run's artifacts, so a worker on any machine resumes from it.
 * - **A shared folder** (`file:` with `--shared-fs` / `launcher.sharedFs`): an MLflow file
 *   store and the `output.dir` on a filesystem every worker mounts at the same path (NFS, a
 *   cluster's shared disk). Runs are written as a local run writes them, and a variant's
 *   checkpoint stays in its run folder under the shared `output.dir`, where the next worker
 *   finds it: nothing is uploaded.
 *
 * The worker and the submitter only speak this interface; neither knows which kind it has.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { ensureDir, readCheckpoint, UserError, writeFileAtomic, type RunStatus, type Tracker } from '@genlab/core';
import { checkKey, clientOptionsFromEnv, FileStore, FileStoreTracker, LOCAL_RUN_TAG, MlflowClient, RestTracker, RUN_STATUS, userName } from '@genlab/tracking';

/** A run of the sweep as the store has it. */
export interface StoreRun {
  runId: string;
  artifactUri: string;
  tags: Record<string, string>;
}

/** The tracker a worker trains a variant with. */
export interface WorkerTracker extends Tracker {
  /** Push what is logged to the shared store; falsy when it could not (a server that is down). */
  sync(): Promise<unknown>;
  /** Whether the run's final state is in the shared store. */
  settled(): boolean;
  /** Write nothing more to the shared store (the job's lock was lost: another worker owns the run). */
  detach(): void;
}

/** `genlab/checkpoint/latest.json` among a run's artifacts (server stores). */
export interface LatestCheckpoint {
  slot: 'a' | 'b';
  step: number;
  host: string;
  uploadedAt: string;
  bytes: number;
}

/** Checkpoints that must travel to reach another machine (a server store); a shared folder needs none. */
export interface CheckpointTransfer {
  latest(): Promise<LatestCheckpoint | undefined>;
  /** Upload the checkpoint in `dir` (taken at `step`); returns the bytes sent. Throws `MlflowError` (transient when the server is away). */
  upload(dir: string, step: number, host: string): Promise<number>;
  /** Download the newest checkpoint into `dir` (checked whole); its step and bytes. */
  download(latest: LatestCheckpoint, dir: string): Promise<{ step: number; runId: string; bytes: number }>;
}

export interface SweepStore {
  readonly uri: string;
  /** How a message names it: 'the MLflow server http://…' or 'the shared store /mnt/…'. */
  readonly description: string;
  experimentId(name: string): Promise<string>;
  /** Runs of an experiment with a tag (a sweep's parent and variants). */
  findRuns(experimentId: string, tag: string, value: string): Promise<StoreRun[]>;
  /** Create a run, status SCHEDULED, with tags and params; its id and artifact URI. */
  createRun(r: { experimentId: string; experiment: string; runName: string; tags: Record<string, string>; params?: Record<string, string> }): Promise<{ runId: string; artifactUri: string }>;
  artifactUri(runId: string): Promise<string>;
  setTags(runId: string, tags: Record<string, string>): Promise<void>;
  setStatus(runId: string, status: RunStatus | 'SCHEDULED', endTime?: number): Promise<void>;
  /**
   * What this machine cannot see of the run (a shared folder not mounted here, or mounted
   * elsewhere), or undefined. `outputDir`: the variant's `output.dir`.
   */
  unseen(runId: string, outputDir: string): string | undefined;
  /** The tracker a worker trains a variant with. */
  tracker(opts: { log(m: string): void; localStore: string; finalTimeoutMs: number }): WorkerTracker;
  /** How a run's checkpoints reach other machines; undefined when they are in a folder every worker sees. */
  checkpoints(runId: string, artifactUri: string): CheckpointTransfer | undefined;
}

/** Where a run's checkpoint lives among its artifacts (server stores). */
export const CHECKPOINT_ARTIFACTS = 'genlab/checkpoint';
const CHECKPOINT_FILES = ['tensors.bin', 'manifest.json', 'checksums.json'] as const;

/** The store of a tracking URI (`file:` ones only when they are on a shared filesystem: the submitter checks). */
export function openSweepStore(uri: string): SweepStore {
  return /^https?:\/\//.test(uri) ? new ServerStore(uri) : new SharedFolderStore(uri);
}

class ServerStore implements SweepStore {
  readonly description: string;
  private readonly client: MlflowClient;
  constructor(readonly uri: string) {
    this.description = `the MLflow server ${uri}`;
    this.client = new MlflowClient(uri, clientOptionsFromEnv());
  }
  experimentId(name: string) {
    return this.client.experimentId(name);
  }
  async findRuns(experimentId: string, tag: string, value: string): Promise<StoreRun[]> {
    const runs = await this.client.findRunsByTag(experimentId, tag, value);
    return runs.map((r) => ({ runId: r.info.run_id, artifactUri: r.info.artifact_uri, tags: Object.fromEntries((r.data.tags ?? []).map((t) => [t.key, t.value])) }));
  }
  async createRun(r: { experimentId: string; runName: string; tags: Record<string, string>; params?: Record<string, string> }) {
    const run = await this.client.createRun(r.experimentId, r.runName, Date.now(), r.tags, userName());
    // The journal of whichever worker runs it mirrors it under the same id (see RestTracker.startRun).
    await this.client.logBatch(run.info.run_id, { tags: { [LOCAL_RUN_TAG]: run.info.run_id }, ...(r.params ? { params: r.params } : {}) });
    await this.client.updateRun(run.info.run_id, 'SCHEDULED');
    return { runId: run.info.run_id, artifactUri: run.info.artifact_uri };
  }
  async artifactUri(runId: string) {
    return (await this.client.getRun(runId)).info.artifact_uri;
  }
  async setTags(runId: string, tags: Record<string, string>) {
    await this.client.logBatch(runId, { tags });
  }
  async setStatus(runId: string, status: RunStatus | 'SCHEDULED', endTime?: number) {
    await this.client.updateRun(runId, status, endTime);
  }
  unseen(): undefined {
    return undefined; // the server is reached over the network; its errors are handled as they come
  }
  tracker(opts: { log(m: string): void; localStore: string; finalTimeoutMs: number }): WorkerTracker {
    return new RestTracker(this.uri, { localStore: opts.localStore, log: opts.log, finalTimeoutMs: opts.finalTimeoutMs });
  }
  checkpoints(runId: string, artifactUri: string): CheckpointTransfer {
    const client = this.client;
    let slot: 'a' | 'b' | undefined;
    const latest = async (): Promise<LatestCheckpoint | undefined> => {
      const files = await client.listArtifacts(runId, CHECKPOINT_ARTIFACTS);
      if (!files.some((f) => f.path === `${CHECKPOINT_ARTIFACTS}/latest.json`)) return undefined;
      return JSON.parse((await client.downloadArtifact(artifactUri, `${CHECKPOINT_ARTIFACTS}/latest.json`)).toString('utf8')) as LatestCheckpoint;
    };
    return {
      latest,
      // Two slots used in turn, and latest.json naming the newest written last: a worker that
      // dies mid-upload leaves the previous checkpoint whole.
      async upload(dir, step, host) {
        slot ??= (await latest())?.slot === 'a' ? 'b' : 'a';
        let bytes = 0;
        for (const f of CHECKPOINT_FILES) {
          const data = fs.readFileSync(path.join(dir, f));
          bytes += data.length;
          await client.uploadArtifact(artifactUri, `${CHECKPOINT_ARTIFACTS}/${slot}/${f}`, data);
        }
        const record: LatestCheckpoint = { slot, step, host, uploadedAt: new Date().toISOString(), bytes };
        await client.uploadArtifact(artifactUri, `${CHECKPOINT_ARTIFACTS}/latest.json`, Buffer.from(JSON.stringify(record)));
        slot = slot === 'a' ? 'b' : 'a';
        return bytes;
      },
      async download(l, dir) {
        fs.rmSync(dir, { recursive: true, force: true });
        ensureDir(dir);
        let bytes = 0;
        for (const f of CHECKPOINT_FILES) {
          const data = await client.downloadArtifact(artifactUri, `${CHECKPOINT_ARTIFACTS}/${l.slot}/${f}`);
          bytes += data.length;
          fs.writeFileSync(path.join(dir, f), data);
        }
        const { meta } = readCheckpoint(dir); // every file against its checksum
        return { step: meta.step, runId: meta.runId, bytes };
      },
    };
  }
}

/** The folder of a `file:` URI (absolute: the submitter made it so). */
function folderOf(uri: string): string {
  if (uri.startsWith('file://')) return fileURLToPath(uri);
  return path.resolve(uri.startsWith('file:') ? uri.slice('file:'.length) : uri);
}

class SharedFolderStore implements SweepStore {
  readonly description: string;
  private readonly store: FileStore;
  readonly root: string;
  constructor(readonly uri: string) {
    this.root = folderOf(uri);
    this.description = `the shared store ${this.root}`;
    this.store = new FileStore(this.root, { warn: () => {} });
  }
  private dir(runId: string): string {
    const dir = this.store.runDir(runId);
    if (!dir) throw new UserError(`Run ${runId} is not in ${this.description} (is the shared filesystem mounted at the same path on this machine?)`);
    return dir;
  }
  async experimentId(name: string) {
    this.store.init();
    return this.store.experimentId(name);
  }
  async findRuns(experimentId: string, tag: string, value: string): Promise<StoreRun[]> {
    return this.store
      .listRuns()
      .filter((r) => String(r.meta.experiment_id) === experimentId && r.tags[tag] === value)
      .map((r) => ({ runId: r.meta.run_id, artifactUri: r.meta.artifact_uri, tags: r.tags }));
  }
  async createRun(r: { experiment: string; runName: string; tags: Record<string, string>; params?: Record<string, string> }) {
    const t = new FileStoreTracker(this.root);
    const { runId } = await t.startRun({ experiment: r.experiment, runName: r.runName, runId: randomUUID().replace(/-/g, ''), tags: r.tags });
    if (r.params) await t.logParams(r.params);
    await this.setStatus(runId, 'SCHEDULED');
    return { runId, artifactUri: await this.artifactUri(runId) };
  }
  async artifactUri(runId: string) {
    return this.store.readRunMeta(this.dir(runId)).artifact_uri;
  }
  async setTags(runId: string, tags: Record<string, string>) {
    const dir = this.dir(runId);
    for (const [key, value] of Object.entries(tags)) {
      checkKey(key, 'tag');
      writeFileAtomic(path.join(dir, 'tags', key), value);
    }
  }
  async setStatus(runId: string, status: RunStatus | 'SCHEDULED', endTime?: number) {
    const dir = this.dir(runId);
    const meta = this.store.readRunMeta(dir);
    this.store.writeRunMeta(dir, { ...meta, status: RUN_STATUS[status], end_time: endTime ?? null });
  }
  unseen(runId: string, outputDir: string): string | undefined {
    if (!fs.existsSync(this.root)) return `this machine does not see the sweep's shared tracking store ${this.root}`;
    if (!this.store.runDir(runId)) return `run ${runId} is not in the shared tracking store ${this.root} as this machine sees it`;
    if (!fs.existsSync(outputDir)) return `this machine does not see the sweep's shared output folder ${outputDir}`;
    return undefined;
  }
  tracker(): WorkerTracker {
    return new SharedFolderTracker(new FileStoreTracker(this.root));
  }
  checkpoints(): undefined {
    return undefined;
  }
}

/**
 * A file-store tracker that can be cut off: after `detach` (the job's lock lost, another worker
 * owns the run now) nothing more is written to the shared store.
 */
class SharedFolderTracker implements WorkerTracker {
  private detached = false;
  private ended = false;
  constructor(private readonly inner: FileStoreTracker) {}
  startRun(opts: Parameters<Tracker['startRun']>[0]) {
    return this.inner.startRun(opts);
  }
  async logParams(p: Record<string, string>) {
    if (!this.detached) await this.inner.logParams(p);
  }
  async logMetrics(step: number, values: Record<string, number>, timestamp?: number) {
    if (!this.detached) await this.inner.logMetrics(step, values, timestamp);
  }
  loggedSteps() {
    return this.inner.loggedSteps();
  }
  async setTags(tags: Record<string, string>) {
    if (!this.detached) await this.inner.setTags(tags);
  }
  async logArtifact(localPath: string, artifactPath?: string) {
    if (!this.detached) await this.inner.logArtifact(localPath, artifactPath);
  }
  async endRun(status: RunStatus) {
    if (this.detached) return;
    await this.inner.endRun(status);
    this.ended = true;
  }
  async sync() {
    return true; // every write went straight to the shared folder
  }
  settled() {
    return this.ended;
  }
  detach() {
    this.detached = true;
  }
}
