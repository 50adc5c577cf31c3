/**
 * The contract every tracker plugin passes (`describeTrackerContract`): a run it starts
 * records params, metric points by step, tags, an artifact and its end status; a run reopened
 * for a resume keeps its id and ends with its new status; a second run in the same experiment
 * is another run. With a `read` hook the test checks what the store holds, not only that the
 * calls succeed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunStatus, TrackerPlugin } from '../contracts.js';
import { ensureBackend, tempDir } from './helpers.js';

/** What a store holds of one run, as `read` returns it. */
export interface TrackedRun {
  params: Record<string, string>;
  tags: Record<string, string>;
  /** Metric points by key, in step order. */
  metrics: Record<string, { step: number; value: number }[]>;
  status: RunStatus | 'RUNNING' | string;
  /** Artifact paths (relative, `/`-separated) the run holds. */
  artifacts?: string[];
}

/** Options for the tracker contract test. */
export interface TrackerContractOptions {
  /** A fresh store's URI for each test (e.g. `file:<temp folder>`, or a test server's URL). */
  uri(): string | Promise<string>;
  /** What the store at `uri` holds of a run (after `flush`/`endRun`). */
  read?(uri: string, runId: string): Promise<TrackedRun> | TrackedRun;
  /** Folder relative URIs resolve against (default: a temp folder). */
  baseDir?: string;
}

export function describeTrackerContract(plugin: TrackerPlugin, opts: TrackerContractOptions): void {
  const baseDir = opts.baseDir ?? tempDir('genlab-tracker-contract-');

  describe(`tracker plugin contract: ${plugin.name}`, () => {
    beforeAll(ensureBackend);

    it('has a name, a description and the URI schemes it handles', () => {
      expect(plugin.name.length).toBeGreaterThan(0);
      expect(plugin.description.length).toBeGreaterThan(10);
      expect(plugin.schemes.length).toBeGreaterThan(0);
      for (const s of plugin.schemes) expect(s).toMatch(/^[a-z][a-z0-9+.-]*$/);
    });

    it('records a run: params, metric points by step, tags, an artifact, its end status', async () => {
      const uri = await opts.uri();
      const tracker = plugin.create(uri, { baseDir });
      const { runId, experimentId } = await tracker.startRun({ experiment: 'contract', runName: 'first', tags: { origin: 'contract' } });
      expect(runId).toMatch(/\S/);
      expect(experimentId).toMatch(/\S/);
      await tracker.logParams({ 'model.name': 'test/tiny', 'train.steps': '3' });
      await tracker.logMetrics(1, { loss: 0.5, acc: 0.25 });
      await tracker.logMetrics(2, { loss: 0.25 });
      await tracker.logMetrics(3, { loss: 0.125 });
      await tracker.setTags({ 'genlab.backend': 'cpu' });
      const file = path.join(tempDir('genlab-tracker-artifact-'), 'notes.txt');
      fs.writeFileSync(file, 'an artifact\n');
      await tracker.logArtifact(file, 'docs');
      await tracker.flush?.();
      await tracker.endRun('FINISHED');
      if (!opts.read) return;
      const run = await opts.read(uri, runId);
      expect(run.params).toMatchObject({ 'model.name': 'test/tiny', 'train.steps': '3' });
      expect(run.tags).toMatchObject({ origin: 'contract', 'genlab.backend': 'cpu' });
      expect(run.metrics.loss?.map((p) => [p.step, p.value])).toEqual([
        [1, 0.5],
        [2, 0.25],
        [3, 0.125],
      ]);
      expect(run.metrics.acc?.map((p) => [p.step, p.value])).toEqual([[1, 0.25]]);
      expect(run.status).toBe('FINISHED');
      if (run.artifacts) expect(run.artifacts).toContain('docs/notes.txt');
    });

    it('reopens a run to resume it: the same id, its points kept, the new status recorded', async () => {
      const uri = await opts.uri();
      const first = plugin.create(uri, { baseDir });
      const { runId } = await first.startRun({ experiment: 'contract', runName: 'resumed' });
      await first.logMetrics(1, { loss: 1, acc: 0.5 });
      await first.logMetrics(3, { acc: 0.75 });
      await first.flush?.();
      await first.endRun('KILLED');
      const again = plugin.create(uri, { baseDir });
      const reopened = await again.startRun({ experiment: 'contract', runName: 'resumed', resumeRunId: runId });
      expect(reopened.runId).toBe(runId);
      // What the reopened run holds, key by key (a resumed run does not log it again).
      if (again.loggedSteps) expect(await again.loggedSteps()).toEqual({ loss: 1, acc: 3 });
      await again.logMetrics(2, { loss: 0.5 });
      await again.flush?.();
      await again.endRun('FINISHED');
      const other = plugin.create(uri, { baseDir });
      const second = await other.startRun({ experiment: 'contract', runName: 'another' });
      expect(second.runId).not.toBe(runId);
      await other.endRun('FAILED');
      if (!opts.read) return;
      const run = await opts.read(uri, runId);
      expect(run.metrics.loss?.map((p) => [p.step, p.value])).toEqual([
        [1, 1],
        [2, 0.5],
      ]);
      expect(run.status).toBe('FINISHED');
      expect((await opts.read(uri, second.runId)).status).toBe('FAILED');
    });
  });
}
