import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { builtinCallbacks } from '../callbacks/index.js';
import type { DatasetPlugin, ModelPlugin } from '../contracts.js';
import { ConfigError, UserError } from '../errors.js';
import { Registry } from '../registry.js';
import { loadConfig } from './load.js';
import { rootSchema } from './schema.js';
import { configHasSweep, loadSweep, MAX_SWEEP_VARIANTS, parseSweepFlag, splitList, SweepError } from './sweep.js';

// ------------------------------------------------------------------ fixtures (as in load.test.ts)

const never = () => {
  throw new Error('not used in config tests');
};
const modelSchema = z
  .object({
    latentDim: z.number().int().positive().default(8),
    label: z.string().default('x'),
    net: z
      .object({ hidden: z.array(z.number()).default([4]) })
      .strict()
      .default({ hidden: [4] }),
  })
  .strict();
const testModel: ModelPlugin<z.output<typeof modelSchema>> = { name: 'test/model', family: 'test', description: '', configSchema: modelSchema, create: never };
const otherSchema = z.object({ depth: z.number().int().positive().default(1) }).strict();
const otherModel: ModelPlugin<z.output<typeof otherSchema>> = { name: 'test/other', family: 'other', description: '', configSchema: otherSchema, create: never };
const dataSchema = z.object({ size: z.number().int().positive().default(16) }).strict();
const testData: DatasetPlugin<z.output<typeof dataSchema>> = { name: 'test/data', description: '', configSchema: dataSchema, load: () => Promise.reject(new Error('unused')) };

const registry = () => new Registry().add(builtinCallbacks).add({ models: [testModel, otherModel], datasets: [testData] });

/** A valid base config: lines 1–7. */
const BASE = ['model:', '  name: test/model', '  label: base', 'dataset:', '  name: test/data', 'train:', '  steps: 10', ''].join('\n');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-sweep-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}
async function rejection(p: Promise<unknown>): Promise<Error & { exitCode?: number }> {
  try {
    await p;
  } catch (error) {
    return error as Error & { exitCode?: number };
  }
  throw new Error('expected a rejection');
}

// ------------------------------------------------------------------ tests

describe('splitList and --sweep flags', () => {
  it('splits at top-level commas only, keeping lists, mappings and quotes whole', () => {
    expect(splitList('1,2,3')).toEqual(['1', '2', '3']);
    expect(splitList('gan/dcgan, vae/conv ,rnn/row-lstm')).toEqual(['gan/dcgan', 'vae/conv', 'rnn/row-lstm']);
    expect(splitList('[32],[64, 64]')).toEqual(['[32]', '[64, 64]']);
    expect(splitList('{a: 1, b: 2},{a: 3}')).toEqual(['{a: 1, b: 2}', '{a: 3}']);
    expect(splitList(`'a,b',c`)).toEqual([`'a,b'`, 'c']);
    expect(splitList('x')).toEqual(['x']);
  });

  it('parses key=a,b and rejects empty or repeated values', () => {
    expect(parseSweepFlag('model.name=gan/mlp,gan/dcgan')).toEqual({ path: ['model', 'name'], raws: ['gan/mlp', 'gan/dcgan'] });
    expect(() => parseSweepFlag('seed=1,,2')).toThrow(/Bad --sweep 'seed=1,,2'.*comma-separated/);
    expect(() => parseSweepFlag('seed=')).toThrow(/Bad --sweep/);
    expect(() => parseSweepFlag('seed=1,2,1')).toThrow(/'1' is listed twice/);
    expect(() => parseSweepFlag('seed')).toThrow(/Bad --sweep 'seed': expected key.path=value/);
  });
});

describe('loadSweep: expansion', () => {
  it('runs the grid with the first axis slowest, coercing command-line values by the schema', async () => {
    const file = write('c.yaml', BASE + 'sweep:\n  seed: [1, 2]\n');
    const plan = await loadSweep(file, registry(), { sweeps: ['model.latentDim=4,16', 'model.label=123,true'] });
    expect(plan.mode).toBe('grid');
    expect(plan.axes).toEqual([
      { key: 'seed', from: 'yaml', size: 2 },
      { key: 'model.latentDim', from: 'cli', size: 2 },
      { key: 'model.label', from: 'cli', size: 2 },
    ]);
    expect(plan.variants.map((v) => v.label)).toEqual([
      'seed=1, model.latentDim=4, model.label=123',
      'seed=1, model.latentDim=4, model.label=true',
      'seed=1, model.latentDim=16, model.label=123',
      'seed=1, model.latentDim=16, model.label=true',
      'seed=2, model.latentDim=4, model.label=123',
      'seed=2, model.latentDim=4, model.label=true',
      'seed=2, model.latentDim=16, model.label=123',
      'seed=2, model.latentDim=16, model.label=true',
    ]);
    const v = plan.variants[5]!;
    expect(v.index).toBe(5);
    expect(v.assignments).toEqual([
      ['seed', '2'],
      ['model.latentDim', '4'],
      ['model.label', 'true'],
    ]);
    expect(v.config.seed).toBe(2);
    // A number where the schema wants a number; the same text stays a string where it wants one.
    expect(v.config.model).toEqual({ name: 'test/model', latentDim: 4, label: 'true', net: { hidden: [4] } });
    expect(plan.variants[0]!.config.model.label).toBe('123');
    // No variant carries the sweep.
    for (const x of plan.variants) expect(x.config).not.toHaveProperty('sweep');
    expect(plan.spec).toMatchObject({ 'sweep.mode': 'grid', 'sweep.size': '8', 'sweep.seed': '[1,2]', 'sweep.model.latentDim': '[4,16]', 'sweep.model.label': '[123,true]' });
  });

  it('keeps lists whole on the command line', async () => {
    const file = write('c.yaml', BASE);
    const plan = await loadSweep(file, registry(), { sweeps: ['model.net.hidden=[2],[3, 3]'] });
    expect(plan.variants.map((v) => v.config.model.net)).toEqual([{ hidden: [2] }, { hidden: [3, 3] }]);
    expect(plan.variants.map((v) => v.label)).toEqual(['model.net.hidden=[2]', 'model.net.hidden=[3, 3]']);
  });

  it('replaces a whole section with a mapping item, validating each against its own plugin', async () => {
    const file = write('c.yaml', BASE + ['sweep:', '  model:', '    - { name: test/model, latentDim: 3 }', '    - { name: test/other, depth: 2 }', ''].join('\n'));
    const plan = await loadSweep(file, registry());
    expect(plan.variants.map((v) => v.config.model)).toEqual([
      // The base section's `label: base` is gone: the item replaces the section.
      { name: 'test/model', latentDim: 3, label: 'x', net: { hidden: [4] } },
      { name: 'test/other', depth: 2 },
    ]);
    expect(plan.variants.map((v) => v.label)).toEqual(['model.name=test/model, model.latentDim=3', 'model.name=test/other, model.depth=2']);
  });

  it('applies a swept option after the swept section that holds it, whatever the order written', async () => {
    const file = write('c.yaml', BASE + ['sweep:', '  model.latentDim: [5, 6]', '  model:', '    - { name: test/model, label: a }', '    - { name: test/model, label: b }', ''].join('\n'));
    const plan = await loadSweep(file, registry());
    expect(plan.variants.map((v) => [v.config.model.latentDim, v.config.model.label])).toEqual([
      [5, 'a'],
      [5, 'b'],
      [6, 'a'],
      [6, 'b'],
    ]);
  });

  it('reads nested mappings of lists as dotted key paths', async () => {
    const file = write('c.yaml', BASE + ['sweep:', '  model:', '    latentDim: [2, 3]', '  train: { batchSize: [8] }', ''].join('\n'));
    const plan = await loadSweep(file, registry());
    expect(plan.axes.map((a) => a.key)).toEqual(['model.latentDim', 'train.batchSize']);
    expect(plan.variants.map((v) => [v.config.model.latentDim, v.config.train.batchSize])).toEqual([
      [2, 8],
      [3, 8],
    ]);
  });

  it('deep-merges `variants` items onto the base (a model naming another plugin replaces it), crossed with the other axes', async () => {
    const file = write(
      'c.yaml',
      BASE +
        ['sweep:', '  variants:', '    - { model: { latentDim: 16 }, train.steps: 500 }', '    - { model: { name: test/other } }', '    - {}', '  seed: [1, 2]', ''].join('\n'),
    );
    const plan = await loadSweep(file, registry());
    expect(plan.variants).toHaveLength(6);
    const [a, , b, , c] = plan.variants;
    // Merged: the base's label stays; the dotted key reached train.steps.
    expect(a!.config.model).toEqual({ name: 'test/model', latentDim: 16, label: 'base', net: { hidden: [4] } });
    expect(a!.config.train.steps).toBe(500);
    expect(a!.label).toBe('model.latentDim=16, train.steps=500, seed=1');
    // Another plugin: the base model's options are not carried over.
    expect(b!.config.model).toEqual({ name: 'test/other', depth: 1 });
    expect(c!.config.model.label).toBe('base');
    expect(c!.label).toBe('variant=(base), seed=1');
    expect(JSON.parse(plan.spec['sweep.variants']!)).toEqual([{ model: { latentDim: 16 }, train: { steps: 500 } }, { model: { name: 'test/other' } }, {}]);
  });

  it('pairs the i-th values in zip mode', async () => {
    const file = write('c.yaml', BASE + ['sweep:', '  mode: zip', '  seed: [1, 2, 3]', '  model.latentDim: [4, 5, 6]', ''].join('\n'));
    const plan = await loadSweep(file, registry());
    expect(plan.mode).toBe('zip');
    expect(plan.variants.map((v) => [v.config.seed, v.config.model.latentDim])).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    const uneven = write('u.yaml', BASE + ['sweep:', '  mode: zip', '  seed: [1, 2, 3]', ''].join('\n'));
    const e = await rejection(loadSweep(uneven, registry(), { sweeps: ['model.latentDim=4,5'] }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/same length: seed has 3, model.latentDim has 2/);
  });
});

describe('loadSweep: the command line and the config together', () => {
  it('--sweep on a key the config sweeps replaces its list, in its place', async () => {
    const file = write('c.yaml', BASE + 'sweep:\n  seed: [1, 2, 3]\n  model.latentDim: [4]\n');
    const plan = await loadSweep(file, registry(), { sweeps: ['seed=7,8'] });
    expect(plan.axes).toEqual([
      { key: 'seed', from: 'cli', size: 2 },
      { key: 'model.latentDim', from: 'yaml', size: 1 },
    ]);
    expect(plan.variants.map((v) => v.config.seed)).toEqual([7, 8]);
  });

  it('--set applies to every variant; on a swept key it fixes that key and drops the axis', async () => {
    const file = write('c.yaml', BASE + ['sweep:', '  seed: [1, 2]', '  model:', '    - { name: test/model }', '    - { name: test/model, latentDim: 3 }', ''].join('\n'));
    const plan = await loadSweep(file, registry(), { overrides: ['model.label=all', 'seed=9'] });
    expect(plan.variants.map((v) => [v.config.seed, v.config.model.latentDim, v.config.model.label])).toEqual([
      [9, 8, 'all'],
      [9, 3, 'all'],
    ]);
    expect(plan.notes).toEqual(["--set seed=9 fixes 'seed', which the config sweeps: that axis is dropped"]);
    expect(plan.spec['sweep.set']).toBe('["model.label=all","seed=9"]');
  });

  it('refuses --set and --sweep of the same key, and a key swept twice', async () => {
    const file = write('c.yaml', BASE);
    expect((await rejection(loadSweep(file, registry(), { sweeps: ['seed=1,2'], overrides: ['seed=3'] }))).message).toMatch(/--set seed and --sweep seed both give 'seed'/);
    expect((await rejection(loadSweep(file, registry(), { sweeps: ['seed=1,2', 'seed=3'] }))).message).toMatch(/--sweep seed is given twice/);
  });
});

describe('loadSweep: errors name the variant and the key, before anything runs', () => {
  it('a bad command-line value: the variant and its --sweep', async () => {
    const file = write('c.yaml', BASE);
    const e = await rejection(loadSweep(file, registry(), { sweeps: ['seed=1,2', 'model.latentDim=4,-1'] }));
    expect(e).toBeInstanceOf(SweepError);
    expect(e.exitCode).toBe(2);
    const s = e as SweepError;
    expect(s.invalid.map((v) => v.index)).toEqual([1, 3]);
    expect(e.message).toContain('2 of 4 variants are invalid (no run was started)');
    expect(e.message).toContain('variant 2/4 (seed=1, model.latentDim=-1):');
    expect(e.message).toContain('variant 4/4 (seed=2, model.latentDim=-1):');
    expect(e.message).toMatch(/--sweep model\.latentDim=-1: 'model\.latentDim': .*>0/);
    expect(e.message).not.toContain('variant 1/4');
  });

  it("a bad section item: its plugin's unknown key, with the item's file:line", async () => {
    const file = write('c.yaml', BASE + ['sweep:', '  model:', '    - { name: test/model }', '    - name: test/other', '      latentDim: 3', ''].join('\n'));
    const e = await rejection(loadSweep(file, registry()));
    expect(e).toBeInstanceOf(SweepError);
    expect(e.message).toContain('variant 2/2 (model.name=test/other, model.latentDim=3):');
    expect(e.message).toContain(`${file}:12: 'model.latentDim': unknown key 'latentDim'`);
  });

  it('a problem of the base config is said once, not once per variant', async () => {
    const file = write('c.yaml', BASE + '  stepz: 3\nsweep:\n  seed: [1, 2, 3]\n');
    const e = await rejection(loadSweep(file, registry()));
    expect(e.message).toContain('all 3 variants are invalid');
    expect(e.message.match(/unknown key 'stepz'/g)).toHaveLength(1);
    expect(e.message).toMatch(/in every variant:\n {4}- .*c\.yaml:8: 'train\.stepz': unknown key 'stepz'/);
    expect(e.message).not.toContain('variant 1/3');
  });

  it('an unknown plugin name in one variant', async () => {
    const file = write('c.yaml', BASE + 'sweep:\n  model.name: [test/model, test/nope]\n');
    const e = await rejection(loadSweep(file, registry()));
    expect(e.message).toContain('1 of 2 variants are invalid');
    expect(e.message).toMatch(/variant 2\/2 \(model\.name=test\/nope\):\n {4}- .*c\.yaml:9: 'model\.name': Unknown model 'test\/nope'\. Known models: test\/model, test\/other/);
  });

  it('two axes that set the same key in one variant (a variants item and a section axis)', async () => {
    const file = write('c.yaml', BASE + ['sweep:', '  variants:', '    - { model: { latentDim: 3 } }', '    - { train: { steps: 4 } }', '  model:', '    - { name: test/model }', ''].join('\n'));
    const e = await rejection(loadSweep(file, registry()));
    expect(e).toBeInstanceOf(SweepError);
    expect(e.message).toContain('1 of 2 variants are invalid');
    expect(e.message).toMatch(/variant 1\/2 \(model\.latentDim=3, model\.name=test\/model\):\n {4}- .*c\.yaml:10: 'model\.latentDim': is set by this variant twice: here, and by the sweep of 'model' \(.*c\.yaml:13\), which replaces it/);
  });

  it('two variants that resolve to the same config', async () => {
    const file = write('c.yaml', BASE);
    const e = await rejection(loadSweep(file, registry(), { sweeps: ['model.latentDim=8,8.0'] }));
    expect(e.message).toMatch(/variant 2\/2 \(model\.latentDim=8\.0\):\n {4}- resolves to the same config as variant 1 \(model\.latentDim=8\)/);
  });

  it.each([
    ['sweep: [1, 2]\n', /'sweep': must be a mapping/],
    ['sweep:\n  seed: 3\n', /:9: 'sweep\.seed': expected a list of values/],
    ['sweep:\n  seed: []\n', /'sweep\.seed': an empty list/],
    ['sweep:\n  seed: [1, 2, 1]\n', /'sweep\.seed\.2': the same value as item 1/],
    ['sweep:\n  mode: diagonal\n  seed: [1]\n', /'sweep\.mode': must be 'grid'/],
    ['sweep:\n  variants: [3]\n', /'sweep\.variants': must be a non-empty list of partial configs/],
    ['sweep:\n  extends: [a.yaml]\n', /'extends' cannot be swept/],
    ['sweep: {}\n', /'sweep': lists no key to sweep/],
    ['sweep:\n  "model..x": [1]\n', /is not a key path/],
  ])('a malformed sweep block %j', async (block, pattern) => {
    const file = write('c.yaml', BASE + block);
    const e = await rejection(loadSweep(file, registry()));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(pattern);
  });

  it(`refuses more than ${MAX_SWEEP_VARIANTS} variants`, async () => {
    const file = write('c.yaml', BASE);
    const many = Array.from({ length: 40 }, (_, i) => i + 1).join(',');
    const e = await rejection(loadSweep(file, registry(), { sweeps: [`seed=${many}`, `model.latentDim=${many}`] }));
    expect(e.message).toMatch(/1600 variants \(seed: 40 × model\.latentDim: 40\); at most 1000/);
  });
});

describe('a sweep and single-run loading', () => {
  it('loadConfig refuses a sweep block, from the file or from --set sweep.…, and says what to use', async () => {
    // The root schema of one run has no `sweep:` key: sweep.ts reads the block.
    expect(rootSchema.safeParse({ model: { name: 'm' }, dataset: { name: 'd' }, train: { steps: 1 }, sweep: { seed: [1, 2] } }).success).toBe(false);
    const file = write('c.yaml', BASE + 'sweep:\n  seed: [1, 2]\n');
    expect(configHasSweep(file)).toBe(true);
    const e = await rejection(loadConfig(file, registry()));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/has a 'sweep:' block.*'exp run' runs them/);
    const plain = write('p.yaml', BASE);
    expect(configHasSweep(plain, ['sweep.seed=[1,2]'])).toBe(true);
    expect((await rejection(loadConfig(plain, registry(), { overrides: ['sweep.seed=[1,2]'] }))).message).toMatch(/gets a 'sweep:' block from --set/);
  });

  it('--set sweep.… writes the sweep block, read and checked by the same path as the YAML block', async () => {
    const file = write('c.yaml', BASE);
    const plan = await loadSweep(file, registry(), { overrides: ['sweep.seed=[1,2]', 'train.steps=3'] });
    expect(plan.variants.map((v) => [v.config.seed, v.config.train.steps])).toEqual([
      [1, 3],
      [2, 3],
    ]);
    // A bad block is refused with the flag as its source, as a YAML one is with its line.
    const e = (await rejection(loadSweep(file, registry(), { overrides: ['sweep.seed=[]'] }))) as ConfigError;
    expect(e.issues[0]).toMatchObject({ path: 'sweep.seed', where: '--set sweep.seed=[]', message: expect.stringContaining('an empty list') });
    const mode = (await rejection(loadSweep(file, registry(), { overrides: ['sweep.seed=[1]', 'sweep.mode=zipp'] }))) as ConfigError;
    expect(mode.issues[0]).toMatchObject({ path: 'sweep.mode', where: '--set sweep.mode=zipp' });
  });

  it('a child config can switch off the sweep it extends with `sweep: null`', async () => {
    write('base.yaml', BASE + 'sweep:\n  seed: [1, 2]\n');
    const child = write('child.yaml', 'extends: base.yaml\nsweep: null\n');
    expect(configHasSweep(child)).toBe(false);
    expect((await loadConfig(child, registry())).config.seed).toBe(0);
    expect(configHasSweep(write('none.yaml', BASE))).toBe(false);
  });

  it('without any axis a sweep is its base config, once', async () => {
    const file = write('c.yaml', BASE + 'sweep:\n  seed: [1, 2]\n');
    const plan = await loadSweep(file, registry(), { overrides: ['seed=4'] });
    expect(plan.variants).toHaveLength(1);
    expect(plan.variants[0]!.label).toBe('(base config)');
    expect(plan.variants[0]!.config.seed).toBe(4);
  });
});

describe('the launcher: block', () => {
  it('says where the variants run; like sweep:, it never reaches a variant', async () => {
    const file = write('q.yaml', BASE + 'sweep:\n  seed: [1, 2]\nlauncher:\n  queue: redis://redis:6379/0\n  attempts: 2\n');
    const plan = await loadSweep(file, registry());
    expect(plan.launcher).toEqual({ queue: 'redis://redis:6379/0', attempts: 2 });
    expect(plan.variants.map((v) => (v.config as unknown as Record<string, unknown>).launcher)).toEqual([undefined, undefined]);
    // Switched off by a file that extends it; absent otherwise.
    const child = write('child.yaml', 'extends: q.yaml\nlauncher: null\n');
    expect((await loadSweep(child, registry())).launcher).toBeUndefined();
  });

  it('is refused with the key and line when wrong, and in a single-run config', async () => {
    const bad = write('bad.yaml', BASE + 'sweep:\n  seed: [1, 2]\nlauncher:\n  queue: localhost:6379\n  retries: 2\n');
    const e = (await rejection(loadSweep(bad, registry()))) as ConfigError;
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.issues).toEqual([
      { path: 'launcher.queue', message: 'a Redis URL, redis://host:6379/0', where: `${bad}:11` },
      { path: 'launcher', message: "unknown key 'retries' (a launcher has queue, attempts and sharedFs)", where: `${bad}:10` },
    ]);
    const single = write('single.yaml', BASE + 'launcher:\n  queue: redis://redis:6379/0\n');
    expect((await rejection(loadConfig(single, registry()))).message).toContain("has a 'launcher:' block, which puts the variants of a sweep on a job queue; this config is a single run");
  });
});
