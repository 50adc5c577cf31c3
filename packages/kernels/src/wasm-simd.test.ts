/**
 * The SIMD element-wise module (wasm-simd.ts): the committed binary is the one its source
 * compiles to; each kernel against the cpu backend (odd sizes, so the 16-, 4- and 1-lane
 * loops all run), special values, first and second derivatives through core's gradients,
 * the per-channel sums bit for bit against the JavaScript loop, the shared-memory build, and
 * no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs's own gradients first, as every genlab process does
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_KERNEL, GRAD_KERNELS as CORE_GRAD_KERNELS, registerHigherOrderGradients } from '@genlab/core';
// @ts-expect-error: a plain .mjs script without types
import { compileSimd } from '../scripts/gen-simd.mjs';
import { SIMD_WASM } from './simd-wasm.js';
import { GRAD_KERNELS, installWasmSimd, simdKernels, type SimdKernels } from './wasm-simd.js';
import { installWasmReduce, sumRows } from './wasm-reduce.js';
import { installWasmMatMul } from './wasm-matmul.js';
import { col2im, convDims, convInfo, im2col } from './wasm-conv.js';
import type { WasmBackendLike } from './heap.js';
import { adamSteps, mulberry32, on, worstRelError } from './test-helpers.js';

const rand = mulberry32(31);
const data = (n: number, scale = 3) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
const SIZES = [1, 3, 4, 15, 16, 17, 35, 1000, 4099];

/** Largest |a − e| over all elements (arrays of one length). */
const worstAbs = (a: Float32Array, e: ArrayLike<number>) => a.reduce((w, v, i) => Math.max(w, Math.abs(v - e[i]!)), 0);

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  installWasmMatMul();
  installWasmSimd();
  installWasmReduce();
  registerHigherOrderGradients();
});

afterEach(() => {
  delete process.env.GENLAB_SIMD_KERNELS;
});

describe('the SIMD module', () => {
  it('is committed as its source compiles (run scripts/gen-simd.mjs after editing it)', async () => {
    expect(await compileSimd()).toEqual(SIMD_WASM);
  });

  it('runs on the wasm heap, and its kernel names are core’s', async () => {
    await tf.setBackend('wasm');
    expect(simdKernels(tf.backend())).toBeDefined();
    expect(GRAD_KERNELS).toEqual(CORE_GRAD_KERNELS);
    for (const name of Object.values(GRAD_KERNELS)) expect(tf.getKernel(name, 'wasm')).toBeDefined();
  });
});

describe('Tanh and LeakyRelu on wasm against the cpu backend', () => {
  for (const n of SIZES) {
    it(`tanh of ${n} values is within 4e-7 of Math.tanh, with no leak`, async () => {
      const v = data(n, 6);
      const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
      const [got] = await on('wasm', () => tf.tanh(tf.tensor1d(v)));
      expect(tf.memory().numTensors).toBe(before);
      expect(worstAbs(got!, Array.from(v, Math.tanh))).toBeLessThan(4e-7);
    });
    it(`leakyRelu of ${n} values equals the cpu backend's`, async () => {
      for (const alpha of [0.2, 0.01, 0.5]) {
        const v = data(n);
        const f = () => tf.leakyRelu(tf.tensor1d(v), alpha);
        expect(worstRelError(await on('wasm', f), await on('cpu', f))).toBeLessThan(1e-7);
      }
    });
  }

  it('keeps tanh’s special values: ±0, tiny, saturated, ±∞ and NaN', async () => {
    const v = [0, -0, 1e-30, -3e-4, 5e-4, 7.9, -8, 20, -1e30, Infinity, -Infinity, NaN];
    const [got] = await on('wasm', () => tf.tanh(tf.tensor1d(v)));
    const want = v.map(Math.tanh);
    got!.forEach((g, i) => (Number.isNaN(want[i]) ? expect(g).toBeNaN() : expect(Math.abs(g - want[i]!)).toBeLessThan(4e-7)));
    expect(Object.is(got![1], -0)).toBe(true);
    expect(got![2]).toBe(Math.fround(1e-30));
    const [leaky] = await on('wasm', () => tf.leakyRelu(tf.tensor1d([NaN, -Infinity, Infinity, -0]), 0.2));
    expect(Array.from(leaky!)).toEqual([NaN, -Infinity, Infinity, -0]);
  });

  it('leaves other dtypes to the stock kernels, and GENLAB_SIMD_KERNELS=0 restores them', async () => {
    const v = data(37, 6);
    const [simd] = await on('wasm', () => tf.tanh(tf.tensor1d(v)));
    process.env.GENLAB_SIMD_KERNELS = '0';
    const [stock] = await on('wasm', () => tf.tanh(tf.tensor1d(v)));
    expect(worstAbs(stock!, Array.from(v, Math.tanh))).toBeLessThan(4e-7);
    expect(Array.from(stock!)).not.toEqual(Array.from(simd!)); // a different computation ran
    delete process.env.GENLAB_SIMD_KERNELS;
    const [ints] = await on('wasm', () => tf.leakyRelu(tf.tensor1d([-2, 3], 'int32'), 0.5));
    expect(Array.from(ints!)).toEqual([-1, 3]);
  });
});

describe('the fused gradients through core’s gradient registry', () => {
  for (const n of [17, 4099]) {
    it(`first and second derivatives of tanh and leakyRelu (${n} values) match the cpu backend`, async () => {
      const xv = data(n, 4);
      const wv = data(n, 1);
      const first = () => {
        const w = tf.tensor1d(wv);
        const f = (x: tf.Tensor) => tf.add(tf.sum(tf.mul(w, tf.tanh(x))), tf.sum(tf.mul(w, tf.leakyRelu(tf.mul(x, 0.7), 0.2))));
        return tf.grad(f)(tf.tensor1d(xv));
      };
      // d/dx Σ (∂f/∂x)²: the gradient kernels' own gradients (a gradient penalty's shape).
      const second = () =>
        tf.grad((x: tf.Tensor) => {
          const w = tf.tensor1d(wv);
          const g = tf.grad((y: tf.Tensor) => tf.add(tf.sum(tf.mul(w, tf.tanh(y))), tf.sum(tf.mul(w, tf.leakyRelu(tf.mul(y, x), 0.2)))))(x);
          return tf.sum(tf.square(g));
        })(tf.tensor1d(xv));
      const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
      const wasm1 = await on('wasm', first);
      const wasm2 = await on('wasm', second);
      expect(tf.memory().numTensors).toBe(before);
      expect(worstRelError(wasm1, await on('cpu', first))).toBeLessThan(2e-6);
      expect(worstRelError(wasm2, await on('cpu', second))).toBeLessThan(1e-5);
    });
  }

  it('go through the fused kernels on wasm (one kernel for each derivative)', async () => {
    await tf.setBackend('wasm');
    const names: string[] = [];
    const profile = await tf.profile(() => {
      tf.tidy(() => {
        const x = tf.tensor1d(data(64));
        tf.grad((y: tf.Tensor) => tf.sum(tf.add(tf.tanh(y), tf.leakyRelu(y, 0.2))))(x);
      });
    });
    names.push(...profile.kernels.map((k) => k.name));
    expect(names).toContain(GRAD_KERNELS.Tanh);
    expect(names).toContain(GRAD_KERNELS.LeakyRelu);
    expect(names).not.toContain('Greater');
    expect(names).not.toContain('Select');
  });

  it('fall back to the composite form where the backend has no fused kernel (cpu)', async () => {
    await tf.setBackend('cpu');
    const profile = await tf.profile(() => {
      tf.tidy(() => {
        tf.grad((y: tf.Tensor) => tf.sum(tf.leakyRelu(y, 0.2)))(tf.tensor1d([-1, 2]));
      });
    });
    expect(profile.kernels.map((k) => k.name)).toContain('Greater');
  });
});

describe('per-channel sums', () => {
  for (const [rows, cols] of [[1, 1], [7, 1], [5, 3], [9, 4], [4, 5], [33, 64], [12, 130]] as const) {
    it(`of [${rows}, ${cols}] equal the JavaScript loop bit for bit`, async () => {
      await tf.setBackend('wasm');
      const v = data(rows * cols);
      for (const op of ['sum', 'mean'] as const) {
        const [got] = await on('wasm', () => tf[op](tf.tensor2d(v, [rows, cols]), 0));
        const want = new Float32Array(cols);
        sumRows(v, rows, cols, want, op === 'mean' ? 1 / rows : 1);
        expect(Array.from(got!)).toEqual(Array.from(want));
      }
    });
  }
});

describe('the shared-memory build (the threaded backend’s heap)', () => {
  it('computes what the ordinary build computes', async () => {
    await tf.setBackend('wasm');
    const WA = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => { buffer: ArrayBuffer }; Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: unknown } } }).WebAssembly;
    const memory = new WA.Memory({ initial: 2, maximum: 16, shared: true });
    const k = new WA.Instance(new WA.Module(Buffer.from(SIMD_WASM.shared, 'base64')), { env: { memory } }).exports as SimdKernels;
    const n = 1001;
    const v = data(n, 5);
    const heap = new Float32Array(memory.buffer);
    heap.set(v, 0);
    k.tanh(0, 4 * n, n);
    k.leaky_relu(0, 8 * n, n, 0.2);
    const [tanh, leaky] = await on('wasm', () => [tf.tanh(tf.tensor1d(v)), tf.leakyRelu(tf.tensor1d(v), 0.2)]);
    expect(Array.from(heap.subarray(n, 2 * n))).toEqual(Array.from(tanh!));
    expect(Array.from(heap.subarray(2 * n, 3 * n))).toEqual(Array.from(leaky!));
    const be = tf.backend() as WasmBackendLike;
    expect(simdKernels(be)).not.toBe(k);
  });
});

const adamShapes = [[37, 5], [11], [3, 3, 2, 4], [1001]];

describe('the one-pass Adam update', () => {
  for (const config of [{}, { lr: 1e-3, beta1: 0, beta2: 0.9, eps: 1e-6 }]) {
    it(`equals the composite update bit for bit, on cpu and on wasm (${JSON.stringify(config)})`, async () => {
      const fused = await adamSteps('wasm', 5, config, adamShapes);
      expect(fused.leaked).toBe(0);
      expect([...fused.kernels].filter((k) => k !== 'ZerosLike')).toEqual([ADAM_KERNEL]); // ZerosLike: the slots, once
      const kernel = tf.getKernel(ADAM_KERNEL, 'wasm')!;
      tf.unregisterKernel(ADAM_KERNEL, 'wasm');
      try {
        const composite = await adamSteps('wasm', 5, config, adamShapes);
        expect(composite.kernels.has(ADAM_KERNEL)).toBe(false);
        expect(fused.values).toEqual(composite.values);
      } finally {
        tf.registerKernel(kernel);
      }
      expect(fused.values).toEqual((await adamSteps('cpu', 5, config, adamShapes)).values);
    });
  }
});

describe('Transpose of the last two axes', () => {
  const cases: number[][] = [[1, 1], [3, 5], [4, 4], [8, 12], [17, 9], [33, 70], [64, 1024], [2, 6, 7], [2, 3, 5, 8]];
  for (const shape of cases) {
    for (const dtype of ['float32', 'int32'] as const) {
      it(`of ${dtype} [${shape}] equals the cpu backend’s, with no leak`, async () => {
        const r = shape.length;
        const perm = [...Array(r - 2).keys(), r - 1, r - 2];
        const v = Array.from(data(shape.reduce((a, b) => a * b, 1)), (x) => (dtype === 'int32' ? Math.round(x * 100) : x));
        const f = () => tf.transpose(tf.tensor(v, shape, dtype), perm);
        const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
        const wasm = await on('wasm', f);
        expect(tf.memory().numTensors).toBe(before);
        expect(Array.from(wasm[0]!)).toEqual(Array.from((await on('cpu', f))[0]!));
      });
    }
  }
  it('leaves other permutations to the stock kernel', async () => {
    const v = data(2 * 3 * 4);
    const f = () => tf.transpose(tf.tensor3d(v, [2, 3, 4]), [1, 0, 2]);
    expect(Array.from((await on('wasm', f))[0]!)).toEqual(Array.from((await on('cpu', f))[0]!));
  });
});

describe('im2col and col2im', () => {
  // [x shape, filter shape, strides, pad, dilations]
  const geometries: [number[], number[], number, 'same' | 'valid' | number, number][] = [
    [[2, 7, 7, 1], [5, 5, 1, 4], 2, 'same', 1], // CI = 1, the first layer of a conv critic
    [[3, 6, 5, 3], [3, 3, 3, 2], 1, 'same', 1],
    [[2, 9, 8, 4], [3, 2, 4, 2], 2, 'valid', 1],
    [[1, 9, 9, 2], [3, 3, 2, 2], 1, 2, 2], // dilation: one tap at a time
    [[2, 5, 6, 5], [5, 5, 5, 1], 3, 1, 1], // stride beyond the kernel's reach with padding
    [[4, 1, 28, 8], [1, 3, 8, 4], 1, 'same', 1], // the Row LSTM's conv1d
  ];
  for (const [xs, fs, stride, pad, dil] of geometries) {
    it(`of x [${xs}], filter [${fs}], stride ${stride}, pad ${pad}, dilation ${dil} equal the JavaScript loops bit for bit`, async () => {
      await tf.setBackend('wasm');
      const be = tf.backend() as WasmBackendLike;
      const k = simdKernels(be)!;
      const info = convInfo(xs, fs, { strides: stride, pad, dataFormat: 'NHWC', dilations: dil });
      const P = info.batchSize * info.outHeight * info.outWidth;
      const K = info.filterHeight * info.filterWidth * info.inChannels;
      const dims = convDims(info);
      const xv = data(xs.reduce((a, b) => a * b, 1));
      const cv = data(P * K);
      const x = tf.tensor(xv, xs);
      const colsIn = tf.tensor(cv, [P, K]);
      const cols = tf.zeros([P, K]);
      const dx = tf.zeros(xs);
      const heap = (t: tf.Tensor) => (be.typedArrayFromHeap(t) as Float32Array).byteOffset;
      k.im2col(heap(x), heap(cols), ...dims);
      k.col2im(heap(dx), heap(colsIn), ...dims);
      const wantCols = new Float32Array(P * K);
      im2col(xv, info, wantCols);
      const wantDx = new Float32Array(xv.length);
      col2im(cv, info, wantDx);
      expect(Array.from(cols.dataSync())).toEqual(Array.from(wantCols));
      expect(Array.from(dx.dataSync())).toEqual(Array.from(wantDx));
      tf.dispose([x, colsIn, cols, dx]);
    });
  }
});

describe('the dot product of two vectors (the gradient norm’s gᵀg)', () => {
  for (const n of [1024, 1027, 65537]) {
    it(`of ${n} values equals the JavaScript loop bit for bit, and the cpu backend within float rounding`, async () => {
      const [av, bv] = [data(n), data(n)];
      const f = () => tf.matMul(tf.tensor2d(av, [1, n]), tf.tensor2d(bv, [n, 1]));
      const g = () => tf.matMul(tf.tensor2d(av, [n, 1]), tf.tensor2d(bv, [1, n]), true, true);
      const [simd, simdT] = [(await on('wasm', f))[0]!, (await on('wasm', g))[0]!];
      process.env.GENLAB_SIMD_KERNELS = '0';
      const js = (await on('wasm', f))[0]!;
      delete process.env.GENLAB_SIMD_KERNELS;
      expect(Array.from(simd)).toEqual(Array.from(js));
      expect(Array.from(simdT)).toEqual(Array.from(js));
      let exact = 0;
      for (let i = 0; i < n; i++) exact += av[i]! * bv[i]!;
      expect(Math.abs(simd[0]! - exact)).toBeLessThanOrEqual(Math.abs(exact) * 1e-7 + 1e-30);
    });
  }
});

describe('Add, Sub and Multiply with one side broadcast over leading axes', () => {
  // [a shape, b shape]: SIMD rows where b is a's trailing dims, else the stock kernel.
  const cases: [number[], number[]][] = [[[64, 512], [512]], [[3, 5, 7], [5, 7]], [[3, 5, 7], [1, 1, 7]], [[9, 6], [1, 6]], [[512], [64, 512]], [[4, 4], [4, 4]], [[2, 3], [3]], [[5, 1], [1, 6]]];
  for (const [as, bs] of cases) {
    it(`of [${as}] and [${bs}] equal the cpu backend’s bit for bit, with no leak`, async () => {
      const [av, bv] = [data(as.reduce((p, d) => p * d, 1)), data(bs.reduce((p, d) => p * d, 1))];
      for (const op of ['add', 'sub', 'mul'] as const) {
        const f = () => tf[op](tf.tensor(av, as), tf.tensor(bv, bs));
        const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
        const wasm = await on('wasm', f);
        expect(tf.memory().numTensors).toBe(before);
        const cpu = await on('cpu', f);
        expect(Array.from(wasm[0]!)).toEqual(Array.from(cpu[0]!));
      }
    });
  }
  it('leaves int32 to the stock kernels', async () => {
    const [r] = await on('wasm', () => tf.add(tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], 'int32'), tf.tensor1d([1, 1, 1, 1], 'int32')));
    expect(Array.from(r!)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
