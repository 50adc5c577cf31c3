import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Registry, UserError } from '@genlab/core';
import { FileStore, FileStoreTracker } from './file-store.js';
import { trackers } from './index.js';
import { clientOptionsFromEnv, MlflowClient, MlflowError } from './rest-client.js';
import { RestTracker } from './rest-tracker.js';
import { localRunIds, syncRun } from './sync.js';
import { type MlflowStub, startMlflowStub } from './testing/mlflow-stub.js';

let stub: MlflowStub;
let dir: string;
const fast = { retries: 3, backoffMs: 5 };

beforeEach(async () => {
  stub = await startMlflowStub();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-rest-'));
});
afterEach(async () => {
  await stub.close();
});

const messageOf = (p: Promise<unknown>) => p.then(() => 'no error', (e: Error) => e);

describe('MlflowClient', () => {
  it('turns 400, 404 and HTML 500 answers into clear errors, and retries 5xx', async () => {
    const c = new MlflowClient(stub.url, fast);
    const e404 = (await messageOf(c.getRun('f'.repeat(32)))) as MlflowError;
    expect(e404).toBeInstanceOf(MlflowError);
    expect(e404).toMatchObject({ status: 404, code: 'RESOURCE_DOES_NOT_EXIST' });
    expect(e404.message).toContain(`Run '${'f'.repeat(32)}' not found`);
    const exp = await c.experimentId('e');
    expect(await c.experimentId('e')).toBe(exp);
    const run = await c.createRun(exp, 'r', 1000, {}, 'tester');
    await c.logBatch(run.info.run_id, { params: { lr: '0.1' } });
    const e400 = (await messageOf(c.logBatch(run.info.run_id, { params: { lr: '0.2' } }))) as MlflowError;
    expect(e400).toMatchObject({ status: 400, code: 'INVALID_PARAMETER_VALUE' });
    expect(e400.message).toContain('Changing param values is not allowed');
    // A transient 503 is retried; the call succeeds.
    stub.failNext(2);
    await c.logBatch(run.info.run_id, { params: { lr: '0.1' } });
    // Appending points is not idempotent: a failed request is not resent (the sync checks
    // the server's count before trying again).
    stub.failNext(1);
    expect(await messageOf(c.logBatch(run.info.run_id, { metrics: [{ key: 'm', value: 1, timestamp: 1, step: 1 }] }))).toMatchObject({ status: 503 });
    expect(await c.metricHistory(run.info.run_id, 'm')).toEqual([]);
    stub.failNext(5);
    const e503 = (await messageOf(c.getRun(run.info.run_id))) as MlflowError;
    expect(e503).toMatchObject({ status: 503, transient: true });
    expect(e503.message).toContain('non-JSON body');
    stub.down = true;
    const down = (await messageOf(c.getRun(run.info.run_id))) as MlflowError;
    expect(down).toMatchObject({ status: 0, code: 'NETWORK_ERROR', transient: true });
  });

  it('splits batches at the limits and keeps NaN and infinities', async () => {
    const c = new MlflowClient(stub.url, fast);
    const run = await c.createRun(await c.experimentId('e'), 'r', 1000, {}, 'tester');
    const id = run.info.run_id;
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: i % 2 ? 'a' : 'b', value: i, timestamp: 1000 + i, step: i }));
    metrics[7] = { key: 'a', value: NaN, timestamp: 5, step: 7 };
    metrics[9] = { key: 'a', value: Infinity, timestamp: 5, step: 9 };
    metrics[11] = { key: 'a', value: -Infinity, timestamp: 5, step: 11 };
    const params = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`p${i}`, String(i)]));
    const tags = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`t${i}`, String(i)]));
    await c.logBatch(id, { metrics, params, tags });
    expect(stub.requests.filter((r) => r.endsWith('log-batch'))).toHaveLength(3 + 2 + 3);
    expect(stub.runs.get(id)!.params.size).toBe(250);
    const a = await c.metricHistory(id, 'a');
    expect(a).toHaveLength(1250);
    expect(a.slice(3, 6).map((m) => m.value)).toEqual([NaN, Infinity, -Infinity]);
    expect(a.map((m) => m.step)).toEqual(metrics.filter((m) => m.key === 'a').map((m) => m.step));
  });

  it('uploads, lists and downloads artifacts through the proxy, refusing traversal', async () => {
    const c = new MlflowClient(stub.url, fast);
    const run = await c.createRun(await c.experimentId('e'), 'r', 1000, {}, 'tester');
    await c.uploadArtifact(run.info.artifact_uri, 'samples/final.png', Buffer.from('png!'));
    expect((await c.downloadArtifact(run.info.artifact_uri, 'samples/final.png')).toString()).toBe('png!');
    await c.uploadArtifact(run.info.artifact_uri, 'samples/a/b.bin', Buffer.from('xy'));
    // A folder's direct entries, as MLflow lists them.
    expect(await c.listArtifacts(run.info.run_id)).toEqual([{ path: 'samples', is_dir: true }]);
    expect(await c.listArtifacts(run.info.run_id, 'samples')).toEqual([
      { path: 'samples/a', is_dir: true },
      { path: 'samples/final.png', is_dir: false, file_size: 4 },
    ]);
    // A missing artifact: MLflow's 500 INTERNAL_ERROR (retried as transient, then reported).
    expect(((await messageOf(c.downloadArtifact(run.info.artifact_uri, 'samples/none.png'))) as Error).message).toContain('INTERNAL_ERROR');
    expect(((await messageOf(c.uploadArtifact(run.info.artifact_uri, '../x', Buffer.from('')))) as Error).message).toContain('invalid artifact path');
    expect(((await messageOf(c.uploadArtifact('file:///tmp/a', 'x', Buffer.from('')))) as Error).message).toContain('start it with --serve-artifacts');
  });

  it('creates a run with user_id and the mlflow.user tag, as MLflow\'s own client does', async () => {
    const c = new MlflowClient(stub.url, fast);
    const run = await c.createRun(await c.experimentId('e'), 'r', 1000, { a: 'b' }, 'tester');
    expect(stub.runs.get(run.info.run_id)!.info.user_id).toBe('tester');
    expect(run.info.user_id).toBe('tester');
    expect(run.data.tags).toContainEqual({ key: 'mlflow.user', value: 'tester' });
    expect(run.data.tags).toContainEqual({ key: 'a', value: 'b' });
  });

  it('refuses a port that fetch blocks at once, naming the URI, with no request and no retry', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    try {
      for (const uri of ['http://127.0.0.1:6000', 'http://localhost:6667/', 'https://example.org:10080']) {
        const e = (await messageOf(new MlflowClient(uri, fast).experimentId('x'))) as MlflowError;
        expect(e).toBeInstanceOf(MlflowError);
        expect(e.code).toBe('BAD_PORT');
        expect(e.transient).toBe(false);
        expect(e.message).toContain(`${uri.replace(/\/$/, '')}: port ${new URL(uri).port} is blocked by fetch`);
      }
      expect(spy).not.toHaveBeenCalled();
      // A port this Node's fetch blocks but the list lacks: its "bad port" cause, not "unreachable", and no retry.
      spy.mockRejectedValue(new TypeError('fetch failed', { cause: new Error('bad port') }));
      const e = (await messageOf(new MlflowClient(stub.url, fast).experimentId('x'))) as MlflowError;
      expect(e).toMatchObject({ code: 'BAD_PORT' });
      expect(e.message).toContain(`${stub.url}: port ${new URL(stub.url).port} is blocked by fetch`);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('checks tracking.uri for a blocked port where trackers are chosen, and the tracker refuses before a local run exists', async () => {
    const registry = new Registry().add({ trackers });
    expect(() => registry.trackerFor('http://127.0.0.1:6666')).toThrow(/^http:\/\/127\.0\.0\.1:6666: port 6666 is blocked by fetch/);
    expect(() => registry.trackerFor('http://127.0.0.1:6666')).toThrow(UserError);
    expect(registry.trackerFor(stub.url).name).toBe('mlflow-rest');
    expect(registry.trackerFor('http://mlflow.internal').name).toBe('mlflow-rest');
    const local = path.join(dir, 'journal');
    const t = new RestTracker('http://127.0.0.1:6000', { localStore: local, log: () => {} });
    await expect(t.startRun({ experiment: 'e', runName: 'r' })).rejects.toThrow('Tracking server http://127.0.0.1:6000: port 6000 is blocked by fetch');
    expect(localRunIds(new FileStore(local))).toEqual([]);
  });

  it('sends credentials from the MLflow environment variables', async () => {
    await new MlflowClient(stub.url, clientOptionsFromEnv({ MLFLOW_TRACKING_TOKEN: 'tok' })).experimentId('x');
    await new MlflowClient(stub.url, clientOptionsFromEnv({ MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' })).experimentId('x');
    expect(stub.auth).toContain('Bearer tok');
    expect(stub.auth).toContain(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });
});

/** A local run with params, tags, metrics (incl. NaN) and an artifact. */
async function localRun(root: string, points = 30): Promise<string> {
  const t = new FileStoreTracker(root);
  const { runId } = await t.startRun({ experiment: 'exp', runName: 'local' });
  await t.logParams({ lr: '0.001', 'model.name': 'gan/mlp' });
  await t.setTags({ 'genlab.model': 'gan/mlp' });
  for (let s = 1; s <= points; s++) await t.logMetrics(s, { loss: s === 5 ? NaN : 1 / s, acc: s });
  const art = path.join(root, '..', 'grid.png');
  fs.writeFileSync(art, 'png');
  await t.logArtifact(art, 'samples');
  await t.endRun('FINISHED');
  return runId;
}

describe('sync', () => {
  it('pushes a local run, and a second sync pushes nothing: no duplicate run or point', async () => {
    const root = path.join(dir, 'mlruns');
    const id = await localRun(root);
    const store = new FileStore(root);
    const client = new MlflowClient(stub.url, fast);
    const first = await syncRun(store, id, client);
    expect(first).toMatchObject({ created: true, metrics: 60, params: 2, artifacts: 1, status: 'FINISHED' });
    const again = await syncRun(store, id, client);
    expect(again).toMatchObject({ created: false, metrics: 0, params: 0, tags: 0, artifacts: 0 });
    expect(stub.runs.size).toBe(1);
    const remote = stub.runs.get(first.remoteRunId)!;
    expect(remote.info.status).toBe('FINISHED');
    expect(remote.info.start_time).toBe(store.readRun(id).meta.start_time);
    // The local run's user, sent in runs/create.
    expect(remote.info.user_id).toBe(os.userInfo().username);
    expect(remote.metrics.get('loss')!.map((p) => p.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(remote.metrics.get('loss')![4]!.value).toBeNaN();
    expect(remote.params.get('model.name')).toBe('gan/mlp');
    expect([...stub.artifacts.keys()]).toEqual([`${remote.info.experiment_id}/${first.remoteRunId}/artifacts/samples/grid.png`]);
    // Even with the sync state lost, the tag finds the same server run.
    for (const f of fs.readdirSync(store.readRun(id).dir)) if (f.startsWith('.genlab-sync')) fs.rmSync(path.join(store.readRun(id).dir, f));
    const lost = await syncRun(store, id, client);
    expect(lost.created).toBe(false);
    expect(lost.metrics).toBe(0);
    expect(remote.metrics.get('loss')).toHaveLength(30);
    expect(stub.runs.size).toBe(1);
    expect(localRunIds(store)).toEqual([id]);
  });

  it('never sends a batch twice when the process died before recording the answer', async () => {
    const root = path.join(dir, 'mlruns');
    const id = await localRun(root, 10);
    const store = new FileStore(root);
    const client = new MlflowClient(stub.url, fast);
    await syncRun(store, id, client);
    // Ten more points, pushed; then forge the state as if the answer had been lost.
    const t = new FileStoreTracker(root);
    await t.startRun({ experiment: 'exp', runName: 'local', resumeRunId: id });
    for (let s = 11; s <= 20; s++) await t.logMetrics(s, { loss: 1 / s });
    await t.endRun('FINISHED');
    const stateFile = fs.readdirSync(store.readRun(id).dir).find((f) => f.startsWith('.genlab-sync'))!;
    const full = path.join(store.readRun(id).dir, stateFile);
    const before = JSON.parse(fs.readFileSync(full, 'utf8')) as Record<string, unknown>;
    await syncRun(store, id, client);
    fs.writeFileSync(full, JSON.stringify({ ...before, pending: { loss: { from: 10, to: 20 } } }));
    const r = await syncRun(store, id, client);
    expect(r.metrics).toBe(0);
    const remote = [...stub.runs.values()][0]!;
    expect(remote.metrics.get('loss')!.map((p) => p.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });
});

describe('sync of nested runs (a sweep parent and its variants)', () => {
  it("translates mlflow.parentRunId to the parent's server id, and waits while the parent is not there yet", async () => {
    const root = path.join(dir, 'mlruns');
    const store = new FileStore(root);
    const client = new MlflowClient(stub.url, fast);
    const parent = new FileStoreTracker(root);
    const { runId: parentId } = await parent.startRun({ experiment: 'exp', runName: 'sweep', tags: { 'genlab.sweep': 'ab12' } });
    const child = new FileStoreTracker(root);
    const { runId: childId } = await child.startRun({ experiment: 'exp', runName: 'variant', tags: { 'mlflow.parentRunId': parentId, 'genlab.sweep': 'ab12' } });
    await child.endRun('FINISHED');
    // The child first: its parent is not on the server yet, so the tag is held back…
    const c1 = await syncRun(store, childId, client);
    const remoteChild = stub.runs.get(c1.remoteRunId)!;
    expect(remoteChild.tags.get('genlab.sweep')).toBe('ab12');
    expect(remoteChild.tags.has('mlflow.parentRunId')).toBe(false);
    // …and sent, as the parent's server id, once the parent is there.
    const p = await syncRun(store, parentId, client);
    expect(p.remoteRunId).not.toBe(parentId);
    expect((await syncRun(store, childId, client)).tags).toBe(1);
    expect(remoteChild.tags.get('mlflow.parentRunId')).toBe(p.remoteRunId);
    // Nothing is sent again; the local store keeps the local id (MLflow reads that folder too).
    expect((await syncRun(store, childId, client)).tags).toBe(0);
    expect(store.readRun(childId).tags['mlflow.parentRunId']).toBe(parentId);
    // With the parent's sync state lost, its server run is found by its genlab.local_run_id tag.
    const other = new FileStoreTracker(root);
    const { runId: second } = await other.startRun({ experiment: 'exp', runName: 'variant 2', tags: { 'mlflow.parentRunId': parentId } });
    const parentDir = store.readRun(parentId).dir;
    for (const f of fs.readdirSync(parentDir)) if (f.startsWith('.genlab-sync')) fs.rmSync(path.join(parentDir, f));
    const s2 = await syncRun(store, second, client);
    expect(stub.runs.get(s2.remoteRunId)!.tags.get('mlflow.parentRunId')).toBe(p.remoteRunId);
  });
});

describe('RestTracker', () => {
  it('logs to the server, survives it being down mid-run (nothing lost, order kept, no duplicates), and finishes locally when it stays down', async () => {
    const lines: string[] = [];
    const local = path.join(dir, 'mlruns');
    const tracker = new RestTracker(stub.url, { localStore: local, intervalMs: 20, finalTimeoutMs: 200, log: (m) => lines.push(m), client: new MlflowClient(stub.url, fast) });
    const { runId } = await tracker.startRun({ experiment: 'gan', runName: 'r1' });
    await tracker.logParams({ lr: '0.0002' });
    for (let s = 1; s <= 10; s++) await tracker.logMetrics(s, { loss: s });
    await tracker.flush();
    const remote = [...stub.runs.values()][0]!;
    expect(remote.metrics.get('loss')).toHaveLength(10);

    stub.down = true;
    for (let s = 11; s <= 20; s++) await tracker.logMetrics(s, { loss: s });
    await tracker.flush();
    expect(lines.join('\n')).toContain('is unreachable');
    stub.down = false;
    for (let s = 21; s <= 30; s++) await tracker.logMetrics(s, { loss: s });
    await tracker.flush();
    expect(lines.join('\n')).toContain('reachable again');
    expect(remote.metrics.get('loss')!.map((p) => p.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));

    // Down at the end: the run finishes locally and says how to push it later.
    for (let s = 31; s <= 35; s++) await tracker.logMetrics(s, { loss: s });
    stub.down = true;
    await tracker.endRun('FINISHED');
    expect(lines.join('\n')).toContain(`Push it later with: pnpm exp sync ${local} --to ${stub.url}`);
    expect(new FileStore(local).readRun(runId).status).toBe('FINISHED');
    expect(remote.info.status).toBe('RUNNING');
    stub.down = false;
    await syncRun(new FileStore(local), runId, new MlflowClient(stub.url, fast));
    expect(remote.info.status).toBe('FINISHED');
    expect(remote.metrics.get('loss')!.map((p) => p.step)).toEqual(Array.from({ length: 35 }, (_, i) => i + 1));
    expect(remote.params.get('lr')).toBe('0.0002');
    expect(stub.runs.size).toBe(1);
  });

  it('refuses to start when the server rejects the run (e.g. bad credentials), naming the server', async () => {
    const tracker = new RestTracker(`${stub.url}/nothing-here`, { localStore: path.join(dir, 'mlruns'), log: () => {}, client: new MlflowClient(`${stub.url}/nothing-here`, fast) });
    const e = (await messageOf(tracker.startRun({ experiment: 'x', runName: 'y' }))) as Error;
    expect(e.message).toMatch(/^Tracking server http:\/\/127\.0\.0\.1:\d+\/nothing-here: GET \/api\/2\.0\/mlflow\/experiments\/get-by-name\?experiment_name=x: ENDPOINT_NOT_FOUND/);
  });
});
