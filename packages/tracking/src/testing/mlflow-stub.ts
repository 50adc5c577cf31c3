/**
 * A local stand-in for an MLflow 2.x tracking server (`--serve-artifacts`), for tests. It
 * answers the way `shared/MLFLOW.md` records a real server answering, including the
 * inconvenient parts: batch limits, write-once params, `"NaN"` strings for non-finite
 * values (and a bare `NaN` token silently stored as 0 at step 0), 404 for unknown runs,
 * 500 HTML for malformed JSON, 400 for `..` in artifact paths. Artifacts go through the
 * `mlflow-artifacts` proxy as MLflow 2.17 serves them: `PUT` uploads the raw bytes, `GET` on the
 * same path downloads them (500 `INTERNAL_ERROR` when missing), and `artifacts/list` lists one
 * folder's direct entries. It can be taken "down"
 * (connections are dropped) and brought back, to test retries and offline journaling.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface StubRun {
  info: { run_id: string; run_uuid: string; experiment_id: string; run_name: string; user_id: string; status: string; start_time: number; end_time?: number; artifact_uri: string; lifecycle_stage: string };
  params: Map<string, string>;
  tags: Map<string, string>;
  metrics: Map<string, { key: string; value: number; timestamp: number; step: number }[]>;
}

export interface MlflowStub {
  url: string;
  experiments: Map<string, { experiment_id: string; name: string; tags: Record<string, string> }>;
  runs: Map<string, StubRun>;
  artifacts: Map<string, Buffer>;
  /** Every request as `METHOD path`. */
  requests: string[];
  /** Authorization headers seen. */
  auth: (string | undefined)[];
  /** While true, connections are dropped without an answer. */
  down: boolean;
  /** Answer the next `n` requests with 503. */
  failNext(n: number): void;
  close(): Promise<void>;
}

const LIMITS = { metrics: 1000, params: 100, tags: 100 };
/** Where the stub pretends to keep artifacts on its disk (it appears in its error messages, as a real server's path does). */
export const STUB_ARTIFACT_ROOT = '/srv/mlflow/mlartifacts';
const KEY_RE = /^[\w\-. :/]+$/;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function checkKey(key: unknown): string {
  if (typeof key !== 'string' || !key || key.length > 250 || !KEY_RE.test(key) || key.split('/').includes('..')) {
    throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid key ${JSON.stringify(key)}`);
  }
  return key;
}

function parseValue(v: unknown): number {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'number') return v;
  throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid metric value ${JSON.stringify(v)}`);
}

/** Start the stub on 127.0.0.1 (a free port unless `port` is given). */
export async function startMlflowStub(port = 0): Promise<MlflowStub> {
  const experiments = new Map<string, { experiment_id: string; name: string; tags: Record<string, string> }>();
  experiments.set('0', { experiment_id: '0', name: 'Default', tags: {} });
  const runs = new Map<string, StubRun>();
  const artifacts = new Map<string, Buffer>();
  const requests: string[] = [];
  const auth: (string | undefined)[] = [];
  let failing = 0;
  let nextExp = 1;
  let nextRun = 1;

  const run = (id: unknown): StubRun => {
    const r = runs.get(String(id));
    if (!r) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Run '${String(id)}' not found`);
    return r;
  };
  const live = (id: unknown): StubRun => {
    const r = run(id);
    if (r.info.lifecycle_stage === 'deleted') throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `The run ${String(id)} must be in the 'active' state.`);
    return r;
  };
  const runJson = (r: StubRun) => {
    const data: Record<string, unknown> = {};
    if (r.params.size) data.params = [...r.params].map(([key, value]) => ({ key, value }));
    if (r.tags.size) data.tags = [...r.tags].map(([key, value]) => ({ key, value }));
    const latest = [...r.metrics.values()].map((h) => h.at(-1)!);
    if (latest.length) data.metrics = latest.map((m) => ({ ...m, value: Number.isFinite(m.value) ? m.value : String(m.value) }));
    return { info: r.info, data };
  };

  const api = (method: string, route: string, body: Record<string, unknown>, query: URLSearchParams): unknown => {
    switch (`${method} ${route}`) {
      case 'GET experiments/get-by-name': {
        const name = query.get('experiment_name');
        const e = [...experiments.values()].find((x) => x.name === name);
        if (!e) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Could not find experiment with name '${name}'`);
        return { experiment: { experiment_id: e.experiment_id, name: e.name, lifecycle_stage: 'active', artifact_location: `mlflow-artifacts:/${e.experiment_id}` } };
      }
      case 'POST experiments/create': {
        const name = body.name;
        if (typeof name !== 'string' || !name) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'name'.");
        if ([...experiments.values()].some((x) => x.name === name)) throw new ApiError(400, 'RESOURCE_ALREADY_EXISTS', `Experiment '${name}' already exists.`);
        const id = String(nextExp++);
        experiments.set(id, { experiment_id: id, name, tags: {} });
        return { experiment_id: id };
      }
      case 'POST experiments/search': {
        const list = [...experiments.values()].map((e) => ({ experiment_id: e.experiment_id, name: e.name, lifecycle_stage: 'active', artifact_location: `mlflow-artifacts:/${e.experiment_id}` }));
        return list.length ? { experiments: list } : {};
      }
      case 'POST runs/create': {
        const expId = String(body.experiment_id ?? '0');
        if (!experiments.has(expId)) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${expId} exists`);
        const id = (nextRun++).toString(16).padStart(32, '0');
        const tags = new Map<string, string>();
        for (const t of (body.tags as { key: string; value: string }[] | undefined) ?? []) tags.set(checkKey(t.key), String(t.value));
        const r: StubRun = {
          info: {
            run_id: id,
            run_uuid: id,
            experiment_id: expId,
            run_name: String(body.run_name ?? ''),
            // Stored as sent ('' when absent); the UI shows the `mlflow.user` tag.
            user_id: typeof body.user_id === 'string' ? body.user_id : '',
            status: 'RUNNING',
            // Without start_time the server stores 0.
            start_time: typeof body.start_time === 'number' ? body.start_time : 0,
            artifact_uri: `mlflow-artifacts:/${expId}/${id}/artifacts`,
            lifecycle_stage: 'active',
          },
          params: new Map(),
          tags,
          metrics: new Map(),
        };
        if (r.info.run_name) tags.set('mlflow.runName', r.info.run_name);
        runs.set(id, r);
        return { run: runJson(r) };
      }
      case 'GET runs/get':
        return { run: runJson(run(query.get('run_id'))) };
      case 'POST runs/update': {
        const r = live(body.run_id);
        const status = String(body.status);
        // An unknown status string is answered 200 and ignored.
        if (['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'].includes(status)) r.info.status = status;
        if (typeof body.end_time === 'number') r.info.end_time = body.end_time;
        if (typeof body.run_name === 'string') r.info.run_name = body.run_name;
        return { run_info: r.info };
      }
      case 'POST runs/delete': {
        run(body.run_id).info.lifecycle_stage = 'deleted';
        return {};
      }
      case 'POST runs/log-batch': {
        const r = live(body.run_id);
        const metrics = (body.metrics as Record<string, unknown>[] | undefined) ?? [];
        const params = (body.params as Record<string, unknown>[] | undefined) ?? [];
        const tags = (body.tags as Record<string, unknown>[] | undefined) ?? [];
        if (metrics.length > LIMITS.metrics || params.length > LIMITS.params || tags.length > LIMITS.tags) {
          throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `A batch logging request can contain at most ${LIMITS.metrics} metrics, ${LIMITS.params} params and ${LIMITS.tags} tags`);
        }
        for (const p of params) {
          const key = checkKey(p.key);
          const value = String(p.value).slice(0, 6000);
          const old = r.params.get(key);
          if (old !== undefined && old !== value) {
            throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Changing param values is not allowed. Param with key='${key}' was already logged with value='${old}' for run ID='${r.info.run_id}'. Attempted logging new value '${value}'.`);
          }
          r.params.set(key, value);
        }
        for (const t of tags) r.tags.set(checkKey(t.key), String(t.value).slice(0, 8000));
        for (const m of metrics) {
          const key = checkKey(m.key);
          if (typeof m.timestamp !== 'number') throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Missing value for required parameter 'metrics[].timestamp'`);
          const point = { key, value: parseValue(m.value), timestamp: m.timestamp, step: typeof m.step === 'number' ? m.step : 0 };
          const h = r.metrics.get(key) ?? [];
          h.push(point);
          r.metrics.set(key, h);
        }
        return {};
      }
      case 'GET metrics/get-history': {
        const r = run(query.get('run_id'));
        if (!query.get('metric_key')) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'metric_key'. See the API docs for more information about request parameters.");
        const h = r.metrics.get(query.get('metric_key') ?? '') ?? [];
        return h.length ? { metrics: h.map((m) => ({ ...m, value: Number.isFinite(m.value) ? m.value : String(m.value) })) } : {};
      }
      case 'POST runs/search': {
        const ids = ((body.experiment_ids as string[] | undefined) ?? []).map(String);
        const filter = typeof body.filter === 'string' ? body.filter : '';
        // Supports the one filter the client uses: tags.`key` = 'value' (or tags.key = 'value').
        const m = /^tags\.`?([^`=\s]+)`?\s*=\s*'([^']*)'$/.exec(filter.trim());
        const found = [...runs.values()].filter((r) => ids.includes(r.info.experiment_id) && r.info.lifecycle_stage === 'active' && (!m || r.tags.get(m[1]!) === m[2]));
        return found.length ? { runs: found.map(runJson) } : {};
      }
      case 'GET artifacts/list': {
        // As MLflow lists a folder: its direct entries only, sub-folders as `is_dir` without a size.
        const r = run(query.get('run_id'));
        const prefix = `${r.info.experiment_id}/${r.info.run_id}/artifacts/`;
        const sub = (query.get('path') ?? '').replace(/\/+$/, '');
        if (sub.split('/').includes('..')) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', 'Invalid path');
        const base = prefix + (sub ? `${sub}/` : '');
        const entries = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
        for (const k of artifacts.keys()) {
          if (!k.startsWith(base)) continue;
          const [head, ...rest] = k.slice(base.length).split('/');
          const rel = (sub ? `${sub}/` : '') + head;
          entries.set(rel, rest.length ? { path: rel, is_dir: true } : { path: rel, is_dir: false, file_size: artifacts.get(k)!.length });
        }
        const files = [...entries.values()].sort((a, b) => a.path.localeCompare(b.path));
        return { root_uri: r.info.artifact_uri, ...(files.length ? { files } : {}) };
      }
      default:
        throw new ApiError(404, 'ENDPOINT_NOT_FOUND', `No API endpoint ${method} ${route}`);
    }
  };

  const server = http.createServer((req, res) => {
    if (stub.down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      requests.push(`${req.method} ${url.pathname}`);
      auth.push(req.headers.authorization);
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (failing > 0) {
        failing--;
        res.writeHead(503, { 'content-type': 'text/html' }).end('<html><body>Service Unavailable</body></html>');
        return;
      }
      const raw = Buffer.concat(chunks);
      const artifactPrefix = '/api/2.0/mlflow-artifacts/artifacts/';
      if (url.pathname.startsWith(artifactPrefix)) {
        const rel = url.pathname.slice(artifactPrefix.length);
        if (decodeURIComponent(rel).split('/').includes('..') || rel.includes('..')) return json(400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'Invalid path' });
        const key = decodeURIComponent(rel);
        if (req.method === 'PUT') {
          artifacts.set(key, raw);
          return json(200, {});
        }
        const body = artifacts.get(key);
        // The real server's message carries its own disk path.
        if (!body) return json(500, { error_code: 'INTERNAL_ERROR', message: `[Errno 2] No such file or directory: '${STUB_ARTIFACT_ROOT}/${key}'` });
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
        return;
      }
      const apiPrefix = '/api/2.0/mlflow/';
      if (!url.pathname.startsWith(apiPrefix)) return json(404, { error_code: 'ENDPOINT_NOT_FOUND', message: 'Not found' });
      let body: Record<string, unknown> = {};
      if (raw.length) {
        const text = raw.toString('utf8');
        try {
          // A bare NaN token: answered 200 but stored as value 0 at step 0 (silent corruption).
          body = JSON.parse(text.replace(/:\s*-?(NaN|Infinity)\b/g, ': "__corrupt__"')) as Record<string, unknown>;
          if (Array.isArray(body.metrics)) for (const m of body.metrics as Record<string, unknown>[]) if (m.value === '__corrupt__') Object.assign(m, { value: 0, step: 0 });
        } catch {
          res.writeHead(500, { 'content-type': 'text/html' }).end('<!doctype html><html><title>500 Internal Server Error</title></html>');
          return;
        }
      }
      try {
        json(200, api(req.method ?? 'GET', url.pathname.slice(apiPrefix.length), body, url.searchParams));
      } catch (error) {
        if (error instanceof ApiError) json(error.status, { error_code: error.code, message: error.message });
        else json(500, { error_code: 'INTERNAL_ERROR', message: String(error) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const stub: MlflowStub = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    experiments,
    runs,
    artifacts,
    requests,
    auth,
    down: false,
    failNext: (n) => {
      failing = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return stub;
}
