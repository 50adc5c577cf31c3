/**
 * `kmnist`: Kuzushiji-MNIST (Clanuwat et al. 2018), ten cursive Japanese characters,
 * 28×28×1, 60,000/10,000, in the MNIST IDX layout. Not bundled: give the folder holding
 * `train-images-idx3-ubyte[.gz]` etc. (`dir`) or a base URL to download them from (`url`).
 */
import { z } from 'zod';
import type { DatasetPlugin } from '@genlab/core';
import { commonOptions } from './common.js';
import { fileOptions } from './files.js';
import { idxDataset, idxInfo, MNIST_FILES } from './idx.js';

/** The romanised names of the ten characters, in label order. */
export const KMNIST_CLASSES = ['o', 'ki', 'su', 'tsu', 'na', 'ha', 'ma', 'ya', 're', 'wo'];

const schema = z.object({ ...commonOptions, ...fileOptions }).strict();

export const kmnist: DatasetPlugin<z.output<typeof schema>> = {
  name: 'kmnist',
  description: 'Kuzushiji-MNIST (10 Japanese characters, 28x28x1) from IDX files in dataset.dir or dataset.url',
  configSchema: schema,
  load: (cfg, ctx) => idxDataset({ ...MNIST_FILES, classNames: KMNIST_CLASSES }, cfg, ctx, 'kmnist'),
  describe: (cfg, ctx) => idxInfo({ ...MNIST_FILES, classNames: KMNIST_CLASSES }, cfg, ctx, 'kmnist'),
};
