/** Helpers for the dataset tests: temp folders, IDX/CIFAR/image fixtures, a local HTTP server. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { DatasetContext } from '@genlab/core';
import { encodeIdx } from './idx.js';

export function tmpDir(prefix = 'genlab-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A load context over `dir`, collecting log lines. */
export function context(dir: string): DatasetContext & { lines: string[] } {
  const lines: string[] = [];
  return { baseDir: dir, cacheDir: path.join(dir, 'cache'), log: (m: string) => lines.push(m), lines };
}

/** An image whose pixels encode its index and label, so tests can recognise it after a batch. */
export function patterned(n: number, size: number, numClasses: number, offset = 0): { pixels: Uint8Array; labels: Uint8Array } {
  const pixels = new Uint8Array(n * size);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = (i + offset) % numClasses;
    for (let k = 0; k < size; k++) pixels[i * size + k] = (i * 7 + k * 3 + offset) % 256;
  }
  return { pixels, labels };
}

/** Write the four MNIST-layout IDX files (optionally gzipped) with `nTrain`/`nTest` images of side `side`. */
export function writeMnistFolder(dir: string, opts: { nTrain: number; nTest: number; side?: number; gz?: boolean; numClasses?: number; prefix?: string; names?: Record<string, string> }): void {
  const side = opts.side ?? 28;
  const names = opts.names ?? {
    trainImages: 'train-images-idx3-ubyte',
    trainLabels: 'train-labels-idx1-ubyte',
    testImages: 't10k-images-idx3-ubyte',
    testLabels: 't10k-labels-idx1-ubyte',
  };
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, buf: Buffer) => fs.writeFileSync(path.join(dir, opts.gz ? `${name}.gz` : name), opts.gz ? zlib.gzipSync(buf) : buf);
  const train = patterned(opts.nTrain, side * side, opts.numClasses ?? 10);
  const test = patterned(opts.nTest, side * side, opts.numClasses ?? 10, 1000);
  write(names.trainImages!, encodeIdx([opts.nTrain, side, side], train.pixels));
  write(names.trainLabels!, encodeIdx([opts.nTrain], train.labels));
  write(names.testImages!, encodeIdx([opts.nTest, side, side], test.pixels));
  write(names.testLabels!, encodeIdx([opts.nTest], test.labels));
}

/** A CIFAR-10 binary file of `n` records: label i % 10, red = i, green = pixel index % 256, blue = 255 - i. */
export function cifarRecords(n: number, offset = 0): Buffer {
  const buf = Buffer.alloc(n * 3073);
  for (let i = 0; i < n; i++) {
    const o = i * 3073;
    buf[o] = (i + offset) % 10;
    for (let p = 0; p < 1024; p++) {
      buf[o + 1 + p] = (i + offset) % 256;
      buf[o + 1 + 1024 + p] = p % 256;
      buf[o + 1 + 2048 + p] = 255 - ((i + offset) % 256);
    }
  }
  return buf;
}

/** A local HTTP server for `files` (path → body); records the paths requested. */
export async function serve(files: Record<string, Uint8Array>): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(p);
    const body = files[p];
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** All files under `dir`, relative. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

/** The message of the error `p` (a promise or a function) throws; fails when it does not throw. */
export async function messageOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error');
}

/**
 * A PNG of a few dozen bytes whose header claims `width`×`height` (8-bit RGB): the IHDR is
 * real (checksummed), the image data is not. Decoders read the size from the header alone.
 */
export function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(16))), chunk('IEND', Buffer.alloc(0))]);
}

/** A gzip file of a valid IDX header for `dims` followed by `bytes` zero bytes (a bomb when `bytes` is far more than the dims say). */
export function gzipIdx(dims: number[], bytes: number): Buffer {
  const header = encodeIdx(dims, new Uint8Array(0));
  return zlib.gzipSync(Buffer.concat([header, Buffer.alloc(bytes)]), { level: 9 });
}
