import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { batchDependence, exportGraph, ExportError, graphModelArtifacts, toFloat16Bits, traceOnce, type ExportGraph, type GraphModelArtifacts } from './index.js';

/** Load artifacts with plain tfjs-converter, from memory. */
async function load(a: GraphModelArtifacts) {
  return loadGraphModel(tf.io.fromMemory({ modelTopology: a.modelJson.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData.slice().buffer }));
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** Variables that live for the whole file. */
const v = (shape: number[], seed: number) => tf.variable(tf.randomNormal(shape, 0, 0.5, 'float32', seed));
const W = { dense: v([8, 48], 1), conv: v([3, 3, 3, 4], 2), convT: v([4, 4, 2, 4], 3), emb: v([5, 48], 4), gamma: v([4], 5), table: v([5, 4], 6), k1: v([3, 16, 6], 7) };

/** A forward pass with most kernels a generator uses, and a batch-dependent reshape and transposed convolution. */
const graph: ExportGraph = {
  inputs: [
    { name: 'z', shape: [8], dtype: 'float32', description: 'latents', example: (n) => tf.randomNormal([n, 8], 0, 1, 'float32', 11) },
    { name: 'labels', shape: [], dtype: 'int32', description: 'classes', example: (n) => tf.tensor1d(Array.from({ length: n }, (_, i) => i % 5), 'int32') },
  ],
  outputs: { images: 'images', logits: 'per-row logits' },
  forward: ({ z, labels }) => {
    const n = z!.shape[0]!;
    const sigma = tf.norm(W.dense); // folded: depends on weights only
    const onehot = tf.cast(tf.oneHot(labels as tf.Tensor1D, 5), 'float32');
    let h = tf.add(tf.matMul(z as tf.Tensor2D, tf.div(W.dense, sigma) as tf.Tensor2D), tf.matMul(onehot as tf.Tensor2D, W.emb as tf.Tensor2D));
    h = tf.leakyRelu(h, 0.2);
    let x = tf.reshape(h, [n, 4, 4, 3]) as tf.Tensor4D;
    x = tf.conv2d(x, W.conv as tf.Tensor4D, 1, 'same');
    // Batch-norm-like: moments folded in inference form, a per-class table by gather.
    const scale = tf.rsqrt(tf.add(tf.ones([4]), 1e-3));
    x = tf.add(tf.mul(x, tf.mul(scale, W.gamma)), tf.reshape(tf.gather(W.table, labels as tf.Tensor1D), [n, 1, 1, 4]));
    x = tf.relu(x);
    x = tf.conv2dTranspose(x, W.convT as tf.Tensor4D, [n, 8, 8, 2], 2, 'same');
    const [a, b] = tf.split(x, 2, 3) as [tf.Tensor, tf.Tensor];
    x = tf.concat([tf.tanh(a!), tf.sigmoid(b!)], 3) as tf.Tensor4D;
    x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    x = tf.slice(x, [0, 1, 1, 0], [-1, 8, 8, -1]);
    // Rows through a conv1d, unstack/stack and a softmax.
    const rows = tf.unstack(tf.reshape(x, [n, 8, 16]), 1) as tf.Tensor2D[];
    const conv = tf.conv1d(tf.stack(rows, 1) as tf.Tensor3D, W.k1 as tf.Tensor3D, 1, 'same');
    const logits = tf.softmax(tf.sum(conv, 2));
    return { images: tf.clipByValue(tf.mul(x, 1.5), -1, 1), logits };
  },
};

describe('export: trace → graph model → tf.loadGraphModel', () => {
  it('gives the forward pass to 1e-5 at batch sizes it was not traced at', async () => {
    const before = tf.memory().numTensors;
    const parts = exportGraph(graph);
    expect(tf.memory().numTensors).toBe(before);
    const a = graphModelArtifacts(parts, { generatedBy: 'test' });
    const model = await load(a);
    for (const n of [1, 5, 7]) {
      const inputs = { z: graph.inputs[0]!.example(n), labels: graph.inputs[1]!.example(n) };
      const want = tf.tidy(() => graph.forward(inputs));
      const got = model.execute(inputs, ['images', 'logits']) as tf.Tensor[];
      expect(got[0]!.shape).toEqual([n, 8, 8, 2]);
      expect(maxAbsDiff(got[0]!, want.images!)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(got[1]!, want.logits!)).toBeLessThanOrEqual(1e-5);
      tf.dispose([...got, ...Object.values(want), ...Object.values(inputs)]);
    }
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('folds what depends on weights only: no norm of the dense weights in the graph', () => {
    const parts = exportGraph(graph);
    const ops = parts.topology.node.map((n) => n.op);
    expect(ops).not.toContain('Sqrt');
    expect(ops.filter((o) => o === 'Placeholder')).toHaveLength(2);
    expect(parts.signature.inputs.z!.tensorShape.dim.map((d) => d.size)).toEqual(['-1', '8']);
    expect(parts.signature.outputs.images!.tensorShape.dim.map((d) => d.size)).toEqual(['-1', '8', '8', '2']);
  });

  it('quantizes: float16 within half precision, uint8 within half a step per tensor, small tensors kept', async () => {
    const parts = exportGraph(graph);
    const inputs = { z: graph.inputs[0]!.example(4), labels: graph.inputs[1]!.example(4) };
    const ref = tf.tidy(() => graph.forward(inputs).images!);
    const f32 = graphModelArtifacts(parts, { generatedBy: 'test' });
    for (const q of ['float16', 'uint8'] as const) {
      const a = graphModelArtifacts(parts, { generatedBy: 'test', quantize: q });
      expect(a.weightData.byteLength).toBeLessThan(f32.weightData.byteLength * (q === 'float16' ? 0.6 : 0.4));
      expect(a.weightSpecs.some((w) => w.quantization?.dtype === q)).toBe(true);
      expect(a.weightSpecs.filter((w) => w.shape.length === 0).every((w) => !w.quantization)).toBe(true);
      const model = await load(a);
      const got = model.execute(inputs, 'images') as tf.Tensor;
      const d = maxAbsDiff(got, ref);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThan(q === 'float16' ? 0.02 : 0.3);
      got.dispose();
      model.dispose();
    }
    tf.dispose([ref, ...Object.values(inputs)]);
  });

  it('float16 bits agree with Math.fround-free reference values', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(5.960464477539063e-8)).toBe(0x0001); // smallest subnormal
    expect(toFloat16Bits(0.1)).toBe(0x2e66);
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie rounds to even
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toFloat16Bits(NaN) & 0x7c00).toBe(0x7c00);
  });

  it('refuses a shape that depends on the batch size in a way a graph cannot express', () => {
    const bad: ExportGraph = {
      inputs: [{ name: 'z', shape: [4], dtype: 'float32', description: '', example: (n) => tf.ones([n, 4]) }],
      outputs: { y: '' },
      forward: ({ z }) => ({ y: tf.reshape(z!, [2, z!.shape[0]! * 2]) }),
    };
    expect(() => exportGraph(bad)).toThrow(/attribute 'shape' of kernel 1 \(Reshape\).*only the batch size itself can vary/);
    const constant: ExportGraph = { ...bad, forward: ({ z }) => ({ y: tf.add(z!, tf.ones([z!.shape[0]!, 4])) }) };
    expect(() => exportGraph(constant)).toThrow(/constant 1 has shape \[2, 4\] at batch 2 and \[3, 4\] at batch 3/);
    const unknown: ExportGraph = { ...bad, forward: ({ z }) => ({ y: tf.cumsum(z!, 1) }) };
    expect(() => exportGraph(unknown)).toThrow(ExportError);
    expect(() => exportGraph(unknown)).toThrow(/tfjs kernel 'Cumsum'/);
    const passThrough: ExportGraph = { ...bad, forward: ({ z }) => ({ y: z! }) };
    expect(() => exportGraph(passThrough)).toThrow(/does not depend on the graph's inputs/);
  });

  it('records only kernels that depend on the inputs', () => {
    const t = traceOnce(graph, 2);
    const t3 = traceOnce(graph, 3);
    expect(t.kernels.every((k) => Object.values(k.inputs).some((r) => r.kind !== 'const'))).toBe(true);
    const dims = batchDependence(t, t3);
    const dynamic = [...dims].flatMap(([i, attrs]) => [...attrs.keys()].map((a) => `${t.kernels[i]!.kernel}.${a}`));
    expect(dynamic).toContain('Conv2DBackpropInput.inputShape');
    expect(dynamic).toContain('Reshape.shape');
  });
});
