/**
 * The plugin registry: models, datasets, callbacks, trackers and metrics by name, each with
 * the origin it came from (a built-in package or a plugin module), so a collision names both.
 * The CLI creates one registry, adds the built-in plugin lists, then the `plugins:` modules a
 * config names (`loadModules`, in plugin-loader.ts).
 */
import type { CallbackPlugin, DatasetPlugin, MetricPlugin, ModelPlugin, TrackerPlugin } from './contracts.js';
import { UserError } from './errors.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- plugins are stored type-erased */
type AnyModel = ModelPlugin<any>;
type AnyDataset = DatasetPlugin<any>;
type AnyCallback = CallbackPlugin<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** What a plugin module (or a built-in package) exports. Every list is optional. */
export interface PluginModule {
  models?: AnyModel[];
  datasets?: AnyDataset[];
  callbacks?: AnyCallback[];
  trackers?: TrackerPlugin[];
  metrics?: MetricPlugin[];
  /** Alternative to the lists: register plugins imperatively. */
  register?(registry: Registry): void;
}

/** The kinds of plugin, as a module's export lists name them. */
export const PLUGIN_KINDS = { models: 'model', datasets: 'dataset', callbacks: 'callback', trackers: 'tracker', metrics: 'metric' } as const;
type ListKey = keyof typeof PLUGIN_KINDS;
export type PluginKind = (typeof PLUGIN_KINDS)[ListKey];

/** The functions each kind of plugin must have (checked when it is registered). */
const REQUIRED: Record<PluginKind, string[]> = {
  model: ['create'],
  dataset: ['load'],
  callback: ['create'],
  tracker: ['create'],
  metric: ['compute'],
};

/** Plugins by kind and name. */
export class Registry {
  readonly models = new Map<string, AnyModel>();
  readonly datasets = new Map<string, AnyDataset>();
  readonly callbacks = new Map<string, AnyCallback>();
  readonly trackers = new Map<string, TrackerPlugin>();
  readonly metrics = new Map<string, MetricPlugin>();
  /** Where each plugin came from (`kind:name` → a package or module), for collisions and `exp list`. */
  private readonly origins = new Map<string, string>();
  /** Plugin modules already imported (by URL): importing one again is a no-op. */
  readonly loadedModules = new Set<string>();
  /** The origin of a module whose `register` function is running. */
  private registering?: string;

  /**
   * Add every plugin a module exports, checking each one's shape (a name, a zod schema, the
   * functions its kind needs). A name registered twice is an error naming both origins.
   */
  add(mod: PluginModule, origin = this.registering ?? 'built-in'): this {
    for (const key of Object.keys(PLUGIN_KINDS) as ListKey[]) {
      const list = mod[key];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new UserError(`${origin}: '${key}' must be an array of ${PLUGIN_KINDS[key]} plugins, got ${describeValue(list)}`);
      list.forEach((plugin, i) => this.put(PLUGIN_KINDS[key], plugin as { name: string }, origin, `${key}[${i}]`));
    }
    if (mod.register !== undefined) {
      if (typeof mod.register !== 'function') throw new UserError(`${origin}: 'register' must be a function (registry) => void`);
      // What `register` adds comes from this origin too.
      const outer = this.registering;
      this.registering = origin;
      try {
        mod.register(this);
      } finally {
        this.registering = outer;
      }
    }
    return this;
  }

  /** Register one plugin of a kind (also what `register(registry)` functions call, through `add`). */
  private put(kind: PluginKind, plugin: { name: string }, origin: string, key: string): void {
    const problem = shapeProblem(kind, plugin);
    if (problem) throw new UserError(`${origin}: ${key} is not a ${kind} plugin: ${problem}`);
    const map = this.mapOf(kind) as Map<string, unknown>;
    const id = `${kind}:${plugin.name}`;
    if (map.has(plugin.name)) {
      throw new UserError(`${origin}: ${kind} '${plugin.name}' (${key}) is already registered by ${this.origins.get(id) ?? 'another module'}: give it another name`);
    }
    map.set(plugin.name, plugin);
    this.origins.set(id, origin);
  }

  /** Where a plugin came from: a built-in package or a plugin module. */
  origin(kind: PluginKind, name: string): string | undefined {
    return this.origins.get(`${kind}:${name}`);
  }

  private mapOf(kind: PluginKind): Map<string, unknown> {
    return { model: this.models, dataset: this.datasets, callback: this.callbacks, tracker: this.trackers, metric: this.metrics }[kind];
  }

  model(name: string): AnyModel {
    return this.lookup('model', this.models, name);
  }
  dataset(name: string): AnyDataset {
    return this.lookup('dataset', this.datasets, name);
  }
  callback(name: string): AnyCallback {
    return this.lookup('callback', this.callbacks, name);
  }
  metric(name: string): MetricPlugin {
    return this.lookup('metric', this.metrics, name);
  }
  /**
   * The tracker plugin for a URI, by its scheme (`file:`, `http:`, …). A URI its tracker
   * says it can never use is refused here, so that `exp validate` and the start of a run
   * refuse it before a run exists.
   */
  trackerFor(uri: string): TrackerPlugin {
    const scheme = uriScheme(uri);
    for (const t of this.trackers.values()) {
      if (!t.schemes.includes(scheme)) continue;
      const problem = t.checkUri?.(uri);
      if (problem) throw new UserError(problem);
      return t;
    }
    throw new UserError(`No tracker handles '${uri}' (scheme '${scheme}:'). Known schemes: ${this.trackerSchemes().join(', ') || 'none'}`);
  }

  /** Every URI scheme a registered tracker handles, as `file:`. */
  trackerSchemes(): string[] {
    return [...this.trackers.values()].flatMap((t) => t.schemes.map((s) => `${s}:`));
  }

  private lookup<T>(kind: PluginKind, map: Map<string, T>, name: string): T {
    const p = map.get(name);
    if (!p) throw new UserError(unknownNameMessage(kind, name, [...map.keys()]));
    return p;
  }

  /** Number of plugins of every kind. */
  size(): number {
    return this.models.size + this.datasets.size + this.callbacks.size + this.trackers.size + this.metrics.size;
  }
}

/** The scheme of a tracking URI (`file` for a bare path). */
export function uriScheme(uri: string): string {
  return /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase() ?? 'file';
}

/** Whether a value is a zod 4 schema (what the config loader reads and coerces by). */
export function isZodSchema(value: unknown): boolean {
  return typeof value === 'object' && value !== null && '_zod' in value && typeof (value as { safeParse?: unknown }).safeParse === 'function';
}

/** What is wrong with a plugin object of a kind, or undefined when it has the contract's shape. */
function shapeProblem(kind: PluginKind, plugin: unknown): string | undefined {
  if (typeof plugin !== 'object' || plugin === null) return `expected an object, got ${describeValue(plugin)}`;
  const p = plugin as Record<string, unknown>;
  if (typeof p.name !== 'string' || !p.name) return "it has no 'name' (a non-empty string)";
  for (const fn of REQUIRED[kind]) if (typeof p[fn] !== 'function') return `'${p.name}' has no '${fn}' function`;
  if (kind === 'tracker') {
    if (!Array.isArray(p.schemes) || !p.schemes.every((s) => typeof s === 'string')) return `'${p.name}' has no 'schemes' list (URI schemes such as 'file')`;
  } else if (kind !== 'metric' && !isZodSchema(p.configSchema)) {
    return `'${p.name}'.configSchema is ${p.configSchema === undefined ? 'missing' : 'not a zod schema'}: build it with z from 'genlab' (zod 4), e.g. z.object({ … }).strict()`;
  }
  if (kind === 'metric' && p.input !== 'features' && p.input !== 'pixels') return `'${p.name}'.input must be 'features' or 'pixels'`;
  return undefined;
}

/** A short description of a value for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'function') return 'a function';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** "Unknown model 'x'. Known models: a, b (did you mean 'y'?)" */
export function unknownNameMessage(kind: string, name: string, known: string[]): string {
  // The closest name by edit distance; containment ('gan' in 'gan/mlp') counts as close too.
  const close = known
    .map((k) => ({ k, d: editDistance(k, name) }))
    .filter(({ k, d }) => d <= 2 || k.includes(name) || name.includes(k))
    .sort((a, b) => a.d - b.d)
    .map(({ k }) => k);
  return (
    `Unknown ${kind} '${name}'. Known ${kind}s: ${known.join(', ') || 'none'}` +
    (close.length ? ` (did you mean '${close[0]}'?)` : '')
  );
}

/** Levenshtein distance, for 'did you mean' hints. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}
