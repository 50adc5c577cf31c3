/** Test fixtures shared by the metrics tests. */
import { ArrayDataset, mulberry32 } from '@genlab/core';

/** Two classes of 8×8 images: a bright left half (class 0) or a bright right half (class 1), with noise. */
export function halves(n: number, seed: number): ArrayDataset {
  const rand = mulberry32(seed);
  const pixels = new Uint8Array(n * 64);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) pixels[i * 64 + y * 8 + x] = (x < 4) === (i % 2 === 0) ? 200 + Math.floor(rand() * 55) : Math.floor(rand() * 60);
  }
  return new ArrayDataset({ pixels, labels }, { shape: [8, 8, 1], numClasses: 2, range: [-1, 1], classNames: ['left', 'right'] }, undefined, { range: [-1, 1], binarize: 'none', flip: false });
}
