#!/usr/bin/env node
// Install step of @genlab/kernels: build the optional native BLAS addon when the system has
// OpenBLAS's headers (Debian: `apt-get install libopenblas-dev`) and a C compiler. It never
// fails the install: without the addon, genlab's pure-wasm kernels run.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const native = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'native');
const headers = ['/usr/include/cblas.h', '/usr/include/x86_64-linux-gnu/cblas.h', '/usr/include/aarch64-linux-gnu/cblas.h', '/usr/include/openblas/cblas.h'];
const say = (m) => process.stdout.write(`genlab: ${m}\n`);

if (process.env.GENLAB_NATIVE === '0') {
  say('GENLAB_NATIVE=0: not building the native BLAS addon');
} else if (!headers.some((h) => fs.existsSync(h))) {
  say('no system OpenBLAS found (Debian: apt-get install libopenblas-dev): using the pure-wasm kernels');
} else {
  // Build against the installed Node's own headers when present (no header download).
  const prefix = path.dirname(path.dirname(process.execPath));
  const args = ['rebuild', ...(fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [])];
  // node-gyp: on PATH inside pnpm/npm scripts, else the copy bundled with npm.
  const bundled = path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  let r = spawnSync('node-gyp', args, { cwd: native, encoding: 'utf8' });
  if (r.error && fs.existsSync(bundled)) r = spawnSync(process.execPath, [bundled, ...args], { cwd: native, encoding: 'utf8' });
  if (r.status === 0) say('built the native BLAS addon (OpenBLAS sgemm for the wasm backend)');
  else say(`could not build the native BLAS addon (${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' | ')}): using the pure-wasm kernels`);
}
