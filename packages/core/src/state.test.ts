import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { UserError } from './errors.js';
import { readCheckpoint, stableHash, writeCheckpoint, type CheckpointMeta } from './state.js';

const meta: CheckpointMeta = { step: 7, epoch: 1, batchInEpoch: 3, seed: 2, modelHash: 'abc', model: 'm', runId: 'r', createdAt: 'now' };

describe('checkpoints', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-ckpt-'));

  it('round-trips float and int arrays exactly', () => {
    const dir = path.join(tmp(), 'last');
    const state = {
      'a/0': { shape: [2, 3], dtype: 'float32' as const, data: Float32Array.of(1.5, -2, Math.PI, 1e-30, 0, 7) },
      'b/t': { shape: [], dtype: 'int32' as const, data: Int32Array.of(42) },
    };
    writeCheckpoint(dir, state, meta);
    const back = readCheckpoint(dir);
    expect(back.meta).toEqual(meta);
    expect(back.state['a/0']!.shape).toEqual([2, 3]);
    expect(Array.from(back.state['a/0']!.data)).toEqual(Array.from(state['a/0'].data));
    expect(back.state['b/t']!.data).toBeInstanceOf(Int32Array);
    expect(back.state['b/t']!.data[0]).toBe(42);
  });

  it('replaces an older checkpoint and leaves no temporary folders', () => {
    const root = tmp();
    const dir = path.join(root, 'last');
    writeCheckpoint(dir, { x: { shape: [1], dtype: 'float32', data: Float32Array.of(1) } }, meta);
    writeCheckpoint(dir, { x: { shape: [1], dtype: 'float32', data: Float32Array.of(2) } }, { ...meta, step: 8 });
    expect(fs.readdirSync(root)).toEqual(['last']);
    expect(readCheckpoint(dir).meta.step).toBe(8);
    expect(readCheckpoint(dir).state.x!.data[0]).toBe(2);
  });

  it('names the file when a checkpoint is missing, truncated or corrupt', () => {
    const dir = path.join(tmp(), 'last');
    expect(() => readCheckpoint(dir)).toThrow(/manifest\.json.*no such file/);
    writeCheckpoint(dir, { x: { shape: [4], dtype: 'float32', data: new Float32Array(4) } }, meta);
    const bin = path.join(dir, 'tensors.bin');
    fs.writeFileSync(bin, fs.readFileSync(bin).subarray(0, 8));
    expect(() => readCheckpoint(dir)).toThrow(/tensors\.bin is corrupt/);
    fs.writeFileSync(path.join(dir, 'manifest.json'), '{ not json');
    expect(() => readCheckpoint(dir)).toThrow(/manifest\.json/);
  });

  it('hashes configs independently of key order', () => {
    expect(stableHash({ a: 1, b: { c: [1, 2] } })).toBe(stableHash({ b: { c: [1, 2] }, a: 1 }));
    expect(stableHash({ a: 1 })).not.toBe(stableHash({ a: 2 }));
  });
});

/**
 * The corruption corpus: every field of a checkpoint's manifest changed, every byte region of
 * each of its files flipped, files cut short, emptied, removed or swapped between two
 * checkpoints. Each must be refused with a UserError that names a file of the checkpoint;
 * none may load (a loaded corruption would train on wrong weights).
 */
describe('checkpoint corruption corpus', () => {
  const base = () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-corrupt-')), 'last');
    // Two same-size tensors (their offsets can be swapped), an int tensor, a scalar.
    writeCheckpoint(
      dir,
      {
        'model/a': { shape: [2, 3], dtype: 'float32', data: Float32Array.of(1, 2, 3, 4, 5, 6) },
        'model/b': { shape: [3, 2], dtype: 'float32', data: Float32Array.of(-1, -2, -3, -4, -5, -6) },
        'optim/t': { shape: [], dtype: 'int32', data: Int32Array.of(9) },
      },
      { ...meta, rollbacks: 1, lrScale: 0.5, callbacks: { divergence: { seen: 3 } } },
    );
    return dir;
  };
  const json = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  type Case = [string, (dir: string) => void];
  // Manifests are edited as loose JSON on purpose: the corruptions break their types.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Loose = any;
  const editManifest = (edit: (m: Loose) => void) => (dir: string) => {
    const file = path.join(dir, 'manifest.json');
    const m = json(file);
    edit(m);
    fs.writeFileSync(file, JSON.stringify(m, null, 1));
  };
  const cases: Case[] = [];
  // Every manifest field: numbers changed and negated, strings changed, types changed.
  const leaves = (value: unknown, at: (string | number)[] = []): (string | number)[][] =>
    value && typeof value === 'object' ? Object.entries(value).flatMap(([k, v]) => leaves(v, [...at, Array.isArray(value) ? Number(k) : k])) : [at];
  const sample = json(path.join(base(), 'manifest.json'));
  for (const p of leaves(sample)) {
    const set = (m: Loose, f: (v: Loose) => Loose) => {
      let o = m;
      for (const k of p.slice(0, -1)) o = o[k];
      o[p.at(-1)!] = f(o[p.at(-1)!]);
    };
    const name = p.join('.');
    cases.push([`${name}: changed`, editManifest((m) => set(m, (v) => (typeof v === 'number' ? v + 1 : typeof v === 'string' ? `${v}x` : !v)))]);
    cases.push([`${name}: negated / emptied`, editManifest((m) => set(m, (v) => (typeof v === 'number' ? -v - 1 : typeof v === 'string' ? '' : null)))]);
    cases.push([`${name}: wrong type`, editManifest((m) => set(m, (v) => (typeof v === 'string' ? 7 : String(v))))]);
  }
  cases.push(['two same-size tensors swapped', editManifest((m) => ([m.tensors[0].offset, m.tensors[1].offset] = [m.tensors[1].offset, m.tensors[0].offset]))]);
  cases.push(['dtype float32 -> int32', editManifest((m) => (m.tensors[0].dtype = 'int32'))]);
  cases.push(['a tensor dropped', editManifest((m) => m.tensors.pop())]);
  cases.push(['a tensor listed twice', editManifest((m) => m.tensors.push(m.tensors[0]))]);
  cases.push(['an unknown top-level key', editManifest((m) => (m.extra = 1))]);
  // Every byte region of every file: one bit flipped at 8 places spread over the file.
  for (const file of ['manifest.json', 'tensors.bin', 'checksums.json']) {
    for (let i = 0; i < 8; i++) {
      cases.push([
        `${file}: bit flipped in region ${i + 1}/8`,
        (dir) => {
          const f = path.join(dir, file);
          const b = fs.readFileSync(f);
          const at = Math.min(b.length - 1, Math.floor(((i + 0.5) / 8) * b.length));
          b[at]! ^= 0x04;
          fs.writeFileSync(f, b);
        },
      ]);
    }
    cases.push([`${file}: cut short`, (dir) => fs.truncateSync(path.join(dir, file), Math.floor(fs.statSync(path.join(dir, file)).size / 2))]);
    cases.push([`${file}: empty`, (dir) => fs.writeFileSync(path.join(dir, file), '')]);
    cases.push([`${file}: removed`, (dir) => fs.rmSync(path.join(dir, file))]);
    cases.push([`${file}: bytes appended`, (dir) => fs.appendFileSync(path.join(dir, file), '\0\0\0\0')]);
    cases.push([`${file}: a folder`, (dir) => (fs.rmSync(path.join(dir, file)), fs.mkdirSync(path.join(dir, file)))]);
  }
  cases.push([
    'tensors.bin from another checkpoint (checksums kept)',
    (dir) => {
      const other = path.join(path.dirname(dir), 'other');
      writeCheckpoint(other, { 'model/a': { shape: [6], dtype: 'float32', data: new Float32Array(6) } }, meta);
      fs.copyFileSync(path.join(other, 'tensors.bin'), path.join(dir, 'tensors.bin'));
    },
  ]);
  cases.push([
    'manifest and tensors from another checkpoint, checksums kept',
    (dir) => {
      const other = path.join(path.dirname(dir), 'other');
      writeCheckpoint(other, { 'model/a': { shape: [2, 3], dtype: 'float32', data: new Float32Array(6) } }, { ...meta, step: 99 });
      for (const f of ['manifest.json', 'tensors.bin']) fs.copyFileSync(path.join(other, f), path.join(dir, f));
    },
  ]);

  it(`refuses all ${cases.length} corruptions, naming the file`, () => {
    const silent: string[] = [];
    const unclear: string[] = [];
    for (const [name, corrupt] of cases) {
      const dir = base();
      corrupt(dir);
      try {
        readCheckpoint(dir);
        silent.push(name);
      } catch (error) {
        const message = (error as Error).message;
        if (!(error instanceof UserError) || !message.includes(dir)) unclear.push(`${name}: ${(error as Error).name}: ${message}`);
      }
    }
    expect(silent, 'loaded although corrupt').toEqual([]);
    expect(unclear, 'refused without a UserError naming the checkpoint').toEqual([]);
    expect(cases.length).toBeGreaterThan(100);
  });

  it('reads the first format (no checksums) with the layout checks', () => {
    const dir = base();
    fs.rmSync(path.join(dir, 'checksums.json'));
    editManifest((m) => (m.format = 'genlab-checkpoint/1'))(dir);
    expect(readCheckpoint(dir).meta.step).toBe(7);
    editManifest((m) => ([m.tensors[0].offset, m.tensors[1].offset] = [m.tensors[1].offset, m.tensors[0].offset]))(dir);
    expect(() => readCheckpoint(dir)).toThrow(/tensor 'model\/a' starts at byte 24, expected 0/);
  });

  it('a full disk while writing leaves the old checkpoint and no temporary folder, and names the file', () => {
    const dir = base();
    const spy = vi.spyOn(fs, 'writeSync').mockImplementationOnce(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    try {
      expect(() => writeCheckpoint(dir, { x: { shape: [1], dtype: 'float32', data: Float32Array.of(1) } }, { ...meta, step: 8 })).toThrow(
        new RegExp(`cannot write the checkpoint file ${path.dirname(dir)}.*tensors\\.bin: no space left on device \\(ENOSPC\\)`),
      );
    } finally {
      spy.mockRestore();
    }
    expect(fs.readdirSync(path.dirname(dir))).toEqual(['last']);
    expect(readCheckpoint(dir).meta.step).toBe(7);
  });
});
