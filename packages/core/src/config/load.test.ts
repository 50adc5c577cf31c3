import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { z } from 'zod';
import { builtinCallbacks } from '../callbacks/index.js';
import type { CallbackPlugin, DatasetPlugin, ModelPlugin } from '../contracts.js';
import { ConfigError, UserError } from '../errors.js';
import { Registry } from '../registry.js';
import { deepMerge, loadConfig } from './load.js';

// ------------------------------------------------------------------ fixtures

const modelSchema = z
  .object({
    latentDim: z.number().int().positive().default(8),
    lr: z.number().positive().default(0.001),
    label: z.string().default('x'),
    net: z
      .object({ hidden: z.array(z.number()).default([4]) })
      .strict()
      .default({ hidden: [4] }),
  })
  .strict();

const testModel: ModelPlugin<z.output<typeof modelSchema>> = {
  name: 'test/model',
  family: 'test',
  description: 'a model that is never built',
  configSchema: modelSchema,
  create: () => {
    throw new Error('not used in config tests');
  },
};

const dataSchema = z.object({ size: z.number().int().positive().default(16) }).strict();

const testData: DatasetPlugin<z.output<typeof dataSchema>> = {
  name: 'test/data',
  description: 'a dataset that is never loaded',
  configSchema: dataSchema,
  load: () => Promise.reject(new Error('not used in config tests')),
};

function makeRegistry(): Registry {
  return new Registry().add(builtinCallbacks).add({ models: [testModel], datasets: [testData] });
}

/** A minimal valid config body (6 lines; `train:` is the last section). */
const MINIMAL = ['model:', '  name: test/model', 'dataset:', '  name: test/data', 'train:', '  steps: 10', ''].join('\n');

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-config-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Write `text` to `<dir>/<name>` and return the absolute path. */
function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** Await a rejection and return the error, failing the test if it resolved. */
async function rejection(p: Promise<unknown>): Promise<Error & { exitCode?: number }> {
  let result: unknown;
  try {
    result = await p;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error & { exitCode?: number };
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
}

/** Await a ConfigError, check its exit code and return it. */
async function configError(p: Promise<unknown>): Promise<ConfigError> {
  const error = await rejection(p);
  expect(error).toBeInstanceOf(ConfigError);
  expect(error).toBeInstanceOf(UserError);
  expect(error.exitCode).toBe(2);
  return error as ConfigError;
}

// ------------------------------------------------------------------ tests

describe('loadConfig: defaults', () => {
  it('fills in root, train, plugin and default-callback defaults', async () => {
    const file = write('mnist-gan.yaml', MINIMAL);
    const loaded = await loadConfig(file, makeRegistry());
    const c = loaded.config;

    expect(loaded.file).toBe(file);
    expect(loaded.baseDir).toBe(dir);
    expect(c.name).toBe('mnist-gan'); // from the file name
    expect(c.seed).toBe(0);
    expect(c.backend).toBe('auto');
    expect(c.plugins).toEqual([]);
    expect(c.model).toEqual({ name: 'test/model', latentDim: 8, lr: 0.001, label: 'x', net: { hidden: [4] } });
    expect(c.dataset).toEqual({ name: 'test/data', size: 16 });
    expect(c.train).toEqual({ steps: 10, batchSize: 64, logEvery: 50, logGradNorm: true, devices: 1 });
    expect(c.tracking).toEqual({ uri: 'file:./mlruns', tags: {} });
    expect(c.output).toEqual({ dir: './outputs' });
    // Every built-in callback is enabled by default, with its options resolved.
    expect(Object.keys(c.callbacks).sort()).toEqual(['checkpoint', 'divergence', 'progress', 'samples', 'tracker']);
    expect(c.callbacks.samples).toMatchObject({ every: 500, n: 64 });
    expect(c.callbacks.checkpoint).toMatchObject({ every: 1000, logArtifact: true });
  });

  it('keeps explicit values and lets `false` turn a default callback off', async () => {
    const file = write(
      'c.yaml',
      MINIMAL + ['name: explicit', 'seed: 7', 'callbacks:', '  samples: false', '  checkpoint:', '    every: 5', ''].join('\n'),
    );
    const { config } = await loadConfig(file, makeRegistry());
    expect(config.name).toBe('explicit');
    expect(config.seed).toBe(7);
    expect(config.callbacks.samples).toBeUndefined();
    expect(config.callbacks.checkpoint).toMatchObject({ every: 5, logArtifact: true });
  });

  it('records where each key was written', async () => {
    const file = write('c.yaml', MINIMAL);
    const { sources } = await loadConfig(file, makeRegistry(), { overrides: ['train.steps=3'] });
    expect(sources.get('model.name')).toBe(`${file}:2`);
    expect(sources.get('dataset')).toBe(`${file}:3`);
    expect(sources.get('train.steps')).toBe('--set train.steps=3');
  });
});

describe('loadConfig: extends', () => {
  it('deep-merges the child over the parent and replaces lists', async () => {
    write(
      'base.yaml',
      [
        'name: base',
        'seed: 1',
        'model:',
        '  name: test/model',
        '  latentDim: 32',
        '  label: parent',
        '  net:',
        '    hidden: [64, 32, 16]',
        'dataset:',
        '  name: test/data',
        '  size: 28',
        'train:',
        '  steps: 100',
        '  batchSize: 16',
        '',
      ].join('\n'),
    );
    const child = write(
      'child.yaml',
      ['extends: base.yaml', 'name: child', 'model:', '  label: child', '  net:', '    hidden: [8]', 'train:', '  steps: 5', ''].join('\n'),
    );
    const { config } = await loadConfig(child, makeRegistry());
    expect(config.name).toBe('child');
    expect(config.seed).toBe(1); // from the parent
    expect(config.model).toEqual({ name: 'test/model', latentDim: 32, lr: 0.001, label: 'child', net: { hidden: [8] } });
    expect(config.dataset).toEqual({ name: 'test/data', size: 28 });
    expect(config.train).toEqual({ steps: 5, batchSize: 16, logEvery: 50, logGradNorm: true, devices: 1 });
  });

  it('resolves `extends` relative to the file that says it, through several levels', async () => {
    write('shared/root.yaml', MINIMAL + 'seed: 3\n');
    write('shared/mid.yaml', 'extends: ./root.yaml\nseed: 4\ntrain:\n  batchSize: 8\n');
    const top = write('exp/deep/top.yaml', 'extends: ../../shared/mid.yaml\nname: top\n');
    const { config } = await loadConfig(top, makeRegistry());
    expect(config.seed).toBe(4);
    expect(config.train).toMatchObject({ steps: 10, batchSize: 8 });
    expect(config.model.name).toBe('test/model');
  });

  it('applies a list of parents in order, later parents winning', async () => {
    write('a.yaml', MINIMAL + 'seed: 1\nbackend: cpu\n');
    write('b.yaml', 'seed: 2\n');
    const top = write('top.yaml', 'extends: [a.yaml, b.yaml]\n');
    const { config } = await loadConfig(top, makeRegistry());
    expect(config.seed).toBe(2);
    expect(config.backend).toBe('cpu');
  });

  it('detects a cycle', async () => {
    const a = write('a.yaml', 'extends: b.yaml\n' + MINIMAL);
    const b = write('b.yaml', 'extends: a.yaml\n');
    const error = await rejection(loadConfig(a, makeRegistry()));
    expect(error).toBeInstanceOf(UserError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/cycle/);
    expect(error.message).toContain(`${a} -> ${b} -> ${a}`);
  });

  it('detects a file that extends itself', async () => {
    const a = write('self.yaml', 'extends: ./self.yaml\n' + MINIMAL);
    const error = await rejection(loadConfig(a, makeRegistry()));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/cycle/);
  });

  it('reports a missing parent with the file that extends it', async () => {
    const top = write('top.yaml', 'extends: nowhere.yaml\n');
    const error = await rejection(loadConfig(top, makeRegistry()));
    expect(error).toBeInstanceOf(UserError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(path.join(dir, 'nowhere.yaml'));
    expect(error.message).toContain(`extended by ${top}`);
    expect(error.message).toContain('no such file');
  });

  it('rejects an `extends` that is not a path', async () => {
    const top = write('top.yaml', MINIMAL + 'extends: 3\n');
    const error = await configError(loadConfig(top, makeRegistry()));
    expect(error.message).toContain(`${top}:7`);
    expect(error.message).toContain("'extends'");
  });

  it("reports an error inside a parent with the parent's file:line", async () => {
    const base = write(
      'base.yaml',
      [
        'model:', // 1
        '  name: test/model', // 2
        '  latentDim: 16', // 3
        '  nope: 1', // 4
        'dataset:', // 5
        '  name: test/data', // 6
        'train:', // 7
        '  steps: 10', // 8
        '  batchSize: -4', // 9
        '',
      ].join('\n'),
    );
    const top = write('top.yaml', 'extends: base.yaml\nseed: 2\n');
    // The root schema fails first (batchSize), with the parent's line.
    const e1 = await configError(loadConfig(top, makeRegistry()));
    expect(e1.file).toBe(top);
    const batch = e1.issues.find((i) => i.path === 'train.batchSize');
    expect(batch?.where).toBe(`${base}:9`);
    expect(e1.message).toContain(`${base}:9: 'train.batchSize'`);

    // Fix batchSize in the child: the unknown model key in the parent is reported next.
    const top2 = write('top2.yaml', 'extends: base.yaml\ntrain:\n  batchSize: 4\n');
    const e2 = await configError(loadConfig(top2, makeRegistry()));
    expect(e2.issues.map((i) => i.path)).toEqual(['model.nope']);
    expect(e2.message).toContain(`${base}:4: 'model.nope'`);
  });

  it("reports a child's override of a parent key with the child's line", async () => {
    write('base.yaml', MINIMAL);
    const top = write('top.yaml', 'extends: base.yaml\nmodel:\n  latentDim: zero\n');
    const e = await configError(loadConfig(top, makeRegistry()));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]!.path).toBe('model.latentDim');
    expect(e.issues[0]!.where).toBe(`${top}:3`);
  });
});

describe('loadConfig: --set overrides', () => {
  it('coerces each value by the schema at its path', async () => {
    const file = write('c.yaml', MINIMAL);
    const { config } = await loadConfig(file, makeRegistry(), {
      overrides: ['model.latentDim=64', 'model.label=123', 'train.steps=5', 'model.net.hidden=[1, 2]', 'name=007', 'seed=9'],
    });
    expect(config.model.latentDim).toBe(64);
    expect(config.model.label).toBe('123');
    expect(config.model.net).toEqual({ hidden: [1, 2] });
    expect(config.train.steps).toBe(5);
    expect(config.name).toBe('007'); // a string in the root schema: not the number 7
    expect(config.seed).toBe(9);
  });

  it('coerces booleans and creates missing sections', async () => {
    const file = write('c.yaml', MINIMAL);
    const { config } = await loadConfig(file, makeRegistry(), {
      overrides: ['callbacks.checkpoint.logArtifact=false', 'tracking.tags.team=42', 'output.dir=/tmp/out'],
    });
    expect(config.callbacks.checkpoint).toMatchObject({ logArtifact: false });
    expect(config.tracking.tags).toEqual({ team: '42' });
    expect(config.output.dir).toBe('/tmp/out');
  });

  it('switches plugins with --set model.name, then validates the new section', async () => {
    const file = write('c.yaml', MINIMAL);
    const e = await configError(loadConfig(file, makeRegistry(), { overrides: ['model.name=test/modle'] }));
    expect(e.issues[0]!.path).toBe('model.name');
    expect(e.issues[0]!.where).toBe('--set model.name=test/modle');
    expect(e.message).toContain("did you mean 'test/model'");
  });

  it.each(['model.latentDim', '=5', 'model..x=1', '.model=1', 'model.latent dim=2'])('rejects the bad override %j', async (bad) => {
    const file = write('c.yaml', MINIMAL);
    const error = await rejection(loadConfig(file, makeRegistry(), { overrides: [bad] }));
    expect(error).toBeInstanceOf(UserError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(`Bad --set '${bad}'`);
  });

  it('refuses to set a key inside a scalar', async () => {
    const file = write('c.yaml', MINIMAL + 'seed: 3\n');
    const e = await configError(loadConfig(file, makeRegistry(), { overrides: ['seed.x=1'] }));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'seed.x', where: '--set seed.x' });
    expect(e.message).toContain("cannot set a key inside 'seed'");
  });

  it('points at the --set that made a section of the wrong shape', async () => {
    const file = write('c.yaml', MINIMAL);
    // `output` is not in the file: the override creates `output.dir` as a mapping.
    const e = await configError(loadConfig(file, makeRegistry(), { overrides: ['output.dir.x=1'] }));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'output.dir', where: '--set output.dir.x=1' });
  });

  it('reports an out-of-range override with its --set', async () => {
    const file = write('c.yaml', MINIMAL);
    const e = await configError(loadConfig(file, makeRegistry(), { overrides: ['model.latentDim=-1', 'model.lr=0'] }));
    const byPath = Object.fromEntries(e.issues.map((i) => [i.path, i.where]));
    expect(byPath).toEqual({ 'model.latentDim': '--set model.latentDim=-1', 'model.lr': '--set model.lr=0' });
    expect(e.message).toContain("--set model.latentDim=-1: 'model.latentDim'");
  });

  it('keeps a non-numeric value for a number field as a string, so validation names it', async () => {
    const file = write('c.yaml', MINIMAL);
    const e = await configError(loadConfig(file, makeRegistry(), { overrides: ['train.steps=many'] }));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]!.path).toBe('train.steps');
    expect(e.issues[0]!.message).toMatch(/number/);
  });
});

describe('loadConfig: errors name the key path and file:line', () => {
  it('unknown key at the root', async () => {
    const file = write('c.yaml', MINIMAL + 'seeed: 3\n');
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'seeed', where: `${file}:7` });
    expect(e.message).toContain(`${file}:7: 'seeed': unknown key 'seeed'`);
    expect(e.message).toContain("did you mean 'seed'?");
  });

  it('unknown key in train', async () => {
    const file = write('c.yaml', ['model:', '  name: test/model', 'dataset:', '  name: test/data', 'train:', '  steps: 10', '  batchsize: 3', ''].join('\n'));
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'train.batchsize', where: `${file}:7` });
    expect(e.message).toContain("did you mean 'batchSize'?");
  });

  it('unknown key in the model section, on its own line', async () => {
    const file = write(
      'c.yaml',
      [
        '# a comment',
        'model:',
        '  name: test/model',
        '',
        '  latentDim: 4',
        '  nope: true',
        'dataset:',
        '  name: test/data',
        'train:',
        '  steps: 10',
        '',
      ].join('\n'),
    );
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'model.nope', where: `${file}:6` });
    expect(e.message).toContain(`${file}:6: 'model.nope': unknown key 'nope'`);
    expect(e.message).toContain('known keys: latentDim, lr, label, net');
  });

  it('unknown key nested inside a model sub-object', async () => {
    const file = write(
      'c.yaml',
      ['dataset:', '  name: test/data', 'train:', '  steps: 1', 'model:', '  name: test/model', '  net:', '    hidden: [2]', '    depth: 3', ''].join('\n'),
    );
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'model.net.depth', where: `${file}:9` });
  });

  it('wrong type', async () => {
    const file = write('c.yaml', MINIMAL + 'seed: many\n');
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'seed', where: `${file}:7` });
    expect(e.issues[0]!.message).toMatch(/expected number/);
  });

  it('wrong type in a plugin section', async () => {
    const file = write('c.yaml', ['model:', '  name: test/model', '  label: [1]', 'dataset:', '  name: test/data', 'train:', '  steps: 1', ''].join('\n'));
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues[0]).toMatchObject({ path: 'model.label', where: `${file}:3` });
    expect(e.issues[0]!.message).toMatch(/expected string/);
  });

  it('out of range: a negative batchSize', async () => {
    const file = write('c.yaml', MINIMAL + '  batchSize: -3\n');
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'train.batchSize', where: `${file}:7` });
  });

  it('out of range in a plugin section and in a callback', async () => {
    const file = write(
      'c.yaml',
      ['model:', '  name: test/model', '  lr: 0', 'dataset:', '  name: test/data', 'train:', '  steps: 1', 'callbacks:', '  samples:', '    n: 5000', ''].join('\n'),
    );
    const e = await configError(loadConfig(file, makeRegistry()));
    const byPath = Object.fromEntries(e.issues.map((i) => [i.path, i.where]));
    // Both problems are reported together.
    expect(byPath).toEqual({ 'model.lr': `${file}:3`, 'callbacks.samples.n': `${file}:10` });
  });

  it('train needs steps or epochs', async () => {
    const file = write('c.yaml', ['model:', '  name: test/model', 'dataset:', '  name: test/data', 'train:', '  batchSize: 2', ''].join('\n'));
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues[0]).toMatchObject({ path: 'train', where: `${file}:5` });
    expect(e.message).toContain('set train.steps or train.epochs');
  });

  it('a missing required section', async () => {
    const file = write('c.yaml', 'model:\n  name: test/model\ntrain:\n  steps: 1\n');
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues.map((i) => i.path)).toEqual(['dataset']);
    expect(e.issues[0]!.message).toMatch(/^required/);
  });

  it('unknown model name lists the known ones', async () => {
    const file = write('c.yaml', ['dataset:', '  name: test/data', 'model:', '  name: gan/nope', 'train:', '  steps: 1', ''].join('\n'));
    const registry = makeRegistry().add({ models: [{ ...testModel, name: 'other/model' }] });
    const e = await configError(loadConfig(file, registry));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'model.name', where: `${file}:4` });
    expect(e.message).toContain("Unknown model 'gan/nope'. Known models: test/model, other/model");
  });

  it('unknown dataset name', async () => {
    const file = write('c.yaml', ['model:', '  name: test/model', 'dataset:', '  name: test/date', 'train:', '  steps: 1', ''].join('\n'));
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues[0]).toMatchObject({ path: 'dataset.name', where: `${file}:4` });
    expect(e.message).toContain("Unknown dataset 'test/date'. Known datasets: test/data (did you mean 'test/data'?)");
  });

  it('unknown callback name', async () => {
    const file = write('c.yaml', MINIMAL + 'callbacks:\n  divergence: true\n  sample:\n    every: 3\n');
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'callbacks.sample', where: `${file}:9` });
    expect(e.message).toContain("Unknown callback 'sample'. Known callbacks: progress, divergence, tracker, samples, checkpoint");
  });

  it('invalid YAML syntax, with the line', async () => {
    const file = write('c.yaml', ['model:', '  name: test/model', 'dataset:', '  name: [test/data', 'train:', '  steps: 1', ''].join('\n'));
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues.length).toBeGreaterThan(0);
    expect(e.issues[0]!.message).toMatch(/^invalid YAML/);
    expect(e.issues[0]!.where).toMatch(new RegExp(`^${escapeRe(file)}:[4-7]:\\d+$`));
  });

  it('invalid YAML: a bad indentation is reported on its line', async () => {
    const file = write('c.yaml', ['model:', '  name: test/model', ' bad: 1', ''].join('\n'));
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues[0]!.where).toMatch(new RegExp(`^${escapeRe(file)}:3:\\d+$`));
  });

  it('a duplicate key is invalid YAML', async () => {
    const file = write('c.yaml', MINIMAL + 'seed: 1\nseed: 2\n');
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues[0]!.message).toMatch(/^invalid YAML/);
    expect(e.issues[0]!.where).toMatch(new RegExp(`^${escapeRe(file)}:8:\\d+$`));
  });

  it('a top level that is not a mapping', async () => {
    const file = write('c.yaml', '- a\n- b\n');
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues[0]).toMatchObject({ where: `${file}:1` });
    expect(e.message).toContain('mapping');
  });

  it('a missing file', async () => {
    const file = path.join(dir, 'absent.yaml');
    const error = await rejection(loadConfig(file, makeRegistry()));
    expect(error).toBeInstanceOf(UserError);
    expect(error).not.toBeInstanceOf(ConfigError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(`Cannot read config ${file}: no such file`);
  });

  it('a folder instead of a file', async () => {
    const error = await rejection(loadConfig(dir, makeRegistry()));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain('it is a folder');
  });

  it('an empty file lists the missing sections', async () => {
    const file = write('empty.yaml', '');
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues.map((i) => i.path).sort()).toEqual(['dataset', 'model', 'train']);
  });
});

describe('loadConfig: plugins', () => {
  /** The ESM entry of the zod this package uses, as a file URL a temp module can import. */
  function zodUrl(): string {
    const require = createRequire(import.meta.url);
    const pkgFile = require.resolve('zod/package.json');
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { exports: { '.': { import: string } } };
    return pathToFileURL(path.join(path.dirname(pkgFile), pkg.exports['.'].import)).href;
  }

  function writePlugin(name: string): string {
    return write(
      name,
      [
        `import { z } from ${JSON.stringify(zodUrl())};`,
        'export const models = [{',
        "  name: 'x/y',",
        "  family: 'gan',",
        "  description: 'a plugin model',",
        '  configSchema: z.object({ width: z.number().int().positive().default(3), tag: z.string().default("t") }).strict(),',
        '  create() { throw new Error("unused"); },',
        '}];',
        '',
      ].join('\n'),
    );
  }

  it('imports a relative plugin module into the registry and stores its path absolute', async () => {
    const plugin = writePlugin('plugins/my-plugin.mjs');
    const file = write(
      'c.yaml',
      ['plugins:', '  - ./plugins/my-plugin.mjs', 'model:', '  name: x/y', '  width: 5', 'dataset:', '  name: test/data', 'train:', '  steps: 1', ''].join('\n'),
    );
    const registry = makeRegistry();
    expect(registry.models.has('x/y')).toBe(false);
    const { config } = await loadConfig(file, registry, { overrides: ['model.tag=99'] });
    expect(registry.models.has('x/y')).toBe(true);
    expect(config.plugins).toEqual([plugin]);
    expect(path.isAbsolute(config.plugins[0]!)).toBe(true);
    // The plugin's own schema validates and coerces its section.
    expect(config.model).toEqual({ name: 'x/y', width: 5, tag: '99' });
  });

  it("validates a plugin model's section with the plugin's schema", async () => {
    writePlugin('p.mjs');
    const file = write('c.yaml', ['plugins: [./p.mjs]', 'model:', '  name: x/y', '  width: -1', 'dataset:', '  name: test/data', 'train:', '  steps: 1', ''].join('\n'));
    const e = await configError(loadConfig(file, makeRegistry()));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatchObject({ path: 'model.width', where: `${file}:4` });
  });

  it('resolves plugins listed through --set', async () => {
    const plugin = writePlugin('p.mjs');
    const file = write('c.yaml', MINIMAL);
    const registry = makeRegistry();
    const { config } = await loadConfig(file, registry, { overrides: ['plugins=[./p.mjs]', 'model.name=x/y', 'model.width=7'] });
    expect(config.plugins).toEqual([plugin]);
    expect(config.model).toEqual({ name: 'x/y', width: 7, tag: 't' });
  });

  it('reports a plugin module that cannot be loaded', async () => {
    const file = write('c.yaml', 'plugins: [./missing.mjs]\n' + MINIMAL);
    const error = await rejection(loadConfig(file, makeRegistry()));
    expect(error).toBeInstanceOf(UserError);
    expect(error.exitCode).toBe(2);
    // Relative plugin paths are resolved against the file that names them, so the message names the absolute file.
    expect(error.message).toContain(`Cannot load plugin module '${path.join(path.dirname(file), 'missing.mjs')}'`);
  });

  it('reports a plugin module that registers nothing', async () => {
    write('empty.mjs', 'export const nothing = 1;\n');
    const file = write('c.yaml', 'plugins: [./empty.mjs]\n' + MINIMAL);
    const error = await rejection(loadConfig(file, makeRegistry()));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain('exports nothing genlab knows (its exports: nothing)');
  });
});

describe('deepMerge', () => {
  it('merges mappings key by key and replaces lists and scalars', () => {
    const base = { a: { b: 1, c: [1, 2, 3], d: { e: 1 } }, f: 'x' };
    const merged = deepMerge(base, { a: { c: [9], d: { g: 2 } }, f: { h: 1 } });
    expect(merged).toEqual({ a: { b: 1, c: [9], d: { e: 1, g: 2 } }, f: { h: 1 } });
    // The inputs are not changed.
    expect(base).toEqual({ a: { b: 1, c: [1, 2, 3], d: { e: 1 } }, f: 'x' });
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('the eval: section', () => {
  const evalPlugin: CallbackPlugin<{ every: number; samples: number }> = {
    name: 'eval',
    description: 'a stand-in for the metrics package callback',
    configSchema: z.object({ every: z.number().int().min(0).default(0), samples: z.number().int().positive().default(5000) }).strict(),
    enabledByDefault: false,
    configKey: 'eval',
    create: () => ({ name: 'eval' }),
  };
  const withEval = () => makeRegistry().add({ callbacks: [evalPlugin] });

  it('is the eval callback, validated by its schema, with --set coerced', async () => {
    const file = write('c.yaml', MINIMAL + 'eval:\n  every: 5\n');
    const { config } = await loadConfig(file, withEval(), { overrides: ['eval.samples=300'] });
    expect(config.callbacks.eval).toEqual({ every: 5, samples: 300 });
    expect((await loadConfig(write('d.yaml', MINIMAL), withEval())).config.callbacks.eval).toBeUndefined();
  });

  it('names the key and line of a bad option, and refuses two places or no plugin', async () => {
    const file = write('c.yaml', MINIMAL + 'eval:\n  every: -1\n');
    const e = (await rejection(loadConfig(file, withEval()))) as ConfigError;
    expect(e.issues[0]).toMatchObject({ path: 'eval.every', where: `${file}:8` });
    const both = write('b.yaml', MINIMAL + 'eval: {}\ncallbacks:\n  eval: {}\n');
    expect((await rejection(loadConfig(both, withEval()))).message).toContain("set the 'eval' callback either in 'eval:' or in 'callbacks.eval:', not both");
    // Without a callback that reads it, `eval:` is an unknown top-level key like any other.
    expect((await rejection(loadConfig(write('n.yaml', MINIMAL + 'eval: {}\n'), makeRegistry()))).message).toContain("unknown key 'eval'");
  });
});

describe('config resource limits', () => {
  const saved = process.env.GENLAB_MAX_CONFIG_BYTES;
  afterEach(() => {
    if (saved === undefined) delete process.env.GENLAB_MAX_CONFIG_BYTES;
    else process.env.GENLAB_MAX_CONFIG_BYTES = saved;
  });
  // A billion laughs: each level names the one below nine times.
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((l, i) => `${l}: &${l} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)].join('\n') + '\n';

  // Each bad input: the file, the env, and what the one issue must say.
  const cases: { name: string; text: () => string; env?: string; message: RegExp }[] = [
    { name: 'a file over GENLAB_MAX_CONFIG_BYTES', text: () => MINIMAL + `name: ${'x'.repeat(300)}\n`, env: '256', message: /larger than 256 bytes, the most a config may have.*GENLAB_MAX_CONFIG_BYTES/ },
    { name: 'an alias bomb', text: () => MINIMAL + bomb, message: /aliases \(\*name\) expand past 100 uses/ },
    { name: 'an alias to an anchor never set', text: () => MINIMAL + 'seed: *nowhere\n', message: /invalid YAML: Unresolved alias.*nowhere/ },
    { name: 'nesting deeper than the parser can follow', text: () => MINIMAL + `deep: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, message: /invalid YAML: nested too deeply/ },
  ];
  it.each(cases)('$name is a ConfigError naming the file', async ({ text, env, message }) => {
    if (env !== undefined) process.env.GENLAB_MAX_CONFIG_BYTES = env;
    const file = write('c.yaml', text());
    const e = await configError(loadConfig(file, makeRegistry()));
    // (Deep nesting overflows the parser at several places: one issue each, all alike.)
    expect(e.issues.length).toBeGreaterThan(0);
    for (const issue of e.issues) {
      expect(issue.where).toMatch(new RegExp(`^${escapeRe(file)}(:\\d+:\\d+)?$`));
      expect(issue.message).toMatch(message);
    }
    expect(e.message).toContain(file);
  });

  it('names the extended file that is too large, and the file extending it', async () => {
    process.env.GENLAB_MAX_CONFIG_BYTES = '300';
    const parent = write('big.yaml', `name: ${'x'.repeat(400)}\n`);
    const child = write('c.yaml', MINIMAL + 'extends: ./big.yaml\n');
    const e = await configError(loadConfig(child, makeRegistry()));
    expect(e.file).toBe(parent);
    expect(e.issues[0]!.message).toContain(`(extended by ${child}) is larger than 300 bytes`);
  });

  it('counts bytes, not characters, and accepts a file of exactly the limit', async () => {
    const text = MINIMAL + 'name: é\n'; // é is two bytes in UTF-8
    process.env.GENLAB_MAX_CONFIG_BYTES = String(Buffer.byteLength(text));
    expect((await loadConfig(write('c.yaml', text), makeRegistry())).config.name).toBe('é');
    process.env.GENLAB_MAX_CONFIG_BYTES = String(Buffer.byteLength(text) - 1);
    await configError(loadConfig(write('d.yaml', text), makeRegistry()));
  });

  it('refuses a GENLAB_MAX_CONFIG_BYTES that is not a positive whole number', async () => {
    process.env.GENLAB_MAX_CONFIG_BYTES = '1MB';
    const error = await rejection(loadConfig(write('c.yaml', MINIMAL), makeRegistry()));
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe("GENLAB_MAX_CONFIG_BYTES is '1MB': expected a positive whole number of bytes (default 1048576)");
  });

  it('reuses an anchor a few times, as configs do', async () => {
    const file = write('c.yaml', MINIMAL.replace('  steps: 10', '  steps: &n 10\n  logEvery: *n') + 'seed: *n\n');
    const { config } = await loadConfig(file, makeRegistry());
    expect([config.train.logEvery, config.seed]).toEqual([10, 10]);
  });

  it('finds a duplicate key among many by value, and lists the first 50 of many problems', async () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `  k${i}: ${i}`);
    keys.splice(15_000, 0, '  k7: again');
    const dup = write('c.yaml', MINIMAL + 'model2:\n' + keys.join('\n') + '\n');
    const e = await configError(loadConfig(dup, makeRegistry()));
    expect(e.issues).toEqual([{ path: '', where: `${dup}:${8 + 15_000}:3`, message: 'invalid YAML: Map keys must be unique' }]);
    // `1` and `'1'` are different keys (as for yaml's own check).
    const many = write('d.yaml', MINIMAL + "1: a\n'1': b\n" + Array.from({ length: 200 }, (_, i) => `u${i}: 0`).join('\n') + '\n');
    const e2 = await configError(loadConfig(many, makeRegistry()));
    expect(e2.issues).toHaveLength(201); // one key '1' (the tree has one), 200 unknown keys
    expect(e2.message.split('\n')).toHaveLength(1 + 50 + 1);
    expect(e2.message).toContain('… and 151 more problems');
  });
});
