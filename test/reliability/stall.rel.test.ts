/**
 * (e) A stalled handler with a large backlog. Every handler call waits while a flag file exists.
 * During the stall a second member joins (the group revokes part of the stalled worker's partitions,
 * which drain past drainTimeout and abort) and leaves again (they are handed back to the paused
 * worker) — the path by which the issue saw partitions stay paused forever. Then the stall ends.
 * Invariants: peak RSS bounded while the backlog waits, processing resumes and completes with
 * lost = 0, duplicated = 0 (nothing completed during the stall, so nothing is redone), reordered = 0.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startKafkaBroker, type KafkaBroker } from '@rxkafka/testing';
import { killAllWorkers, printReport, Scenario, sleep, unique } from './harness.js';
import { profile } from './profile.js';

const P = profile();
/** Worker RSS bound during the stall: a Node process with node-rdkafka idles near 160 MiB; rxkafka holds at most maxInFlight records plus librdkafka's prefetch of maxInFlightBytes / 2. */
const RSS_BOUND = 350 * 1024 * 1024;
let broker: KafkaBroker | undefined;
const flag = join(tmpdir(), `${unique('rel-stall')}.flag`);

beforeAll(async () => {
  broker = await startKafkaBroker();
});
afterAll(async () => {
  rmSync(flag, { force: true });
  await killAllWorkers();
  await broker?.stop();
});

test(
  `(e) a stalled handler with a ${String(P.backlog)}-record backlog: bounded RSS, then it resumes`,
  async () => {
    if (broker === undefined) throw new Error('no broker');
    const s = new Scenario({
      name: `(e) stalled handler ${String(P.stallMs / 1000)} s, backlog ${P.backlog.toLocaleString('en-US')}, member joins and leaves during the stall`,
      brokers: broker.brokers,
      records: P.backlog,
      workerEnv: { REL_STALL_FILE: flag, REL_DRAIN_TIMEOUT: '2000' },
    });
    try {
      writeFileSync(flag, 'stalled');
      await s.prepare();
      const first = s.startWorker();
      const stallStart = Date.now();
      await sleep(P.stallMs / 3);
      const second = s.startWorker();
      // The point is the revoke of paused partitions: wait (bounded) until the second member holds some.
      const joinedBy = Date.now() + 60_000;
      const holds = (): boolean =>
        Number(second.last?.stats?.['assigned'] ?? 0) > Number(second.last?.stats?.['revoked'] ?? 0);
      while (!holds() && second.alive && Date.now() < joinedBy) await sleep(100);
      const revokedFromFirst = Number(first.last?.stats?.['revoked'] ?? 0);
      s.notes.push(
        `second member ${holds() ? 'took partitions' : 'took NO partitions'} during the stall; first member revoked ${String(revokedFromFirst)}`,
      );
      expect.soft(revokedFromFirst, 'partitions revoked from the stalled (paused) worker').toBeGreaterThan(0);
      await sleep(P.stallMs / 3);
      const how = await second.stop(30_000);
      s.notes.push(`second member during the stall left: ${how}`);
      const remaining = P.stallMs - (Date.now() - stallStart);
      if (remaining > 0) await sleep(remaining);
      const stalledRss = Math.max(first.peakRss, second.peakRss);
      const statsAtStall = first.last?.stats;
      s.notes.push(
        `peak RSS during the stall ${(stalledRss / 1024 / 1024).toFixed(0)} MiB; stats ${JSON.stringify(statsAtStall)}`,
      );
      expect(s.tail.ids.size, 'records processed during the stall').toBe(0);

      rmSync(flag);
      const resumedFrom = Date.now();
      await s.waitForProcessed(1, P.progressStallMs).catch(() => undefined);
      const resumedMs = s.tail.resumedAfter(resumedFrom - 1);
      s.notes.push(
        `output resumed ${resumedMs === undefined ? 'never' : `${String(resumedMs)} ms`} after the stall ended`,
      );
      const { report, stalled } = await s.finish({ stallMs: P.progressStallMs });
      printReport(report);

      expect.soft(existsSync(flag)).toBe(false);
      expect.soft(stalledRss, 'peak RSS during the stall').toBeLessThanOrEqual(RSS_BOUND);
      expect.soft(report.peakRssBytes, 'peak RSS of the run').toBeLessThanOrEqual(RSS_BOUND);
      expect.soft(stalled?.message, 'the run stalled after the handler resumed').toBeUndefined();
      expect.soft(s.ungraceful, 'final graceful stops (SIGTERM → exit 0)').toEqual([]);
      expect.soft(report.lost, 'lost').toBe(0);
      expect.soft(report.duplicated, 'duplicated').toBe(0);
      expect.soft(report.reordered, 'reordered (key mode)').toBe(0);
      expect.soft(report.misrouted, 'misrouted').toBe(0);
    } finally {
      rmSync(flag, { force: true });
      await s.dispose();
    }
  },
  P.testTimeoutMs,
);
