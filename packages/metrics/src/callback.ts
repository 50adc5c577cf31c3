/**
 * The `eval` callback: evaluation during and after training, configured by the `eval:`
 * section of any config (`eval: { every: 1000, metrics: [fid, kid, pr], samples: 5000 }`).
 * Each evaluation reports its values (and, once, the real-vs-real floor as `floor/<metric>`)
 * at the current step with `RunInfo.report`: the tracker callback logs them and the
 * progress line shows them. The protocol goes to the run's tags.
 */
import { z } from 'zod';
import { type Callback, type CallbackPlugin, defaultCacheDir, type MetricPlugin, type RunInfo } from '@genlab/core';
import { type EvalOptions, evalOptionsShape, evaluateModel, formatReport, metricPlan, planMetrics } from './evaluate.js';
import { featureNetIssue } from './features.js';

const schema = z
  .object({
    /** Steps between evaluations; 0: only at the end of a finished run. */
    every: z.number().int().min(0).default(0),
    ...evalOptionsShape,
  })
  .strict();
type Options = z.output<typeof schema>;

class Evaluator implements Callback {
  readonly name = 'eval';
  private floorLogged = false;
  constructor(
    private readonly opts: Options,
    private readonly metricPlugins?: ReadonlyMap<string, MetricPlugin>,
  ) {}

  private async evaluate(run: RunInfo, step: number): Promise<void> {
    const { every: _every, ...evalOpts } = this.opts;
    const report = await evaluateModel(
      {
        model: run.model,
        info: run.dataset.info,
        dataset: run.config.dataset,
        loadDataset: (o) => run.loadDataset(o),
        cacheDir: defaultCacheDir(),
        baseDir: process.cwd(),
        log: (m) => run.log(m),
        ...(this.metricPlugins ? { metricPlugins: this.metricPlugins } : {}),
      },
      { ...(evalOpts as EvalOptions), floor: evalOpts.floor && !this.floorLogged },
    );
    run.log(`eval at step ${step} (${report.seconds.toFixed(1)} s):\n${formatReport(report)}`);
    run.report({ ...report.values, ...report.floor });
    await run.tracker.setTags(report.tags);
    if (Object.keys(report.floor).length) this.floorLogged = true;
  }

  /** Fail before training when the evaluation cannot run (no feature network, wrong metric). */
  onRunStart(run: RunInfo): void {
    const { fnet } = planMetrics(
      { model: run.model, info: run.dataset.info, dataset: run.config.dataset, baseDir: process.cwd(), ...(this.metricPlugins ? { metricPlugins: this.metricPlugins } : {}) },
      this.opts,
    );
    fnet?.dispose();
  }

  async onStepEnd(run: RunInfo, s: { step: number }): Promise<void> {
    if (run.rollingBack()) return; // a bad step, about to be undone
    if (this.opts.every > 0 && s.step % this.opts.every === 0 && s.step < run.totalSteps) await this.evaluate(run, s.step);
  }

  async onRunEnd(run: RunInfo, status: string): Promise<void> {
    if (status === 'FINISHED') await this.evaluate(run, run.totalSteps);
  }
}

export const evalCallback: CallbackPlugin<Options> = {
  name: 'eval',
  description: 'sample-quality metrics (FID, KID, IS, precision/recall, density/coverage, …) during and after training; set by the eval: section',
  configSchema: schema,
  enabledByDefault: false,
  configKey: 'eval',
  // What the data and the model's declared traits decide (`nll` needs a likelihood, `cas` a conditional model).
  check(cfg, { data, config, registry, model }) {
    const plan = metricPlan({ info: data, ...(model ? { model } : {}) }, cfg.metrics, registry.metrics.size ? registry.metrics : undefined);
    const issues = plan.problems.map((message) => ({ path: 'metrics', message }));
    if (!issues.length && plan.features) {
      const why = featureNetIssue({ info: data, dataset: config.dataset, baseDir: process.cwd() }, cfg.featureNet, 'eval.featureNet');
      if (why) issues.push({ path: cfg.featureNet ? 'featureNet' : 'metrics', message: why });
    }
    return issues;
  },
  create: (cfg, ctx) => new Evaluator(cfg, ctx?.registry.metrics.size ? ctx.registry.metrics : undefined),
};
