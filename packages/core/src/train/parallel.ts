/**
 * Data-parallel training on one machine (`train.devices: N`): N replicas of the model, rank 0
 * in the trainer's thread and ranks 1..N-1 in worker threads, each with its own backend.
 * Every step, each rank runs the model's `trainStep` on its rows of the batch; every
 * `ctx.optimize` averages the ranks' gradients (weighted by their rows, so the result is the
 * full batch's mean gradient) before the gradient handler measures, clips and applies them.
 * Every rank applies the same averaged gradient to the same weights, so the replicas stay
 * identical, and a run is deterministic for a given N and resumes exactly.
 *
 * The exchange is synchronous, because `trainStep` is: the ranks share memory
 * (SharedArrayBuffer) and meet at barriers (Atomics.wait). The reduction is a reduce-scatter
 * then all-gather: rank r sums its 1/N of the gradient over every rank, always in rank order.
 * Written here by hand: no library does a synchronous all-reduce between worker threads;
 * it is three dozen lines over Atomics.
 *
 * What the replicas need besides this channel (a model built from the same config, a
 * backend) is the launcher's job (`ReplicaLauncher`, the CLI's worker threads); the state
 * (weights, optimizer slots, learning-rate scale) reaches them from rank 0 at the start and
 * after every rollback, so resume and rollback need nothing of their own.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Batch, DataInfo, GenerativeModel, StateDict, StepResult, TrainContext } from '../contracts.js';
import type { ResolvedConfig } from '../config/schema.js';
import { deriveSeed, SeedStream } from '../rng.js';
import { GradientHandler } from './gradients.js';
import { MODEL_PREFIX, OPTIM_PREFIX } from './run-state.js';

/** Words of the control block. */
const C = {
  /** Command counter: rank 0 increments it to post a command. */
  seq: 0,
  cmd: 1,
  barrierCount: 2,
  barrierGen: 3,
  /** Set (to the failing rank + 1) when a rank fails: every barrier then throws. */
  abort: 4,
  step: 5,
  epoch: 6,
  streamSeed: 7,
  rows: 8,
  /** Per rank: how many gradient floats it wrote in the current all-reduce (a control-flow check). */
  gradCount: 16,
  /** Per rank: how many step scalars it wrote. */
  scalarCount: 80,
  size: 144,
} as const;
export const MAX_DEVICES = 64;
/** At most this many scalars per step are averaged across ranks. */
const MAX_SCALARS = 256;

/** Backends whose tensors copy the array they are made from (so a view of shared memory is safe). */
const COPYING_BACKENDS = new Set(['wasm']);

export const Cmd = { step: 1, sync: 2, stop: 3 } as const;

/** How long a rank waits at a barrier for the others during a step before it gives up. */
const BARRIER_TIMEOUT_MS = 10 * 60 * 1000;

/** The shared memory of a replica group; structured-cloneable (passed to each worker thread). */
export interface ReplicaBuffers {
  devices: number;
  control: SharedArrayBuffer;
  /** [devices × paramFloats]: each rank's gradients. */
  grads: SharedArrayBuffer;
  /** [paramFloats]: the averaged gradients. */
  reduced: SharedArrayBuffer;
  /** [batchSize × exampleFloats] float32 images and [batchSize] int32 labels of the step. */
  x: SharedArrayBuffer;
  y: SharedArrayBuffer;
  /** [devices × MAX_SCALARS] float64 step scalars. */
  scalars: SharedArrayBuffer;
  paramFloats: number;
}

export function allocateReplicaBuffers(devices: number, paramFloats: number, batchSize: number, exampleFloats: number): ReplicaBuffers {
  if (!(devices >= 2 && devices <= MAX_DEVICES)) throw new RangeError(`devices must be in 2..${MAX_DEVICES}, got ${devices}`);
  return {
    devices,
    control: new SharedArrayBuffer(C.size * 4),
    grads: new SharedArrayBuffer(devices * paramFloats * 4),
    reduced: new SharedArrayBuffer(paramFloats * 4),
    x: new SharedArrayBuffer(batchSize * exampleFloats * 4),
    y: new SharedArrayBuffer(batchSize * 4),
    scalars: new SharedArrayBuffer(devices * MAX_SCALARS * 8),
    paramFloats,
  };
}

/** A rank failed (or rank 0 stopped the group): the others unwind from wherever they wait. */
export class ReplicaAbort extends Error {
  constructor(readonly rank: number) {
    super(`replica ${rank} failed`);
  }
}

/** Rows [start, end) of a batch of `batchRows` that `rank` of `devices` trains on (the first ranks take one more when it does not divide). */
export function sliceRows(batchRows: number, devices: number, rank: number): [number, number] {
  const base = Math.floor(batchRows / devices);
  const extra = batchRows % devices;
  const start = rank * base + Math.min(rank, extra);
  return [start, start + base + (rank < extra ? 1 : 0)];
}

/** One rank's view of the shared memory: barriers, the gradient all-reduce, step scalars. */
export class ReplicaChannel {
  private readonly ctl: Int32Array;
  private readonly grads: Float32Array;
  private readonly reduced: Float32Array;
  private readonly scalars: Float64Array;
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly devices: number;

  constructor(
    readonly buffers: ReplicaBuffers,
    readonly rank: number,
  ) {
    this.devices = buffers.devices;
    this.ctl = new Int32Array(buffers.control);
    this.grads = new Float32Array(buffers.grads);
    this.reduced = new Float32Array(buffers.reduced);
    this.scalars = new Float64Array(buffers.scalars);
    this.x = new Float32Array(buffers.x);
    this.y = new Int32Array(buffers.y);
  }

  /** Wait until every rank has arrived. Throws `ReplicaAbort` when a rank failed. */
  barrier(): void {
    const ctl = this.ctl;
    const gen = Atomics.load(ctl, C.barrierGen);
    this.checkAbort();
    if (Atomics.add(ctl, C.barrierCount, 1) === this.devices - 1) {
      Atomics.store(ctl, C.barrierCount, 0);
      Atomics.add(ctl, C.barrierGen, 1);
      Atomics.notify(ctl, C.barrierGen);
      return;
    }
    const deadline = Date.now() + BARRIER_TIMEOUT_MS;
    while (Atomics.load(ctl, C.barrierGen) === gen) {
      Atomics.wait(ctl, C.barrierGen, gen, 1000);
      this.checkAbort();
      if (Date.now() > deadline) {
        this.fail();
        throw new Error(`data-parallel rank ${this.rank}: the other replicas did not reach the step's barrier within ${BARRIER_TIMEOUT_MS / 60000} minutes`);
      }
    }
  }

  private checkAbort(): void {
    const a = Atomics.load(this.ctl, C.abort);
    if (a !== 0) throw new ReplicaAbort(a - 1);
  }

  /** Mark this rank failed and wake every rank waiting anywhere. */
  fail(): void {
    Atomics.compareExchange(this.ctl, C.abort, 0, this.rank + 1);
    Atomics.notify(this.ctl, C.barrierGen);
    Atomics.add(this.ctl, C.seq, 1);
    Atomics.notify(this.ctl, C.seq);
  }

  get aborted(): boolean {
    return Atomics.load(this.ctl, C.abort) !== 0;
  }

  /**
   * Replace `grads` (in place) by the row-weighted mean over every rank: Σ_r (rows_r / B)·g_r,
   * summed in rank order, so every rank gets the same float32 result.
   */
  allReduce(grads: tf.NamedTensorMap, rows: number[]): void {
    const names = Object.keys(grads);
    const P = this.buffers.paramFloats;
    const mine = this.grads.subarray(this.rank * P, (this.rank + 1) * P);
    let n = 0;
    for (const name of names) {
      const data = grads[name]!.dataSync() as Float32Array;
      if (n + data.length > P) throw new Error(`data-parallel: the gradients outgrew the ${P} floats set aside for the model's state`);
      mine.set(data, n);
      n += data.length;
    }
    Atomics.store(this.ctl, C.gradCount + this.rank, n);
    this.barrier();
    for (let r = 0; r < this.devices; r++) {
      const other = Atomics.load(this.ctl, C.gradCount + r);
      if (other !== n) throw new Error(`data-parallel: rank ${r} computed ${other} gradient values where rank ${this.rank} computed ${n}: the model's trainStep must update the same variables on every slice of a batch`);
    }
    // Reduce-scatter: this rank sums its chunk over every rank, in rank order, two ranks a
    // pass (each pass one float32 rounding; fewer passes over memory than one rank a pass).
    const total = rows.reduce((a, b) => a + b, 0);
    const weights = rows.map((r) => r / total);
    const [lo, hi] = sliceRows(n, this.devices, this.rank);
    const out = this.reduced.subarray(lo, hi);
    const len = hi - lo;
    const at = (r: number) => this.grads.subarray(r * P + lo, r * P + hi);
    {
      const g0 = at(0);
      const g1 = at(1);
      const w0 = weights[0]!;
      const w1 = weights[1]!;
      for (let i = 0; i < len; i++) out[i] = w0 * g0[i]! + w1 * g1[i]!;
    }
    for (let r = 2; r < this.devices; r += 2) {
      const ga = at(r);
      const wa = weights[r]!;
      if (r + 1 < this.devices) {
        const gb = at(r + 1);
        const wb = weights[r + 1]!;
        for (let i = 0; i < len; i++) out[i] = out[i]! + (wa * ga[i]! + wb * gb[i]!);
      } else {
        for (let i = 0; i < len; i++) out[i] = out[i]! + wa * ga[i]!;
      }
    }
    this.barrier();
    // All-gather: every rank reads the whole mean. The wasm backend copies what a tensor is
    // made from into its heap at once, so it reads the shared buffer directly; the others
    // (cpu, tfjs-node) may keep the array itself, so they get a copy (the next update reuses
    // the buffer).
    const copies = COPYING_BACKENDS.has(tf.getBackend());
    let off = 0;
    for (const name of names) {
      const g = grads[name]!;
      const view = this.reduced.subarray(off, off + g.size);
      grads[name] = tf.tensor(copies ? view : view.slice(), g.shape, 'float32');
      off += g.size;
      g.dispose();
    }
  }

  /** Put this rank's step scalars (in their order) where rank 0 averages them. */
  writeScalars(values: Record<string, number>): void {
    const keys = Object.keys(values);
    if (keys.length > MAX_SCALARS) throw new Error(`data-parallel: a step reported ${keys.length} scalars, more than the ${MAX_SCALARS} averaged across replicas`);
    const base = this.rank * MAX_SCALARS;
    keys.forEach((k, i) => (this.scalars[base + i] = values[k]!));
    Atomics.store(this.ctl, C.scalarCount + this.rank, keys.length);
  }

  /** Rank 0: the row-weighted mean of every rank's scalars (after the step's last barrier). */
  averageScalars(values: Record<string, number>, rows: number[]): Record<string, number> {
    const keys = Object.keys(values);
    const total = rows.reduce((a, b) => a + b, 0);
    const out: Record<string, number> = {};
    for (let r = 0; r < this.devices; r++) {
      const count = Atomics.load(this.ctl, C.scalarCount + r);
      if (count !== keys.length) throw new Error(`data-parallel: rank ${r} reported ${count} step scalars where rank 0 reported ${keys.length}`);
    }
    keys.forEach((k, i) => {
      let s = 0;
      for (let r = 0; r < this.devices; r++) s += (rows[r]! / total) * this.scalars[r * MAX_SCALARS + i]!;
      out[k] = s;
    });
    return out;
  }

  // ------------------------------------------------------------ commands (rank 0 → replicas)

  /** Rank 0: post a command; the step's arguments are in the control block. */
  post(cmd: number, args: { step?: number; epoch?: number; streamSeed?: number; rows?: number } = {}): void {
    const ctl = this.ctl;
    if (args.step !== undefined) Atomics.store(ctl, C.step, args.step);
    if (args.epoch !== undefined) Atomics.store(ctl, C.epoch, args.epoch);
    if (args.streamSeed !== undefined) Atomics.store(ctl, C.streamSeed, args.streamSeed);
    if (args.rows !== undefined) Atomics.store(ctl, C.rows, args.rows);
    Atomics.store(ctl, C.cmd, cmd);
    Atomics.add(ctl, C.seq, 1);
    Atomics.notify(ctl, C.seq);
  }

  /** A replica: wait for the next command after `seen` (no timeout: rank 0 may evaluate for long). */
  next(seen: number): { seq: number; cmd: number; step: number; epoch: number; streamSeed: number; rows: number } {
    const ctl = this.ctl;
    while (Atomics.load(ctl, C.seq) === seen) Atomics.wait(ctl, C.seq, seen);
    this.checkAbort();
    return {
      seq: Atomics.load(ctl, C.seq),
      cmd: Atomics.load(ctl, C.cmd),
      step: Atomics.load(ctl, C.step),
      epoch: Atomics.load(ctl, C.epoch),
      streamSeed: Atomics.load(ctl, C.streamSeed),
      rows: Atomics.load(ctl, C.rows),
    };
  }

  get seq(): number {
    return Atomics.load(this.ctl, C.seq);
  }
}

/** Rank 0's side of a replica group, as the trainer uses it. */
export interface ReplicaGroup {
  readonly devices: number;
  readonly channel: ReplicaChannel;
  /** Give every replica rank 0's state (weights, optimizer slots) and learning-rate scale; returns when they hold it. */
  sync(message: ReplicaSync): void;
  /** The replicas' own failure message, once a barrier threw `ReplicaAbort`. */
  failure(): string | undefined;
  /** Stop the replicas and free their threads. */
  dispose(): Promise<void>;
}

/** What a launcher gets to start the replicas of a run (a model like rank 0's, the backend rank 0 runs). */
export interface ReplicaLaunch {
  config: ResolvedConfig;
  data: DataInfo;
  backend: string;
  /** The plugin modules rank 0 imported (file URLs, as resolved from the config's folder): each replica imports the same. */
  plugins: string[];
  devices: number;
  /** Floats set aside for one rank's gradients: the model's whole state. */
  paramFloats: number;
  log(message: string): void;
}

/** Starts ranks 1..N-1 (the CLI runs them in worker threads). */
export type ReplicaLauncher = (launch: ReplicaLaunch) => Promise<ReplicaGroup>;

/** The rows of each rank for a batch of `batchRows`. */
export function rowsOf(batchRows: number, devices: number): number[] {
  return Array.from({ length: devices }, (_, r) => {
    const [a, b] = sliceRows(batchRows, devices, r);
    return b - a;
  });
}

/** Rank 0: copy the batch into shared memory, post the step, and return rank 0's own slice (caller disposes). */
export function shareBatch(channel: ReplicaChannel, batch: Batch, args: { step: number; epoch: number; streamSeed: number }): Batch {
  const rows = batch.x.shape[0]!;
  const x = batch.x.dataSync() as Float32Array;
  if (x.length > channel.x.length) throw new Error(`data-parallel: a batch of ${rows} is larger than train.batchSize`);
  channel.x.set(x);
  channel.y.set(batch.y.dataSync() as Int32Array);
  channel.post(Cmd.step, { ...args, rows });
  const [lo, hi] = sliceRows(rows, channel.devices, 0);
  return { x: tf.slice(batch.x, lo, hi - lo), y: tf.slice(batch.y, lo, hi - lo) };
}

/** A replica: its rows of the shared batch as tensors (caller disposes). */
export function replicaBatch(channel: ReplicaChannel, rows: number, data: DataInfo): Batch {
  const [lo, hi] = sliceRows(rows, channel.devices, channel.rank);
  const per = data.shape.reduce((a, b) => a * b, 1);
  return {
    x: tf.tensor(channel.x.slice(lo * per, hi * per), [hi - lo, ...data.shape], 'float32'),
    y: tf.tensor1d(channel.y.slice(lo, hi), 'int32'),
  };
}

/** Σ sizes of a state dict: an upper bound of any update's gradient floats. */
export function stateFloats(state: StateDict): number {
  let n = 0;
  for (const e of Object.values(state)) n += e.data.length;
  return n;
}

/** A step's seeds on `rank`: rank 0's are those of a run on one device; the others add their rank. */
export function rankSeed(streamSeed: number, step: number, stream: number, rank: number): number {
  return rank === 0 ? deriveSeed(streamSeed, SeedStream.step, step, stream) : deriveSeed(streamSeed, SeedStream.step, step, stream, rank);
}

/** What rank 0 sends a replica with `Cmd.sync`. */
export interface ReplicaSync {
  state: StateDict;
  lrScale: number;
  /** The run's total steps (learning-rate schedules read it). */
  totalSteps: number;
}

/**
 * A replica's loop (ranks 1..N-1, in a worker thread): wait for rank 0's commands and carry
 * them out until `Cmd.stop`: a step on its rows of the shared batch (the same trainStep,
 * gradient handling and all-reduce as rank 0), or a state sync. `receive` takes rank 0's
 * sync message synchronously (worker_threads' `receiveMessageOnPort`). Returns when stopped;
 * throws (after marking the group failed) when a step fails.
 */
export function serveReplica(opts: { channel: ReplicaChannel; model: GenerativeModel; config: ResolvedConfig; data: DataInfo; receive(): ReplicaSync }): void {
  const { channel, model, config, data } = opts;
  let totalSteps = config.train.steps ?? 1;
  const gradients = new GradientHandler(model.optimizers, { ...(config.train.gradClip !== undefined ? { clip: config.train.gradClip } : {}), logNorm: config.train.logGradNorm !== false });
  let rows: number[] = [];
  gradients.reducer = (g) => channel.allReduce(g, rows);
  gradients.create(1);
  // Every command since the group was made: rank 0 may post its first (the state sync) before
  // this thread gets here, so starting from the counter's current value could miss it.
  let seen = 0;
  let step = 0;
  let epoch = 0;
  let streamSeed = 0;
  const ctx: TrainContext = {
    get step() {
      return step;
    },
    get epoch() {
      return epoch;
    },
    seed: (stream: number) => rankSeed(streamSeed, step, stream, channel.rank),
    optimize: (name, lossFn, vars) => gradients.optimize(name, lossFn, vars, step, totalSteps),
  };
  try {
    for (;;) {
      const c = channel.next(seen);
      seen = c.seq;
      if (c.cmd === Cmd.stop) return;
      if (c.cmd === Cmd.sync) {
        const { state, lrScale, totalSteps: total } = opts.receive();
        totalSteps = total;
        gradients.create(lrScale);
        const modelState: StateDict = {};
        for (const [k, v] of Object.entries(state)) if (k.startsWith(MODEL_PREFIX)) modelState[k.slice(MODEL_PREFIX.length)] = v;
        model.setState(modelState);
        gradients.setState(state, OPTIM_PREFIX);
        channel.barrier();
        continue;
      }
      step = c.step;
      epoch = c.epoch;
      streamSeed = c.streamSeed;
      rows = rowsOf(c.rows, channel.devices);
      const batch = replicaBatch(channel, c.rows, data);
      let out: StepResult;
      try {
        out = tf.tidy(() => model.trainStep(batch, ctx));
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
      channel.writeScalars(stepScalars(out, gradients));
      channel.barrier();
    }
  } catch (error) {
    if (!(error instanceof ReplicaAbort)) channel.fail();
    throw error;
  } finally {
    gradients.dispose();
  }
}

/** A step's scalars with the update's `grad_norm/<optimizer>` joined in, read with one device read (the trainer's and a replica's). */
export function stepScalars(out: StepResult, gradients: GradientHandler): Record<string, number> {
  for (const [key, norm] of Object.entries(gradients.takeNorms())) {
    out[key]?.dispose();
    out[key] = norm;
  }
  return readScalars(out);
}

/** Read a step's named scalars with one device read, then dispose them. */
export function readScalars(out: Record<string, tf.Scalar>): Record<string, number> {
  const keys = Object.keys(out);
  if (keys.length === 0) return {};
  const stacked = tf.tidy(() => tf.stack(keys.map((k) => tf.cast(out[k]!, 'float32'))));
  const data = stacked.dataSync();
  tf.dispose([stacked, ...Object.values(out)]);
  const values: Record<string, number> = {};
  keys.forEach((k, i) => (values[k] = data[i]!));
  return values;
}
