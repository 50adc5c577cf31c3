/**
 * genlab/testing: the shared contract tests every plugin runs (vitest), and the helpers they
 * are built from. In a plugin project's test file:
 *
 *     import { describeModelContract } from 'genlab/testing';
 *     import { myModel } from './my-model.ts';
 *     describeModelContract(myModel, { config: {}, data: { shape: [28, 28, 1], numClasses: 10, range: [-1, 1] } });
 */
export * from '@genlab/core/testing';
