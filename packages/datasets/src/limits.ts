/**
 * Limits on decoded data, the same rule for every image dataset: no image larger than
 * `maxPixels`, nothing (one file, decompressed, or the whole decoded set) larger than
 * `maxBytes`, and no dimension of 0. Each is checked from headers and file sizes before
 * the memory is allocated, so a small file that claims a huge size (a gzip bomb, an IDX
 * header of 60000×65535×65535, a PNG header of 16000×16000) is refused at once, by
 * `describe` (`exp validate`) as by `load`, with a message naming the file and the option
 * that raises the limit.
 */
import { z } from 'zod';
import { UserError } from '@genlab/core';

/** 8192×8192: above a 61-megapixel camera's photo, far below what exhausts memory when decoded (four at a time, RGB: 805 MB). */
export const DEFAULT_MAX_PIXELS = 8192 * 8192;
/** 1 GiB: about twice the largest standard set file (EMNIST byclass train images, 547 MB) and above all of EMNIST byclass (638 MB). */
export const DEFAULT_MAX_BYTES = 1024 ** 3;

/** Schema fields of the limits (spread into every image dataset's options). */
export const limitOptions = {
  maxPixels: z
    .number()
    .int()
    .positive()
    .default(DEFAULT_MAX_PIXELS)
    .describe(`The most pixels (height × width) one image may have, checked from its header before it is decoded. Default ${DEFAULT_MAX_PIXELS} (8192×8192).`),
  maxBytes: z
    .number()
    .int()
    .positive()
    .default(DEFAULT_MAX_BYTES)
    .describe(
      `The most bytes one data file may have on disk or once decompressed, and the decoded set in memory, checked from file sizes and headers before anything is read. Default ${DEFAULT_MAX_BYTES} (1 GiB).`,
    ),
};

export interface Limits {
  maxPixels: number;
  maxBytes: number;
}

/** `1073741824 bytes (1 GiB)`: exact, with a rounded reading for large values. */
export function formatBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u < 0 ? `${n} bytes` : `${n} bytes (${Number(v.toPrecision(3))} ${units[u]})`;
}

/** Refuse images of `height`×`width` with a side of 0 or more than `maxPixels` pixels; `where` names the file. */
export function checkImageSize(height: number, width: number, where: string, limits: Pick<Limits, 'maxPixels'>): void {
  if (!(height > 0 && width > 0)) throw new UserError(`${where}: images of ${width}×${height} pixels (width×height): an image with a side of 0 holds nothing to train on`);
  const pixels = height * width;
  if (pixels > limits.maxPixels) {
    throw new UserError(
      `${where}: images of ${width}×${height} = ${pixels} pixels, more than dataset.maxPixels (${limits.maxPixels}), refused before decoding. ` +
        `Raise dataset.maxPixels if images this large are meant (image-folder can also shrink them on load with dataset.size)`,
    );
  }
}

/** Refuse `bytes` of `what` (e.g. "the decoded set") above `maxBytes`; `where` names the file or dataset. */
export function checkBytes(bytes: number, what: string, where: string, limits: Pick<Limits, 'maxBytes'>): void {
  if (bytes > limits.maxBytes) {
    throw new UserError(`${where}: ${what} takes ${formatBytes(bytes)}, more than dataset.maxBytes = ${formatBytes(limits.maxBytes)}, refused before decoding. Raise dataset.maxBytes if the data is meant to be this large`);
  }
}
