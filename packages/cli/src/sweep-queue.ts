/** `exp sweep status|cancel|retry <id> --queue redis://…`: a queued sweep, as BullMQ and the tracking server know it. */
import { UserError } from '@genlab/core';
import { cancelSweep, checkReachable, openQueue, parseQueueUrl, retrySweep, sweepStatus, statusTable } from '@genlab/queue';
import { followSweep } from './queue-submit.js';

/** Options of `exp sweep`. */
export interface SweepControlArgs {
  action: 'status' | 'cancel' | 'retry';
  sweepId: string;
  queue: string;
  /** retry: only the failed variants (not the cancelled ones). */
  failed?: boolean;
  /** status: follow until every variant has ended. */
  wait?: boolean;
  format?: 'text' | 'json';
}

export async function sweepControlCommand(args: SweepControlArgs): Promise<number> {
  const q = parseQueueUrl(args.queue);
  if (!/^[0-9a-f]{8}$/.test(args.sweepId)) throw new UserError(`'${args.sweepId}' is not a sweep id (8 hex digits, as exp run --queue printed it)`);
  await checkReachable(q);
  const queue = openQueue(q);
  try {
    if (args.action === 'status') {
      if (args.wait) return await followSweep(queue, args.sweepId);
      const s = await sweepStatus(queue, args.sweepId);
      if (!s) throw new UserError(`No sweep ${args.sweepId} in the queue at ${q.display}`);
      process.stdout.write((args.format === 'json' ? JSON.stringify(s, null, 2) : statusTable(s)) + '\n');
      return 0;
    }
    if (args.action === 'cancel') {
      const r = await cancelSweep(queue, args.sweepId);
      process.stdout.write(`sweep ${args.sweepId} cancelled: ${r.removed} queued variant(s) removed, ${r.stopping} running variant(s) stopping (they checkpoint and end KILLED), ${r.ended} had already ended\n  bring it back: pnpm exp sweep retry ${args.sweepId} --queue ${q.display}\n`);
      return 0;
    }
    const r = await retrySweep(queue, args.sweepId, { failedOnly: Boolean(args.failed) });
    process.stdout.write(`sweep ${args.sweepId}: ${r.retried.length} variant(s) back in the queue${r.retried.length ? ` (${r.retried.map((i) => i + 1).join(', ')})` : ''}; they resume from their last checkpoint into the same runs\n`);
    return 0;
  } finally {
    await queue.close();
  }
}
