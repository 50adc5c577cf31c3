/**
 * Validation: a config tree checked against the root schema composed with the chosen plugins'
 * schemas (and the top-level keys registered callbacks read), into a `ResolvedConfig` with
 * every default filled in. Every problem names its key path and the `file:line` (or `--set`)
 * it was written at; all of them are reported at once.
 */
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, type ConfigIssue, MAX_LISTED_ISSUES, UserError } from '../errors.js';
import type { Registry } from '../registry.js';
import { editDistance, unknownNameMessage } from '../registry.js';
import { coerce, descend, parseOverride, schemaAt, setPath, unwrap } from './overrides.js';
import { rootSchema, type PluginSection, type ResolvedConfig } from './schema.js';
import type { SourceMap, Tree } from './source.js';

type AnyZod = z.ZodType;



export function whereOf(sources: SourceMap, parts: (string | number | symbol)[]): string | undefined {
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

export function issuesFrom(error: z.ZodError, prefix: string[], sources: SourceMap, schema: AnyZod): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const at = [...prefix, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const p = [...at, key];
        // Only listed issues get the hint: the edit distances of 100,000 keys took seconds.
        const hint = out.length < MAX_LISTED_ISSUES ? knownKeysHint(schema, issue.path.map(String), key) : '';
        out.push({ path: p.join('.'), where: whereOf(sources, p), message: `unknown key '${key}'${hint}` });
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

/** The root schema with the top-level keys of registered callbacks (`eval:`) added. */
export function composeRoot(registry: Registry): AnyZod {
  const extra: Record<string, AnyZod> = {};
  for (const p of registry.callbacks.values()) if (p.configKey) extra[p.configKey] = z.unknown().optional();
  return Object.keys(extra).length ? rootSchema.extend(extra) : rootSchema;
}

/** Check a whole tree against the root schema and the chosen plugins' schemas; the resolved config. */
export function validate(tree: Tree, file: string, sources: SourceMap, registry: Registry): ResolvedConfig {
  const issues: ConfigIssue[] = [];
  const schema = composeRoot(registry);
  const root = schema.safeParse(tree);
  if (!root.success) {
    issues.push(...issuesFrom(root.error, [], sources, schema));
    throw new ConfigError(file, issues);
  }
  const r = root.data as z.output<typeof rootSchema> & Tree;

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
  for (const [name, plugin] of registry.callbacks) {
    // A callback with a top-level key of its own (`eval:`) is set there, or under `callbacks.<name>`.
    const own = plugin.configKey ? r[plugin.configKey] : undefined;
    if (own !== undefined && r.callbacks[name] !== undefined) {
      issues.push({ path: plugin.configKey!, where: whereOf(sources, [plugin.configKey!]), message: `set the '${name}' callback either in '${plugin.configKey}:' or in 'callbacks.${name}:', not both` });
      continue;
    }
    const [at, value] = own !== undefined ? [[plugin.configKey!], own] : [['callbacks', name], r.callbacks[name]];
    if (value === false || (value === undefined && !(plugin.enabledByDefault || (own !== undefined && own !== false)))) continue;
    const parsed = (plugin.configSchema as AnyZod).safeParse(value === undefined || value === true || value === null ? {} : value);
    if (!parsed.success) issues.push(...issuesFrom(parsed.error, at, sources, plugin.configSchema as AnyZod));
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
