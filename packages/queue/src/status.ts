/**
 * A sweep's state as the queue knows it, per variant: queued, running (on which host, at which
 * step), finished, failed (with the reason) or cancelled, and the attempts made. Read from
 * BullMQ's own job records (state, attempts, failure reason, progress, return value); `exp
 * sweep status`, `exp run --queue --wait` and the dashboard all show this.
 */
import { jobIdOf, readSweepRecord, type SweepRecord, type SweepQueue, type VariantProgress, type VariantResult } from './jobs.js';

/** A variant's state in words (the README's table of job states). */
export type VariantState = 'queued' | 'retrying' | 'running' | 'finished' | 'failed' | 'cancelled';

export interface VariantStatus {
  index: number;
  label: string;
  jobId: string;
  runId: string;
  state: VariantState;
  /** BullMQ's own state name (waiting, delayed, active, completed, failed, or missing). */
  queueState: string;
  attempts: number;
  maxAttempts: number;
  host?: string;
  step?: number;
  totalSteps?: number;
  reason?: string;
  /** Epoch ms. */
  startedAt?: number;
  finishedAt?: number;
}

export interface SweepStatus {
  record: SweepRecord;
  variants: VariantStatus[];
  counts: Record<VariantState, number>;
  /** Every variant has ended (finished, failed or cancelled). */
  done: boolean;
}

/** The state of every variant of `sweepId`; undefined when this Redis has no such sweep. */
export async function sweepStatus(queue: SweepQueue, sweepId: string): Promise<SweepStatus | undefined> {
  const record = await readSweepRecord(queue, sweepId);
  if (!record) return undefined;
  const variants: VariantStatus[] = [];
  for (let index = 0; index < record.total; index++) {
    const jobId = jobIdOf(sweepId, index);
    const job = await queue.getJob(jobId);
    const base = { index, label: record.labels[index] ?? '', jobId, runId: record.runIds[index] ?? '' };
    if (!job) {
      variants.push({ ...base, state: 'cancelled', queueState: 'missing', attempts: 0, maxAttempts: 0, ...(record.cancelledAt ? { reason: 'cancelled before it started' } : { reason: 'not in the queue (removed)' }) });
      continue;
    }
    const queueState = await job.getState();
    const progress = typeof job.progress === 'object' && job.progress !== null ? (job.progress as unknown as Partial<VariantProgress>) : {};
    let state: VariantState;
    if (queueState === 'completed') state = 'finished';
    else if (queueState === 'failed') state = job.failedReason?.startsWith('cancelled') ? 'cancelled' : 'failed';
    else if (queueState === 'active') state = 'running';
    else if (job.attemptsMade > 0 || queueState === 'delayed') state = 'retrying';
    else state = 'queued';
    const result = job.returnvalue as VariantResult | null;
    variants.push({
      ...base,
      state,
      queueState,
      attempts: job.attemptsStarted ?? job.attemptsMade,
      maxAttempts: job.opts.attempts ?? 1,
      ...(state === 'running' && progress.host ? { host: progress.host } : result?.host ? { host: result.host } : {}),
      ...(progress.step !== undefined ? { step: result?.step ?? progress.step } : result ? { step: result.step } : {}),
      ...(progress.totalSteps !== undefined ? { totalSteps: progress.totalSteps } : {}),
      ...(job.failedReason && state !== 'finished' ? { reason: job.failedReason } : {}),
      ...(job.processedOn ? { startedAt: job.processedOn } : {}),
      ...(job.finishedOn ? { finishedAt: job.finishedOn } : {}),
    });
  }
  const counts: Record<VariantState, number> = { queued: 0, retrying: 0, running: 0, finished: 0, failed: 0, cancelled: 0 };
  for (const v of variants) counts[v.state]++;
  return { record, variants, counts, done: counts.queued + counts.retrying + counts.running === 0 };
}

/** `exp sweep status`'s table. */
export function statusTable(s: SweepStatus): string {
  const rows = s.variants.map((v) => [
    String(v.index + 1),
    v.label,
    v.runId,
    v.state,
    `${v.attempts}/${v.maxAttempts}`,
    v.state === 'running' ? `on ${v.host ?? '?'} at step ${v.step ?? 0}${v.totalSteps ? `/${v.totalSteps}` : ''}` : v.state === 'finished' ? `on ${v.host ?? '?'}, step ${v.step ?? '?'}` : (v.reason ?? ''),
  ]);
  const head = ['#', 'variant', 'run', 'state', 'attempts', 'where / why'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const counts = Object.entries(s.counts)
    .filter(([, n]) => n)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  return [
    `sweep ${s.record.sweepId} (${s.record.name}, ${s.record.total} variants; parent run ${s.record.parentRunId} on ${s.record.trackingUri}): ${counts}${s.record.cancelledAt ? ' (cancelled)' : ''}`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}
