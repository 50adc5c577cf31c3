#!/usr/bin/env node
/**
 * `exp`: the genlab command line. Exit codes: 0 ok, 2 usage or config error, 1 failure
 * during a run, 130/143 when a run was interrupted by SIGINT/SIGTERM (after checkpointing).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKENDS, exitCodeOf, GENLAB_VERSION, UserError } from '@genlab/core';
import { benchCommand, benchDataWorker, benchFidWorker, benchWorker } from './bench.js';
import { profileCommand, profileWorker } from './profile.js';
import { dataCommand } from './data.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { serveCommand } from './serve.js';
import { featuresTrainCommand } from './features.js';
import { syncCommand } from './sync.js';
import { uiCommand } from './ui.js';
import { compareCommand } from './compare.js';
import { listCommand, runCommand, runsCommand, sampleCommand, validateCommand } from './commands.js';
import { PLUGIN_TEMPLATES, scaffold } from './scaffold.js';


async function main(argv: string[]): Promise<number> {
  let code = 0;
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  const run = (fn: () => Promise<number>) => async () => {
    code = await fn();
  };
  const parser = yargs(argv)
    .scriptName('exp')
    .usage('$0 <command> [options]\n\nTrain, evaluate and compare generative image models from YAML configs.')
    .version(GENLAB_VERSION)
    .option('verbose', { alias: 'v', type: 'boolean', description: 'print stack traces on errors' })
    .command(
      'run [config]',
      'train an experiment from a YAML config',
      (y) =>
        y
          .positional('config', { type: 'string', description: 'config file (optional with --resume)' })
          .option('set', { type: 'string', array: true, default: [] as string[], description: 'override a config key: --set model.latentDim=64' })
          .option('resume', { type: 'string', description: 'continue a run (id, id prefix or run folder) from its last checkpoint' })
          .option('steps', { type: 'number', description: 'shorthand for --set train.steps=N' })
          .option('backend', { choices: BACKENDS, description: 'shorthand for --set backend=…' })
          .option('output-dir', { type: 'string', description: 'where to look for --resume runs (default: the config\'s output.dir or ./outputs)' })
          .option('sweep', { type: 'string', array: true, default: [] as string[], description: 'sweep a key over values, one run each (a grid with other --sweep flags and the config\'s sweep: block): --sweep seed=1,2,3' })
          .option('parallel', { type: 'number', description: 'sweeps: run N variants at a time, as child processes sharing the CPU threads (default 1: one after another)' })
          .option('fail-fast', { type: 'boolean', description: 'sweeps: stop at the first failed variant (default: run the others)' })
          .option('queue', { type: 'string', description: 'sweeps: put the variants on this Redis queue (redis://host:6379/0) for exp worker processes on any machine, instead of running them here' })
          .option('attempts', { type: 'number', description: 'with --queue: attempts per variant before it ends FAILED (default 3)' })
          .option('wait', { type: 'boolean', description: 'with --queue: follow the sweep until every variant has ended (exit 1 if any failed)' })
          .option('shared-fs', { type: 'boolean', description: "with --queue: the tracking store (a file: URI) and output.dir are on a filesystem every worker mounts at the same path; checkpoints stay in the shared run folders" })
          .option('sweep-child', { type: 'string', hidden: true })
          .example('$0 run configs/gan-mnist.yaml', 'train the MLP GAN on MNIST')
          .example('$0 run configs/gan-mnist.yaml --set train.steps=20 --set model.latentDim=64', 'a shorter, smaller variant')
          .example('$0 run configs/gan-mnist.yaml --sweep model.name=gan/mlp,gan/dcgan --sweep seed=1,2 --parallel 2', 'a sweep: 4 runs, 2 at a time')
          .example('$0 run --resume 3f2a', 'continue run 3f2a… from its last checkpoint')
          .example('$0 run configs/gan-mnist.yaml --sweep seed=1,2,3 --set tracking.uri=http://mlflow:5000 --queue redis://redis:6379/0', 'a sweep for exp worker processes on other machines'),
      (a) =>
        run(() =>
          runCommand({
            ...(a.config !== undefined ? { config: a.config } : {}),
            set: a.set.map(String),
            ...(a.resume !== undefined ? { resume: a.resume } : {}),
            ...(a.steps !== undefined ? { steps: a.steps } : {}),
            ...(a.backend !== undefined ? { backend: a.backend } : {}),
            ...(a['output-dir'] !== undefined ? { outputDir: a['output-dir'] } : {}),
            sweep: a.sweep.map(String),
            ...(a.parallel !== undefined ? { parallel: a.parallel } : {}),
            ...(a['fail-fast'] !== undefined ? { failFast: a['fail-fast'] } : {}),
            ...(a['sweep-child'] !== undefined ? { sweepChild: a['sweep-child'] } : {}),
            ...(a.queue !== undefined ? { queue: a.queue } : {}),
            ...(a.attempts !== undefined ? { attempts: a.attempts } : {}),
            ...(a.wait !== undefined ? { wait: a.wait } : {}),
            ...(a['shared-fs'] !== undefined ? { sharedFs: a['shared-fs'] } : {}),
          }),
        )(),
    )
    .command(
      'validate <config>',
      'check a config (with overrides) without training; prints the resolved config',
      (y) =>
        y
          .positional('config', { type: 'string', demandOption: true })
          .option('set', { type: 'string', array: true, default: [] as string[], description: 'override a config key' })
          .option('sweep', { type: 'string', array: true, default: [] as string[], description: 'sweep a key over values (as exp run): every variant is checked' })
          .option('quiet', { alias: 'q', type: 'boolean', description: 'do not print the resolved config' })
          .example('$0 validate configs/gan-mnist.yaml --set model.loss=least-squares', '')
          .example('$0 validate configs/gan-mnist.yaml --sweep model.latentDim=32,64,128', 'list and check the variants of a sweep'),
      (a) => run(() => validateCommand({ config: a.config, set: a.set.map(String), sweep: a.sweep.map(String), quiet: Boolean(a.quiet) }))(),
    )
    .command(
      'new <kind> <name>',
      'scaffold a plugin in your project: the plugin (TypeScript), a config that uses it, and its contract test',
      (y) =>
        y
          .positional('kind', { choices: PLUGIN_TEMPLATES, demandOption: true, description: 'what to write' })
          .positional('name', { type: 'string', demandOption: true, description: "the plugin's name, e.g. my-gan" })
          .option('dir', { type: 'string', default: '.', description: 'folder to write the three files into' })
          .option('force', { type: 'boolean', description: 'overwrite files that exist' })
          .example('$0 new model my-gan', 'my-gan.ts, my-gan.yaml, my-gan.test.ts in this folder')
          .example('$0 new dataset shapes --dir src', ''),
      (a) =>
        run(async () => {
          const { files, next } = scaffold(a.kind, a.name, a.dir, { force: Boolean(a.force) });
          process.stdout.write(`wrote ${files.join(', ')}\nnext:\n${next.map((c) => `  ${c}`).join('\n')}\n`);
          return 0;
        })(),
    )
    .command(
      'list [config]',
      'list registered models, datasets, callbacks and trackers (plus a config\'s plugin modules)',
      (y) => y.positional('config', { type: 'string' }),
      (a) => run(() => listCommand({ ...(a.config !== undefined ? { config: a.config } : {}) }))(),
    )
    .command(
      'sample <run>',
      'draw a grid of samples from a run\'s last checkpoint',
      (y) =>
        y
          .positional('run', { type: 'string', demandOption: true, description: 'run id, id prefix or run folder' })
          .option('n', { type: 'number', default: 64, description: 'number of samples' })
          .option('out', { type: 'string', default: 'samples.png', description: 'PNG file to write' })
          .option('seed', { type: 'number', description: 'noise seed (random when omitted)' })
          .option('backend', { choices: BACKENDS })
          .option('output-dir', { type: 'string', default: './outputs', description: 'folder holding the runs' })
          .example('$0 sample 3f2a --n 100 --out grid.png --seed 1', ''),
      (a) =>
        run(() =>
          sampleCommand({
            run: a.run,
            n: a.n,
            out: a.out,
            ...(a.seed !== undefined ? { seed: a.seed } : {}),
            ...(a.backend !== undefined ? { backend: a.backend } : {}),
            outputDir: a['output-dir'],
          }),
        )(),
    )
    .command(
      'export <run>',
      "write the networks of a run's checkpoint that generate as a tfjs graph model any web page or Node program loads with plain @tensorflow/tfjs",
      (y) =>
        y
          .positional('run', { type: 'string', demandOption: true, description: 'run id, id prefix or run folder' })
          .option('out', { type: 'string', demandOption: true, description: 'folder to write (new or empty; --force to replace)' })
          .option('quantize', { choices: ['float16', 'uint8'] as const, description: 'smaller weights; the FID change is measured and a change above the bound refused (see --force)' })
          .option('checkpoint', { type: 'string', description: 'last (default), best, or a step number the run kept (callbacks.checkpoint.keep)' })
          .option('with-page', { type: 'boolean', default: false, description: 'also write a static sampler page (index.html)' })
          .option('force', { type: 'boolean', default: false, description: 'replace a non-empty --out; export quantized weights whose FID change exceeds the bound or cannot be measured' })
          .option('fid-samples', { type: 'number', default: 2000, description: 'samples per side for the quantization FID check' })
          .option('backend', { choices: BACKENDS })
          .option('output-dir', { type: 'string', default: './outputs', description: 'folder holding the runs' })
          .example('$0 export 3f2a --out web/ --with-page', 'the generator of run 3f2a… and a sampler page')
          .example('$0 export 3f2a --out web16/ --quantize float16', 'half-size weights, with the FID change measured'),
      (a) =>
        run(() =>
          exportCommand({
            run: a.run,
            out: a.out,
            outputDir: a['output-dir'],
            ...(a.quantize !== undefined ? { quantize: a.quantize } : {}),
            ...(a.checkpoint !== undefined ? { checkpoint: String(a.checkpoint) } : {}),
            withPage: a['with-page'],
            force: a.force,
            fidSamples: a['fid-samples'],
            ...(a.backend !== undefined ? { backend: a.backend } : {}),
          }),
        )(),
    )
    .command(
      'serve <dir>',
      "serve an export folder's sampler page (exp export --with-page) on this machine, with the same rules as exp ui",
      (y) =>
        y
          .positional('dir', { type: 'string', demandOption: true, description: 'the export folder (exp export --out)' })
          .option('port', { type: 'number', default: 5180, description: 'port (0: any free one)' })
          .option('host', { type: 'string', default: '127.0.0.1', description: 'address to bind (default: this machine only)' })
          .example('$0 serve web/', 'open http://127.0.0.1:5180/ for the export in web/'),
      (a) => run(() => serveCommand({ dir: a.dir, host: a.host, port: a.port }))(),
    )
    .command(
      'data <what> [name]',
      'describe a dataset (shape, size, class counts, pixel statistics) and draw real examples to a PNG',
      (y) =>
        y
          .positional('what', { type: 'string', demandOption: true, description: "a config file, a dataset name, or 'show' followed by a name" })
          .positional('name', { type: 'string', description: "the dataset name after 'show'" })
          .option('set', { type: 'string', array: true, default: [] as string[], description: 'override an option: dataset.split=test for a config, split=test for a name' })
          .option('n', { type: 'number', default: 64, description: 'examples in the grid' })
          .option('out', { type: 'string', description: 'PNG file to write (default data-<name>.png)' })
          .example('$0 data configs/gan-mnist.yaml', "the dataset of a config, as training sees it")
          .example('$0 data show fashion-mnist --set split=test --set classes=[Sneaker]', 'a dataset by name with options')
          .example('$0 data toy2d --set mixture=grid25 --out grid.png', 'a scatter plot of the 5x5 mixture'),
      (a) =>
        run(() => {
          const what = a.what === 'show' ? a.name : a.what;
          if (!what) throw new UserError("exp data show needs a dataset name, e.g. 'exp data show mnist'");
          if (a.what !== 'show' && a.name !== undefined) throw new UserError(`exp data takes one config or dataset name, got '${a.what}' and '${a.name}'`);
          return dataCommand({ what, set: a.set.map(String), n: a.n, ...(a.out !== undefined ? { out: a.out } : {}) });
        })(),
    )
    .command(
      'eval <run>',
      "evaluate a run's last checkpoint (FID, KID, IS, precision/recall, density/coverage, …) next to the real-vs-real floor",
      (y) =>
        y
          .positional('run', { type: 'string', demandOption: true, description: 'run id, id prefix or run folder' })
          .option('metrics', { type: 'string', array: true, description: 'fid, kid, is, pr, dc, cas, modes, nll (default: auto)' })
          .option('samples', { type: 'number', description: 'generated samples (default 5000)' })
          .option('real', { choices: ['train', 'test'] as const, description: 'reference split (default train)' })
          .option('floor', { type: 'boolean', default: true, description: 'also score as many other real images, none in the reference: the real-vs-real floor (--no-floor to skip)' })
          .option('seed', { type: 'number', description: 'evaluation seed (default 0)' })
          .option('feature-net', { type: 'string', description: 'a feature-network folder instead of the shipped one' })
          .option('log', { type: 'boolean', default: true, description: 'log the values into the run (--no-log to only print)' })
          .option('backend', { choices: BACKENDS })
          .option('output-dir', { type: 'string', default: './outputs', description: 'folder holding the runs' })
          .example('$0 eval 3f2a', 'all metrics of run 3f2a… with 5,000 samples')
          .example('$0 eval 3f2a --metrics fid kid --samples 10000', ''),
      (a) =>
        run(() =>
          evalCommand({
            run: a.run,
            outputDir: a['output-dir'],
            ...(a.metrics !== undefined ? { metrics: a.metrics.map(String) } : {}),
            ...(a.samples !== undefined ? { samples: a.samples } : {}),
            ...(a.real !== undefined ? { real: a.real } : {}),
            floor: a.floor,
            ...(a.seed !== undefined ? { seed: a.seed } : {}),
            ...(a['feature-net'] !== undefined ? { featureNet: a['feature-net'] } : {}),
            log: a.log,
            ...(a.backend !== undefined ? { backend: a.backend } : {}),
          }),
        )(),
    )
    .command(
      'compare [runs..]',
      'one table of runs: the params that differ and their final metrics (never mixing evaluation protocols in a column)',
      (y) =>
        y
          .positional('runs', { type: 'string', array: true, description: 'run ids, id prefixes or run names (default: all)' })
          .option('source', { type: 'string', default: './mlruns', description: 'local MLflow file store, or http(s)://server' })
          .option('experiment', { type: 'string', description: 'only runs of this experiment' })
          .option('sweep', { type: 'string', description: 'only runs of this sweep (tag genlab.sweep)' })
          .option('format', { choices: ['text', 'csv', 'json', 'md'] as const, default: 'text' as const })
          .example('$0 compare --experiment gan-mnist', '')
          .example('$0 compare 3f2a 9bc1 --format md', ''),
      (a) =>
        run(() =>
          compareCommand({
            runs: (a.runs ?? []).map(String),
            source: a.source,
            ...(a.experiment !== undefined ? { experiment: a.experiment } : {}),
            ...(a.sweep !== undefined ? { sweep: a.sweep } : {}),
            format: a.format,
          }),
        )(),
    )
    .command(
      'ui [source]',
      'a local web dashboard over a tracking store or an MLflow server: runs, param diffs, curves, sample grids',
      (y) =>
        y
          .positional('source', { type: 'string', default: './mlruns', description: 'local MLflow file store, or http(s)://server' })
          .option('port', { type: 'number', default: 5179 })
          .option('host', { type: 'string', default: '127.0.0.1', description: 'address to bind (default: this machine only)' })
          .option('queue', { type: 'string', description: "a sweep's view also shows its variants on this Redis queue (redis://host:6379/0)" })
          .example('$0 ui', 'open http://127.0.0.1:5179 for ./mlruns')
          .example('$0 ui http://localhost:5000', 'the same over an MLflow server'),
      (a) => run(() => uiCommand({ source: a.source, host: a.host, port: a.port, ...(a.queue !== undefined ? { queue: a.queue } : {}) }))(),
    )
    .command(
      'sync [store]',
      'push local runs (metrics, params, tags, artifacts, status) to an MLflow server, idempotently',
      (y) =>
        y
          .positional('store', { type: 'string', default: './mlruns', description: 'local MLflow file store' })
          .option('to', { type: 'string', demandOption: true, description: 'MLflow server, e.g. http://localhost:5000' })
          .option('run', { type: 'string', array: true, description: 'only these runs (ids or id prefixes)' })
          .example('$0 sync --to http://localhost:5000', 'push every local run; run it again any time'),
      (a) => run(() => syncCommand({ store: a.store, to: a.to, ...(a.run ? { runs: a.run.map(String) } : {}) }))(),
    )
    .command(
      'features <action>',
      'train the domain feature network that metrics use for a dataset (exp features train --dataset mnist)',
      (y) =>
        y
          .positional('action', { choices: ['train'] as const, demandOption: true })
          .option('dataset', { type: 'string', description: 'dataset name: uses configs/features/<name>.yaml' })
          .option('config', { type: 'string', description: 'a feature-network config file' })
          .option('epochs', { type: 'number', description: 'override train.epochs' })
          .option('out', { type: 'string', description: 'weights folder (default: the shipped packages/metrics/weights/<dataset>/)' })
          .option('backend', { choices: BACKENDS })
          .example('$0 features train --dataset mnist', 'retrain the shipped MNIST feature network'),
      (a) =>
        run(() =>
          featuresTrainCommand({
            ...(a.dataset !== undefined ? { dataset: a.dataset } : {}),
            ...(a.config !== undefined ? { config: a.config } : {}),
            ...(a.epochs !== undefined ? { epochs: a.epochs } : {}),
            ...(a.out !== undefined ? { out: a.out } : {}),
            ...(a.backend !== undefined ? { backend: a.backend } : {}),
          }),
        )(),
    )
    .command(
      'worker',
      'take sweep variants from a Redis queue and run them (any number of workers, on any machines)',
      (y) =>
        y
          .option('queue', { type: 'string', demandOption: true, description: 'the Redis queue, redis://host:6379/0' })
          .option('concurrency', { type: 'number', default: 1, description: 'variants at a time, each in a worker process of its own' })
          .option('max-jobs', { type: 'number', description: 'stop after this many variants' })
          .option('idle-exit', { type: 'number', description: 'stop after this many seconds without a variant to run' })
          .option('name', { type: 'string', description: 'the name this worker reports (default <host>:<pid>)' })
          .example('$0 worker --queue redis://redis:6379/0', 'run variants until stopped (SIGTERM hands the running one back)'),
      (a) =>
        run(async () => {
          const { workerCommand } = await import('./worker.js');
          return workerCommand({
            queue: a.queue,
            concurrency: a.concurrency,
            ...(a['max-jobs'] !== undefined ? { maxJobs: a['max-jobs'] } : {}),
            ...(a['idle-exit'] !== undefined ? { idleExit: a['idle-exit'] } : {}),
            ...(a.name !== undefined ? { name: a.name } : {}),
          });
        })(),
    )
    .command(
      'sweep <action> <id>',
      'a sweep on a queue: status (per variant: queued, running where and at which step, finished, failed and why, attempts), cancel, retry',
      (y) =>
        y
          .positional('action', { choices: ['status', 'cancel', 'retry'] as const, demandOption: true })
          .positional('id', { type: 'string', demandOption: true, description: 'the sweep id exp run --queue printed' })
          .option('queue', { type: 'string', demandOption: true, description: 'the Redis queue, redis://host:6379/0' })
          .option('failed', { type: 'boolean', description: 'retry: only the failed variants (default: every one that did not finish)' })
          .option('wait', { type: 'boolean', description: 'status: follow until every variant has ended (exit 1 if any failed)' })
          .option('format', { choices: ['text', 'json'] as const, default: 'text' as const }),
      (a) =>
        run(async () => {
          const { sweepControlCommand } = await import('./sweep-queue.js');
          return sweepControlCommand({ action: a.action, sweepId: a.id, queue: a.queue, ...(a.failed !== undefined ? { failed: a.failed } : {}), ...(a.wait !== undefined ? { wait: a.wait } : {}), format: a.format });
        })(),
    )
    .command(
      'runs',
      'list local runs (id, status, step, name)',
      (y) => y.option('output-dir', { type: 'string', default: './outputs' }),
      (a) => run(() => runsCommand({ outputDir: a['output-dir'] }))(),
    )
    .command(
      'bench',
      'training throughput of the MLP GAN, DCGAN and Row LSTM per backend, against PyTorch (pnpm bench)',
      (y) =>
        y
          .option('steps-mlp', { type: 'number', default: 200, description: 'timed steps for the MLP GAN' })
          .option('steps-dcgan', { type: 'number', default: 40, description: 'timed steps for the DCGAN' })
          .option('steps-rnn', { type: 'number', default: 20, description: 'timed steps for the Row LSTM' })
          .option('batch', { type: 'number', default: 64 })
          .option('models', { type: 'string', array: true, description: 'subset: mlp, dcgan, rnn, data, fid' })
          .option('out', { type: 'string', description: 'JSON results file (default bench/results/<time>.json)' })
          .option('profile', { type: 'string', description: 'instead: where a training step of one model (mlp, dcgan, rnn) spends its time, kernel by kernel, next to PyTorch\'s' })
          .option('top', { type: 'number', default: 15, description: '--profile: rows per table' })
          .option('worker', { type: 'string', hidden: true })
          .option('devices', { type: 'number', hidden: true, default: 1 })
          .option('one-thread-only', { type: 'boolean', default: false, description: 'skip the whole-machine table (every setting on every core)' })
          .option('rounds', { type: 'number', default: 2, description: 'interleaved rounds of every timed setting; the best of each is kept (the machine\'s speed drifts)' })
          .option('backend', { choices: BACKENDS, description: '--profile: the genlab backend (default wasm)' })
          .option('steps', { type: 'number', description: '--profile: profiled steps (default 10)' }),
      (a) =>
        run(async () => {
          if (a.worker === 'fid') {
            process.stdout.write(JSON.stringify(await benchFidWorker(10_000)) + '\n');
            return 0;
          }
          if (a.worker === 'data') {
            process.stdout.write(JSON.stringify(await benchDataWorker(a.batch)) + '\n');
            return 0;
          }
          if (a.worker && a.profile) {
            process.stdout.write(JSON.stringify(await profileWorker(a.worker, a.backend ?? 'wasm', a.steps ?? 10, a.batch)) + '\n');
            return 0;
          }
          if (a.profile) return profileCommand({ model: a.profile, steps: a.steps ?? 10, batch: a.batch, top: a.top, ...(a.backend ? { backend: a.backend } : {}), ...(a.out !== undefined ? { out: a.out } : {}) });
          if (a.worker) {
            const r = await benchWorker(a.worker, a.backend ?? 'auto', a.steps ?? 20, a.batch, a.devices);
            process.stdout.write(JSON.stringify(r) + '\n');
            return 0;
          }
          return benchCommand({
            steps: { mlp: a['steps-mlp'], dcgan: a['steps-dcgan'], rnn: a['steps-rnn'] },
            batch: a.batch,
            ...(a.out !== undefined ? { out: a.out } : {}),
            ...(a.models !== undefined ? { models: a.models.map(String) } : {}),
            oneThreadOnly: a['one-thread-only'],
            rounds: a.rounds,
          });
        })(),
    )
    .demandCommand(1, 'Name a command: run, worker, sweep, validate, new, list, sample, export, serve, eval, compare, data, features, ui, sync, runs or bench.')
    .strict()
    .help()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw err ?? new UserError(`${msg}\nRun 'exp --help' for usage.`);
    });
  try {
    await parser.parseAsync();
  } catch (error) {
    const exit = exitCodeOf(error);
    const message = (error as Error)?.message ?? String(error);
    process.stderr.write(`${exit === 2 ? 'error' : 'failed'}: ${message}\n`);
    // How tfjs's WebAssembly backend reports a full heap (it cannot grow past its limit).
    if (/memory access out of bounds/.test(message)) {
      process.stderr.write('hint: the wasm backend ran out of memory (its heap has a fixed limit): lower train.batchSize or the model widths\n');
    }
    if (verbose && error instanceof Error && error.stack) process.stderr.write(error.stack + '\n');
    else if (exit !== 2) process.stderr.write('(run with --verbose for the stack trace)\n');
    return exit;
  }
  return code;
}

process.exitCode = await main(hideBin(process.argv));
