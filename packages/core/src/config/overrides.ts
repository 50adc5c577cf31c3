/**
 * Changes to a config tree: `--set key.path=value` overrides and the steps a sweep variant
 * applies, each value coerced by the type the schema expects at its path (so
 * `--set model.label=123` stays a string). Building a tree imports the plugin modules it
 * lists, since the schemas of their plugins decide how later values are read.
 */
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError, UserError } from '../errors.js';
import { loadPluginModules } from '../plugin-loader.js';
import type { Registry } from '../registry.js';
import { deepMerge, isPlainObject, type ConfigTree, type SourceMap, type Tree } from './source.js';
import { rootSchema } from './schema.js';

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
    const refs = (pluginList as string[]).map((spec, i) => ({ spec, where: `${first.sources.get(`plugins.${i}`) ?? first.sources.get('plugins') ?? base.file}: plugins[${i}]` }));
    await loadPluginModules(registry, refs, base.baseDir);
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

export function getPath(tree: Tree, parts: string[]): unknown {
  let node: unknown = tree;
  for (const p of parts) node = isPlainObject(node) ? node[p] : undefined;
  return node;
}

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

export function setPath(tree: Tree, parts: string[], value: unknown, key: string, file: string, where: string): void {
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
export function schemaAt(tree: Tree, parts: string[], registry: Registry): AnyZod | undefined {
  const [head, ...rest] = parts;
  const sectionName = (section: unknown) => (isPlainObject(section) && typeof section.name === 'string' ? section.name : undefined);
  if ((head === 'model' || head === 'dataset') && rest[0] !== 'name') {
    const name = sectionName(tree[head]);
    const map = head === 'model' ? registry.models : registry.datasets;
    const plugin = name ? map.get(name) : undefined;
    return plugin ? descend(plugin.configSchema as AnyZod, rest) : undefined;
  }
  // A callback's own top-level section (`eval:` is the eval callback's).
  const keyed = callbackForKey(registry, head!);
  if (keyed) return descend(keyed.configSchema as AnyZod, rest);
  if (head === 'callbacks' && rest.length >= 1) {
    const plugin = registry.callbacks.get(rest[0]!);
    return plugin ? descend(plugin.configSchema as AnyZod, rest.slice(1)) : undefined;
  }
  return descend(rootSchema, parts);
}

export function unwrap(s: AnyZod): AnyZod {
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

export function descend(schema: AnyZod, parts: string[]): AnyZod | undefined {
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
export function coerce(raw: string, schema: AnyZod | undefined): unknown {
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


/** The callback plugin whose options live under a top-level key of their own (`configKey`), if any. */
export function callbackForKey(registry: Registry, key: string): ReturnType<Registry['callback']> | undefined {
  for (const p of registry.callbacks.values()) if (p.configKey === key) return p;
  return undefined;
}
