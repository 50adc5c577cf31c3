import { describe, expect, it } from 'vitest';
import { compareHint, outcomeTable, threadEnv, variantTags } from './sweep.js';

describe('sweep helpers', () => {
  it('shares the cores between the variant processes, keeping what the user set', () => {
    expect(threadEnv(2, {}, 2).env).toMatchObject({ GENLAB_BLAS_THREADS: '1', OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1' });
    expect(threadEnv(3, {}, 16)).toMatchObject({ perChild: 5, env: { GENLAB_BLAS_THREADS: '5' } });
    // More processes than cores: one thread each, never zero.
    expect(threadEnv(8, {}, 2).env.GENLAB_BLAS_THREADS).toBe('1');
    expect(threadEnv(2, { GENLAB_BLAS_THREADS: '4' }, 2).env.GENLAB_BLAS_THREADS).toBe('4');
    expect(threadEnv(2, { OPENBLAS_NUM_THREADS: '3' }, 8).env).toMatchObject({ GENLAB_BLAS_THREADS: '3', OPENBLAS_NUM_THREADS: '3', OMP_NUM_THREADS: '4' });
  });

  it('names the store to compare in, unless it is the default', () => {
    expect(compareHint('ab12cd34', 'file:./mlruns')).toBe('pnpm exp compare --sweep ab12cd34');
    expect(compareHint('ab12cd34', 'file:./other')).toBe('pnpm exp compare --sweep ab12cd34 --source ./other');
    expect(compareHint('ab12cd34', 'file:///abs/mlruns')).toBe('pnpm exp compare --sweep ab12cd34 --source file:///abs/mlruns');
    expect(compareHint('ab12cd34', 'http://host:5000')).toBe('pnpm exp compare --sweep ab12cd34 --source http://host:5000');
  });

  it('tags a variant run with its sweep, place, assignments and MLflow parent', () => {
    expect(variantTags({ sweepId: 'ab12cd34', parentRunId: 'p'.repeat(32), index: 2, label: 'seed=1' })).toEqual({
      'genlab.sweep': 'ab12cd34',
      'genlab.sweep.role': 'variant',
      'genlab.sweep.variant': 'seed=1',
      'genlab.sweep.index': '3',
      'mlflow.parentRunId': 'p'.repeat(32),
    });
  });

  it('prints the variants table', () => {
    const t = outcomeTable([
      { index: 0, label: 'seed=1', assignments: [], config: '', runId: 'a'.repeat(32), status: 'FINISHED', wallSeconds: 75 },
      { index: 1, label: 'seed=2', assignments: [], config: '', status: 'SKIPPED' },
    ]);
    expect(t.split('\n')).toEqual(['#  variant  run       status    wall-clock', '-  -------  --------  --------  ----------', '1  seed=1   aaaaaaaa  FINISHED       1m15s', '2  seed=2   –         SKIPPED            –']);
  });
});
