/**
 * Sweeps: several runs from one config. A sweep has axes, each a key path and the values it
 * takes, from the config's `sweep:` block or from `--sweep key=a,b,c` flags:
 *
 *     sweep:
 *       mode: grid                 # grid (default): the cartesian product; zip: i-th items together
 *       seed: [1, 2, 3]            # a key path and its values (typed by YAML)
 *       model:                     # an item that is a mapping replaces the section at the path
 *         - { name: gan/mlp }
 *         - { name: vae/mlp, latentDim: 16 }
 *       variants:                  # partial configs, each deep-merged onto the base (Hydra-style)
 *         - { model: { name: gan/dcgan }, train: { steps: 500 } }
 *         - { model: { name: vae/conv } }
 *
 * The variants are enumerated with the first axis varying slowest (as `itertools.product`).
 * Each variant's tree is the base config with its axis values applied (shallow paths before
 * deeper ones, so a replaced section can still get a swept option), then the `--set`
 * overrides (they apply to every variant), and is validated like any config. Command-line
 * values are coerced by the schema at their path exactly like `--set`.
 *
 * `loadSweep` validates every variant before returning, so a bad value is reported (naming
 * the variant and the key) before any run starts.
 */
import { ConfigError, type ConfigIssue, UserError } from '../errors.js';
import type { Registry } from '../registry.js';
import {
  buildTree,
  hasSweepBlock,
  isPlainObject,
  overridesSweep,
  parseOverride,
  parseScalar,
  readConfigTree,
  setStep,
  validate,
  type ConfigTree,
  type Override,
  type TreeStep,
} from './load.js';
import { defaultCacheDir } from '../cache.js';
import type { DataInfo } from '../contracts.js';
import { checkRunnable, describeData } from './runnable.js';
import type { ResolvedConfig } from './schema.js';
import { z } from 'zod';

/** The largest sweep `loadSweep` expands (a typo like `--sweep seed=1,…,10000` is caught early). */
export const MAX_SWEEP_VARIANTS = 1000;

/** Options for `loadSweep`. */
export interface SweepOptions {
  /** `key.path=value` overrides applied to every variant (`--set`). */
  overrides?: string[];
  /** `key.path=a,b,c` axes (`--sweep`); a key the config also sweeps replaces its list. */
  sweeps?: string[];
  /**
   * Check every variant against its data too (`checkRunnable`, with each distinct dataset
   * section described once), so a variant that cannot run is refused before any starts.
   * Diagnostics of the datasets' `describe` (downloads) go to `log`.
   */
  checkData?: { log(message: string): void };
}

/** One variant of a sweep: its assignments (for labels and tags) and its resolved config. */
export interface SweepVariant {
  /** 0-based position in the sweep. */
  index: number;
  /** `model.name=gan/mlp, seed=1`: the variant's assignments, readable. */
  label: string;
  /** The assignments as key/value pairs (a section item is flattened to its leaves). */
  assignments: [string, string][];
  config: ResolvedConfig;
}

/** An axis as the plan reports it. */
export interface SweepAxisInfo {
  key: string;
  from: 'yaml' | 'cli';
  size: number;
}

/** A sweep expanded and validated: what `exp run` runs and `exp validate` lists. */
export interface SweepPlan {
  /** Absolute path of the config file. */
  file: string;
  /** Folder of the config file (relative dataset paths resolve against it). */
  baseDir: string;
  mode: 'grid' | 'zip';
  axes: SweepAxisInfo[];
  variants: SweepVariant[];
  /** The sweep as MLflow params for the parent run: `sweep.mode`, `sweep.<key>` (JSON list), … */
  spec: Record<string, string>;
  /** What the user should know about how the sweep was read (an axis fixed by `--set`). */
  notes: string[];
  /**
   * The config's `launcher:` block: where the variants run instead of here (`queue`: a Redis
   * URL for `exp worker` processes; `attempts` per variant). Like `sweep:`, it never reaches a run.
   */
  launcher?: SweepLauncher;
}

/** A sweep's `launcher:` block. */
export interface SweepLauncher {
  /** `redis://host:port/db`: the job queue the variants go to. */
  queue: string;
  /** Attempts per variant before it ends FAILED. */
  attempts?: number;
  /**
   * The tracking store (a `file:` URI) and `output.dir` are on a filesystem every worker
   * mounts at the same path: runs and checkpoints are written there, nothing is uploaded.
   */
  sharedFs?: boolean;
}

const launcherSchema = z
  .object({
    queue: z.string().regex(/^rediss?:\/\//, 'a Redis URL, redis://host:6379/0'),
    attempts: z.number().int().min(1).optional(),
    sharedFs: z.boolean().optional(),
  })
  .strict();

/** Read (and take out of the tree) a `launcher:` block; a `ConfigError` naming the key and line when it is wrong. */
export function takeLauncher(tree: Record<string, unknown>, sources: Map<string, string>, file: string): SweepLauncher | undefined {
  const block = tree.launcher;
  delete tree.launcher;
  if (block === undefined || block === null) return undefined;
  const r = launcherSchema.safeParse(block);
  if (!r.success) {
    throw new ConfigError(
      file,
      r.error.issues.map((i) => {
        const key = ['launcher', ...i.path.map(String)].join('.');
        const where = sources.get(key) ?? sources.get('launcher');
        return { path: key, message: i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')} (a launcher has queue, attempts and sharedFs)` : i.message, ...(where ? { where } : {}) };
      }),
    );
  }
  return r.data;
}

/** Every variant that failed validation, each with its problems. Exit code 2. */
export class SweepError extends UserError {
  constructor(
    readonly file: string,
    readonly total: number,
    readonly invalid: { index: number; label: string; issues: ConfigIssue[] }[],
  ) {
    super(sweepErrorMessage(file, total, invalid));
    this.name = 'SweepError';
  }
}

const issueText = (i: ConfigIssue) => `${i.where ? i.where + ': ' : ''}${i.path ? `'${i.path}': ` : ''}${i.message}`;

function sweepErrorMessage(file: string, total: number, invalid: { index: number; label: string; issues: ConfigIssue[] }[]): string {
  const lines = [`Invalid sweep ${file}: ${invalid.length === total ? (total === 1 ? 'its variant is' : `all ${total} variants are`) : `${invalid.length} of ${total} variants are`} invalid (no run was started)`];
  // A problem of the base config shows up in every variant: say it once.
  const common = invalid.length === total && total > 1 ? invalid[0]!.issues.map(issueText).filter((t) => invalid.every((v) => v.issues.some((i) => issueText(i) === t))) : [];
  if (common.length) lines.push('  in every variant:', ...common.map((t) => `    - ${t}`));
  for (const v of invalid) {
    const own = v.issues.map(issueText).filter((t) => !common.includes(t));
    if (own.length) lines.push(`  variant ${v.index + 1}/${total} (${v.label}):`, ...own.map((t) => `    - ${t}`));
  }
  return lines.join('\n');
}

/** One value of an axis: the change it makes and how it reads. */
interface AxisItem {
  step: TreeStep;
  assignments: [string, string][];
  /** The value for the parent run's params. */
  value: unknown;
}

interface Axis {
  key: string;
  from: 'yaml' | 'cli';
  items: AxisItem[];
}

/**
 * Whether a config file (with what it extends) describes several runs: a non-empty `sweep:`
 * block, or `--set sweep.…` overrides that write one.
 */
export function configHasSweep(file: string, overrides: string[] = []): boolean {
  return hasSweepBlock(readConfigTree(file).tree) || overridesSweep(overrides);
}

/**
 * Write `--set sweep.…` overrides into the tree's `sweep:` block (values read as YAML, as in a
 * file), so the block is read and checked by one path whichever way it was written. Returns
 * the other overrides, which apply to every variant.
 */
function setIntoBlock(base: ConfigTree, overrides: Override[]): Override[] {
  const rest: Override[] = [];
  for (const o of overrides) {
    if (o.path[0] !== 'sweep') {
      rest.push(o);
      continue;
    }
    const where = `--set ${o.path.join('.')}=${o.raw}`;
    if (o.path.length === 1) base.tree.sweep = parseScalar(o.raw);
    else {
      if (!isPlainObject(base.tree.sweep)) base.tree.sweep = {};
      let node = base.tree.sweep as Record<string, unknown>;
      for (const p of o.path.slice(1, -1)) node = (isPlainObject(node[p]) ? node[p] : (node[p] = {})) as Record<string, unknown>;
      node[o.path.at(-1)!] = parseScalar(o.raw);
    }
    base.sources.set(o.path.join('.'), where);
    // Items of a list given on the command line come from the flag too.
    const value = parseScalar(o.raw);
    if (Array.isArray(value)) value.forEach((_, i) => base.sources.set(`${o.path.join('.')}.${i}`, where));
  }
  return rest;
}

/**
 * Split a `--sweep` value list at its top-level commas: `1,2,3`; `[32],[64, 64]` (lists keep
 * their commas); `'a,b',c` (quotes too). Values are trimmed.
 */
export function splitList(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let cur = '';
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') depth = Math.max(0, depth - 1);
    else if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** Parse a `--sweep key.path=a,b,c` flag. */
export function parseSweepFlag(text: string): { path: string[]; raws: string[] } {
  const o = parseOverride(text, '--sweep');
  const raws = splitList(o.raw);
  if (raws.some((r) => r === '')) throw new UserError(`Bad --sweep '${text}': give one or more comma-separated values, e.g. --sweep seed=1,2,3`);
  const seen = new Set<string>();
  for (const r of raws) {
    if (seen.has(r)) throw new UserError(`Bad --sweep '${text}': '${r}' is listed twice`);
    seen.add(r);
  }
  return { path: o.path, raws };
}

/** A value as it reads in a label: strings bare, lists and mappings as compact JSON. */
function show(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined ? '' : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

/** `key=value` pairs of a value at `key`: a mapping is flattened to its leaves (`model.name=…`). */
function flatten(v: unknown, key: string, out: [string, string][] = []): [string, string][] {
  if (isPlainObject(v) && Object.keys(v).length) {
    for (const [k, sub] of Object.entries(v)) flatten(sub, key ? `${key}.${k}` : k, out);
  } else if (key) out.push([key, show(v)]);
  return out;
}

/** `{ 'train.steps': 5 }` → `{ train: { steps: 5 } }` (a variant item may use dotted keys). */
function expandDotted(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, sub] of Object.entries(v)) {
    const parts = k.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) node = (isPlainObject(node[p]) ? node[p] : (node[p] = {})) as Record<string, unknown>;
    const last = parts.at(-1)!;
    const value = isPlainObject(sub) ? expandDotted(sub) : sub;
    node[last] = isPlainObject(node[last]) && isPlainObject(value) ? { ...node[last], ...value } : value;
  }
  return out;
}

const SEGMENT = /^[A-Za-z_][\w-]*$|^[\w-]+$/;
const RESERVED_ROOTS = new Set(['sweep', 'extends']);

/** Read the config's `sweep:` block into axes, with every problem named by its line. */
function readYamlAxes(base: ConfigTree, block: unknown): { mode: 'grid' | 'zip'; axes: Axis[] } {
  const issues: ConfigIssue[] = [];
  const where = (key: string) => base.sources.get(key) ?? base.file;
  const axes: Axis[] = [];
  let mode: 'grid' | 'zip' = 'grid';
  if (!isPlainObject(block)) {
    throw new ConfigError(base.file, [{ path: 'sweep', where: where('sweep'), message: 'must be a mapping of key paths to lists of values, e.g. sweep: { seed: [1, 2, 3] }' }]);
  }
  const duplicates = (list: unknown[], at: string) => {
    const seen = new Map<string, number>();
    list.forEach((item, i) => {
      const k = JSON.stringify(item);
      if (seen.has(k)) issues.push({ path: `${at}.${i}`, where: where(`${at}.${i}`), message: `the same value as item ${seen.get(k)! + 1} (${show(item)})` });
      else seen.set(k, i);
    });
  };
  const subSources = (prefix: string): [string, string][] =>
    [...base.sources].filter(([k]) => k.startsWith(`${prefix}.`)).map(([k, w]) => [k.slice(prefix.length + 1), w]);

  const walk = (yamlKey: string, value: unknown) => {
    const at = `sweep.${yamlKey}`;
    const parts = yamlKey.split('.');
    if (parts.some((p) => !SEGMENT.test(p))) {
      issues.push({ path: at, where: where(at), message: `'${yamlKey}' is not a key path (letters, digits, _ and - separated by dots)` });
      return;
    }
    if (RESERVED_ROOTS.has(parts[0]!)) {
      issues.push({ path: at, where: where(at), message: `'${parts[0]}' cannot be swept (${parts[0] === 'extends' ? 'files are merged before the sweep is read' : 'a sweep inside a sweep'}); use 'variants' for whole partial configs` });
      return;
    }
    if (Array.isArray(value)) {
      if (!value.length) {
        issues.push({ path: at, where: where(at), message: 'an empty list: give the values to sweep' });
        return;
      }
      duplicates(value, at);
      axes.push({
        key: yamlKey,
        from: 'yaml',
        items: value.map((v, i) => ({
          step: { path: parts, value: v, where: where(`${at}.${i}`), sources: subSources(`${at}.${i}`) },
          assignments: flatten(v, yamlKey),
          value: v,
        })),
      });
    } else if (isPlainObject(value) && Object.keys(value).length) {
      for (const [k, v] of Object.entries(value)) walk(`${yamlKey}.${k}`, v);
    } else {
      issues.push({ path: at, where: where(at), message: `expected a list of values (or a mapping of deeper keys to lists), got ${JSON.stringify(value)}` });
    }
  };

  for (const [key, value] of Object.entries(block)) {
    if (key === 'mode') {
      if (value === 'grid' || value === 'zip') mode = value;
      else issues.push({ path: 'sweep.mode', where: where('sweep.mode'), message: `must be 'grid' (every combination) or 'zip' (the i-th values together), got ${JSON.stringify(value)}` });
    } else if (key === 'variants') {
      if (!Array.isArray(value) || !value.length || !value.every(isPlainObject)) {
        issues.push({ path: 'sweep.variants', where: where('sweep.variants'), message: 'must be a non-empty list of partial configs (mappings), each merged onto the base config' });
        continue;
      }
      duplicates(value, 'sweep.variants');
      axes.push({
        key: 'variants',
        from: 'yaml',
        items: value.map((v, i) => {
          const item = expandDotted(v as Record<string, unknown>);
          const assignments = flatten(item, '');
          return {
            step: { path: [], value: item, merge: true, where: where(`sweep.variants.${i}`), sources: subSources(`sweep.variants.${i}`) },
            assignments: assignments.length ? assignments : [['variant', '(base)']],
            value: item,
          };
        }),
      });
    } else walk(key, value);
  }
  if (!issues.length && !axes.length) issues.push({ path: 'sweep', where: where('sweep'), message: 'lists no key to sweep' });
  if (issues.length) throw new ConfigError(base.file, issues);
  return { mode, axes };
}

/** The key paths a step writes (a mapping: its leaves). */
function writes(step: TreeStep): string[] {
  const key = step.path.join('.');
  return step.raw === undefined && isPlainObject(step.value) ? flatten(step.value, key).map(([k]) => k) : [key];
}

/**
 * Two axes of one variant that write the same key, where the later (deeper) one would
 * silently replace what the earlier one set: e.g. a `variants` item setting
 * `model.latentDim` and a `model:` section axis. Undefined when there is none.
 */
function overwritten(steps: TreeStep[]): ConfigIssue | undefined {
  for (const [i, later] of steps.entries()) {
    if (later.merge) continue;
    const at = later.path.join('.');
    for (const earlier of steps.slice(0, i)) {
      const hit = writes(earlier).find((k) => k === at || k.startsWith(`${at}.`));
      if (hit) return { path: hit, where: earlier.where, message: `is set by this variant twice: here, and by the sweep of '${at}' (${later.where}), which replaces it; give it in one place` };
    }
  }
  return undefined;
}

/** The axis of a `--sweep key=a,b,c` flag. */
function cliAxis(text: string): Axis {
  const { path, raws } = parseSweepFlag(text);
  const key = path.join('.');
  return {
    key,
    from: 'cli',
    items: raws.map((raw) => ({ step: { path, raw, where: `--sweep ${key}=${raw}`, flag: '--sweep' }, assignments: [[key, raw]], value: parseScalar(raw) })),
  };
}

/**
 * Expand and validate a sweep: the config's `sweep:` block combined with `--sweep` flags,
 * `--set` overrides applied to every variant. Throws `ConfigError` for a malformed sweep and
 * `SweepError` listing every invalid variant (both exit 2); nothing is run.
 */
export async function loadSweep(file: string, registry: Registry, opts: SweepOptions = {}): Promise<SweepPlan> {
  const base = readConfigTree(file);
  const overrides = setIntoBlock(
    base,
    (opts.overrides ?? []).map((t) => parseOverride(t)),
  );
  const launcher = takeLauncher(base.tree, base.sources, base.file);
  const block = base.tree.sweep;
  const yaml = block === undefined || block === null ? { mode: 'grid' as const, axes: [] } : readYamlAxes(base, block);
  // The variants are built from the base without the block (a run's config has no `sweep:`).
  delete base.tree.sweep;
  for (const k of [...base.sources.keys()]) if (k === 'sweep' || k.startsWith('sweep.')) base.sources.delete(k);
  const axes = [...yaml.axes];
  const notes: string[] = [];

  const cliKeys = new Set<string>();
  for (const text of opts.sweeps ?? []) {
    const axis = cliAxis(text);
    if (cliKeys.has(axis.key)) throw new UserError(`--sweep ${axis.key} is given twice: list all its values in one flag, e.g. --sweep ${axis.key}=a,b,c`);
    cliKeys.add(axis.key);
    const at = axes.findIndex((a) => a.key === axis.key);
    if (at >= 0) axes[at] = axis; // the command line replaces the config's list for that key
    else axes.push(axis);
  }
  for (const o of overrides) {
    const key = o.path.join('.');
    if (cliKeys.has(key)) throw new UserError(`--set ${key} and --sweep ${key} both give '${key}': keep one`);
    const at = axes.findIndex((a) => a.key === key);
    if (at >= 0) {
      axes.splice(at, 1);
      notes.push(`--set ${key}=${o.raw} fixes '${key}', which the config sweeps: that axis is dropped`);
    }
  }

  const mode = yaml.mode;
  if (mode === 'zip' && new Set(axes.map((a) => a.items.length)).size > 1) {
    throw new UserError(`sweep.mode zip pairs the i-th values of every axis, so they need the same length: ${axes.map((a) => `${a.key} has ${a.items.length}`).join(', ')}`);
  }
  const total = !axes.length ? 1 : mode === 'zip' ? axes[0]!.items.length : axes.reduce((n, a) => n * a.items.length, 1);
  if (total > MAX_SWEEP_VARIANTS) {
    throw new UserError(`This sweep has ${total} variants (${axes.map((a) => `${a.key}: ${a.items.length}`).join(' × ')}); at most ${MAX_SWEEP_VARIANTS} are run from one command`);
  }

  // Enumerate: grid with the first axis slowest, or zip.
  const combos: AxisItem[][] = [];
  for (let n = 0; n < total; n++) {
    if (mode === 'zip') combos.push(axes.map((a) => a.items[n]!));
    else {
      let rest = n;
      const picks: AxisItem[] = new Array<AxisItem>(axes.length);
      for (let a = axes.length - 1; a >= 0; a--) {
        const size = axes[a]!.items.length;
        picks[a] = axes[a]!.items[rest % size]!;
        rest = Math.floor(rest / size);
      }
      combos.push(picks);
    }
  }

  const setSteps = overrides.map((o) => setStep(o, '--set'));
  const variants: SweepVariant[] = [];
  const invalid: { index: number; label: string; issues: ConfigIssue[] }[] = [];
  const seen = new Map<string, number>();
  const described = new Map<string, Promise<DataInfo>>();
  for (const [index, picks] of combos.entries()) {
    const assignments = picks.flatMap((p) => p.assignments);
    const label = assignments.map(([k, v]) => `${k}=${v}`).join(', ') || '(base config)';
    // Shallow paths first (a whole section before an option inside it); stable otherwise.
    const steps = picks.map((p) => p.step).sort((a, b) => a.path.length - b.path.length);
    const clash = overwritten(steps);
    if (clash) {
      invalid.push({ index, label, issues: [clash] });
      continue;
    }
    try {
      const { tree, sources } = await buildTree(base, [...steps, ...setSteps], registry);
      const config = validate(tree, base.file, sources, registry);
      const key = JSON.stringify(config);
      const same = seen.get(key);
      if (same !== undefined) {
        invalid.push({ index, label, issues: [{ path: '', message: `resolves to the same config as variant ${same + 1} (${variants[same]!.label})` }] });
        continue;
      }
      seen.set(key, index);
      if (opts.checkData) {
        const dataKey = JSON.stringify(config.dataset);
        if (!described.has(dataKey)) described.set(dataKey, describeData(config, registry, { baseDir: base.baseDir, cacheDir: defaultCacheDir(), log: opts.checkData.log }));
        checkRunnable(config, await described.get(dataKey)!, registry, { file: base.file, sources });
      }
      variants[index] = { index, label, assignments, config };
    } catch (error) {
      if (error instanceof ConfigError) invalid.push({ index, label, issues: error.issues });
      else if (error instanceof UserError) invalid.push({ index, label, issues: [{ path: '', message: error.message }] });
      else throw error;
    }
  }
  if (invalid.length) throw new SweepError(base.file, total, invalid);

  const spec: Record<string, string> = { 'sweep.mode': mode, 'sweep.size': String(total), 'sweep.config': base.file };
  for (const a of axes) spec[`sweep.${a.key}`] = JSON.stringify(a.items.map((i) => i.value));
  if (opts.overrides?.length) spec['sweep.set'] = JSON.stringify(opts.overrides);
  return {
    file: base.file,
    baseDir: base.baseDir,
    mode,
    axes: axes.map((a) => ({ key: a.key, from: a.from, size: a.items.length })),
    variants,
    spec,
    notes,
    ...(launcher ? { launcher } : {}),
  };
}
