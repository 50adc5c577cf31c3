/**
 * The plugin registry: models, datasets, callbacks and trackers by name. The CLI creates one
 * registry, adds the built-in plugin lists, then any `plugins:` modules a config names.
 */
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import type { CallbackPlugin, DatasetPlugin, ModelPlugin, TrackerPlugin } from './contracts.js';
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
  /** Alternative to the lists: register plugins imperatively. */
  register?(registry: Registry): void;
}

type Kind = 'model' | 'dataset' | 'callback' | 'tracker';

/** Plugins by kind and name. */
export class Registry {
  readonly models = new Map<string, AnyModel>();
  readonly datasets = new Map<string, AnyDataset>();
  readonly callbacks = new Map<string, AnyCallback>();
  readonly trackers = new Map<string, TrackerPlugin>();
  /** Plugin modules already imported (by URL or package name): importing one again is a no-op. */
  private readonly modules = new Set<string>();

  /** Add every plugin a module exports. A name registered twice is an error. */
  add(mod: PluginModule, source = 'built-in'): this {
    for (const p of mod.models ?? []) this.put('model', this.models, p, source);
    for (const p of mod.datasets ?? []) this.put('dataset', this.datasets, p, source);
    for (const p of mod.callbacks ?? []) this.put('callback', this.callbacks, p, source);
    for (const p of mod.trackers ?? []) this.put('tracker', this.trackers, p, source);
    mod.register?.(this);
    return this;
  }

  private put<T extends { name: string }>(kind: Kind, map: Map<string, T>, plugin: T, source: string): void {
    if (!plugin || typeof plugin.name !== 'string') throw new UserError(`${source}: a ${kind} plugin has no name`);
    if (map.has(plugin.name)) throw new UserError(`${source}: ${kind} '${plugin.name}' is already registered`);
    map.set(plugin.name, plugin);
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
  /** The tracker plugin for a URI, by its scheme (`file:`, `http:`, …). */
  trackerFor(uri: string): TrackerPlugin {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase() ?? 'file';
    for (const t of this.trackers.values()) if (t.schemes.includes(scheme)) return t;
    const known = [...this.trackers.values()].flatMap((t) => t.schemes.map((s) => `${s}:`));
    throw new UserError(`No tracker handles '${uri}' (scheme '${scheme}:'). Known schemes: ${known.join(', ') || 'none'}`);
  }

  private lookup<T>(kind: Kind, map: Map<string, T>, name: string): T {
    const p = map.get(name);
    if (!p) throw new UserError(unknownNameMessage(kind, name, [...map.keys()]));
    return p;
  }

  /** Import plugin modules named by path (relative to `baseDir`) or package name; each module once. */
  async loadModules(specs: string[], baseDir: string): Promise<void> {
    for (const spec of specs) {
      const isPath = spec.startsWith('.') || path.isAbsolute(spec);
      const url = isPath ? pathToFileURL(path.resolve(baseDir, spec)).href : spec;
      if (this.modules.has(url)) continue;
      let mod: PluginModule & { default?: PluginModule };
      try {
        mod = (await import(url)) as PluginModule & { default?: PluginModule };
      } catch (error) {
        throw new UserError(`Cannot load plugin module '${spec}' (from ${baseDir}): ${(error as Error).message}`, { cause: error });
      }
      const exported = mod.default && !mod.models && !mod.datasets && !mod.register ? mod.default : mod;
      const before = this.size();
      this.add(exported, spec);
      if (this.size() === before) {
        throw new UserError(`Plugin module '${spec}' registers nothing: export 'models', 'datasets', 'callbacks', 'trackers' or 'register'`);
      }
      this.modules.add(url);
    }
  }

  private size(): number {
    return this.models.size + this.datasets.size + this.callbacks.size + this.trackers.size;
  }
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
