/**
 * A small typed client for MLflow's REST API 2.0 and its artifact proxy. Written here
 * because the JavaScript MLflow clients are not usable (`mlflow-js` is not on the registry
 * we reach; the `mlflow` npm package prints every request body and cannot upload
 * artifacts). HTTP goes through Node's built-in `fetch`.
 *
 * Network errors and 5xx answers are retried with exponential back-off; 4xx answers are
 * errors at once, carrying MLflow's `error_code` and message.
 */

/** MLflow's per-request limits of `runs/log-batch`. */
export const BATCH_LIMITS = { metrics: 1000, params: 100, tags: 100 } as const;

export class MlflowError extends Error {
  constructor(
    /** HTTP status, or 0 when the server could not be reached. */
    readonly status: number,
    /** MLflow's `error_code`, e.g. RESOURCE_DOES_NOT_EXIST; NETWORK_ERROR when unreachable. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'MlflowError';
  }
  /** Worth retrying later (unreachable, or a server-side failure); a port fetch refuses never is. */
  get transient(): boolean {
    if (this.code === 'BAD_PORT') return false;
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/**
 * The ports the fetch standard blocks (undici's list, which Node's fetch uses): a request
 * to one fails at once with the cause "bad port", which would otherwise read as "server
 * unreachable" and be retried forever by the offline-first tracker.
 */
export const FETCH_BAD_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137,
  139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723,
  2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

const badPortMessage = (uri: string, port: number) =>
  `${uri}: port ${port} is blocked by fetch (it is on the fetch standard's list of "bad ports", which Node refuses to connect to); run the MLflow server on another port, e.g. 5000`;

/** Why an http(s) URI can never be reached by fetch (a blocked port), or undefined. */
export function blockedPortProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return FETCH_BAD_PORTS.has(port) ? badPortMessage(uri, port) : undefined;
}

export interface ClientOptions {
  /** Bearer token (MLFLOW_TRACKING_TOKEN). */
  token?: string;
  /** Basic auth (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD). */
  username?: string;
  password?: string;
  /** Attempts per request for transient failures (default 4). */
  retries?: number;
  /** First back-off in ms, doubled each retry (default 250). */
  backoffMs?: number;
  /** Per-request timeout in ms (default 30,000). */
  timeoutMs?: number;
}

/** Client options from the standard MLflow environment variables. */
export function clientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ClientOptions {
  return {
    ...(env.MLFLOW_TRACKING_TOKEN ? { token: env.MLFLOW_TRACKING_TOKEN } : {}),
    ...(env.MLFLOW_TRACKING_USERNAME ? { username: env.MLFLOW_TRACKING_USERNAME, password: env.MLFLOW_TRACKING_PASSWORD ?? '' } : {}),
  };
}

export interface RemoteMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface RemoteRunInfo {
  run_id: string;
  user_id?: string;
  experiment_id: string;
  run_name?: string;
  status: string;
  start_time?: number;
  end_time?: number;
  artifact_uri: string;
}

export interface RemoteRun {
  info: RemoteRunInfo;
  data: { params?: { key: string; value: string }[]; tags?: { key: string; value: string }[]; metrics?: RemoteMetric[] };
}

/** MLflow wants non-finite values as strings. */
export function encodeValue(v: number): number | string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

export function decodeValue(v: number | string): number {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return Number(v);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class MlflowClient {
  readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(
    url: string,
    private readonly opts: ClientOptions = {},
  ) {
    this.base = url.replace(/\/+$/, '');
    this.headers = {};
    if (opts.token) this.headers.authorization = `Bearer ${opts.token}`;
    else if (opts.username !== undefined) this.headers.authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}`;
  }

  /**
   * One HTTP exchange with retries; returns the parsed JSON body (or raw bytes for `raw`).
   * `once`: never resend (for requests that are not idempotent, like appending metric points
   * or creating a run: a lost answer does not mean the server did nothing; the caller checks
   * the server's state before trying again).
   */
  private async call(method: string, path: string, init: { body?: string | Uint8Array; raw?: boolean; json?: boolean; once?: boolean } = {}): Promise<unknown> {
    const retries = init.once ? 1 : (this.opts.retries ?? 4);
    const backoff = this.opts.backoffMs ?? 250;
    const url = `${this.base}${path}`;
    const blocked = blockedPortProblem(this.base);
    if (blocked) throw new MlflowError(0, 'BAD_PORT', blocked);
    let last: MlflowError | undefined;
    for (let attempt = 0; attempt < retries; attempt++) {
      if (attempt > 0) await sleep(backoff * 2 ** (attempt - 1));
      let res: Response;
      let buf: Buffer;
      try {
        res = await fetch(url, {
          method,
          headers: {
            ...this.headers,
            // Bytes as stored: fetch would otherwise decompress a gzip-encoded answer.
            'accept-encoding': 'identity',
            ...(init.json ? { 'content-type': 'application/json' } : init.body ? { 'content-type': 'application/octet-stream' } : {}),
          },
          ...(init.body !== undefined ? { body: init.body } : {}),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        });
        buf = Buffer.from(await res.arrayBuffer());
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        // A port blocked by this Node's fetch but missing from the list above: same refusal.
        if (cause?.message === 'bad port') throw new MlflowError(0, 'BAD_PORT', badPortMessage(this.base, Number(new URL(this.base).port)));
        last = new MlflowError(0, 'NETWORK_ERROR', `${method} ${url}: the server could not be reached (${cause?.code ?? (error as Error).message})`);
        continue;
      }
      if (res.ok) {
        if (init.raw) return buf;
        try {
          return buf.length ? (JSON.parse(buf.toString('utf8')) as unknown) : {};
        } catch {
          throw new MlflowError(502, 'BAD_RESPONSE', `${method} ${path}: the server answered 200 with a body that is not JSON`);
        }
      }
      let code = `HTTP_${res.status}`;
      let message = buf.toString('utf8').slice(0, 200);
      try {
        const j = JSON.parse(buf.toString('utf8')) as { error_code?: string; message?: string };
        code = j.error_code ?? code;
        message = j.message ?? message;
      } catch {
        // Not JSON (MLflow answers a malformed body with an HTML page).
        message = `the server answered HTTP ${res.status} with a non-JSON body`;
      }
      last = new MlflowError(res.status, code, `${method} ${path}: ${code}: ${message}`);
      if (!last.transient) throw last;
    }
    throw last!;
  }

  private post(route: string, body: unknown, once = false): Promise<unknown> {
    return this.call('POST', `/api/2.0/mlflow/${route}`, { body: JSON.stringify(body), json: true, once });
  }

  private get(route: string, query: Record<string, string>): Promise<unknown> {
    return this.call('GET', `/api/2.0/mlflow/${route}?${new URLSearchParams(query)}`);
  }

  /** The id of experiment `name`, created when missing (a concurrent create is fine). */
  async experimentId(name: string): Promise<string> {
    try {
      const r = (await this.get('experiments/get-by-name', { experiment_name: name })) as { experiment: { experiment_id: string } };
      return r.experiment.experiment_id;
    } catch (error) {
      if (!(error instanceof MlflowError) || error.code !== 'RESOURCE_DOES_NOT_EXIST') throw error;
    }
    try {
      return ((await this.post('experiments/create', { name })) as { experiment_id: string }).experiment_id;
    } catch (error) {
      if (error instanceof MlflowError && error.code === 'RESOURCE_ALREADY_EXISTS') return this.experimentId(name);
      throw error;
    }
  }

  /** Create a run as MLflow's own client does: `user_id`, and the same user in the `mlflow.user` tag (the UI's "User" column). */
  async createRun(experimentId: string, runName: string, startTime: number, tags: Record<string, string>, user: string): Promise<RemoteRun> {
    const r = (await this.post('runs/create', {
      experiment_id: experimentId,
      run_name: runName,
      // Always sent: without it the server stores 0.
      start_time: startTime,
      user_id: user,
      tags: Object.entries({ 'mlflow.user': user, ...tags }).map(([key, value]) => ({ key, value })),
    }, true)) as { run: RemoteRun };
    return r.run;
  }

  async getRun(runId: string): Promise<RemoteRun> {
    return ((await this.get('runs/get', { run_id: runId })) as { run: RemoteRun }).run;
  }

  /** Runs of an experiment whose tag `key` equals `value` (all pages). */
  async findRunsByTag(experimentId: string, key: string, value: string): Promise<RemoteRun[]> {
    const out: RemoteRun[] = [];
    let token: string | undefined;
    do {
      const r = (await this.post('runs/search', { experiment_ids: [experimentId], filter: `tags.\`${key}\` = '${value.replace(/'/g, "\\'")}'`, max_results: 1000, ...(token ? { page_token: token } : {}) })) as { runs?: RemoteRun[]; next_page_token?: string };
      out.push(...(r.runs ?? []));
      token = r.next_page_token;
    } while (token);
    return out;
  }

  /** Every active experiment (all pages). */
  async searchExperiments(): Promise<{ experiment_id: string; name: string }[]> {
    const out: { experiment_id: string; name: string }[] = [];
    let token: string | undefined;
    do {
      const r = (await this.post('experiments/search', { max_results: 1000, ...(token ? { page_token: token } : {}) })) as { experiments?: { experiment_id: string; name: string }[]; next_page_token?: string };
      out.push(...(r.experiments ?? []));
      token = r.next_page_token;
    } while (token);
    return out;
  }

  /** Runs of experiments (all pages). */
  async searchRuns(experimentIds: string[]): Promise<RemoteRun[]> {
    const out: RemoteRun[] = [];
    let token: string | undefined;
    do {
      const r = (await this.post('runs/search', { experiment_ids: experimentIds, max_results: 1000, ...(token ? { page_token: token } : {}) })) as { runs?: RemoteRun[]; next_page_token?: string };
      out.push(...(r.runs ?? []));
      token = r.next_page_token;
    } while (token);
    return out;
  }

  /**
   * Log metrics, params and tags, split into requests within MLflow's limits (in order:
   * the order of points in a request is the order they are stored).
   */
  async logBatch(runId: string, batch: { metrics?: RemoteMetric[]; params?: Record<string, string>; tags?: Record<string, string> }): Promise<void> {
    const metrics = batch.metrics ?? [];
    const params = Object.entries(batch.params ?? {});
    const tags = Object.entries(batch.tags ?? {});
    for (let i = 0; i < params.length; i += BATCH_LIMITS.params) {
      await this.post('runs/log-batch', { run_id: runId, params: params.slice(i, i + BATCH_LIMITS.params).map(([key, value]) => ({ key, value })) });
    }
    for (let i = 0; i < tags.length; i += BATCH_LIMITS.tags) {
      await this.post('runs/log-batch', { run_id: runId, tags: tags.slice(i, i + BATCH_LIMITS.tags).map(([key, value]) => ({ key, value })) });
    }
    for (let i = 0; i < metrics.length; i += BATCH_LIMITS.metrics) {
      await this.post('runs/log-batch', { run_id: runId, metrics: metrics.slice(i, i + BATCH_LIMITS.metrics).map((m) => ({ ...m, value: encodeValue(m.value) })) }, true);
    }
  }

  /** Every point of a metric (all pages). */
  async metricHistory(runId: string, key: string): Promise<RemoteMetric[]> {
    const out: RemoteMetric[] = [];
    let token: string | undefined;
    do {
      const r = (await this.get('metrics/get-history', { run_id: runId, metric_key: key, ...(token ? { page_token: token } : {}) })) as {
        metrics?: (Omit<RemoteMetric, 'value'> & { value: number | string })[];
        next_page_token?: string;
      };
      out.push(...(r.metrics ?? []).map((m) => ({ ...m, value: decodeValue(m.value), step: m.step ?? 0 })));
      token = r.next_page_token;
    } while (token);
    return out;
  }

  async updateRun(runId: string, status: 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED', endTime?: number): Promise<void> {
    await this.post('runs/update', { run_id: runId, status, ...(endTime !== undefined ? { end_time: endTime } : {}) });
  }

  /** Upload bytes to `<artifact root>/<relPath>` through the artifact proxy. */
  async uploadArtifact(artifactUri: string, relPath: string, data: Uint8Array): Promise<void> {
    await this.call('PUT', this.artifactPath(artifactUri, relPath), { body: data });
  }

  async downloadArtifact(artifactUri: string, relPath: string): Promise<Buffer> {
    return (await this.call('GET', this.artifactPath(artifactUri, relPath), { raw: true })) as Buffer;
  }

  async listArtifacts(runId: string, relPath = ''): Promise<{ path: string; is_dir: boolean; file_size?: number }[]> {
    const r = (await this.get('artifacts/list', { run_id: runId, ...(relPath ? { path: relPath } : {}) })) as { files?: { path: string; is_dir: boolean; file_size?: number }[] };
    return r.files ?? [];
  }

  private artifactPath(artifactUri: string, relPath: string): string {
    const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(artifactUri);
    if (!m) throw new MlflowError(400, 'UNSUPPORTED_ARTIFACT_URI', `artifact URI ${artifactUri} is not served by the tracking server (start it with --serve-artifacts)`);
    const segments = [...m[1]!.split('/'), ...relPath.split('/')].filter(Boolean);
    if (segments.includes('..')) throw new MlflowError(400, 'INVALID_PARAMETER_VALUE', `invalid artifact path ${relPath}`);
    return `/api/2.0/mlflow-artifacts/artifacts/${segments.map(encodeURIComponent).join('/')}`;
  }
}
