/**
 * The CLI's replica launcher for data-parallel training (`train.devices` > 1): ranks
 * 1..N-1 in worker threads (replica-worker.ts), each with its own backend and a model built
 * from the run's config, sharing memory with rank 0 (core's train/parallel.ts).
 *
 * BLAS threads: N replicas each running a multi-threaded BLAS on a machine of N cores would
 * fight over the cores, so unless GENLAB_BLAS_THREADS says otherwise every replica gets
 * ⌊cores / N⌋ (at least 1).
 */
import os from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { allocateReplicaBuffers, ReplicaChannel, type ReplicaGroup, type ReplicaLauncher, type ReplicaSync } from '@genlab/core';
import { loadNativeBlas } from '@genlab/kernels';

const SYNC = 2;
const STOP = 3;

/** BLAS threads per replica for `devices` replicas (GENLAB_BLAS_THREADS wins). */
export function blasThreadsPerReplica(devices: number, cores = os.availableParallelism()): number {
  const set = Number(process.env.GENLAB_BLAS_THREADS ?? 0);
  return set > 0 ? set : Math.max(1, Math.floor(cores / devices));
}

/** Start ranks 1..N-1 in worker threads; resolves once every one has its backend and model. */
export const launchReplicas: ReplicaLauncher = async (launch) => {
  const { config, data, backend, plugins, devices, paramFloats, log } = launch;
  const exampleFloats = data.shape.reduce((a, b) => a * b, 1);
  const buffers = allocateReplicaBuffers(devices, paramFloats, config.train.batchSize, exampleFloats);
  const channel = new ReplicaChannel(buffers, 0);
  const threads = blasThreadsPerReplica(devices);
  // The process's BLAS (one library for every thread): rank 0's threads too. Restored when
  // the group is disposed, so that a later run in this process (a queue worker's next job)
  // gets its threads back.
  const blas = loadNativeBlas().blas;
  const threadsBefore = blas?.info().threads;
  blas?.setThreads(threads);
  const restoreThreads = () => {
    if (blas && threadsBefore !== undefined) blas.setThreads(threadsBefore);
  };
  const workers: Worker[] = [];
  const ports: MessagePort[] = [];
  const errors: string[] = [];
  const started = Date.now();
  try {
    await Promise.all(
      Array.from({ length: devices - 1 }, (_, i) => {
        const rank = i + 1;
        const { port1, port2 } = new MessageChannel();
        const worker = new Worker(new URL('./replica-worker.js', import.meta.url), {
          workerData: { buffers, rank, config, data, backend, plugins, port: port2 },
          transferList: [port2],
          // The same share of the cores for a replica's wasm backend where no BLAS runs.
          env: { ...process.env, GENLAB_BLAS_THREADS: String(threads), GENLAB_WASM_THREADS: String(threads) },
        });
        workers.push(worker);
        ports.push(port1);
        return new Promise<void>((resolve, reject) => {
          const fail = (why: string) => reject(new Error(`data-parallel replica ${rank} of ${devices} did not start: ${why}`));
          worker.once('message', (m: { type: string; message?: string }) => (m.type === 'ready' ? resolve() : fail(m.message ?? 'no reason given')));
          worker.once('error', (e) => fail(e.message));
          worker.once('exit', (code) => fail(`its thread exited (code ${code})`));
        });
      }),
    );
  } catch (error) {
    channel.fail();
    await Promise.all(workers.map((w) => w.terminate()));
    restoreThreads();
    throw error;
  }
  log(`data-parallel: ${devices} replicas started in ${((Date.now() - started) / 1000).toFixed(1)} s (${threads} ${blas ? 'BLAS ' : ''}thread${threads > 1 ? 's' : ''} each)`);
  for (const w of workers) w.on('error', (e) => errors.push(e.message));

  const group: ReplicaGroup = {
    devices,
    channel,
    sync(message: ReplicaSync) {
      for (const p of ports) p.postMessage(message);
      channel.post(SYNC);
      channel.barrier();
    },
    failure() {
      for (const p of ports) {
        for (let m = receiveMessageOnPort(p); m; m = receiveMessageOnPort(p)) {
          const msg = m.message as { type: string; message: string };
          if (msg.type === 'error') errors.push(msg.message);
        }
      }
      return errors[0];
    },
    async dispose() {
      if (!channel.aborted) channel.post(STOP);
      else channel.fail(); // wakes every replica wherever it waits; each then returns
      const exits = workers.map((w) => new Promise<void>((resolve) => (w.threadId < 0 ? resolve() : w.once('exit', () => resolve()))));
      const timer = setTimeout(() => void Promise.all(workers.map((w) => w.terminate())), 10_000);
      await Promise.all(exits);
      clearTimeout(timer);
      for (const p of ports) p.close();
      restoreThreads();
    },
  };
  return group;
};
