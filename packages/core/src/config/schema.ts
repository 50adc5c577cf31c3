/**
 * The root config schema. Plugin sections (`model`, `dataset`, `callbacks.<name>`) are checked
 * against the chosen plugins' own schemas by the loader; this file owns everything else.
 *
 * User options (what a YAML file may say) and resolved options (every default filled in)
 * are different types: `RootInput` vs `ResolvedConfig`. Resolution happens once, in
 * `loadConfig` (or once per variant, in `loadSweep`).
 */
import { z } from 'zod';

/**
 * The compute backends a config (`backend:`) or a command (`--backend`) may ask for: `auto`
 * prefers native TensorFlow, then wasm, then cpu (the CLI's backend.ts chooses).
 */
export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

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
    /**
     * Data-parallel replicas on this machine: each trains on its share of every batch (in a
     * thread of its own) and the gradients are averaged before each update. 1: off; `auto`:
     * one per core (at most one per example of a batch), fixed when the run starts and kept
     * by its checkpoints, so a resume on another machine runs as many.
     */
    devices: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(1),
  })
  .strict()
  .refine((t) => t.steps !== undefined || t.epochs !== undefined, {
    message: 'set train.steps or train.epochs',
  })
  .refine((t) => !(t.batchSize >= 1) || typeof t.devices !== 'number' || t.devices <= t.batchSize, {
    message: 'train.devices is larger than train.batchSize: every replica needs at least one example of each batch',
    path: ['devices'],
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

/**
 * Root schema with the plugin sections only checked for a `name`. The registered callbacks
 * that read a top-level key of their own (`configKey`, e.g. `eval:`) add it (`composeRoot`
 * in validate.ts); `sweep:` is read by sweep.ts and never reaches it.
 */
export const rootSchema = z
  .object({
    /** Another config file (or list) this one starts from, relative to this file. */
    extends: z.union([z.string(), z.array(z.string())]).optional(),
    /** Experiment name (also the default tracker experiment). */
    name: z.string().min(1).optional(),
    /** Seed for weights, noise and shuffling. */
    seed: z.number().int().min(0).default(0),
    /** Compute backend (see `BACKENDS`). */
    backend: z.enum(BACKENDS).default('auto'),
    /** Extra plugin modules to import, relative to the config file (or package names). */
    plugins: z.array(z.string()).default([]),
    model: pluginSection,
    dataset: pluginSection,
    train: trainSchema,
    /** Per-callback options; `false` turns a default callback off. */
    callbacks: z.record(z.string(), z.unknown()).default({}),
    tracking: trackingSchema.default({ uri: 'file:./mlruns', tags: {} }),
    output: outputSchema.default({ dir: './outputs' }),
  })
  .strict();

export type RootInput = z.input<typeof rootSchema>;

/** A plugin section after validation: its name plus the plugin's resolved options. */
export type PluginSection = { name: string } & Record<string, unknown>;

/** A fully resolved config: every default filled in, every plugin section validated. */
export interface ResolvedConfig {
  name: string;
  seed: number;
  backend: BackendName;
  plugins: string[];
  model: PluginSection;
  dataset: PluginSection;
  train: z.output<typeof trainSchema>;
  /** Enabled callbacks by name with their resolved options. */
  callbacks: Record<string, Record<string, unknown>>;
  tracking: z.output<typeof trackingSchema>;
  output: z.output<typeof outputSchema>;
}

/**
 * A minimal resolved config around a model section (for benchmarks and tests that build a
 * Trainer without a config file). `train` takes what a config file may say; its defaults
 * are filled in by the schema.
 */
export function minimalConfig(
  model: ResolvedConfig['model'],
  overrides: Partial<Omit<ResolvedConfig, 'train'>> & { train?: z.input<typeof trainSchema> } = {},
): ResolvedConfig {
  const { train, ...rest } = overrides;
  return {
    name: 'test',
    seed: 1,
    backend: 'cpu',
    plugins: [],
    model,
    dataset: { name: 'random' },
    train: trainSchema.parse(train ?? { steps: 2, batchSize: 8, logEvery: 1 }),
    callbacks: {},
    tracking: { uri: 'memory:', tags: {} },
    output: { dir: './outputs' },
    ...rest,
  };
}
