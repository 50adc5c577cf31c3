/**
 * A graph model's files: `model.json` (topology, signature, weights manifest) and its weight
 * shards, optionally quantized the way tfjs-converter quantizes (`float16`: IEEE half floats;
 * `uint8`: an affine map per tensor, x ≈ q·scale + min), which `tf.loadGraphModel`
 * dequantizes when it loads. tfjs-core's `io.encodeWeights` does not quantize, hence this.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../fs.js';
import type { GraphModelParts, GraphWeight } from './graph.js';

export type Quantization = 'float16' | 'uint8';

/** Weights with fewer values stay float32 (scalars and short vectors: few bytes, and precision-sensitive). */
export const QUANTIZE_MIN_SIZE = 16;

/** Shard size, as tfjs-converter writes them. */
const SHARD_BYTES = 4 * 1024 * 1024;

/** A weight's manifest entry. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  quantization?: { dtype: Quantization; scale?: number; min?: number };
}

/** model.json (without the shard paths) and the weight bytes, as `tf.io.fromMemory` takes them. */
export interface GraphModelArtifacts {
  modelJson: {
    format: 'graph-model';
    generatedBy: string;
    convertedBy: string;
    modelTopology: GraphModelParts['topology'];
    signature: GraphModelParts['signature'];
    weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
    userDefinedMetadata?: Record<string, unknown>;
  };
  weightSpecs: WeightSpec[];
  weightData: Uint8Array;
}

/** float32 → IEEE 754 binary16 bits, rounding to nearest even. */
export function toFloat16Bits(x: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

function encode(w: GraphWeight, quantize: Quantization | undefined): { spec: WeightSpec; bytes: Uint8Array } {
  const spec: WeightSpec = { name: w.name, shape: w.shape, dtype: w.dtype };
  if (w.dtype !== 'float32' || !quantize || w.values.length < QUANTIZE_MIN_SIZE) {
    const v = w.dtype === 'bool' ? Uint8Array.from(w.values) : w.values;
    return { spec, bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
  }
  const x = w.values as Float32Array;
  if (quantize === 'float16') {
    const out = new Uint16Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = toFloat16Bits(x[i]!);
    spec.quantization = { dtype: 'float16' };
    return { spec, bytes: new Uint8Array(out.buffer) };
  }
  let min = Infinity;
  let max = -Infinity;
  for (const v of x) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const scale = max > min ? (max - min) / 255 : 1;
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.min(255, Math.max(0, Math.round((x[i]! - min) / scale)));
  spec.quantization = { dtype: 'uint8', scale, min };
  return { spec, bytes: out };
}

/** The model's JSON and weight bytes (quantized when asked). */
export function graphModelArtifacts(parts: GraphModelParts, opts: { quantize?: Quantization; generatedBy: string; metadata?: Record<string, unknown> }): GraphModelArtifacts {
  const encoded = parts.weights.map((w) => encode(w, opts.quantize));
  const total = encoded.reduce((a, e) => a + e.bytes.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const e of encoded) {
    weightData.set(e.bytes, offset);
    offset += e.bytes.byteLength;
  }
  const weightSpecs = encoded.map((e) => e.spec);
  return {
    modelJson: {
      format: 'graph-model',
      generatedBy: opts.generatedBy,
      convertedBy: opts.generatedBy,
      modelTopology: parts.topology,
      signature: parts.signature,
      weightsManifest: [{ paths: [], weights: weightSpecs }],
      ...(opts.metadata ? { userDefinedMetadata: opts.metadata } : {}),
    },
    weightSpecs,
    weightData,
  };
}

/** Write `model.json` and its shards into `dir` (which must exist); returns the files written and their bytes. */
export function writeGraphModel(dir: string, artifacts: GraphModelArtifacts): { files: string[]; bytes: number } {
  const { weightData } = artifacts;
  const count = Math.max(1, Math.ceil(weightData.byteLength / SHARD_BYTES));
  const paths = Array.from({ length: count }, (_, i) => `group1-shard${i + 1}of${count}.bin`);
  paths.forEach((p, i) => writeFileAtomic(path.join(dir, p), Buffer.from(weightData.subarray(i * SHARD_BYTES, Math.min(weightData.byteLength, (i + 1) * SHARD_BYTES)))));
  const json = { ...artifacts.modelJson, weightsManifest: [{ paths, weights: artifacts.weightSpecs }] };
  const text = JSON.stringify(json);
  writeFileAtomic(path.join(dir, 'model.json'), text);
  const bytes = weightData.byteLength + Buffer.byteLength(text);
  return { files: [...paths, 'model.json'].map((p) => path.join(dir, p)), bytes };
}

/** Read back what `writeGraphModel` wrote (for tests and tools; plain tfjs users read it with fs or fetch). */
export function readGraphModelFiles(dir: string): { modelJson: GraphModelArtifacts['modelJson']; weightData: Uint8Array } {
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as GraphModelArtifacts['modelJson'];
  const parts = modelJson.weightsManifest.flatMap((g) => g.paths).map((p) => fs.readFileSync(path.join(dir, p)));
  return { modelJson, weightData: new Uint8Array(Buffer.concat(parts)) };
}
