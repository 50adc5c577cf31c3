/**
 * Checkpoints on disk: a folder with `manifest.json` (keys, shapes, dtypes, byte offsets and
 * the trainer's position) and `tensors.bin` (raw little-endian arrays). Written into a
 * temporary folder and renamed into place, so a checkpoint is either whole or absent.
 * Written by hand: `tf.io` file saving exists only in tfjs-node, and optimizer slots and
 * trainer state are not part of a tfjs model artifact anyway.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { StateDict } from './contracts.js';
import { UserError } from './errors.js';

export const CHECKPOINT_FORMAT = 'genlab-checkpoint/1';

/** Trainer position and identity stored with the tensors. */
export interface CheckpointMeta {
  /** Steps completed. */
  step: number;
  /** Epoch the next step belongs to, and batches of it already consumed. */
  epoch: number;
  batchInEpoch: number;
  seed: number;
  /** Hash of the model config (and data shape): a checkpoint only loads into the same model. */
  modelHash: string;
  model: string;
  runId: string;
  createdAt: string;
  /** Rollbacks so far (`RunInfo.rollbacks`); absent in older checkpoints (0). */
  rollbacks?: number;
  /** Learning-rate scale after those rollbacks; absent in older checkpoints (1). */
  lrScale?: number;
  /** Callback state by callback name (`Callback.saveState`). */
  callbacks?: Record<string, unknown>;
  [key: string]: unknown;
}

interface Manifest {
  format: string;
  meta: CheckpointMeta;
  tensors: { key: string; shape: number[]; dtype: 'float32' | 'int32'; offset: number; length: number }[];
  sha256: string;
}

/** Write `state` and `meta` to `dir` atomically (replacing an older checkpoint there). */
export function writeCheckpoint(dir: string, state: StateDict, meta: CheckpointMeta): void {
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.tmp-`));
  try {
    const tensors: Manifest['tensors'] = [];
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const [key, entry] of Object.entries(state)) {
      const bytes = Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength);
      tensors.push({ key, shape: entry.shape, dtype: entry.dtype, offset, length: entry.data.length });
      chunks.push(bytes);
      offset += bytes.length;
    }
    const blob = Buffer.concat(chunks);
    const manifest: Manifest = { format: CHECKPOINT_FORMAT, meta, tensors, sha256: createHash('sha256').update(blob).digest('hex') };
    writeFileSynced(path.join(tmp, 'tensors.bin'), blob);
    writeFileSynced(path.join(tmp, 'manifest.json'), Buffer.from(JSON.stringify(manifest, null, 1)));
    // Swap in: move the old one aside first so a crash leaves one whole checkpoint.
    const old = `${dir}.old`;
    fs.rmSync(old, { recursive: true, force: true });
    if (fs.existsSync(dir)) fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}

function writeFileSynced(file: string, data: Buffer): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Read a checkpoint folder; throws a `UserError` naming the file on any problem. */
export function readCheckpoint(dir: string): { state: StateDict; meta: CheckpointMeta } {
  // A crash between the two renames in writeCheckpoint leaves only `<dir>.old`.
  if (!fs.existsSync(dir) && fs.existsSync(`${dir}.old`)) dir = `${dir}.old`;
  const manifestFile = path.join(dir, 'manifest.json');
  const blobFile = path.join(dir, 'tensors.bin');
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`Cannot read checkpoint ${manifestFile}: ${code === 'ENOENT' ? 'no such file (is this a checkpoint folder?)' : (error as Error).message}`);
  }
  if (manifest.format !== CHECKPOINT_FORMAT) {
    throw new UserError(`Checkpoint ${manifestFile} has format '${String(manifest.format)}', expected '${CHECKPOINT_FORMAT}'`);
  }
  let blob: Buffer;
  try {
    blob = fs.readFileSync(blobFile);
  } catch (error) {
    throw new UserError(`Cannot read checkpoint data ${blobFile}: ${(error as Error).message}`);
  }
  const hash = createHash('sha256').update(blob).digest('hex');
  if (hash !== manifest.sha256) throw new UserError(`Checkpoint ${blobFile} is corrupt (SHA-256 mismatch: ${blob.length} bytes read)`);
  const state: StateDict = {};
  for (const t of manifest.tensors) {
    const bytes = t.length * 4;
    if (t.offset + bytes > blob.length) throw new UserError(`Checkpoint ${blobFile} is truncated at tensor '${t.key}' (byte ${t.offset})`);
    const copy = new Uint8Array(bytes);
    copy.set(blob.subarray(t.offset, t.offset + bytes));
    state[t.key] = { shape: t.shape, dtype: t.dtype, data: t.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer) };
  }
  return { state, meta: manifest.meta };
}

/** Stable short hash of any JSON-able value (object keys sorted). */
export function stableHash(value: unknown): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
  return createHash('sha256').update(JSON.stringify(canon(value))).digest('hex').slice(0, 16);
}
