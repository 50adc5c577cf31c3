/** Status, cancel and retry of a sweep against a real redis-server (BullMQ's own job states). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker, UnrecoverableError } from 'bullmq';
import { addVariantJobs, cancelSweep, openQueue, parseQueueUrl, QUEUE_NAME, redisOptions, retrySweep, sweepStatus, writeSweepRecord, type SweepQueue, type VariantJobData } from '../src/index.js';
import { redisSkipReason, startRedis, type TestRedis } from '../src/testing/redis-server.js';

const skip = redisSkipReason();
if (skip) process.stderr.write(`queue control: ${skip}\n`);

const data = (sweepId: string, index: number): VariantJobData => ({
  format: 1, genlabVersion: '0.1.0', sweepId, index, total: 3, label: `seed=${index}`, config: 'name: x\n', configDir: '/', trackingUri: 'http://127.0.0.1:5000',
  experiment: 'x', experimentId: '1', parentRunId: 'p'.repeat(32), runId: String(index).repeat(32), runName: `x-${index}`, artifactUri: 'mlflow-artifacts:/1/r/artifacts', submittedAt: 0, submittedBy: 'me@here',
});

// Skipped only where redis-server is not installed and GENLAB_REQUIRE_REDIS is unset
// (redisSkipReason throws when it is set); .ci/run installs it and sets the variable.
describe.skipIf(Boolean(skip))('sweep status, cancel and retry', () => {
  let redis: TestRedis;
  let queue: SweepQueue;
  beforeAll(async () => {
    redis = await startRedis();
    queue = openQueue(parseQueueUrl(redis.url));
  });
  afterAll(async () => {
    await queue?.close();
    await redis?.stop();
  });

  it('adds each variant once, reports states and reasons, cancels queued variants and brings them back', async () => {
    const id = 'abcd0001';
    await writeSweepRecord(queue, { sweepId: id, total: 3, name: 'x', config: 'x.yaml', trackingUri: 'http://127.0.0.1:5000', experiment: 'x', experimentId: '1', parentRunId: 'p'.repeat(32), parentRunName: 'x-sweep', genlabVersion: '0.1.0', submittedAt: 1, labels: ['seed=0', 'seed=1', 'seed=2'], runIds: ['0'.repeat(32), '1'.repeat(32), '2'.repeat(32)] });
    const jobs = [0, 1, 2].map((i) => ({ data: data(id, i), attempts: 2 }));
    expect(await addVariantJobs(queue, jobs.slice(0, 1))).toBe(1);
    expect((await sweepStatus(queue, id))!.counts).toMatchObject({ queued: 1, cancelled: 2 });

    // A worker takes variant 1 and fails it for good.
    const worker = new Worker<VariantJobData>(QUEUE_NAME, async (job) => {
      throw new UnrecoverableError(`bad data in ${job.data.label}`);
    }, { connection: redisOptions(parseQueueUrl(redis.url)), autorun: false });
    const failed = new Promise<void>((resolve) => worker.on('failed', () => resolve()));
    void worker.run();
    await failed;
    await worker.close();
    // Submitted again: only the two missing jobs are added.
    expect(await addVariantJobs(queue, jobs)).toBe(2);
    expect(await addVariantJobs(queue, jobs)).toBe(0);
    let s = (await sweepStatus(queue, id))!;
    expect(s.variants.map((v) => v.state)).toEqual(['failed', 'queued', 'queued']);
    expect(s.variants[0]!.reason).toBe('bad data in seed=0');
    expect(s.done).toBe(false);

    expect(await cancelSweep(queue, id)).toEqual({ removed: 2, stopping: 0, ended: 1 });
    s = (await sweepStatus(queue, id))!;
    expect(s.variants.map((v) => v.state)).toEqual(['failed', 'cancelled', 'cancelled']);
    expect(s.done).toBe(true);
    expect(s.record.cancelledAt).toBeGreaterThan(0);

    // --failed: only the failed one; without it: the cancelled ones too, from their stored jobs.
    expect(await retrySweep(queue, id, { failedOnly: true })).toEqual({ retried: [0], skipped: [1, 2] });
    expect(await retrySweep(queue, id, { failedOnly: false })).toEqual({ retried: [1, 2], skipped: [0] });
    s = (await sweepStatus(queue, id))!;
    expect(s.variants.map((v) => v.state)).toEqual(['queued', 'queued', 'queued']);
    expect(s.variants[0]!.attempts).toBe(0);
    expect(s.record.cancelledAt).toBeUndefined();
    expect(s.variants[2]!.runId).toBe('2'.repeat(32));
  });
});
