/**
 * The dashboard's HTTP server: a read-only JSON API over a `DashboardSource` plus the static
 * page (public/) and the chart library (uPlot, served from its npm package). Binds
 * 127.0.0.1 unless told otherwise; answers GET and HEAD only; serves only files inside a
 * run's artifacts (no path traversal) and a fixed list of static files.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { MlflowError } from '@genlab/tracking';
import { type DashboardSource, OutsideError } from './source.js';

const require = createRequire(import.meta.url);
const publicDir = fileURLToPath(new URL('../public/', import.meta.url));
const uplotDir = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));

/** The only static files served: URL path → file and content type. */
const STATIC: Record<string, [string, string]> = {
  '/': [path.join(publicDir, 'index.html'), 'text/html; charset=utf-8'],
  '/app.js': [path.join(publicDir, 'app.js'), 'text/javascript; charset=utf-8'],
  '/style.css': [path.join(publicDir, 'style.css'), 'text/css; charset=utf-8'],
  '/vendor/uplot.js': [path.join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
  '/vendor/uplot.css': [path.join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8'],
};

const TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.json': 'application/json', '.yaml': 'text/plain; charset=utf-8', '.txt': 'text/plain; charset=utf-8' };

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

/**
 * An error as an HTTP answer. Bodies never carry a message from below: an MLflow server's
 * own messages include its disk paths, and a local error's include the store's; they go to
 * `log` (the operator's terminal) instead, and the browser gets a short, fixed reason.
 */
export function errorAnswer(error: unknown, log: (message: string) => void): [number, { error: string }] {
  if (error instanceof OutsideError) return [400, { error: error.message }];
  if (error instanceof MlflowError && error.status === 404) return [404, { error: `not found on the MLflow server (${error.code})` }];
  if (error instanceof MlflowError && error.status === 400) return [400, { error: `the MLflow server refused the request (${error.code})` }];
  log(`dashboard: ${(error as Error)?.message ?? String(error)}`);
  if (error instanceof MlflowError) return [502, { error: `the MLflow server failed to answer (${error.code}); see the dashboard's log` }];
  return [500, { error: "internal error; see the dashboard's log" }];
}

/**
 * What the dashboard shows of a sweep on a job queue (`exp ui --queue redis://…`): per variant
 * its state, attempts, host and step or failure reason, as `exp sweep status` prints it.
 * Undefined for a sweep the queue does not know.
 */
export type QueueStatusFn = (sweepId: string) => Promise<unknown>;

export async function startDashboard(source: DashboardSource, opts: { host?: string; port?: number; log?: (message: string) => void; queueStatus?: QueueStatusFn } = {}): Promise<Dashboard> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const loopback = ['127.0.0.1', 'localhost', '::1'].includes(host);
  const server = http.createServer((req, res) => {
    // DNS rebinding: a page on another domain that resolves to 127.0.0.1 must not read the
    // runs, so on loopback only loopback Host headers are answered.
    const hostname = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (loopback && !['127.0.0.1', 'localhost', '::1'].includes(hostname)) return send(res, 403, { error: `host '${req.headers.host ?? ''}' refused` });
    void handle(source, req, res, opts.queueStatus).catch((error: unknown) => {
      if (res.headersSent) return res.end();
      const [status, body] = errorAnswer(error, log);
      send(res, status, body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const data = Buffer.isBuffer(body) ? body : Buffer.from(type === 'application/json' ? JSON.stringify(body) : String(body));
  res.writeHead(status, { 'content-type': type, 'content-length': data.length, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(res.req.method === 'HEAD' ? undefined : data);
}

async function handle(source: DashboardSource, req: http.IncomingMessage, res: http.ServerResponse, queueStatus?: QueueStatusFn): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'the dashboard is read-only' });
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://dashboard');
  } catch {
    return send(res, 400, { error: 'bad URL' });
  }
  const file = STATIC[url.pathname];
  if (file) return send(res, 200, fs.readFileSync(file[0]), file[1]);
  try {
    if (url.pathname === '/api/source') return send(res, 200, { source: source.description });
    if (url.pathname === '/api/runs') return send(res, 200, await source.runs());
    if (url.pathname === '/api/queue') return send(res, 200, { queue: Boolean(queueStatus) });
    const q = /^\/api\/sweeps\/([0-9a-f]{8})\/queue$/.exec(url.pathname);
    if (q) {
      if (!queueStatus) return send(res, 404, { error: 'no queue: start the dashboard with --queue redis://host:port/db' });
      const status = await queueStatus(q[1]!);
      return status ? send(res, 200, status) : send(res, 404, { error: `the queue has no sweep ${q[1]}` });
    }
    const m = /^\/api\/runs\/([^/]+)\/(history|artifacts|artifact-dirs|artifact)$/.exec(url.pathname);
    if (m) {
      const [, runId, what] = m as unknown as [string, string, string];
      if (what === 'history') return send(res, 200, await source.history(runId, url.searchParams.get('key') ?? ''));
      if (what === 'artifacts') return send(res, 200, await source.listArtifacts(runId, url.searchParams.get('dir') ?? 'samples'));
      if (what === 'artifact-dirs') return send(res, 200, await source.listArtifactDirs(runId, url.searchParams.get('dir') ?? 'samples'));
      const rel = url.searchParams.get('path') ?? '';
      const data = await source.artifact(runId, rel);
      if (!data) return send(res, 404, { error: `no artifact ${rel}` });
      return send(res, 200, data, TYPES[path.extname(rel).toLowerCase()] ?? 'application/octet-stream');
    }
  } catch (error) {
    if (error instanceof OutsideError) return send(res, 400, { error: error.message });
    throw error;
  }
  return send(res, 404, { error: `not found: ${url.pathname}` });
}
