/**
 * (b) Group churn: about 3 workers, with a member joining or leaving (gracefully, SIGTERM) every
 * 0.5–1.5 s. Every leave is a cooperative rebalance whose in-flight records (0–5 ms handlers) finish
 * well within drainTimeout, so the invariants are the strict ones: lost = 0, duplicated = 0,
 * reordered = 0, no stall.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startKafkaBroker, type KafkaBroker } from '@rxkafka/testing';
import { expectSafety, killAllWorkers, printReport, Scenario, sleep, type WorkerProcess } from './harness.js';
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

test(
  `(b) 3 workers, members joining and leaving every 0.5–1.5 s for ${String(P.churnMs / 1000)} s`,
  async () => {
    if (broker === undefined) throw new Error('no broker');
    const s = new Scenario({
      name: '(b) churn: join/leave every 0.5–1.5 s, ~3 workers',
      brokers: broker.brokers,
      records: P.records,
    });
    const leaving: Promise<string>[] = [];
    try {
      // Live traffic over the churn period, so members come and go while records keep arriving.
      await s.prepare({ produceOverMs: P.churnMs });
      for (let i = 0; i < 3; i++) s.startWorker();
      await Promise.all(s.workers.map((w) => w.ready(60_000)));
      const until = Date.now() + P.churnMs;
      let joins = 0;
      let leaves = 0;
      const departed = new Set<WorkerProcess>();
      while (Date.now() < until) {
        await sleep(500 + Math.random() * 1000);
        const members = s.running().filter((w) => !departed.has(w));
        const join = members.length <= 2 || (members.length < 4 && Math.random() < 0.5);
        if (join) {
          s.startWorker();
          joins++;
        } else {
          const leaver = members[Math.floor(Math.random() * members.length)];
          if (leaver === undefined) continue;
          departed.add(leaver);
          leaves++;
          leaving.push(leaver.stop(30_000).then((how) => `${leaver.name}: ${how}`));
        }
      }
      const endings = await Promise.all(leaving);
      s.notes.push(`${String(joins)} joins, ${String(leaves)} graceful leaves during ${String(P.churnMs / 1000)} s`);
      const unclean = endings.filter((e) => !e.endsWith('graceful'));
      if (unclean.length > 0) s.notes.push(`leaves that were not graceful: ${unclean.join(', ')}`);
      if (s.running().length === 0) s.startWorker();

      const { report, stalled } = await s.finish({ stallMs: P.progressStallMs });
      printReport(report);
      expectSafety(s, report, stalled);
      expect.soft(unclean, 'leaves that did not stop gracefully').toEqual([]);
      expect.soft(report.duplicated, 'duplicated (graceful leaves, cooperative rebalances)').toBe(0);
    } finally {
      await s.dispose();
    }
  },
  P.testTimeoutMs,
);
