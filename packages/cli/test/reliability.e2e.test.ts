/**
 * The reliability suite, through the real CLI on a tiny config: crashes at random points
 * (kill -9, a double Ctrl-C), corrupt checkpoints on resume, a full disk (a small tmpfs where
 * the machine lets the test mount one), and paths that cannot be created. Each case asserts
 * the exit code, that the message names the file or key, and what is left on disk.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32, readCheckpoint } from '@genlab/core';
import { LocalSource } from '@genlab/dashboard';
import { FileStore } from '@genlab/tracking';
import { bin, exp, runIdOf, seedConfig, write } from './helpers.js';

const STEPS = 120;
/** logEvery does not divide the checkpoint interval: windows must still line up after a resume. */
const config = (extra = '') => `extends: ${seedConfig}
model:
  latentDim: 8
  generator: { hidden: [32] }
  discriminator: { hidden: [32] }
train: { steps: ${STEPS}, batchSize: 16, logEvery: 7 }
callbacks:
  samples: { every: 0, n: 4 }
  checkpoint: { every: 20, logArtifact: false }
  progress: { mode: lines, every: 0.01 }
${extra}`;

/** Start `exp run <cfg>`; once stderr shows step >= `atStep`, send `signals` (one after another). */
function runUntil(cfg: string, cwd: string, atStep: number, signals: NodeJS.Signals[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'run', cfg], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const steps = [...stderr.matchAll(/step (\d+)\//g)].map((m) => Number(m[1]));
      if (!sent && steps.length && Math.max(...steps) >= atStep) {
        sent = true;
        for (const s of signals) child.kill(s);
      }
    });
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const onlyRun = (cwd: string): string => {
  const ids = fs.readdirSync(path.join(cwd, 'outputs')).filter((d) => /^[0-9a-f]{32}$/.test(d));
  expect(ids).toHaveLength(1);
  return ids[0]!;
};
const runJson = (cwd: string, id: string) => JSON.parse(fs.readFileSync(path.join(cwd, 'outputs', id, 'run.json'), 'utf8')) as Record<string, unknown>;
const metaYaml = (cwd: string, id: string) => fs.readFileSync(path.join(cwd, 'mlruns', '1', id, 'meta.yaml'), 'utf8');

/** Metric points by key, without throughput (it is not deterministic). */
function points(cwd: string, id: string): Record<string, [number, number][]> {
  const run = new FileStore(path.join(cwd, 'mlruns')).readRun(id);
  return Object.fromEntries(
    Object.entries(run.metrics)
      .filter(([k]) => k !== 'img_per_sec')
      .map(([k, ps]) => [k, ps.map((p) => [p.step, p.value] as [number, number])]),
  );
}

function sameWeights(a: string, b: string): void {
  const x = readCheckpoint(a);
  const y = readCheckpoint(b);
  expect(Object.keys(y.state).sort()).toEqual(Object.keys(x.state).sort());
  for (const key of Object.keys(x.state)) expect(Buffer.from(y.state[key]!.data.buffer).equals(Buffer.from(x.state[key]!.data.buffer)), key).toBe(true);
}

describe('reliability', () => {
  let root: string;
  let straight: { dir: string; id: string };
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-reliability-'));
    const dir = path.join(root, 'straight');
    fs.mkdirSync(dir);
    const r = exp(['run', write(dir, 'c.yaml', config())], dir);
    expect(r.code, r.stderr).toBe(0);
    straight = { dir, id: runIdOf(r.stdout) };
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  // Random kill points (seeded, so a failure is reproducible), and one before the first
  // periodic checkpoint but after the first logged window (a resume from step 0 that must not
  // log step 7 again).
  const rand = mulberry32(15);
  const killPoints = [9, ...Array.from({ length: 2 }, () => 21 + Math.floor(rand() * (STEPS - 30)))];
  for (const at of killPoints) {
    it(`kill -9 near step ${at}: shown as interrupted, recorded KILLED, resumed to the same weights and metric points`, async () => {
      const cwd = fs.mkdtempSync(path.join(root, 'kill-'));
      const cfg = write(cwd, 'c.yaml', config());
      const killed = await runUntil(cfg, cwd, at, ['SIGKILL']);
      expect(killed.signal).toBe('SIGKILL');
      const id = onlyRun(cwd);
      expect(runJson(cwd, id)).toMatchObject({ status: 'RUNNING' });
      expect(metaYaml(cwd, id)).toMatch(/status: 1\b/);
      const ckptStep = runJson(cwd, id).checkpointStep as number;
      expect(ckptStep % 20).toBe(0); // the step-0 checkpoint at the least: always resumable

      // The dashboard (read-only) shows it interrupted; the next command that looks records it.
      const shown = await new LocalSource(path.join(cwd, 'mlruns'), { warn: () => {} }).runs();
      expect(shown.find((r) => r.runId === id)?.status).toBe('INTERRUPTED');
      const runs = exp(['runs'], cwd);
      expect(runs.code, runs.stderr).toBe(0);
      expect(runs.stdout).toMatch(new RegExp(`${id}\\s+KILLED\\s+step\\s+${ckptStep}\\b.*interrupted; resume from step ${ckptStep}`));
      expect(runs.stderr).toContain(`run ${id} was interrupted`);
      expect(metaYaml(cwd, id)).toMatch(/status: 5\b/);
      expect(metaYaml(cwd, id)).toMatch(/end_time: \d+/);
      expect(new FileStore(path.join(cwd, 'mlruns')).readRun(id).tags['genlab.stop_reason']).toMatch(/^interrupted: its process \(pid \d+\) is gone/);

      const resumed = exp(['run', '--resume', id], cwd);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toContain(`resuming at step ${ckptStep}`);
      expect(runJson(cwd, id)).toMatchObject({ status: 'FINISHED', step: STEPS });
      expect(runJson(cwd, id).pid).toBeUndefined();
      sameWeights(path.join(straight.dir, 'outputs', straight.id, 'checkpoints', 'last'), path.join(cwd, 'outputs', id, 'checkpoints', 'last'));
      // Each step logged once, with the values of the uninterrupted run.
      expect(points(cwd, id)).toEqual(points(straight.dir, straight.id));
    });
  }

  it('a double Ctrl-C exits at once; the run is then found interrupted, and resumes', async () => {
    const cwd = fs.mkdtempSync(path.join(root, 'int2-'));
    const cfg = write(cwd, 'c.yaml', config());
    const r = await runUntil(cfg, cwd, 30, ['SIGINT', 'SIGINT']);
    expect(r.code).toBe(130);
    const id = onlyRun(cwd);
    const runs = exp(['runs'], cwd);
    expect(runs.stdout).toMatch(new RegExp(`${id}\\s+(KILLED|FINISHED)`));
    const resumed = exp(['run', '--resume', id], cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(runJson(cwd, id)).toMatchObject({ status: 'FINISHED', step: STEPS });
  });

  describe('a corrupt checkpoint is refused on resume, and the run record is left as it was', () => {
    const corruptions: [string, (ckpt: string) => void, RegExp][] = [
      ['a bit flipped in a manifest offset', (c) => flip(path.join(c, 'manifest.json'), /"offset": (\d+)/g, 1), /manifest\.json is corrupt \(SHA-256 mismatch/],
      ['meta.step edited', (c) => edit(path.join(c, 'manifest.json'), (s) => s.replace(/"step": \d+/, '"step": 1')), /manifest\.json is corrupt/],
      ['a bit flipped in the tensors', (c) => flipByte(path.join(c, 'tensors.bin')), /tensors\.bin is corrupt/],
      ['checksums.json removed', (c) => fs.rmSync(path.join(c, 'checksums.json')), /incomplete: checksums\.json is missing/],
    ];
    let cwd: string;
    let id: string;
    beforeAll(async () => {
      cwd = fs.mkdtempSync(path.join(root, 'corrupt-'));
      const killed = await runUntil(write(cwd, 'c.yaml', config()), cwd, 45, ['SIGINT']);
      expect(killed.code, killed.stderr).toBe(130);
      id = onlyRun(cwd);
    });
    for (const [name, corrupt, message] of corruptions) {
      it(name, () => {
        const ckpt = path.join(cwd, 'outputs', id, 'checkpoints', 'last');
        const backup = `${ckpt}.bak`;
        fs.cpSync(ckpt, backup, { recursive: true });
        try {
          corrupt(ckpt);
          const before = { json: fs.readFileSync(path.join(cwd, 'outputs', id, 'run.json')), meta: metaYaml(cwd, id), metrics: points(cwd, id) };
          const r = exp(['run', '--resume', id], cwd);
          expect(r.code).toBe(2);
          expect(r.stderr).toMatch(message);
          expect(r.stderr).toContain(ckpt);
          expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
          expect(fs.readFileSync(path.join(cwd, 'outputs', id, 'run.json')).equals(before.json)).toBe(true);
          expect(metaYaml(cwd, id)).toBe(before.meta);
          expect(points(cwd, id)).toEqual(before.metrics);
        } finally {
          fs.rmSync(ckpt, { recursive: true, force: true });
          fs.renameSync(backup, ckpt);
        }
      });
    }
  });

  it('output and tracking folders that cannot be created are refused at once, naming the path', () => {
    const cwd = fs.mkdtempSync(path.join(root, 'proc-'));
    const cfg = write(cwd, 'c.yaml', config());
    const out = exp(['run', cfg, '--set', 'output.dir=/proc/genlab-test/out'], cwd);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/output folder \(output\.dir\) \/proc\/genlab-test\/out cannot be used/);
    const track = exp(['run', cfg, '--set', 'tracking.uri=file:/proc/genlab-test/mlruns'], cwd);
    expect(track.code).toBe(2);
    expect(track.stderr).toMatch(/tracking store \/proc\/genlab-test\/mlruns cannot be used/);
    const file = write(cwd, 'a-file', '');
    const under = exp(['run', cfg, '--set', `output.dir=${path.join(file, 'out')}`], cwd);
    expect(under.code).toBe(2);
    expect(under.stderr).toContain(`${file} is a file, not a folder`);
    // No run and no store: at most the (empty) default output folder of the second case.
    expect(fs.readdirSync(cwd).filter((f) => f !== 'outputs').sort()).toEqual(['a-file', 'c.yaml']);
    expect(fs.readdirSync(path.join(cwd, 'outputs'))).toEqual([]);
  });

  /** A small tmpfs, where this machine allows mounting one (root in a container that permits it). */
  const mountTmpfs = (dir: string, kb: number): boolean => spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', dir]).status === 0;
  const full = path.join(os.tmpdir(), `genlab-full-${process.pid}`);
  fs.mkdirSync(full, { recursive: true });
  const canMount = process.platform === 'linux' && mountTmpfs(full, 64);
  if (canMount) spawnSync('umount', [full]);
  // Skipped only where this machine cannot mount a tmpfs (not root, or a container without the
  // mount capability); there the injected-ENOSPC tests (core state.test.ts, tracking
  // file-store.test.ts) still cover a full disk on the checkpoint and artifact writes.
  describe.skipIf(!canMount)('a full disk (a small tmpfs)', () => {
    afterAll(() => {
      spawnSync('umount', [full]);
      fs.rmSync(full, { recursive: true, force: true });
    });
    it('a full output disk: exit 1, the path and the cause named, no stack trace, nothing half-written', () => {
      const cwd = fs.mkdtempSync(path.join(root, 'enospc-'));
      expect(mountTmpfs(full, 256)).toBe(true);
      try {
        const r = exp(['run', write(cwd, 'c.yaml', config()), '--set', `output.dir=${full}/outputs`], cwd);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`cannot write the checkpoint file ${full}/outputs/[0-9a-f]{32}/checkpoints/\\.last\\.tmp-\\w+/(tensors\\.bin|manifest\\.json|checksums\\.json): no space left on device \\(ENOSPC\\)`));
        expect(r.stderr).not.toMatch(/\n\s+at /);
        const id = runIdOf(r.stdout);
        // The last good checkpoint (step 0) is kept whole; no partial one beside it.
        expect(fs.readdirSync(path.join(full, 'outputs', id, 'checkpoints'))).toEqual(['last']);
        expect(readCheckpoint(path.join(full, 'outputs', id, 'checkpoints', 'last')).meta.step).toBe(0);
        expect(metaYaml(cwd, id)).toMatch(/status: 4\b/); // FAILED, with its reason
        expect(new FileStore(path.join(cwd, 'mlruns')).readRun(id).tags['genlab.stop_reason']).toMatch(/no space left on device/);
      } finally {
        spawnSync('umount', [full]);
      }
    });
    it('a full tracking store: exit 1, the path named, no partial folder in the store', () => {
      const cwd = fs.mkdtempSync(path.join(root, 'enospc-store-'));
      expect(mountTmpfs(full, 200)).toBe(true);
      try {
        const cfg = write(cwd, 'c.yaml', config().replace('logArtifact: false', 'logArtifact: true'));
        const r = exp(['run', cfg, '--set', `tracking.uri=file:${full}/mlruns`], cwd);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`${full}/mlruns/\\S+: no space left on device \\(ENOSPC\\)`));
        expect(r.stderr).not.toMatch(/\n\s+at /);
        const tmp = spawnSync('find', [full, '-name', '*.tmp*'], { encoding: 'utf8' }).stdout.trim();
        expect(tmp).toBe('');
      } finally {
        spawnSync('umount', [full]);
      }
    });
  });
});

function edit(file: string, f: (s: string) => string): void {
  fs.writeFileSync(file, f(fs.readFileSync(file, 'utf8')));
}
/** Flip the lowest bit of the `n`-th number matched by `re`'s group 1. */
function flip(file: string, re: RegExp, n: number): void {
  let i = 0;
  edit(file, (s) => s.replace(re, (m, g: string) => (i++ === n ? m.replace(g, String(Number(g) ^ 1)) : m)));
}
function flipByte(file: string): void {
  const b = fs.readFileSync(file);
  b[Math.floor(b.length / 3)]! ^= 0x10;
  fs.writeFileSync(file, b);
}
