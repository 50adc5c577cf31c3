/**
 * Validation that proves a config can run: its plugins' checks against the data it will
 * train on. A schema can only say that `model.generator.output: sigmoid` is a valid word;
 * whether it fits data in [-1, 1], whether an image model gets images, whether a batch fits
 * the dataset, only the data says. `exp validate` learns the data's `DataInfo` from the
 * dataset plugin's `describe` (headers and counts, not pixels); `exp run` checks again with
 * the loaded dataset's info, before any run exists. Every problem is a `ConfigError` (exit 2)
 * naming the key and the line it was written at.
 */
import type { CheckContext, CheckIssue, CheckResult, DataInfo, DatasetContext } from '../contracts.js';
import { ConfigError, type ConfigIssue, UserError } from '../errors.js';
import type { PluginKind, Registry } from '../registry.js';
import type { ResolvedConfig } from './schema.js';
import type { SourceMap } from './source.js';
import { whereOf } from './validate.js';

/** What the run's dataset will be: `describe` when the plugin has it, else the loaded dataset's info. */
export async function describeData(config: ResolvedConfig, registry: Registry, ctx: DatasetContext): Promise<DataInfo> {
  const plugin = registry.dataset(config.dataset.name);
  const { name: _n, ...options } = config.dataset;
  if (plugin.describe) return plugin.describe(options, ctx);
  const dataset = await plugin.load(options, ctx);
  try {
    return dataset.info;
  } finally {
    dataset.dispose?.();
  }
}

/** Where the checked config came from, for `file:line` in messages. */
export interface CheckSource {
  file: string;
  sources?: SourceMap;
}

/**
 * Check a resolved config against its data: the batch against the dataset's size, the data's
 * shape, the tracker for the URI, and every plugin's own `check` (the model's, then each
 * enabled callback's). Throws a `ConfigError` listing every problem; returns when there is none.
 */
export function checkRunnable(config: ResolvedConfig, data: DataInfo, registry: Registry, where: CheckSource): void {
  const issues: ConfigIssue[] = [];
  const at = (parts: string[]) => (where.sources ? whereOf(where.sources, parts) : undefined);
  const add = (parts: string[], message: string) => issues.push({ path: parts.join('.'), where: at(parts), message });

  const values = data.shape.reduce((a, b) => a * b, 1);
  if (!data.shape.length || !(values > 0)) add(['dataset'], `the data has shape [${data.shape.join(', ')}]: no values to train on`);
  if (data.size < config.train.batchSize) {
    add(['train', 'batchSize'], `is ${config.train.batchSize}, but the dataset has ${data.size} example${data.size === 1 ? '' : 's'}: fewer than one batch (lower train.batchSize, or select more data)`);
  }
  try {
    registry.trackerFor(config.tracking.uri);
  } catch (error) {
    add(['tracking', 'uri'], (error as Error).message);
  }

  const { name: modelName, ...modelCfg } = config.model;
  const model = registry.models.get(modelName);
  let traits: CheckContext['model'];
  try {
    traits = model?.traits?.(modelCfg, data);
  } catch {
    traits = undefined; // the model's own check says what is wrong with its options
  }
  const ctx: CheckContext = { data, config, registry, ...(traits ? { model: traits } : {}) };
  const run = (kind: PluginKind, name: string, section: string[], check: (() => CheckResult) | undefined) => {
    if (!check) return;
    let result: CheckResult;
    try {
      result = check();
    } catch (error) {
      if (error instanceof UserError) {
        add(section, error.message);
        return;
      }
      throw new UserError(`the check of ${kind} plugin '${name}' (${registry.origin(kind, name) ?? 'unknown origin'}) threw instead of returning its issues: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    for (const issue of normalise(result)) add(issue.path ? [...section, ...issue.path.split('.')] : section, issue.message);
  };

  run('model', modelName, ['model'], model?.check && (() => model.check!(modelCfg, ctx)));
  for (const [name, cbCfg] of Object.entries(config.callbacks)) {
    const plugin = registry.callbacks.get(name);
    const section = plugin?.configKey ? [plugin.configKey] : ['callbacks', name];
    run('callback', name, section, plugin?.check && (() => plugin.check!(cbCfg, ctx)));
  }
  if (issues.length) throw new ConfigError(where.file, issues);
}

function normalise(result: CheckResult): CheckIssue[] {
  if (result === undefined || result === null) return [];
  if (typeof result === 'string') return [{ message: result }];
  if (!Array.isArray(result)) throw new UserError(`a plugin check returned ${typeof result}: expected a list of { path, message } issues, a message, or nothing`);
  return result;
}

/** A short description of data for messages: `[28, 28, 1] in [-1, 1], 10 classes, 64 examples`. */
export function describeInfo(info: DataInfo): string {
  return `[${info.shape.join(', ')}] in [${info.range.join(', ')}]${info.binary ? ' (binary)' : ''}, ${info.numClasses ? `${info.numClasses} classes` : 'unlabelled'}, ${info.size} examples`;
}
