/**
 * The `http:`/`https:` tracker: an MLflow server, offline-first.
 *
 * Every call is written at once to a local MLflow file store (the journal: `./mlruns`
 * unless `GENLAB_LOCAL_STORE` says otherwise), which never blocks a training step for
 * long, and a background loop pushes what is new to the server every couple of seconds
 * with `syncRun` (idempotent, exactly once, order kept). While the server is unreachable the
 * points simply wait in the local store; when it is back they are pushed in order. A run
 * that ends while the server is still down finishes locally; `exp sync --to <uri>` pushes
 * it later. Client errors (bad credentials, a refused value) are reported, not retried.
 */
import path from 'node:path';
import { type RunStatus, type Tracker, type TrackerPlugin, UserError } from '@genlab/core';
import { FileStore, FileStoreTracker } from './file-store.js';
import { blockedPortProblem, clientOptionsFromEnv, MlflowClient, MlflowError } from './rest-client.js';
import { syncRun, type SyncResult } from './sync.js';

export interface RestTrackerOptions {
  /** Local store (the journal). */
  localStore: string;
  /** Push interval in ms (default 2,000). */
  intervalMs?: number;
  /** How long `endRun` keeps trying to push the end of the run (default 30,000 ms). */
  finalTimeoutMs?: number;
  log?(message: string): void;
  client?: MlflowClient;
}

export class RestTracker implements Tracker {
  readonly client: MlflowClient;
  private readonly local: FileStoreTracker;
  private readonly store: FileStore;
  private runId?: string;
  private timer?: NodeJS.Timeout;
  private syncing: Promise<SyncResult | undefined> = Promise.resolve(undefined);
  private offline = false;
  private remote?: { experimentId: string; runId: string };
  private serverRun?: string;
  private pushedAtEnd = false;
  private fatal?: Error;
  private readonly log: (m: string) => void;

  constructor(
    readonly uri: string,
    private readonly opts: RestTrackerOptions,
  ) {
    this.client = opts.client ?? new MlflowClient(uri, clientOptionsFromEnv());
    this.store = new FileStore(opts.localStore);
    this.local = new FileStoreTracker(opts.localStore);
    this.log = opts.log ?? ((m) => process.stderr.write(`${m}\n`));
  }

  private queued = 0;
  private readonly stopper = new AbortController();

  /** Push what is new now (one push at a time; errors are remembered, not thrown). */
  sync(): Promise<SyncResult | undefined> {
    this.queued++;
    this.syncing = this.syncing.then(async () => {
      this.queued--;
      if (!this.runId || this.fatal || this.stopper.signal.aborted) return undefined;
      try {
        const r = await syncRun(this.store, this.runId, this.client, { signal: this.stopper.signal });
        this.remote = { experimentId: r.experimentId, runId: r.remoteRunId };
        if (this.offline) this.log(`tracking: ${this.uri} is reachable again; the journal was pushed`);
        this.offline = false;
        return r;
      } catch (error) {
        if (this.stopper.signal.aborted) return undefined;
        if (error instanceof MlflowError && error.transient) {
          if (!this.offline) this.log(`tracking: ${this.uri} is unreachable (${error.message}); logging continues in ${this.opts.localStore} and is pushed when the server is back`);
          this.offline = true;
        } else {
          this.fatal = error as Error;
          this.log(`tracking: the server refused an update: ${(error as Error).message}; the run continues locally in ${this.opts.localStore}`);
        }
        return undefined;
      }
    });
    return this.syncing;
  }

  /** The run's ids on the server, once a push has reached it (they are not the local ones). */
  remoteRun(): { experimentId: string; runId: string } | undefined {
    return this.remote;
  }

  /**
   * `runId`: the run exists on the server already (a queued sweep variant, created when the
   * sweep was submitted, tagged `genlab.local_run_id` with its own id); the journal mirrors it
   * under the same id, so any machine logs into the same server run.
   */
  async startRun(opts: { experiment: string; runName: string; resumeRunId?: string; runId?: string; tags?: Record<string, string> }) {
    // Refused before a local run exists: no request to this URI can ever succeed.
    const blocked = blockedPortProblem(this.uri);
    if (blocked) throw new UserError(`Tracking server ${blocked}`);
    const local = await this.local.startRun(opts);
    this.runId = local.runId;
    this.serverRun = opts.runId;
    // The first push is awaited, so a wrong URL or bad credentials show up before training.
    await this.sync();
    if (this.fatal) throw new UserError(`Tracking server ${this.uri}: ${this.fatal.message}`);
    // A tick while a push is still running or waiting is skipped: pushes never pile up.
    this.timer = setInterval(() => {
      if (this.queued === 0) void this.sync();
    }, this.opts.intervalMs ?? 2000);
    this.timer.unref();
    return local;
  }

  async logParams(params: Record<string, string>) {
    await this.local.logParams(params);
  }

  async logMetrics(step: number, values: Record<string, number>, timestamp?: number) {
    await this.local.logMetrics(step, values, timestamp);
  }

  /**
   * What the journal holds: every point logged reaches it first (and the server from it). A
   * run that lives on the server (`startRun({ runId })`) may have been logged to by another
   * machine: what the server holds counts too, key by key.
   */
  async loggedSteps(): Promise<Record<string, number>> {
    const local = await this.local.loggedSteps();
    if (!this.serverRun) return local;
    const remote = await this.client.getRun(this.serverRun);
    const out = { ...local };
    for (const m of remote.data.metrics ?? []) {
      const steps = (await this.client.metricHistory(this.serverRun, m.key)).map((p) => p.step);
      out[m.key] = Math.max(out[m.key] ?? -Infinity, ...steps);
    }
    return out;
  }

  /** Whether everything the journal holds, the final status included, has reached the server. */
  settled(): boolean {
    return this.pushedAtEnd;
  }

  async setTags(tags: Record<string, string>) {
    await this.local.setTags(tags);
  }

  async logArtifact(localPath: string, artifactPath?: string) {
    await this.local.logArtifact(localPath, artifactPath);
  }

  async flush() {
    await this.sync();
  }

  /**
   * Stop pushing to the server for good; what is logged from now on stays in the journal. For
   * a run whose right to write was taken away (a queue worker that lost its job's lock: another
   * worker owns the run now and writes to it).
   */
  detach(): void {
    this.stopper.abort();
    if (this.timer) clearInterval(this.timer);
  }

  async endRun(status: RunStatus) {
    await this.local.endRun(status);
    if (this.timer) clearInterval(this.timer);
    if (this.stopper.signal.aborted) return;
    const deadline = Date.now() + (this.opts.finalTimeoutMs ?? 30_000);
    for (;;) {
      // The deadline holds even when a request hangs instead of failing.
      const left = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([this.sync(), new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), left)))]);
      clearTimeout(timer);
      if (r) this.pushedAtEnd = true;
      if (r || this.fatal) break;
      if (Date.now() >= deadline) {
        this.stopper.abort();
        this.log(`tracking: ${this.uri} is still unreachable; run ${this.runId} finished locally in ${this.opts.localStore}. Push it later with: pnpm exp sync ${this.opts.localStore} --to ${this.uri}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** The tracker plugin for `http://` and `https://` URIs. */
export const restTracker: TrackerPlugin = {
  name: 'mlflow-rest',
  description: 'an MLflow tracking server over REST (offline-first: journaled in ./mlruns, pushed in the background)',
  schemes: ['http', 'https'],
  checkUri: blockedPortProblem,
  create: (uri, ctx) =>
    new RestTracker(uri, {
      localStore: path.resolve(ctx.baseDir, process.env.GENLAB_LOCAL_STORE ?? 'mlruns'),
      // How long the end of a run waits for an unreachable server (seconds).
      ...finalWaitFromEnv(),
    }),
};

/** `GENLAB_TRACKING_FINAL_WAIT` (seconds): how long the end of a run waits for an unreachable server. */
export function finalWaitFromEnv(env: NodeJS.ProcessEnv = process.env): { finalTimeoutMs?: number } {
  return env.GENLAB_TRACKING_FINAL_WAIT ? { finalTimeoutMs: 1000 * Number(env.GENLAB_TRACKING_FINAL_WAIT) } : {};
}
