/**
 * Importing the plugin modules a config names (`plugins: [./my-model.ts, my-genlab-plugins]`):
 *
 * - a path (starting with `.` or `/`) is a file, relative to the config that names it; a
 *   bare name is a package, resolved from the config's folder (the user's project), the way
 *   Node resolves an `import` written in a file there;
 * - TypeScript sources (`.ts`, `.mts`, `.tsx`) are loaded directly, compiled on the fly by tsx
 *   (esbuild; types are not checked: run `tsc --noEmit` for that), always as ES modules, even
 *   in a package whose `type` is `commonjs` (npm init's default);
 * - a plugin module that imports `genlab` (or `@genlab/…`, or `@tensorflow/tfjs-core`) gets
 *   the copy this CLI runs, wherever the module lives: so a plugin next to a config outside
 *   any project works without an install, and its tensors are the backend's tensors (a
 *   second tfjs-core instance would have no backend and could not share tensors);
 * - every failure (no such file or package, an error at import, a module that exports no
 *   plugin, a plugin whose shape or schema is wrong, a name that is already taken) is a
 *   `UserError` (exit 2) naming the module and the config line that lists it.
 */
import fs from 'node:fs';
import module from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve as resolveFrom } from 'import-meta-resolve';
import { UserError } from './errors.js';
import { PLUGIN_KINDS, type PluginModule, type Registry } from './registry.js';

/** A plugin module as a config lists it. */
export interface PluginRef {
  /** The path (absolute once read from a file) or package name. */
  spec: string;
  /** Where it is listed: `file:line`, or `--set plugins=…`. */
  where?: string;
}

const TS_FILE = /\.(c|m)?tsx?$/i;

/** Import plugin modules into `registry`; paths resolve against `baseDir`, package names from it. Each module once. */
export async function loadPluginModules(registry: Registry, refs: (PluginRef | string)[], baseDir: string): Promise<void> {
  for (const r of refs) {
    const ref = typeof r === 'string' ? { spec: r } : r;
    const label = `plugin module '${ref.spec}'${ref.where ? ` (${ref.where})` : ''}`;
    const url = locate(ref.spec, baseDir, label);
    if (registry.loadedModules.has(url)) continue;
    installSdkResolver();
    if (TS_FILE.test(url)) await installTypeScript(label);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(url)) as Record<string, unknown>;
    } catch (error) {
      throw new UserError(`Cannot load ${label}: it failed to import: ${firstLines((error as Error)?.message ?? String(error))}`, { cause: error });
    }
    const exported = pluginExports(mod);
    if (!exported) {
      const names = Object.keys(mod);
      throw new UserError(
        `${label} exports nothing genlab knows (${names.length ? `its exports: ${names.join(', ')}` : 'it has no exports'}): ` +
          `export ${Object.keys(PLUGIN_KINDS).map((k) => `'${k}'`).join(', ')} (arrays of plugins) or 'register(registry)'`,
      );
    }
    const before = registry.size();
    registry.add(exported, label);
    if (registry.size() === before) throw new UserError(`${label} registers nothing: its plugin lists are empty`);
    registry.loadedModules.add(url);
  }
}

/** The module's plugin lists: its named exports, or a default export that holds them. */
function pluginExports(mod: Record<string, unknown>): PluginModule | undefined {
  const known = (m: unknown): m is PluginModule =>
    typeof m === 'object' && m !== null && (Object.keys(PLUGIN_KINDS).some((k) => k in m) || typeof (m as PluginModule).register === 'function');
  if (known(mod)) return mod;
  const fallback = (mod as { default?: unknown }).default;
  return known(fallback) ? fallback : undefined;
}

/** The file URL a plugin spec names, or a UserError saying why there is none. */
function locate(spec: string, baseDir: string, label: string): string {
  if (spec.startsWith('file:')) return locate(fileURLToPath(spec), baseDir, label);
  if (spec.startsWith('.') || path.isAbsolute(spec)) {
    const file = path.resolve(baseDir, spec);
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(file);
    } catch {
      // Missing: say so below, with a likely intended file when there is one.
    }
    if (!stat) {
      const near = ['.ts', '.js', '.mjs', '.mts'].map((ext) => file + ext).find((f) => fs.existsSync(f));
      throw new UserError(`Cannot load ${label}: no such file ${file}${near ? ` (did you mean '${path.basename(near)}'? Node needs the extension)` : ''}`);
    }
    if (stat.isDirectory()) throw new UserError(`Cannot load ${label}: ${file} is a folder; name the module file (e.g. ${path.join(spec, 'index.js')})`);
    return pathToFileURL(file).href;
  }
  try {
    return resolveFrom(spec, pathToFileURL(path.join(baseDir, 'config.yaml')).href);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ERR_MODULE_NOT_FOUND'
        ? `no package '${spec}' is installed for ${baseDir} (install it in that project: npm install ${spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/')}), and it is not a path (a path starts with ./)`
        : firstLines((error as Error).message);
    throw new UserError(`Cannot load ${label}: ${why}`, { cause: error });
  }
}

function firstLines(message: string, n = 3): string {
  return message.split('\n').slice(0, n).join(' | ');
}

// ------------------------------------------------------------------ module hooks

let resolverInstalled = false;

/**
 * Make `genlab`, `@genlab/…` and `@tensorflow/tfjs-core` imports resolve to the copies this
 * process runs, from any module (a Node module-resolution hook; needs Node ≥ 20.6, where older
 * versions resolve plugins' imports from their own folders only).
 */
export function installSdkResolver(): void {
  if (resolverInstalled) return;
  resolverInstalled = true;
  if (typeof module.register !== 'function') return;
  const here = import.meta.url;
  let sdk: string | undefined;
  try {
    sdk = resolveFrom('genlab', here);
  } catch {
    // Only @genlab/core is installed: plugins import from it.
  }
  const core = resolveFrom('@genlab/core', here);
  // Written inline (a data: URL) so it loads the same from the sources (tests) and the build.
  const hooks = `
let sdk, core;
export function initialize(data) { sdk = data.sdk; core = data.core; }
export async function resolve(specifier, context, next) {
  if (/^(genlab|@genlab\\/[^/]+)(\\/.*)?$/.test(specifier)) return next(specifier, { ...context, parentURL: sdk ?? core });
  if (specifier === '@tensorflow/tfjs-core') return next(specifier, { ...context, parentURL: core });
  return next(specifier, context);
}
// TypeScript outside node_modules is an ES module whatever its package says ("type": "commonjs"
// is npm init's default): tsx, registered after this, compiles it as ESM when asked so.
export async function load(url, context, next) {
  if ((context.format === 'commonjs' || context.format === 'commonjs-typescript') && /^file:[^?#]*\\.tsx?$/.test(url) && !url.includes('/node_modules/')) {
    return next(url, { ...context, format: 'module' });
  }
  return next(url, context);
}`;
  module.register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { sdk, core } });
}

let typescript: Promise<void> | undefined;

/** Load `.ts` plugin modules from here on (tsx's hooks, registered once). */
function installTypeScript(label: string): Promise<void> {
  typescript ??= (async () => {
    if (typeof module.register !== 'function') throw new UserError(`Cannot load ${label}: TypeScript plugins need Node.js 20.6 or newer; build it to JavaScript or upgrade Node`);
    const { register } = await import('tsx/esm/api');
    register();
  })();
  return typescript;
}
