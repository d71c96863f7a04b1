/**
 * (c) The broker stopped and restarted mid-run (twice in the full profile, once in CI), 3 workers; once
 * with toKafka delivering by delivery reports, once by transaction commits.
 * Invariants: lost = 0, reordered = 0, no stall (the workers recover by themselves, without being
 * replaced, and no worker fails). Duplicates are reported: while the broker (the group coordinator) is
 * down, no commit succeeds, and a member may lose its partitions without a revoke, so each worker can
 * replay up to its crash window (`maxUncommitted`) per restart.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startKafkaBroker, type KafkaBroker } from '@rxkafka/testing';
import { expectSafety, killAllWorkers, printReport, Scenario } from './harness.js';
import { profile } from './profile.js';

const P = profile();
let broker: KafkaBroker | undefined;

beforeAll(async () => {
  broker = await startKafkaBroker();
});
afterAll(async () => {
  await killAllWorkers();
  await broker?.stop();
});

test.each([
  ['', {}],
  [', a delivery report per record', { REL_DELIVERY_REPORTS: '1' }],
  [", toKafka's transactions", { REL_TRANSACTIONS: '1' }],
])(
  `(c) the broker stopped and restarted ${String(P.brokerRestarts)}× mid-run%s`,
  async (variant, workerEnv) => {
    if (broker === undefined) throw new Error('no broker');
    const s = new Scenario({
      name: `(c) broker restart ×${String(P.brokerRestarts)} (down ${String(P.brokerDownMs / 1000)} s), 3 workers${variant}`,
      brokers: broker.brokers,
      records: P.records,
    });
    try {
      await s.prepare();
      for (let i = 0; i < 3; i++) s.startWorker(workerEnv);
      await Promise.all(s.workers.map((w) => w.ready(60_000)));
      const backUp: number[] = [];
      for (let r = 1; r <= P.brokerRestarts; r++) {
        await s.waitForProcessed(Math.floor((P.records * r) / (P.brokerRestarts + 1)), P.progressStallMs);
        const at = s.tail.ids.size;
        const started = Date.now();
        await broker.restart({ downMs: P.brokerDownMs });
        backUp.push(Date.now());
        s.notes.push(
          `restart ${String(r)} at ${String(at)} records; broker back after ${String(Date.now() - started)} ms`,
        );
      }
      // Recorded before finish() so a stall and rescue do not blur it.
      const resumeNote = (): void => {
        for (const [i, at] of backUp.entries()) {
          const ms = s.tail.resumedAfter(at);
          s.notes.push(
            `restart ${String(i + 1)}: output resumed ${ms === undefined ? 'never (before the run ended)' : `${String(ms)} ms`} after the broker was back`,
          );
        }
      };
      await s.waitForProcessed(P.records, P.progressStallMs).catch(() => undefined);
      resumeNote();
      const { report, stalled } = await s.finish({ stallMs: P.progressStallMs });
      printReport(report);

      expectSafety(s, report, stalled);
      expect
        .soft(
          s.workers.filter((w) => w.fatal() !== undefined).map((w) => `${w.name}: ${JSON.stringify(w.fatal()?.error)}`),
          'workers that failed',
        )
        .toEqual([]);
      // Duplicates are reported: an outage longer than session.timeout.ms loses every member's assignment,
      // and each replays at most maxUncommitted (16,384) per loss, which head-of-line.int.test.ts asserts
      // directly; as a count of this run it could not fail at the CI profile's 20,000 records.
    } finally {
      await s.dispose();
    }
  },
  P.testTimeoutMs,
);
