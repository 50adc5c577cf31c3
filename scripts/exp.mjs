#!/usr/bin/env node
// `pnpm exp …`: bring the packages' build up to date (turbo, cached: about a second when
// nothing changed), then run the `exp` CLI with the given arguments. Build output is shown
// only when the build fails.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const turbo = path.join(root, 'node_modules', '.bin', 'turbo');
const build = spawnSync(turbo, ['run', 'build', '--output-logs=errors-only', '--log-prefix=none'], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
});
if (build.status !== 0) {
  process.stderr.write(`genlab: building the packages failed:\n${build.stdout ?? ''}${build.stderr ?? ''}${build.error ? String(build.error) : ''}\n`);
  process.exit(2);
}
await import(path.join(root, 'packages', 'cli', 'dist', 'bin.js'));
