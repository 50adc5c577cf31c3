// The convolution suite with the native BLAS kernels on top of the wasm pack.
import { it } from 'vitest';
import { describeConvSuite } from './conv-suite.js';
import { loadNativeBlas } from './index.js';

if (loadNativeBlas().blas) describeConvSuite(true);
// Skipped because the native addon is not built here (no libopenblas-dev at install); CI builds it.
else it.skip('native conv suite (native BLAS addon not built)', () => {});
