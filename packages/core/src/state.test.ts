import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
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
