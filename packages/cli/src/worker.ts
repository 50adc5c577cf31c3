/**
 * `exp worker --queue redis://…`: take sweep variants from the queue and run each as a normal
 * run (the same trainer, callbacks and tracker), into the run made for it in the sweep's store
 * (an MLflow server, or a file store on a shared filesystem: see sweep-store.ts).
 *
 * - BullMQ keeps the job's lock alive while it trains; a worker that dies (kill -9, a lost
 *   machine) stops renewing it, BullMQ's stalled-job check puts the job back, and the next
 *   worker resumes it from the last checkpoint it finds on the server.
 * - On a server store every checkpoint is uploaded to the run's artifacts (`genlab/checkpoint/{a,b}/`,
 *   two slots used in turn, and `genlab/checkpoint/latest.json` naming the newest, written
 *   last: a worker that dies mid-upload leaves the previous checkpoint whole). On a shared
 *   folder the checkpoint is already where the next worker looks: the run's folder under the
 *   shared `output.dir`.
 * - SIGTERM/SIGINT: the running variant finishes its step, checkpoints, uploads, its run ends
 *   KILLED, and the job goes back to the queue (`job.moveToWait`) for another worker; exit 143/130.
 * - A job is completed only when its final state is on the server (the journal pushed, the
 *   final checkpoint uploaded); otherwise it is put back to be finished later, never lost.
 * - A failed attempt is retried by BullMQ (the job's attempts, with back-off); after the last
 *   one the job and its run are FAILED with the reason.
 * - `--concurrency N` runs N worker processes (one variant each), sharing the cores as
 *   `--parallel` does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import {
  ensureDir,
  formatDuration,
  loadConfig,
  readCheckpoint,
  readRunRecord,
  runExperiment,
  UserError,
  writeFileAtomic,
  writeRunRecord,
  GENLAB_VERSION,
  TAGS,
  type Callback,
  type RunRecord,
} from '@genlab/core';
import { finalWaitFromEnv, MlflowError } from '@genlab/tracking';
import {
  activeLocks,
  checkReachable,
  incompatibility,
  JOB_FORMAT,
  openQueue,
  parseQueueUrl,
  QUEUE_NAME,
  readSweepRecord,
  redisOptions,
  sweepStatus,
  writeSweepRecord,
  type QueueUrl,
  type SweepQueue,
  type VariantJobData,
  type VariantProgress,
  type VariantResult,
} from '@genlab/queue';
import { chooseBackend } from './backend.js';
import { builtinRegistry } from './registry.js';
import { launchReplicas } from './replicas.js';
import { onSignals, signalExitCode } from './signals.js';
import { threadEnv } from './sweep.js';
import { openSweepStore, type CheckpointTransfer, type SweepStore, type WorkerTracker } from './sweep-store.js';

const cliEntry = fileURLToPath(new URL('./bin.js', import.meta.url));

/** Options of `exp worker`. */
export interface WorkerArgs {
  queue: string;
  /** Worker processes (default 1). */
  concurrency: number;
  /** Stop after this many jobs (each ended: completed, failed or handed back). */
  maxJobs?: number;
  /** Stop after this many seconds without a job. */
  idleExit?: number;
  /** The name this worker reports (default `<host>:<pid>`). */
  name?: string;
}

const ms = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

/** `exp worker`. */
export async function workerCommand(args: WorkerArgs): Promise<number> {
  const q = parseQueueUrl(args.queue);
  if (!Number.isInteger(args.concurrency) || args.concurrency < 1) throw new UserError(`--concurrency must be a whole number ≥ 1, got ${args.concurrency}`);
  if (args.maxJobs !== undefined && (!Number.isInteger(args.maxJobs) || args.maxJobs < 1)) throw new UserError(`--max-jobs must be a whole number ≥ 1, got ${args.maxJobs}`);
  if (args.idleExit !== undefined && !(args.idleExit > 0)) throw new UserError(`--idle-exit must be a number of seconds > 0, got ${args.idleExit}`);
  await checkReachable(q);
  if (args.concurrency > 1) return runProcesses(args);
  return new QueueWorker(q, args).run();
}

/** `--concurrency N`: N worker processes, each with its share of the CPU threads; signals are passed on. */
async function runProcesses(args: WorkerArgs): Promise<number> {
  const { env } = threadEnv(args.concurrency);
  const children: ChildProcess[] = [];
  const codes: number[] = [];
  const off = onSignals(
    (sig) => {
      for (const c of children) c.kill(sig);
    },
    (sig) => {
      for (const c of children) c.kill(sig);
    },
  );
  try {
    await Promise.all(
      Array.from({ length: args.concurrency }, (_, i) => {
        const argv = [cliEntry, 'worker', '--queue', args.queue, '--concurrency', '1', ...(args.maxJobs ? ['--max-jobs', String(args.maxJobs)] : []), ...(args.idleExit ? ['--idle-exit', String(args.idleExit)] : []), '--name', `${args.name ?? `${os.hostname()}:${process.pid}`}/${i + 1}`];
        const child = spawn(process.execPath, [...process.execArgv, ...argv], { env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
        children.push(child);
        return new Promise<void>((resolve) => child.on('close', (code, signal) => (codes.push(code ?? (signal === 'SIGTERM' ? 143 : 1)), resolve())));
      }),
    );
  } finally {
    off();
  }
  return Math.max(0, ...codes);
}

/** A job this machine cannot run: it does not see the sweep's shared folders. */
class NotSeenHere extends Error {}

class QueueWorker {
  private readonly name: string;
  private readonly log: (m: string) => void;
  private worker?: Worker<VariantJobData, VariantResult>;
  private queue?: SweepQueue;
  private stopping?: NodeJS.Signals;
  private jobsDone = 0;
  private idleTimer?: NodeJS.Timeout;
  private readonly cancelled = new Set<string>();
  /** Why this worker stopped taking jobs: it does not see a sweep's shared folders. */
  private misplaced?: string;

  constructor(
    private readonly q: QueueUrl,
    private readonly args: WorkerArgs,
  ) {
    this.name = args.name ?? `${os.hostname()}:${process.pid}`;
    this.log = (m) => process.stderr.write(`[worker ${this.name}] ${m}\n`);
  }

  async run(): Promise<number> {
    const lockDuration = ms('GENLAB_QUEUE_LOCK_MS', 30_000);
    this.queue = openQueue(this.q);
    const worker = new Worker<VariantJobData, VariantResult>(QUEUE_NAME, (job, token, signal) => this.process(job, token, signal), {
      connection: redisOptions(this.q),
      concurrency: 1,
      autorun: false,
      lockDuration,
      stalledInterval: ms('GENLAB_QUEUE_STALLED_MS', lockDuration),
      // A job whose worker died is put back this many times before it counts as failed.
      maxStalledCount: ms('GENLAB_QUEUE_MAX_STALLED', 5),
      drainDelay: 1,
    });
    this.worker = worker;
    worker.on('error', (e) => this.log(`queue: ${e.message} (reconnecting)`));
    worker.on('stalled', (jobId) => this.log(`job ${jobId} stalled (its worker stopped renewing the lock): back in the queue`));
    // A lock this worker could not renew (Redis away longer than the lock lasts): the job may be
    // another worker's now. This one stops at once and writes nothing more to the server.
    worker.on('lockRenewalFailed', (ids) => {
      for (const id of ids) {
        if (!this.active.has(id) || this.lost.has(id)) continue;
        this.lost.add(id);
        this.log(`${id}: lost the job's lock; stopping it without writing to the server (another worker resumes it from its last uploaded checkpoint)`);
        this.trackers.get(id)?.detach();
        worker.cancelJob(id, 'lock lost');
      }
    });
    const done = new Promise<void>((resolve) => worker.on('closed', () => resolve()));
    const stop = (why: string) => {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.log(why);
      void worker.close();
    };
    const stalledMs = ms('GENLAB_QUEUE_STALLED_MS', lockDuration);
    // Each arming (and each job taken) starts a new idle round; a check still under way for an older one leaves it.
    let idleRound = 0;
    let lookFailures = 0;
    const armIdle = (delayMs = (this.args.idleExit ?? 0) * 1000) => {
      if (!this.args.idleExit) return;
      if (this.idleTimer) clearTimeout(this.idleTimer);
      const round = ++idleRound;
      this.idleTimer = setTimeout(() => void idleUp(round), delayMs);
    };
    const idleUp = async (round: number) => {
      // Not while a job is locked by nobody: it comes back to the queue when its lock runs out, and an idle worker is who takes it then.
      let stay: number;
      try {
        stay = await this.orphanWait(lockDuration, stalledMs);
        lookFailures = 0;
      } catch (error) {
        // Redis away right now (BullMQ reconnects meanwhile): look again after a lock; stop as before only once it stays away.
        stay = ++lookFailures < 3 ? lockDuration : 0;
        if (round === idleRound && !this.active.size) this.log(`no job for ${this.args.idleExit} s (--idle-exit), and the active jobs' locks could not be read (${(error as Error).message}): ${stay ? `looking again in ${Math.ceil(stay / 1000)} s` : 'stopping'}`);
      }
      if (round !== idleRound || this.active.size) return;
      if (stay > 0) armIdle(stay);
      else stop(`no job for ${this.args.idleExit} s (--idle-exit): stopping`);
    };
    worker.on('active', () => {
      idleRound++;
      if (this.idleTimer) clearTimeout(this.idleTimer);
    });
    const ended = (job?: Job<VariantJobData, VariantResult>) => {
      this.jobsDone++;
      if (job) this.pending.add(this.endSweepIfDone(job.data));
      if (this.args.maxJobs && this.jobsDone >= this.args.maxJobs) stop(`${this.jobsDone} job(s) done (--max-jobs): stopping`);
      else armIdle();
    };
    worker.on('completed', (job) => ended(job));
    worker.on('failed', (job) => ended(job));
    // A job handed back (stopped, its lock lost, its final state not on the server yet) ends here too: BullMQ reports no event for it.
    this.handedBack = () => ended();
    const off = onSignals(
      (sig) => {
        this.stopping = sig;
        this.log(`${sig}: the running variant finishes its step, checkpoints, uploads it and goes back to the queue; then this worker exits (again to exit at once)`);
        worker.cancelAllJobs(`interrupted (${sig})`);
        void worker.close();
      },
      (sig) => {
        this.log(`${sig} again: exiting now (the job goes back to the queue when its lock expires)`);
        process.exit(signalExitCode(sig));
      },
    );
    // Cancelled sweeps: their running variants are stopped (checked every few seconds).
    const watch = setInterval(() => void this.watchCancels(), ms('GENLAB_QUEUE_CANCEL_CHECK_MS', 3000));
    watch.unref();
    this.log(`genlab ${GENLAB_VERSION}, queue ${this.q.display} (${QUEUE_NAME}); waiting for jobs`);
    armIdle();
    void worker.run().catch((e: Error) => this.log(`queue: ${e.message}`));
    try {
      await done;
    } finally {
      clearInterval(watch);
      off();
      await Promise.all(this.pending);
      await this.queue.close();
    }
    this.log(`stopped after ${this.jobsDone} job(s)`);
    if (this.misplaced) throw new UserError(`worker ${this.name}: ${this.misplaced}; mount the shared filesystem at the path the sweep names, or run this worker on a machine that has it`);
    return this.stopping ? signalExitCode(this.stopping) : 0;
  }

  private active = new Map<string, string>();
  private readonly lost = new Set<string>();
  private readonly trackers = new Map<string, WorkerTracker>();
  private readonly pending = new Set<Promise<void>>();

  private async watchCancels(): Promise<void> {
    for (const [jobId, sweepId] of this.active) {
      if (this.cancelled.has(jobId)) continue;
      const record = await readSweepRecord(this.queue!, sweepId).catch(() => undefined);
      if (record?.cancelledAt) {
        this.cancelled.add(jobId);
        this.log(`sweep ${sweepId} was cancelled: stopping job ${jobId}`);
        this.worker!.cancelJob(jobId, 'cancelled (exp sweep cancel)');
      }
    }
  }

  private handedBack?: () => void;

  /**
   * How long an idle worker stays for jobs whose lock nobody renews (0: none, it may leave). Such
   * a job's worker died, or Redis went away between running the command that gave the job to a
   * worker and answering it (the worker never learns it has the job): BullMQ's stalled-job check
   * puts it back in the queue once the lock runs out, and a worker that left before then leaves
   * it to nobody. Two looks at the active jobs' locks, half a lock apart: a live worker renews
   * its lock every half lock (the lock goes back up), a lock of nobody only runs down.
   */
  private async orphanWait(lockMs: number, stalledMs: number): Promise<number> {
    const others = (ids: Map<string, number>) => new Map([...ids].filter(([id]) => !this.active.has(id)));
    const first = others(await activeLocks(this.queue!));
    if (first.size === 0) return 0;
    const slept = Math.ceil(lockMs / 2) + 250;
    await new Promise((r) => setTimeout(r, slept));
    const second = others(await activeLocks(this.queue!));
    const orphans: string[] = [];
    let stay = 0;
    for (const [id, left] of second) {
      const before = first.get(id);
      // Not there at the first look: taken since, by a live worker. Renewed: more left than the first look minus the time between.
      if (before === undefined || (left >= 0 && left > before - slept)) continue;
      orphans.push(id);
      stay = Math.max(stay, Math.max(left, 0) + stalledMs + 500);
    }
    if (orphans.length) {
      this.log(`no job for ${this.args.idleExit} s (--idle-exit), but ${orphans.join(', ')} ${orphans.length > 1 ? 'are' : 'is'} active with a lock nobody renews (its worker is gone, or Redis went away before answering the worker that took it): staying ${Math.ceil(stay / 1000)} s more, until the stalled-job check puts it back in the queue`);
    }
    return stay;
  }

  /** One attempt at one variant; a job put back in the queue counts as ended for `--max-jobs` and `--idle-exit`. */
  private async process(job: Job<VariantJobData, VariantResult>, token: string | undefined, signal: AbortSignal | undefined): Promise<VariantResult> {
    try {
      return await this.attempt(job, token, signal);
    } catch (error) {
      if (error instanceof WaitingError || error instanceof DelayedError) this.handedBack?.();
      throw error;
    }
  }

  private async attempt(job: Job<VariantJobData, VariantResult>, token: string | undefined, signal: AbortSignal | undefined): Promise<VariantResult> {
    const d = job.data;
    const log = (m: string) => this.log(`${job.id}: ${m}`);
    const started = Date.now();
    log(`variant ${d.index + 1}/${d.total} of sweep ${d.sweepId} (${d.label}), attempt ${job.attemptsMade + 1}/${job.opts.attempts ?? 1}; queued ${((started - job.timestamp) / 1000).toFixed(1)} s ago`);
    const store = openSweepStore(d.trackingUri);
    const lastAttempt = () => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const failRun = async (reason: string) => {
      // A failure before the run could record its own end: the server run says why.
      await store.setTags(d.runId, { [TAGS.stopReason]: reason, 'genlab.queue.attempts': String(job.attemptsMade + 1) }).catch(() => {});
      await store.setStatus(d.runId, 'FAILED', Date.now()).catch(() => {});
    };
    if (d.format !== JOB_FORMAT) {
      const reason = `job layout ${d.format} is not the one this worker reads (${JOB_FORMAT}); genlab ${d.genlabVersion} made it, this worker is genlab ${GENLAB_VERSION}`;
      await failRun(reason);
      throw new UnrecoverableError(reason);
    }
    const incompatible = incompatibility(d.genlabVersion);
    if (incompatible) {
      log(`refused: ${incompatible}`);
      await failRun(`refused by worker ${this.name}: ${incompatible}`);
      throw new UnrecoverableError(incompatible);
    }
    const sweep = await readSweepRecord(this.queue!, d.sweepId);
    if (sweep?.cancelledAt) throw new UnrecoverableError('cancelled (exp sweep cancel) before it started');

    this.active.set(job.id!, d.sweepId);
    try {
      const result = await this.train(job, store, signal, log);
      if (this.lost.has(job.id!)) {
        log(`stopped at step ${result.step} after losing the lock; the job is left to its new owner`);
        throw new WaitingError();
      }
      if (result.status === 'KILLED' && (this.stopping || (signal?.aborted && !this.cancelled.has(job.id!)))) {
        // Handed back: another worker resumes it from the checkpoint just uploaded.
        await job.moveToWait(token);
        log(`handed back to the queue at step ${result.step}`);
        throw new WaitingError();
      }
      if (result.status === 'KILLED' && this.cancelled.has(job.id!)) throw new UnrecoverableError(`cancelled (exp sweep cancel) at step ${result.step}`);
      if (result.status === 'NOT_SETTLED') {
        // The final state is not on the server yet: not done. Later (here or elsewhere) it is finished from the journal or the last checkpoint.
        const delay = ms('GENLAB_QUEUE_UNSETTLED_RETRY_MS', 30_000);
        log(`${store.description} does not have the run's final state yet: the job is put back for ${delay / 1000} s`);
        await job.moveToDelayed(Date.now() + delay, token);
        throw new DelayedError();
      }
      if (result.status !== 'FINISHED') {
        const reason = result.reason ?? `the run ended ${result.status}`;
        if (lastAttempt()) await store.setTags(d.runId, { 'genlab.queue.attempts': String(job.attemptsMade + 1) }).catch(() => {});
        throw new Error(reason);
      }
      log(`FINISHED at step ${result.step} in ${formatDuration(result.wallSeconds)}`);
      return { runId: d.runId, status: 'FINISHED', step: result.step, host: this.name, wallSeconds: result.wallSeconds };
    } catch (error) {
      if (error instanceof WaitingError || error instanceof DelayedError) throw error;
      if (error instanceof NotSeenHere) {
        // This machine's setup, not the variant's fault: the job goes back for a worker that sees the folders, and this one stops.
        await job.moveToWait(token);
        this.misplaced = error.message;
        log(`${error.message} (is the shared filesystem mounted at the same path here?): the job goes back to the queue, and this worker stops`);
        void this.worker!.close();
        throw new WaitingError();
      }
      if (this.lost.has(job.id!)) throw new WaitingError(); // not this worker's job any more: leave its state alone
      const reason = (error as Error)?.message ?? String(error);
      if (error instanceof UserError || error instanceof UnrecoverableError || lastAttempt()) {
        if (!(error instanceof UnrecoverableError) || !reason.startsWith('cancelled')) await failRun(reason);
        else await store.setStatus(d.runId, 'KILLED', Date.now()).catch(() => {});
        log(`${reason.startsWith('cancelled') ? 'cancelled' : 'FAILED'}: ${reason}`);
        if (error instanceof UserError) throw new UnrecoverableError(reason);
      } else log(`attempt ${job.attemptsMade + 1} failed: ${reason}; BullMQ retries it`);
      throw error;
    } finally {
      this.active.delete(job.id!);
      this.lost.delete(job.id!);
      this.trackers.delete(job.id!);
    }
  }

  /** Train the variant (resuming from the newest checkpoint, the server's or this machine's). */
  private async train(job: Job<VariantJobData, VariantResult>, store: SweepStore, signal: AbortSignal | undefined, log: (m: string) => void): Promise<{ status: string; step: number; wallSeconds: number; reason?: string }> {
    const d = job.data;
    const registry = builtinRegistry();
    const jobsDir = path.resolve('outputs', 'queue');
    ensureDir(jobsDir);
    const configFile = path.join(jobsDir, `${job.id}.yaml`);
    writeFileAtomic(configFile, d.config);
    const baseDir = fs.existsSync(d.configDir) ? d.configDir : process.cwd();
    const loaded = await loadConfig(configFile, registry);
    const config = loaded.config;
    const runDir = path.join(path.resolve(config.output.dir), d.runId);
    const unseen = store.unseen(d.runId, path.resolve(config.output.dir));
    if (unseen) throw new NotSeenHere(unseen);
    const transfer = store.checkpoints(d.runId, d.artifactUri);
    const resumeDir = await this.prepareCheckpoint(d, transfer, runDir, baseDir, log);

    const backend = await chooseBackend(config.backend, { devices: config.train.devices });
    const tracker = store.tracker({
      localStore: path.resolve(process.env.GENLAB_LOCAL_STORE ?? 'mlruns'),
      log,
      // A worker waits longer than a lone run for the server at the end: the job is not done before.
      finalTimeoutMs: finalWaitFromEnv().finalTimeoutMs ?? 120_000,
    });
    this.trackers.set(job.id!, tracker);
    const lost = () => this.lost.has(job.id!);
    let lastProgress = 0;
    let progressInFlight = false;
    let totalSteps: number = config.train.steps ?? 0;
    let uploadPending: { dir: string; step: number } | undefined;
    const upload = async (dir: string, step: number): Promise<boolean> => {
      if (lost() || !transfer) return true; // the run is another worker's now; or the checkpoint is in the shared folder already
      const t0 = performance.now();
      try {
        const bytes = await transfer.upload(dir, step, this.name);
        log(`checkpoint at step ${step} uploaded (${(bytes / 1024).toFixed(0)} KiB in ${((performance.now() - t0) / 1000).toFixed(2)} s)`);
        uploadPending = undefined;
        return true;
      } catch (error) {
        if (!(error instanceof MlflowError) || !error.transient) throw error;
        log(`could not upload the checkpoint at step ${step} (${error.message}); it is uploaded with the next one, or before the job ends`);
        uploadPending = { dir, step };
        return false;
      }
    };
    const reporter: Callback = {
      name: 'queue',
      onRunStart: async (run) => {
        totalSteps = run.totalSteps;
        await job.updateProgress({ host: this.name, pid: process.pid, step: run.startStep, totalSteps, at: Date.now() } satisfies VariantProgress);
      },
      onStepEnd: async (_run, end) => {
        // A step ends in microtasks only; without a turn of the event loop, BullMQ's lock renewal
        // (a timer) would wait for the whole run, the lock would expire and the job be taken twice.
        await new Promise((r) => setImmediate(r));
        if (Date.now() - lastProgress < 1000 || lost() || progressInFlight) return;
        lastProgress = Date.now();
        // Not awaited: with Redis away the command waits for it to come back, and training must not.
        progressInFlight = true;
        void job
          .updateProgress({ host: this.name, pid: process.pid, step: end.step, totalSteps, at: lastProgress } satisfies VariantProgress)
          .catch(() => {})
          .finally(() => (progressInFlight = false));
      },
      onCheckpoint: async (_run, c) => {
        if (c.tag !== 'last') return; // only the checkpoint a resume starts from
        // The points up to the checkpoint go first: a checkpoint on the server is never ahead
        // of the server's metrics, so a resume elsewhere (which logs only what the server lacks)
        // leaves no gap where this machine's unpushed points would have been.
        if (lost() || !transfer) return;
        if (!(await tracker.sync())) {
          log(`the tracking server did not take the run's points up to step ${c.step}; the checkpoint is uploaded with the next one, or before the job ends`);
          uploadPending = { dir: c.dir, step: c.step };
          return;
        }
        await upload(c.dir, c.step);
      },
    };
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort);
    try {
      const result = await runExperiment({
      replicas: launchReplicas,
        config,
        registry,
        backend,
        baseDir,
        ...(resumeDir ? { resumeDir } : {}),
        runId: d.runId,
        tracker,
        callbacks: [reporter],
        signal: controller.signal,
        log,
        tags: { 'genlab.queue.worker': this.name, 'genlab.queue.attempt': String(job.attemptsMade + 1) },
        source: loaded,
      });
      // The final checkpoint must be on the server before the job may end (any machine resumes from it).
      const deadline = Date.now() + (finalWaitFromEnv().finalTimeoutMs ?? 120_000);
      while (uploadPending && Date.now() < deadline) {
        if (!(await tracker.sync()) || !(await upload(uploadPending.dir, uploadPending.step))) await new Promise((r) => setTimeout(r, 2000));
      }
      if (result.status === 'FINISHED' && (uploadPending || !tracker.settled())) return { status: 'NOT_SETTLED', step: result.step, wallSeconds: result.wallSeconds };
      return { status: result.status, step: result.step, wallSeconds: result.wallSeconds, ...(result.reason ? { reason: result.reason } : {}) };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The run folder to resume from, or undefined for a fresh start: the server's checkpoint is
   * downloaded (checked whole) when it is newer than one this machine has. In a shared folder
   * the run's own folder holds the newest checkpoint, whichever worker wrote it.
   */
  private async prepareCheckpoint(d: VariantJobData, transfer: CheckpointTransfer | undefined, runDir: string, baseDir: string, log: (m: string) => void): Promise<string | undefined> {
    const last = path.join(runDir, 'checkpoints', 'last');
    let localStep = -1;
    try {
      localStep = readCheckpoint(last).meta.step;
    } catch {
      localStep = -1;
    }
    const remote = await transfer?.latest();
    if (transfer && remote && remote.step > localStep) {
      const t0 = performance.now();
      const tmp = path.join(runDir, 'checkpoints', `download.${process.pid}`);
      const got = await transfer.download(remote, tmp);
      if (got.runId !== d.runId) throw new UserError(`the checkpoint on the server for run ${d.runId} belongs to run ${got.runId}`);
      fs.rmSync(last, { recursive: true, force: true });
      fs.renameSync(tmp, last);
      log(`downloaded the checkpoint at step ${got.step} (uploaded by ${remote.host}; ${(got.bytes / 1024).toFixed(0)} KiB in ${((performance.now() - t0) / 1000).toFixed(2)} s)`);
      localStep = got.step;
    } else if (localStep >= 0) log(`resuming from ${transfer ? "this machine's checkpoint" : 'the checkpoint in the shared run folder'} at step ${localStep}${remote ? ` (the server's is at step ${remote.step})` : ''}`);
    if (localStep < 0) return undefined;
    let record: RunRecord | undefined;
    try {
      record = readRunRecord(runDir);
    } catch {
      record = undefined;
    }
    if (!record) {
      writeRunRecord(runDir, {
        runId: d.runId,
        runName: d.runName,
        experiment: d.experiment,
        experimentId: d.experimentId,
        trackingUri: d.trackingUri,
        trackingBaseDir: process.cwd(),
        createdAt: new Date(d.submittedAt).toISOString(),
        status: 'KILLED',
        step: localStep,
        backend: 'auto',
        configDir: baseDir,
        checkpointStep: localStep,
      });
    }
    return runDir;
  }

  /** After a variant ended (completed, or failed for good): when every variant of its sweep has, the parent run gets the sweep's status. */
  private async endSweepIfDone(d: VariantJobData): Promise<void> {
    try {
      const s = await sweepStatus(this.queue!, d.sweepId);
      if (!s || !s.done || s.record.endedAt) return;
      const status = s.record.cancelledAt ? 'KILLED' : s.counts.finished === s.record.total ? 'FINISHED' : 'FAILED';
      const store = openSweepStore(d.trackingUri);
      await store.setTags(s.record.parentRunId, { 'genlab.sweep.finished': String(s.counts.finished), 'genlab.sweep.failed': String(s.counts.failed) });
      await store.setStatus(s.record.parentRunId, status, Date.now());
      await writeSweepRecord(this.queue!, { ...s.record, endedAt: Date.now(), endStatus: status });
      this.log(`sweep ${d.sweepId} has ended: parent run ${s.record.parentRunId} ${status}`);
    } catch (error) {
      this.log(`could not check whether sweep ${d.sweepId} has ended: ${(error as Error).message}`);
    }
  }
}

