/**
 * A real Redis for tests: Debian's `redis-server`, started on a free loopback port in a
 * temporary folder with the append-only file on (as the README tells users to run it), and
 * restartable on the same port and data (to test that nothing is lost when Redis goes down).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The redis-server binary: `$GENLAB_REDIS_SERVER`, else the first on PATH or in /usr/bin. */
export function redisServerBinary(): string | undefined {
  if (process.env.GENLAB_REDIS_SERVER) return process.env.GENLAB_REDIS_SERVER;
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  return fs.existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : undefined;
}

/**
 * Why the Redis tests are skipped here, or undefined when they run. They are skipped only
 * when there is no redis-server AND `GENLAB_REQUIRE_REDIS` is unset (CI sets it: it cannot skip).
 */
export function redisSkipReason(): string | undefined {
  if (redisServerBinary()) return undefined;
  if (process.env.GENLAB_REQUIRE_REDIS) throw new Error('GENLAB_REQUIRE_REDIS is set but redis-server is not installed (apt-get install redis-server)');
  return 'redis-server is not installed (apt-get install redis-server); the queue tests are skipped. Set GENLAB_REQUIRE_REDIS=1 to make this an error.';
}

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** Stop it (SIGTERM: it writes its data, as a clean shutdown does). */
  stop(): Promise<void>;
  /** Kill it with SIGKILL (only the append-only file survives). */
  kill(): Promise<void>;
  /** Start it again on the same port and data folder. */
  start(): Promise<void>;
  /** Freeze it (SIGSTOP) for `ms`, then let it go on (SIGCONT): connections stay open, nothing answers. */
  pause(ms: number): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Start a redis-server on 127.0.0.1 (a free port), `--appendonly yes`, in a new temporary folder. */
export async function startRedis(): Promise<TestRedis> {
  const binary = redisServerBinary();
  if (!binary) throw new Error('redis-server is not installed');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const c = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start on port ${port}: ${out}`)), 20_000);
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${out}`));
      });
    });
    c.removeAllListeners('exit');
  };
  const end = (signal: NodeJS.Signals) => async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };
  await start();
  const pause = async (ms: number) => {
    const c = child;
    if (!c || c.exitCode !== null) throw new Error('redis-server is not running');
    c.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, ms));
    c.kill('SIGCONT');
  };
  return { url: `redis://127.0.0.1:${port}/0`, port, dir, start, stop: end('SIGTERM'), kill: end('SIGKILL'), pause };
}
