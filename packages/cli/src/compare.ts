/**
 * `exp compare`: one table of runs (chosen by id, experiment or sweep tag) from a local store
 * or an MLflow server, with the params that differ between them and their final metrics.
 * Sample metrics measured under different protocols (feature network, sample counts,
 * reference split, seed) never share a column: each protocol gets its own.
 */
import { UserError } from '@genlab/core';
import { type DashboardSource, LocalSource, RemoteSource, type RunSummary } from '@genlab/dashboard';
import path from 'node:path';
import fs from 'node:fs';

/** Reported metrics and the eval metric whose protocol tag covers them. */
export const METRIC_PROTOCOL: [string, string][] = [
  ['fid', 'fid'],
  ['kid', 'kid'],
  ['is', 'is'],
  ['precision', 'pr'],
  ['recall', 'pr'],
  ['density', 'dc'],
  ['coverage', 'dc'],
  ['cas', 'cas'],
  ['modes_covered', 'modes'],
  ['high_quality', 'modes'],
  ['nll', 'nll'],
  ['bits_per_dim', 'nll'],
];
/** Params that differ between runs for reasons that do not matter to a comparison. */
const NOISE = /^(tracking\.|output\.|callbacks\.(progress|checkpoint|samples)\.|plugins)/;

export interface CompareTable {
  columns: string[];
  rows: (string | number | null)[][];
  /** Protocol labels used in column names (P1, P2 …) and what they stand for. */
  protocols: Record<string, string>;
}

/** Build the comparison table of `runs`. */
export function compareTable(runs: RunSummary[]): CompareTable {
  // Params that differ between the runs and that every run has: runs of different model
  // families share few options, and one column per option of every family buries the
  // comparison (the model column already names each model).
  const differing = [...new Set(runs.flatMap((r) => Object.keys(r.params)))]
    .filter((k) => !NOISE.test(k) && runs.every((r) => r.params[k] !== undefined) && new Set(runs.map((r) => r.params[k])).size > 1)
    .sort();
  // Protocol labels, in order of first appearance.
  const labels = new Map<string, string>();
  const protocolOf = (r: RunSummary, metric: string) => r.tags[`genlab.eval.protocol.${metric}`] ?? r.tags['genlab.eval.protocol'];
  for (const r of runs) for (const [, m] of METRIC_PROTOCOL) {
    const p = protocolOf(r, m);
    if (p && !labels.has(p)) labels.set(p, `P${labels.size + 1}`);
  }
  const metricColumns: { name: string; key: string; protocol?: string }[] = [];
  for (const [key, m] of METRIC_PROTOCOL) {
    const present = runs.filter((r) => r.latest[key] !== undefined);
    if (!present.length) continue;
    const protocols = [...new Set(present.map((r) => protocolOf(r, m)))];
    if (protocols.length === 1) metricColumns.push({ name: key, key, ...(protocols[0] ? { protocol: protocols[0] } : {}) });
    else for (const p of protocols) metricColumns.push({ name: `${key} [${p ? labels.get(p) : 'no protocol'}]`, key, ...(p ? { protocol: p } : {}) });
  }
  const columns = ['run', 'id', 'model', 'dataset', ...differing, ...metricColumns.map((c) => c.name), 'params', 'wall-clock s', 'img/s'];
  const rows = runs.map((r) => {
    const paramsCount = Object.entries(r.tags)
      .filter(([k]) => k.startsWith('genlab.params.'))
      .reduce((s, [, v]) => s + Number(v), 0);
    return [
      r.runName,
      r.runId.slice(0, 8),
      r.tags['genlab.model'] ?? null,
      r.tags['genlab.dataset'] ?? null,
      ...differing.map((k) => r.params[k] ?? null),
      ...metricColumns.map((c) => {
        const [, m] = METRIC_PROTOCOL.find(([k]) => k === c.key)!;
        return protocolOf(r, m) === c.protocol ? (r.latest[c.key] ?? null) : null;
      }),
      paramsCount || null,
      r.endTime ? Math.round((r.endTime - r.startTime) / 1000) : null,
      r.latest.img_per_sec ?? null,
    ];
  });
  return { columns, rows, protocols: Object.fromEntries([...labels].map(([p, l]) => [l, p])) };
}

const cell = (v: string | number | null) => (v === null ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3)) : v);

/** Render as text (aligned), csv, json or markdown. */
export function formatTable(t: CompareTable, format: 'text' | 'csv' | 'json' | 'md'): string {
  if (format === 'json') return JSON.stringify({ columns: t.columns, rows: t.rows, protocols: t.protocols }, null, 2) + '\n';
  const cells = t.rows.map((r) => r.map(cell));
  const legend = Object.entries(t.protocols).map(([l, p]) => `${l}: ${p}`);
  if (format === 'csv') {
    const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return [t.columns, ...cells].map((r) => r.map(q).join(',')).join('\n') + '\n';
  }
  if (format === 'md') {
    const esc = (s: string) => s.replace(/\|/g, '\\|');
    return [`| ${t.columns.map(esc).join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`, ...cells.map((r) => `| ${r.map(esc).join(' | ')} |`), '', ...legend.map((l) => `- ${l}`)].join('\n') + '\n';
  }
  const widths = t.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const numeric = t.columns.map((_, i) => t.rows.every((r) => r[i] === null || typeof r[i] === 'number'));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(t.columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line), ...(legend.length ? ['', 'protocols:', ...legend.map((l) => `  ${l}`)] : [])].join('\n') + '\n';
}

/** A sweep's parent run (tag `genlab.sweep.role: parent`): it groups the variant runs. */
export function isSweepParent(r: RunSummary): boolean {
  return r.tags['genlab.sweep.role'] === 'parent';
}

/**
 * The runs to compare: by experiment, sweep id and run ids/prefixes/names. A sweep's parent
 * run holds the sweep, not a result (no metrics; its params are the sweep spec), so it is
 * never a row; naming one stands for its variants. `parents`: the sweeps the rows belong to.
 */
export function selectRuns(all: RunSummary[], by: { experiment?: string; sweep?: string; runs?: string[] }): { runs: RunSummary[]; parents: RunSummary[] } {
  const parents = all.filter(isSweepParent);
  let runs = all.filter((r) => !isSweepParent(r));
  if (by.experiment) runs = runs.filter((r) => r.experiment === by.experiment);
  if (by.sweep) runs = runs.filter((r) => r.tags['genlab.sweep'] === by.sweep);
  if (by.runs?.length) {
    const named = (r: RunSummary) => by.runs!.some((p) => r.runId.startsWith(p) || r.runName === p);
    const namedParents = new Set(parents.filter(named).map((p) => p.runId));
    runs = runs.filter((r) => named(r) || namedParents.has(r.tags['mlflow.parentRunId'] ?? ''));
  }
  return { runs, parents: parents.filter((p) => runs.some((r) => r.tags['mlflow.parentRunId'] === p.runId)) };
}

export interface CompareArgs {
  runs: string[];
  source: string;
  experiment?: string;
  sweep?: string;
  format: 'text' | 'csv' | 'json' | 'md';
}

export async function compareCommand(args: CompareArgs): Promise<number> {
  const remote = /^https?:\/\//.test(args.source);
  const root = path.resolve(args.source.replace(/^file:/, ''));
  if (!remote && !fs.existsSync(root)) throw new UserError(`no tracking store at ${root}`);
  const source: DashboardSource = remote ? new RemoteSource(args.source) : new LocalSource(root);
  const { runs, parents } = selectRuns(await source.runs(), args);
  for (const p of parents) {
    const n = runs.filter((r) => r.tags['mlflow.parentRunId'] === p.runId).length;
    process.stderr.write(`sweep ${p.tags['genlab.sweep']}: ${n} of its ${p.tags['genlab.sweep.size'] ?? '?'} variants below (parent run ${p.runId.slice(0, 8)} ${p.runName}, ${p.status})\n`);
  }
  if (!runs.length) throw new UserError(`no runs in ${source.description} match${args.experiment ? ` experiment '${args.experiment}'` : ''}${args.sweep ? ` sweep '${args.sweep}'` : ''}${args.runs.length ? ` ${args.runs.join(', ')}` : ''}`);
  runs.sort((a, b) => a.startTime - b.startTime);
  process.stdout.write(formatTable(compareTable(runs), args.format));
  return 0;
}
