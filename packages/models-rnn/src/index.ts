/** @genlab/models-rnn: autoregressive pixel RNN plugins. A new model is one file plus one line in `models`. */
import type { PluginModule } from '@genlab/core';
import { rowLstm } from './row-lstm.js';

export { rowLstm, RowLstm, type RowLstmConfig } from './row-lstm.js';
export { RowLstmNet, RowCursor, STATE_KERNEL, type RowLstmSpec, type RowState } from './net.js';
export { ancestralSample, incrementalLogits } from './sample.js';

/** Every built-in pixel RNN plugin. */
export const models: NonNullable<PluginModule['models']> = [rowLstm];
