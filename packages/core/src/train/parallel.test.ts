/**
 * The pieces of data-parallel training that need no threads: how a batch is shared out, how
 * `train.devices: auto` resolves (and what a resume keeps), and the all-reduce's arithmetic
 * on one rank's view of the shared memory, against the weighted mean computed apart. The
 * threads themselves (replicas equal to one device, resume, failure) are tested through
 * the CLI in cli/test/parallel.e2e.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { resolveDevices } from '../experiment.js';
import { allocateReplicaBuffers, ReplicaChannel, rowsOf, sliceRows } from './parallel.js';

describe('sharing a batch out', () => {
  it('gives every row to exactly one rank, the first ranks one more when it does not divide', () => {
    for (const [rows, devices] of [[15, 2], [64, 2], [7, 3], [5, 5], [100, 7]] as const) {
      const counts = rowsOf(rows, devices);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(rows);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      let next = 0;
      for (let r = 0; r < devices; r++) {
        const [lo, hi] = sliceRows(rows, devices, r);
        expect(lo).toBe(next);
        next = hi;
      }
      expect(next).toBe(rows);
    }
    expect(rowsOf(15, 2)).toEqual([8, 7]);
  });
});

describe('train.devices: auto', () => {
  const quiet = () => {};
  it('is one replica per core, at most one per example of a batch', () => {
    expect(resolveDevices('auto', 64, undefined, quiet, 2)).toBe(2);
    expect(resolveDevices('auto', 64, undefined, quiet, 1)).toBe(1);
    expect(resolveDevices('auto', 3, undefined, quiet, 8)).toBe(3);
    expect(resolveDevices(4, 64, undefined, quiet, 2)).toBe(4);
  });
  it('resumes with as many replicas as the checkpoint was trained on, whatever the cores', () => {
    expect(resolveDevices('auto', 64, 2, quiet, 16)).toBe(2);
    expect(resolveDevices('auto', 64, 1, quiet, 16)).toBe(1);
  });
  it('warns when a resume sets another number than the checkpoint was trained on', () => {
    const lines: string[] = [];
    expect(resolveDevices(1, 64, 2, (m) => lines.push(m), 2)).toBe(1);
    expect(lines.join('\n')).toContain('trained on 2 data-parallel replicas and it resumes on 1');
    lines.length = 0;
    resolveDevices(2, 64, 2, (m) => lines.push(m), 2);
    expect(lines).toEqual([]);
  });
});

describe('the all-reduce on one rank', () => {
  it('writes the row-weighted mean of every rank gradients, and leaks no tensor', async () => {
    await tf.setBackend('cpu');
    // Rank 0 of 3, the other ranks' gradients put in the shared memory by hand; the barriers
    // pass at once when the count says the others have arrived (a single-thread stand-in).
    const P = 10;
    const buffers = allocateReplicaBuffers(3, P, 4, 1);
    const ch = new ReplicaChannel(buffers, 0);
    const grads = new Float32Array(buffers.grads);
    const others = [Array.from({ length: 6 }, (_, i) => 10 + i), Array.from({ length: 6 }, (_, i) => -i * 0.5)];
    others.forEach((g, k) => grads.set(g, (k + 1) * P));
    const ctl = new Int32Array(buffers.control);
    // gradCount of ranks 1 and 2 (control words 16 + r): the values they "computed".
    ctl[17] = 6;
    ctl[18] = 6;
    // Make each barrier complete on rank 0's arrival: the count says 2 have arrived already.
    const barrier = ch.barrier.bind(ch);
    ch.barrier = () => {
      ctl[2] = 2;
      barrier();
    };
    // Rank 0 holds this whole chunk's reduction only for its own third; the rest is the
    // others' to write: fill it as they would, so the test reads the whole result.
    const mine = { a: tf.tensor1d([1, 2, 3, 4]), b: tf.tensor2d([[5], [6]]) };
    const rows = [2, 1, 1];
    const before = tf.memory().numTensors;
    const g: tf.NamedTensorMap = { ...mine };
    ch.allReduce(g, rows);
    const all = [[1, 2, 3, 4, 5, 6], ...others];
    const expected = all[0]!.map((_, i) => (2 * all[0]![i]! + all[1]![i]! + all[2]![i]!) / 4);
    // Rank 0 reduced its chunk (sliceRows(6, 3, 0) = [0, 2)); the others' chunks are theirs.
    const reduced = new Float32Array(buffers.reduced);
    for (let i = 0; i < 2; i++) expect(reduced[i]).toBeCloseTo(expected[i]!, 5);
    expect(Array.from(g.a!.dataSync()).slice(0, 2).map((v) => +v.toFixed(4))).toEqual(expected.slice(0, 2).map((v) => +v.toFixed(4)));
    expect(g.b!.shape).toEqual([2, 1]);
    expect(tf.memory().numTensors).toBe(before); // the inputs replaced, not added to
    tf.dispose(Object.values(g));
  });
});

