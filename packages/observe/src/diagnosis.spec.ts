import { describe, expect, it } from 'vitest';
import { diagnose, type PartitionFacts } from './diagnosis.js';

const base: PartitionFacts = {
  topic: 'orders',
  partition: 0,
  paused: false,
  revoking: false,
  inFlight: 0,
  waiting: 0,
  waitingFor: undefined,
  idleMs: 0,
  lag: 0,
  lagGrowing: false,
  limit: undefined,
  oldest: undefined,
  head: undefined,
  commitFailures: 0,
  uncommitted: 0,
  sinceCommitMs: 0,
};
const thresholds = { slowRecordMs: 10_000, stalledMs: 10_000, commitWaitMs: 10_000 };

describe('diagnose', () => {
  it('no data, lag 0: healthy idle', () => {
    expect(diagnose(base, thresholds)).toMatchObject({ condition: 'idle', problem: false });
    expect(diagnose(base, thresholds).reason).toContain('lag 0');
  });

  it('records in flight: fetching', () => {
    expect(diagnose({ ...base, inFlight: 3, lag: 40 }, thresholds)).toMatchObject({ condition: 'fetching' });
    const atShare = { ...base, paused: true, inFlight: 341, waiting: 120, waitingFor: 'maxInFlight' as const };
    expect(diagnose({ ...atShare, lag: 500 }, thresholds)).toMatchObject({
      condition: 'paused',
      reason: "paused at its share of maxInFlight (341 in flight, 120 waiting aside) while other partitions' keys run",
      problem: false,
    });
  });

  it('a partition paused at its share of maxHeldBack names the record it waits for', () => {
    const head = { offset: 42, released: false, heldBack: 600 };
    const facts = { ...base, paused: true, inFlight: 5, waiting: 80, waitingFor: 'maxHeldBack' as const, head };
    expect(diagnose({ ...facts, lag: 900 }, thresholds)).toMatchObject({
      condition: 'paused',
      reason:
        'paused behind offset 42: 600 completed records wait behind it (its share of maxHeldBack; a crash would ' +
        'process them again); it fetches again once that record finishes',
      problem: false,
    });
  });

  it('a partition held behind its head is diagnosed by that record, even while a limit holds the source', () => {
    const head = { offset: 0, released: false, heldBack: 19 };
    const held = { ...base, paused: true, inFlight: 1, waiting: 19, waitingFor: 'maxHeldBack' as const, head };
    const limit = { name: 'maxInFlight' as const, value: 20, max: 20 };
    expect(diagnose({ ...held, limit }, thresholds).reason).toMatch(/^paused behind offset 0: 19 completed records/);
    const oldest = { offset: 0, handler: 'hold', sinceMs: 12_000 };
    expect(diagnose({ ...held, limit, oldest }, thresholds)).toMatchObject({
      condition: 'slow-record',
      reason:
        'offset 0 has been in flight for 12.0 s, in handler hold; it holds the commit point back with 19 completed records behind it',
      problem: true,
    });
  });

  it('a source paused at maxInFlight by records done behind a slow head is diagnosed by that record', () => {
    const head = { offset: 0, released: false, heldBack: 19 };
    const limit = { name: 'maxInFlight' as const, value: 20, max: 20 };
    const paused = { ...base, paused: true, inFlight: 1, head, limit };
    expect(diagnose(paused, thresholds).reason).toBe('paused by backpressure: maxInFlight holds (20 of 20)');
    const oldest = { offset: 0, handler: 'hold', sinceMs: 12_000 };
    expect(diagnose({ ...paused, oldest }, thresholds)).toMatchObject({
      condition: 'slow-record',
      reason:
        'offset 0 has been in flight for 12.0 s, in handler hold; it holds the commit point back with 19 completed records behind it',
    });
  });

  it('paused by backpressure names the limit that holds', () => {
    const verdict = diagnose(
      { ...base, paused: true, inFlight: 1000, lag: 500, limit: { name: 'maxInFlight', value: 1000, max: 1000 } },
      thresholds,
    );
    expect(verdict).toMatchObject({ condition: 'paused', problem: false });
    expect(verdict.reason).toContain('maxInFlight holds (1000 of 1000)');
  });

  it('a record in flight past the threshold: which handler, which offset, since when, and what waits behind it', () => {
    const verdict = diagnose(
      {
        ...base,
        inFlight: 5,
        oldest: { offset: 41, handler: 'enrich', sinceMs: 12_300 },
        head: { offset: 41, released: false, heldBack: 4 },
      },
      thresholds,
    );
    expect(verdict).toMatchObject({ condition: 'slow-record', problem: true });
    expect(verdict.reason).toBe(
      'offset 41 has been in flight for 12.3 s, in handler enrich; it holds the commit point back with 4 completed records behind it',
    );
  });

  it('a record that waits for a worker or its key says so', () => {
    const verdict = diagnose(
      { ...base, inFlight: 1, oldest: { offset: 7, handler: undefined, sinceMs: 20_000 } },
      thresholds,
    );
    expect(verdict.reason).toContain('waiting for a worker or its key');
  });

  it('the commit point held back by an aborted record awaiting redelivery', () => {
    const verdict = diagnose(
      { ...base, inFlight: 0, lag: 3, head: { offset: 9, released: true, heldBack: 2 } },
      thresholds,
    );
    expect(verdict).toMatchObject({ condition: 'head-of-line', problem: true });
    expect(verdict.reason).toContain('offset 9');
    expect(verdict.reason).toContain('2 completed records wait behind it');
  });

  it('commits failing', () => {
    expect(diagnose({ ...base, inFlight: 2, commitFailures: 3 }, thresholds)).toMatchObject({
      condition: 'commit-failing',
      problem: true,
    });
  });

  it('completed records waiting for a commit too long', () => {
    const verdict = diagnose({ ...base, inFlight: 2, uncommitted: 40, sinceCommitMs: 12_000 }, thresholds);
    expect(verdict).toMatchObject({ condition: 'commit-waiting', problem: true });
    expect(verdict.reason).toBe('40 completed records wait for a commit; the last one succeeded 12.0 s ago');
    expect(diagnose({ ...base, inFlight: 2, uncommitted: 40, sinceCommitMs: 900 }, thresholds).condition).toBe(
      'fetching',
    );
  });

  it('lag while nothing is fetched and nothing holds it back: stalled', () => {
    const verdict = diagnose({ ...base, lag: 120, lagGrowing: true, idleMs: 15_000 }, thresholds);
    expect(verdict).toMatchObject({ condition: 'stalled', problem: true });
    expect(verdict.reason).toContain('120 records wait but nothing was fetched for 15.0 s and the lag grows');
  });

  it('a paused partition with lag is paused, not stalled', () => {
    expect(diagnose({ ...base, lag: 120, idleMs: 60_000, paused: true }, thresholds).condition).toBe('paused');
  });

  it('idle below the stall threshold is not a stall', () => {
    expect(diagnose({ ...base, lag: 120, idleMs: 9_000 }, thresholds).condition).toBe('fetching');
  });

  it('revoking wins', () => {
    expect(diagnose({ ...base, revoking: true, paused: true }, thresholds).condition).toBe('revoking');
  });
});
