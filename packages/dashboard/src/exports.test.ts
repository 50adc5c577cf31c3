import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileInside, OutsideError } from './http.js';
import { EXPORTS_FILE, liveExports, readExportRecords, recordExport, type ExportRecord } from './exports.js';

const RUN = 'a'.repeat(32);
const record = (out: string, page = true): ExportRecord => ({ out, exportedAt: '2026-12-02T00:00:00.000Z', page, model: 'gan/mlp', checkpoint: 'last', step: 12, quantize: null });
function exportFolder(root: string, name: string, runId: string, page = true): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'genlab.json'), JSON.stringify({ format: 'genlab-export/1', run: { id: runId } }));
  if (page) fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html>');
  return dir;
}

describe("a run folder's exports.json", () => {
  it('lists the exports still in place that name the run; a folder exported again replaces its record', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-exports-'));
    const runDir = path.join(root, 'outputs', RUN);
    fs.mkdirSync(runDir, { recursive: true });
    expect(readExportRecords(runDir)).toEqual([]);
    const a = exportFolder(root, 'a', RUN);
    const b = exportFolder(root, 'b', RUN, false);
    const other = exportFolder(root, 'other', 'b'.repeat(32));
    recordExport(runDir, record(a));
    recordExport(runDir, record(b, false));
    recordExport(runDir, record(other));
    recordExport(runDir, record(path.join(root, 'gone')));
    recordExport(runDir, { ...record(a), step: 20 });
    expect(readExportRecords(runDir).map((e) => [path.basename(e.out), e.step])).toEqual([['b', 12], ['other', 12], ['gone', 12], ['a', 20]]);
    // 'other' now holds another run's export, 'gone' is gone: neither is listed.
    expect(liveExports(runDir, RUN).map((e) => [path.basename(e.out), e.index, e.page])).toEqual([['b', 0, false], ['a', 3, true]]);
    // A damaged file lists nothing rather than failing the dashboard.
    fs.writeFileSync(path.join(runDir, EXPORTS_FILE), '{not json');
    expect(liveExports(runDir, RUN)).toEqual([]);
  });
});

describe('fileInside', () => {
  it('finds files inside the folder and refuses anything that leaves it or hides in it', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-inside-'));
    fs.mkdirSync(path.join(root, 'page'));
    fs.writeFileSync(path.join(root, 'page', 'app.js'), '');
    fs.writeFileSync(path.join(root, '.hidden'), '');
    fs.symlinkSync('/etc', path.join(root, 'escape'));
    fs.symlinkSync(path.join(root, 'page', 'app.js'), path.join(root, 'alias.js'));
    expect(fileInside(root, 'page/app.js')).toBe(path.join(fs.realpathSync(root), 'page', 'app.js'));
    expect(fileInside(root, 'alias.js')).toBe(path.join(fs.realpathSync(root), 'page', 'app.js')); // a link that stays inside
    expect(fileInside(root, 'page')).toBeUndefined(); // a folder is not a file
    expect(fileInside(root, 'missing.js')).toBeUndefined();
    for (const bad of ['../x', 'page/../../x', '.hidden', 'page/./app.js', 'page//app.js', 'page\\app.js', 'a\0b', 'escape/passwd', '']) {
      expect(() => fileInside(root, bad), JSON.stringify(bad)).toThrow(OutsideError);
    }
  });
});
