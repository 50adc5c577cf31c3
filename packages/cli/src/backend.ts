/**
 * Compute backend choice. Only the CLI picks a backend; model code never imports one.
 *
 * `auto` prefers the native TensorFlow binding (`@tensorflow/tfjs-node`, an optional
 * dependency that installs only where its installer can download libtensorflow), then the
 * wasm backend (SIMD), then the plain cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerHigherOrderGradients, UserError, type BackendName } from '@genlab/core';
import os from 'node:os';
import { installKernels, loadNativeBlas } from '@genlab/kernels';
import { registerThreadedWasm, restoreStockWasm, wasmThreadCount } from './wasm-threads.js';

export type { BackendName };

/** The backend that runs, and why it was chosen. */
export interface BackendChoice {
  name: string;
  reason: string;
}

async function tryTensorflow(): Promise<string | undefined> {
  try {
    await import('@tensorflow/tfjs-node');
    if (await tf.setBackend('tensorflow')) return undefined;
    return 'the tensorflow backend did not initialise';
  } catch (error) {
    const msg = (error as Error).message ?? String(error);
    if (/Cannot find (module|package)/.test(msg) && /tfjs-node/.test(msg)) return '@tensorflow/tfjs-node is not installed';
    if (/tfjs_binding/.test(msg)) return '@tensorflow/tfjs-node is installed but its native library is missing (its installer could not download libtensorflow)';
    return `@tensorflow/tfjs-node failed to load: ${msg.split('\n')[0]}`;
  }
}

/**
 * Threads for the wasm backend: GENLAB_WASM_THREADS when set; else one where the native BLAS
 * addon loads (its own threads run the products, the bulk of a step: measured, two wasm
 * threads beside two BLAS threads slowed the MLP GAN from 1,977 to 1,266 img/s); else the
 * cores left to each of the run's data-parallel replicas (`devices`; `auto` takes one replica
 * per core), at most 8 (the threaded build's worker pool).
 */
export function wasmThreadsWanted(devices: number | 'auto' = 1, cores = os.availableParallelism()): number {
  const set = process.env.GENLAB_WASM_THREADS;
  if (set !== undefined && set !== '') {
    const n = Number(set);
    if (!Number.isInteger(n) || n < 0) throw new UserError(`GENLAB_WASM_THREADS must be a whole number (0 or 1: the single-threaded build), got '${set}'`);
    return Math.max(1, Math.min(n, 8));
  }
  if (loadNativeBlas().blas) return 1;
  const replicas = devices === 'auto' ? cores : Math.max(1, devices);
  return Math.max(1, Math.min(Math.floor(cores / replicas), 8));
}

/**
 * Start the wasm backend. `failed` says why it could not; `note` says how many threads run,
 * or why the threaded build is not used when more than one thread was wanted.
 */
async function tryWasm(devices: number | 'auto' | undefined): Promise<{ failed?: string; note: string }> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    const threads = wasmThreadsWanted(devices);
    const why = threads > 1 ? await registerThreadedWasm(threads) : undefined;
    if (await tf.setBackend('wasm')) {
      const n = wasmThreadCount();
      return { note: n > 1 ? `; ${n} threads` : why ? `; single-threaded (${why})` : '' };
    }
    if (restoreStockWasm() && (await tf.setBackend('wasm'))) return { note: '; single-threaded (the threaded build did not start)' };
    return { failed: 'the wasm backend did not initialise', note: '' };
  } catch (error) {
    return { failed: `the wasm backend failed to load: ${(error as Error).message.split('\n')[0]}`, note: '' };
  }
}

async function useCpu(): Promise<void> {
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
}

/**
 * Select and initialise a backend, then install genlab's kernels for it (the wasm kernel
 * pack) and, on every backend, the gradients second-order derivatives need. Throws a
 * `UserError` when an explicitly requested backend cannot run.
 */
export async function chooseBackend(requested: BackendName, opts: { devices?: number | 'auto' } = {}): Promise<BackendChoice> {
  const choice = await select(requested, opts.devices);
  registerHigherOrderGradients();
  const kernels = installKernels(choice.name);
  if (kernels.description) choice.reason += ` + ${kernels.description}`;
  return choice;
}

async function select(requested: BackendName, devices: number | 'auto' | undefined): Promise<BackendChoice> {
  // Silence tfjs's "install tfjs-node" banner and other console warnings: we say what runs.
  tf.env().set('PROD', true);
  if (requested === 'tensorflow') {
    const why = await tryTensorflow();
    if (why) throw new UserError(`backend 'tensorflow' was requested but ${why}. Use backend: auto, wasm or cpu.`);
    return { name: 'tensorflow', reason: 'requested; native TensorFlow binding loaded' };
  }
  if (requested === 'wasm') {
    const wasm = await tryWasm(devices);
    if (wasm.failed) throw new UserError(`backend 'wasm' was requested but ${wasm.failed}`);
    return { name: 'wasm', reason: `requested${wasm.note}` };
  }
  if (requested === 'cpu') {
    await useCpu();
    return { name: 'cpu', reason: 'requested (plain JavaScript kernels: slow)' };
  }
  const noTf = await tryTensorflow();
  if (!noTf) return { name: 'tensorflow', reason: 'auto: native TensorFlow binding loaded' };
  const wasm = await tryWasm(devices);
  if (!wasm.failed) return { name: 'wasm', reason: `auto: ${noTf}; using the wasm backend (SIMD${wasm.note})` };
  await useCpu();
  return { name: 'cpu', reason: `auto: ${noTf}; ${wasm.failed}; using the plain cpu backend` };
}
