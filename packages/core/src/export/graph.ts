/**
 * A traced forward pass (trace.ts) written as a TensorFlow GraphDef in the JSON form that
 * tfjs-converter writes and `tf.loadGraphModel` reads: `Placeholder` nodes for the inputs,
 * `Const` nodes for every folded value (their data in the weights manifest), one TF op per
 * traced kernel, and an `Identity` node per named output.
 *
 * The mapping from tfjs kernels to TF ops follows tfjs-converter's own op list
 * (`operations/op_list/*.json` in @tensorflow/tfjs-converter 4.22), read in the other
 * direction; a kernel without a mapping here is refused by name.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { batchDependence, ExportError, traceOnce, type BatchDims, type ExportGraph, type Trace, type TracedKernel } from './trace.js';

/** An attribute value as GraphDef JSON writes it. */
type AttrValue = Record<string, unknown>;

/** One node of the graph. */
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

/** One weight's entry in the manifest, with its values. */
export interface GraphWeight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  values: Float32Array | Int32Array | Uint8Array;
}

/** A graph model before it is written to files. */
export interface GraphModelParts {
  /** The `modelTopology` of model.json (a GraphDef). */
  topology: { node: GraphNode[]; library: Record<string, never>; versions: { producer: number } };
  weights: GraphWeight[];
  /** The `signature` of model.json: input and output names, dtypes and shapes (-1: the batch). */
  signature: { inputs: Record<string, TensorInfo>; outputs: Record<string, TensorInfo> };
}

interface TensorInfo {
  name: string;
  dtype: string;
  tensorShape: { dim: { size: string }[] };
}

const DT: Record<string, string> = { float32: 'DT_FLOAT', int32: 'DT_INT32', bool: 'DT_BOOL' };

function dtypeOf(d: tf.DataType): string {
  const t = DT[d];
  if (!t) throw new ExportError(`export: tensors of dtype ${d} cannot be written to a graph model`);
  return t;
}

const A = {
  int: (n: number): AttrValue => ({ i: String(n) }),
  float: (f: number): AttrValue => ({ f }),
  bool: (b: boolean): AttrValue => ({ b }),
  type: (d: tf.DataType): AttrValue => ({ type: dtypeOf(d) }),
  str: (s: string): AttrValue => ({ s: Buffer.from(s, 'utf8').toString('base64') }),
  ints: (xs: number[]): AttrValue => ({ list: { i: xs.map(String) } }),
  shape: (dims: number[]): AttrValue => ({ shape: { dim: dims.map((d) => ({ size: String(d) })) } }),
};

/** tfjs kernels that are one TF op of the same arity, by kernel name → TF op. */
const BINARY: Record<string, string> = {
  Add: 'AddV2',
  Sub: 'Sub',
  Multiply: 'Mul',
  RealDiv: 'RealDiv',
  Maximum: 'Maximum',
  Minimum: 'Minimum',
  Pow: 'Pow',
  SquaredDifference: 'SquaredDifference',
  FloorDiv: 'FloorDiv',
  Less: 'Less',
  LessEqual: 'LessEqual',
  Greater: 'Greater',
  GreaterEqual: 'GreaterEqual',
  Equal: 'Equal',
  NotEqual: 'NotEqual',
  LogicalAnd: 'LogicalAnd',
  LogicalOr: 'LogicalOr',
  Prelu: 'Prelu',
};
const UNARY = new Set([
  'Abs', 'Ceil', 'Cos', 'Elu', 'Erf', 'Exp', 'Expm1', 'Floor', 'Identity', 'Log', 'Log1p', 'LogicalNot', 'Neg', 'Reciprocal', 'Relu', 'Relu6',
  'Round', 'Rsqrt', 'Selu', 'Sigmoid', 'Sign', 'Sin', 'Softplus', 'Sqrt', 'Square', 'Tanh', 'ZerosLike', 'OnesLike', 'IsNan',
]);

/** Builds the node list and the weights. */
class Builder {
  readonly nodes: GraphNode[] = [];
  readonly weights: GraphWeight[] = [];
  private batchVec?: string;
  private readonly names = new Set<string>();

  constructor(private readonly firstInput: string) {}

  private unique(name: string): string {
    let n = name;
    for (let k = 1; this.names.has(n); k++) n = `${name}_${k}`;
    this.names.add(n);
    return n;
  }

  node(name: string, op: string, input: string[], attr: Record<string, AttrValue> = {}): string {
    const n = this.unique(name);
    this.nodes.push({ name: n, op, input, attr });
    return n;
  }

  constant(name: string, values: Float32Array | Int32Array | Uint8Array, shape: number[], dtype: 'float32' | 'int32' | 'bool'): string {
    const n = this.unique(name);
    this.weights.push({ name: n, shape, dtype, values });
    this.nodes.push({ name: n, op: 'Const', attr: { value: { tensor: { dtype: dtypeOf(dtype), tensorShape: { dim: shape.map((d) => ({ size: String(d) })) } } }, dtype: A.type(dtype) } });
    return n;
  }

  ints(name: string, xs: number[], scalar = false): string {
    return this.constant(name, Int32Array.from(xs), scalar ? [] : [xs.length], 'int32');
  }

  scalar(name: string, x: number, dtype: tf.DataType): string {
    return dtype === 'int32' ? this.ints(name, [x], true) : this.constant(name, Float32Array.of(x), [], 'float32');
  }

  /** The batch size as an int32 [1], from the shape of the first input (made once). */
  batch(): string {
    if (!this.batchVec) {
      const shape = this.node('batch/shape', 'Shape', [this.firstInput], { T: A.type('float32'), out_type: A.type('int32') });
      this.batchVec = this.node('batch/size', 'StridedSlice', [shape, this.ints('batch/begin', [0]), this.ints('batch/end', [1]), this.ints('batch/strides', [1])], {
        Index: A.type('int32'),
        T: A.type('int32'),
        begin_mask: A.int(0),
        end_mask: A.int(0),
        ellipsis_mask: A.int(0),
        new_axis_mask: A.int(0),
        shrink_axis_mask: A.int(0),
      });
    }
    return this.batchVec;
  }

  /** An int32 list input; the batch size (taken from the first input) at positions `batchAt`. */
  shapeInput(name: string, xs: number[], batchAt: number[] | undefined): string {
    if (!batchAt?.length) return this.ints(name, xs);
    if (xs.length === 1) return this.batch();
    const pieces: string[] = [];
    let run: number[] = [];
    xs.forEach((x, j) => {
      if (!batchAt.includes(j)) return run.push(x);
      if (run.length) pieces.push(this.ints(`${name}/part`, run));
      run = [];
      pieces.push(this.batch());
    });
    if (run.length) pieces.push(this.ints(`${name}/part`, run));
    return this.node(`${name}/dynamic`, 'ConcatV2', [...pieces, this.ints(`${name}/axis`, [0], true)], { N: A.int(pieces.length), T: A.type('int32'), Tidx: A.type('int32') });
  }
}

const list = (v: unknown, rank: number, fill: number): number[] => {
  if (typeof v === 'number') return [v, ...Array<number>(Math.max(0, rank - 1)).fill(fill)];
  const xs = [...(v as number[])];
  while (xs.length < rank) xs.push(fill);
  return xs;
};
const pair = (v: unknown): [number, number] => (typeof v === 'number' ? [v, v] : [(v as number[])[0]!, (v as number[])[1]!]);
const axes = (v: unknown, rank: number): number[] => (v === undefined || v === null ? Array.from({ length: rank }, (_, i) => i) : typeof v === 'number' ? [v] : [...(v as number[])]);

function padding(k: TracedKernel): string {
  const pad = k.attrs.pad;
  if (pad === 'same' || pad === 'valid') return pad.toUpperCase();
  throw new ExportError(`export: ${k.kernel} with padding ${JSON.stringify(pad)} (only 'same' and 'valid' can be written)`);
}

/**
 * Emit one traced kernel. `input(key)` names the tensor behind one of its inputs; returns
 * the names of its outputs.
 */
function emit(b: Builder, k: TracedKernel, index: number, input: (key: string) => string, dynamic: (attr: string) => number[] | undefined): string[] {
  // Internal names have a '/', so they never meet an input's or output's name.
  const name = `op/${k.kernel}_${index}`;
  const dtype = k.outputs[0]!.dtype;
  const T = A.type(k.inputDtypes[k.inputOrder[0]!] ?? dtype);
  const rankOf = (key: string) => k.inputShapes[key]!.length;
  const binary = BINARY[k.kernel];
  if (binary) return [b.node(name, binary, [input(k.inputOrder[0]!), input(k.inputOrder[1]!)], { T })];
  if (UNARY.has(k.kernel)) return [b.node(name, k.kernel, [input(k.inputOrder[0]!)], { T })];
  switch (k.kernel) {
    case 'LeakyRelu':
      return [b.node(name, 'LeakyRelu', [input('x')], { T, alpha: A.float(k.attrs.alpha as number) })];
    case 'Cast':
      return [b.node(name, 'Cast', [input('x')], { DstT: A.type(k.attrs.dtype as tf.DataType) })];
    case 'Reshape':
      return [b.node(name, 'Reshape', [input('x'), b.shapeInput(`${name}/shape`, k.attrs.shape as number[], dynamic('shape'))], { T })];
    case 'BatchMatMul':
      return [b.node(name, 'BatchMatMulV2', [input('a'), input('b')], { T, adj_x: A.bool(Boolean(k.attrs.transposeA)), adj_y: A.bool(Boolean(k.attrs.transposeB)) })];
    case 'Conv2D': {
      if ((k.attrs.dataFormat ?? 'NHWC') !== 'NHWC' || k.attrs.dimRoundingMode) throw new ExportError(`export: ${k.kernel} with data format ${String(k.attrs.dataFormat)} or a rounding mode`);
      const [sh, sw] = pair(k.attrs.strides);
      const [dh, dw] = pair(k.attrs.dilations ?? 1);
      return [b.node(name, 'Conv2D', [input('x'), input('filter')], { T, strides: A.ints([1, sh, sw, 1]), padding: A.str(padding(k)), data_format: A.str('NHWC'), dilations: A.ints([1, dh, dw, 1]) })];
    }
    case '_FusedMatMul': {
      // Written as its parts (matmul, bias, activation): tfjs-converter's _FusedMatMul expects TF's fused_ops encoding.
      const mm = b.node(name, 'BatchMatMulV2', [input('a'), input('b')], { T, adj_x: A.bool(Boolean(k.attrs.transposeA)), adj_y: A.bool(Boolean(k.attrs.transposeB)) });
      return [fusedTail(b, k, name, mm, input)];
    }
    case 'FusedConv2D': {
      if ((k.attrs.dataFormat ?? 'NHWC') !== 'NHWC' || k.attrs.dimRoundingMode) throw new ExportError(`export: ${k.kernel} with data format ${String(k.attrs.dataFormat)} or a rounding mode`);
      const [sh, sw] = pair(k.attrs.strides);
      const [dh, dw] = pair(k.attrs.dilations ?? 1);
      const conv = b.node(name, 'Conv2D', [input('x'), input('filter')], { T, strides: A.ints([1, sh, sw, 1]), padding: A.str(padding(k)), data_format: A.str('NHWC'), dilations: A.ints([1, dh, dw, 1]) });
      return [fusedTail(b, k, name, conv, input)];
    }
    case 'Conv2DBackpropInput': {
      if ((k.attrs.dataFormat ?? 'NHWC') !== 'NHWC' || k.attrs.dimRoundingMode) throw new ExportError(`export: ${k.kernel} with data format ${String(k.attrs.dataFormat)} or a rounding mode`);
      const [sh, sw] = pair(k.attrs.strides);
      const sizes = b.shapeInput(`${name}/input_sizes`, k.attrs.inputShape as number[], dynamic('inputShape'));
      return [b.node(name, 'Conv2DBackpropInput', [sizes, input('filter'), input('dy')], { T, strides: A.ints([1, sh, sw, 1]), padding: A.str(padding(k)), data_format: A.str('NHWC') })];
    }
    case 'Concat': {
      const rank = rankOf(k.inputOrder[0]!);
      const axis = (k.attrs.axis as number) < 0 ? (k.attrs.axis as number) + rank : (k.attrs.axis as number);
      return [b.node(name, 'ConcatV2', [...k.inputOrder.map(input), b.ints(`${name}/axis`, [axis], true)], { T, N: A.int(k.inputOrder.length), Tidx: A.type('int32') })];
    }
    case 'Pack':
      return [b.node(name, 'Pack', k.inputOrder.map(input), { T, N: A.int(k.inputOrder.length), axis: A.int(k.attrs.axis as number) })];
    case 'Unpack': {
      const rank = rankOf('value');
      const axis = (k.attrs.axis as number) < 0 ? (k.attrs.axis as number) + rank : (k.attrs.axis as number);
      const n = b.node(name, 'Unpack', [input('value')], { T, axis: A.int(axis), num: A.int(k.outputs.length) });
      return k.outputs.map((_, i) => (i === 0 ? n : `${n}:${i}`));
    }
    case 'SplitV': {
      const rank = rankOf('x');
      const axis = (k.attrs.axis as number) < 0 ? (k.attrs.axis as number) + rank : (k.attrs.axis as number);
      const sizes = k.outputs.map((o) => o.shape[axis]!);
      const n = b.node(name, 'SplitV', [input('x'), b.ints(`${name}/sizes`, sizes), b.ints(`${name}/axis`, [axis], true)], { T, num_split: A.int(sizes.length), Tlen: A.type('int32') });
      return k.outputs.map((_, i) => (i === 0 ? n : `${n}:${i}`));
    }
    case 'Sum':
    case 'Mean':
    case 'Max':
    case 'Min':
    case 'Prod': {
      const rank = rankOf('x');
      const ax = axes(k.kernel === 'Max' ? k.attrs.reductionIndices : k.attrs.axis, rank).map((a) => (a < 0 ? a + rank : a));
      return [b.node(name, k.kernel, [input('x'), b.ints(`${name}/axis`, ax)], { T, keep_dims: A.bool(Boolean(k.attrs.keepDims)), Tidx: A.type('int32') })];
    }
    case 'Softmax': {
      const rank = rankOf('logits');
      const dim = k.attrs.dim as number;
      if (dim !== -1 && dim !== rank - 1) throw new ExportError(`export: Softmax over axis ${dim} (a graph model's Softmax is over the last axis)`);
      return [b.node(name, 'Softmax', [input('logits')], { T })];
    }
    case 'Transpose':
      return [b.node(name, 'Transpose', [input('x'), b.ints(`${name}/perm`, k.attrs.perm as number[])], { T, Tperm: A.type('int32') })];
    case 'Slice': {
      const rank = rankOf('x');
      const begin = list(k.attrs.begin, rank, 0);
      const size = list(k.attrs.size, rank, -1);
      return [b.node(name, 'Slice', [input('x'), b.shapeInput(`${name}/begin`, begin, dynamic('begin')), b.shapeInput(`${name}/size`, size, dynamic('size'))], { T, Index: A.type('int32') })];
    }
    case 'Tile':
      return [b.node(name, 'Tile', [input('x'), b.shapeInput(`${name}/multiples`, k.attrs.reps as number[], dynamic('reps'))], { T, Tmultiples: A.type('int32') })];
    case 'PadV2': {
      const pads = (k.attrs.paddings as [number, number][]).flat();
      const p = b.constant(`${name}/paddings`, Int32Array.from(pads), [pads.length / 2, 2], 'int32');
      return [b.node(name, 'PadV2', [input('x'), p, b.scalar(`${name}/value`, (k.attrs.constantValue as number) ?? 0, dtype)], { T, Tpaddings: A.type('int32') })];
    }
    case 'ClipByValue':
      return [b.node(name, 'ClipByValue', [input('x'), b.scalar(`${name}/min`, k.attrs.clipValueMin as number, dtype), b.scalar(`${name}/max`, k.attrs.clipValueMax as number, dtype)], { T })];
    case 'GatherV2':
      if (k.attrs.batchDims) throw new ExportError('export: GatherV2 with batch dimensions');
      return [b.node(name, 'GatherV2', [input('x'), input('indices'), b.ints(`${name}/axis`, [k.attrs.axis as number], true)], { Tparams: T, Tindices: A.type('int32'), Taxis: A.type('int32'), batch_dims: A.int(0) })];
    case 'Select':
      return [b.node(name, 'SelectV2', [input('condition'), input('t'), input('e')], { T })];
    case 'OneHot': {
      const d = (k.attrs.dtype as tf.DataType) ?? 'int32';
      return [
        b.node(name, 'OneHot', [input('indices'), b.ints(`${name}/depth`, [k.attrs.depth as number], true), b.scalar(`${name}/on`, (k.attrs.onValue as number) ?? 1, d), b.scalar(`${name}/off`, (k.attrs.offValue as number) ?? 0, d)], {
          T: A.type(d),
          TI: A.type('int32'),
          axis: A.int(-1),
        }),
      ];
    }
    case 'StridedSlice': {
      const s = k.attrs as Record<string, number[] | number>;
      return [
        b.node(
          name,
          'StridedSlice',
          [input('x'), b.shapeInput(`${name}/begin`, s.begin as number[], dynamic('begin')), b.shapeInput(`${name}/end`, s.end as number[], dynamic('end')), b.ints(`${name}/strides`, s.strides as number[])],
          {
            T,
            Index: A.type('int32'),
            begin_mask: A.int((s.beginMask as number) ?? 0),
            end_mask: A.int((s.endMask as number) ?? 0),
            ellipsis_mask: A.int((s.ellipsisMask as number) ?? 0),
            new_axis_mask: A.int((s.newAxisMask as number) ?? 0),
            shrink_axis_mask: A.int((s.shrinkAxisMask as number) ?? 0),
          },
        ),
      ];
    }
    default:
      throw new ExportError(`export: the forward pass uses the tfjs kernel '${k.kernel}', which the exporter cannot write as a graph op (see core/src/export/graph.ts)`);
  }
}

/** The bias and activation of a fused kernel, as separate ops after `x`. */
function fusedTail(b: Builder, k: TracedKernel, name: string, x: string, input: (key: string) => string): string {
  const T = A.type(k.outputs[0]!.dtype);
  let y = x;
  if (k.inputOrder.includes('bias')) y = b.node(`${name}/bias`, 'AddV2', [y, input('bias')], { T });
  const act = (k.attrs.activation as string | undefined) ?? 'linear';
  const ops: Record<string, string> = { relu: 'Relu', relu6: 'Relu6', elu: 'Elu', sigmoid: 'Sigmoid' };
  if (act === 'linear') return y;
  if (ops[act]) return b.node(`${name}/act`, ops[act]!, [y], { T });
  if (act === 'leakyrelu') return b.node(`${name}/act`, 'LeakyRelu', [y], { T, alpha: A.float((k.attrs.leakyreluAlpha as number) ?? 0.2) });
  if (act === 'prelu') return b.node(`${name}/act`, 'Prelu', [y, input('preluActivationWeights')], { T });
  throw new ExportError(`export: ${k.kernel} with the fused activation '${act}'`);
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The graph of `trace` (with the batch-dependent attributes `dims`), for `graph`'s inputs and outputs. */
export function toGraphModel(graph: ExportGraph, trace: Trace, dims: BatchDims): GraphModelParts {
  for (const n of [...graph.inputs.map((i) => i.name), ...Object.keys(graph.outputs)]) {
    if (!NAME.test(n)) throw new ExportError(`export: '${n}' is not a valid input or output name (letters, digits and _)`);
  }
  const first = graph.inputs[0];
  if (!first) throw new ExportError('export: a graph needs at least one input');
  const b = new Builder(first.name);
  const info = (name: string, dtype: tf.DataType, shape: number[]): TensorInfo => ({ name: `${name}:0`, dtype: dtypeOf(dtype), tensorShape: { dim: shape.map((d) => ({ size: String(d) })) } });
  const signature: GraphModelParts['signature'] = { inputs: {}, outputs: {} };
  for (const i of graph.inputs) {
    b.node(i.name, 'Placeholder', [], { dtype: A.type(i.dtype), shape: A.shape([-1, ...i.shape]) });
    signature.inputs[i.name] = info(i.name, i.dtype, [-1, ...i.shape]);
  }
  const consts = new Map<number, string>();
  const outNames: string[][] = [];
  const nameOf = (ref: Trace['outputs'][string]): string => {
    if (ref.kind === 'input') return ref.name;
    if (ref.kind === 'node') return outNames[ref.node]![ref.output]!;
    let n = consts.get(ref.index);
    if (!n) {
      const c = trace.consts[ref.index]!;
      n = b.constant(`const/${ref.index}`, c.values, c.shape, c.dtype as 'float32' | 'int32' | 'bool');
      consts.set(ref.index, n);
    }
    return n;
  };
  trace.kernels.forEach((k, i) => {
    outNames.push(emit(b, k, i, (key) => nameOf(k.inputs[key]!), (attr) => dims.get(i)?.get(attr)));
  });
  for (const [name, ref] of Object.entries(trace.outputs)) {
    const src = trace.kernels[(ref as { node: number }).node]!.outputs[(ref as { output: number }).output]!;
    b.node(name, 'Identity', [nameOf(ref)], { T: A.type(src.dtype) });
    signature.outputs[name] = info(name, src.dtype, [-1, ...src.shape.slice(1)]);
  }
  return { topology: { node: b.nodes, library: {}, versions: { producer: 1482 } }, weights: b.weights, signature };
}

/** Batch sizes the forward pass is traced at (two, so a batch-dependent shape can be told apart). */
export const TRACE_BATCHES = [2, 3] as const;

/** Trace `graph` at two batch sizes and write it as a graph model that takes any batch size. */
export function exportGraph(graph: ExportGraph): GraphModelParts {
  const names = [...graph.inputs.map((i) => i.name), ...Object.keys(graph.outputs)];
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new ExportError(`export: the name '${dup}' is used twice among the graph's inputs and outputs`);
  const a = traceOnce(graph, TRACE_BATCHES[0]);
  const b = traceOnce(graph, TRACE_BATCHES[1]);
  return toGraphModel(graph, a, batchDependence(a, b));
}
