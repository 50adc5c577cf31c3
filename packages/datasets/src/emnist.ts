/**
 * `emnist`: Extended MNIST (Cohen et al. 2017), handwritten digits and letters, 28×28×1, in
 * IDX files named `emnist-<variant>-{train,test}-{images-idx3,labels-idx1}-ubyte[.gz]`.
 * EMNIST stores every image transposed; they are turned upright on load. The `letters`
 * variant labels its classes 1..26; they become 0..25 here.
 */
import { z } from 'zod';
import type { DatasetPlugin } from '@genlab/core';
import { commonOptions } from './common.js';
import { fileOptions } from './files.js';
import { idxDataset, idxInfo, type IdxLayout } from './idx.js';

const DIGITS = '0123456789'.split('');
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('');
const LOWER = 'abcdefghijklmnopqrstuvwxyz'.split('');
/** The balanced and by-merge variants merge the lower-case letters that look like upper case. */
const MERGED_LOWER = 'abdefghnqrt'.split('');

/** Class names of each variant, in label order (from the EMNIST paper's mapping files). */
export const EMNIST_CLASSES = {
  digits: DIGITS,
  mnist: DIGITS,
  letters: LOWER,
  balanced: [...DIGITS, ...UPPER, ...MERGED_LOWER],
  bymerge: [...DIGITS, ...UPPER, ...MERGED_LOWER],
  byclass: [...DIGITS, ...UPPER, ...LOWER],
} as const;

const schema = z
  .object({
    /** Which EMNIST split: `balanced` (47 classes), `byclass` (62), `bymerge` (47), `digits`, `letters` (26), `mnist`. */
    variant: z.enum(['balanced', 'byclass', 'bymerge', 'digits', 'letters', 'mnist']).default('balanced'),
    ...commonOptions,
    ...fileOptions,
  })
  .strict();

export function emnistLayout(variant: keyof typeof EMNIST_CLASSES): IdxLayout {
  const file = (split: string, kind: string) => `emnist-${variant}-${split}-${kind}-ubyte`;
  return {
    train: { images: file('train', 'images-idx3'), labels: file('train', 'labels-idx1') },
    test: { images: file('test', 'images-idx3'), labels: file('test', 'labels-idx1') },
    classNames: [...EMNIST_CLASSES[variant]],
    transpose: true,
    labelOffset: variant === 'letters' ? 1 : 0,
  };
}

export const emnist: DatasetPlugin<z.output<typeof schema>> = {
  name: 'emnist',
  description: 'EMNIST digits and letters (28x28x1, 10-62 classes by variant) from IDX files in dataset.dir or dataset.url',
  configSchema: schema,
  load: (cfg, ctx) => idxDataset(emnistLayout(cfg.variant), cfg, ctx, `emnist (${cfg.variant})`),
  describe: (cfg, ctx) => idxInfo(emnistLayout(cfg.variant), cfg, ctx, `emnist (${cfg.variant})`),
};
