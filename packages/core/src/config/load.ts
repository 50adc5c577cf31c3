/**
 * Config loading: YAML with line numbers, `extends:` composition, `--set` overrides coerced
 * by the schema, plugin modules, and validation of the whole tree against the root schema
 * composed with the chosen plugins' schemas. Every problem is reported with its key path
 * and the `file:line` (or `--set`) it came from.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, parse as parseYaml } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue, UserError } from '../errors.js';
import type { Registry } from '../registry.js';
import { editDistance, unknownNameMessage } from '../registry.js';
import { rootSchema, type PluginSection, type ResolvedConfig } from './schema.js';

type Tree = Record<string, unknown>;

/** Where each key path (`a.b.c`) was written: `file:line` or `--set a.b.c=…`. */
export type SourceMap = Map<string, string>;

/** A loaded, validated config and where it came from. */
export interface LoadedConfig {
  config: ResolvedConfig;
  /** Absolute path of the top config file. */
  file: string;
  /** Folder of the top config file (relative plugin paths resolve against it). */
  baseDir: string;
  sources: SourceMap;
}

/** Options for `loadConfig`. */
export interface LoadOptions {
  /** `key.path=value` overrides, applied after all files. */
  overrides?: string[];
}

/**
 * Load, compose, override and validate a config file. Imports the plugin modules the
 * config lists into `registry`. Throws `ConfigError` (exit 2) listing every problem.
 * A file with a `sweep:` block describes several runs: load it with `loadSweep`.
 */
export async function loadConfig(file: string, registry: Registry, opts: LoadOptions = {}): Promise<LoadedConfig> {
  const base = readConfigTree(file);
  if (base.tree.sweep !== undefined && base.tree.sweep !== null) {
    throw new UserError(
      `${file} has a 'sweep:' block, so it describes several runs: 'exp run' runs them and 'exp validate' checks them all. ` +
        `For a single run, remove the block or start from a run's saved config (outputs/<run>/config.yaml).`,
    );
  }
  const overrides = (opts.overrides ?? []).map((text) => setStep(parseOverride(text), '--set'));
  const { tree, sources } = await buildTree(base, overrides, registry);
  const config = validate(tree, base.file, sources, registry);
  return { config, file: base.file, baseDir: base.baseDir, sources };
}

// ------------------------------------------------------------------ building a tree (shared with sweeps)

/** A config file read and merged (`extends:` resolved), before overrides and validation. */
export interface ConfigTree {
  /** Absolute path of the top config file. */
  file: string;
  baseDir: string;
  tree: Tree;
  sources: SourceMap;
}

/** Read a config file and everything it extends into one tree, with the line of every key. */
export function readConfigTree(file: string): ConfigTree {
  const abs = path.resolve(file);
  const sources: SourceMap = new Map();
  const tree = readLayered(abs, sources, []);
  return { file: abs, baseDir: path.dirname(abs), tree, sources };
}

/**
 * One change to a config tree, applied in order: a typed `value` (from YAML) or `raw` text
 * (from the command line: coerced by the schema at `path`, like `--set`). `merge` deep-merges
 * a mapping into the node at `path` instead of replacing it (a plugin section whose `name`
 * changes is replaced, not merged: another plugin's options would not fit). `sources` says
 * where the keys it writes come from (relative to `path`); `where` is used when it has none.
 */
export interface TreeStep {
  path: string[];
  value?: unknown;
  raw?: string;
  merge?: boolean;
  /** Where the value was written: `file:line`, or `--set key=value`. */
  where: string;
  /** The command-line flag of a raw step (`--set`, `--sweep`). */
  flag?: string;
  sources?: [string, string][];
}

/** A `--set`-style step from a parsed `key.path=value`. */
export function setStep(o: Override, flag: string): TreeStep {
  return { path: o.path, raw: o.raw, where: `${flag} ${o.path.join('.')}=${o.raw}`, flag };
}

/**
 * Apply `steps` to a copy of `base`. Two passes, as `--set` has always worked: first with
 * plain YAML-typed values, enough to know which plugins are chosen and to import the
 * modules the config lists; then from a fresh copy with each raw value coerced by the
 * schema at its path (`--set model.label=123` stays a string).
 */
export async function buildTree(base: ConfigTree, steps: TreeStep[], registry: Registry): Promise<{ tree: Tree; sources: SourceMap }> {
  const first = applySteps(base, steps, (s) => parseScalar(s.raw!));
  const pluginList = first.tree.plugins;
  if (Array.isArray(pluginList) && pluginList.every((p) => typeof p === 'string')) {
    await registry.loadModules(pluginList as string[], base.baseDir);
  }
  return applySteps(base, steps, (s) => coerce(s.raw!, schemaAt(first.tree, s.path, registry)));
}

function applySteps(base: ConfigTree, steps: TreeStep[], rawValue: (s: TreeStep) => unknown): { tree: Tree; sources: SourceMap } {
  const tree = structuredClone(base.tree);
  const sources: SourceMap = new Map(base.sources);
  for (const s of steps) {
    const key = s.path.join('.');
    const at = s.flag ? `${s.flag} ${key}` : s.where;
    const value = s.raw !== undefined ? rawValue(s) : structuredClone(s.value);
    // What was below a replaced key is gone, and so is where it came from.
    const forget = (prefix: string) => {
      for (const k of [...sources.keys()]) if (k.startsWith(`${prefix}.`)) sources.delete(k);
    };
    if (s.merge && isPlainObject(value)) {
      const target = s.path.length ? getPath(tree, s.path) : tree;
      const { merged, replaced } = mergeSections(isPlainObject(target) ? target : {}, value);
      if (s.path.length) setPath(tree, s.path, merged, key, base.file, at);
      else Object.assign(tree, merged);
      for (const r of replaced) forget(key ? `${key}.${r}` : r);
    } else {
      setPath(tree, s.path, value, key, base.file, at);
      forget(key);
    }
    if (key) sources.set(key, s.where);
    for (const [rel, where] of s.sources ?? []) sources.set(key ? `${key}.${rel}` : rel, where);
  }
  return { tree, sources };
}

/** `deepMerge`, except that a `model`/`dataset` section naming another plugin replaces the old one. */
function mergeSections(base: Tree, over: Tree): { merged: Tree; replaced: string[] } {
  const merged = deepMerge(base, over);
  const replaced: string[] = [];
  for (const k of ['model', 'dataset']) {
    const b = base[k];
    const o = over[k];
    if (isPlainObject(b) && isPlainObject(o) && typeof o.name === 'string' && o.name !== b.name) {
      merged[k] = structuredClone(o);
      replaced.push(k);
    }
  }
  return { merged, replaced };
}

function getPath(tree: Tree, parts: string[]): unknown {
  let node: unknown = tree;
  for (const p of parts) node = isPlainObject(node) ? node[p] : undefined;
  return node;
}

/**
 * Options for one dataset plugin outside a config (e.g. `exp data show mnist --set split=test`):
 * `base` options (already typed, e.g. read from YAML) with `overrides`, `key=value` inside the
 * dataset section, coerced and applied on top like `--set`; all checked by the plugin's schema.
 */
export function resolveDatasetOptions(registry: Registry, name: string, overrides: string[], base: Record<string, unknown> = {}): PluginSection {
  const plugin = registry.datasets.get(name);
  if (!plugin) throw new UserError(unknownNameMessage('dataset', name, [...registry.datasets.keys()]));
  const tree: Tree = { dataset: { ...base, name } };
  const sources: SourceMap = new Map();
  for (const text of overrides) {
    const o = parseOverride(text);
    const parts = ['dataset', ...o.path];
    setPath(tree, parts, coerce(o.raw, schemaAt(tree, parts, registry)), o.path.join('.'), '--set', `--set ${o.path.join('.')}`);
    sources.set(parts.join('.'), `--set ${o.path.join('.')}`);
  }
  const { name: _n, ...rest } = tree.dataset as Tree;
  const parsed = (plugin.configSchema as AnyZod).safeParse(rest);
  if (!parsed.success) throw new ConfigError(`dataset ${name}`, issuesFrom(parsed.error, ['dataset'], sources, plugin.configSchema as AnyZod));
  return { name, ...(parsed.data as Tree) };
}

/** Turn a resolved config back into YAML text (saved with every run). */
export { stringify as toYaml } from 'yaml';

// ------------------------------------------------------------------ files and extends

function readLayered(file: string, sources: SourceMap, chain: string[]): Tree {
  if (chain.includes(file)) {
    throw new UserError(`Config 'extends' forms a cycle: ${[...chain, file].join(' -> ')}`);
  }
  const { tree, map } = readYamlFile(file, chain.at(-1));
  // Relative plugin paths are relative to the file that names them (as `extends` is).
  if (Array.isArray(tree.plugins)) {
    tree.plugins = tree.plugins.map((p: unknown) => (typeof p === 'string' && p.startsWith('.') ? path.resolve(path.dirname(file), p) : p));
  }
  let merged: Tree = {};
  const mergedSources: SourceMap = new Map();
  const ext = tree.extends;
  if (ext !== undefined) {
    const parents = typeof ext === 'string' ? [ext] : Array.isArray(ext) ? ext : null;
    if (!parents || parents.some((p) => typeof p !== 'string')) {
      throw new ConfigError(file, [{ path: 'extends', where: map.get('extends'), message: 'must be a file path or a list of file paths' }]);
    }
    for (const parent of parents as string[]) {
      const parentFile = path.resolve(path.dirname(file), parent);
      const parentSources: SourceMap = new Map();
      merged = deepMerge(merged, readLayered(parentFile, parentSources, [...chain, file]));
      for (const [k, v] of parentSources) mergedSources.set(k, v);
    }
    delete tree.extends;
  }
  merged = deepMerge(merged, tree);
  for (const [k, v] of map) if (k !== 'extends') mergedSources.set(k, v);
  for (const [k, v] of mergedSources) sources.set(k, v);
  return merged;
}

function readYamlFile(file: string, includedFrom?: string): { tree: Tree; map: SourceMap } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new UserError(`Cannot read config ${file}${includedFrom ? ` (extended by ${includedFrom})` : ''}: ${why}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return { path: '', where: `${file}:${pos.line}:${pos.col}`, message: `invalid YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const tree: unknown = doc.toJS() ?? {};
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) {
    throw new ConfigError(file, [{ path: '', where: `${file}:1`, message: 'the top level must be a mapping of keys to values' }]);
  }
  const map: SourceMap = new Map();
  collectLines(doc.contents, [], map, file, lines);
  return { tree: tree as Tree, map };
}

function collectLines(node: YamlNode | null | undefined, at: string[], out: SourceMap, file: string, lines: LineCounter): void {
  if (isMap(node)) {
    for (const item of node.items) {
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      const p = [...at, key];
      const offset = (isScalar(item.key) ? item.key.range?.[0] : undefined) ?? 0;
      out.set(p.join('.'), `${file}:${lines.linePos(offset).line}`);
      collectLines(item.value as YamlNode, p, out, file, lines);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = [...at, String(i)];
      const offset = (item as YamlNode | null)?.range?.[0];
      if (offset !== undefined) out.set(p.join('.'), `${file}:${lines.linePos(offset).line}`);
      collectLines(item as YamlNode, p, out, file, lines);
    });
  }
}

/** A mapping (not a list, not null). */
export function isPlainObject(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Recursive merge: mappings merge key by key, anything else (lists too) is replaced. */
export function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

// ------------------------------------------------------------------ overrides

/** A parsed `key.path=value`. */
export interface Override {
  path: string[];
  raw: string;
}

/** Parse `key.path=value` (the text of a `--set`). */
export function parseOverride(text: string, flag = '--set'): Override {
  const eq = text.indexOf('=');
  const key = eq < 0 ? '' : text.slice(0, eq).trim();
  if (eq < 0 || !/^[A-Za-z_][\w-]*(\.[\w-]+)*$/.test(key)) {
    throw new UserError(`Bad ${flag} '${text}': expected key.path=value, e.g. ${flag} model.latentDim=64`);
  }
  return { path: key.split('.'), raw: text.slice(eq + 1) };
}

/** A command-line value read as YAML (`8` a number, `[1, 2]` a list), or the text itself. */
export function parseScalar(raw: string): unknown {
  try {
    return parseYaml(raw) ?? raw;
  } catch {
    return raw;
  }
}

function setPath(tree: Tree, parts: string[], value: unknown, key: string, file: string, where: string): void {
  let node: Tree = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === undefined || next === null) node[part] = {};
    else if (!isPlainObject(next)) {
      throw new ConfigError(file, [{ path: key, where, message: `cannot set a key inside '${part}', which is not a mapping` }]);
    }
    node = node[part] as Tree;
  }
  node[parts.at(-1)!] = value;
}

type AnyZod = z.ZodType;

/** The schema that governs `parts` in the composed config, when it can be found. */
function schemaAt(tree: Tree, parts: string[], registry: Registry): AnyZod | undefined {
  const [head, ...rest] = parts;
  const sectionName = (section: unknown) => (isPlainObject(section) && typeof section.name === 'string' ? section.name : undefined);
  if ((head === 'model' || head === 'dataset') && rest[0] !== 'name') {
    const name = sectionName(tree[head]);
    const map = head === 'model' ? registry.models : registry.datasets;
    const plugin = name ? map.get(name) : undefined;
    return plugin ? descend(plugin.configSchema as AnyZod, rest) : undefined;
  }
  if (head === 'eval') {
    const plugin = registry.callbacks.get('eval');
    return plugin ? descend(plugin.configSchema as AnyZod, rest) : undefined;
  }
  if (head === 'callbacks' && rest.length >= 1) {
    const plugin = registry.callbacks.get(rest[0]!);
    return plugin ? descend(plugin.configSchema as AnyZod, rest.slice(1)) : undefined;
  }
  return descend(rootSchema, parts);
}

function unwrap(s: AnyZod): AnyZod {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- zod 4 internals: def.innerType / def.in
  let cur: any = s;
  for (let i = 0; i < 10 && cur; i++) {
    const t = cur.def?.type;
    if (t === 'optional' || t === 'default' || t === 'nullable' || t === 'prefault' || t === 'readonly' || t === 'catch') cur = cur.def.innerType;
    else if (t === 'pipe') cur = cur.def.in;
    else break;
  }
  return cur as AnyZod;
}

function descend(schema: AnyZod, parts: string[]): AnyZod | undefined {
  let cur: AnyZod | undefined = schema;
  for (const part of parts) {
    if (!cur) return undefined;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- zod 4 internals
    const u: any = unwrap(cur);
    if (u.def?.type === 'object') cur = u.def.shape[part];
    else if (u.def?.type === 'record') cur = u.def.valueType;
    else if (u.def?.type === 'array') cur = u.def.element;
    else return undefined;
  }
  return cur;
}

/** Coerce an override's text by the type the schema expects there. */
function coerce(raw: string, schema: AnyZod | undefined): unknown {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- zod 4 internals
  const t: string | undefined = schema ? (unwrap(schema) as any).def?.type : undefined;
  if (t === 'string' || t === 'enum') return raw;
  if (t === 'number' || t === 'int' || t === 'bigint') {
    const n = Number(raw);
    return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
  }
  if (t === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return parseScalar(raw);
}

// ------------------------------------------------------------------ validation

function whereOf(sources: SourceMap, parts: (string | number | symbol)[]): string | undefined {
  const exact = sources.get(parts.map(String).join('.'));
  if (exact) return exact;
  // A value made by `--set a.b.c=…` has sources only below it (`a.b.c`), none at `a` itself.
  if (parts.length) {
    const prefix = `${parts.map(String).join('.')}.`;
    for (const [key, where] of sources) if (key.startsWith(prefix)) return where;
  }
  for (let n = parts.length - 1; n >= 0; n--) {
    const w = sources.get(parts.slice(0, n).map(String).join('.'));
    if (w) return w;
  }
  return undefined;
}

function issuesFrom(error: z.ZodError, prefix: string[], sources: SourceMap, schema: AnyZod): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const at = [...prefix, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const p = [...at, key];
        out.push({ path: p.join('.'), where: whereOf(sources, p), message: `unknown key '${key}'${knownKeysHint(schema, issue.path.map(String), key)}` });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = `required (${message.replace(/^Invalid input: /, '')})`;
    out.push({ path: at.join('.'), where: whereOf(sources, at), message });
  }
  return out;
}

/** " (known keys: a, b; did you mean 'b'?)" for an unknown key inside `schema` at `at`. */
function knownKeysHint(schema: AnyZod, at: string[], key: string): string {
  const obj = descend(schema, at);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- zod 4 internals
  const u: any = obj ? unwrap(obj) : undefined;
  if (u?.def?.type !== 'object') return '';
  const known = Object.keys(u.def.shape as object);
  const close = known.find((k) => k.toLowerCase() === key.toLowerCase() || editDistance(k, key) <= 2);
  return ` (known keys: ${known.join(', ')}${close ? `; did you mean '${close}'?` : ''})`;
}

/** Check a whole tree against the root schema and the chosen plugins' schemas; the resolved config. */
export function validate(tree: Tree, file: string, sources: SourceMap, registry: Registry): ResolvedConfig {
  const issues: ConfigIssue[] = [];
  const root = rootSchema.safeParse(tree);
  if (!root.success) {
    issues.push(...issuesFrom(root.error, [], sources, rootSchema));
    throw new ConfigError(file, issues);
  }
  const r = root.data;

  const section = (key: 'model' | 'dataset', map: Map<string, { configSchema: unknown }>, kind: string) => {
    const { name, ...rest } = r[key];
    const plugin = map.get(name);
    if (!plugin) {
      issues.push({ path: `${key}.name`, where: whereOf(sources, [key, 'name']), message: unknownNameMessage(kind, name, [...map.keys()]) });
      return undefined;
    }
    const parsed = (plugin.configSchema as AnyZod).safeParse(rest);
    if (!parsed.success) {
      issues.push(...issuesFrom(parsed.error, [key], sources, plugin.configSchema as AnyZod));
      return undefined;
    }
    return { name, ...(parsed.data as Tree) };
  };
  const model = section('model', registry.models, 'model');
  const dataset = section('dataset', registry.datasets, 'dataset');

  const callbacks: Record<string, Record<string, unknown>> = {};
  for (const key of Object.keys(r.callbacks)) {
    if (!registry.callbacks.has(key)) {
      issues.push({ path: `callbacks.${key}`, where: whereOf(sources, ['callbacks', key]), message: unknownNameMessage('callback', key, [...registry.callbacks.keys()]) });
    }
  }
  // `eval:` at the top level is the `eval` callback's section (the metrics package registers it).
  if (r.eval !== undefined && r.eval !== false) {
    const plugin = registry.callbacks.get('eval');
    if (!plugin) issues.push({ path: 'eval', where: whereOf(sources, ['eval']), message: "no 'eval' callback is registered (it comes with @genlab/metrics)" });
    else if (r.callbacks.eval !== undefined) issues.push({ path: 'eval', where: whereOf(sources, ['eval']), message: "set evaluation either in 'eval:' or in 'callbacks.eval:', not both" });
    else {
      const parsed = (plugin.configSchema as AnyZod).safeParse(r.eval === true || r.eval === null ? {} : r.eval);
      if (!parsed.success) issues.push(...issuesFrom(parsed.error, ['eval'], sources, plugin.configSchema as AnyZod));
      else callbacks.eval = parsed.data as Tree;
    }
  }
  for (const [name, plugin] of registry.callbacks) {
    if (name === 'eval' && callbacks.eval) continue;
    const value = r.callbacks[name];
    if (value === false || (value === undefined && !plugin.enabledByDefault)) continue;
    const parsed = (plugin.configSchema as AnyZod).safeParse(value === undefined || value === true || value === null ? {} : value);
    if (!parsed.success) issues.push(...issuesFrom(parsed.error, ['callbacks', name], sources, plugin.configSchema as AnyZod));
    else callbacks[name] = parsed.data as Tree;
  }
  if (issues.length) throw new ConfigError(file, issues);

  const name = r.name ?? path.basename(file).replace(/\.ya?ml$/i, '');
  return {
    name,
    seed: r.seed,
    backend: r.backend,
    // Plugin paths are stored absolute, so a saved config loads from any folder.
    plugins: r.plugins.map((p) => (p.startsWith('.') ? path.resolve(path.dirname(file), p) : p)),
    model: model!,
    dataset: dataset!,
    train: r.train,
    callbacks,
    tracking: r.tracking,
    output: r.output,
  };
}
