/** @genlab/datasets: dataset plugins. A new dataset is one file plus one line in `datasets`. */
import type { PluginModule } from '@genlab/core';
import { cifar10 } from './cifar10.js';
import { emnist } from './emnist.js';
import { fashionMnist } from './fashion-mnist.js';
import { idx } from './idx.js';
import { imageFolder } from './image-folder.js';
import { kmnist } from './kmnist.js';
import { mnist } from './mnist.js';
import { toy2d } from './toy2d.js';

export { mnist, readBundledMnist } from './mnist.js';
export { fashionMnist, readBundledFashion, FASHION_CLASSES } from './fashion-mnist.js';
export { kmnist, KMNIST_CLASSES } from './kmnist.js';
export { emnist, EMNIST_CLASSES } from './emnist.js';
export { cifar10, CIFAR10_CLASSES, decodeCifarRecords } from './cifar10.js';
export { imageFolder, listImages } from './image-folder.js';
export { toy2d, mixtureModes, drawMixture } from './toy2d.js';
export { idx, parseIdx, encodeIdx, readIdxPair } from './idx.js';
export { commonOptions, imageDataset, selectIndices, stratifiedSplit } from './common.js';
export { download, locateFiles } from './files.js';

/** Every built-in dataset plugin. */
export const datasets: NonNullable<PluginModule['datasets']> = [mnist, fashionMnist, kmnist, emnist, idx, cifar10, imageFolder, toy2d];
