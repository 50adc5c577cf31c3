/**
 * Loading one run's config: its sources (YAML with lines, `extends:`; source.ts), the
 * `--set` overrides coerced by the schema (overrides.ts, which also imports the `plugins:`
 * modules), and validation against the root schema composed with the chosen plugins'
 * schemas (validate.ts). Every problem is reported with its key path and `file:line`.
 * Several runs from one file are a sweep (sweep.ts), built from the same pieces.
 */
import { UserError } from '../errors.js';
import type { Registry } from '../registry.js';
import { buildTree, parseOverride, setStep } from './overrides.js';
import type { ResolvedConfig } from './schema.js';
import { readConfigTree, type SourceMap, type Tree } from './source.js';
import { validate } from './validate.js';

export { deepMerge, isPlainObject, readConfigTree, type ConfigTree, type SourceMap } from './source.js';
export { buildTree, parseOverride, parseScalar, setStep, type Override, type TreeStep } from './overrides.js';
export { resolveDatasetOptions, validate } from './validate.js';

/** Turn a resolved config back into YAML text (saved with every run). */
export { stringify as toYaml } from 'yaml';

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

/** Whether a tree (after overrides) describes several runs: a non-empty `sweep:` block. */
export function hasSweepBlock(tree: Tree): boolean {
  return tree.sweep !== undefined && tree.sweep !== null;
}

/** Whether overrides write into the `sweep:` block (`--set sweep.seed=[1,2]`). */
export function overridesSweep(overrides: string[]): boolean {
  return overrides.some((t) => parseOverride(t).path[0] === 'sweep');
}

/**
 * Load, compose, override and validate a config file. Imports the plugin modules the
 * config lists into `registry`. Throws `ConfigError` (exit 2) listing every problem.
 * A file with a `sweep:` block (or `--set sweep.…`) describes several runs: load it with `loadSweep`.
 */
export async function loadConfig(file: string, registry: Registry, opts: LoadOptions = {}): Promise<LoadedConfig> {
  const base = readConfigTree(file);
  const overrides = (opts.overrides ?? []).map((text) => parseOverride(text));
  if (hasSweepBlock(base.tree) || overrides.some((o) => o.path[0] === 'sweep')) {
    throw new UserError(
      `${file} ${hasSweepBlock(base.tree) ? "has a 'sweep:' block" : "gets a 'sweep:' block from --set"}, so it describes several runs: 'exp run' runs them and 'exp validate' checks them all. ` +
        `For a single run, remove the block or start from a run's saved config (outputs/<run>/config.yaml).`,
    );
  }
  if (base.tree.launcher !== undefined && base.tree.launcher !== null) {
    throw new UserError(`${file} has a 'launcher:' block, which puts the variants of a sweep on a job queue; this config is a single run (no 'sweep:' block). Add a sweep (--sweep key=a,b) or remove the block (launcher: null in a file that extends it).`);
  }
  delete base.tree.launcher;
  delete base.tree.sweep; // `sweep: null` switches off a sweep a parent file has
  const { tree, sources } = await buildTree(
    base,
    overrides.map((o) => setStep(o, '--set')),
    registry,
  );
  const config = validate(tree, base.file, sources, registry);
  return { config, file: base.file, baseDir: base.baseDir, sources };
}
