/** A tracker that keeps everything in memory: for benchmarks and tests, where nothing is to be kept. */
import type { RunStatus, Tracker } from './contracts.js';

/** Params, tags, metric points, artifact paths and the status, as plain fields. */
export class MemoryTracker implements Tracker {
  params: Record<string, string> = {};
  tags: Record<string, string> = {};
  metrics: { step: number; values: Record<string, number> }[] = [];
  artifacts: { localPath: string; artifactPath?: string }[] = [];
  status: RunStatus | 'RUNNING' | undefined;
  async startRun() {
    this.status = 'RUNNING';
    return { runId: 'memory', experimentId: '0' };
  }
  async logParams(p: Record<string, string>) {
    Object.assign(this.params, p);
  }
  async logMetrics(step: number, values: Record<string, number>) {
    this.metrics.push({ step, values });
  }
  async loggedSteps() {
    const out: Record<string, number> = {};
    for (const m of this.metrics) for (const k of Object.keys(m.values)) out[k] = Math.max(out[k] ?? -Infinity, m.step);
    return out;
  }
  async setTags(t: Record<string, string>) {
    Object.assign(this.tags, t);
  }
  async logArtifact(localPath: string, artifactPath?: string) {
    this.artifacts.push({ localPath, ...(artifactPath !== undefined ? { artifactPath } : {}) });
  }
  async endRun(status: RunStatus) {
    this.status = status;
  }
}

