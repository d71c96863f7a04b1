/**
 * (f) The output topic's writes fail mid-run: its max.message.bytes is cut to 64 bytes, so the broker
 * rejects every batch (MSG_SIZE_TOO_LARGE, not retriable). The pipeline must stop loudly (the worker
 * exits non-zero with a DeliveryError), commit nothing past an unwritten record, and, once the topic is
 * repaired, fresh workers must finish the run with nothing lost.
 * Invariants: lost = 0, reordered = 0, every worker failed loudly, and duplicated ≤ workers ×
 * (maxInFlight + commitEvery) (a failed pipeline is a crash as far as its uncommitted records go).
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startKafkaBroker, type KafkaBroker } from '@rxkafka/testing';
import { bounded, killAllWorkers, printReport, Scenario } from './harness.js';
import { profile, WORKER_DEFAULTS } from './profile.js';
import { alterTopicConfig } from './topic-config.js';

const P = profile();
const WORKERS = 2;
let broker: KafkaBroker | undefined;

beforeAll(async () => {
  broker = await startKafkaBroker();
});
afterAll(async () => {
  await killAllWorkers();
  await broker?.stop();
});

test(
  '(f) output writes rejected mid-run: the pipeline stops loudly, and after repair a restart loses nothing',
  async () => {
    if (broker === undefined) throw new Error('no broker');
    const brokers = broker.brokers;
    const s = new Scenario({
      name: `(f) output writes rejected mid-run, ${String(WORKERS)} workers, repaired, restarted`,
      brokers,
      records: P.records,
      // Fail fast instead of after librdkafka's default 300 s message timeout.
      workerEnv: { REL_MESSAGE_TIMEOUT_MS: '15000' },
    });
    try {
      await s.prepare();
      const first = Array.from({ length: WORKERS }, () => s.startWorker());
      await s.waitForProcessed(Math.floor(P.records * 0.3), P.progressStallMs);
      const brokenAt = s.tail.ids.size;
      const brokeAt = Date.now();
      await alterTopicConfig(brokers, s.output, { add: { 'max.message.bytes': '64' } });
      s.notes.push(`output writes rejected from ${String(brokenAt)} records`);

      // Stops loudly: every worker's pipeline fails and the process exits non-zero, by itself.
      const exits = await bounded(
        Promise.all(first.map((w) => w.exited)),
        90_000,
        'the workers to fail after their output writes were rejected',
      );
      const failedAfter = Date.now() - brokeAt;
      const fatal = first.map((w) => w.fatal()?.error);
      s.notes.push(
        `workers exited ${JSON.stringify(exits)} within ${String(failedAfter)} ms: ${JSON.stringify(fatal)}`,
      );
      const seenWhenBroken = s.tail.ids.size;

      await alterTopicConfig(brokers, s.output, { remove: ['max.message.bytes'] });
      for (let i = 0; i < WORKERS; i++) s.startWorker();
      const { report, stalled } = await s.finish({ stallMs: P.progressStallMs });
      printReport(report);

      expect
        .soft(
          exits.map((e) => e.code),
          'exit codes of the failed workers',
        )
        .toEqual(first.map(() => 1));
      for (const error of fatal) expect.soft(error?.name, 'the error that stopped a pipeline').toBe('DeliveryError');
      expect.soft(seenWhenBroken, 'records written while writes were rejected').toBeGreaterThanOrEqual(brokenAt);
      expect.soft(stalled?.message, 'the run stalled').toBeUndefined();
      expect.soft(s.ungraceful, 'final graceful stops (SIGTERM → exit 0)').toEqual([]);
      expect.soft(report.lost, 'lost').toBe(0);
      expect.soft(report.reordered, 'reordered (key mode)').toBe(0);
      expect
        .soft(report.misrouted, 'misrouted (a rejected output must not be dead-lettered as a handler failure)')
        .toBe(0);
      const bound = WORKERS * (WORKER_DEFAULTS.maxInFlight + WORKER_DEFAULTS.commitEvery);
      expect
        .soft(report.duplicated, `duplicated ≤ workers × (maxInFlight + commitEvery) = ${String(bound)}`)
        .toBeLessThanOrEqual(bound);
    } finally {
      await s.dispose();
    }
  },
  P.testTimeoutMs,
);
