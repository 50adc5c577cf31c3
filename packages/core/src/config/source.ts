/**
 * Config sources: YAML files read with the line of every key, composed through `extends:`
 * (a file or a list, merged key by key). The result is a plain tree plus a map from each key
 * path to the `file:line` it was written at, which every later error uses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { ConfigError, UserError } from '../errors.js';

/** A config tree: what YAML parses to. */
export type Tree = Record<string, unknown>;

/** Where each key path (`a.b.c`) was written: `file:line` or `--set a.b.c=…`. */
export type SourceMap = Map<string, string>;

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

/** The largest config file read, in bytes, unless `GENLAB_MAX_CONFIG_BYTES` says otherwise. */
export const DEFAULT_MAX_CONFIG_BYTES = 1024 * 1024;
/**
 * Alias expansions allowed while a config becomes a tree (yaml counts each use times the
 * aliases inside what it points at). Real configs reuse a block a handful of times; an
 * alias bomb ("billion laughs") needs thousands.
 */
export const MAX_CONFIG_ALIASES = 100;

/** The config size limit: `$GENLAB_MAX_CONFIG_BYTES` (a positive whole number of bytes), else 1 MiB. */
export function maxConfigBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GENLAB_MAX_CONFIG_BYTES;
  if (raw === undefined || raw === '') return DEFAULT_MAX_CONFIG_BYTES;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UserError(`GENLAB_MAX_CONFIG_BYTES is '${raw}': expected a positive whole number of bytes (default ${DEFAULT_MAX_CONFIG_BYTES})`);
  return n;
}

/**
 * The text of a config file, refused when longer than `max` bytes. Read through a descriptor
 * up to one byte past the limit rather than stat'ed, so a device or a pipe named as a config
 * cannot be read without end either.
 */
function readConfigText(file: string, max: number, includedFrom?: string): string {
  const from = includedFrom ? ` (extended by ${includedFrom})` : '';
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      for (;;) {
        const buf = Buffer.alloc(Math.min(64 * 1024, max + 1 - total));
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        chunks.push(buf.subarray(0, n));
        total += n;
        if (total > max) break;
      }
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new UserError(`Cannot read config ${file}${from}: ${why}`);
  }
  if (total > max) {
    throw new ConfigError(file, [
      { path: '', where: file, message: `the file${from} is larger than ${max} bytes, the most a config may have; a config this large is almost certainly not one (set GENLAB_MAX_CONFIG_BYTES to a larger number of bytes if it is)` },
    ]);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function readYamlFile(file: string, includedFrom?: string): { tree: Tree; map: SourceMap } {
  const text = readConfigText(file, maxConfigBytes(), includedFrom);
  const lines = new LineCounter();
  // Duplicate keys are found by collectLines: yaml's own check (uniqueKeys) compares each key
  // with every earlier key of its mapping, and 100,000 keys took minutes.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const yamlIssue = (offset: number, message: string) => {
    const pos = lines.linePos(offset);
    return { path: '', where: `${file}:${pos.line}:${pos.col}`, message: `invalid YAML: ${message}` };
  };
  // The parser recurses into nested collections: tens of thousands of `[` overflow its stack.
  const why = (e: Error) => (/maximum call stack/i.test(e.message) ? 'nested too deeply (the YAML parser ran out of stack)' : e.message.split('\n')[0]!);
  if (doc.errors.length) throw new ConfigError(file, doc.errors.map((e) => yamlIssue(e.pos[0], why(e))));
  const map: SourceMap = new Map();
  const duplicates: number[] = [];
  collectLines(doc.contents, [], map, file, lines, duplicates);
  if (duplicates.length) throw new ConfigError(file, duplicates.map((offset) => yamlIssue(offset, 'Map keys must be unique')));
  let tree: unknown;
  try {
    tree = doc.toJS({ maxAliasCount: MAX_CONFIG_ALIASES }) ?? {};
  } catch (error) {
    // yaml throws a ReferenceError once aliases expand past the limit, and for an alias whose
    // anchor is not set before it (which the parse does not report).
    if (!(error instanceof ReferenceError)) throw error;
    const message = /excessive alias count/i.test(error.message)
      ? `invalid YAML: its aliases (*name) expand past ${MAX_CONFIG_ALIASES} uses, the most a config may have: an alias bomb, or anchors reused far more than a config needs`
      : `invalid YAML: ${error.message}`;
    throw new ConfigError(file, [{ path: '', where: file, message }]);
  }
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) {
    throw new ConfigError(file, [{ path: '', where: `${file}:1`, message: 'the top level must be a mapping of keys to values' }]);
  }
  return { tree: tree as Tree, map };
}

/** Record the line of every key path in `out`, and the offset of every key repeated within its mapping in `duplicates`. */
function collectLines(node: YamlNode | null | undefined, at: string[], out: SourceMap, file: string, lines: LineCounter, duplicates: number[]): void {
  if (isMap(node)) {
    // Scalar keys compared by value, as yaml's uniqueKeys does (`1` and `'1'` differ).
    const seen = new Set<unknown>();
    for (const item of node.items) {
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      const p = [...at, key];
      const offset = (isScalar(item.key) ? item.key.range?.[0] : undefined) ?? 0;
      if (isScalar(item.key)) {
        if (seen.has(item.key.value)) duplicates.push(offset);
        seen.add(item.key.value);
      }
      out.set(p.join('.'), `${file}:${lines.linePos(offset).line}`);
      collectLines(item.value as YamlNode, p, out, file, lines, duplicates);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = [...at, String(i)];
      const offset = (item as YamlNode | null)?.range?.[0];
      if (offset !== undefined) out.set(p.join('.'), `${file}:${lines.linePos(offset).line}`);
      collectLines(item as YamlNode, p, out, file, lines, duplicates);
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
