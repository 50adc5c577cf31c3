/**
 * The wasm backend's multi-threaded SIMD build, in Node.
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD binary (XNNPACK over a pthreadpool of Web
 * Workers) but never loads it in Node (its WASM_HAS_MULTITHREAD_SUPPORT flag is false under
 * Node: tfjs issue 3830). Two things stand in the way, and this loader does both by hand:
 *
 * - The Emscripten loader starts its pthreads from a worker script that tfjs hands over as a
 *   Blob URL, which Node's worker_threads cannot load. The package carries the same script as
 *   a string (`wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`): it is written once to a
 *   file and the loader is pointed at it and at the package's own main script.
 * - The binary caps its pool at `emscripten_num_logical_cores() / 2` (it assumes two hardware
 *   threads per core), so on a 2-vCPU machine it would run one thread. The loader instantiates
 *   the binary itself (Emscripten's `instantiateWasm` hook) with that import answering twice
 *   the thread count asked for, so the pool has exactly `threads` threads.
 *
 * The result is a `BackendWasm` on the threaded module, registered as the `wasm` backend
 * before it is first initialised; every wasm kernel (tfjs's and genlab's pack) runs on it
 * unchanged. XNNPACK splits a product by output tiles, never along the summed axis, so results
 * do not depend on the thread count (the backend tests check threaded against the cpu backend).
 * No library does this: tfjs's own loader is the one that refuses Node.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread?: { unusedWorkers: { unref(): void }[]; runningWorkers: { unref(): void }[] };
  tfjs?: Record<string, unknown>;
  wasmMemory?: unknown;
}
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;
/** The part of the WebAssembly API used here (the project's TypeScript lib has no DOM types). */
interface WasmApi {
  instantiate(binary: Uint8Array, imports: Record<string, unknown>): Promise<{ instance: unknown; module: unknown }>;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The files of the threaded build, or why it cannot be used. */
function threadedFiles(): { dir: string; main: string; binary: string; factory: Factory; worker: string } | string {
  try {
    const dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
    const main = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
    const binary = path.join(dir, 'tfjs-backend-wasm-threaded-simd.wasm');
    const workerSrc = path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js');
    for (const f of [main, binary, workerSrc]) if (!fs.existsSync(f)) return `${path.basename(f)} is missing from @tensorflow/tfjs-backend-wasm`;
    const factory = require(main) as Factory;
    const { wasmWorkerContents } = require(workerSrc) as { wasmWorkerContents: string };
    // The package keeps the script in a template literal: "\n" inside its strings became real
    // newlines, which tfjs escapes again before making its Blob (as here).
    const text = wasmWorkerContents.replace(/\n/g, '\\n');
    const hash = crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
    const worker = path.join(os.tmpdir(), `genlab-tfjs-wasm-threads-${hash}.worker.js`);
    if (!fs.existsSync(worker)) {
      // Written under a unique name and renamed: processes starting together never read half a file.
      const tmp = `${worker}.${process.pid}.${Date.now()}.tmp`;
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, worker);
    }
    return { dir, main, binary, factory, worker };
  } catch (error) {
    return `the threaded wasm build could not be prepared: ${(error as Error).message.split('\n')[0]}`;
  }
}

let registered: number | undefined;
let stock: { factory: () => tf.KernelBackend | Promise<tf.KernelBackend>; priority: number } | undefined;

/**
 * Register the threaded wasm build with `threads` threads as the `wasm` backend (before the
 * first `tf.setBackend('wasm')`). Returns undefined when it is registered, else why not; the
 * stock single-threaded backend then stays registered.
 */
export async function registerThreadedWasm(threads: number): Promise<string | undefined> {
  if (registered !== undefined) return registered === threads ? undefined : `the wasm backend already runs ${registered} threads`;
  if (typeof SharedArrayBuffer === 'undefined') return 'this Node has no SharedArrayBuffer';
  const files = threadedFiles();
  if (typeof files === 'string') return files;
  const wasmPkg = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as {
    BackendWasm: new (module: EmscriptenModule) => tf.KernelBackend;
    setThreadsCount(n: number): void;
  };
  const binary = fs.readFileSync(files.binary);
  const init = async (): Promise<tf.KernelBackend> => {
    // Emscripten's hook has no way to report a failed instantiation: it rejects the backend's
    // initialisation here instead, so that the caller can fall back to the stock build.
    let fail: (error: unknown) => void = () => {};
    const failed = new Promise<never>((_, reject) => (fail = reject));
    let memory: unknown;
    const module = await Promise.race([
      files.factory({
        locateFile: (p: string) => (p.endsWith('.worker.js') ? files.worker : path.join(files.dir, p)),
        mainScriptUrlOrBlob: files.main,
        instantiateWasm: (info: { env: Record<string, unknown> }, receive: (instance: unknown, module: unknown) => void) => {
          memory = info.env.memory;
          const imports = { ...info, env: { ...info.env, emscripten_num_logical_cores: () => 2 * threads } };
          WA.instantiate(binary, imports).then(({ instance, module }) => receive(instance, module), fail);
          return {};
        },
      }),
      failed,
    ]);
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    // The heap, for the kernel pack's SIMD module (the stock build exports it; this one imports it).
    module.wasmMemory ??= memory;
    wasmPkg.setThreadsCount(threads);
    const backend = new wasmPkg.BackendWasm(module);
    // The pool's workers must not keep the process alive once the run is over.
    for (const w of [...(module.PThread?.unusedWorkers ?? []), ...(module.PThread?.runningWorkers ?? [])]) w.unref();
    return backend;
  };
  stock = { factory: tf.findBackendFactory('wasm'), priority: 3 };
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', init, 3);
  registered = threads;
  return undefined;
}

/** Put the stock single-threaded wasm backend back (the threaded one failed to start). */
export function restoreStockWasm(): boolean {
  if (registered === undefined || !stock) return false;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', stock.factory, stock.priority);
  registered = undefined;
  return true;
}

/** The wasm backend's thread count (1 for the stock build), read from the backend in use. */
export function wasmThreadCount(): number {
  const be = tf.findBackend('wasm') as unknown as { wasm?: { tfjs?: { getThreadsCount?: () => number } } } | undefined;
  return be?.wasm?.tfjs?.getThreadsCount?.() ?? 1;
}
