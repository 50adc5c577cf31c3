/**
 * What `exp validate` says OK to, `exp run` runs: configs that are valid words but cannot
 * run on their data or model (the hand-made mutants of a seed config) are refused by both,
 * with exit 2, the key named, no stack trace, and no run created.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { countRuns, exp, repo, tiny, write } from './helpers.js';

const ring = path.join(repo, 'configs', 'gan-ring8.yaml');

/** [what, config (the tiny MNIST GAN unless given), --set overrides, the message]. */
const mutants: [string, string | undefined, string[], RegExp][] = [
  ['sigmoid output on data in [-1, 1]', undefined, ['model.generator.output=sigmoid'], /'model\.generator\.output': 'sigmoid' gives values in \[0, 1\] but the data range is \[-1, 1\]/],
  ['nll asked of a GAN', undefined, ['eval.metrics=[nll]', 'eval.samples=100'], /'eval\.metrics': metric 'nll' needs a model with its own likelihood/],
  ['cas asked of an unconditional GAN', undefined, ['eval.metrics=[fid,cas]', 'eval.samples=100'], /'eval\.metrics': metric 'cas' .* needs a conditional model/],
  ['image metrics on 2-D data', ring, ['eval.metrics=[fid]', 'train.steps=2'], /'eval\.metrics': metrics fid read image features; the data has shape \[2\]/],
  ['a subset smaller than one batch', undefined, ['dataset.subset=8'], /'train\.batchSize': is 16, but the dataset has 8 examples/],
  ['a batch larger than the dataset', undefined, ['train.batchSize=20000'], /'train\.batchSize': is 20000, but the dataset has 9001 examples/],
  ['a tracking scheme no tracker handles', undefined, ['tracking.uri=redis://localhost:6379'], /'tracking\.uri': No tracker handles 'redis:\/\/localhost:6379'/],
  ['a tracking port fetch refuses', undefined, ['tracking.uri=http://127.0.0.1:6000'], /'tracking\.uri': .*port 6000 is blocked by fetch/],
  ['a feature network that is not there', undefined, ['eval.metrics=[fid]', 'eval.samples=100', 'eval.featureNet=./no-such-net'], /'eval\.featureNet': no feature network in .*no-such-net/],
  ['an unknown dataset split', undefined, ['dataset.split=validation'], /'dataset\.split'/],
];

describe('exp validate refuses what exp run would refuse, before any run exists', () => {
  let cwd: string;
  let base: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-validate-'));
    base = write(cwd, 'tiny.yaml', tiny());
  });

  it.each(mutants)('%s', (_what, config, overrides, message) => {
    const sets = overrides.flatMap((o) => ['--set', o]);
    for (const command of ['validate', 'run']) {
      const r = exp([command, config ?? base, ...sets], cwd);
      expect(r.code, `${command}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
      expect(r.stderr).not.toMatch(/resume with/i);
    }
    expect(countRuns(cwd)).toBe(0);
    const outputs = path.join(cwd, 'outputs');
    expect(fs.existsSync(outputs) ? fs.readdirSync(outputs) : []).toEqual([]);
  });

  it('says OK to the seed config itself (the mutants are refused for what they change)', () => {
    const r = exp(['validate', base], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/OK \(model gan\/mlp, data mnist/);
  });
});
