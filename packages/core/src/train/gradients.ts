/**
 * Gradient handling, in one place: what `TrainContext.optimize(name, lossFn, vars)` does for
 * every update of every model. It owns the optimizers a model declares, computes the
 * gradients, their global norm (reported as `grad_norm/<optimizer>`), clips them, and applies
 * the optimizer with its learning-rate schedule. Data-parallel training averages the
 * gradients across workers here, between computing and clipping them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerSpec, StateDict } from '../contracts.js';
import { createOptimizer, lrFactor, type Optimizer } from '../optim.js';

/** Prefix of the step scalars gradient handling adds: `grad_norm/<optimizer>`. */
export const GRAD_NORM_PREFIX = 'grad_norm/';

export interface GradientOptions {
  /** Clip each update's gradients to this global L2 norm (`train.gradClip`). */
  clip?: number;
  /** Report each optimizer's global gradient norm with the step's scalars (`train.logGradNorm`). */
  logNorm: boolean;
}

export class GradientHandler {
  private readonly optimizers = new Map<string, Optimizer>();
  /** Gradient norms of the step being run, per optimizer (kept tensors, read with the losses). */
  private readonly norms = new Map<string, tf.Scalar>();
  /**
   * Data-parallel training (parallel.ts): replaces each update's gradients, in place, by
   * their mean over every replica, before they are measured, clipped and applied.
   */
  reducer?: (grads: tf.NamedTensorMap) => void;

  constructor(
    private readonly specs: readonly OptimizerSpec[],
    private readonly opts: GradientOptions,
  ) {}

  /** (Re)create the declared optimizers, learning rates scaled by `lrScale` (fresh slots). */
  create(lrScale: number): void {
    for (const o of this.optimizers.values()) o.dispose();
    this.optimizers.clear();
    for (const spec of this.specs) {
      this.optimizers.set(spec.name, createOptimizer(lrScale === 1 ? spec.config : { ...spec.config, lr: spec.config.lr * lrScale }));
    }
  }

  /**
   * One update: minimise `lossFn` over `vars` with optimizer `name`, at `step` of `totalSteps`
   * (for the schedule). Returns the loss (kept, not disposed).
   */
  optimize(name: string, lossFn: () => tf.Scalar, vars: tf.Variable[], step: number, totalSteps: number): tf.Scalar {
    const optimizer = this.optimizers.get(name);
    if (!optimizer) throw new Error(`model asked for optimizer '${name}' but declared only: ${[...this.optimizers.keys()].join(', ')}`);
    const { value, grads } = tf.variableGrads(lossFn, vars);
    this.reducer?.(grads);
    const { clip, logNorm } = this.opts;
    const any = Object.keys(grads).length > 0;
    const lr = lrFactor(optimizer.config.schedule, step, totalSteps);
    if (clip !== undefined && any) {
      const norm = globalNorm(grads); // [] ‖g‖₂ over every variable of this update
      clipByGlobalNorm(grads, norm, clip);
      if (logNorm) this.recordNorm(name, norm);
      else norm.dispose();
      optimizer.apply(vars, grads, lr);
    } else {
      // Only reported: the optimizer may sum the squares in its own pass over the gradients
      // (one read of every gradient fewer; the same float32 norm).
      const sums = optimizer.apply(vars, grads, lr, { sumSquares: logNorm && any }) || undefined;
      if (logNorm && any) this.recordNorm(name, sums ? normFromSums(grads, sums) : globalNorm(grads));
      tf.dispose(Object.values(sums ?? {}));
    }
    tf.dispose(grads);
    return value;
  }

  /** Keep an update's gradient norm for the step's scalars; the largest when an optimizer steps twice. */
  private recordNorm(name: string, norm: tf.Scalar): void {
    const prev = this.norms.get(name);
    const next: tf.Scalar = prev ? tf.maximum(prev, norm) : norm;
    // Kept: models may run `optimize` inside their own tidy.
    tf.keep(next);
    prev?.dispose();
    this.norms.set(name, next);
  }

  /** The step's norms as `grad_norm/<optimizer>` scalars (the caller disposes them); cleared. */
  takeNorms(): Record<string, tf.Scalar> {
    const out: Record<string, tf.Scalar> = {};
    for (const [name, norm] of this.norms) out[GRAD_NORM_PREFIX + name] = norm;
    this.norms.clear();
    return out;
  }

  /** Drop the norms of a step that failed. */
  discardNorms(): void {
    tf.dispose([...this.norms.values()]);
    this.norms.clear();
  }

  /** Every optimizer slot, keyed `<prefix><optimizer>/…`. */
  getState(prefix: string): StateDict {
    const state: StateDict = {};
    for (const [name, opt] of this.optimizers) Object.assign(state, opt.getState(prefix + name));
    return state;
  }

  setState(state: StateDict, prefix: string): void {
    for (const [name, opt] of this.optimizers) opt.setState(state, prefix + name);
  }

  dispose(): void {
    for (const o of this.optimizers.values()) o.dispose();
    this.discardNorms();
  }
}

/**
 * `globalNorm` from per-variable sums of squares (an optimizer's, `ApplyOptions`): the same
 * additions in the same order, so the same float32 value; `globalNorm` itself when one is missing.
 */
function normFromSums(grads: tf.NamedTensorMap, sums: Record<string, tf.Scalar>): tf.Scalar {
  const names = Object.keys(grads);
  if (!names.every((n) => sums[n])) return globalNorm(grads);
  return tf.tidy(() => tf.sqrt(tf.addN(names.map((n) => sums[n]!))) as tf.Scalar);
}

/** The global L2 norm of a set of gradients: ‖g‖ = √(Σ_v Σ_i g_{v,i}²), a float32 scalar. */
export function globalNorm(grads: tf.NamedTensorMap): tf.Scalar {
  // Σ g² as the dot product gᵀg: one matmul kernel per variable instead of square + sum (two
  // passes and a temporary), and a BLAS dot where the native matmul is installed.
  const sq = (g: tf.Tensor) => tf.matMul(tf.reshape(g, [1, g.size]), tf.reshape(g, [g.size, 1]));
  return tf.tidy(() => tf.sqrt(tf.reshape(tf.addN(Object.values(grads).map(sq)), [])) as tf.Scalar);
}

/**
 * Scale `grads` in place so their global L2 norm is at most `maxNorm` (Pascanu et al. 2013):
 * g ← g · maxNorm/‖g‖ when ‖g‖ > maxNorm, else g unchanged (also when ‖g‖ is NaN). Computed
 * on the device from the `norm` tensor (no read): g·1 is g exactly, and for a `maxNorm`
 * representable in float32 (1, 0.5, 10, …) the scale equals the host's float64 quotient
 * rounded to float32, so results are those of the former host-side version.
 */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, norm: tf.Scalar, maxNorm: number): void {
  const scale = tf.tidy(() => tf.where(tf.greater(norm, maxNorm), tf.div(maxNorm, norm), tf.onesLike(norm)));
  for (const n of Object.keys(grads)) {
    const old = grads[n]!;
    grads[n] = tf.mul(old, scale);
    old.dispose();
  }
  scale.dispose();
}
