/**
 * Small helpers for kernels that work directly on the wasm backend's heap: typed views of
 * tensors, new outputs, reinterpreting a tensor with another shape, and calling another
 * registered kernel (e.g. the fast matmul) from inside a kernel.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The public methods of tfjs-backend-wasm's BackendWasm used by genlab's kernels. */
export interface WasmBackendLike extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** A float32 view of a tensor's data on the wasm heap (no copy). */
export function f32(backend: WasmBackendLike, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** The same data seen with another shape (a free reshape: same dataId). */
export function view(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Run the kernel registered now for `kernelName` on `backendName` (the patched one if any). */
export function runKernel(
  kernelName: string,
  backendName: string,
  backend: tf.KernelBackend,
  inputs: tf.NamedTensorInfoMap,
  attrs: Record<string, unknown>,
): tf.TensorInfo {
  const k = tf.getKernel(kernelName, backendName);
  if (!k) throw new Error(`kernel ${kernelName} is not registered for ${backendName}`);
  return k.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
}

/**
 * Replace (or add) a kernel, once per process and `layer` ('pack', 'native', …); `make`
 * gets the kernel registered before (if any), so layers stack: native on top of the pack.
 */
export function overrideKernel(
  kernelName: string,
  backendName: string,
  make: (original: tf.KernelConfig | undefined) => tf.KernelFunc,
  layer = 'pack',
): void {
  const key = Symbol.for(`genlab.kernel.${backendName}.${kernelName}.${layer}`);
  const g = globalThis as Record<symbol, boolean | undefined>;
  if (g[key]) return;
  const original = tf.getKernel(kernelName, backendName);
  const kernelFunc = make(original);
  if (original) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ ...(original ?? {}), kernelName, backendName, kernelFunc });
  g[key] = true;
}
