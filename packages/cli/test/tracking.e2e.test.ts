/**
 * End-to-end tests of MLflow server tracking through the real CLI, against a local server
 * that answers like MLflow (see shared/MLFLOW.md): a run logged to the server, and a run
 * made while the server was down, pushed later with `exp sync` (twice: no duplicates).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, MlflowClient } from '@genlab/tracking';
import { type MlflowStub, startMlflowStub } from '@genlab/tracking/testing';
import { expAsync, runIdOf, tiny, write } from './helpers.js';

describe('tracking to an MLflow server', () => {
  let cwd: string;
  let stub: MlflowStub;
  beforeAll(async () => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-rest-'));
    stub = await startMlflowStub();
  });
  afterAll(async () => {
    await stub.close();
  });

  it('logs a run to the server: params, metrics, tags, artifacts and the final status', async () => {
    // The server numbers experiments its own way: here the run's is 2, the local journal's 1.
    await new MlflowClient(stub.url).experimentId('someone-elses');
    const cfg = write(cwd, 'tiny.yaml', tiny());
    const r = await expAsync(['run', cfg, '--set', `tracking.uri=${stub.url}`], cwd);
    expect(r.code, r.stderr).toBe(0);
    const remote = [...stub.runs.values()].find((x) => x.tags.get('genlab.local_run_id') === runIdOf(r.stdout))!;
    expect(remote).toBeDefined();
    // The end-of-run line names the run as the server knows it.
    expect(remote.info.experiment_id).toBe('2');
    expect(new FileStore(path.join(cwd, 'mlruns')).readRun(runIdOf(r.stdout)).meta.experiment_id).toBe('1');
    expect(r.stdout).toContain(`  tracked: ${stub.url} (experiment 2, run ${remote.info.run_id})\n`);
    expect(remote.info.user_id).toBe(os.userInfo().username);
    expect(remote.tags.get('mlflow.user')).toBe(os.userInfo().username);
    expect(remote.info.status).toBe('FINISHED');
    expect(remote.info.start_time).toBeGreaterThan(0);
    expect(remote.params.get('model.latentDim')).toBe('8');
    expect(remote.tags.get('genlab.model')).toBe('gan/mlp');
    expect(remote.metrics.get('loss_d')!.map((p) => p.step)).toEqual([4, 8, 12]);
    const prefix = `${remote.info.experiment_id}/${remote.info.run_id}/artifacts/`;
    expect(stub.artifacts.has(`${prefix}samples/final.png`)).toBe(true);
    expect(stub.artifacts.has(`${prefix}config.yaml`)).toBe(true);
  });

  it('finishes a run locally while the server is down, and exp sync pushes it once', async () => {
    const cfg = write(cwd, 'tiny2.yaml', tiny());
    stub.down = true;
    const r = await expAsync(['run', cfg, '--set', `tracking.uri=${stub.url}`], cwd, { GENLAB_TRACKING_FINAL_WAIT: '1' });
    stub.down = false;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('is unreachable');
    expect(r.stderr).toContain(`Push it later with: pnpm exp sync ${path.join(cwd, 'mlruns')} --to ${stub.url}`);
    expect(r.stdout).toMatch(new RegExp(`  tracked: ${stub.url} \\(not on the server yet; local experiment 1, run [0-9a-f]{32}\\)\n`));
    const localId = runIdOf(r.stdout);
    expect(new FileStore(path.join(cwd, 'mlruns')).readRun(localId).status).toBe('FINISHED');
    const remoteOf = () => [...stub.runs.values()].filter((x) => x.tags.get('genlab.local_run_id') === localId);
    expect(remoteOf()).toHaveLength(0);

    const s1 = await expAsync(['sync', 'mlruns', '--to', stub.url], cwd);
    expect(s1.code, s1.stderr).toBe(0);
    expect(s1.stdout).toMatch(new RegExp(`${localId} -> [0-9a-f]{32} \\(created\\): \\d+ metric points, \\d+ params, \\d+ tags, \\d+ artifacts, status FINISHED`));
    const s2 = await expAsync(['sync', 'mlruns', '--to', stub.url], cwd);
    expect(s2.code).toBe(0);
    expect(s2.stdout).toContain(`${localId} -> ${remoteOf()[0]!.info.run_id}: up to date`);
    expect(remoteOf()).toHaveLength(1);
    expect(remoteOf()[0]!.metrics.get('loss_d')!.map((p) => p.step)).toEqual([4, 8, 12]);
    expect(remoteOf()[0]!.info.status).toBe('FINISHED');
  });

  it('exp compare reads the same runs from the server and from the local store', async () => {
    const fromServer = await expAsync(['compare', '--source', stub.url, '--format', 'csv'], cwd);
    expect(fromServer.code, fromServer.stderr).toBe(0);
    const local = await expAsync(['compare', '--source', 'mlruns', '--format', 'csv'], cwd);
    expect(local.code, local.stderr).toBe(0);
    const names = (csv: string) => csv.trim().split('\n').slice(1).map((l) => l.split(',')[0]).sort();
    expect(names(fromServer.stdout)).toHaveLength(2);
    expect(names(fromServer.stdout)).toEqual(names(local.stdout));
    expect(local.stdout.split('\n')[0]).toMatch(/^run,id,model,dataset,.*params,wall-clock s,img\/s$/);
  });

  it('refuses a bad sync target with exit 2', async () => {
    const r = await expAsync(['sync', 'nowhere', '--to', stub.url], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no local tracking store at ${path.join(cwd, 'nowhere')}`);
  });
});
