/**
 * `exp new` for every kind of plugin: the three files it writes validate, train a few steps
 * and pass their contract tests, with no edit. The project here links `genlab` and `vitest`
 * from this checkout (the packed, npm-installed path is outside.e2e.test.ts).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exp, repo } from './helpers.js';

let cwd: string;
const KINDS = ['model', 'dataset', 'callback', 'metric'] as const;

beforeAll(() => {
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-scaffold-'));
  fs.mkdirSync(path.join(cwd, 'node_modules'));
  fs.symlinkSync(path.join(repo, 'packages', 'genlab'), path.join(cwd, 'node_modules', 'genlab'));
  fs.symlinkSync(path.join(repo, 'node_modules', 'vitest'), path.join(cwd, 'node_modules', 'vitest'));
});

describe('exp new', () => {
  for (const kind of KINDS) {
    it(`new ${kind}: validates and trains unedited`, () => {
      const made = exp(['new', kind, `my-${kind}`, '--dir', 'plugins'], cwd);
      expect(made.code, made.stderr).toBe(0);
      expect(made.stdout).toContain(`wrote plugins/my-${kind}.ts, plugins/my-${kind}.yaml, plugins/my-${kind}.test.ts`);
      const file = path.join('plugins', `my-${kind}.yaml`);
      const v = exp(['validate', file, '-q'], cwd);
      expect(v.code, v.stderr).toBe(0);
      const r = exp(['run', file, '--steps', '4', ...(kind === 'metric' ? ['--set', 'eval.samples=50'] : []), ...(kind === 'callback' ? ['--set', 'callbacks.my-callback.every=2'] : [])], cwd);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('FINISHED at step 4');
      if (kind === 'metric') expect(r.stderr).toMatch(/my-metric_mean_gap\s+\d/);
      if (kind === 'callback') expect(r.stderr).toMatch(/ema\/loss_d \d/);
      if (kind === 'model') {
        // The scaffolded model exports too (its exportSpec), checked against its own samples.
        const id = /run ([0-9a-f]{32}) /.exec(r.stdout)![1]!;
        const e = exp(['export', id.slice(0, 8), '--out', 'my-model-web'], cwd);
        expect(e.code, e.stderr).toBe(0);
        expect(e.stderr).toContain('check: the export reproduces exp sample');
      }
    });
  }

  it('the four scaffolded contract tests pass', () => {
    const r = spawnSync(process.execPath, [path.join(cwd, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], { cwd, encoding: 'utf8', timeout: 200_000, env: { ...process.env, NO_COLOR: '1' } });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/Test Files\s+4 passed/);
  });

  it('refuses a bad name, an unknown kind, and files that exist', () => {
    expect(exp(['new', 'model', 'My Model'], cwd).stderr).toMatch(/'My Model' is not a plugin name/);
    expect(exp(['new', 'widget', 'x'], cwd).code).toBe(2);
    const again = exp(['new', 'model', 'my-model', '--dir', 'plugins'], cwd);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exist.*--force/);
  });
});
