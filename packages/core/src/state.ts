/**
 * Checkpoints on disk: a folder with `tensors.bin` (raw little-endian arrays), `manifest.json`
 * (keys, shapes, dtypes, byte offsets and the trainer's position) and, written last,
 * `checksums.json` (the SHA-256 and size of both). Everything a resume restores is covered by
 * a hash that is checked, and the manifest's layout checked, before any of it is used: a
 * flipped bit anywhere, a swapped offset or an edited step is refused, not trained on.
 * Written into a temporary folder and renamed into place, so a checkpoint is either whole or
 * absent. Written by hand: `tf.io` file saving exists only in tfjs-node, and optimizer slots
 * and trainer state are not part of a tfjs model artifact anyway.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { StateDict } from './contracts.js';
import { UserError } from './errors.js';
import { diskError, ensureDir } from './fs.js';

export const CHECKPOINT_FORMAT = 'genlab-checkpoint/2';
/** The first format: no checksums file (read for old runs, with the layout checks only). */
const LEGACY_FORMAT = 'genlab-checkpoint/1';
const CHECKSUMS = 'checksums.json';

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
  /** Data-parallel replicas of the run that wrote it (`train.devices`); absent in older checkpoints (1). */
  devices?: number;
  [key: string]: unknown;
}

const count = z.number().int().min(0);
const metaSchema = z.looseObject({
  step: count,
  epoch: count,
  batchInEpoch: count,
  seed: z.number().int(),
  // Empty for checkpoints that are not a run's (a feature network's weights).
  modelHash: z.string(),
  model: z.string(),
  runId: z.string(),
  createdAt: z.string(),
  rollbacks: count.optional(),
  lrScale: z.number().positive().finite().optional(),
  callbacks: z.record(z.string(), z.unknown()).optional(),
  devices: z.number().int().min(1).optional(),
});
const manifestSchema = z.strictObject({
  format: z.string(),
  meta: metaSchema,
  tensors: z.array(
    z.strictObject({
      key: z.string().min(1),
      shape: z.array(count),
      dtype: z.enum(['float32', 'int32']),
      offset: count,
      length: count,
    }),
  ),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
type Manifest = z.infer<typeof manifestSchema>;
const fileSum = z.strictObject({ bytes: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) });
const checksumsSchema = z.strictObject({
  format: z.literal(CHECKPOINT_FORMAT),
  files: z.strictObject({ 'manifest.json': fileSum, 'tensors.bin': fileSum }),
});

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Write `state` and `meta` to `dir` atomically (replacing an older checkpoint there). */
export function writeCheckpoint(dir: string, state: StateDict, meta: CheckpointMeta): void {
  const parent = path.dirname(dir);
  ensureDir(parent);
  let tmp: string;
  try {
    tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.tmp-`));
  } catch (error) {
    throw diskError(error, 'write a checkpoint in', parent);
  }
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
    const manifest: Manifest = { format: CHECKPOINT_FORMAT, meta, tensors, sha256: sha256(blob) };
    const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 1));
    writeFileSynced(path.join(tmp, 'tensors.bin'), blob);
    writeFileSynced(path.join(tmp, 'manifest.json'), manifestBytes);
    // Last: a checkpoint without its checksums is incomplete, and is refused.
    const files = { 'manifest.json': { bytes: manifestBytes.length, sha256: sha256(manifestBytes) }, 'tensors.bin': { bytes: blob.length, sha256: manifest.sha256 } };
    writeFileSynced(path.join(tmp, CHECKSUMS), Buffer.from(JSON.stringify({ format: CHECKPOINT_FORMAT, files }, null, 1)));
    // Swap in: move the old one aside first so a crash leaves one whole checkpoint.
    const old = `${dir}.old`;
    fs.rmSync(old, { recursive: true, force: true });
    if (fs.existsSync(dir)) fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw diskError(error, 'write the checkpoint', dir);
  }
}

function writeFileSynced(file: string, data: Buffer): void {
  try {
    const fd = fs.openSync(file, 'w');
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    throw diskError(error, 'write the checkpoint file', file);
  }
}

function readFile(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`Cannot read checkpoint ${what} ${file}: ${code === 'ENOENT' ? 'no such file (is this a checkpoint folder?)' : (error as Error).message}`);
  }
}

function parseJson(bytes: Buffer, file: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (error) {
    throw new UserError(`Checkpoint ${file} is corrupt: not JSON (${(error as Error).message})`);
  }
}

const issuesText = (error: z.ZodError): string => error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).slice(0, 3).join('; ');

/**
 * Read a checkpoint folder, checking every file's hash and the manifest's layout before any
 * of it is returned; throws a `UserError` naming the file and what is wrong.
 */
export function readCheckpoint(dir: string): { state: StateDict; meta: CheckpointMeta } {
  // A crash between the two renames in writeCheckpoint leaves only `<dir>.old`.
  if (!fs.existsSync(dir) && fs.existsSync(`${dir}.old`)) dir = `${dir}.old`;
  const manifestFile = path.join(dir, 'manifest.json');
  const blobFile = path.join(dir, 'tensors.bin');
  const sumsFile = path.join(dir, CHECKSUMS);
  const manifestBytes = readFile(manifestFile, 'manifest');
  const raw = parseJson(manifestBytes, manifestFile);
  const format = raw && typeof raw === 'object' ? (raw as { format?: unknown }).format : undefined;
  if (format !== CHECKPOINT_FORMAT && format !== LEGACY_FORMAT) {
    throw new UserError(`Checkpoint ${manifestFile} has format '${String(format)}', expected '${CHECKPOINT_FORMAT}'`);
  }
  const blob = readFile(blobFile, 'data');
  // Hashed once: the checksums file and the manifest both name the tensors' hash.
  const blobHash = sha256(blob);
  if (format === CHECKPOINT_FORMAT) {
    if (!fs.existsSync(sumsFile)) throw new UserError(`Checkpoint ${dir} is incomplete: ${CHECKSUMS} is missing (it is written last)`);
    const sums = checksumsSchema.safeParse(parseJson(readFile(sumsFile, 'checksums'), sumsFile));
    if (!sums.success) throw new UserError(`Checkpoint ${sumsFile} is corrupt: ${issuesText(sums.error)}`);
    for (const [name, bytes, hash] of [['manifest.json', manifestBytes, sha256(manifestBytes)], ['tensors.bin', blob, blobHash]] as const) {
      const want = sums.data.files[name];
      const file = path.join(dir, name);
      if (bytes.length !== want.bytes) throw new UserError(`Checkpoint ${file} is corrupt: ${bytes.length} bytes, ${CHECKSUMS} says ${want.bytes}`);
      if (hash !== want.sha256) throw new UserError(`Checkpoint ${file} is corrupt (SHA-256 mismatch with ${CHECKSUMS})`);
    }
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new UserError(`Checkpoint ${manifestFile} is malformed: ${issuesText(parsed.error)}`);
  const manifest = parsed.data;
  if (blobHash !== manifest.sha256) throw new UserError(`Checkpoint ${blobFile} is corrupt (SHA-256 mismatch: ${blob.length} bytes read)`);
  // The layout: tensors back to back in manifest order, each its shape's size, filling the file.
  const state: StateDict = {};
  let offset = 0;
  for (const t of manifest.tensors) {
    const where = `Checkpoint ${manifestFile}: tensor '${t.key}'`;
    if (state[t.key]) throw new UserError(`${where} appears twice`);
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.length) throw new UserError(`${where} has shape [${t.shape.join(', ')}] (${size} values) but length ${t.length}`);
    if (t.offset !== offset) throw new UserError(`${where} starts at byte ${t.offset}, expected ${offset} (tensors are stored back to back)`);
    const bytes = t.length * 4;
    if (t.offset + bytes > blob.length) throw new UserError(`Checkpoint ${blobFile} is truncated at tensor '${t.key}' (byte ${t.offset})`);
    const copy = new Uint8Array(bytes);
    copy.set(blob.subarray(t.offset, t.offset + bytes));
    state[t.key] = { shape: t.shape, dtype: t.dtype, data: t.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer) };
    offset += bytes;
  }
  if (offset !== blob.length) throw new UserError(`Checkpoint ${blobFile} has ${blob.length - offset} bytes no tensor in ${manifestFile} accounts for`);
  return { state, meta: manifest.meta as CheckpointMeta };
}

/** Stable short hash of any JSON-able value (object keys sorted). */
export function stableHash(value: unknown): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
  return createHash('sha256').update(JSON.stringify(canon(value))).digest('hex').slice(0, 16);
}
