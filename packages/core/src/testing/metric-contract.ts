/**
 * The contract every metric plugin passes (`describeMetricContract`): a name, a description and
 * an input kind; its check passes on the test data; on a synthetic evaluation (random features
 * or values, the same for both sides, and a shifted copy) it reports finite numbers, the same
 * ones twice for the same input, and its check-free inputs do not change between calls.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataInfo, Features, MetricInput, MetricPlugin } from '../contracts.js';
import { mulberry32 } from '../rng.js';
import { ensureBackend } from './helpers.js';

/** Options for the metric contract test. */
export interface MetricContractOptions {
  /** Data the metric is computed for (default 8×8 grey images in [-1, 1], 4 classes). */
  data?: Omit<DataInfo, 'size'>;
  /** Examples on each side (default 64). */
  n?: number;
}

function random(n: number, d: number, seed: number, lo = 0, hi = 1): Features {
  const rand = mulberry32(seed);
  return { data: Float32Array.from({ length: n * d }, () => lo + (hi - lo) * rand()), n, d };
}

/** Class probabilities: rows of a random positive matrix, normalised. */
function probs(n: number, k: number, seed: number): Features {
  const p = random(n, k, seed, 0.01, 1);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += p.data[i * k + j]!;
    for (let j = 0; j < k; j++) p.data[i * k + j]! /= s;
  }
  return p;
}

export function describeMetricContract(plugin: MetricPlugin, opts: MetricContractOptions = {}): void {
  const data = { ...(opts.data ?? { shape: [8, 8, 1], numClasses: 4, range: [-1, 1] as [number, number] }), size: opts.n ?? 64 };
  const n = opts.n ?? 64;
  const dim = data.shape.reduce((a, b) => a * b, 1);
  const k = Math.max(2, data.numClasses);
  const side = (seed: number, shift = 0) => ({
    features: random(n, 16, seed, shift, 1 + shift),
    probs: probs(n, k, seed + 1),
    pixels: random(n, dim, seed + 2, data.range[0], data.range[1]),
  });
  const input = (fakeShift: number): MetricInput => ({
    real: side(1),
    fake: side(7, fakeShift),
    labels: Int32Array.from({ length: n }, (_, i) => i % k),
    info: data,
    seed: 0,
  });

  describe(`metric plugin contract: ${plugin.name}`, () => {
    beforeAll(ensureBackend);

    it('has a name, a description and an input kind', () => {
      expect(plugin.name).toMatch(/^[a-z0-9_-]+(\/[a-z0-9_-]+)?$/);
      expect(plugin.description.length).toBeGreaterThan(10);
      expect(['features', 'pixels']).toContain(plugin.input);
    });

    it('passes its own check on the test data', () => {
      expect(plugin.check?.({ data }) ?? undefined).toBeUndefined();
    });

    it('reports finite numbers, the same for the same input, without changing its input', () => {
      const a = input(0.5);
      const copy = structuredClone(a);
      const first = plugin.compute(a);
      expect(Object.keys(first).length).toBeGreaterThan(0);
      for (const [key, v] of Object.entries(first)) expect(Number.isFinite(v), `${key} = ${v}`).toBe(true);
      expect(plugin.compute(input(0.5))).toEqual(first);
      expect(a).toEqual(copy);
    });
  });
}
