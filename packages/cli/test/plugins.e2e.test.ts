/**
 * Plugin modules through the real CLI, from a folder outside the checkout with no
 * node_modules of its own: a TypeScript plugin importing `genlab` (the CLI's own copy) trains;
 * every kind of bad module (missing, throwing at import, exporting nothing, a schema that is
 * not zod, a name taken by a built-in, a package that is not installed, a check that throws)
 * is a config error naming the module and the line, exit 2, and no tracked run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { countRuns, exp, repo, write } from './helpers.js';

let cwd: string;
beforeEach(() => {
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-plugins-'));
  expect(path.relative(repo, cwd).startsWith('..')).toBe(true);
});

/** A config naming `plugin` and using `model`, tiny. */
const config = (plugin: string, model = 'mine/tiny') =>
  `plugins: [${plugin}]\nmodel: { name: ${model} }\ndataset: { name: mnist, subset: 32 }\ntrain: { steps: 2, batchSize: 8 }\ncallbacks: { progress: false }\n`;

/** A one-variable model plugin; `name`, the schema expression and the check are parameters. */
const modelModule = (opts: { name?: string; schema?: string; check?: string; ts?: boolean } = {}) => `import { tf, z${opts.ts ? ', type ModelPlugin' : ''} } from 'genlab';
const schema = ${opts.schema ?? 'z.object({ scale: z.number().default(1) }).strict()'};
export const models = [{
  name: '${opts.name ?? 'mine/tiny'}',
  family: 'test',
  description: 'a one-variable model for the plugin tests',
  configSchema: schema,
  ${opts.check ? `check: ${opts.check},` : ''}
  create(_cfg, { data }) {
    const w = tf.variable(tf.scalar(0));
    return {
      optimizers: [{ name: 'main', config: { type: 'sgd', lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0 } }],
      trainStep(batch, ctx) {
        return { loss: ctx.optimize('main', () => tf.mean(tf.square(tf.sub(batch.x, w))), [w]) };
      },
      sample: (n) => tf.tidy(() => tf.clipByValue(tf.mul(tf.ones([n, ...data.shape]), w), data.range[0], data.range[1])),
      getState: () => ({ w: { shape: [], dtype: 'float32', data: Float32Array.from(w.dataSync()) } }),
      setState: (s) => w.assign(tf.scalar(s.w.data[0])),
      summary: () => [{ name: 'w', params: 1 }],
      dispose: () => w.dispose(),
    };
  },
}]${opts.ts ? ' satisfies ModelPlugin<{ scale: number }>[]' : ''};
`;

/** exp validate and exp run on a config: both refuse with exit 2 and the same reason, and no run is created. */
function refused(file: string, pattern: RegExp): string {
  const v = exp(['validate', file, '-q'], cwd);
  expect(v.code, v.stderr).toBe(2);
  expect(v.stderr).toMatch(pattern);
  expect(v.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
  const r = exp(['run', file], cwd);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(pattern);
  expect(countRuns(cwd)).toBe(0);
  return v.stderr;
}

describe('plugin modules through the CLI, outside any project', () => {
  it('a TypeScript plugin that imports genlab validates and trains (its tf is the backend the CLI runs)', () => {
    write(cwd, 'tiny.ts', modelModule({ ts: true }));
    // A package.json saying commonjs (npm init's default) does not stop an ES-module .ts file.
    write(cwd, 'package.json', JSON.stringify({ name: 'mine', type: 'commonjs' }));
    const file = write(cwd, 'c.yaml', config('./tiny.ts'));
    const v = exp(['validate', file, '-q'], cwd);
    expect(v.code, v.stderr).toBe(0);
    const r = exp(['run', file], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('FINISHED at step 2');
    // exp list shows it, with where it came from.
    expect(exp(['list', file], cwd).stdout).toMatch(/mine\/tiny\s+\[test\] a one-variable model/);
  });

  it('refuses a module that does not exist, naming the file and the config line', () => {
    const file = write(cwd, 'c.yaml', config('./nowhere.js'));
    refused(file, new RegExp(`Cannot load plugin module '${cwd}/nowhere.js' \\(${cwd}/c.yaml:1: plugins\\[0\\]\\): no such file`));
    write(cwd, 'typo.ts', modelModule());
    refused(write(cwd, 'd.yaml', config('./typo')), /no such file .*typo \(did you mean 'typo.ts'\?/);
  });

  it('refuses a module that throws at import, with its reason', () => {
    write(cwd, 'broken.mjs', "import 'genlab';\nthrow new Error('the GPU is on fire');\n");
    refused(write(cwd, 'c.yaml', config('./broken.mjs')), /plugin module '.*broken.mjs' .*: it failed to import: the GPU is on fire/);
  });

  it('refuses a module that exports nothing genlab knows, listing what it exports', () => {
    write(cwd, 'empty.mjs', 'export const helper = 1;\nexport function other() {}\n');
    refused(write(cwd, 'c.yaml', config('./empty.mjs')), /exports nothing genlab knows \(its exports: helper, other\): export 'models', 'datasets', 'callbacks', 'trackers', 'metrics'/);
  });

  it('refuses a plugin whose schema is not a zod schema', () => {
    write(cwd, 'plain.mjs', modelModule({ schema: '{ parse: (v) => v, safeParse: (v) => ({ success: true, data: v }) }' }));
    refused(write(cwd, 'c.yaml', config('./plain.mjs')), /models\[0\] is not a model plugin: 'mine\/tiny'.configSchema is not a zod schema/);
  });

  it('refuses a plugin whose name a built-in has, naming both origins', () => {
    write(cwd, 'clash.mjs', modelModule({ name: 'gan/mlp' }));
    refused(write(cwd, 'c.yaml', config('./clash.mjs', 'gan/mlp')), /plugin module '.*clash.mjs' \(.*c.yaml:1: plugins\[0\]\): model 'gan\/mlp' \(models\[0\]\) is already registered by @genlab\/models-gan/);
  });

  it('refuses a package name that is not installed for the config', () => {
    refused(write(cwd, 'c.yaml', config('my-missing-plugins')), /plugin module 'my-missing-plugins' .*: no package 'my-missing-plugins' is installed for .* \(install it in that project: npm install my-missing-plugins\)/);
  });

  it("reports a check that throws, naming the plugin and where it came from; a check's issues name the option and line", () => {
    write(cwd, 'crash.mjs', modelModule({ check: "() => { throw new TypeError('oops'); }" }));
    refused(write(cwd, 'c.yaml', config('./crash.mjs')), /the check of model plugin 'mine\/tiny' \(plugin module '.*crash.mjs'.*\) threw instead of returning its issues: oops/);
    write(cwd, 'picky.mjs', modelModule({ check: "(cfg) => (cfg.scale > 2 ? [{ path: 'scale', message: 'is too large for this data' }] : [])" }));
    const file = write(cwd, 'd.yaml', config('./picky.mjs').replace('model: { name: mine/tiny }', 'model:\n  name: mine/tiny\n  scale: 3'));
    refused(file, new RegExp(`${file}:4: 'model.scale': is too large for this data`));
  });
});
