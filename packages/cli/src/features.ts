/**
 * `exp features train --dataset <name>` (or `--config <file>`): train the domain feature
 * network that metrics use for a dataset, report its test accuracy, and write its weights
 * with a card (command, seed, data, accuracy) — by default over the shipped weights in
 * packages/metrics/weights/<dataset>/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ConfigError, defaultCacheDir, ensureWritableDir, resolveDatasetOptions, UserError } from '@genlab/core';
import { builtinWeightsDir, type FeatureCard, featureConfigSchema, FeatureNet, trainFeatureNet } from '@genlab/metrics';
import { chooseBackend, type BackendName } from './backend.js';
import { builtinRegistry } from './registry.js';

const log = (message: string) => process.stderr.write(message + '\n');
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export async function featuresTrainCommand(args: { dataset?: string; config?: string; out?: string; epochs?: number; backend?: BackendName }): Promise<number> {
  const file = args.config ?? (args.dataset ? path.join(repoRoot, 'configs', 'features', `${args.dataset}.yaml`) : undefined);
  if (!file) throw new UserError('exp features train needs --dataset <name> or --config <file>');
  if (!fs.existsSync(file)) throw new UserError(`no feature-network config ${file}${args.dataset ? ` for dataset '${args.dataset}' (write one like configs/features/mnist.yaml and pass --config)` : ''}`);
  let raw: unknown;
  try {
    raw = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UserError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  const parsed = featureConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(file, parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  const cfg = parsed.data;
  if (args.epochs !== undefined) cfg.train.epochs = args.epochs;
  const registry = builtinRegistry();
  const { name, ...dataOptions } = cfg.dataset;
  const trainSection = resolveDatasetOptions(registry, name, [], { ...dataOptions, range: [0, 1] });
  const testSection = resolveDatasetOptions(registry, name, [], { ...dataOptions, range: [0, 1], split: 'test', flip: false });
  const out = path.resolve(args.out ?? builtinWeightsDir(name));
  ensureWritableDir(path.dirname(out), 'output folder');

  const backend = await chooseBackend(args.backend ?? 'auto');
  log(`backend: ${backend.name} (${backend.reason})`);
  const ctx = { baseDir: path.dirname(path.resolve(file)), cacheDir: defaultCacheDir(), log };
  const plugin = registry.dataset(name);
  const { name: _a, ...trainOptions } = trainSection;
  const { name: _b, ...testOptions } = testSection;
  const train = await plugin.load(trainOptions, ctx);
  const test = await plugin.load(testOptions, ctx);
  if (train.info.numClasses < 2) throw new UserError(`dataset ${name} has no classes: a feature network is a classifier and needs labels`);
  const spec = { inputShape: train.info.shape as [number, number, number], numClasses: train.info.numClasses, channels: cfg.net.channels, dim: cfg.net.dim };
  if (spec.inputShape.length !== 3) throw new UserError(`feature networks need images, dataset ${name} has shape [${train.info.shape.join(', ')}]`);
  log(`training the ${name} feature network on ${train.info.size} images (test: ${test.info.size}), ${cfg.train.epochs} epochs`);
  const fnet = FeatureNet.create(spec, cfg.seed);
  const t0 = performance.now();
  const accs = await trainFeatureNet(fnet, train, test, { ...cfg.train, seed: cfg.seed, log });
  const card: FeatureCard = {
    dataset: name,
    datasetOptions: trainOptions,
    spec,
    seed: cfg.seed,
    epochs: cfg.train.epochs,
    batchSize: cfg.train.batchSize,
    lr: cfg.train.lr,
    shift: cfg.train.shift,
    testAccuracy: accs.at(-1)!,
    testExamples: test.info.size,
    trainExamples: train.info.size,
    command: `pnpm exp features train ${args.config ? `--config ${path.relative(repoRoot, path.resolve(args.config))}` : `--dataset ${name}`}${args.epochs !== undefined ? ` --epochs ${args.epochs}` : ''}`,
    backend: backend.name,
    trainedAt: new Date().toISOString(),
    seconds: (performance.now() - t0) / 1000,
  };
  fnet.save(out, card);
  process.stdout.write(`feature network for ${name}: test accuracy ${(100 * card.testAccuracy).toFixed(2)} % on ${test.info.size} images; weights ${fnet.hash()} in ${out}\n`);
  fnet.dispose();
  return 0;
}
