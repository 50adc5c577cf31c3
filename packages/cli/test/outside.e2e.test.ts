/**
 * genlab as a user installs it: in a temporary folder outside this checkout, the packed
 * packages (scripts/pack.mjs) installed with plain npm, no workspace and no pnpm.
 *
 * 1. A production install (no dev dependency: vitest is not there): `exp --version`, `exp run`
 *    and `exp ui` work.
 * 2. `exp new model` scaffolds a plugin; with no edit it validates, trains 3 steps to
 *    FINISHED, and its contract test passes under vitest (installed then, as the README says).
 * 3. A second plugin, by package name from the project's node_modules, validates and trains.
 *
 * Needs the npm registry (the packages' own dependencies come from it), as a user's install does.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repo } from './helpers.js';

let project: string;
let packs: string;

function sh(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? project, encoding: 'utf8', timeout: opts.timeout ?? 300_000, env: { ...process.env, NO_COLOR: '1', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' } });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, stdout: r.stdout ?? '' };
}
/** The project's own `exp` (node_modules/.bin), as `npx exp` runs it. */
const exp = (...args: string[]) => sh(path.join(project, 'node_modules', '.bin', 'exp'), args);

beforeAll(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-outside-'));
  packs = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-packs-'));
  expect(path.relative(repo, project).startsWith('..')).toBe(true);
  const pack = sh(process.execPath, [path.join(repo, 'scripts', 'pack.mjs'), '--no-build', '--out', packs], { cwd: repo });
  expect(pack.code, pack.out).toBe(0);
  expect(sh('npm', ['init', '-y']).code).toBe(0);
}, 120_000);

afterAll(() => {
  fs.rmSync(project, { recursive: true, force: true });
  fs.rmSync(packs, { recursive: true, force: true });
});

describe('genlab installed from its packed tarballs with npm, outside the repository', () => {
  it('a production install runs exp --version, exp run and exp ui, and has no dev dependency', async () => {
    const tarballs = fs.readdirSync(packs).filter((f) => f.endsWith('.tgz')).map((f) => path.join(packs, f));
    expect(tarballs.map((t) => path.basename(t)).sort()).toContain('genlab-0.1.0.tgz');
    const install = sh('npm', ['install', ...tarballs], { timeout: 400_000 });
    expect(install.code, install.out).toBe(0);
    expect(fs.existsSync(path.join(project, 'node_modules', 'vitest'))).toBe(false);
    expect(exp('--version').stdout.trim()).toBe('0.1.0');

    fs.writeFileSync(
      path.join(project, 'tiny.yaml'),
      'model: { name: gan/mlp, latentDim: 4, generator: { hidden: [8] }, discriminator: { hidden: [8] } }\ndataset: { name: mnist, subset: 64 }\ntrain: { steps: 2, batchSize: 16 }\ncallbacks: { progress: false }\n',
    );
    const run = exp('run', 'tiny.yaml');
    expect(run.code, run.out).toBe(0);
    expect(run.stdout).toContain('FINISHED at step 2');

    const port = 5300 + Math.floor(Math.random() * 500);
    const ui = spawn(path.join(project, 'node_modules', '.bin', 'exp'), ['ui', '--port', String(port)], { cwd: project });
    try {
      let runs: unknown[] | undefined;
      for (let i = 0; i < 100 && !runs; i++) {
        await new Promise((r) => setTimeout(r, 200));
        runs = await fetch(`http://127.0.0.1:${port}/api/runs`).then((r) => (r.ok ? (r.json() as Promise<unknown[]>) : undefined), () => undefined);
      }
      expect(runs).toHaveLength(1);
    } finally {
      ui.kill();
    }
  }, 500_000);

  it('exp new model scaffolds a plugin that validates, trains 3 steps and passes its contract test unedited', () => {
    const made = exp('new', 'model', 'my-gan');
    expect(made.code, made.out).toBe(0);
    for (const f of ['my-gan.ts', 'my-gan.yaml', 'my-gan.test.ts']) expect(fs.existsSync(path.join(project, f)), f).toBe(true);
    const validated = exp('validate', 'my-gan.yaml', '-q');
    expect(validated.code, validated.out).toBe(0);
    expect(validated.out).toContain('OK (model my-gan, data mnist');
    const run = exp('run', 'my-gan.yaml', '--steps', '3');
    expect(run.code, run.out).toBe(0);
    expect(run.stdout).toContain('FINISHED at step 3');
    // Again: refuses to overwrite.
    expect(exp('new', 'model', 'my-gan').code).toBe(2);

    const vitest = sh('npm', ['install', '--save-dev', 'vitest@4.1.12'], { timeout: 400_000 });
    expect(vitest.code, vitest.out).toBe(0);
    const test = sh(path.join(project, 'node_modules', '.bin', 'vitest'), ['run', 'my-gan.test.ts']);
    expect(test.code, test.out).toBe(0);
    expect(test.out).toMatch(/Tests\s+\d+ passed/);
  }, 600_000);

  it('loads a second plugin by package name, resolved from the project', () => {
    const pkg = path.join(project, 'my-genlab-plugins');
    fs.mkdirSync(pkg);
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'my-genlab-plugins', version: '1.0.0', type: 'module', exports: './index.js' }));
    // A dataset plugin written against the SDK: constant stripes.
    fs.writeFileSync(
      path.join(pkg, 'index.js'),
      `import { ArrayDataset, z } from 'genlab';
export const datasets = [{
  name: 'stripes',
  description: 'vertical stripes, two classes (a plugin package)',
  configSchema: z.object({ size: z.number().int().positive().default(32) }).strict(),
  async load(cfg) {
    const pixels = Float32Array.from({ length: cfg.size * 64 }, (_, i) => ((i % 8) + Math.floor(i / 64)) % 2);
    const labels = Int32Array.from({ length: cfg.size }, (_, i) => i % 2);
    return new ArrayDataset({ pixels, labels }, { shape: [8, 8, 1], numClasses: 2, range: [-1, 1] }, undefined, { range: [-1, 1], binarize: 'none', flip: false });
  },
}];
`,
    );
    const installed = sh('npm', ['install', './my-genlab-plugins'], { timeout: 300_000 });
    expect(installed.code, installed.out).toBe(0);
    fs.writeFileSync(
      path.join(project, 'stripes.yaml'),
      'plugins: [my-genlab-plugins, ./my-gan.ts]\nmodel: { name: my-gan }\ndataset: { name: stripes }\ntrain: { steps: 3, batchSize: 8 }\ncallbacks: { progress: false }\n',
    );
    const listed = exp('list', 'stripes.yaml');
    expect(listed.stdout).toMatch(/stripes\s+vertical stripes/);
    const run = exp('run', 'stripes.yaml');
    expect(run.code, run.out).toBe(0);
    expect(run.stdout).toContain('FINISHED at step 3');
  }, 400_000);
});
