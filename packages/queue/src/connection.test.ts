import { describe, expect, it } from 'vitest';
import { parseQueueUrl } from './connection.js';
import { incompatibility, jobIdOf } from './jobs.js';

describe('parseQueueUrl', () => {
  it('reads host, port, database and credentials, and hides the password in messages', () => {
    expect(parseQueueUrl('redis://127.0.0.1:6380/2')).toMatchObject({ host: '127.0.0.1', port: 6380, db: 2, tls: false, display: 'redis://127.0.0.1:6380/2' });
    expect(parseQueueUrl('redis://redis')).toMatchObject({ host: 'redis', port: 6379, db: 0 });
    const q = parseQueueUrl('rediss://me:s%40cret@host:7000/0');
    expect(q).toMatchObject({ username: 'me', password: 's@cret', tls: true, display: 'rediss://me:***@host:7000/0' });
  });
  it('refuses what is not a Redis URL, saying what is wrong', () => {
    expect(() => parseQueueUrl('localhost:6379')).toThrow(/not redis\+?:?|the queue is a Redis server|not a URL/);
    expect(() => parseQueueUrl('http://host:6379')).toThrow('the queue is a Redis server, given as redis://host:port/db (or rediss:// for TLS), not http://');
    expect(() => parseQueueUrl('redis://host:6379/x')).toThrow("the database 'x' after the port must be a number 0–15");
    expect(() => parseQueueUrl('redis://host:6379/16')).toThrow('must be a number 0–15');
    expect(() => parseQueueUrl('redis://host:6379/0?timeout=3')).toThrow("options after '?' or '#' are not read");
  });
});

describe('jobs', () => {
  it('derives job ids from the sweep id and the variant index', () => {
    expect(jobIdOf('3f9a2c1b', 0)).toBe('3f9a2c1b-1');
    expect(jobIdOf('3f9a2c1b', 8)).toBe('3f9a2c1b-9');
  });
  it('accepts jobs of the same release line only, naming both versions', () => {
    expect(incompatibility('0.1.0', '0.1.7')).toBeUndefined();
    expect(incompatibility('1.2.0', '1.9.1')).toBeUndefined();
    expect(incompatibility('0.2.0', '0.1.0')).toBe('the job was made by genlab 0.2.0, this worker is genlab 0.1.0 (a worker runs jobs of its own release line, 0.1.x): upgrade the workers or submit again from genlab 0.1.0');
    expect(incompatibility('2.0.0', '1.0.0')).toContain('genlab 2.0.0, this worker is genlab 1.0.0');
  });
});
