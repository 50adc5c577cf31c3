/**
 * Guard for a wasm correctness bug: tfjs-backend-wasm 4.22's `Conv3DBackpropFilterV2` gives
 * wrong results when a stride is larger than 1. Those calls are computed here with the
 * plain definition (the same loop as the cpu backend); stride-1 calls keep the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32, overrideKernel, type WasmBackendLike } from './heap.js';

/** Install the guard (idempotent). */
export function installWasmConv3dGuard(backendName = 'wasm'): void {
  overrideKernel('Conv3DBackpropFilterV2', backendName, (original) => ({ inputs, backend, attrs }) => {
    const x = inputs.x as tf.TensorInfo;
    const dy = inputs.dy as tf.TensorInfo;
    const a = attrs as unknown as { strides: number | [number, number, number]; pad: 'valid' | 'same'; filterShape: [number, number, number, number, number] };
    const strides: [number, number, number] = typeof a.strides === 'number' ? [a.strides, a.strides, a.strides] : a.strides;
    if (original && strides.every((s) => s === 1)) return original.kernelFunc({ inputs, backend, attrs });
    const be = backend as WasmBackendLike;
    const c = tf.backend_util.computeConv3DInfo(x.shape as [number, number, number, number, number], a.filterShape, strides, 1, a.pad);
    const out = be.makeOutput(a.filterShape, 'float32');
    const dw = f32(be, out);
    const xv = f32(be, x);
    const dyv = f32(be, dy);
    dw.fill(0);
    const { batchSize: N, inDepth: D, inHeight: H, inWidth: W, inChannels: CI, outDepth: OD, outHeight: OH, outWidth: OW, outChannels: CO } = c;
    const { filterDepth: FD, filterHeight: FH, filterWidth: FW, strideDepth: sd, strideHeight: sh, strideWidth: sw } = c;
    const { front, top, left } = c.padInfo;
    // dW[fd, fh, fw, ci, co] = Σ_{n, od, oh, ow} x[n, od·sd − front + fd, …, ci] · dy[n, od, oh, ow, co]
    for (let fd = 0; fd < FD; fd++)
      for (let fh = 0; fh < FH; fh++)
        for (let fw = 0; fw < FW; fw++)
          for (let n = 0; n < N; n++)
            for (let od = 0; od < OD; od++) {
              const id = od * sd - front + fd;
              if (id < 0 || id >= D) continue;
              for (let oh = 0; oh < OH; oh++) {
                const ih = oh * sh - top + fh;
                if (ih < 0 || ih >= H) continue;
                for (let ow = 0; ow < OW; ow++) {
                  const iw = ow * sw - left + fw;
                  if (iw < 0 || iw >= W) continue;
                  const xo = (((n * D + id) * H + ih) * W + iw) * CI;
                  const yo = (((n * OD + od) * OH + oh) * OW + ow) * CO;
                  for (let ci = 0; ci < CI; ci++) {
                    const xval = xv[xo + ci]!;
                    const wo = (((fd * FH + fh) * FW + fw) * CI + ci) * CO;
                    for (let co = 0; co < CO; co++) dw[wo + co]! += xval * dyv[yo + co]!;
                  }
                }
              }
            }
    return out;
  });
}
