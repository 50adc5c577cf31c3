/**
 * The root config schema. Plugin sections (`model`, `dataset`, `callbacks.<name>`) are checked
 * against the chosen plugins' own schemas by the loader; this file owns everything else.
 *
 * User options (what a YAML file may say) and resolved options (every default filled in)
 * are different types: `RootInput` vs `ResolvedConfig`. Resolution happens once, in
 * `loadConfig`.
 */
import { z } from 'zod';

/** Training loop options (`train:`). */
export const trainSchema = z
  .object({
    /** Total optimisation steps. Either `steps` or `epochs` (steps win when both are set). */
    steps: z.number().int().positive().optional(),
    /** Full passes over the training split. */
    epochs: z.number().int().positive().optional(),
    /** Examples per step. */
    batchSize: z.number().int().positive().default(64),
    /** Log scalars to the tracker every N steps (the progress line refreshes on its own). */
    logEvery: z.number().int().positive().default(50),
    /** Clip each optimizer's gradients to this global L2 norm (off when unset). */
    gradClip: z.number().positive().optional(),
    /**
     * Report each optimizer's global gradient L2 norm (before clipping) with the step's
     * scalars as `grad_norm/<optimizer>`. Computed on the device and read with the losses:
     * one pass over the gradients per update (Σ g²) and no extra device read.
     */
    logGradNorm: z.boolean().default(true),
  })
  .strict()
  .refine((t) => t.steps !== undefined || t.epochs !== undefined, {
    message: 'set train.steps or train.epochs',
  });

/** Tracking options (`tracking:`). */
export const trackingSchema = z
  .object({
    /** `file:./mlruns` (MLflow file-store layout) or an MLflow server `http(s)://host:port`. */
    uri: z.string().min(1).default('file:./mlruns'),
    /** Experiment name; defaults to the config's `name`. */
    experiment: z.string().min(1).optional(),
    /** Run name; defaults to `<name>-<time>`. */
    runName: z.string().min(1).optional(),
    /** Extra tags set on every run. */
    tags: z.record(z.string(), z.string()).default({}),
  })
  .strict();

/** Output options (`output:`). */
export const outputSchema = z
  .object({
    /** Local folder for run outputs: `<dir>/<run id>/` holds checkpoints, samples, config. */
    dir: z.string().min(1).default('./outputs'),
  })
  .strict();

const pluginSection = z.looseObject({ name: z.string().min(1) });

/** Sweep axes: a dotted key path to its list of values, or a mapping of deeper keys to lists. */
export type SweepAxes = { [key: string]: unknown[] | SweepAxes };
const sweepAxes: z.ZodType<SweepAxes> = z.lazy(() => z.record(z.string(), z.union([z.array(z.unknown()).min(1), sweepAxes])));

/**
 * `sweep:`: several runs from one config (expanded by `loadSweep` in sweep.ts, which checks
 * this shape with messages of its own). Every other key is an axis: a dotted key path and
 * the list of values it takes (an item that is a mapping replaces the section at that
 * path); `variants` is an axis of partial configs, each deep-merged onto the base. The runs
 * are the cartesian product of the axes (`mode: grid`), or their i-th items together
 * (`mode: zip`). Never part of a single run's resolved config.
 */
export const sweepSchema = z
  .object({
    mode: z.enum(['grid', 'zip']).default('grid'),
    variants: z.array(z.record(z.string(), z.unknown())).min(1).optional(),
  })
  .catchall(z.union([z.array(z.unknown()).min(1), sweepAxes]));

/** Root schema with the plugin sections only checked for a `name`. */
export const rootSchema = z
  .object({
    /** Another config file (or list) this one starts from, relative to this file. */
    extends: z.union([z.string(), z.array(z.string())]).optional(),
    /** Experiment name (also the default tracker experiment). */
    name: z.string().min(1).optional(),
    /** Seed for weights, noise and shuffling. */
    seed: z.number().int().min(0).default(0),
    /** Compute backend: `auto` prefers native TensorFlow, then wasm, then cpu. */
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
    /** Extra plugin modules to import, relative to the config file (or package names). */
    plugins: z.array(z.string()).default([]),
    model: pluginSection,
    dataset: pluginSection,
    train: trainSchema,
    /** Per-callback options; `false` turns a default callback off. */
    callbacks: z.record(z.string(), z.unknown()).default({}),
    /** Evaluation during and after training: the options of the `eval` callback (@genlab/metrics). */
    eval: z.unknown().optional(),
    tracking: trackingSchema.default({ uri: 'file:./mlruns', tags: {} }),
    output: outputSchema.default({ dir: './outputs' }),
    /** Several runs from this config (see `sweepSchema`); removed before each run's validation. */
    sweep: sweepSchema.nullable().optional(),
  })
  .strict();

export type RootInput = z.input<typeof rootSchema>;

/** A plugin section after validation: its name plus the plugin's resolved options. */
export type PluginSection = { name: string } & Record<string, unknown>;

/** A fully resolved config: every default filled in, every plugin section validated. */
export interface ResolvedConfig {
  name: string;
  seed: number;
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  plugins: string[];
  model: PluginSection;
  dataset: PluginSection;
  train: z.output<typeof trainSchema>;
  /** Enabled callbacks by name with their resolved options. */
  callbacks: Record<string, Record<string, unknown>>;
  tracking: z.output<typeof trackingSchema>;
  output: z.output<typeof outputSchema>;
}
