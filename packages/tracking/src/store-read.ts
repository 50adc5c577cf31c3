/**
 * Reading an MLflow file store that someone else may have damaged: every entry is checked
 * before it is used, and an entry that is not what MLflow would write (an empty or invalid
 * `meta.yaml`, an unknown status, a dangling link, a file where a folder belongs, a metric
 * line that is not `<ts> <value> <step>`) is reported once, by path, and left out. One bad
 * run must never hide the others: MLflow's own reader fails a whole experiment on one bad
 * metric file, which is exactly what genlab's listings must not copy.
 */
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Where warnings about skipped entries go (stderr unless a caller collects them). */
export type Warn = (message: string) => void;

export const stderrWarn: Warn = (message) => process.stderr.write(`warning: ${message}\n`);

/** An entry that cannot be used, with the reason in words (the caller names the path). */
export class BadEntry extends Error {}

/** MLflow's run statuses as `meta.yaml` stores them (integers). */
export const RUN_STATUS = { RUNNING: 1, SCHEDULED: 2, FINISHED: 3, FAILED: 4, KILLED: 5 } as const;
export type RunStatusName = keyof typeof RUN_STATUS;
const STATUS_NAME = Object.fromEntries(Object.entries(RUN_STATUS).map(([k, v]) => [v, k])) as Record<number, RunStatusName>;

export const RUN_ID_RE = /^[0-9a-f]{32}$/;

/** Ids are quoted strings in MLflow's YAML; an unquoted all-digit one reads as a number. */
const idSchema = z.union([z.string().min(1), z.int().nonnegative()]).transform(String);
const msSchema = z.int().nonnegative();

export const experimentMetaSchema = z.looseObject({
  // MLflow's experiment search fails on the whole store without it (MLFLOW.md).
  artifact_location: z.string(),
  experiment_id: idSchema,
  lifecycle_stage: z.enum(['active', 'deleted']).default('active'),
  name: z.string().min(1),
  creation_time: msSchema.nullable().optional(),
  last_update_time: msSchema.nullable().optional(),
});

export const runMetaSchema = z.looseObject({
  artifact_uri: z.string(),
  end_time: msSchema.nullable().default(null),
  experiment_id: idSchema,
  lifecycle_stage: z.enum(['active', 'deleted']).default('active'),
  // 2.x reads run_uuid, 3.x run_id: one of them, and both equal when both are there.
  run_id: z.string().regex(RUN_ID_RE, 'not a 32-hex run id').optional(),
  run_uuid: z.string().regex(RUN_ID_RE, 'not a 32-hex run id').optional(),
  run_name: z.union([z.string(), z.number()]).transform(String).optional(),
  start_time: msSchema,
  status: z.int().refine((s) => STATUS_NAME[s] !== undefined, { error: (issue) => `${String(issue.input)} is not an MLflow run status (1 RUNNING, 2 SCHEDULED, 3 FINISHED, 4 FAILED, 5 KILLED)` }),
  user_id: z.string().optional(),
});

/** The name of an MLflow status integer (validated metas always have one). */
export function statusName(status: number): RunStatusName {
  const name = STATUS_NAME[status];
  if (!name) throw new BadEntry(`status ${status} is not an MLflow run status`);
  return name;
}

/** A file-system error in words: what a user can act on, not a bare errno. */
export function fsProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'missing (or a dangling symlink)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'a symlink loop';
    case 'EISDIR':
      return 'a folder where a file is expected';
    case 'ENOTDIR':
      return 'a file where a folder is expected';
    default:
      return error instanceof BadEntry ? error.message : code ?? (error as Error).message;
  }
}

/** Follow links and say what `p` is; a dangling link or an unreadable entry throws. */
export function entryKind(p: string): 'file' | 'dir' | 'other' {
  const st = fs.statSync(p);
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
}

/**
 * The text of a regular file. A folder, FIFO, socket or device in its place is refused
 * before it is opened: reading a FIFO named `meta.yaml` would block the listing forever.
 */
export function readEntryText(file: string): string {
  const kind = entryKind(file);
  if (kind === 'dir') throw new BadEntry('a folder where a file is expected');
  if (kind !== 'file') throw new BadEntry('not a regular file');
  return fs.readFileSync(file, 'utf8');
}

/** The entries of a folder; a file, dangling link or unreadable folder throws `BadEntry`. */
export function readFolder(dir: string): string[] {
  if (entryKind(dir) !== 'dir') throw new BadEntry('a file where a folder is expected');
  return fs.readdirSync(dir).sort();
}

/** A YAML file checked against `schema`; throws `BadEntry` saying what is wrong. */
export function readYamlEntry<S extends z.ZodType>(file: string, schema: S): z.output<S> {
  const text = readEntryText(file);
  if (!text.trim()) throw new BadEntry('empty file');
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new BadEntry(`invalid YAML (${(error as Error).message.split('\n')[0]})`);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new BadEntry(issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : `not a mapping of MLflow fields (${issue.message})`);
  }
  return r.data;
}

export type MetricPoint = { timestamp: number; value: number; step: number };

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const NONFINITE: Record<string, number> = { nan: NaN, '+nan': NaN, '-nan': NaN, inf: Infinity, '+inf': Infinity, '-inf': -Infinity, infinity: Infinity, '+infinity': Infinity, '-infinity': -Infinity };

/** One metric line as MLflow parses it (`int(ts) float(value) [int(step)]`), or undefined. */
export function parseMetricLine(line: string): MetricPoint | undefined {
  const parts = line.split(' ');
  if (parts.length !== 2 && parts.length !== 3) return undefined;
  const [ts, v, step = '0'] = parts as [string, string, string?];
  if (!INT_RE.test(ts) || !INT_RE.test(step)) return undefined;
  const lower = v.toLowerCase();
  const value = lower in NONFINITE ? NONFINITE[lower]! : FLOAT_RE.test(v) ? Number(v) : undefined;
  const timestamp = Number(ts);
  const s = Number(step);
  if (value === undefined || !Number.isSafeInteger(timestamp) || !Number.isSafeInteger(s)) return undefined;
  return { timestamp, value, step: s };
}

/**
 * The points of a metric file. Malformed lines (garbage, a blank line, a tab, a fractional
 * timestamp) and a last line without its newline (cut off while being written) are left
 * out, with one warning per file naming it, the count and the first bad line.
 */
export function parseMetricText(text: string, file: string, warn: Warn): MetricPoint[] {
  if (text === '') {
    warn(`skipping ${file}: empty metric file`);
    return [];
  }
  const lines = text.split('\n');
  const unterminated = lines.pop() !== '';
  const points: MetricPoint[] = [];
  const bad: number[] = [];
  lines.forEach((l, i) => {
    const p = parseMetricLine(l);
    if (p) points.push(p);
    else bad.push(i + 1);
  });
  if (unterminated) bad.push(lines.length + 1);
  if (bad.length) {
    const first = bad[0]!;
    const why = unterminated && bad.length === 1 ? 'has no newline (cut off while being written?)' : `is not '<timestamp> <value> <step>': ${JSON.stringify(text.split('\n')[first - 1]!.slice(0, 60))}`;
    warn(`skipping ${bad.length} malformed line${bad.length === 1 ? '' : 's'} of ${file} (line ${first} ${why})`);
  }
  return points;
}
