/**
 * End-to-end tests of the dataset adapters through the real CLI: `exp data`, and training
 * on Fashion-MNIST, on a generated image folder and on a toy 2-D mixture.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodePng, encodeGrid } from '@genlab/core';
import { FileStore } from '@genlab/tracking';
import { exp, runIdOf, seedConfig, tiny, write } from './helpers.js';

describe('datasets through the CLI', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-data-'));
  });

  it('exp data describes a dataset by name and draws a grid', () => {
    const r = exp(['data', 'show', 'mnist', '--set', 'split=test', '--n', '16', '--out', 'm.png'], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('examples: 999');
    expect(r.stdout).toContain('shape: [28, 28, 1]');
    expect(r.stdout).toMatch(/values: min -1\.0000, max 1\.0000, mean -0\.7\d+, std 0\.6\d+/);
    expect(r.stdout).toMatch(/\n\s+0\s+0\s+100\n/); // 100 test zeros
    expect(decodePng(fs.readFileSync(path.join(cwd, 'm.png'))).width).toBe(4 * 30 + 2);
  });

  it('exp data reads a config with overrides, and refuses bad options and names with exit 2', () => {
    const r = exp(['data', seedConfig, '--set', 'dataset.classes=[3]', '--out', 'three.png'], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('examples: 929');
    expect(r.stdout).toMatch(/\n\s+3\s+3\s+929\n/);
    const bad = exp(['data', 'show', 'mnist', '--set', 'split=tset'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--set split: 'dataset.split': Invalid option");
    const unknown = exp(['data', 'fashon-mnist'], cwd);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown dataset 'fashon-mnist'. Known datasets: ");
    expect(unknown.stderr).toContain("(did you mean 'fashion-mnist'?)");
  });

  it('trains the seed config on Fashion-MNIST with --set dataset.name=fashion-mnist', () => {
    const cfg = write(cwd, 'tiny.yaml', tiny());
    const r = exp(['run', cfg, '--set', 'dataset.name=fashion-mnist', '--set', 'train.steps=6'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const run = new FileStore(path.join(cwd, 'mlruns')).readRun(runIdOf(r.stdout));
    expect(run.status).toBe('FINISHED');
    expect(run.tags['genlab.dataset']).toBe('fashion-mnist');
  });

  it('trains a DCGAN on a folder of generated RGB images (image-folder config)', () => {
    const root = path.join(cwd, 'images');
    for (const [cls, hue] of [['red', [1, -1, -1]], ['blue', [-1, -1, 1]]] as const) {
      fs.mkdirSync(path.join(root, cls), { recursive: true });
      for (let i = 0; i < 12; i++) {
        // A 20×24 image: a coloured square on black, moved by i.
        const data = new Float32Array(20 * 24 * 3).fill(-1);
        for (let y = 4; y < 12; y++) for (let x = i; x < i + 8; x++) for (let c = 0; c < 3; c++) data[(y * 24 + x) * 3 + c] = hue[c]!;
        fs.writeFileSync(path.join(root, cls, `${i}.png`), encodeGrid({ data, n: 1, h: 20, w: 24, c: 3, range: [-1, 1] }, { pad: 0 }));
      }
    }
    const cfg = write(
      cwd,
      'folder.yaml',
      `name: folder-dcgan
seed: 2
model:
  name: gan/dcgan
  latentDim: 8
  generator: { channels: [8, 4] }
  discriminator: { channels: [4, 8] }
dataset:
  name: image-folder
  dir: ./images
  size: 16
  channels: 3
  testFraction: 0.25
  flip: true
train: { steps: 4, batchSize: 6, logEvery: 2 }
callbacks:
  samples: { every: 0, n: 4 }
  progress: false
`,
    );
    const data = exp(['data', cfg, '--n', '9', '--out', 'folder.png'], cwd);
    expect(data.code, data.stderr).toBe(0);
    expect(data.stdout).toContain('examples: 18');
    expect(data.stdout).toContain('shape: [16, 16, 3]');
    expect(data.stdout).toMatch(/0\s+blue\s+9\n\s+1\s+red\s+9/);
    const r = exp(['run', cfg], cwd);
    expect(r.code, r.stderr).toBe(0);
    const grid = decodePng(fs.readFileSync(path.join(cwd, 'outputs', runIdOf(r.stdout), 'samples', 'final.png')));
    expect(grid.width).toBe(2 * 18 + 2);
  });

  it('trains the MLP GAN on the 8-Gaussian ring and draws a scatter plot', () => {
    const cfg = write(
      cwd,
      'ring.yaml',
      `name: ring
model:
  name: gan/mlp
  latentDim: 4
  generator: { hidden: [16] }
  discriminator: { hidden: [16] }
dataset: { name: toy2d, mixture: ring8, size: 512 }
train: { steps: 10, batchSize: 32 }
callbacks:
  samples: { every: 0 }
  progress: false
`,
    );
    const r = exp(['run', cfg], cwd);
    expect(r.code, r.stderr).toBe(0);
    const plot = decodePng(fs.readFileSync(path.join(cwd, 'outputs', runIdOf(r.stdout), 'samples', 'final.png')));
    expect([plot.width, plot.height]).toEqual([400, 400]);
    let blue = 0;
    for (let i = 0; i < plot.data.length; i += 4) if (plot.data[i] === 30 && plot.data[i + 1] === 90 && plot.data[i + 2] === 200) blue++;
    expect(blue).toBeGreaterThan(10);
  });
});
