/** Shared helpers of the end-to-end tests: run the built CLI in a child process. */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One cache folder per test process: decoded datasets are shared by its runs, not with the user's. */
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-cache-'));

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../../..');
export const bin = path.resolve(here, '../dist/bin.js');
export const seedConfig = path.join(repo, 'configs', 'gan-mnist.yaml');

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function exp(args: string[], cwd: string): Result {
  // A hung CLI must fail the test, not hang it: spawnSync blocks vitest's own timeout.
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 200_000, env: { ...process.env, NO_COLOR: '1', GENLAB_CACHE_DIR: cacheDir } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** A small, fast variant of the seed config. */
export const tiny = (extra = '') => `extends: ${seedConfig}
model:
  latentDim: 8
  generator: { hidden: [32] }
  discriminator: { hidden: [32] }
train: { steps: 12, batchSize: 16, logEvery: 4 }
callbacks:
  samples: { every: 6, n: 16 }
  checkpoint: { every: 4 }
  progress: { mode: lines, every: 0.01 }
${extra}`;

export function runIdOf(stdout: string): string {
  const m = /run ([0-9a-f]{32}) /.exec(stdout);
  if (!m) throw new Error(`no run id in: ${stdout}`);
  return m[1]!;
}

export function countRuns(cwd: string): number {
  const root = path.join(cwd, 'mlruns');
  if (!fs.existsSync(root)) return 0;
  return fs
    .readdirSync(root)
    .filter((e) => /^\d+$/.test(e))
    .flatMap((e) => fs.readdirSync(path.join(root, e)).filter((r) => /^[0-9a-f]{32}$/.test(r))).length;
}


/** `exp` without blocking the event loop (for tests that serve HTTP from this process). */
export function expAsync(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', GENLAB_CACHE_DIR: cacheDir, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 200_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
