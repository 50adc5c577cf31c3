/**
 * Where a run's exports are: `exp export` appends each one to `<run folder>/exports.json`,
 * and the dashboard (for a local store, where a run's `genlab.run_dir` tag names its folder)
 * lists the ones still in place and serves their files, so a run's row can show its sampler.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '@genlab/core';

/** The file in a run folder that lists its exports. */
export const EXPORTS_FILE = 'exports.json';

/** One export of a run, as `exp export` records it. */
export interface ExportRecord {
  /** The export folder (absolute). */
  out: string;
  exportedAt: string;
  /** Whether it has the sampler page (`--with-page`). */
  page: boolean;
  model: string;
  /** The checkpoint exported (last, best, step-N) and its step. */
  checkpoint: string;
  step: number;
  /** float16 / uint8, or null for float32 weights. */
  quantize: string | null;
}

/** An export the dashboard shows: its record, and its place in exports.json (its URL's index). */
export interface RunExport extends ExportRecord {
  index: number;
}

/** The exports a run folder lists (none when exports.json is missing or unreadable). */
export function readExportRecords(runDir: string): ExportRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(path.join(runDir, EXPORTS_FILE), 'utf8'));
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  return value.filter((e): e is ExportRecord => typeof e === 'object' && e !== null && typeof (e as ExportRecord).out === 'string' && path.isAbsolute((e as ExportRecord).out));
}

/**
 * Add an export to a run folder's exports.json (replacing an earlier record of the same
 * folder). Written atomically: a reader sees the old list or the new one.
 */
export function recordExport(runDir: string, record: ExportRecord): void {
  const list = readExportRecords(runDir).filter((e) => path.resolve(e.out) !== path.resolve(record.out));
  list.push(record);
  writeFileAtomic(path.join(runDir, EXPORTS_FILE), JSON.stringify(list, null, 2) + '\n');
}

/** Whether `dir` still holds an export of run `runId` (its genlab.json names the run). */
export function isExportOf(dir: string, runId: string): boolean {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'genlab.json'), 'utf8')) as { run?: { id?: unknown } };
    return manifest.run?.id === runId;
  } catch {
    return false;
  }
}

/** The exports of a run still in place, with their index in exports.json. */
export function liveExports(runDir: string, runId: string): RunExport[] {
  return readExportRecords(runDir)
    .map((e, index) => ({ ...e, index, page: e.page && fs.existsSync(path.join(e.out, 'index.html')) }))
    .filter((e) => isExportOf(e.out, runId));
}
