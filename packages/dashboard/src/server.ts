/**
 * The dashboard's HTTP server: a read-only JSON API over a `DashboardSource` plus the static
 * page (public/) and the chart library (uPlot, served from its npm package), and the files of
 * the runs' exports (their sampler pages). The rules of http.ts: binds 127.0.0.1 unless told
 * otherwise; answers GET and HEAD only; serves only files inside a run's artifacts or inside
 * an export folder the run's exports.json lists (no path traversal), and a fixed list of
 * static files.
 */
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MlflowError } from '@genlab/tracking';
import { type DashboardSource, OutsideError } from './source.js';
import { type HttpServer, send, sendFromFolder, startHttp } from './http.js';

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

/** Run artifacts are served as these types only (never as HTML or script: they are data a run wrote). */
const ARTIFACT_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.json': 'application/json', '.yaml': 'text/plain; charset=utf-8', '.txt': 'text/plain; charset=utf-8' };

export type Dashboard = HttpServer;

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
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  return startHttp((_req, res, url) => handle(source, res, url, opts.queueStatus), {
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    readOnly: 'the dashboard is read-only',
    errorAnswer: (error) => errorAnswer(error, log),
    log,
  });
}

async function handle(source: DashboardSource, res: http.ServerResponse, url: URL, queueStatus?: QueueStatusFn): Promise<void> {
  const file = STATIC[url.pathname];
  if (file) return send(res, 200, fs.readFileSync(file[0]), file[1]);
  if (url.pathname === '/api/source') return send(res, 200, { source: source.description });
  if (url.pathname === '/api/runs') return send(res, 200, await source.runs());
  // A sweep's variants on a job queue (exp ui --queue).
  if (url.pathname === '/api/queue') return send(res, 200, { queue: Boolean(queueStatus) });
  const q = /^\/api\/sweeps\/([0-9a-f]{8})\/queue$/.exec(url.pathname);
  if (q) {
    if (!queueStatus) return send(res, 404, { error: 'no queue: start the dashboard with --queue redis://host:port/db' });
    const status = await queueStatus(q[1]!);
    return status ? send(res, 200, status) : send(res, 404, { error: `the queue has no sweep ${q[1]}` });
  }
  // The exports of the runs (local stores), and their files: /exports/<run id>/<index>/<path>.
  if (url.pathname === '/api/exports') return send(res, 200, source.exports ? await source.exports() : {});
  const e = /^\/exports\/([^/]+)\/(\d+)\/(.*)$/.exec(url.pathname);
  if (e) {
    const [, runId, index, rest] = e as unknown as [string, string, string, string];
    const dir = source.exportDir ? await source.exportDir(runId, Number(index)) : undefined;
    if (!dir) return send(res, 404, { error: `no export ${index} of run ${runId}` });
    return sendFromFolder(res, dir, rest);
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
    return send(res, 200, data, ARTIFACT_TYPES[path.extname(rel).toLowerCase()] ?? 'application/octet-stream');
  }
  return send(res, 404, { error: `not found: ${url.pathname}` });
}
