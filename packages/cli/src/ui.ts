/** `exp ui [mlruns | http://server]`: the dashboard over a local store or an MLflow server. */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '@genlab/core';
import { LocalSource, RemoteSource, startDashboard, type QueueStatusFn } from '@genlab/dashboard';

const log = (message: string) => process.stderr.write(message + '\n');

export async function uiCommand(args: { source: string; host: string; port: number; queue?: string }): Promise<number> {
  const remote = /^https?:\/\//.test(args.source);
  const root = path.resolve(args.source.replace(/^file:/, ''));
  if (!remote && !fs.existsSync(root)) throw new UserError(`no tracking store at ${root}: run an experiment first, or name a store or an MLflow server URI`);
  const source = remote ? new RemoteSource(args.source) : new LocalSource(root);
  if (!['127.0.0.1', 'localhost', '::1'].includes(args.host)) log(`warning: listening on ${args.host}: anyone who can reach this address can read your runs`);
  // A job queue: the sweep view shows its variants' queue states (the same as exp sweep status).
  let queueStatus: QueueStatusFn | undefined;
  let closeQueue = async () => {};
  if (args.queue) {
    const { checkReachable, openQueue, parseQueueUrl, sweepStatus } = await import('@genlab/queue');
    const q = parseQueueUrl(args.queue);
    await checkReachable(q);
    const queue = openQueue(q);
    queue.on('error', (e: Error) => log(`queue: ${e.message} (reconnecting)`));
    queueStatus = (id) => sweepStatus(queue, id);
    closeQueue = () => queue.close();
  }
  let dash;
  try {
    dash = await startDashboard(source, { host: args.host, port: args.port, ...(queueStatus ? { queueStatus } : {}) });
  } catch (error) {
    throw new UserError(`cannot listen on ${args.host}:${args.port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  process.stdout.write(`genlab dashboard for ${source.description}: ${dash.url}\n`);
  log('read-only; press Ctrl-C to stop');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await dash.close();
  await closeQueue();
  return 0;
}
