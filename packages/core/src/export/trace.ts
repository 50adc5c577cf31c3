/**
 * Tracing a forward pass into a TensorFlow graph, the way `exp export` turns a model into a
 * tfjs graph model that plain `@tensorflow/tfjs` loads with `tf.loadGraphModel`.
 *
 * tfjs has no graph mode and no exporter for models written on tfjs-core ops (tfjs-layers
 * can save only its own layers; the Python converter needs TensorFlow), so this is written
 * here: while a model's export `forward` runs, every kernel the engine runs is recorded
 * (`engine.runKernel` is the one door every tfjs op goes through). Tensors that depend on
 * the graph's inputs are *traced*; every other tensor a traced kernel reads (weights, EMA
 * copies, spectral-normalised W/σ, batch-norm statistics, scalars) is *folded*: its value is
 * read there and then and becomes a constant of the graph. So the graph holds exactly the
 * input-dependent work of one forward pass, and whatever the model computed from its weights
 * alone (a spectral norm, standing statistics) is computed once, at export, with the same
 * code the model samples with.
 *
 * The pass is traced twice, at two batch sizes. The two traces must agree kernel by kernel;
 * a shape attribute whose first element is the batch size in both (a reshape to [n, …], a
 * transposed convolution's output shape) is rebuilt in the graph from the batch size of the
 * first input, so the exported model takes any batch size. Anything else that changes with
 * the batch size is refused with the kernel named.
 */
import * as tf from '@tensorflow/tfjs-core';

/** One input of an exported graph; the batch is the first dimension, not part of `shape`. */
export interface ExportInput {
  name: string;
  /** Shape of one example (without the batch dimension). */
  shape: number[];
  dtype: 'float32' | 'int32';
  /** A short description for `genlab.json` and the docs. */
  description: string;
  /** Typical values for a batch of `n` (used only to trace the graph). */
  example(n: number): tf.Tensor;
}

/** A network to export: its inputs and the forward pass that maps them to named outputs. */
export interface ExportGraph {
  inputs: ExportInput[];
  /** Output name → a short description (the keys `forward` returns, in order). */
  outputs: Record<string, string>;
  /** Called inside `tf.tidy`; must be deterministic given the inputs. */
  forward(inputs: Record<string, tf.Tensor>): Record<string, tf.Tensor>;
}

/** A reference to a value in a trace. */
type Ref = { kind: 'input'; name: string } | { kind: 'node'; node: number; output: number } | { kind: 'const'; index: number };

/** One kernel call whose inputs depend on the graph's inputs. */
export interface TracedKernel {
  kernel: string;
  /** The kernel's named inputs (an array for Concat and Pack), as references. */
  inputs: Record<string, Ref>;
  /** Key order of `inputs` as the kernel received them. */
  inputOrder: string[];
  attrs: Record<string, unknown>;
  /** Shape and dtype of each output. */
  outputs: { shape: number[]; dtype: tf.DataType }[];
  /** Shapes and dtypes of the inputs (for attributes the graph op needs explicitly). */
  inputShapes: Record<string, number[]>;
  inputDtypes: Record<string, tf.DataType>;
}

/** A folded value: read from a tensor when a traced kernel first used it. */
export interface TracedConst {
  shape: number[];
  dtype: tf.DataType;
  values: Float32Array | Int32Array | Uint8Array;
}

/** One trace of a forward pass at one batch size. */
export interface Trace {
  batch: number;
  kernels: TracedKernel[];
  consts: TracedConst[];
  outputs: Record<string, Ref>;
}

/** A refusal from the exporter (the CLI shows it as a user error). */
export class ExportError extends Error {
  override name = 'ExportError';
}

/** Run `graph.forward` once at batch size `n`, recording every input-dependent kernel. */
export function traceOnce(graph: ExportGraph, n: number): Trace {
  const engine = tf.engine() as unknown as { runKernel: (name: string, inputs: Record<string, tf.Tensor>, attrs?: Record<string, unknown>) => tf.Tensor | tf.Tensor[] };
  const original = engine.runKernel;
  const refs = new Map<number, Ref>(); // tensor id → reference, for traced tensors only
  const constIndex = new Map<number, number>(); // tensor id → index in consts
  const trace: Trace = { batch: n, kernels: [], consts: [], outputs: {} };
  let depth = 0;
  const refOf = (t: tf.Tensor): Ref => {
    const traced = refs.get(t.id);
    if (traced) return traced;
    let index = constIndex.get(t.id);
    if (index === undefined) {
      index = trace.consts.length;
      constIndex.set(t.id, index);
      const data = t.dataSync();
      const values = t.dtype === 'bool' ? Uint8Array.from(data as Uint8Array) : t.dtype === 'int32' ? Int32Array.from(data as Int32Array) : Float32Array.from(data as Float32Array);
      trace.consts.push({ shape: [...t.shape], dtype: t.dtype, values });
    }
    return { kind: 'const', index };
  };
  tf.tidy(() => {
    const inputs: Record<string, tf.Tensor> = {};
    for (const spec of graph.inputs) {
      const t = spec.example(n);
      if (t.shape[0] !== n || t.shape.length !== spec.shape.length + 1 || t.shape.slice(1).some((d, i) => d !== spec.shape[i])) {
        throw new ExportError(`export input '${spec.name}': its example has shape [${t.shape.join(', ')}], expected [${n}, ${spec.shape.join(', ')}]`);
      }
      if (t.dtype !== spec.dtype) throw new ExportError(`export input '${spec.name}': its example is ${t.dtype}, expected ${spec.dtype}`);
      inputs[spec.name] = t;
      refs.set(t.id, { kind: 'input', name: spec.name });
    }
    engine.runKernel = function (this: unknown, name: string, kInputs: Record<string, tf.Tensor>, attrs?: Record<string, unknown>) {
      if (depth > 0) return original.call(this, name, kInputs, attrs);
      depth++;
      let out: tf.Tensor | tf.Tensor[];
      try {
        out = original.call(this, name, kInputs, attrs);
      } finally {
        depth--;
      }
      const order = Object.keys(kInputs).filter((k) => kInputs[k] != null); // fused kernels pass absent inputs as undefined
      const tracedInput = order.some((k) => refs.has(kInputs[k]!.id));
      if (tracedInput) {
        const outs = Array.isArray(out) ? out : [out];
        const node = trace.kernels.length;
        trace.kernels.push({
          kernel: name,
          inputs: Object.fromEntries(order.map((k) => [k, refOf(kInputs[k]!)])),
          inputOrder: order,
          attrs: structuredClone(attrs ?? {}),
          outputs: outs.map((t) => ({ shape: [...t.shape], dtype: t.dtype })),
          inputShapes: Object.fromEntries(order.map((k) => [k, [...kInputs[k]!.shape]])),
          inputDtypes: Object.fromEntries(order.map((k) => [k, kInputs[k]!.dtype])),
        });
        outs.forEach((t, output) => refs.set(t.id, { kind: 'node', node, output }));
      }
      return out;
    } as typeof engine.runKernel;
    let outputs: Record<string, tf.Tensor>;
    try {
      outputs = graph.forward(inputs);
    } finally {
      engine.runKernel = original;
    }
    const expected = Object.keys(graph.outputs);
    const got = Object.keys(outputs);
    if (expected.join(',') !== got.join(',')) throw new ExportError(`export: the forward pass returned outputs [${got.join(', ')}], its spec names [${expected.join(', ')}]`);
    for (const [name, t] of Object.entries(outputs)) {
      const ref = refs.get(t.id);
      if (!ref || ref.kind !== 'node') throw new ExportError(`export output '${name}' does not depend on the graph's inputs (a constant or an input passed through): nothing to export`);
      trace.outputs[name] = ref;
    }
  });
  return trace;
}

/** Where shape attributes hold the batch size: kernel index → attribute name → positions in the list. */
export type BatchDims = Map<number, Map<string, number[]>>;

/**
 * Compare two traces of the same graph at batch sizes a.batch ≠ b.batch. They must run the
 * same kernels on the same references with the same constants; attributes may differ only
 * as integer lists holding the batch size (a.batch in one, b.batch in the other) at the
 * same positions, e.g. a reshape to [n, 7, 7, 64] or to [1, n, 128]. Returns those positions.
 */
export function batchDependence(a: Trace, b: Trace): BatchDims {
  const where = (k: TracedKernel, i: number) => `kernel ${i + 1} (${k.kernel})`;
  if (a.kernels.length !== b.kernels.length) {
    throw new ExportError(`export: the forward pass runs ${a.kernels.length} input-dependent kernels at batch ${a.batch} and ${b.kernels.length} at batch ${b.batch}; it must do the same work for every batch size`);
  }
  const dims: BatchDims = new Map();
  a.kernels.forEach((ka, i) => {
    const kb = b.kernels[i]!;
    if (ka.kernel !== kb.kernel || JSON.stringify(ka.inputs) !== JSON.stringify(kb.inputs)) {
      throw new ExportError(`export: ${where(ka, i)} differs between batch sizes ${a.batch} and ${b.batch} (${kb.kernel} there)`);
    }
    for (const key of new Set([...Object.keys(ka.attrs), ...Object.keys(kb.attrs)])) {
      const va = ka.attrs[key];
      const vb = kb.attrs[key];
      if (JSON.stringify(va) === JSON.stringify(vb)) continue;
      const isList = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
      if (isList(va) && isList(vb) && va.length === vb.length) {
        const at = va.flatMap((x, j) => (x !== vb[j] ? [j] : []));
        if (at.every((j) => va[j] === a.batch && vb[j] === b.batch)) {
          if (!dims.has(i)) dims.set(i, new Map());
          dims.get(i)!.set(key, at);
          continue;
        }
      }
      throw new ExportError(
        `export: attribute '${key}' of ${where(ka, i)} is ${JSON.stringify(va)} at batch ${a.batch} and ${JSON.stringify(vb)} at batch ${b.batch}: ` +
          `only the batch size itself can vary (write the shape with -1, or derive it from an input)`,
      );
    }
  });
  if (a.consts.length !== b.consts.length) throw new ExportError(`export: the forward pass folds ${a.consts.length} constants at batch ${a.batch} and ${b.consts.length} at batch ${b.batch}`);
  a.consts.forEach((ca, i) => {
    const cb = b.consts[i]!;
    if (ca.dtype !== cb.dtype || ca.shape.join(',') !== cb.shape.join(',')) {
      throw new ExportError(`export: constant ${i + 1} has shape [${ca.shape.join(', ')}] at batch ${a.batch} and [${cb.shape.join(', ')}] at batch ${b.batch}: a value that depends on the batch size must be computed from an input`);
    }
    for (let j = 0; j < ca.values.length; j++) {
      if (ca.values[j] !== cb.values[j] && !(Number.isNaN(ca.values[j]) && Number.isNaN(cb.values[j]))) {
        throw new ExportError(`export: constant ${i + 1} [${ca.shape.join(', ')}] has different values at batch sizes ${a.batch} and ${b.batch}: the forward pass must be deterministic`);
      }
    }
  });
  return dims;
}
