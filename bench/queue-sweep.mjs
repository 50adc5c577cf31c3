#!/usr/bin/env node
// Wall-clock of a queued sweep with 1, 2, … workers on this machine, with real components: a
// redis-server on a free loopback port (append-only file on) and the MLflow test server
// (checkpoint uploads through its artifact proxy), `exp worker` processes of the built CLI,
// each in a folder of its own (another machine's outputs and journal).
//
//   pnpm build && node bench/queue-sweep.mjs [--workers 1,2,3] [--variants 6] [--steps 300] [--config configs/gan-mnist.yaml]
//
// Prints per worker count: the sweep's wall-clock (submit to the last variant FINISHED), the
// speed-up over one worker, the median time from a job's enqueue to a worker starting it, and
// the checkpoint uploads (count, median KiB and seconds). Each worker gets one BLAS thread
// when there is more than one worker (GENLAB_BLAS_THREADS=1, as `exp worker --concurrency`
// shares the cores); a lone worker uses its default.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { startMlflowStub } = await import(path.join(repo, 'packages/tracking/dist/testing/mlflow-stub.js'));
const { startRedis } = await import(path.join(repo, 'packages/queue/dist/testing/redis-server.js'));
const bin = path.join(repo, 'packages/cli/dist/bin.js');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const workerCounts = arg('workers', '1,2,3').split(',').map(Number);
const variants = Number(arg('variants', '6'));
const steps = Number(arg('steps', '300'));
const config = path.resolve(arg('config', path.join(repo, 'configs/gan-mnist.yaml')));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-queue-bench-'));
const redis = await startRedis();
const stub = await startMlflowStub();
const rows = [];
try {
  for (const n of workerCounts) {
    const cwd = path.join(root, `w${n}`);
    fs.mkdirSync(cwd, { recursive: true });
    // A different seed list per row: a new sweep each time (the same one would be found already queued).
    const seeds = Array.from({ length: variants }, (_, i) => 100 * n + i + 1).join(',');
    const t0 = performance.now();
    // Not spawnSync: the MLflow test server answers from this process's event loop.
    const sub = await new Promise((resolve) => {
      const c = spawn(process.execPath, [bin, 'run', config, '--set', `train.steps=${steps}`, '--set', `tracking.uri=${stub.url}`, '--sweep', `seed=${seeds}`, '--queue', redis.url], { cwd });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      c.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    if (sub.status !== 0) throw new Error(`submit failed: ${sub.stderr}`);
    const id = /^sweep ([0-9a-f]{8}): /m.exec(sub.stdout)[1];
    const env = { ...process.env, NO_COLOR: '1', ...(n > 1 ? { GENLAB_BLAS_THREADS: '1' } : {}) };
    const outs = [];
    await Promise.all(
      Array.from({ length: n }, (_, k) => {
        const dir = path.join(cwd, `worker${k + 1}`);
        fs.mkdirSync(dir, { recursive: true });
        const child = spawn(process.execPath, [bin, 'worker', '--queue', redis.url, '--name', `w${k + 1}`, '--idle-exit', '2'], { cwd: dir, env });
        let out = '';
        child.stderr.on('data', (d) => (out += d));
        child.stdout.on('data', (d) => (out += d));
        return new Promise((resolve, reject) =>
          child.on('close', (code) => {
            outs.push(out);
            if (code === 0) resolve();
            else reject(new Error(`worker ${k + 1} exited ${code}:\n${out.slice(-3000)}`));
          }),
        );
      }),
    );
    const text = outs.join('\n');
    const finishedLines = text.match(/: FINISHED at step \d+/g) ?? [];
    if (finishedLines.length !== variants) throw new Error(`${finishedLines.length} of ${variants} variants finished:\n${text.slice(-3000)}`);
    // The sweep ends at its last FINISHED; the workers' --idle-exit wait after it is not counted.
    const lastFinish = Math.max(...[...stub.runs.values()].filter((r) => r.tags.get('genlab.sweep') === id && r.tags.get('genlab.sweep.role') === 'variant').map((r) => Number(r.info.end_time)));
    const wall = (lastFinish - (Date.now() - (performance.now() - t0))) / 1000;
    const queued = [...text.matchAll(/queued ([\d.]+) s ago/g)].map((m) => Number(m[1]));
    const ups = [...text.matchAll(/uploaded \((\d+) KiB in ([\d.]+) s\)/g)].map((m) => ({ kib: Number(m[1]), s: Number(m[2]) }));
    rows.push({ workers: n, variants, steps, wallSeconds: wall, firstPickupSeconds: Math.min(...queued), uploads: ups.length, uploadKiB: median(ups.map((u) => u.kib)), uploadSeconds: median(ups.map((u) => u.s)) });
    process.stderr.write(`${n} worker(s): sweep ${id} of ${variants} variants × ${steps} steps in ${wall.toFixed(1)} s\n`);
  }
} finally {
  await stub.close();
  await redis.stop();
  fs.rmSync(root, { recursive: true, force: true });
}
const base = rows[0].wallSeconds;
console.log(`machine: ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} cores; ${path.relative(repo, config)}, ${variants} variants × ${steps} steps`);
console.log('| workers | sweep wall-clock | speed-up | first job picked up after | checkpoint uploads (median size, time) |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.workers} | ${r.wallSeconds.toFixed(1)} s | ${(base / r.wallSeconds).toFixed(2)}× | ${r.firstPickupSeconds.toFixed(1)} s | ${r.uploads} (${r.uploadKiB} KiB, ${r.uploadSeconds} s) |`);
