/**
 * The numbers a run produces, pinned: the same config and seed give the same step scalars bit
 * for bit, for one GAN, one VAE and the pixel RNN, through `runExperiment` (dataset, model,
 * trainer, gradient handling, callbacks, tracker) on the cpu backend, the reference whose
 * results do not depend on the machine's BLAS. `fixtures/golden-losses.json` was written by
 * the code before the core was split into its jobs (commit e3a34fb); a refactor that
 * changes any of these values changes what users' runs compute.
 *
 * To rewrite the fixture after an intended change of the numbers: GENLAB_GOLDEN_WRITE=1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, runExperiment, type Tracker } from '@genlab/core';
import { chooseBackend } from '../src/backend.js';
import { builtinRegistry } from '../src/registry.js';

const fixture = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'golden-losses.json');

const CASES: Record<string, string> = {
  'gan/dcgan': `
model:
  name: gan/dcgan
  latentDim: 8
  generator: { channels: [8, 4], kernel: 3 }
  discriminator: { channels: [4, 8], kernel: 3 }
  penalty: { type: gp, weight: 10 }
  dSteps: 2
  ema: { enabled: true, decay: 0.9, start: 1 }
dataset: { name: mnist, subset: 64 }
train: { steps: 4, batchSize: 8, logEvery: 1, gradClip: 1 }
`,
  'vae/conv': `
model: { name: vae/conv, latentDim: 4, encoder: { channels: [4, 8] }, decoder: { channels: [8, 4] } }
dataset: { name: mnist, subset: 64, range: [0, 1], binarize: static }
train: { steps: 4, batchSize: 8, logEvery: 1 }
`,
  'rnn/row-lstm': `
model: { name: rnn/row-lstm, hidden: 4, layers: 1, outputHidden: 4 }
dataset: { name: mnist, subset: 64, range: [0, 1], binarize: stochastic }
train: { steps: 4, batchSize: 8, logEvery: 1, gradClip: 10 }
`,
};

/** Every metric point the run logged, in order. */
function recordingTracker(points: { step: number; values: Record<string, number> }[]): Tracker {
  return {
    startRun: async () => ({ runId: 'golden', experimentId: '0' }),
    logParams: async () => {},
    logMetrics: async (step, values) => void points.push({ step, values: { ...values } }),
    setTags: async () => {},
    logArtifact: async () => {},
    endRun: async () => {},
  };
}

async function run(model: string): Promise<Record<string, number>[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-golden-'));
  const file = path.join(dir, 'golden.yaml');
  fs.writeFileSync(file, `name: golden\nseed: 3\nbackend: cpu\n${CASES[model]}callbacks: { progress: false, samples: false }\ntracking: { uri: 'memory:' }\noutput: { dir: ${JSON.stringify(path.join(dir, 'outputs'))} }\n`);
  const points: { step: number; values: Record<string, number> }[] = [];
  const registry = builtinRegistry().add({ trackers: [{ name: 'memory', description: 'records metric points', schemes: ['memory'], create: () => recordingTracker(points) }] });
  const { config } = await loadConfig(file, registry);
  const backend = await chooseBackend('cpu');
  const result = await runExperiment({ config, registry, backend, baseDir: dir, log: () => {} });
  expect(result.status, String(result.error)).toBe('FINISHED');
  fs.rmSync(dir, { recursive: true, force: true });
  // Throughput is a wall-clock figure: everything else is a pure function of config and seed.
  return points.map(({ step, values }) => {
    const { img_per_sec: _t, ...rest } = values;
    return { step, ...rest };
  });
}

describe('the numbers a run produces (cpu backend)', () => {
  const expected = fs.existsSync(fixture) ? (JSON.parse(fs.readFileSync(fixture, 'utf8')) as Record<string, Record<string, number>[]>) : {};
  const got: Record<string, Record<string, number>[]> = {};
  for (const model of Object.keys(CASES)) {
    it(`${model}: the same step scalars, bit for bit, as before the core was split`, async () => {
      got[model] = await run(model);
      if (process.env.GENLAB_GOLDEN_WRITE === '1') {
        fs.writeFileSync(fixture, JSON.stringify({ ...expected, ...got }, null, 1) + '\n');
        return;
      }
      expect(got[model]!.length).toBeGreaterThanOrEqual(4);
      expect(got[model]).toEqual(expected[model]);
    });
  }
});
