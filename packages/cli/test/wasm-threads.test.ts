/**
 * The threaded wasm build in Node (src/wasm-threads.ts): it starts with the threads asked for,
 * computes exactly what the single-threaded build computes (XNNPACK never splits a sum across
 * threads), agrees with the plain-JS cpu backend, and its worker pool does not keep a process
 * alive. Each side runs in its own process, as the CLI would.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { wasmThreadsWanted } from '../src/backend.js';
import { here } from './helpers.js';

const fixture = path.join(here, 'fixtures', 'wasm-ops.mjs');

interface Ops {
  backend: string;
  reason: string;
  threads: number;
  leaked: number;
  r: Record<string, number[]>;
}

function ops(backend: string, env: Record<string, string>): Ops {
  // The timeout turns a process held open by its thread pool into a failure.
  const p = spawnSync(process.execPath, [fixture, backend], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20, env: { ...process.env, ...env } });
  expect(p.status, p.stderr).toBe(0);
  return JSON.parse(p.stdout.trim().split('\n').at(-1)!) as Ops;
}

describe('threaded wasm backend', () => {
  it('runs 2 threads, equals the single-threaded build bit for bit and the cpu backend within float tolerance, leaks nothing and exits by itself', () => {
    const threaded = ops('wasm', { GENLAB_NATIVE: '0', GENLAB_WASM_THREADS: '2' });
    const single = ops('wasm', { GENLAB_NATIVE: '0', GENLAB_WASM_THREADS: '1' });
    const cpu = ops('cpu', {});
    expect(threaded.threads).toBe(2);
    expect(threaded.reason).toContain('2 threads');
    expect(single.threads).toBe(1);
    expect(threaded.leaked).toBe(0);
    expect(Object.keys(threaded.r).length).toBe(10);
    for (const [name, values] of Object.entries(threaded.r)) {
      expect(values, name).toEqual(single.r[name]);
      const ref = cpu.r[name]!;
      const scale = Math.max(1, ...ref.map(Math.abs));
      const worst = Math.max(...values.map((v, i) => Math.abs(v - ref[i]!)));
      expect(worst / scale, name).toBeLessThan(1e-5);
    }
  });
});

describe('wasm threads wanted', () => {
  const saved = { native: process.env.GENLAB_NATIVE, threads: process.env.GENLAB_WASM_THREADS };
  afterEach(() => {
    for (const [k, v] of [['GENLAB_NATIVE', saved.native], ['GENLAB_WASM_THREADS', saved.threads]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('gives each data-parallel replica its share of the cores on the pure-wasm path', () => {
    process.env.GENLAB_NATIVE = '0';
    delete process.env.GENLAB_WASM_THREADS;
    expect(wasmThreadsWanted(1, 2)).toBe(2);
    expect(wasmThreadsWanted(2, 2)).toBe(1);
    expect(wasmThreadsWanted(2, 8)).toBe(4);
    expect(wasmThreadsWanted('auto', 4)).toBe(1);
    expect(wasmThreadsWanted(1, 32)).toBe(8);
    expect(wasmThreadsWanted(3, 2)).toBe(1);
  });

  it('takes GENLAB_WASM_THREADS when set and refuses a bad value', () => {
    process.env.GENLAB_WASM_THREADS = '3';
    expect(wasmThreadsWanted(1, 2)).toBe(3);
    process.env.GENLAB_WASM_THREADS = '0';
    expect(wasmThreadsWanted(1, 2)).toBe(1);
    process.env.GENLAB_WASM_THREADS = 'two';
    expect(() => wasmThreadsWanted(1, 2)).toThrow(/GENLAB_WASM_THREADS must be a whole number/);
  });
});
