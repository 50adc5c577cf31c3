/**
 * The HTTP rules `exp ui` and `exp serve` share: bind 127.0.0.1 unless told otherwise, answer
 * only loopback Host headers when bound to loopback (DNS rebinding), answer GET and HEAD only,
 * never a message from below in a body, and serve files only from inside a folder (no `..`,
 * no link out of it, no dot-files, no folder listings), with their MIME types.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

/** Host names that mean this machine only. */
export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1'] as const;

/** Whether binding `host` keeps a server on this machine. */
export function isLoopback(host: string): boolean {
  return (LOOPBACK_HOSTS as readonly string[]).includes(host);
}

/** A request for a path outside what a server serves (answered 400, with the message). */
export class OutsideError extends Error {}

/** A running server. */
export interface HttpServer {
  /** http://host:port, without a trailing slash. */
  url: string;
  close(): Promise<void>;
}

/** Content types by file extension (lower case); anything else is application/octet-stream. */
export const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.yaml': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

/** The content type of a file name. */
export function mimeType(file: string): string {
  return MIME_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Answer with a JSON value, a string or bytes; no caching, no content sniffing; no body for HEAD. */
export function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const data = Buffer.isBuffer(body) ? body : Buffer.from(type === 'application/json' ? JSON.stringify(body) : String(body));
  res.writeHead(status, { 'content-type': type, 'content-length': data.length, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(res.req.method === 'HEAD' ? undefined : data);
}

/** Options of `startHttp`. */
export interface HttpOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: any free one). */
  port?: number;
  /** What the 405 answer says (e.g. 'the dashboard is read-only'). */
  readOnly?: string;
  /** An error thrown by the handler as [status, body]; the default logs it and answers a fixed 500. */
  errorAnswer?: (error: unknown) => [number, unknown];
  /** Where unexpected errors are logged (stderr by default). */
  log?: (message: string) => void;
}

/**
 * Serve `handle` with the shared rules: a Host header check on loopback, GET and HEAD only,
 * `OutsideError` as 400, other errors through `errorAnswer` (never their message by default).
 */
export async function startHttp(handle: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void> | void, opts: HttpOptions = {}): Promise<HttpServer> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const loopback = isLoopback(host);
  const answer =
    opts.errorAnswer ??
    ((error: unknown): [number, unknown] => {
      log(`server: ${(error as Error)?.message ?? String(error)}`);
      return [500, { error: "internal error; see the server's log" }];
    });
  const server = http.createServer((req, res) => {
    // DNS rebinding: a page on another domain that resolves to 127.0.0.1 must not read what
    // is served, so on loopback only loopback Host headers are answered.
    const hostname = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (loopback && !isLoopback(hostname)) return send(res, 403, { error: `host '${req.headers.host ?? ''}' refused` });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: opts.readOnly ?? 'read-only: GET and HEAD only' });
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://server');
    } catch {
      return send(res, 400, { error: 'bad URL' });
    }
    void (async () => handle(req, res, url))().catch((error: unknown) => {
      if (res.headersSent) return res.end();
      if (error instanceof OutsideError) return send(res, 400, { error: error.message });
      const [status, body] = answer(error);
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

/**
 * The real path of the file `rel` (a URL path, already decoded, without the leading slash)
 * inside `root`, or undefined when there is no such file. Throws `OutsideError` for `..`, `.`,
 * empty segments, backslashes, NUL, dot-files, and links that lead out of `root`. Folders are
 * not files: no listings.
 */
export function fileInside(root: string, rel: string): string | undefined {
  const parts = rel.split('/');
  if (!rel || rel.includes('\\') || rel.includes('\0') || parts.some((p) => p === '' || p.startsWith('.'))) {
    throw new OutsideError(`path '${rel}' is not inside the served folder`);
  }
  const realRoot = fs.realpathSync(root);
  const full = path.join(realRoot, ...parts);
  let real: string;
  try {
    real = fs.realpathSync(full);
  } catch {
    return undefined;
  }
  if (!real.startsWith(realRoot + path.sep)) throw new OutsideError(`path '${rel}' leaves the served folder`);
  return fs.statSync(real).isFile() ? real : undefined;
}

/**
 * Answer a request for `urlPath` (the part after the folder's mount point, still encoded) from
 * `root`: '' and folders ending in '/' mean their index.html.
 */
export function sendFromFolder(res: http.ServerResponse, root: string, urlPath: string): void {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    throw new OutsideError('bad URL encoding');
  }
  if (rel === '' || rel.endsWith('/')) rel += 'index.html';
  const file = fileInside(root, rel);
  if (!file) return send(res, 404, { error: `not found: /${rel}` });
  send(res, 200, fs.readFileSync(file), mimeType(file));
}

/** Serve the files of one folder (what `exp serve` does). */
export function startFolderServer(root: string, opts: Omit<HttpOptions, 'errorAnswer'> = {}): Promise<HttpServer> {
  return startHttp((_req, res, url) => sendFromFolder(res, root, url.pathname.slice(1)), { readOnly: 'read-only: this server only serves the files of its folder', ...opts });
}
