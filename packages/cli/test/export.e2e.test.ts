/**
 * `exp export` end to end: tiny runs of each model family trained through the CLI, exported,
 * and loaded in a fresh Node process that has only @tensorflow/tfjs (and pngjs) installed,
 * which must give the same images as the run's own `sample` for the same latents and labels;
 * the README's Node snippet run as a user would; quantized exports; and bad input refused
 * with exit 2 and nothing half-written.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '@genlab/core';
import { openRun } from '../src/commands.js';
import { exp, here, repo, runIdOf, write } from './helpers.js';

const require = createRequire(import.meta.url);

/** Common to every tiny run: two steps on 64 images, no evaluation, nothing periodic. */
const quick = `train: { steps: 2, batchSize: 8, logEvery: 1 }
callbacks:
  samples: { every: 0, n: 4 }
  checkpoint: { every: 0 }
  progress: false
eval: false
tracking: { uri: file:./mlruns }
`;
const from = (file: string, body: string) => `extends: ${path.join(repo, 'configs', file)}\n${body}\n${quick}`;

/** One tiny config per case: every family, conditional models, EMA with batch norm, a VAE that draws. */
const CASES: { name: string; config: string; set?: string[] }[] = [
  { name: 'gan/mlp', config: from('gan-mnist.yaml', 'model: { latentDim: 8, generator: { hidden: [32] }, discriminator: { hidden: [32] } }\ndataset: { subset: 64 }') },
  {
    name: 'gan/cgan (conditional batch norm)',
    config: from('cgan-mnist.yaml', 'model: { latentDim: 8, generator: { channels: [8, 4], kernel: 3 }, discriminator: { channels: [4, 8], kernel: 3 } }\ndataset: { subset: 64 }'),
  },
  {
    name: 'gan/dcgan (EMA weights with standing statistics of its batch norms)',
    config: from('dcgan-mnist.yaml', 'model: { latentDim: 8, generator: { channels: [8, 4], kernel: 3 }, discriminator: { channels: [4, 8], kernel: 3 }, ema: { enabled: true, decay: 0.5, start: 0 } }\ndataset: { subset: 64 }'),
  },
  { name: 'vae/cvae (encoder too)', config: from('cvae-mnist.yaml', 'model: { latentDim: 4, encoder: { hidden: [16] }, decoder: { hidden: [16] }, eval: { iwaeK: 3 } }\ndataset: { subset: 64 }') },
  { name: 'vae/mlp drawing from the decoder', config: from('vae-mnist.yaml', 'model: { latentDim: 4, encoder: { hidden: [16] }, decoder: { hidden: [16] }, sampleMode: sample, eval: { iwaeK: 3 } }\ndataset: { subset: 64 }') },
  { name: 'rnn/row-lstm (conditional)', config: from('rnn-mnist.yaml', 'model: { hidden: 4, layers: 2, outputHidden: 4, conditional: true }\ndataset: { subset: 64 }') },
];

/** A Node project with nothing but @tensorflow/tfjs and pngjs in node_modules. */
function plainProject(root: string): string {
  const dir = path.join(root, 'plain-project');
  fs.mkdirSync(path.join(dir, 'node_modules', '@tensorflow'), { recursive: true });
  fs.symlinkSync(path.dirname(require.resolve('@tensorflow/tfjs/package.json')), path.join(dir, 'node_modules', '@tensorflow', 'tfjs'));
  fs.symlinkSync(path.dirname(require.resolve('pngjs/package.json')), path.join(dir, 'node_modules', 'pngjs'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'plain', private: true, type: 'module' }));
  fs.copyFileSync(path.join(here, 'fixtures', 'plain-tfjs-check.mjs'), path.join(dir, 'check.mjs'));
  fs.copyFileSync(path.join(repo, 'examples', 'node-sampler', 'sample.mjs'), path.join(dir, 'sample.mjs'));
  return dir;
}

function node(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Files under a folder, recursively, relative to it. */
function listing(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('exp export', () => {
  let cwd: string;
  let plain: string;
  const runs = new Map<string, string>();
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-export-'));
    plain = plainProject(cwd);
  });
  afterAll(() => {
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(`${c.name}: loaded with plain tfjs in a fresh process, it gives the run's samples for the same latents and labels`, async () => {
      const file = write(cwd, `${c.name.split(' ')[0]!.replace('/', '-')}.yaml`, c.config);
      const r = exp(['run', file, ...(c.set ?? [])], cwd);
      expect(r.code, r.stderr).toBe(0);
      const id = runIdOf(r.stdout);
      runs.set(c.name, id);
      const out = path.join(cwd, `export-${id.slice(0, 8)}`);
      const e = exp(['export', id.slice(0, 8), '--out', out], cwd);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stderr).toMatch(/check: the export reproduces exp sample \(max \|Δ\| [\d.e+-]+ over 16 samples on wasm\)/);
      const info = JSON.parse(fs.readFileSync(path.join(out, 'genlab.json'), 'utf8'));
      expect(info).toMatchObject({ format: 'genlab-export/1', run: { id, step: 2, checkpoint: 'last' }, output: { range: expect.any(Array) } });

      // The reference: the run reopened the way `exp sample` reopens it, on the cpu backend.
      const n = 6;
      const { model, dataset } = await openRun(id, path.join(cwd, 'outputs'), 'cpu');
      const given: Record<string, { shape: number[]; dtype: string; data: number[] }> = {};
      let want: number[];
      try {
        const spec = model.exportSpec!();
        const labels = model.conditional ? tf.tensor1d([3, 1, 4, 1, 5, 9].map((k) => k % dataset.info.numClasses), 'int32') : undefined;
        const inputs = spec.randomInputs(n, { seed: 11, ...(labels ? { labels } : {}) });
        for (const [k, t] of Object.entries(inputs)) given[k] = { shape: t.shape, dtype: t.dtype, data: Array.from(t.dataSync()) };
        const s = model.sample(n, { seed: 11, ...(labels ? { labels } : {}) });
        want = Array.from(s.dataSync());
        tf.dispose([s, ...Object.values(inputs), ...(labels ? [labels] : [])]);
      } finally {
        model.dispose();
        dataset.dispose?.();
      }
      fs.writeFileSync(path.join(cwd, 'inputs.json'), JSON.stringify(given));
      const p = node(plain, ['check.mjs', out, path.join(cwd, 'inputs.json'), path.join(cwd, 'got.json')]);
      expect(p.code, p.stderr).toBe(0);
      const got = JSON.parse(fs.readFileSync(path.join(cwd, 'got.json'), 'utf8')) as { shape: number[]; data: number[]; backend: string; genlabModules: string[] };
      expect(got.backend).toBe('cpu');
      expect(got.genlabModules).toEqual([]);
      expect(got.shape).toEqual([n, ...info.output.shape]);
      const diff = Math.max(...got.data.map((v, i) => Math.abs(v - want[i]!)));
      expect(diff).toBeLessThanOrEqual(1e-5);
    });
  }

  it("the README's Node snippet writes a PNG grid with only @tensorflow/tfjs and pngjs installed", () => {
    const id = runs.get('gan/cgan (conditional batch norm)')!;
    const out = path.join(cwd, `export-${id.slice(0, 8)}`);
    const p = node(plain, ['sample.mjs', out, path.join(cwd, 'grid.png')]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^64 samples of gan\/cgan \(run [0-9a-f]{8}, step 2\) → /);
    const png = decodePng(fs.readFileSync(path.join(cwd, 'grid.png')));
    expect([png.width, png.height]).toEqual([8 * 28, 8 * 28]);
  });

  it('--quantize float16 and uint8: smaller weights, the FID change measured against the float32 export, bounded unless --force', () => {
    const id = runs.get('gan/mlp')!;
    const f32 = path.join(cwd, `export-${id.slice(0, 8)}`);
    const bytes = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.bin')).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
    for (const q of ['float16', 'uint8'] as const) {
      const out = path.join(cwd, `export-${q}`);
      const r = exp(['export', id.slice(0, 8), '--out', out, '--quantize', q, '--fid-samples', '40', '--force'], cwd);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`quantization: FID [\\d.]+ \\(float32\\) → [\\d.]+ \\(${q}\\): [+-][\\d.]+, bound \\+[\\d.]+`));
      const info = JSON.parse(fs.readFileSync(path.join(out, 'genlab.json'), 'utf8'));
      expect(info.quantization).toMatchObject({ dtype: q, fid: { samples: 40, bound: expect.any(Number), change: expect.any(Number) } });
      expect(info.quantization.fid.protocol).toMatch(/features=mnist/);
      expect(bytes(out) / bytes(f32)).toBeLessThan(q === 'float16' ? 0.52 : 0.27);
      const model = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
      expect(model.weightsManifest[0].weights.some((w: { quantization?: { dtype: string } }) => w.quantization?.dtype === q)).toBe(true);
    }
  });

  it('--checkpoint best and a step the run kept (callbacks.checkpoint: keep, best)', () => {
    const cfg = write(
      cwd,
      'kept.yaml',
      `extends: ${path.join(repo, 'configs', 'gan-mnist.yaml')}
model: { latentDim: 8, generator: { hidden: [16] }, discriminator: { hidden: [16] } }
dataset: { subset: 128 }
train: { steps: 8, batchSize: 16, logEvery: 2 }
callbacks:
  samples: { every: 0, n: 4 }
  checkpoint: { every: 2, keep: 2, best: { metric: fid } }
  progress: false
eval: { every: 4, metrics: [fid], samples: 40, floor: false }
tracking: { uri: file:./mlruns }
`,
    );
    const r = exp(['run', cfg], cwd);
    expect(r.code, r.stderr).toBe(0);
    const id = runIdOf(r.stdout);
    const fids = [...r.stderr.matchAll(/checkpoint: best fid ([\d.]+) at step (\d+)/g)].map((m) => ({ fid: Number(m[1]), step: Number(m[2]) }));
    expect(fids.length).toBeGreaterThan(0);
    // Each new best is better than the one before.
    for (let i = 1; i < fids.length; i++) expect(fids[i]!.fid).toBeLessThan(fids[i - 1]!.fid);
    const ckpts = fs.readdirSync(path.join(cwd, 'outputs', id, 'checkpoints')).filter((n) => !n.startsWith('.')).sort();
    expect(ckpts).toEqual(['best', 'last', 'step-0000006', 'step-0000008']);
    const best = exp(['export', id.slice(0, 8), '--out', path.join(cwd, 'x-best'), '--checkpoint', 'best'], cwd);
    expect(best.code, best.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(cwd, 'x-best', 'genlab.json'), 'utf8')).run).toMatchObject({ checkpoint: 'best', step: fids.at(-1)!.step });
    const six = exp(['export', id.slice(0, 8), '--out', path.join(cwd, 'x-6'), '--checkpoint', '6'], cwd);
    expect(six.code, six.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(cwd, 'x-6', 'genlab.json'), 'utf8')).run).toMatchObject({ checkpoint: 'step-0000006', step: 6 });
    const two = exp(['export', id.slice(0, 8), '--out', path.join(cwd, 'x-2'), '--checkpoint', '2'], cwd);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain(`run ${id} has no checkpoint '2' (it has: last, best, 6, 8)`);
  });

  describe('bad input: exit 2, a message naming what, nothing half-written', () => {
    const noPartials = () => expect(fs.readdirSync(cwd).filter((f) => f.includes('.partial-'))).toEqual([]);

    it('an --out folder that exists and is not empty (replaced only with --force)', () => {
      const id = runs.get('gan/mlp')!;
      const out = path.join(cwd, 'taken');
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, 'keep.txt'), 'mine');
      const r = exp(['export', id.slice(0, 8), '--out', out], cwd);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--out ${out} exists and is not empty: choose another folder, or pass --force`);
      expect(listing(out)).toEqual(['keep.txt']);
      const f = exp(['export', id.slice(0, 8), '--out', out, '--force'], cwd);
      expect(f.code, f.stderr).toBe(0);
      expect(listing(out)).toContain('genlab.json');
      expect(listing(out)).not.toContain('keep.txt');
      noPartials();
    });

    it('a run without a checkpoint, and a checkpoint it does not have', () => {
      const id = runs.get('vae/cvae (encoder too)')!;
      const r = exp(['export', id.slice(0, 8), '--out', path.join(cwd, 'x1'), '--checkpoint', 'best'], cwd);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`run ${id} has no checkpoint 'best' (it has: last)`);
      const ckpt = path.join(cwd, 'outputs', id, 'checkpoints');
      fs.renameSync(ckpt, `${ckpt}.hidden`);
      try {
        const e = exp(['export', id.slice(0, 8), '--out', path.join(cwd, 'x2')], cwd);
        expect(e.code).toBe(2);
        expect(e.stderr).toContain(`run ${id} has no checkpoint: ${ckpt} holds none`);
      } finally {
        fs.renameSync(`${ckpt}.hidden`, ckpt);
      }
      expect(fs.existsSync(path.join(cwd, 'x1'))).toBe(false);
      expect(fs.existsSync(path.join(cwd, 'x2'))).toBe(false);
      noPartials();
    });

    it('a corrupt checkpoint', () => {
      const id = runs.get('vae/mlp drawing from the decoder')!;
      const bin = path.join(cwd, 'outputs', id, 'checkpoints', 'last', 'tensors.bin');
      const good = fs.readFileSync(bin);
      const bad = Buffer.from(good);
      bad[100] = bad[100]! ^ 0xff;
      fs.writeFileSync(bin, bad);
      try {
        const r = exp(['export', id.slice(0, 8), '--out', path.join(cwd, 'x3')], cwd);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(bin);
        expect(r.stderr).not.toMatch(/\n\s+at /);
      } finally {
        fs.writeFileSync(bin, good);
      }
      expect(fs.existsSync(path.join(cwd, 'x3'))).toBe(false);
      noPartials();
    });

    it("a plugin model without exportSpec, and a run whose plugin module is not installed any more", () => {
      const dir = fs.mkdtempSync(path.join(cwd, 'plugin-'));
      const mod = path.join(dir, 'my-model.mjs');
      fs.copyFileSync(path.join(here, 'fixtures', 'flaky-model.mjs'), mod);
      const own = write(dir, 'with-plugin.yaml', `plugins: [./my-model.mjs]\nmodel: { name: test/flaky }\ndataset: { name: mnist, subset: 64 }\n${quick}`);
      const r = exp(['run', own], dir);
      expect(r.code, r.stderr).toBe(0);
      const id = runIdOf(r.stdout);
      const args = ['export', id.slice(0, 8), '--out', path.join(dir, 'web'), '--output-dir', path.join(dir, 'outputs')];
      const none = exp(args, dir);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain(`cannot export run ${id}: model test/flaky does not export (its GenerativeModel has no exportSpec)`);
      fs.rmSync(mod);
      const e = exp(args, dir);
      expect(e.code).toBe(2);
      expect(e.stderr).toContain(`run ${id} cannot be reopened: its config does not load here`);
      expect(e.stderr).toContain('my-model.mjs');
      expect(fs.existsSync(path.join(dir, 'web'))).toBe(false);
      expect(fs.readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);
    });
  });
});
