/**
 * @genlab/queue: sweeps on many machines. A sweep submitted with `exp run --queue` becomes one
 * BullMQ job per variant on Redis; `exp worker` processes on any machine take them. This
 * package holds what the submitter, the workers, `exp sweep` and the dashboard share: the
 * queue URL, the job layout and ids, the sweep records, status, cancel and retry.
 */
export { QUEUE_NAME, parseQueueUrl, redisOptions, checkReachable, type QueueUrl } from './connection.js';
export {
  VARIANT_JOB,
  JOB_FORMAT,
  SWEEPS_KEY,
  jobIdOf,
  incompatibility,
  openQueue,
  clientOf,
  activeLocks,
  readSweepRecord,
  writeSweepRecord,
  listSweepRecords,
  variantJobOptions,
  addVariantJobs,
  readdVariantJob,
  type VariantJobData,
  type VariantProgress,
  type VariantResult,
  type SweepRecord,
  type SweepQueue,
} from './jobs.js';
export { sweepStatus, statusTable, type SweepStatus, type VariantStatus, type VariantState } from './status.js';
export { cancelSweep, retrySweep } from './control.js';
