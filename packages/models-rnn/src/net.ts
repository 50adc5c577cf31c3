/**
 * The Row LSTM network of PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016, §3.1),
 * for binary H×W×1 images, written with tfjs-core ops on plain variables.
 *
 * Each of the `L` layers processes the image row by row. For row i of layer l:
 *
 *     a_is[i] = K_is ⊛ input[i] + b  (+ e_l[y] when class-conditional)     [B, W, G]
 *     a_ss[i] = K_ss ⊛ h[i-1]                                               [B, W, G]
 *     (h[i], c[i]) = cell(a_is[i], a_ss[i], h[i-1], c[i-1])                 [B, W, hidden]
 *
 * with G = 4·hidden gates for the LSTM (i, f, o, g) and 3·hidden for the GRU (z, r, n).
 * `K_ss` is a 1-D convolution of width 3 over the previous row's hidden state ('same'
 * padding); `K_is` a masked 1-D convolution of width k along the current row. Masks are
 * made by construction, not by multiplying a kernel with zeros: the kernel *only has*
 * the allowed taps, and the row is shifted by left-padding:
 *
 *   - mask A (layer 0, on the pixels): taps at columns j-k … j-1, so the features at
 *     (i, j) never see pixel (i, j) or anything after it. Layer 0 also reads the pixels
 *     (i-1, j-1 … j+1) of the row above (`K_up`, all earlier in raster order): PixelRNN
 *     starts with a masked 7×7 convolution (mask A) for this; here it is two rows high
 *     and folded into the first layer. Without it no feature would ever see the last
 *     column (mask A reads column j-1 at best, and the row above only through h[i-1]).
 *   - mask B (layers 1…L-1, on the hidden maps of the layer below): taps at j-k+1 … j;
 *     the layer below's (i, j) already excludes pixel (i, j).
 *
 * Layers 1…L-1 add their input to their output (residual connections, §3.4 of the paper).
 * The output head is ReLU → 1×1 conv (`outputHidden`) → ReLU → 1×1 conv → one Bernoulli
 * logit per pixel (a linear 1×1 conv of the last hidden map when `outputHidden` is 0).
 *
 * Receptive field (the Row LSTM's is triangular and misses part of the causal context):
 * with R = k + (L-1)(k-1), the logit of pixel (i, j) depends on pixel (i-d, j') exactly for
 *
 *     d = 0:  j-R ≤ j' ≤ j-1            (the R pixels to its left)
 *     d ≥ 1:  j-R-d ≤ j' ≤ j+d          (a triangle widening by one column per row up)
 *
 * so e.g. pixel (i-1, j+2) is never seen, nor the end of row i-1 for pixels near the
 * start of row i, and pixels further than R to the left in the current row are seen only
 * through the rows above. The masking test checks this set exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, lstmCell, lstmCellOps } from '@genlab/core';

/** The architecture: sizes come from the config and the data. */
export interface RowLstmSpec {
  height: number;
  width: number;
  /** Hidden (state) channels per layer. */
  hidden: number;
  /** Number of Row LSTM layers, L ≥ 1. */
  layers: number;
  /** Width k of the masked input-to-state convolution. */
  kernel: number;
  cell: 'lstm' | 'gru';
  /** Channels of the hidden 1×1 conv of the output head; 0: a single linear 1×1 conv. */
  outputHidden: number;
  /** Classes of the label embedding; 0: unconditional. */
  numClasses: number;
}

/** Width of the state-to-state convolution and of layer 0's taps on the row above (as in the paper). */
export const STATE_KERNEL = 3;

/** One layer's state for one row: h and c, each [n, W, hidden] (GRU: c is h). */
export type RowState = {
  h: tf.Tensor3D;
  c: tf.Tensor3D;
};

/** One layer's variables. */
interface LayerVars {
  /** Input-to-state taps [k, C_in, G]: tap t reads column j-k+t (mask A) or j-k+1+t (mask B). */
  isKernel: tf.Variable;
  /** [G] */
  isBias: tf.Variable;
  /** Layer 0 only: taps [3, 1, G] on the pixels of the row above, columns j-1, j, j+1. */
  upKernel?: tf.Variable;
  /** State-to-state kernel [3, hidden, G] over columns j-1, j, j+1 of the previous row. */
  ssKernel: tf.Variable;
  /** Class embedding [numClasses, G], added to the input-to-state term. */
  embedding?: tf.Variable;
}

function glorot(shape: number[], fanIn: number, fanOut: number, seed: number): tf.Variable {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return tf.tidy(() => tf.variable(tf.randomUniform(shape, -limit, limit, 'float32', seed)));
}

/** The Row LSTM's variables and its two ways of computing logits (whole image, or pixel by pixel). */
export class RowLstmNet {
  readonly gates: number;
  private readonly layerVars: LayerVars[] = [];
  private readonly head: { w1?: tf.Variable; b1?: tf.Variable; w: tf.Variable; b: tf.Variable };

  constructor(
    readonly spec: RowLstmSpec,
    seed: number,
  ) {
    const { hidden, layers, kernel, cell, outputHidden, numClasses } = spec;
    const G = (this.gates = (cell === 'lstm' ? 4 : 3) * hidden);
    for (let l = 0; l < layers; l++) {
      const cin = l === 0 ? 1 : hidden;
      // LSTM: forget-gate bias 1 (Jozefowicz et al. 2015), so rows start by remembering.
      const bias = new Float32Array(G);
      if (cell === 'lstm') bias.fill(1, hidden, 2 * hidden);
      this.layerVars.push({
        isKernel: glorot([kernel, cin, G], kernel * cin, G, deriveSeed(seed, l, 1)),
        isBias: tf.variable(tf.tensor1d(bias)),
        ...(l === 0 ? { upKernel: glorot([STATE_KERNEL, 1, G], STATE_KERNEL, G, deriveSeed(seed, l, 3)) } : {}),
        ssKernel: glorot([STATE_KERNEL, hidden, G], STATE_KERNEL * hidden, G, deriveSeed(seed, l, 2)),
        ...(numClasses > 0 ? { embedding: tf.variable(tf.zeros([numClasses, G])) } : {}),
      });
    }
    const last = outputHidden > 0 ? outputHidden : hidden;
    this.head = {
      ...(outputHidden > 0
        ? { w1: glorot([hidden, outputHidden], hidden, outputHidden, deriveSeed(seed, layers, 1)), b1: tf.variable(tf.zeros([outputHidden])) }
        : {}),
      w: glorot([last, 1], last, 1, deriveSeed(seed, layers, 2)),
      b: tf.variable(tf.zeros([1])),
    };
  }

  /** Every variable with a stable name, in a fixed order (the optimizer keys slots by position). */
  named(): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [];
    this.layerVars.forEach((v, l) => {
      out.push([`layer${l}/is_kernel`, v.isKernel], [`layer${l}/is_bias`, v.isBias]);
      if (v.upKernel) out.push([`layer${l}/up_kernel`, v.upKernel]);
      out.push([`layer${l}/ss_kernel`, v.ssKernel]);
      if (v.embedding) out.push([`layer${l}/embedding`, v.embedding]);
    });
    if (this.head.w1) out.push(['head/w1', this.head.w1], ['head/b1', this.head.b1!]);
    out.push(['head/w', this.head.w], ['head/b', this.head.b]);
    return out;
  }

  /** How far layer l's input taps are shifted left: 1 for mask A (layer 0), 0 for mask B. */
  private shift(l: number): number {
    return l === 0 ? 1 : 0;
  }

  /** The first input column of layer l's window for output column j: j-(k-1)-shift. */
  windowStart(l: number, j: number): number {
    return j - (this.spec.kernel - 1) - this.shift(l);
  }

  // ------------------------------------------------------------ shared pieces

  /**
   * One step of the recurrent cell, elementwise over [..., hidden] (any leading shape).
   * LSTM: i, f, o = σ(·), g = tanh(·) of a_is + a_ss; c = f·c' + i·g; h = o·tanh(c).
   * GRU (gates z, r, n): z, r = σ(a_is + a_ss); n = tanh(a_is,n + r·a_ss,n); h = (1-z)·n + z·h'.
   */
  cell(aIs: tf.Tensor, aSs: tf.Tensor, hPrev: tf.Tensor, cPrev: tf.Tensor, opts: { fused?: boolean } = {}): { h: tf.Tensor; c: tf.Tensor } {
    const axis = aIs.rank - 1;
    // The LSTM as core's one op where the backend has its fused kernels (`fused`: the
    // whole-image pass; the one-row pass is what graph export traces, so it keeps tfjs ops).
    if (this.spec.cell === 'lstm') return opts.fused ? lstmCell(aIs, aSs, cPrev) : lstmCellOps(aIs, aSs, cPrev);
    const [xz, xr, xn] = tf.split(aIs, 3, axis) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const [hz, hr, hn] = tf.split(aSs, 3, axis) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const z = tf.sigmoid(tf.add(xz, hz));
    const r = tf.sigmoid(tf.add(xr, hr));
    const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
    const h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, hPrev));
    return { h, c: h };
  }

  /** a_ss = K_ss ⊛ h[i-1]: [n, W, hidden] → [n, W, G]. */
  stateToState(l: number, hPrev: tf.Tensor3D): tf.Tensor3D {
    return tf.conv1d(hPrev, this.layerVars[l]!.ssKernel as tf.Tensor3D, 1, 'same');
  }

  /** Layer 0's term from the pixels of the row above: K_up ⊛ x[i-1], [n, W, 1] → [n, W, G]. */
  fromRowAbove(pixelsAbove: tf.Tensor3D): tf.Tensor3D {
    return tf.conv1d(pixelsAbove, this.layerVars[0]!.upKernel as tf.Tensor3D, 1, 'same');
  }

  /** The class term of layer l, [n, G], or undefined for an unconditional model. */
  classTerm(l: number, labels: tf.Tensor1D | undefined): tf.Tensor2D | undefined {
    const e = this.layerVars[l]!.embedding;
    // Rows by one-hot matmul, not gather: gather's gradient (UnsortedSegmentSum) has no wasm kernel.
    return e && labels ? (tf.matMul(tf.cast(tf.oneHot(labels, this.spec.numClasses), 'float32') as tf.Tensor2D, e as tf.Tensor2D) as tf.Tensor2D) : undefined;
  }

  /** The output head on hidden features [..., hidden] → logits [..., 1]. */
  logitsOf(h: tf.Tensor): tf.Tensor {
    const shape = h.shape;
    let z = tf.reshape(h, [-1, this.spec.hidden]) as tf.Tensor2D;
    if (this.head.w1) z = tf.relu(tf.add(tf.matMul(tf.relu(z), this.head.w1 as tf.Tensor2D), this.head.b1!)) as tf.Tensor2D;
    const out = tf.add(tf.matMul(z, this.head.w as tf.Tensor2D), this.head.b);
    return tf.reshape(out, [...shape.slice(0, -1), 1]);
  }

  // ------------------------------------------------------------ whole image (training, evaluation)

  /**
   * Logits of every pixel given all the pixels before it (teacher forcing), in one pass:
   * x01 [B, H, W, 1] in {0, 1}, labels [B] (conditional models) → logits [B, H, W, 1].
   *
   * Row by row, and within a row layer by layer: every tensor in the loop is one row
   * ([B, W, ·]), so no step slices a whole-image feature map (on the wasm backend a slice
   * copies its entire input).
   */
  logits(x01: tf.Tensor4D, labels?: tf.Tensor1D): tf.Tensor4D {
    const { height: H, width: W, layers, kernel: k } = this.spec;
    const B = x01.shape[0];
    const pixelRows = tf.unstack(x01, 1) as tf.Tensor3D[]; // H × [B, W, 1]
    // Mask A, by construction: pad k zeros on the left of every row and drop the last
    // column, so a 'valid' conv's output j reads pixels j-k … j-1.          H × [B, W+k-1, 1]
    const shiftedRows = tf.unstack(tf.slice(tf.pad(x01, [[0, 0], [0, 0], [k, 0], [0, 0]]), [0, 0, 0, 0], [B, H, W + k - 1, 1]), 1) as tf.Tensor3D[];
    const filters = this.layerVars.map((v) => v.isKernel as tf.Tensor3D); // [k, C_in, G]
    const cls = this.layerVars.map((_, l) => this.classTerm(l, labels));
    let state: RowState[] = this.zeroState(B);
    const rows: tf.Tensor3D[] = [];
    for (let i = 0; i < H; i++) {
      let input: tf.Tensor3D | undefined; // the layer below's output row [B, W, hidden]
      const next: RowState[] = [];
      for (let l = 0; l < layers; l++) {
        const v = this.layerVars[l]!;
        // 1. Input-to-state: masked 1-D conv along the row. Mask B: pad k-1 zeros on the
        //    left, so output j reads the layer below at j-k+1 … j.              [B, W, G]
        const padded = l === 0 ? shiftedRows[i]! : k > 1 ? tf.pad(input!, [[0, 0], [k - 1, 0], [0, 0]]) : input!;
        let aIs = tf.add(tf.conv1d(padded, filters[l]!, 1, 'valid'), v.isBias) as tf.Tensor3D;
        if (l === 0 && i > 0) aIs = tf.add(aIs, this.fromRowAbove(pixelRows[i - 1]!));
        if (cls[l]) aIs = tf.add(aIs, tf.reshape(cls[l]!, [B, 1, this.gates]));
        // 2. State-to-state: width-3 conv over the previous row's hidden state.  [B, W, G]
        const aSs = i === 0 ? tf.zerosLike(aIs) : this.stateToState(l, state[l]!.h);
        const { h, c } = this.cell(aIs, aSs, state[l]!.h, state[l]!.c, { fused: true }) as RowState;
        next.push({ h, c });
        // 3. Residual connection from the layer below (same width).
        input = l === 0 ? h : (tf.add(h, input!) as tf.Tensor3D);
      }
      state = next;
      // 4. The output head, per row (stacking [B, W, 1] logits is cheaper to undo in the
      //    backward pass than stacking [B, W, hidden] features).
      rows.push(this.logitsOf(input!) as tf.Tensor3D);
    }
    return tf.stack(rows, 1) as tf.Tensor4D; // [B, H, W, 1]
  }

  // ------------------------------------------------------------ one pixel at a time (sampling)

  /**
   * One row of the whole-image pass, as a function of its inputs (what an exported sampler
   * runs once per pixel): the states of the row above (zeros above the first row), the pixels
   * of the row above `above` [B, W, 1] and of this row `row` [B, W, 1] (columns not yet
   * drawn are zeros: the logit of column j reads only columns before j) → the row's logits
   * [B, W, 1] and its states. Computes what `logits` computes for a row i > 0; for the first
   * row the terms from above are exact zeros.
   */
  rowForward(prev: RowState[], above: tf.Tensor3D, row: tf.Tensor3D, labels?: tf.Tensor1D): { logits: tf.Tensor3D; states: RowState[] } {
    const { width: W, layers, kernel: k } = this.spec;
    const shifted = tf.slice(tf.pad(row, [[0, 0], [k, 0], [0, 0]]), [0, 0, 0], [-1, W + k - 1, 1]) as tf.Tensor3D;
    let input: tf.Tensor3D | undefined;
    const states: RowState[] = [];
    for (let l = 0; l < layers; l++) {
      const v = this.layerVars[l]!;
      const padded = l === 0 ? shifted : k > 1 ? tf.pad(input!, [[0, 0], [k - 1, 0], [0, 0]]) : input!;
      let aIs = tf.add(tf.conv1d(padded, v.isKernel as tf.Tensor3D, 1, 'valid'), v.isBias) as tf.Tensor3D;
      if (l === 0) aIs = tf.add(aIs, this.fromRowAbove(above));
      const cls = this.classTerm(l, labels);
      if (cls) aIs = tf.add(aIs, tf.reshape(cls, [-1, 1, this.gates]));
      const aSs = this.stateToState(l, prev[l]!.h);
      const { h, c } = this.cell(aIs, aSs, prev[l]!.h, prev[l]!.c) as RowState;
      states.push({ h, c });
      input = l === 0 ? h : (tf.add(h, input!) as tf.Tensor3D);
    }
    return { logits: this.logitsOf(input!) as tf.Tensor3D, states };
  }

  /** Zero states for the row above the first. */
  zeroState(n: number): RowState[] {
    const { width: W, hidden, layers } = this.spec;
    return Array.from({ length: layers }, () => {
      const h = tf.zeros([n, W, hidden]) as tf.Tensor3D;
      return { h, c: h };
    });
  }

  /**
   * Incremental evaluation of one row, column by column: `pixel(j)` returns the logit [n]
   * of pixel (i, j) from the row above (`prev` states and `pixelsAbove` [n, W, 1]; zeros
   * above the first row) and the pixels of this row given so far with `put(j, x)`; `end()`
   * returns the row's states. It never looks at a column it has not been given: the
   * input-to-state terms are dot products with explicit windows of earlier columns, one
   * new column per layer per pixel.
   */
  row(prev: RowState[], pixelsAbove: tf.Tensor3D, labels?: tf.Tensor1D): RowCursor {
    return new RowCursor(this, this.layerVars, prev, pixelsAbove, labels);
  }
}

/**
 * The state of one row being generated. Column tensors are kept in JS arrays (one [n, C]
 * tensor per column and level); they live in the caller's `tf.tidy` scope, so wrap each
 * row in one.
 */
export class RowCursor {
  /** levels[0]: the pixels [n, 1]; levels[l+1]: layer l's output [n, hidden] (after the residual). */
  private readonly levels: tf.Tensor2D[][];
  private readonly hs: tf.Tensor2D[][];
  private readonly cs: tf.Tensor2D[][];
  /** Per layer and column: a_ss [n, G] and the previous row's h and c [n, hidden]. */
  private readonly ss: tf.Tensor2D[][];
  private readonly hPrev: tf.Tensor2D[][];
  private readonly cPrev: tf.Tensor2D[][];
  /** Per column: layer 0's term from the pixels above [n, G]. */
  private readonly up: tf.Tensor2D[];
  private readonly cls: (tf.Tensor2D | undefined)[];
  private readonly n: number;

  constructor(
    private readonly net: RowLstmNet,
    private readonly vars: LayerVars[],
    prev: RowState[],
    pixelsAbove: tf.Tensor3D,
    labels: tf.Tensor1D | undefined,
  ) {
    const { layers } = net.spec;
    this.n = prev[0]!.h.shape[0];
    this.levels = Array.from({ length: layers + 1 }, () => []);
    this.hs = Array.from({ length: layers }, () => []);
    this.cs = Array.from({ length: layers }, () => []);
    // Everything that depends only on the row above: once per row.
    this.ss = prev.map((p, l) => tf.unstack(net.stateToState(l, p.h), 1) as tf.Tensor2D[]);
    this.hPrev = prev.map((p) => tf.unstack(p.h, 1) as tf.Tensor2D[]);
    this.cPrev = prev.map((p) => tf.unstack(p.c, 1) as tf.Tensor2D[]);
    this.up = tf.unstack(net.fromRowAbove(pixelsAbove), 1) as tf.Tensor2D[];
    this.cls = prev.map((_, l) => net.classTerm(l, labels));
  }

  /**
   * Layer l's input window for column j, [n, k·C_in], tap-major (zeros left of the image).
   * `current` is the layer below's column j, computed in this same pixel step (mask B).
   */
  private window(l: number, j: number, current: tf.Tensor2D | undefined): tf.Tensor2D {
    const { kernel: k, hidden } = this.net.spec;
    const cin = l === 0 ? 1 : hidden;
    const start = this.net.windowStart(l, j);
    const cols: tf.Tensor2D[] = [];
    for (let t = 0; t < k; t++) {
      const col = start + t;
      const have = col === j && current ? current : this.levels[l]![col];
      if (col >= 0 && !have) throw new Error(`row cursor: layer ${l} at column ${j} needs input column ${col}, which is not given yet`);
      cols.push(col < 0 ? tf.zeros([this.n, cin]) : have!);
    }
    return tf.concat(cols, 1);
  }

  /**
   * The logit [n] of pixel (i, j); columns < j must have been `put`. Its temporaries are
   * freed at once; the new columns (h, c and the layer outputs at j) live in the caller's
   * scope.
   */
  pixel(j: number): tf.Tensor1D {
    const { layers, kernel: k, hidden } = this.net.spec;
    const out = tf.tidy(() => {
      const hs: tf.Tensor2D[] = [];
      const cs: tf.Tensor2D[] = [];
      const level: tf.Tensor2D[] = [];
      for (let l = 0; l < layers; l++) {
        const v = this.vars[l]!;
        // a_is(j) = Σ_t K_is[t] · input[column start+t] + b: a dot product with the window.
        const w = tf.reshape(v.isKernel, [k * (l === 0 ? 1 : hidden), this.net.gates]) as tf.Tensor2D;
        let aIs = tf.add(tf.matMul(this.window(l, j, level[l - 1]), w), v.isBias) as tf.Tensor2D; // [n, G]
        if (l === 0) aIs = tf.add(aIs, this.up[j]!);
        const cls = this.cls[l];
        if (cls) aIs = tf.add(aIs, cls);
        const { h, c } = this.net.cell(aIs, this.ss[l]![j]!, this.hPrev[l]![j]!, this.cPrev[l]![j]!);
        hs.push(h as tf.Tensor2D);
        cs.push(c as tf.Tensor2D);
        level.push((l === 0 ? h : tf.add(h, level[l - 1]!)) as tf.Tensor2D);
      }
      const logit = tf.reshape(this.net.logitsOf(level[layers - 1]!), [this.n]) as tf.Tensor1D;
      return { logit, hs, cs, level };
    });
    for (let l = 0; l < layers; l++) {
      this.hs[l]![j] = out.hs[l]!;
      this.cs[l]![j] = out.cs[l]!;
      this.levels[l + 1]![j] = out.level[l]!;
    }
    return out.logit;
  }

  /** Give pixel (i, j) its value x [n] in {0, 1}. */
  put(j: number, x: tf.Tensor1D): void {
    this.levels[0]![j] = tf.reshape(x, [this.n, 1]);
  }

  /** The states of the finished row, [n, W, hidden] per layer. */
  end(): RowState[] {
    const W = this.net.spec.width;
    return this.hs.map((hs, l) => {
      if (hs.length !== W) throw new Error(`row cursor: the row ended after ${hs.length} of ${W} columns`);
      const h = tf.stack(hs, 1) as tf.Tensor3D;
      return { h, c: this.net.spec.cell === 'lstm' ? (tf.stack(this.cs[l]!, 1) as tf.Tensor3D) : h };
    });
  }
}
