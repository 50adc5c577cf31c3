/** @genlab/datasets: dataset plugins. A new dataset is one file plus one line in `datasets`. */
import type { PluginModule } from '@genlab/core';
import { mnist } from './mnist.js';

export { mnist, readBundledMnist, stratifiedSplit } from './mnist.js';

/** Every built-in dataset plugin. */
export const datasets: NonNullable<PluginModule['datasets']> = [mnist];
