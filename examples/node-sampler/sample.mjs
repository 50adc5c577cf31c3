/* global Buffer, console, process */
// Sample from a genlab export in plain Node: node sample.mjs <export folder> [grid.png]
// (npm install @tensorflow/tfjs pngjs; no genlab package is needed)
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';

const [dir, out = 'grid.png'] = process.argv.slice(2);
const info = JSON.parse(fs.readFileSync(`${dir}/genlab.json`, 'utf8'));
async function load(file) { // a graph model from model.json and its weight shards
  const json = JSON.parse(fs.readFileSync(`${dir}/${file}`, 'utf8'));
  const base = `${dir}/${file.replace(/model\.json$/, '')}`;
  const bin = Buffer.concat(json.weightsManifest[0].paths.map((p) => fs.readFileSync(base + p)));
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length);
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }));
}
const graphs = {};
for (const [name, g] of Object.entries(info.graphs)) graphs[name] = await load(g.path);
const { sample } = await import(pathToFileURL(`${dir}/sampler.mjs`).href);

// One draw of every random input genlab.json lists (z ~ N(0, I), class labels 0…K-1 in turn, …).
const n = 64;
const draw = ({ distribution, shape }) =>
  distribution === 'normal' ? tf.randomNormal([n, ...shape]) : distribution === 'uniform' ? tf.randomUniform([n, ...shape]) : tf.tensor1d(Array.from({ length: n }, (_, i) => i % info.classes.count), 'int32');
const inputs = Object.fromEntries(Object.entries(info.random).map(([name, r]) => [name, draw(r)]));
const images = sample(tf, graphs, inputs, info); // [n, H, W, C] in info.output.range

// An 8×8 grid of bytes: (x − lo) / (hi − lo) · 255, channels last.
const [H, W, C] = info.output.shape;
const [lo, hi] = info.output.range;
const px = tf.tidy(() => tf.clipByValue(tf.mul(tf.div(tf.sub(images, lo), hi - lo), 255), 0, 255)).dataSync();
const cols = 8, rows = Math.ceil(n / cols);
const png = new PNG({ width: cols * W, height: rows * H });
for (let k = 0; k < n; k++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
  const o = ((Math.floor(k / cols) * H + y) * cols * W + (k % cols) * W + x) * 4;
  for (let c = 0; c < 3; c++) png.data[o + c] = Math.round(px[((k * H + y) * W + x) * C + (C === 3 ? c : 0)]);
  png.data[o + 3] = 255;
}
fs.writeFileSync(out, PNG.sync.write(png));
console.log(`${n} samples of ${info.model} (run ${info.run.id.slice(0, 8)}, step ${info.run.step}) → ${out}`);
