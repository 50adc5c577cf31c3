/**
 * Validation proves runnability: every built-in model × every built-in dataset (tiny subsets,
 * tiny networks, the default callbacks), through the CLI's own `exp validate` and `exp run`
 * commands in this process. Each pair either validates and trains 2 steps to FINISHED, or
 * validation refuses it with exit 2 and a reason, and so does `exp run`, before any tracked
 * run exists. No pair may validate and then fail.
 *
 * The model options are small but never chosen for the data: deciding what fits is the checks'
 * job. Files for the datasets that read them (IDX, CIFAR-10, image folders) are written here.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeOf } from '@genlab/core';
import { encodeIdx } from '@genlab/datasets';
import { runCommand, validateCommand } from '../src/commands.js';
import { countRuns } from './helpers.js';
import { builtinRegistry } from '../src/registry.js';

/** Small networks for every built-in model (a model added without an entry here fails the first test). */
const MODELS: Record<string, string> = {
  'gan/mlp': '{ latentDim: 4, generator: { hidden: [8] }, discriminator: { hidden: [8] } }',
  'gan/dcgan': '{ latentDim: 4, generator: { channels: [8, 4], kernel: 3 }, discriminator: { channels: [4, 8], kernel: 3 } }',
  'gan/cgan': '{ latentDim: 4, generator: { channels: [8, 4], kernel: 3 }, discriminator: { channels: [4, 8], kernel: 3 } }',
  'gan/acgan': '{ latentDim: 4, generator: { channels: [8, 4], kernel: 3 }, discriminator: { channels: [4, 8], kernel: 3 } }',
  'gan/sngan': '{ latentDim: 4, generator: { channels: 8 }, discriminator: { channels: 8 } }',
  'vae/mlp': '{ latentDim: 2, encoder: { hidden: [8] }, decoder: { hidden: [8] } }',
  'vae/conv': '{ latentDim: 2, encoder: { channels: [4, 8] }, decoder: { channels: [8, 4] } }',
  'vae/cvae': '{ latentDim: 2, encoder: { hidden: [8] }, decoder: { hidden: [8] } }',
  'rnn/row-lstm': '{ hidden: 4, layers: 1, outputHidden: 4 }',
};

/**
 * Every built-in dataset with tiny options (some twice: grey and binarised MNIST, labelled and
 * unlabelled image folders, so both sides of the data checks are exercised).
 */
const DATASETS: Record<string, { name: string; options: string }> = {
  mnist: { name: 'mnist', options: 'subset: 32' },
  'mnist (binary, [0, 1])': { name: 'mnist', options: 'subset: 32, range: [0, 1], binarize: static' },
  'fashion-mnist': { name: 'fashion-mnist', options: 'subset: 32' },
  kmnist: { name: 'kmnist', options: 'dir: idx' },
  emnist: { name: 'emnist', options: 'dir: emnist, variant: digits' },
  idx: { name: 'idx', options: 'dir: idx-rgb, range: [0, 1]' },
  cifar10: { name: 'cifar10', options: 'dir: cifar' },
  'image-folder': { name: 'image-folder', options: 'dir: images' },
  'image-folder (unlabelled)': { name: 'image-folder', options: 'dir: images, labels: none' },
  toy2d: { name: 'toy2d', options: 'size: 64' },
};

let dir: string;
let cacheDir: string;
const before = process.env.GENLAB_CACHE_DIR;
/** What happened to each pair: 'ran' or the refusal's message. */
const outcomes = new Map<string, { ran: boolean; message?: string }>();

/** A fixed pseudo-random byte stream. */
function bytes(n: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24) & 0xff);
}

function writeIdxPair(folder: string, images: string, labels: string, n: number, shape: number[], classes: number): void {
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, images), encodeIdx([n, ...shape], bytes(n * shape.reduce((a, b) => a * b, 1), n)));
  fs.writeFileSync(path.join(folder, labels), encodeIdx([n], Uint8Array.from({ length: n }, (_, i) => i % classes)));
}

function writeFixtures(root: string): void {
  const mnistNames = (f: string) => [`${f}-images-idx3-ubyte`, `${f}-labels-idx1-ubyte`] as const;
  for (const [split, n] of [['train', 24], ['t10k', 8]] as const) writeIdxPair(path.join(root, 'idx'), ...mnistNames(split), n, [28, 28], 10);
  // An IDX set of 12×12 RGB images ([N, H, W, C]).
  for (const [split, n] of [['train', 24], ['t10k', 8]] as const) writeIdxPair(path.join(root, 'idx-rgb'), ...mnistNames(split), n, [12, 12, 3], 3);
  for (const split of ['train', 'test']) {
    writeIdxPair(path.join(root, 'emnist'), `emnist-digits-${split}-images-idx3-ubyte`, `emnist-digits-${split}-labels-idx1-ubyte`, split === 'train' ? 24 : 8, [28, 28], 10);
  }
  fs.mkdirSync(path.join(root, 'cifar'));
  const record = 1 + 32 * 32 * 3;
  for (const [i, name] of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'].entries()) {
    const buf = Buffer.from(bytes(4 * record, i + 1));
    for (let r = 0; r < 4; r++) buf[r * record] = (r + i) % 10;
    fs.writeFileSync(path.join(root, 'cifar', `${name}.bin`), buf);
  }
  // Two classes of 8×8 RGB PNGs.
  for (const cls of ['cats', 'dogs']) {
    fs.mkdirSync(path.join(root, 'images', cls), { recursive: true });
    for (let i = 0; i < 6; i++) {
      const png = new PNG({ width: 8, height: 8 });
      png.data = Buffer.from(bytes(8 * 8 * 4, i + (cls === 'cats' ? 0 : 100)).map((b, k) => (k % 4 === 3 ? 255 : b)));
      fs.writeFileSync(path.join(root, 'images', cls, `${i}.png`), PNG.sync.write(png));
    }
  }
}

/** The callbacks that check themselves against the data, each on the MLP GAN (which takes any data). */
const CALLBACKS: Record<string, Extra> = {
  eval: { top: 'eval: { samples: 10, floor: false }' },
  health: { callbacks: 'health: { every: 1, classes: { samples: 10 }, diagnose: { examples: 4 } }' },
};

/** Config lines a row adds: top-level keys, and entries of `callbacks:`. */
interface Extra {
  top?: string;
  callbacks?: string;
}

function configFor(model: string, dataset: { name: string; options: string }, extra: Extra = {}): string {
  return `name: matrix
seed: 1
model: { name: ${model}, ${MODELS[model]!.slice(1).trim()}
dataset: { name: ${dataset.name}, ${dataset.options} }
train: { steps: 2, batchSize: 4, logEvery: 1 }
callbacks: { progress: false, samples: { every: 0, n: 4 }, checkpoint: { every: 0 }${extra.callbacks ? `, ${extra.callbacks}` : ''} }
${extra.top ?? ''}
tracking: { uri: ${JSON.stringify(`file:${path.join(dir, 'mlruns')}`)} }
output: { dir: ${JSON.stringify(path.join(dir, 'outputs'))} }
`;
}

/** A command's exit code and error message, run in this process as bin.ts runs it. */
async function exitOf(fn: () => Promise<number>): Promise<{ code: number; message?: string }> {
  try {
    return { code: await fn() };
  } catch (error) {
    return { code: exitCodeOf(error), message: (error as Error).message };
  }
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-matrix-'));
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-matrix-cache-'));
  process.env.GENLAB_CACHE_DIR = cacheDir;
  writeFixtures(dir);
});

afterAll(() => {
  if (before === undefined) delete process.env.GENLAB_CACHE_DIR;
  else process.env.GENLAB_CACHE_DIR = before;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

describe('every built-in model × every built-in dataset: validates and trains, or is refused with exit 2', () => {
  it('covers every registered model and dataset', () => {
    const registry = builtinRegistry();
    expect(Object.keys(MODELS).sort()).toEqual([...registry.models.keys()].sort());
    expect([...new Set(Object.values(DATASETS).map((d) => d.name))].sort()).toEqual([...registry.datasets.keys()].sort());
  });

  const pairs = Object.entries(DATASETS).flatMap(([label, dataset]) => [
    ...Object.keys(MODELS).map((model) => ({ pair: `${model} × ${label}`, model, dataset, extra: {} })),
    ...Object.entries(CALLBACKS).map(([cb, extra]) => ({ pair: `${cb} callback × ${label}`, model: 'gan/mlp', dataset, extra })),
  ]);
  for (const { pair, model, dataset, extra } of pairs) {
    {
      it(pair, async () => {
        const file = path.join(dir, `${pair.replace(/\W+/g, '-')}.yaml`);
        fs.writeFileSync(file, configFor(model, dataset, extra));
        const runs = countRuns(dir);
        const validated = await exitOf(() => validateCommand({ config: file, set: [], quiet: true }));
        if (validated.code === 0) {
          const run = await exitOf(() => runCommand({ config: file, set: [] }));
          expect(run, `${pair} validated, then exp run failed`).toEqual({ code: 0 });
          expect(countRuns(dir)).toBe(runs + 1);
          outcomes.set(pair, { ran: true });
        } else {
          expect(validated.code, validated.message).toBe(2);
          expect(validated.message).toMatch(/Invalid config .*\n {2}- .*'(model|dataset|train\.batchSize|eval|callbacks)[^']*': \S/);
          // exp run refuses it the same way, before a run exists.
          const run = await exitOf(() => runCommand({ config: file, set: [] }));
          expect(run.code, run.message).toBe(2);
          expect(countRuns(dir)).toBe(runs);
          outcomes.set(pair, { ran: false, message: validated.message!.split('\n').slice(1).join(' ') });
        }
      });
    }
  }

  it('runs and refuses the pairs it should (the checks are neither off nor everything)', () => {
    const ran = (pair: string) => outcomes.get(pair)?.ran;
    // Image models refuse flat data; conditional models refuse unlabelled data; the pixel RNN and
    // Bernoulli decoders refuse grey levels.
    for (const m of ['gan/dcgan', 'gan/cgan', 'gan/acgan', 'gan/sngan', 'vae/conv', 'rnn/row-lstm']) expect(ran(`${m} × toy2d`), m).toBe(false);
    for (const m of ['gan/cgan', 'gan/acgan', 'vae/cvae']) expect(ran(`${m} × image-folder (unlabelled)`), m).toBe(false);
    expect(ran('rnn/row-lstm × mnist')).toBe(false);
    expect(ran('rnn/row-lstm × cifar10')).toBe(false);
    for (const m of Object.keys(MODELS)) expect(ran(`${m} × mnist (binary, [0, 1])`), m).toBe(true);
    expect(ran('gan/mlp × toy2d')).toBe(true);
    expect(ran('gan/cgan × image-folder')).toBe(true);
    // Metrics on image features need a feature network for the dataset (shipped: MNIST, Fashion-MNIST); toy data counts modes.
    for (const d of ['mnist', 'fashion-mnist', 'toy2d']) for (const cb of ['eval', 'health']) expect(ran(`${cb} callback × ${d}`), `${cb} × ${d}`).toBe(true);
    for (const d of ['cifar10', 'image-folder', 'kmnist']) for (const cb of ['eval', 'health']) expect(ran(`${cb} callback × ${d}`), `${cb} × ${d}`).toBe(false);
    const refused = [...outcomes.values()].filter((o) => !o.ran).length;
    process.stderr.write(`\nmatrix: ${outcomes.size} pairs: ${outcomes.size - refused} ran, ${refused} refused, 0 failed\n`);
    for (const [pair, o] of outcomes) if (!o.ran) process.stderr.write(`  refused ${pair}: ${o.message}\n`);
  });
});
