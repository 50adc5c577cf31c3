import '@tensorflow/tfjs-backend-cpu';
//# sourceMappingURL=vitest.setup.d.ts.map