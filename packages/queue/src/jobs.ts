/**
 * What a queued sweep puts in Redis: one BullMQ job per variant, holding the variant's frozen,
 * resolved config and the ids of its run on the tracking server (made at submission), and one
 * record per sweep (its parent run, its size, whether it was cancelled) in the hash
 * `genlab:sweeps`. Job ids are `<sweep id>-<k>`: submitting the same sweep again adds nothing
 * (BullMQ ignores a job whose id exists).
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { GENLAB_VERSION } from '@genlab/core';
import { QUEUE_NAME, type QueueUrl, redisOptions } from './connection.js';

/** The job name of a sweep variant. */
export const VARIANT_JOB = 'variant';
/** Layout of `VariantJobData`; a worker refuses other layouts. */
export const JOB_FORMAT = 1;
/** Redis hash of sweep records (field: sweep id, value: JSON `SweepRecord`). */
export const SWEEPS_KEY = 'genlab:sweeps';

/** One variant's job. */
export interface VariantJobData {
  format: number;
  /** The genlab version that made the job (workers of another version refuse it). */
  genlabVersion: string;
  sweepId: string;
  /** 0-based. */
  index: number;
  total: number;
  /** `seed=1, model.latentDim=8`. */
  label: string;
  /** The resolved single-run config, as YAML (frozen at submission). */
  config: string;
  /** Folder of the original config on the submitting machine (relative data paths resolve there when it exists). */
  configDir: string;
  trackingUri: string;
  experiment: string;
  /** The server's ids: experiment, the sweep's parent run, this variant's run and its artifact root. */
  experimentId: string;
  parentRunId: string;
  runId: string;
  runName: string;
  artifactUri: string;
  submittedAt: number;
  submittedBy: string;
}

/** What a worker reports while a job runs (`job.progress`). */
export interface VariantProgress {
  host: string;
  pid: number;
  step: number;
  totalSteps: number;
  /** Epoch ms of this report. */
  at: number;
}

/** What a finished job returns (`job.returnvalue`). */
export interface VariantResult {
  runId: string;
  status: string;
  step: number;
  host: string;
  wallSeconds: number;
}

/** A sweep, as recorded in Redis at submission. */
export interface SweepRecord {
  sweepId: string;
  total: number;
  name: string;
  config: string;
  trackingUri: string;
  experiment: string;
  experimentId: string;
  parentRunId: string;
  parentRunName: string;
  genlabVersion: string;
  submittedAt: number;
  /** Set by `exp sweep cancel`: workers stop its running variants, queued ones were removed. */
  cancelledAt?: number;
  /** Set once the parent run has been given its final status. */
  endedAt?: number;
  endStatus?: string;
  labels: string[];
  runIds: string[];
}

/** The job id of variant `index` (0-based) of a sweep. */
export function jobIdOf(sweepId: string, index: number): string {
  return `${sweepId}-${index + 1}`;
}

/**
 * Whether a worker of version `mine` can run a job made by `theirs`: the same release line
 * (major, and minor while the major is 0), since the config schema and checkpoint format move
 * with it. The reason names both versions; undefined when compatible.
 */
export function incompatibility(theirs: string, mine: string = GENLAB_VERSION): string | undefined {
  const line = (v: string) => {
    const [major = '', minor = ''] = v.split('.');
    return major === '0' ? `0.${minor}` : major;
  };
  if (line(theirs) === line(mine)) return undefined;
  return `the job was made by genlab ${theirs}, this worker is genlab ${mine} (a worker runs jobs of its own release line, ${line(mine)}.x): upgrade the workers or submit again from genlab ${mine}`;
}

/** The BullMQ queue of sweeps. */
export type SweepQueue = Queue<VariantJobData, VariantResult>;

/** The BullMQ queue of sweeps at `q`. */
export function openQueue(q: QueueUrl): SweepQueue {
  return new Queue<VariantJobData, VariantResult>(QUEUE_NAME, { connection: redisOptions(q) }) as SweepQueue;
}

/** The Redis client of a queue (for the sweep records). */
export async function clientOf(queue: SweepQueue): Promise<Redis> {
  return (await queue.getBackend().client) as unknown as Redis;
}

/**
 * Each active job's lock, as milliseconds left (Redis PTTL; -2 when the lock is gone, which
 * BullMQ's stalled-job check turns into "back in the queue"). A worker renews its job's lock
 * every half lock; a lock that only runs down belongs to nobody: its worker died, or Redis went
 * away between running a command that took the job and answering it. The key is BullMQ's own
 * (`<prefix>:<queue>:<job id>:lock`, the one its Lua scripts set): BullMQ has no public call for it.
 */
export async function activeLocks(queue: SweepQueue): Promise<Map<string, number>> {
  const client = await clientOf(queue);
  const out = new Map<string, number>();
  for (const job of await queue.getActive()) {
    if (!job?.id) continue;
    out.set(job.id, await client.pttl(`${queue.toKey(job.id)}:lock`));
  }
  return out;
}

export async function readSweepRecord(queue: SweepQueue, sweepId: string): Promise<SweepRecord | undefined> {
  const text = await (await clientOf(queue)).hget(SWEEPS_KEY, sweepId);
  return text ? (JSON.parse(text) as SweepRecord) : undefined;
}

export async function writeSweepRecord(queue: SweepQueue, record: SweepRecord): Promise<void> {
  await (await clientOf(queue)).hset(SWEEPS_KEY, record.sweepId, JSON.stringify(record));
}

/** Every sweep recorded in this Redis, newest first. */
export async function listSweepRecords(queue: SweepQueue): Promise<SweepRecord[]> {
  const all = await (await clientOf(queue)).hgetall(SWEEPS_KEY);
  return Object.values(all)
    .map((t) => JSON.parse(t) as SweepRecord)
    .sort((a, b) => b.submittedAt - a.submittedAt);
}

/** BullMQ options of a variant's job: its id, its attempts (with exponential back-off between them), kept after it ends. */
export function variantJobOptions(sweepId: string, index: number, attempts: number): { jobId: string; attempts: number; backoff: { type: 'exponential'; delay: number }; removeOnComplete: false; removeOnFail: false } {
  return { jobId: jobIdOf(sweepId, index), attempts, backoff: { type: 'exponential', delay: Number(process.env.GENLAB_QUEUE_BACKOFF_MS ?? 5000) }, removeOnComplete: false, removeOnFail: false };
}

const jobsKey = (sweepId: string) => `genlab:sweep-jobs:${sweepId}`;

/** Add variant jobs (kept also in `genlab:sweep-jobs:<id>`, so a cancelled variant can be added again); ids already in the queue are left alone. Returns how many were new. */
export async function addVariantJobs(queue: SweepQueue, jobs: { data: VariantJobData; attempts: number }[]): Promise<number> {
  const client = await clientOf(queue);
  let added = 0;
  for (const { data, attempts } of jobs) {
    await client.hset(jobsKey(data.sweepId), String(data.index), JSON.stringify({ data, attempts }));
    const opts = variantJobOptions(data.sweepId, data.index, attempts);
    if (await queue.getJob(opts.jobId)) continue;
    await queue.add(VARIANT_JOB, data, opts);
    added++;
  }
  return added;
}

/** Add variant `index` of a sweep again from its stored job (after `exp sweep cancel` removed it). */
export async function readdVariantJob(queue: SweepQueue, sweepId: string, index: number): Promise<void> {
  const text = await (await clientOf(queue)).hget(jobsKey(sweepId), String(index));
  if (!text) throw new Error(`sweep ${sweepId}: variant ${index + 1}'s job is not stored`);
  const { data, attempts } = JSON.parse(text) as { data: VariantJobData; attempts: number };
  await queue.add(VARIANT_JOB, data, variantJobOptions(sweepId, index, attempts));
}
