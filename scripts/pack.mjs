#!/usr/bin/env node
// `pnpm pack:all [--out DIR] [--no-build]`: build every package (unless --no-build: the
// caller has built them), then pack each into a tarball with
// `pnpm pack` (which rewrites the workspace:* ranges to the packages' versions), so a project
// outside this repository installs genlab with plain npm:
//
//     npm install /path/to/genlab-packages/*.tgz
//
// and gets the `exp` command and the `genlab` SDK (import { tf, z, … } from 'genlab').
// Prints the tarballs and that command; the folder is emptied of old tarballs first.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const at = args.indexOf('--out');
const out = path.resolve(at >= 0 && args[at + 1] ? args[at + 1] : path.join(root, 'dist-packages'));

const run = (cmd, argv, cwd) => {
  const r = spawnSync(cmd, argv, { cwd, encoding: 'utf8', env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' } });
  if (r.status !== 0) {
    process.stderr.write(`genlab: '${cmd} ${argv.join(' ')}' failed in ${cwd}:\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}\n`);
    process.exit(1);
  }
  return r.stdout;
};

if (!args.includes('--no-build')) run(path.join(root, 'node_modules', '.bin', 'turbo'), ['run', 'build', '--output-logs=errors-only', '--log-prefix=none'], root);
fs.mkdirSync(out, { recursive: true });
for (const f of fs.readdirSync(out)) if (f.endsWith('.tgz')) fs.rmSync(path.join(out, f));

// pnpm itself: the one running this script (`pnpm pack:all`), else the one on PATH.
const execpath = process.env.npm_execpath;
const pnpm = execpath && /pnpm/.test(path.basename(execpath)) ? (/\.c?js$/.test(execpath) ? [process.execPath, execpath] : [execpath]) : ['pnpm'];
const packages = fs
  .readdirSync(path.join(root, 'packages'))
  .filter((d) => fs.existsSync(path.join(root, 'packages', d, 'package.json')))
  .sort();
const tarballs = [];
for (const dir of packages) {
  const cwd = path.join(root, 'packages', dir);
  const before = new Set(fs.readdirSync(out));
  run(pnpm[0], [...pnpm.slice(1), 'pack', '--pack-destination', out], cwd);
  const made = fs.readdirSync(out).filter((f) => f.endsWith('.tgz') && !before.has(f));
  if (made.length !== 1) {
    process.stderr.write(`genlab: packing ${dir} made ${made.length} tarballs in ${out}\n`);
    process.exit(1);
  }
  tarballs.push(made[0]);
}
process.stdout.write(
  `${tarballs.length} packages in ${out}:\n${tarballs.map((t) => `  ${t}`).join('\n')}\n\n` +
    `In your project (Node 20+, npm):\n  npm install ${path.join(out, '*.tgz')}\n  npx exp new model my-model\n`,
);
