/**
 * What genlab writes into a tracked run, from one place: the tag names (`exp compare`, the
 * dashboard and `exp sync` read them) and the writes at a run's start, at a rollback, and at
 * its end (status and the reason it stopped). Everything else a run logs is metrics
 * (the `tracker` callback) and artifacts.
 */
import type { RunStatus, Tracker } from './contracts.js';

/** genlab's run tags. */
export const TAGS = {
  version: 'genlab.version',
  backend: 'genlab.backend',
  backendReason: 'genlab.backend_reason',
  model: 'genlab.model',
  family: 'genlab.family',
  dataset: 'genlab.dataset',
  runDir: 'genlab.run_dir',
  gitCommit: 'genlab.git_commit',
  /** MLflow's own tag for the commit (its UI shows it). */
  mlflowGitCommit: 'mlflow.source.git.commit',
  /** Why the run stopped when it did not finish (or finished with an error). */
  stopReason: 'genlab.stop_reason',
  rollbacks: 'genlab.rollbacks',
  /** `genlab.params.<group>`: parameter count of a model part. */
  params: (group: string) => `genlab.params.${group}`,
  /** `genlab.rollback.<n>`: what the n-th rollback undid and why. */
  rollback: (n: number) => `genlab.rollback.${n}`,
} as const;

/** The start of a run: its tags, and (for a new run) its params and resolved config file. */
export async function recordRunStart(tracker: Tracker, opts: { tags: Record<string, string>; params?: Record<string, string>; configFile?: string }): Promise<void> {
  await tracker.setTags(opts.tags);
  if (opts.params) await tracker.logParams(opts.params);
  if (opts.configFile) await tracker.logArtifact(opts.configFile);
}

/** A rollback: the count so far, and what this one undid. */
export async function recordRollback(tracker: Tracker, rollback: { rollbacks: number; fromStep: number; toStep: number; reason: string }): Promise<void> {
  await tracker.setTags({ [TAGS.rollbacks]: String(rollback.rollbacks), [TAGS.rollback(rollback.rollbacks)]: `step ${rollback.fromStep} -> ${rollback.toStep}: ${rollback.reason}` });
}

/**
 * The end of a run: `tags` (e.g. a sweep's counts), the reason it stopped, then its status.
 * A tracker that cannot take it is reported through `log`, never thrown: the run's outputs are
 * already on disk. Returns whether the end was recorded.
 */
export async function recordRunEnd(tracker: Tracker, status: RunStatus, opts: { reason?: string; tags?: Record<string, string>; log(message: string): void; what?: string }): Promise<boolean> {
  try {
    const tags = { ...opts.tags, ...(opts.reason ? { [TAGS.stopReason]: opts.reason } : {}) };
    if (Object.keys(tags).length) await tracker.setTags(tags);
    await tracker.endRun(status);
    return true;
  } catch (error) {
    opts.log(`tracker: could not record the end of ${opts.what ?? 'the run'}: ${(error as Error)?.message ?? String(error)}`);
    return false;
  }
}
