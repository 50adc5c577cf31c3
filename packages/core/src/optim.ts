/**
 * Optimizers owned by the trainer.
 *
 * Written here rather than taken from `tf.train` because a checkpoint must restore an
 * optimizer *exactly*: tfjs's Adam recomputes its bias-correction terms with `pow` on
 * restore (not bitwise equal to the running product it keeps while training) and matches
 * its slots to variables by position. These keep every piece of state, and key slots by the
 * position of the variable in the list the model passes to `optimize` (models pass the same
 * list every step; variable *names* are not stable across processes in tfjs-layers), so a
 * resumed run is bitwise identical to an uninterrupted one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { StateDict } from './contracts.js';

/**
 * A learning-rate schedule: the optimizer's `lr` times a factor that is a pure function of
 * (step, total steps), so a resumed run follows the same schedule exactly.
 */
export const scheduleSchema = z
  .object({
    /**
     * `constant`; `linear` decay to `final`·lr at the last step (SNGAN, BigGAN); `cosine` decay
     * to `final`·lr (Loshchilov & Hutter 2017); `step`: × `gamma` every `every` steps.
     */
    type: z.enum(['constant', 'linear', 'cosine', 'step']).default('constant'),
    /** Linear warm-up from lr/warmup over the first `warmup` steps. */
    warmup: z.number().int().min(0).default(0),
    /** Factor reached at the end by `linear` and `cosine`. */
    final: z.number().min(0).max(1).default(0),
    /** `step`: steps between decays. */
    every: z.number().int().positive().default(1000),
    /** `step`: decay factor. */
    gamma: z.number().positive().max(1).default(0.5),
  })
  .strict();
export type ScheduleConfig = z.infer<typeof scheduleSchema>;

/** The learning-rate factor at 0-based `step` of `total` steps. */
export function lrFactor(schedule: ScheduleConfig | undefined, step: number, total: number): number {
  if (!schedule) return 1;
  const progress = total > 1 ? Math.min(1, step / (total - 1)) : 0;
  let f = 1;
  if (schedule.type === 'linear') f = 1 - (1 - schedule.final) * progress;
  else if (schedule.type === 'cosine') f = schedule.final + ((1 - schedule.final) * (1 + Math.cos(Math.PI * progress))) / 2;
  else if (schedule.type === 'step') f = Math.pow(schedule.gamma, Math.floor(step / schedule.every));
  if (schedule.warmup > 0 && step < schedule.warmup) f *= (step + 1) / schedule.warmup;
  return f;
}

/** Optimizer options, shared by every model plugin so configs look the same everywhere. */
export const optimizerSchema = z
  .object({
    /** Algorithm. */
    type: z.enum(['adam', 'sgd']).default('adam'),
    /** Learning rate (> 0). */
    lr: z.number().positive().default(2e-4),
    /** Adam β1. */
    beta1: z.number().min(0).max(1).lt(1).default(0.5),
    /** Adam β2. */
    beta2: z.number().min(0).lt(1).default(0.999),
    /** Adam ε (added to √v̂). */
    eps: z.number().positive().default(1e-8),
    /** SGD momentum. */
    momentum: z.number().min(0).lt(1).default(0),
    /** Learning-rate schedule (constant when unset). */
    schedule: scheduleSchema.optional(),
  })
  .strict();
export type OptimizerConfig = z.infer<typeof optimizerSchema>;

/** What `Optimizer.apply` may compute besides the update. */
export interface ApplyOptions {
  /**
   * Return each gradient's Σ g² (a float32 scalar, keyed by variable name, the caller disposes
   * them), computed in the update's own pass over the gradients and equal, bit for bit, to
   * `globalNorm`'s per-variable dot product; an optimizer that cannot returns undefined and the
   * caller computes them itself.
   */
  sumSquares?: boolean;
}

/** A trainer-owned optimizer: applies gradients and exposes its complete state. */
export interface Optimizer {
  readonly config: OptimizerConfig;
  /**
   * Apply `grads` (keyed by variable name) to `vars` with the learning rate scaled by
   * `lrScale` (the schedule's factor). Does not dispose the gradients. See `ApplyOptions`
   * for the sums of squares it may return.
   */
  apply(vars: tf.Variable[], grads: tf.NamedTensorMap, lrScale?: number, opts?: ApplyOptions): Record<string, tf.Scalar> | undefined | void;
  getState(prefix: string): StateDict;
  setState(state: StateDict, prefix: string): void;
  dispose(): void;
}

/** Build an optimizer from its config. */
export function createOptimizer(config: OptimizerConfig): Optimizer {
  return config.type === 'adam' ? new Adam(config) : new Sgd(config);
}

function readEntry(t: tf.Tensor): StateDict[string] {
  const data = t.dataSync();
  return {
    shape: t.shape.slice(),
    dtype: t.dtype === 'int32' ? 'int32' : 'float32',
    data: t.dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data),
  };
}

function slotName(prefix: string, index: number, slot: string): string {
  return `${prefix}/${index}/${slot}`;
}

/** The slot for the i-th variable, created as zeros on first use; checks a restored slot's shape. */
function slot(map: Map<number, tf.Variable>, i: number, variable: tf.Variable): tf.Variable {
  let s = map.get(i);
  if (!s) {
    s = tf.variable(tf.zerosLike(variable), false);
    map.set(i, s);
  } else if (!tf.util.arraysEqual(s.shape, variable.shape)) {
    throw new Error(
      `optimizer slot ${i} has shape [${s.shape.join(', ')}] but variable '${variable.name}' has [${variable.shape.join(', ')}]: the checkpoint belongs to a different model`,
    );
  }
  return s;
}

/** A slot variable holding a checkpointed array (the temporary tensor is freed by tidy). */
function restoredSlot(entry: StateDict[string]): tf.Variable {
  return tf.tidy(() => tf.variable(tf.tensor(entry.data, entry.shape, entry.dtype), false));
}

/** Parse `<prefix>/<index>/<slot>` keys back into (index, slot). */
function parseSlotKey(key: string, prefix: string): { index: number; slot: string } | undefined {
  if (!key.startsWith(prefix + '/')) return undefined;
  const [index, slotKey, ...rest] = key.slice(prefix.length + 1).split('/');
  if (rest.length || slotKey === undefined || !/^\d+$/.test(index ?? '')) return undefined;
  return { index: Number(index), slot: slotKey };
}

/**
 * A backend may register a one-pass Adam update under this kernel name (@genlab/kernels does
 * on wasm, where the dozen element-wise ops of the composite update were a third of an MLP
 * GAN step). Inputs `param`, `grad`, `m`, `v` (float32, one shape); attrs `beta1`, `beta2`,
 * `stepSize`, `epsHat` as below; outputs the new [param, m, v]. It must compute exactly the
 * composite update below; without it that composite runs. With the attr `sumSquares` it may
 * add a fourth output, Σ g² as a float32 scalar equal to `globalNorm`'s gᵀg for that gradient.
 */
export const ADAM_KERNEL = 'GenlabAdamUpdate';

/** Give up on returning sums of squares: dispose those made so far. */
function dropSums(sums: Record<string, tf.Scalar>): undefined {
  tf.dispose(Object.values(sums));
  return undefined;
}

/** Adam (Kingma & Ba 2015, Algorithm 1) with the bias corrections of the paper. */
class Adam implements Optimizer {
  private m = new Map<number, tf.Variable>();
  private v = new Map<number, tf.Variable>();
  /** Number of updates applied (t in the paper). */
  private t = 0;
  constructor(readonly config: OptimizerConfig) {}

  apply(vars: tf.Variable[], grads: tf.NamedTensorMap, lrScale = 1, opts: ApplyOptions = {}): Record<string, tf.Scalar> | undefined {
    const { beta1, beta2, eps } = this.config;
    const lr = this.config.lr * lrScale;
    this.t += 1;
    // Bias corrections computed in float64 on the host: exact and identical on resume.
    const c1 = 1 - Math.pow(beta1, this.t);
    const c2 = 1 - Math.pow(beta2, this.t);
    const stepSize = (lr * Math.sqrt(c2)) / c1;
    const epsHat = eps * Math.sqrt(c2);
    const fused = tf.getKernel(ADAM_KERNEL, tf.getBackend()) !== undefined;
    // Σ g² per variable when asked and every update's kernel gave one; else undefined.
    let sums: Record<string, tf.Scalar> | undefined = opts.sumSquares ? {} : undefined;
    tf.tidy(() => {
      vars.forEach((variable, i) => {
        const g = grads[variable.name];
        if (!g) return;
        const m = slot(this.m, i, variable);
        const v = slot(this.v, i, variable);
        if (fused && g.dtype === 'float32') {
          const attrs = { beta1, beta2, stepSize, epsHat, ...(sums ? { sumSquares: true } : {}) };
          const [p1, m1, v1, ss] = tf.engine().runKernel(ADAM_KERNEL, { param: variable, grad: g, m, v }, attrs) as tf.Tensor[];
          m.assign(m1!);
          v.assign(v1!);
          variable.assign(p1!);
          if (sums && ss) sums[variable.name] = tf.keep(ss as tf.Scalar);
          else if (sums) sums = dropSums(sums);
          return;
        }
        if (sums) sums = dropSums(sums);
        // m ← β1 m + (1-β1) g ;  v ← β2 v + (1-β2) g²
        const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        m.assign(m1);
        v.assign(v1);
        // θ ← θ - α √(1-β2ᵗ)/(1-β1ᵗ) · m / (√v + ε̂)   (the paper's efficient form, §2)
        variable.assign(tf.sub(variable, tf.mul(tf.div(m1, tf.add(tf.sqrt(v1), epsHat)), stepSize)));
      });
    });
    return sums;
  }

  getState(prefix: string): StateDict {
    const out: StateDict = { [`${prefix}/t`]: { shape: [], dtype: 'int32', data: Int32Array.of(this.t) } };
    for (const [name, m] of this.m) out[slotName(prefix, name, 'm')] = readEntry(m);
    for (const [name, v] of this.v) out[slotName(prefix, name, 'v')] = readEntry(v);
    return out;
  }

  setState(state: StateDict, prefix: string): void {
    const t = state[`${prefix}/t`];
    if (!t) throw new Error(`optimizer state '${prefix}/t' missing from checkpoint`);
    this.dispose();
    this.t = t.data[0] ?? 0;
    for (const [key, entry] of Object.entries(state)) {
      const parsed = parseSlotKey(key, prefix);
      if (!parsed || (parsed.slot !== 'm' && parsed.slot !== 'v')) continue;
      const map = parsed.slot === 'm' ? this.m : this.v;
      map.set(parsed.index, restoredSlot(entry));
    }
  }

  dispose(): void {
    for (const s of [...this.m.values(), ...this.v.values()]) s.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** Stochastic gradient descent with optional (heavy-ball) momentum. */
class Sgd implements Optimizer {
  private buf = new Map<number, tf.Variable>();
  constructor(readonly config: OptimizerConfig) {}

  apply(vars: tf.Variable[], grads: tf.NamedTensorMap, lrScale = 1): void {
    const { momentum } = this.config;
    const lr = this.config.lr * lrScale;
    tf.tidy(() => {
      vars.forEach((variable, i) => {
        const g = grads[variable.name];
        if (!g) return;
        if (momentum === 0) {
          variable.assign(tf.sub(variable, tf.mul(g, lr)));
          return;
        }
        const b = slot(this.buf, i, variable);
        // b ← μ b + g ;  θ ← θ - lr b   (PyTorch's convention)
        const b1 = tf.add(tf.mul(b, momentum), g);
        b.assign(b1);
        variable.assign(tf.sub(variable, tf.mul(b1, lr)));
      });
    });
  }

  getState(prefix: string): StateDict {
    const out: StateDict = {};
    for (const [name, b] of this.buf) out[slotName(prefix, name, 'momentum')] = readEntry(b);
    return out;
  }

  setState(state: StateDict, prefix: string): void {
    this.dispose();
    for (const [key, entry] of Object.entries(state)) {
      const parsed = parseSlotKey(key, prefix);
      if (parsed?.slot !== 'momentum') continue;
      this.buf.set(parsed.index, restoredSlot(entry));
    }
  }

  dispose(): void {
    for (const s of this.buf.values()) s.dispose();
    this.buf.clear();
  }
}
