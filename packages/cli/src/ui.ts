/** `exp ui [mlruns | http://server]`: the dashboard over a local store or an MLflow server. */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '@genlab/core';
import { isLoopback, LocalSource, RemoteSource, startDashboard, type HttpServer, type QueueStatusFn } from '@genlab/dashboard';

const log = (message: string) => process.stderr.write(message + '\n');

/**
 * What `exp ui` and `exp serve` share around their servers: a warning when bound off this
 * machine, a clear error (exit 2) when the address cannot be bound, the URL on stdout, and
 * serving until SIGINT or SIGTERM.
 */
export async function serveUntilStopped(args: { host: string; port: number }, exposes: string, start: () => Promise<HttpServer>, banner: (url: string) => string): Promise<number> {
  if (!isLoopback(args.host)) log(`warning: listening on ${args.host}: anyone who can reach this address can read ${exposes}`);
  let server: HttpServer;
  try {
    server = await start();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UserError(`cannot listen on ${args.host}:${args.port}: the port is in use (another exp ui or exp serve?); choose another with --port`);
    throw new UserError(`cannot listen on ${args.host}:${args.port}: ${code ?? (error as Error).message}`);
  }
  process.stdout.write(`${banner(server.url)}\n`);
  log('read-only; press Ctrl-C to stop');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

export async function uiCommand(args: { source: string; host: string; port: number; queue?: string }): Promise<number> {
  const remote = /^https?:\/\//.test(args.source);
  const root = path.resolve(args.source.replace(/^file:/, ''));
  if (!remote && !fs.existsSync(root)) throw new UserError(`no tracking store at ${root}: run an experiment first, or name a store or an MLflow server URI`);
  const source = remote ? new RemoteSource(args.source) : new LocalSource(root);
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
  try {
    return await serveUntilStopped(args, 'your runs', () => startDashboard(source, { host: args.host, port: args.port, ...(queueStatus ? { queueStatus } : {}) }), (url) => `genlab dashboard for ${source.description}: ${url}`);
  } finally {
    await closeQueue();
  }
}
