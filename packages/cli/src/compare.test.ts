import { describe, expect, it } from 'vitest';
import type { RunSummary } from '@genlab/dashboard';
import { compareTable, formatTable, selectRuns } from './compare.js';

const run = (id: string, lr: string, fid: number, protocol: string, extra: Partial<RunSummary> = {}): RunSummary => ({
  runId: id.repeat(32).slice(0, 32),
  experimentId: '1',
  experiment: 'e',
  runName: `run-${id}`,
  status: 'FINISHED',
  startTime: 1000,
  endTime: 61_000,
  params: { 'model.optimizerG.lr': lr, 'model.latentDim': '100', 'output.dir': `./o${id}` },
  tags: { 'genlab.model': 'gan/mlp', 'genlab.dataset': 'mnist', 'genlab.eval.protocol.fid': protocol, 'genlab.params.generator': '1000', 'genlab.params.discriminator': '500' },
  latest: { fid, img_per_sec: 500, loss_g: 1 },
  ...extra,
});

describe('compare', () => {
  it('shows the params that differ and one metric column per protocol', () => {
    const same = compareTable([run('a', '0.001', 12.5, 'P'), run('b', '0.002', 8.25, 'P')]);
    expect(same.columns).toEqual(['run', 'id', 'model', 'dataset', 'model.optimizerG.lr', 'fid', 'params', 'wall-clock s', 'img/s']);
    expect(same.rows[0]).toEqual(['run-a', 'aaaaaaaa', 'gan/mlp', 'mnist', '0.001', 12.5, 1500, 60, 500]);
    const mixed = compareTable([run('a', '0.001', 12.5, 'feat@1; n=5000'), run('b', '0.002', 8.25, 'feat@2; n=1000')]);
    expect(mixed.columns).toContain('fid [P1]');
    expect(mixed.columns).toContain('fid [P2]');
    expect(mixed.columns).not.toContain('fid');
    const i1 = mixed.columns.indexOf('fid [P1]');
    expect(mixed.rows.map((r) => r[i1])).toEqual([12.5, null]);
    expect(mixed.protocols).toEqual({ P1: 'feat@1; n=5000', P2: 'feat@2; n=1000' });
  });

  it('leaves out params only some of the runs have (other model families)', () => {
    const gan = run('a', '0.001', 12.5, 'P');
    const vae = run('b', '0.002', 8.25, 'P', { params: { 'model.beta': '1', 'model.optimizerG.lr': '0.002', 'train.steps': '50' } });
    const rnn = run('c', '0.002', 9, 'P', { params: { 'model.cell': 'lstm', 'model.optimizerG.lr': '0.002', 'train.steps': '70' } });
    gan.params['train.steps'] = '40';
    expect(compareTable([gan, vae, rnn]).columns.slice(4, 6)).toEqual(['model.optimizerG.lr', 'train.steps']);
  });

  it('renders text, csv, markdown and json', () => {
    const t = compareTable([run('a', '0.001', 12.5, 'P'), run('b', '0.002', 8.25, 'P')]);
    expect(formatTable(t, 'csv').split('\n')[1]).toBe('run-a,aaaaaaaa,gan/mlp,mnist,0.001,12.500,1500,60,500');
    expect(formatTable(t, 'md').split('\n')[1]).toBe('|---|---|---|---|---|---|---|---|---|');
    expect(JSON.parse(formatTable(t, 'json')).rows[1][5]).toBe(8.25);
    const text = formatTable(t, 'text').split('\n');
    expect(text[0]).toMatch(/^run\s+id\s+model\s+dataset\s+model\.optimizerG\.lr\s+fid\s+params\s+wall-clock s\s+img\/s$/);
    expect(text[3]).toMatch(/^run-b\s+bbbbbbbb\s+gan\/mlp\s+mnist\s+0\.002\s+8\.250/);
  });
});

describe('compare: sweeps', () => {
  const parent = run('p', '', 0, '', { runName: 'gan-sweep-ab12', params: { 'sweep.seed': '[1,2]' }, latest: {}, tags: { 'genlab.sweep': 'ab12', 'genlab.sweep.role': 'parent', 'genlab.sweep.size': '2' } });
  const child = (id: string, sweep: string, parentId: string) =>
    run(id, '0.001', 1, 'P', { tags: { 'genlab.sweep': sweep, 'genlab.sweep.role': 'variant', 'mlflow.parentRunId': parentId.repeat(32).slice(0, 32) } });
  const all = [parent, child('a', 'ab12', 'p'), child('b', 'ab12', 'p'), child('c', 'ff00', 'q'), run('d', '0.1', 2, 'P')];

  it('lists the variants of a sweep, never its parent run, and names the parent', () => {
    const { runs, parents } = selectRuns(all, { sweep: 'ab12' });
    expect(runs.map((r) => r.runName)).toEqual(['run-a', 'run-b']);
    expect(parents.map((r) => r.runName)).toEqual(['gan-sweep-ab12']);
    expect(selectRuns(all, {}).runs.map((r) => r.runName)).toEqual(['run-a', 'run-b', 'run-c', 'run-d']);
  });

  it("naming a parent run (id prefix or name) stands for its variants", () => {
    expect(selectRuns(all, { runs: ['pppp'] }).runs.map((r) => r.runName)).toEqual(['run-a', 'run-b']);
    expect(selectRuns(all, { runs: ['gan-sweep-ab12', 'run-d'] }).runs.map((r) => r.runName)).toEqual(['run-a', 'run-b', 'run-d']);
  });
});
