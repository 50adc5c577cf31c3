/**
 * Compute backend choice. Only the CLI picks a backend; model code never imports one.
 *
 * `auto` prefers the native TensorFlow binding (`@tensorflow/tfjs-node`, an optional
 * dependency that installs only where its installer can download libtensorflow), then the
 * wasm backend (SIMD), then the plain cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerHigherOrderGradients, UserError, type BackendName } from '@genlab/core';
import { installKernels } from '@genlab/kernels';

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

async function tryWasm(): Promise<string | undefined> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) {
      return undefined;
    }
    return 'the wasm backend did not initialise';
  } catch (error) {
    return `the wasm backend failed to load: ${(error as Error).message.split('\n')[0]}`;
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
export async function chooseBackend(requested: BackendName): Promise<BackendChoice> {
  const choice = await select(requested);
  registerHigherOrderGradients();
  const kernels = installKernels(choice.name);
  if (kernels.description) choice.reason += ` + ${kernels.description}`;
  return choice;
}

async function select(requested: BackendName): Promise<BackendChoice> {
  // Silence tfjs's "install tfjs-node" banner and other console warnings: we say what runs.
  tf.env().set('PROD', true);
  if (requested === 'tensorflow') {
    const why = await tryTensorflow();
    if (why) throw new UserError(`backend 'tensorflow' was requested but ${why}. Use backend: auto, wasm or cpu.`);
    return { name: 'tensorflow', reason: 'requested; native TensorFlow binding loaded' };
  }
  if (requested === 'wasm') {
    const why = await tryWasm();
    if (why) throw new UserError(`backend 'wasm' was requested but ${why}`);
    return { name: 'wasm', reason: 'requested' };
  }
  if (requested === 'cpu') {
    await useCpu();
    return { name: 'cpu', reason: 'requested (plain JavaScript kernels: slow)' };
  }
  const noTf = await tryTensorflow();
  if (!noTf) return { name: 'tensorflow', reason: 'auto: native TensorFlow binding loaded' };
  const noWasm = await tryWasm();
  if (!noWasm) return { name: 'wasm', reason: `auto: ${noTf}; using the wasm backend (SIMD)` };
  await useCpu();
  return { name: 'cpu', reason: `auto: ${noTf}; ${noWasm}; using the plain cpu backend` };
}
