/**
 * `exp serve <dir>`: serve an export folder (its sampler page, model and sampler) over HTTP
 * on this machine, with the rules of `exp ui` (see @genlab/dashboard's http.ts): 127.0.0.1
 * unless --host says otherwise, loopback Host headers only, GET and HEAD only, files inside
 * the folder only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { EXPORT_FORMAT, UserError } from '@genlab/core';
import { startFolderServer } from '@genlab/dashboard';
import { serveUntilStopped } from './ui.js';

const log = (message: string) => process.stderr.write(message + '\n');

/** The folder's genlab.json, checked to be an export's; a `UserError` naming the folder otherwise. */
function readExport(dir: string, given: string): { model?: string; run?: { id?: string } } {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new UserError(`no folder ${dir}: write an export there first (exp export <run> --out ${given} --with-page)`);
  }
  if (!stat.isDirectory()) throw new UserError(`${dir} is not a folder: exp serve serves an export folder (exp export <run> --out <folder> --with-page)`);
  const file = path.join(dir, 'genlab.json');
  let manifest: unknown;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UserError(`${dir} is not a genlab export: ${missing ? 'it has no genlab.json' : `its genlab.json does not parse (${(error as Error).message})`}; write one with exp export <run> --out <folder> --with-page`);
  }
  const format = (manifest as { format?: unknown } | null)?.format;
  if (format !== EXPORT_FORMAT) throw new UserError(`${file} is not a genlab export's manifest: its format is ${JSON.stringify(format ?? null)}, not ${EXPORT_FORMAT}`);
  return manifest as { model?: string; run?: { id?: string } };
}

export async function serveCommand(args: { dir: string; host: string; port: number }): Promise<number> {
  const dir = path.resolve(args.dir);
  const manifest = readExport(dir, args.dir);
  const page = fs.existsSync(path.join(dir, 'index.html'));
  if (!page) log(`note: ${dir} has no sampler page (export with --with-page for one); serving its model files only`);
  const what = `${manifest.model ?? 'model'} of run ${String(manifest.run?.id ?? '?').slice(0, 8)}`;
  return serveUntilStopped(args, 'this export', () => startFolderServer(dir, { host: args.host, port: args.port }), (url) =>
    page ? `genlab sampler for the ${what}: ${url}/` : `genlab export (${what}): ${url}/model.json`,
  );
}
