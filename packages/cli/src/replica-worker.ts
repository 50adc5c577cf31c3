/**
 * One data-parallel replica (rank ≥ 1) in a worker thread: the run's backend and a model
 * built from its config exactly as rank 0 built it, then core's `serveReplica` loop until rank
 * 0 stops it. Failures go to rank 0 on the port it reads synchronously (replicas.ts).
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { deriveSeed, loadPluginModules, ReplicaAbort, ReplicaChannel, SeedStream, serveReplica, type BackendName, type DataInfo, type GenerativeModel, type ReplicaBuffers, type ReplicaSync, type ResolvedConfig } from '@genlab/core';
import { chooseBackend } from './backend.js';
import { builtinRegistry } from './registry.js';

const { buffers, rank, config, data, backend, plugins, port } = workerData as { buffers: ReplicaBuffers; rank: number; config: ResolvedConfig; data: DataInfo; backend: BackendName; plugins: string[]; port: MessagePort };

let model: GenerativeModel;
try {
  await chooseBackend(backend);
  const registry = builtinRegistry();
  await loadPluginModules(registry, plugins, process.cwd()); // file URLs: the modules rank 0 imported
  const { name, ...modelCfg } = config.model;
  model = registry.model(name).create(modelCfg, { data, seed: deriveSeed(config.seed, SeedStream.init) });
} catch (error) {
  parentPort!.postMessage({ type: 'error', message: (error as Error)?.message ?? String(error) });
  process.exit(1);
}
parentPort!.postMessage({ type: 'ready' });
const channel = new ReplicaChannel(buffers, rank);
try {
  serveReplica({
    channel,
    model,
    config,
    data,
    receive: () => {
      const m = receiveMessageOnPort(port);
      if (!m) throw new Error('rank 0 asked for a state sync but sent no state');
      return m.message as ReplicaSync;
    },
  });
} catch (error) {
  if (!(error instanceof ReplicaAbort)) port.postMessage({ type: 'error', message: (error as Error)?.message ?? String(error) });
} finally {
  model.dispose();
  port.close();
}
