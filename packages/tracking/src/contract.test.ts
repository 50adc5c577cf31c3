/**
 * The MLflow file store and the MLflow REST tracker through the same tracker contract, each
 * read back from where it writes: the file store's folders, and the test server that answers
 * as shared/MLFLOW.md records.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { describeTrackerContract, type TrackedRun } from '@genlab/core/testing';
import { FileStore, fileTracker } from './file-store.js';
import { restTracker } from './rest-tracker.js';
import { LOCAL_RUN_TAG } from './sync.js';
import { type MlflowStub, startMlflowStub } from './testing/mlflow-stub.js';

describeTrackerContract(fileTracker, {
  uri: () => `file:${fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-store-contract-'))}`,
  read(uri, runId): TrackedRun {
    const store = new FileStore(uri.slice('file:'.length));
    const run = store.readRun(runId);
    const artifacts: string[] = [];
    const walk = (d: string, rel: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name), `${rel}${e.name}/`);
        else artifacts.push(`${rel}${e.name}`);
      }
    };
    walk(path.join(run.dir, 'artifacts'), '');
    return { params: run.params, tags: run.tags, metrics: run.metrics, status: run.status, artifacts };
  },
});

let stub: MlflowStub;
beforeAll(async () => {
  stub = await startMlflowStub();
});
afterAll(async () => {
  await stub.close();
});
describeTrackerContract(restTracker, {
  uri: () => stub.url,
  baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-rest-contract-')),
  read(_uri, runId): TrackedRun {
    // The tracker's run id is its journal's; the server's run carries it as a tag.
    const run = [...stub.runs.values()].find((r) => r.tags.get(LOCAL_RUN_TAG) === runId);
    if (!run) throw new Error(`the server has no run for local run ${runId}`);
    const remoteId = run.info.run_id;
    const metrics: TrackedRun['metrics'] = {};
    for (const [key, points] of run.metrics) metrics[key] = [...points].sort((a, b) => a.step - b.step).map((p) => ({ step: p.step, value: p.value }));
    const artifacts = [...stub.artifacts.keys()].filter((k) => k.includes(remoteId)).map((k) => k.slice(k.indexOf('artifacts/') + 'artifacts/'.length));
    return { params: Object.fromEntries(run.params), tags: Object.fromEntries(run.tags), metrics, status: run.info.status, artifacts };
  },
});
