/**
 * Where a dataset's files come from: a local folder (`dataset.dir`), or a base URL
 * (`dataset.url`) they are downloaded from once into the cache, each checked against its
 * SHA-256 (`dataset.sha256`). Downloads are written to a temporary name and renamed only
 * after the checksum matched, so an interrupted or corrupt download never looks cached.
 *
 * HTTP goes through Node's built-in `fetch` (undici): no extra dependency is needed for
 * a GET with a streamed body.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { gunzipSync as zlibGunzip } from 'node:zlib';
import { z } from 'zod';
import { type DatasetContext, ensureDir, UserError } from '@genlab/core';
import { formatBytes } from './limits.js';

/** Schema fields of datasets read from files. */
export const fileOptions = {
  /** A local folder holding the files (relative to the config file). */
  dir: z.string().min(1).optional(),
  /** A base URL the files are downloaded from once (into the cache) when `dir` is not set. */
  url: z.url().optional(),
  /** Expected SHA-256 (hex) per file name; a download that does not match is refused. */
  sha256: z.record(z.string(), z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits')).optional(),
};
const _fileObject = z.object(fileOptions);
export type FileOptions = z.output<typeof _fileObject>;

/** One needed file: acceptable names in a folder (e.g. `x.gz` or `x`); the first is downloaded. */
export interface FileSpec {
  names: string[];
}

/** How a needed file is named in messages: `x[.gz]` when either form works, else its first name. */
const describe = (spec: FileSpec) => (spec.names.length === 2 && spec.names[0] === `${spec.names[1]}.gz` ? `${spec.names[1]}[.gz]` : path.basename(spec.names[0]!));

/** A message telling the user exactly which files to put where. */
export function placementHelp(specs: FileSpec[], what: string): string {
  return `put ${specs.map(describe).join(', ')} in one folder and set dataset.dir to it (relative to the config file) for '${what}'`;
}

/** Paths of `specs`, from `dir` or downloaded from `url`. */
export async function locateFiles(specs: FileSpec[], opts: FileOptions, ctx: DatasetContext, what: string): Promise<string[]> {
  if (opts.dir !== undefined) {
    const dir = path.resolve(ctx.baseDir, opts.dir);
    if (!fs.existsSync(dir)) throw new UserError(`${what}: dataset.dir ${dir} does not exist; ${placementHelp(specs, what)}`);
    const found = specs.map((s) => s.names.map((n) => path.join(dir, n)).find((p) => fs.existsSync(p)));
    const missing = specs.filter((_, i) => !found[i]);
    if (missing.length) throw new UserError(`${what}: ${dir} lacks ${missing.map(describe).join(', ')}; ${placementHelp(specs, what)}`);
    return found as string[];
  }
  if (opts.url !== undefined) {
    const known = new Set(specs.map((s) => s.names[0]!));
    for (const key of Object.keys(opts.sha256 ?? {})) {
      if (!known.has(key)) throw new UserError(`${what}: dataset.sha256 names '${key}', which is not one of the files: ${[...known].join(', ')}`);
    }
    const base = opts.url.endsWith('/') ? opts.url : `${opts.url}/`;
    const folder = path.join(ctx.cacheDir, 'downloads', crypto.createHash('sha256').update(base).digest('hex').slice(0, 16));
    const out: string[] = [];
    for (const spec of specs) {
      const name = spec.names[0]!;
      out.push(await download(base + name, path.join(folder, name), opts.sha256?.[name], ctx, () => placementHelp(specs, what)));
    }
    return out;
  }
  throw new UserError(`${what}: no files to read: ${placementHelp(specs, what)}, or set dataset.url to a base URL to download them from`);
}

/**
 * Download `url` to `dest` unless it is already there. With `sha256`, the file must match it;
 * without, its hash is printed so the user can pin it. Returns `dest`.
 */
export async function download(url: string, dest: string, sha256: string | undefined, ctx: DatasetContext, offline: () => string): Promise<string> {
  if (fs.existsSync(dest)) {
    // A cached file is checked again whenever a hash is pinned (it may predate the pin).
    if (!sha256 || (await sha256File(dest)) === sha256.toLowerCase()) return dest;
    ctx.log(`${dest} does not match dataset.sha256; downloading it again`);
    fs.rmSync(dest, { force: true });
  }
  ensureDir(path.dirname(dest));
  const tmp = `${dest}.partial-${process.pid}`;
  const hash = crypto.createHash('sha256');
  ctx.log(`downloading ${url} to ${dest}`);
  let res: Response;
  try {
    // Bytes as served: fetch would otherwise undo a gzip content-encoding and break the hash.
    res = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new UserError(`Cannot download ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}. Without network, ${offline()}`);
  }
  if (!res.ok || !res.body) throw new UserError(`Cannot download ${url}: the server answered HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length')) || 0;
  let got = 0;
  let last = Date.now();
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      got += chunk.length;
      if (Date.now() - last > 2000) {
        last = Date.now();
        ctx.log(`  ${(got / 1e6).toFixed(1)} MB${total ? ` of ${(total / 1e6).toFixed(1)} MB` : ''}`);
      }
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as WebReadableStream), meter, fs.createWriteStream(tmp));
    if (total && got !== total) throw new UserError(`Download of ${url} stopped after ${got} of ${total} bytes`);
    const digest = hash.digest('hex');
    if (sha256 && digest !== sha256.toLowerCase()) {
      throw new UserError(`Checksum mismatch for ${url}: expected sha256 ${sha256.toLowerCase()}, got ${digest}. The download was deleted; check the URL or dataset.sha256`);
    }
    if (!sha256) ctx.log(`  sha256 of ${path.basename(dest)} is ${digest}: pin it with dataset.sha256.${path.basename(dest)} to check later downloads`);
    fs.renameSync(tmp, dest);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    if (error instanceof UserError) throw error;
    throw new UserError(`Cannot download ${url}: ${(error as Error).message}`);
  }
  return dest;
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

/** What a compressed or headed file may have on disk beyond the data `maxBytes` allows. */
const FRAMING_BYTES = 1024 * 1024;

/**
 * Read a file of at most `maxBytes` (the dataset's `maxBytes`), gunzipping it when it is
 * gzip-compressed (by content, not by name). The size on disk is checked before the file
 * is read, and decompression stops at `maxBytes`, or at `declared.bytes` when the file's
 * header says how much it holds (so a gzip bomb never takes more than that).
 */
export function readMaybeGzip(file: string, maxBytes: number, declared?: { bytes: number; what: string }): Buffer {
  // On disk a file may pass the limit by its headers and gzip's framing (which can make
  // incompressible data a little longer): the cap is on the data it holds.
  const raw = readFile(file, maxBytes, FRAMING_BYTES);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    // A declared size has been checked against maxBytes by the caller (it may pass it by a header).
    const cap = declared?.bytes ?? maxBytes;
    try {
      return zlibGunzip(raw, { maxOutputLength: cap });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new UserError(
          declared
            ? `${file}: decompresses to more than ${declared.what}; the file is not what its header says (decompression stopped there)`
            : `${file}: decompresses to more than dataset.maxBytes = ${formatBytes(maxBytes)}; decompression stopped there. Raise dataset.maxBytes if the data is meant to be this large`,
        );
      }
      throw new UserError(`${file} is not a valid gzip file: ${(error as Error).message}`);
    }
  }
  return raw;
}

/**
 * `fs.readFileSync` with a message that names the file; a file over `maxBytes` (+ `slack`
 * for headers) is refused before it is read.
 */
export function readFile(file: string, maxBytes: number, slack = 0): Buffer {
  try {
    const size = fs.statSync(file).size;
    if (size > maxBytes + slack) {
      throw new UserError(
        `${file}: ${formatBytes(size)} on disk, more than dataset.maxBytes = ${formatBytes(maxBytes)}${slack ? ` and ${formatBytes(slack)} of headers` : ''}; not read. Raise dataset.maxBytes if the data is meant to be this large`,
      );
    }
    return fs.readFileSync(file);
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
