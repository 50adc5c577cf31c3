// Convolution kernels of the pure-wasm pack against the cpu backend (native-conv.test.ts
// runs the same suite with the native BLAS on top).
import { describeConvSuite } from './conv-suite.js';

describeConvSuite(false);
