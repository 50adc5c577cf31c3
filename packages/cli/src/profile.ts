/**
 * `pnpm bench --profile <model>`: where a training step's time goes, kernel by kernel, next to
 * the same breakdown of the PyTorch twin (`torch.autograd.profiler`, bench/torch_gan.py and
 * bench/torch_rnn.py with `--profile`), both measured in this run, one thread each.
 *
 * genlab's side runs the steps under `tf.profile`: every kernel the engine runs, with its
 * shapes and its time as the backend measures it (the wasm backend and the native addon run
 * kernels synchronously, so that is wall-clock time of the kernel). Kernels are grouped by
 * name; GEMMs and convolutions also get their floating-point work, from their shapes, and so
 * GFLOP/s. What is not inside a kernel (the tape, gradient bookkeeping, JavaScript between
 * kernels) is the step's remainder, shown as one row.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { ensureDir } from '@genlab/core';
import type { BackendName } from './backend.js';
import { benchEnv, benchTrainer, BENCH_MODELS, lastJson, lastLine } from './bench.js';

/** One kernel (or op) group of a profile. */
export interface ProfileRow {
  name: string;
  count: number;
  /** Total milliseconds per step. */
  ms: number;
  /** Floating-point operations per step (GEMMs and convolutions), where known. */
  flops?: number;
}

export interface ProfileResult {
  model: string;
  backend: string;
  reason: string;
  steps: number;
  batch: number;
  /** Wall-clock milliseconds per step. */
  stepMs: number;
  rows: ProfileRow[];
}

const size = (s: number[] | undefined) => (s ? s.reduce((a, b) => a * b, 1) : 0);

/**
 * Floating-point work of one kernel from its shapes: 2·m·n·k for a GEMM (k from the first
 * input's size over the output's rows), 2·(output values)·(taps · input channels) for
 * convolutions and their gradients.
 */
export function kernelFlops(name: string, inputShapes: (number[] | undefined)[], outputShapes: (number[] | undefined)[]): number | undefined {
  const out = outputShapes[0];
  switch (name) {
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const a = inputShapes[0];
      if (!a || !out) return undefined;
      const n = out[out.length - 1]!;
      const k = (size(a) * n) / size(out);
      return 2 * size(out) * k;
    }
    case 'Conv2D':
    case 'FusedConv2D': {
      const f = inputShapes[1];
      return f && out ? 2 * size(out) * f[0]! * f[1]! * f[2]! : undefined;
    }
    case 'Conv2DBackpropInput': {
      // inputs: dy [N, Ho, Wo, Co], filter [kh, kw, Ci, Co] → dx [N, H, W, Ci].
      const dy = inputShapes[0];
      const f = inputShapes[1];
      return dy && f ? 2 * size(dy) * f[0]! * f[1]! * f[2]! : undefined;
    }
    case 'Conv2DBackpropFilter': {
      // inputs: x, dy [N, Ho, Wo, Co] → filter [kh, kw, Ci, Co].
      const dy = inputShapes[1];
      return dy && out ? 2 * size(dy) * out[0]! * out[1]! * out[2]! : undefined;
    }
    default:
      return undefined;
  }
}

/** Group a profile's kernels by name (per step), largest first. */
export function groupKernels(kernels: { name: string; ms: number; inputShapes: (number[] | undefined)[]; outputShapes: (number[] | undefined)[] }[], steps: number): ProfileRow[] {
  const by = new Map<string, ProfileRow>();
  for (const k of kernels) {
    // tf.profile also records ops with a custom gradient (`fusedConv2d__op`) around the kernel they run: not kernels, and counted twice.
    if (k.name.endsWith('__op')) continue;
    const row = by.get(k.name) ?? { name: k.name, count: 0, ms: 0 };
    row.count += 1 / steps;
    row.ms += k.ms / steps;
    const f = kernelFlops(k.name, k.inputShapes, k.outputShapes);
    if (f !== undefined) row.flops = (row.flops ?? 0) + f / steps;
    by.set(k.name, row);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}

/** Profile `steps` training steps of a bench model in this process (`exp bench --worker <model> --profile`). */
export async function profileWorker(modelKey: string, backend: BackendName, steps: number, batch: number): Promise<ProfileResult> {
  const { trainer, step, dispose, choice } = await benchTrainer(modelKey, backend, steps, batch);
  try {
    for (let i = 0; i < 3; i++) step(i); // warm-up: kernel set-up, optimizer slots
    const t0 = performance.now();
    const info = await tf.profile(() => {
      for (let i = 0; i < steps; i++) step(i);
    });
    const wall = performance.now() - t0;
    const kernels = await Promise.all(
      info.kernels.map(async (k) => {
        const t = await k.kernelTimeMs;
        return { name: k.name, ms: typeof t === 'number' ? t : 0, inputShapes: k.inputShapes as (number[] | undefined)[], outputShapes: k.outputShapes as (number[] | undefined)[] };
      }),
    );
    // tf.profile adds its own bookkeeping to the wall-clock time; the step time is measured apart.
    const t1 = performance.now();
    for (let i = 0; i < steps; i++) step(i);
    const stepMs = (performance.now() - t1) / steps;
    void wall;
    void trainer;
    return { model: modelKey, backend: choice.name, reason: choice.reason, steps, batch, stepMs, rows: groupKernels(kernels, steps) };
  } finally {
    await dispose();
  }
}

/** The table of one side. */
function table(title: string, stepMs: number, rows: ProfileRow[], top: number): string {
  const inside = rows.reduce((a, r) => a + r.ms, 0);
  const shown = rows.slice(0, top);
  const rest = rows.slice(top);
  const lines = [`${title}: ${stepMs.toFixed(2)} ms per step`, '| kernel | calls/step | ms/step | share | GFLOP/s |', '|---|---:|---:|---:|---:|'];
  const row = (name: string, count: number, ms: number, flops?: number) =>
    `| ${name} | ${count.toFixed(count < 10 ? 1 : 0)} | ${ms.toFixed(3)} | ${((100 * ms) / stepMs).toFixed(1)} % | ${flops && ms > 0 ? (flops / (ms * 1e6)).toFixed(1) : ''} |`;
  for (const r of shown) lines.push(row(r.name, r.count, r.ms, r.flops));
  if (rest.length) lines.push(row(`(${rest.length} others)`, rest.reduce((a, r) => a + r.count, 0), rest.reduce((a, r) => a + r.ms, 0)));
  lines.push(`| (outside kernels) | | ${Math.max(0, stepMs - inside).toFixed(3)} | ${((100 * Math.max(0, stepMs - inside)) / stepMs).toFixed(1)} % | |`);
  return lines.join('\n');
}

/** `pnpm bench --profile <model>`: both profiles, printed and written as JSON. */
export async function profileCommand(args: { model: string; steps: number; batch: number; backend?: BackendName; out?: string; top: number }): Promise<number> {
  const spec = BENCH_MODELS.find((m) => m.key === args.model);
  if (!spec) throw new Error(`--profile ${args.model}: expected one of ${BENCH_MODELS.map((m) => m.key).join(', ')}`);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '../../..');
  const log = (m: string) => process.stderr.write(m + '\n');
  const backend = args.backend ?? 'wasm';
  log(`bench --profile: genlab ${args.model} on ${backend}, ${args.steps} steps…`);
  const g = spawnSync(process.execPath, [path.join(here, 'bin.js'), 'bench', '--worker', args.model, '--profile', args.model, '--backend', backend, '--steps', String(args.steps), '--batch', String(args.batch)], {
    env: benchEnv({}),
    encoding: 'utf8',
  });
  const mine = lastJson(g.stdout ?? '') as ProfileResult | undefined;
  if (!mine) throw new Error(`genlab profile failed: ${lastLine(g.stderr)}`);
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  let torch: { step_ms: number; rows: ProfileRow[]; torch: string } | undefined;
  if (spawnSync(python, ['-c', 'import torch'], { env: benchEnv({}) }).status === 0) {
    log(`bench --profile: PyTorch ${args.model}, ${args.steps} steps…`);
    const script = path.join(root, 'bench', 'torch' in spec ? spec.torch : 'torch_gan.py');
    const t = spawnSync(python, [script, ...('torch' in spec ? [] : ['--model', spec.key]), '--steps', String(args.steps), '--batch', String(args.batch), '--threads', '1', '--profile'], { env: benchEnv({}), encoding: 'utf8' });
    torch = lastJson(t.stdout ?? '') as typeof torch;
    if (!torch) log(`bench --profile: PyTorch failed: ${lastLine(t.stderr)}`);
  } else log('bench --profile: PyTorch not found (apt-get install python3-torch libopenblas0-pthread): genlab side only');
  process.stdout.write(`${table(`genlab ${spec.label} on ${mine.backend} (${mine.reason}), batch ${args.batch}`, mine.stepMs, mine.rows, args.top)}\n\n`);
  if (torch) process.stdout.write(`${table(`PyTorch ${torch.torch} ${spec.label}, 1 thread, batch ${args.batch}`, torch.step_ms, torch.rows, args.top)}\n\n`);
  if (torch) process.stdout.write(`step time ratio (PyTorch / genlab): ${(torch.step_ms / mine.stepMs).toFixed(3)}x\n`);
  const out = args.out ?? path.join(root, 'bench', 'results', `profile-${args.model}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  ensureDir(path.dirname(out));
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), genlab: mine, torch: torch ?? null }, null, 2) + '\n');
  log(`bench --profile: written to ${out}`);
  return 0;
}
