/**
 * Where decoded datasets and downloads are cached: `$GENLAB_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/genlab`, else `~/.cache/genlab`. Shared by every run and config, so a
 * dataset is decoded (or downloaded) once per machine, not once per output folder.
 */
import os from 'node:os';
import path from 'node:path';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GENLAB_CACHE_DIR) return path.resolve(env.GENLAB_CACHE_DIR);
  return path.join(env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'), 'genlab');
}
