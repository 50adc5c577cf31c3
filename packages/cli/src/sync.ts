/**
 * `exp sync [mlruns] --to http://host:port`: push the runs of a local MLflow file store
 * (metrics, params, tags, artifacts, status) to an MLflow server, idempotently: running it
 * twice creates no duplicate run or point.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '@genlab/core';
import { clientOptionsFromEnv, FileStore, localRunIds, MlflowClient, syncRun } from '@genlab/tracking';

const log = (message: string) => process.stderr.write(message + '\n');

export async function syncCommand(args: { store: string; to: string; runs?: string[] }): Promise<number> {
  const root = path.resolve(args.store.replace(/^file:/, ''));
  if (!fs.existsSync(root)) throw new UserError(`no local tracking store at ${root}`);
  if (!/^https?:\/\//.test(args.to)) throw new UserError(`--to must be an http(s) MLflow server URI, got '${args.to}'`);
  const store = new FileStore(root);
  const all = localRunIds(store);
  const wanted = args.runs?.length ? all.filter((id) => args.runs!.some((p) => id.startsWith(p))) : all;
  if (args.runs?.length && !wanted.length) throw new UserError(`no run in ${root} matches ${args.runs.join(', ')}`);
  const client = new MlflowClient(args.to, clientOptionsFromEnv());
  let failed = 0;
  for (const id of wanted) {
    try {
      const r = await syncRun(store, id, client);
      const what = [r.metrics && `${r.metrics} metric points`, r.params && `${r.params} params`, r.tags && `${r.tags} tags`, r.artifacts && `${r.artifacts} artifacts`, r.status && `status ${r.status}`].filter(Boolean);
      process.stdout.write(`${id} -> ${r.remoteRunId}${r.created ? ' (created)' : ''}: ${what.length ? what.join(', ') : 'up to date'}\n`);
    } catch (error) {
      failed++;
      log(`${id}: ${(error as Error).message}`);
    }
  }
  log(`synced ${wanted.length - failed} of ${wanted.length} runs from ${root} to ${args.to}`);
  return failed ? 1 : 0;
}
