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
