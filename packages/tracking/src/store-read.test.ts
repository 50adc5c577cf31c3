import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStore, FileStoreTracker } from './file-store.js';
import { parseMetricLine, parseMetricText } from './store-read.js';

describe('metric lines, read as MLflow parses them', () => {
  it.each([
    ['1700000000000 0.25 10', { timestamp: 1700000000000, value: 0.25, step: 10 }],
    ['1 1.0 0', { timestamp: 1, value: 1, step: 0 }],
    ['1 -3e-05 -1', { timestamp: 1, value: -3e-5, step: -1 }],
    ['1 inf 2', { timestamp: 1, value: Infinity, step: 2 }],
    ['1 -inf 2', { timestamp: 1, value: -Infinity, step: 2 }],
    // MLflow's older two-field lines have step 0.
    ['5 0.5', { timestamp: 5, value: 0.5, step: 0 }],
  ])('accepts %j', (line, point) => {
    expect(parseMetricLine(line)).toEqual(point);
  });

  it('accepts nan as NaN', () => {
    expect(parseMetricLine('1 nan 3')!.value).toBeNaN();
  });

  it.each(['', 'garbage', '1 abc 2', '1.5 0.5 2', '1 0.5 2.5', '1\t0.5\t2', '1  0.5 2', '1 0.5 2 3', '1 0x10 2', '1 0.5 2\r', '99999999999999999999 1 1', '1 null 2'])('refuses %j', (line) => {
    expect(parseMetricLine(line)).toBeUndefined();
  });

  it('keeps the good points of a file and warns once, naming it, the count and the first bad line', () => {
    const warnings: string[] = [];
    const pts = parseMetricText('1 0.1 1\ngarbage\n\n2 0.2 2\n3 0.3', '/s/metrics/loss', (m) => warnings.push(m));
    expect(pts.map((p) => p.step)).toEqual([1, 2]);
    expect(warnings).toEqual(['skipping 3 malformed lines of /s/metrics/loss (line 2 is not \'<timestamp> <value> <step>\': "garbage")']);
  });

  it('calls an empty file and a cut-off last line what they are', () => {
    const warnings: string[] = [];
    expect(parseMetricText('', '/s/m/a', (m) => warnings.push(m))).toEqual([]);
    expect(parseMetricText('1 0.1 1\n2 0.2', '/s/m/b', (m) => warnings.push(m))).toHaveLength(1);
    expect(warnings).toEqual(['skipping /s/m/a: empty metric file', 'skipping 1 malformed line of /s/m/b (line 2 has no newline (cut off while being written?))']);
  });
});

describe('FileStore readers on a damaged store', () => {
  it('gives a new experiment an id above a damaged numeric folder instead of looping on it', async () => {
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-store-read-')), 'mlruns');
    const warnings: string[] = [];
    const t = new FileStoreTracker(root, { warn: (m) => warnings.push(m) });
    await t.startRun({ experiment: 'a', runName: 'r' });
    fs.mkdirSync(path.join(root, '2')); // no meta.yaml
    const t2 = new FileStoreTracker(root, { warn: (m) => warnings.push(m) });
    const { experimentId } = await t2.startRun({ experiment: 'b', runName: 'r2' });
    expect(experimentId).toBe('3');
    expect(warnings).toContain(`skipping ${path.join(root, '2')}: not an experiment (no meta.yaml)`);
  });

  it('does not list a deleted run, and refuses to read a run whose meta.yaml is bad, naming the file', async () => {
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-store-read-')), 'mlruns');
    const t = new FileStoreTracker(root);
    const { runId } = await t.startRun({ experiment: 'a', runName: 'r' });
    await t.endRun('FINISHED');
    const store = new FileStore(root, { warn: () => {} });
    const file = path.join(store.runDir(runId)!, 'meta.yaml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('lifecycle_stage: active', 'lifecycle_stage: deleted'));
    expect(store.listRuns()).toEqual([]);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^status:.*$/m, 'status: 99'));
    expect(() => store.readRun(runId)).toThrow(`Cannot read ${file}: status: 99 is not an MLflow run status`);
  });
});
