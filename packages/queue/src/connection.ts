/**
 * Where the queue lives: a `redis://[user:password@]host:port[/db]` URL (or `rediss://` for
 * TLS), read once into ioredis options that BullMQ accepts. BullMQ's connections reconnect
 * by themselves (ioredis's retry strategy); `checkReachable` is the one up-front probe, so a
 * wrong URL is an error before anything is submitted or started.
 */
import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { UserError } from '@genlab/core';

/** The BullMQ queue every genlab sweep goes into (one queue: any worker takes any sweep's variants). */
export const QUEUE_NAME = 'genlab-sweeps';

/** A parsed queue URL. */
export interface QueueUrl {
  /** The URL as given. */
  url: string;
  /** The URL without its password (for messages and records). */
  display: string;
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string;
  password?: string;
}

/** Parse `redis://host:port/db`; a `UserError` (exit 2) saying what is wrong otherwise. */
export function parseQueueUrl(url: string): QueueUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`--queue ${url}: not a URL; give the Redis server as redis://host:6379/0`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UserError(`--queue ${url}: the queue is a Redis server, given as redis://host:port/db (or rediss:// for TLS), not ${u.protocol}//`);
  }
  if (!u.hostname) throw new UserError(`--queue ${url}: no host; give it as redis://host:6379/0`);
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\/+/, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15 || !/^\d*$/.test(dbText)) throw new UserError(`--queue ${url}: the database '${dbText}' after the port must be a number 0–15 (redis://host:6379/0)`);
  if (u.search || u.hash) throw new UserError(`--queue ${url}: options after '?' or '#' are not read; give redis://host:port/db`);
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const display = `${u.protocol}//${u.username ? `${u.username}${u.password ? ':***' : ''}@` : ''}${u.hostname}${u.port ? `:${u.port}` : ''}/${db}`;
  return { url, display, host: u.hostname.replace(/^\[|\]$/g, ''), port, db, tls: u.protocol === 'rediss:', ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

/**
 * ioredis options for BullMQ: commands wait while the connection is down instead of failing
 * (`maxRetriesPerRequest: null`, which BullMQ requires of a worker's connection), and the
 * connection is retried every 0.2–2 s for as long as it takes.
 */
export function redisOptions(q: QueueUrl): RedisOptions {
  return {
    host: q.host,
    port: q.port,
    db: q.db,
    ...(q.username ? { username: q.username } : {}),
    ...(q.password ? { password: q.password } : {}),
    ...(q.tls ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  };
}

/** Connect once and ping, within `timeoutMs`; a `UserError` naming the server and the cause when it cannot be reached. */
export async function checkReachable(q: QueueUrl, timeoutMs = 5000): Promise<void> {
  const client = new Redis({ ...redisOptions(q), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, enableOfflineQueue: false });
  let cause = '';
  client.on('error', (e: NodeJS.ErrnoException) => (cause = e.code ?? e.message));
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const why = cause || e.code || e.message;
    throw new UserError(
      `The queue's Redis server ${q.display} cannot be reached (${why}). Start one with persistence, e.g. ` +
        `'redis-server --port ${q.port} --appendonly yes', or give its address with --queue redis://host:port/db`,
    );
  } finally {
    client.disconnect();
  }
}
