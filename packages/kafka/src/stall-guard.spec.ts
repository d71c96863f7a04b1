import { describe, expect, it } from 'vitest';
import { checkPartition, type StallProbe, type WatchedPartition } from './stall-guard.js';

function probe(low: number, high: number, committed?: number): StallProbe & { calls: number } {
  const result = {
    calls: 0,
    watermarks: () => {
      result.calls++;
      return Promise.resolve({ low, high });
    },
    committedOffset: () => Promise.resolve(committed),
  };
  return result;
}

const part = (lastProgressAt: number, nextOffset?: number): WatchedPartition => ({
  topic: 't',
  partition: 3,
  lastProgressAt,
  nextOffset,
});

describe('checkPartition (the stall guard)', () => {
  it('asks the broker nothing while the partition is not idle past the threshold', async () => {
    const p = probe(0, 100);
    expect(await checkPartition(part(1000, 5), p, () => 30_999, 30_000)).toBeUndefined();
    expect(p.calls).toBe(0);
  });

  it('reports a partition with lag and no fetch past the threshold, with the reason', async () => {
    const stall = await checkPartition(part(0, 40), probe(0, 100), () => 31_000, 30_000);
    expect(stall).toMatchObject({
      topic: 't',
      partition: 3,
      position: 40,
      positionFrom: 'fetched',
      highWatermark: 100,
      lag: 60,
      idleMs: 31_000,
    });
    expect(stall?.reason).toContain('no record fetched for 31.0 s while 60 wait');
  });

  it('uses the committed offset before the first fetch of an assignment, else the low watermark', async () => {
    expect(await checkPartition(part(0), probe(0, 100, 90), () => 40_000, 30_000)).toMatchObject({
      position: 90,
      positionFrom: 'committed',
      lag: 10,
    });
    expect(await checkPartition(part(0), probe(20, 100), () => 40_000, 30_000)).toMatchObject({
      position: 20,
      positionFrom: 'low watermark',
      lag: 80,
    });
    // A committed offset below the low watermark (deleted by retention) reads from the low watermark.
    expect(await checkPartition(part(0), probe(50, 100, 10), () => 40_000, 30_000)).toMatchObject({
      position: 50,
      lag: 50,
    });
  });

  it('leaves an idle partition without lag alone and restarts its idle clock', async () => {
    const watched = part(0, 100);
    expect(await checkPartition(watched, probe(0, 100), () => 40_000, 30_000)).toBeUndefined();
    expect(watched.lastProgressAt).toBe(40_000);
    expect(await checkPartition(part(0), probe(0, 100, 100), () => 40_000, 30_000)).toBeUndefined();
  });

  it('gives no verdict when a record arrived while it asked', async () => {
    const watched: { -readonly [K in keyof WatchedPartition]: WatchedPartition[K] } = part(0, 40);
    const racing: StallProbe = {
      watermarks: () => {
        watched.nextOffset = 41;
        return Promise.resolve({ low: 0, high: 100 });
      },
      committedOffset: () => Promise.resolve(undefined),
    };
    expect(await checkPartition(watched, racing, () => 40_000, 30_000)).toBeUndefined();
  });

  it('lets probe failures through (no verdict while the broker is away)', async () => {
    const failing: StallProbe = {
      watermarks: () => Promise.reject(new Error('all broker connections are down')),
      committedOffset: () => Promise.resolve(undefined),
    };
    await expect(checkPartition(part(0, 1), failing, () => 40_000, 30_000)).rejects.toThrow('all broker');
  });
});

describe('checkPartition with auto.offset.reset at the end', () => {
  it('sees no lag in a partition with nothing fetched and nothing committed', async () => {
    expect(await checkPartition(part(0), probe(0, 100), () => 40_000, 30_000, false)).toBeUndefined();
  });
});
