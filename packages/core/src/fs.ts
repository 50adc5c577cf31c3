/**
 * File writes for every package, safe against the ways a disk goes wrong:
 * - `writeFileAtomic`: the data goes to a hidden temporary file in the same folder (so
 *   readers listing the folder, like MLflow, never see it) and is renamed into place, so a
 *   reader sees the old file or the whole new one, never half of it; the temporary file is
 *   removed if the write fails.
 * - `ensureDir`: Node's `mkdir(…, { recursive: true })` spins forever on paths under `/proc`
 *   (it retries a parent that reports ENOENT yet exists); this walks up to the nearest
 *   existing folder and creates each missing one itself, so such a path fails at once.
 * - `diskError`: a full disk, a read-only one or a permission problem becomes an error that
 *   names the path and the cause in words (fd-based writes report no path of their own).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';

/** What a failing file operation's code means, for messages. */
const CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a parent is a file, not a folder',
  EISDIR: 'is a folder',
  ENAMETOOLONG: 'name too long',
  EIO: 'input/output error',
};

/** An error from the file system, with the path and the cause in words. Exit code 1 (2 for a path the user gave that cannot be used). */
export class DiskError extends Error {
  readonly exitCode: number;
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DiskError';
    this.exitCode = code === 'ENOSPC' || code === 'EDQUOT' || code === 'EIO' ? 1 : 2;
  }
}

/** `error` from `action` on `file` as a `DiskError` naming both (other errors are returned as they are). */
export function diskError(error: unknown, action: string, file: string): unknown {
  if (error instanceof DiskError || error instanceof UserError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (!code || !(code in CAUSES || code === 'ENOENT')) return error;
  const cause = CAUSES[code] ?? 'no such file or folder';
  return new DiskError(`cannot ${action} ${file}: ${cause} (${code})`, code, file, { cause: error });
}

/** Create `dir` and its missing parents; throws a `DiskError` naming the folder that could not be made. */
export function ensureDir(dir: string): void {
  const target = path.resolve(dir);
  const missing: string[] = [];
  let at = target;
  for (;;) {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(at);
    } catch (error) {
      // ENOTDIR: a parent is a file; walking up finds it, to name it.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw diskError(error, 'create the folder', target);
    }
    if (stat) {
      if (!stat.isDirectory()) throw new DiskError(`cannot create the folder ${target}: ${at} is a file, not a folder`, 'ENOTDIR', target);
      break;
    }
    missing.push(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(d).isDirectory()) continue;
      throw diskError(error, 'create the folder', d);
    }
  }
}

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  ensureDir(path.dirname(file));
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw diskError(error, 'write', file);
  }
}
