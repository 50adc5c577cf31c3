/**
 * `exp sweep cancel` and `exp sweep retry`, on BullMQ's own operations: queued variants are
 * removed (`job.remove`), running ones are stopped by their workers (which watch the sweep's
 * record for `cancelledAt` and cancel the job through BullMQ's abort signal: the run finishes
 * its step, checkpoints and ends KILLED), and ended ones are put back with `job.retry`.
 */
import { UserError } from '@genlab/core';
import { jobIdOf, readdVariantJob, readSweepRecord, writeSweepRecord, type SweepQueue } from './jobs.js';

/** Cancel a sweep; what happened to its variants. */
export async function cancelSweep(queue: SweepQueue, sweepId: string): Promise<{ removed: number; stopping: number; ended: number }> {
  const record = await readSweepRecord(queue, sweepId);
  if (!record) throw new UserError(`No sweep ${sweepId} in this queue`);
  await writeSweepRecord(queue, { ...record, cancelledAt: Date.now() });
  const out = { removed: 0, stopping: 0, ended: 0 };
  for (let i = 0; i < record.total; i++) {
    const job = await queue.getJob(jobIdOf(sweepId, i));
    if (!job) continue;
    const state = await job.getState();
    if (state === 'active') out.stopping++;
    else if (state === 'completed' || state === 'failed') out.ended++;
    else {
      await job.remove();
      out.removed++;
    }
  }
  return out;
}

/**
 * Put a sweep's ended variants back in the queue: the failed ones (`failedOnly`), or every one
 * that did not finish (failed, cancelled, removed). A retried variant resumes from its last
 * checkpoint into the same run, with its attempts counted afresh.
 */
export async function retrySweep(queue: SweepQueue, sweepId: string, opts: { failedOnly: boolean }): Promise<{ retried: number[]; skipped: number[] }> {
  const record = await readSweepRecord(queue, sweepId);
  if (!record) throw new UserError(`No sweep ${sweepId} in this queue`);
  const { cancelledAt: _c, endedAt: _e, endStatus: _s, ...rest } = record;
  await writeSweepRecord(queue, rest);
  const retried: number[] = [];
  const skipped: number[] = [];
  for (let i = 0; i < record.total; i++) {
    const job = await queue.getJob(jobIdOf(sweepId, i));
    const state = job ? await job.getState() : 'missing';
    const cancelled = state === 'missing' || (state === 'failed' && job!.failedReason?.startsWith('cancelled'));
    if (state === 'failed' && (!opts.failedOnly || !cancelled)) {
      await job!.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      retried.push(i);
    } else if (state === 'missing' && !opts.failedOnly) {
      await readdVariantJob(queue, sweepId, i);
      retried.push(i);
    } else skipped.push(i);
  }
  return { retried, skipped };
}
