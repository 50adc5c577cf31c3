/**
 * Sweeps on many machines, end to end, with real components: Debian's redis-server (started
 * here on a free loopback port, append-only file on), BullMQ and ioredis from npm, the MLflow
 * test server (artifact uploads and downloads through its proxy), and `exp worker` processes
 * of the built CLI, each in a folder of its own (its own outputs and journal: another machine).
 *
 * Skipped with a message only when redis-server is missing and GENLAB_REQUIRE_REDIS is unset.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from 'bullmq';
import { readCheckpoint } from '@genlab/core';
import { FileStore } from '@genlab/tracking';
import { type MlflowStub, startMlflowStub } from '@genlab/tracking/testing';
import { JOB_FORMAT, QUEUE_NAME, VARIANT_JOB } from '@genlab/queue';
import { redisSkipReason, startRedis, type TestRedis } from '@genlab/queue/testing';
import { bin, expAsync, write } from './helpers.js';

const skip = redisSkipReason();
if (skip) process.stderr.write(`queue.e2e: ${skip}\n`);

/** Short locks, so a dead worker's job is back in a couple of seconds (defaults are 30 s). */
const fastQueue = { GENLAB_QUEUE_LOCK_MS: '2000', GENLAB_QUEUE_STALLED_MS: '1000', GENLAB_QUEUE_BACKOFF_MS: '200', GENLAB_QUEUE_CANCEL_CHECK_MS: '500', GENLAB_TRACKING_FINAL_WAIT: '30', GENLAB_BLAS_THREADS: '1' };

const tinyToy = (steps: number, hidden = '16', extra = '') => `name: qtoy
seed: 1
model:
  name: gan/mlp
  latentDim: 4
  generator: { hidden: [${hidden}] }
  discriminator: { hidden: [${hidden}] }
dataset: { name: toy2d, mixture: ring8 }
train: { steps: ${steps}, batchSize: 32, logEvery: 5 }
callbacks:
  samples: false
  checkpoint: { every: 10 }
  progress: false
${extra}`;

interface WorkerProc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function startWorker(cwd: string, name: string, queueUrl: string, args: string[] = [], env: Record<string, string> = {}): WorkerProc {
  fs.mkdirSync(cwd, { recursive: true });
  const child = spawn(process.execPath, [bin, 'worker', '--queue', queueUrl, '--name', name, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...fastQueue, ...env } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sweepIdOf = (stdout: string) => /^sweep ([0-9a-f]{8}): /m.exec(stdout)?.[1] ?? '';

// Skipped only where redis-server is not installed and GENLAB_REQUIRE_REDIS is unset
// (redisSkipReason throws when it is set); .ci/run installs it and sets the variable.
describe.skipIf(Boolean(skip))('sweeps on a Redis queue (exp run --queue, exp worker)', () => {
  let redis: TestRedis;
  let stub: MlflowStub;
  let root: string;
  let queue: Queue;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-queue-e2e-'));
    redis = await startRedis();
    stub = await startMlflowStub();
    queue = new Queue(QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null } });
    queue.on('error', () => {}); // while the Redis test has it down: the connection comes back by itself
  });
  afterAll(async () => {
    await queue?.close();
    await stub?.close();
    await redis?.stop();
  });

  const submit = (cwd: string, cfg: string, args: string[], env: Record<string, string> = {}) =>
    expAsync(['run', cfg, '--set', `tracking.uri=${stub.url}`, '--queue', redis.url, ...args], cwd, { ...fastQueue, ...env });
  const sweepRuns = (sweepId: string) => [...stub.runs.values()].filter((r) => r.tags.get('genlab.sweep') === sweepId);
  const variantRuns = (sweepId: string) => sweepRuns(sweepId).filter((r) => r.tags.get('genlab.sweep.role') === 'variant').sort((a, b) => Number(a.tags.get('genlab.sweep.index')) - Number(b.tags.get('genlab.sweep.index')));
  const parentRun = (sweepId: string) => sweepRuns(sweepId).find((r) => r.tags.get('genlab.sweep.role') === 'parent')!;
  const steps = (run: ReturnType<typeof variantRuns>[number], key = 'loss_d') => (run.metrics.get(key) ?? []).map((p) => p.step);
  const latestCheckpointStep = (run: ReturnType<typeof variantRuns>[number]) => {
    const b = stub.artifacts.get(`${run.info.experiment_id}/${run.info.run_id}/artifacts/genlab/checkpoint/latest.json`);
    return b ? (JSON.parse(b.toString()) as { step: number }).step : -1;
  };

  it('three workers, a 9-variant sweep: each variant FINISHED exactly once under the parent; exp compare --sweep lists those nine; submitting it again adds nothing', async () => {
    const cwd = path.join(root, 'nine');
    fs.mkdirSync(cwd, { recursive: true });
    const cfg = write(cwd, 'toy.yaml', tinyToy(40));
    const sub = await submit(cwd, cfg, ['--sweep', 'seed=1,2,3', '--sweep', 'model.latentDim=2,4,8']);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sweepIdOf(sub.stdout);
    expect(sub.stdout).toContain(`sweep ${id}: 9 jobs queued; parent run`);
    expect(sub.stdout).toContain(`pnpm exp worker --queue ${redis.url}`);
    // The runs exist on the server before any worker: SCHEDULED, nested under the parent.
    expect(variantRuns(id).map((r) => r.info.status)).toEqual(Array(9).fill('SCHEDULED'));

    const workers = [1, 2, 3].map((k) => startWorker(path.join(cwd, `w${k}`), `w${k}`, redis.url, ['--idle-exit', '4']));
    const wait = await expAsync(['sweep', 'status', id, '--queue', redis.url, '--wait'], cwd);
    expect(wait.code, wait.stderr).toBe(0);
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes, workers.map((w) => w.output()).join('\n')).toEqual([0, 0, 0]);

    const parent = parentRun(id);
    const runs = variantRuns(id);
    expect(runs).toHaveLength(9);
    for (const r of runs) {
      expect(r.info.status).toBe('FINISHED');
      expect(r.tags.get('mlflow.parentRunId')).toBe(parent.info.run_id);
      // Each step logged once, by one attempt.
      expect(steps(r)).toEqual([5, 10, 15, 20, 25, 30, 35, 40]);
      expect(r.tags.get('genlab.queue.attempt')).toBe('1');
    }
    expect(parent.info.status).toBe('FINISHED');
    // Each variant ran once, on some worker: 9 FINISHED lines over all the workers' output.
    const finished = workers.flatMap((w) => w.output().match(/: FINISHED at step 40/g) ?? []);
    expect(finished).toHaveLength(9);
    const jobs = await queue.getJobs(['completed']);
    expect(jobs.filter((j) => j.data.sweepId === id).map((j) => j.attemptsMade)).toEqual(Array(9).fill(1));

    const c = await expAsync(['compare', '--sweep', id, '--source', stub.url, '--format', 'json'], cwd);
    expect(c.code, c.stderr).toBe(0);
    const table = JSON.parse(c.stdout) as { columns: string[]; rows: (string | number | null)[][] };
    expect(table.rows).toHaveLength(9);
    expect(table.rows.map((row) => row[table.columns.indexOf('run')]).sort()).toEqual(runs.map((r) => r.info.run_name).sort());

    const st = await expAsync(['sweep', 'status', id, '--queue', redis.url], cwd);
    expect(st.stdout).toContain(`sweep ${id} (qtoy, 9 variants; parent run ${parent.info.run_id} on ${stub.url}): 9 finished`);

    // The dashboard's sweep view reads the same status (exp ui --queue).
    const json = await expAsync(['sweep', 'status', id, '--queue', redis.url, '--format', 'json'], cwd);
    const ui = spawn(process.execPath, [bin, 'ui', stub.url, '--queue', redis.url, '--port', '0'], { cwd });
    try {
      let out = '';
      ui.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const url = await until('the dashboard', () => /: (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out)?.[1], 30_000);
      const fromUi = (await (await fetch(`${url}/api/sweeps/${id}/queue`)).json()) as { variants: { state: string; runId: string }[] };
      const fromCli = JSON.parse(json.stdout) as { variants: { state: string; runId: string }[] };
      expect(fromUi.variants.map((v) => [v.state, v.runId])).toEqual(fromCli.variants.map((v) => [v.state, v.runId]));
      expect(fromUi.variants.map((v) => v.state)).toEqual(Array(9).fill('finished'));
    } finally {
      ui.kill('SIGTERM');
    }

    // The same sweep again: the same id, no new job, no new run.
    const again = await submit(cwd, cfg, ['--sweep', 'seed=1,2,3', '--sweep', 'model.latentDim=2,4,8']);
    expect(again.code, again.stderr).toBe(0);
    expect(sweepIdOf(again.stdout)).toBe(id);
    expect(again.stdout).toContain('0 jobs queued (9 of 9 were already in the queue');
    expect(sweepRuns(id)).toHaveLength(10);
    expect((await queue.getJobs(['waiting', 'delayed', 'active'])).filter((j) => j.data.sweepId === id)).toHaveLength(0);
  });

  it('a worker killed with -9 mid-variant: another worker resumes it from the server\'s checkpoint, in the same run, no point twice, and the final weights equal an uninterrupted run', async () => {
    const cwd = path.join(root, 'kill');
    fs.mkdirSync(cwd, { recursive: true });
    const cfg = write(cwd, 'toy.yaml', tinyToy(400, '64, 64'));
    const sub = await submit(cwd, cfg, ['--sweep', 'seed=7']);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sweepIdOf(sub.stdout);
    const [run] = variantRuns(id);
    const a = startWorker(path.join(cwd, 'a'), 'a', redis.url);
    await until('a checkpoint past step 40 on the server', () => latestCheckpointStep(run!) >= 40);
    a.child.kill('SIGKILL');
    await a.exited;
    const killedAt = latestCheckpointStep(run!);
    expect(killedAt).toBeLessThan(400);
    const b = startWorker(path.join(cwd, 'b'), 'b', redis.url, ['--max-jobs', '1']);
    expect(await b.exited, b.output()).toBe(0);
    expect(b.output()).toMatch(/downloaded the checkpoint at step \d+ \(uploaded by a;/);
    expect(variantRuns(id)).toHaveLength(1);
    const r = variantRuns(id)[0]!;
    expect(r.info.run_id).toBe(run!.info.run_id);
    expect(r.info.status).toBe('FINISHED');
    const expected = Array.from({ length: 80 }, (_, i) => (i + 1) * 5);
    expect(steps(r)).toEqual(expected);
    expect(steps(r, 'loss_g')).toEqual(expected);

    // The same variant, uninterrupted, on one machine: the same weights, bit for bit.
    const alone = await expAsync(['run', path.join(cwd, 'b', 'outputs', 'queue', `${id}-1.yaml`), '--set', 'tracking.uri=file:./mlruns-alone'], cwd, { GENLAB_BLAS_THREADS: '1' });
    expect(alone.code, alone.stderr).toBe(0);
    const aloneId = /run ([0-9a-f]{32}) FINISHED/.exec(alone.stdout)![1]!;
    const resumed = readCheckpoint(path.join(cwd, 'b', 'outputs', r.info.run_id, 'checkpoints', 'last')).state;
    const straight = readCheckpoint(path.join(cwd, 'outputs', aloneId, 'checkpoints', 'last')).state;
    expect(Object.keys(resumed).sort()).toEqual(Object.keys(straight).sort());
    for (const k of Object.keys(straight)) expect(Buffer.from(resumed[k]!.data.buffer).equals(Buffer.from(straight[k]!.data.buffer)), k).toBe(true);
  });

  it('SIGTERM to a worker: the variant checkpoints, goes back to the queue and resumes on another worker', async () => {
    const cwd = path.join(root, 'term');
    fs.mkdirSync(cwd, { recursive: true });
    const cfg = write(cwd, 'toy.yaml', tinyToy(400, '64, 64'));
    const sub = await submit(cwd, cfg, ['--sweep', 'seed=8']);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sweepIdOf(sub.stdout);
    const [run] = variantRuns(id);
    const a = startWorker(path.join(cwd, 'a'), 'a', redis.url);
    await until('a checkpoint past step 40', () => latestCheckpointStep(run!) >= 40);
    a.child.kill('SIGTERM');
    expect(await a.exited, a.output()).toBe(143);
    expect(a.output()).toMatch(/handed back to the queue at step \d+/);
    const handedAt = Number(/handed back to the queue at step (\d+)/.exec(a.output())![1]);
    expect(handedAt).toBeLessThan(400);
    // Its last checkpoint is the step it stopped at, uploaded before it let go.
    expect(latestCheckpointStep(variantRuns(id)[0]!)).toBe(handedAt);
    expect(variantRuns(id)[0]!.info.status).toBe('KILLED');
    const job = (await queue.getJob(`${id}-1`))!;
    expect(await job.getState()).toBe('waiting');
    expect(job.attemptsMade).toBe(0);

    const b = startWorker(path.join(cwd, 'b'), 'b', redis.url, ['--max-jobs', '1']);
    expect(await b.exited, b.output()).toBe(0);
    expect(b.output()).toContain(`downloaded the checkpoint at step ${handedAt} (uploaded by a;`);
    const r = variantRuns(id)[0]!;
    expect(r.info.status).toBe('FINISHED');
    // Every 5 steps, and the step it was stopped at (a logging window ends at every checkpoint): each once.
    const expected = [...new Set([...Array.from({ length: 80 }, (_, i) => (i + 1) * 5), handedAt])].sort((x, y) => x - y);
    expect(steps(r)).toEqual(expected);
  });

  it('exp sweep cancel stops a running variant (KILLED, resumable) and removes queued ones; exp sweep retry brings them back into the same runs', async () => {
    const cwd = path.join(root, 'cancel');
    fs.mkdirSync(cwd, { recursive: true });
    const cfg = write(cwd, 'toy.yaml', tinyToy(400, '64, 64'));
    const sub = await submit(cwd, cfg, ['--sweep', 'seed=41,42']);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sweepIdOf(sub.stdout);
    const [first] = variantRuns(id);
    const a = startWorker(path.join(cwd, 'a'), 'a', redis.url, ['--idle-exit', '3']);
    await until('a checkpoint past step 40', () => latestCheckpointStep(first!) >= 40);
    const c = await expAsync(['sweep', 'cancel', id, '--queue', redis.url], cwd);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain(`sweep ${id} cancelled: 1 queued variant(s) removed, 1 running variant(s) stopping`);
    expect(await a.exited, a.output()).toBe(0);
    const stoppedAt = Number(/cancelled \(exp sweep cancel\) at step (\d+)/.exec(a.output())?.[1]);
    expect(stoppedAt).toBeLessThan(400);
    expect(variantRuns(id).map((r) => r.info.status)).toEqual(['KILLED', 'SCHEDULED']);
    expect(parentRun(id).info.status).toBe('KILLED');
    const st = await expAsync(['sweep', 'status', id, '--queue', redis.url], cwd);
    expect(st.stdout).toContain('2 cancelled (cancelled)');

    const r = await expAsync(['sweep', 'retry', id, '--queue', redis.url], cwd);
    expect(r.stdout).toContain(`sweep ${id}: 2 variant(s) back in the queue (1, 2)`);
    const b = startWorker(path.join(cwd, 'a'), 'b', redis.url, ['--idle-exit', '3']);
    expect(await b.exited, b.output()).toBe(0);
    expect(b.output()).toContain(`resuming from this machine's checkpoint at step ${stoppedAt}`);
    expect(variantRuns(id).map((v) => v.info.status)).toEqual(['FINISHED', 'FINISHED']);
    expect(sweepRuns(id)).toHaveLength(3); // the same parent and two variant runs: none made anew
    expect(variantRuns(id)[0]!.info.run_id).toBe(first!.info.run_id);
    expect(parentRun(id).info.status).toBe('FINISHED');
    const again = steps(variantRuns(id)[0]!);
    expect(new Set(again).size).toBe(again.length);
    expect(again.at(-1)).toBe(400);
  });

  it('the MLflow server down mid-variant: the journal keeps the points, the checkpoint upload is retried, and the job is not done before its final state is on the server', async () => {
    const cwd = path.join(root, 'mlflow-down');
    fs.mkdirSync(cwd, { recursive: true });
    const cfg = write(cwd, 'toy.yaml', tinyToy(400, '64, 64'));
    const sub = await submit(cwd, cfg, ['--sweep', 'seed=9']);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sweepIdOf(sub.stdout);
    const [run] = variantRuns(id);
    const w = startWorker(path.join(cwd, 'w'), 'w', redis.url, ['--max-jobs', '1']);
    await until('a checkpoint past step 40', () => latestCheckpointStep(run!) >= 40);
    stub.down = true;
    try {
      await until('a refused push', () => /did not take the run's points up to step \d+|could not upload the checkpoint/.test(w.output()));
      await new Promise((r) => setTimeout(r, 1500));
      expect(await (await queue.getJob(`${id}-1`))!.getState()).toBe('active');
    } finally {
      stub.down = false;
    }
    expect(await w.exited, w.output()).toBe(0);
    const r = variantRuns(id)[0]!;
    expect(r.info.status).toBe('FINISHED');
    expect(steps(r)).toEqual(Array.from({ length: 80 }, (_, i) => (i + 1) * 5));
    expect(latestCheckpointStep(r)).toBe(400);
    expect(await (await queue.getJob(`${id}-1`))!.getState()).toBe('completed');
  });

  it('Redis restarted mid-sweep (killed, then back on its append-only file): nothing lost, nothing run twice', async () => {
    const cwd = path.join(root, 'redis');
    fs.mkdirSync(cwd, { recursive: true });
    const cfg = write(cwd, 'toy.yaml', tinyToy(200));
    const sub = await submit(cwd, cfg, ['--sweep', 'seed=11,12,13,14']);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sweepIdOf(sub.stdout);
    // Locks long enough to outlast the outage: a worker that cannot reach Redis keeps training.
    const env = { GENLAB_QUEUE_LOCK_MS: '20000', GENLAB_QUEUE_STALLED_MS: '5000' };
    const workers = [1, 2].map((k) => startWorker(path.join(cwd, `w${k}`), `w${k}`, redis.url, ['--idle-exit', '4'], env));
    await until('a variant finished', () => variantRuns(id).some((r) => r.info.status === 'FINISHED'));
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1500));
    await redis.start();
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes, workers.map((w) => w.output()).join('\n')).toEqual([0, 0]);
    const runs = variantRuns(id);
    expect(runs.map((r) => r.info.status), workers.map((w) => w.output()).join('\n')).toEqual(['FINISHED', 'FINISHED', 'FINISHED', 'FINISHED']);
    for (const r of runs) expect(steps(r)).toEqual(Array.from({ length: 40 }, (_, i) => (i + 1) * 5));
    const out = workers.map((w) => w.output()).join('\n');
    for (let k = 1; k <= 4; k++) expect(out.match(new RegExp(`${id}-${k}: FINISHED at step 200`, 'g')), out).toHaveLength(1);
    const jobs = (await queue.getJobs(['completed'])).filter((j) => j.data.sweepId === id);
    expect(jobs).toHaveLength(4);
    expect(parentRun(id).info.status).toBe('FINISHED');
  });

  it('--idle-exit does not leave a job locked by nobody: a job whose holder vanished without a word (a dead worker, or Redis gone before it answered) is run once its lock runs out', async () => {
    const cwd = path.join(root, 'orphan');
    fs.mkdirSync(cwd, { recursive: true });
    const cfg = write(cwd, 'toy.yaml', tinyToy(40));
    const sub = await submit(cwd, cfg, ['--sweep', 'seed=71']);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sweepIdOf(sub.stdout);
    // A holder that takes the job and then says nothing: what a worker is after Redis ran its
    // "take the next job" command but died before answering it, or after kill -9.
    const ghost = new Worker(QUEUE_NAME, null, { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }, lockDuration: 4000 });
    ghost.on('error', () => {});
    try {
      const taken = await ghost.getNextJob('ghost-token');
      expect(taken?.id).toBe(`${id}-1`);
      let renewing = true;
      const renew = setInterval(() => renewing && void taken!.extendLock('ghost-token', 4000).catch(() => {}), 500);
      const w = startWorker(path.join(cwd, 'w'), 'w', redis.url, ['--idle-exit', '1']);
      try {
        await until('the worker up', () => w.output().includes('waiting for jobs'));
        renewing = false; // from here the lock only runs down
      } finally {
        clearInterval(renew);
      }
      expect(await w.exited, w.output()).toBe(0);
      expect(w.output()).toContain(`${id}-1 is active with a lock nobody renews`);
      expect(w.output().match(new RegExp(`${id}-1: FINISHED at step 40`, 'g')), w.output()).toHaveLength(1);
      expect(variantRuns(id).map((r) => r.info.status)).toEqual(['FINISHED']);
      expect(steps(variantRuns(id)[0]!)).toEqual(Array.from({ length: 8 }, (_, i) => (i + 1) * 5));
      expect(await (await queue.getJob(`${id}-1`))!.getState()).toBe('completed');
    } finally {
      await ghost.close(true);
    }
  });

  it('Redis frozen for longer than the job lock: the worker that lost the lock stops at once and writes nothing more; another worker resumes the variant, each point once, FINISHED once', async () => {
    const cwd = path.join(root, 'lost-lock');
    fs.mkdirSync(cwd, { recursive: true });
    // Long enough to be mid-training when Redis comes back (a worker trains on while Redis is frozen).
    const cfg = write(cwd, 'toy.yaml', tinyToy(4000, '64, 64'));
    const sub = await submit(cwd, cfg, ['--sweep', 'seed=61']);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sweepIdOf(sub.stdout);
    const [run] = variantRuns(id);
    // --max-jobs 1: a job it lost counts as ended, so worker a stops then and b takes the job over.
    const a = startWorker(path.join(cwd, 'a'), 'a', redis.url, ['--max-jobs', '1']);
    await until('a checkpoint past step 40 on the server', () => latestCheckpointStep(run!) >= 40);
    // Its idle time must outlast the freeze and the stalled-job check after it (an idle-exit stops its stalled checker too).
    const b = startWorker(path.join(cwd, 'b'), 'b', redis.url, ['--idle-exit', '15']);
    await until('worker b waiting', () => b.output().includes('waiting for jobs'));
    // SIGSTOP: connections stay open and nothing answers, for 2.5 locks (the lock is 2 s here).
    await redis.pause(5000);
    const codes = await Promise.race([Promise.all([a.exited, b.exited]), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the workers did not stop:\n${a.output()}\n${b.output()}`)), 120_000))]);
    const out = `${a.output()}\n${b.output()}`;
    expect(codes, out).toEqual([0, 0]);
    expect(a.output()).toContain(`${id}-1: lost the job's lock; stopping it without writing to the server`);
    expect(a.output()).toMatch(new RegExp(`${id}-1: stopped at step \\d+ after losing the lock`));
    expect(a.output()).not.toContain('FINISHED at step 4000');
    expect(out).toMatch(/\[worker b\] .*downloaded the checkpoint at step \d+ \(uploaded by a;/);
    expect(out.match(/FINISHED at step 4000/g)).toHaveLength(1);
    const r = variantRuns(id)[0]!;
    expect(r.info.status).toBe('FINISHED');
    expect(r.tags.get('genlab.queue.worker')).toBe('b');
    const expected = Array.from({ length: 800 }, (_, i) => (i + 1) * 5);
    expect(steps(r)).toEqual(expected);
    expect(steps(r, 'loss_g')).toEqual(expected);
    expect(await (await queue.getJob(`${id}-1`))!.getState()).toBe('completed');
  });

  it('a variant that fails deterministically ends FAILED with its reason after its attempts; the others finish; --wait exits 1', async () => {
    const cwd = path.join(root, 'fail');
    fs.mkdirSync(cwd, { recursive: true });
    const cfg = write(cwd, 'toy.yaml', tinyToy(40));
    const w = startWorker(path.join(cwd, 'w'), 'w', redis.url, ['--idle-exit', '4']);
    const sub = await submit(cwd, cfg, ['--sweep', 'model.optimizerG.lr=0.0002,1e12', '--attempts', '2', '--wait']);
    expect(sub.code, sub.stderr).toBe(1);
    const id = sweepIdOf(sub.stdout);
    expect(await w.exited, w.output()).toBe(0);
    const [ok, bad] = variantRuns(id);
    expect(ok!.info.status).toBe('FINISHED');
    expect(bad!.info.status).toBe('FAILED');
    expect(bad!.tags.get('genlab.stop_reason')).toMatch(/non-finite .* gave up after 2 rollbacks/);
    expect(bad!.tags.get('genlab.queue.attempts')).toBe('2');
    const job = (await queue.getJob(`${id}-2`))!;
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(2);
    expect(job.failedReason).toMatch(/non-finite/);
    expect(parentRun(id).info.status).toBe('FAILED');
    const st = await expAsync(['sweep', 'status', id, '--queue', redis.url], cwd);
    expect(st.stdout).toMatch(/^2 {2}model\.optimizerG\.lr=1e12 +[0-9a-f]{32} +failed +2\/2 +non-finite/m);
  });

  it('a shared filesystem (--shared-fs, a file: store): a worker killed with -9 mid-variant, the variant resumed by another from its shared run folder into the same run, no point twice, the weights of an uninterrupted run; a worker that does not see the folders hands the job back and stops', async () => {
    const cwd = path.join(root, 'shared');
    fs.mkdirSync(cwd, { recursive: true });
    // The "shared filesystem": one folder that every worker (each in a folder of its own) sees at the same path.
    const cfg = write(cwd, 'toy.yaml', tinyToy(300, '64, 64', 'tracking: { uri: "file:./nfs/mlruns" }\noutput: { dir: ./nfs/outputs }\n'));
    const sub = await expAsync(['run', cfg, '--sweep', 'seed=51,52', '--queue', redis.url, '--shared-fs'], cwd, fastQueue);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sweepIdOf(sub.stdout);
    const storeDir = path.join(cwd, 'nfs', 'mlruns');
    const outputs = path.join(cwd, 'nfs', 'outputs');
    expect(sub.stdout).toContain(`on file:${storeDir}`);
    expect(sub.stdout).toContain(`mounts ${storeDir} and ${outputs} at these paths`);
    const store = new FileStore(storeDir, { warn: () => {} });
    const runsOf = () => store.listRuns().filter((r) => r.tags['genlab.sweep'] === id);
    const variants = () => runsOf().filter((r) => r.tags['genlab.sweep.role'] === 'variant').sort((a, b) => Number(a.tags['genlab.sweep.index']) - Number(b.tags['genlab.sweep.index']));
    expect(variants().map((r) => r.status)).toEqual(['SCHEDULED', 'SCHEDULED']);
    const first = variants()[0]!.meta.run_id;
    const checkpointStep = () => {
      try {
        return (JSON.parse(fs.readFileSync(path.join(outputs, first, 'run.json'), 'utf8')) as { checkpointStep?: number }).checkpointStep ?? -1;
      } catch {
        return -1;
      }
    };

    const a = startWorker(path.join(cwd, 'a'), 'a', redis.url);
    await until('a checkpoint past step 40 in the shared run folder', () => checkpointStep() >= 40);
    a.child.kill('SIGKILL');
    await a.exited;
    expect(checkpointStep()).toBeLessThan(300);
    const workers = ['b', 'c'].map((n) => startWorker(path.join(cwd, n), n, redis.url, ['--idle-exit', '4']));
    const codes = await Promise.all(workers.map((w) => w.exited));
    const out = workers.map((w) => w.output()).join('\n');
    expect(codes, out).toEqual([0, 0]);
    expect(out).toMatch(new RegExp(`${id}-1: resuming from the checkpoint in the shared run folder at step \\d+`));
    expect(out).not.toContain('uploaded');
    expect(out).not.toContain('downloaded');

    const runs = variants();
    expect(runs.map((r) => r.meta.run_id)[0]).toBe(first);
    expect(runsOf()).toHaveLength(3); // the parent and two variants: none made anew
    const expected = Array.from({ length: 60 }, (_, i) => (i + 1) * 5);
    for (const r of runs) {
      expect(r.status).toBe('FINISHED');
      expect(r.tags['mlflow.parentRunId']).toBe(runsOf().find((p) => p.tags['genlab.sweep.role'] === 'parent')!.meta.run_id);
      // Every point once, the killed worker's and the resuming worker's together.
      expect(store.readMetric(r.meta.run_id, 'loss_d').map((p) => p.step)).toEqual(expected);
    }
    expect(runsOf().find((p) => p.tags['genlab.sweep.role'] === 'parent')!.status).toBe('FINISHED');
    const c = await expAsync(['compare', '--sweep', id, '--source', storeDir, '--format', 'json'], cwd);
    expect(c.code, c.stderr).toBe(0);
    expect((JSON.parse(c.stdout) as { rows: unknown[] }).rows).toHaveLength(2);

    // The killed variant's weights equal those of the same variant run straight through.
    // The job's frozen config as worker a wrote it (b or c, whichever took the job back, wrote the same).
    const alone = await expAsync(['run', path.join(cwd, 'a', 'outputs', 'queue', `${id}-1.yaml`), '--set', 'tracking.uri=file:./mlruns-alone', '--set', 'output.dir=./alone'], cwd, { GENLAB_BLAS_THREADS: '1' });
    expect(alone.code, alone.stderr).toBe(0);
    const aloneId = /run ([0-9a-f]{32}) FINISHED/.exec(alone.stdout)![1]!;
    const resumed = readCheckpoint(path.join(outputs, first, 'checkpoints', 'last')).state;
    const straight = readCheckpoint(path.join(cwd, 'alone', aloneId, 'checkpoints', 'last')).state;
    expect(Object.keys(resumed).sort()).toEqual(Object.keys(straight).sort());
    for (const k of Object.keys(straight)) expect(Buffer.from(resumed[k]!.data.buffer).equals(Buffer.from(straight[k]!.data.buffer)), k).toBe(true);

    // A worker on a machine without the shared folders: the job goes back untouched, the worker stops (exit 2) and says why.
    const later = await expAsync(['run', cfg, '--sweep', 'seed=53', '--queue', redis.url, '--shared-fs'], cwd, fastQueue);
    const laterId = sweepIdOf(later.stdout);
    fs.renameSync(path.join(cwd, 'nfs'), path.join(cwd, 'nfs-unmounted'));
    try {
      const lost = startWorker(path.join(cwd, 'd'), 'd', redis.url);
      expect(await lost.exited, lost.output()).toBe(2);
      expect(lost.output()).toContain(`this machine does not see the sweep's shared tracking store ${storeDir}`);
      const job = (await queue.getJob(`${laterId}-1`))!;
      expect(await job.getState()).toBe('waiting');
      expect(job.attemptsMade).toBe(0);
      expect(fs.existsSync(path.join(cwd, 'nfs'))).toBe(false); // nothing made in its place
    } finally {
      fs.renameSync(path.join(cwd, 'nfs-unmounted'), path.join(cwd, 'nfs'));
    }
    await expAsync(['sweep', 'cancel', laterId, '--queue', redis.url], cwd);
  });

  it('refuses up front: a file: tracking URI, a bad queue URL, an unreachable Redis (exit 2); a worker refuses a job of another genlab version, naming both', async () => {
    const cwd = path.join(root, 'refuse');
    fs.mkdirSync(cwd, { recursive: true });
    const cfg = write(cwd, 'toy.yaml', tinyToy(10));
    const file = await expAsync(['run', cfg, '--sweep', 'seed=1,2', '--queue', redis.url], cwd);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain("A sweep on a queue needs an MLflow server as its tracking store");
    expect(file.stderr).toContain("'file:./mlruns' is a folder on this machine");
    expect(file.stderr).toContain('add --shared-fs (launcher: { sharedFs: true })');
    const bad = await expAsync(['run', cfg, '--sweep', 'seed=1,2', '--set', `tracking.uri=${stub.url}`, '--queue', 'http://127.0.0.1:6379'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('the queue is a Redis server, given as redis://host:port/db');
    const down = await expAsync(['run', cfg, '--sweep', 'seed=1,2', '--set', `tracking.uri=${stub.url}`, '--queue', 'redis://127.0.0.1:1/0'], cwd);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/The queue's Redis server redis:\/\/127\.0\.0\.1:1\/0 cannot be reached \(ECONNREFUSED\)/);

    // A launcher: block in the config says the same as --queue (and --attempts).
    const launched = write(cwd, 'launched.yaml', tinyToy(10, '16', `sweep:\n  seed: [31, 32]\nlauncher:\n  queue: ${redis.url}\n  attempts: 1\n`));
    const viaBlock = await expAsync(['run', launched, '--set', `tracking.uri=${stub.url}`], cwd);
    expect(viaBlock.code, viaBlock.stderr).toBe(0);
    const blockId = sweepIdOf(viaBlock.stdout);
    expect(viaBlock.stdout).toContain(`sweep ${blockId}: 2 jobs queued`);
    expect((await queue.getJob(`${blockId}-2`))!.opts.attempts).toBe(1);
    await expAsync(['sweep', 'cancel', blockId, '--queue', redis.url], cwd);

    // A job made by another release line of genlab.
    const sub = await submit(cwd, cfg, ['--sweep', 'seed=21']);
    const id = sweepIdOf(sub.stdout);
    const job = (await queue.getJob(`${id}-1`))!;
    await job.remove();
    await queue.add(VARIANT_JOB, { ...job.data, format: JOB_FORMAT, genlabVersion: '9.0.0' }, { jobId: `${id}-1`, attempts: 3 });
    const w = startWorker(path.join(cwd, 'w'), 'w', redis.url, ['--max-jobs', '1']);
    expect(await w.exited, w.output()).toBe(0);
    expect(w.output()).toContain('the job was made by genlab 9.0.0, this worker is genlab 0.1.0');
    const failed = (await queue.getJob(`${id}-1`))!;
    expect(await failed.getState()).toBe('failed');
    expect(failed.attemptsMade).toBe(1);
    expect(variantRuns(id)[0]!.info.status).toBe('FAILED');
    expect(variantRuns(id)[0]!.tags.get('genlab.stop_reason')).toContain('genlab 9.0.0');
  });
});
