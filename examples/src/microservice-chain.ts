/**
 * The main demo: the Go original's microservice chain, rebuilt on rxkafka.
 *
 *   generator -> [orders] -> module A (validate, enrich with a deferred release) -> [orders.enriched]
 *             -> module B (score, key-ordered) -> [orders.scored]
 *   failures of either module -> [orders.dlq]
 *
 * With KAFKA_BROKERS unset it runs on librdkafka's built-in mock cluster: nothing to install.
 * It exits 0 only when every generated record is accounted for.
 */
import { z } from 'zod';
import { runChain, type Outcome } from '@rxkafka/core';
import {
  acknowledge,
  createTopics,
  fromKafka,
  produceRecords,
  runService,
  startMockCluster,
  toKafka,
  defaultLogger,
  type LibrdkafkaConfig,
  type Logger,
  type MockCluster,
} from '@rxkafka/kafka';
import {
  CustomerDirectory,
  EnrichedOrder,
  type EnrichState,
  expectedCounts,
  generateOrders,
  moduleA,
  moduleB,
  Order,
  TOPICS,
} from './orders.js';

/** Logs the first few dead-letter lines in full (as production would, as JSON on stderr), then stays quiet. */
function sampledLogger(sample: number): Logger {
  const logger = defaultLogger();
  let seen = 0;
  return {
    info: (object, message) => {
      logger.info(object, message);
    },
    warn: (object, message) => {
      logger.warn(object, message);
    },
    error: (object, message) => {
      if (++seen <= sample) logger.error(object, message);
      if (seen === sample) logger.info({}, 'further dead-letter log lines are suppressed in the demo');
    },
  };
}

const RECORDS = Number(process.env['DEMO_RECORDS'] ?? 20_000);
const DEADLINE_MS = Number(process.env['DEMO_TIMEOUT_MS'] ?? 180_000);

async function main(): Promise<number> {
  let mock: MockCluster | undefined;
  let brokers = process.env['KAFKA_BROKERS'];
  // The mock's group coordinator waits session.timeout.ms - 1s on joins: keep it short.
  let consumerTuning: LibrdkafkaConfig = {};
  if (brokers === undefined || brokers === '') {
    mock = await startMockCluster();
    brokers = mock.brokers;
    consumerTuning = { 'session.timeout.ms': 6000, 'heartbeat.interval.ms': 500 };
    await mock.createTopics(Object.values(TOPICS));
    console.log(`embedded librdkafka mock cluster at ${brokers} (set KAFKA_BROKERS to use a real cluster)`);
  } else {
    await createTopics(
      brokers,
      Object.values(TOPICS).map((topic) => ({ topic, partitions: 4 })),
    ).catch((error: unknown) => {
      if (!String(error).includes('already exists')) throw error;
    });
    console.log(`Kafka cluster at ${brokers}`);
  }
  const run = String(Date.now());
  const expected = expectedCounts(RECORDS);
  const started = performance.now();

  const directory = new CustomerDirectory();
  const logger = sampledLogger(3);
  const stop = new AbortController();
  const counts = { aOk: 0, aSkipped: 0, aDead: 0, bOk: 0, bDead: 0, scored: 0, deadLettered: 0 };
  const count = (outcome: Outcome<unknown, unknown>, ok: keyof typeof counts, dead: keyof typeof counts): void => {
    if (outcome.kind === 'ok') counts[ok]++;
    else if (outcome.kind === 'break') counts.aSkipped++;
    else if (outcome.kind !== 'aborted') counts[dead]++;
  };

  const moduleAService = runService(
    fromKafka<Order, EnrichState>({
      brokers,
      groupId: `demo-a-${run}`,
      topics: [TOPICS.orders],
      schema: Order,
      rdkafka: consumerTuning,
      signal: stop.signal,
    }),
    (source) =>
      source.pipe(
        runChain(moduleA(directory), {
          concurrency: 64,
          timeout: 5_000,
          ordering: 'key',
          retry: { maxAttempts: 2, initialDelay: 50 },
        }),
        toKafka({ brokers, deadLetterTopic: TOPICS.deadLetter, logger }),
      ),
    {
      signal: stop.signal,
      onOutcome: (o) => {
        count(o, 'aOk', 'aDead');
      },
    },
  );
  const moduleBService = runService(
    fromKafka({
      brokers,
      groupId: `demo-b-${run}`,
      topics: [TOPICS.enriched],
      schema: EnrichedOrder,
      rdkafka: consumerTuning,
      signal: stop.signal,
    }),
    (source) =>
      source.pipe(
        runChain(moduleB(), { concurrency: 64, ordering: 'key' }),
        toKafka({ brokers, deadLetterTopic: TOPICS.deadLetter, logger }),
      ),
    {
      signal: stop.signal,
      onOutcome: (o) => {
        count(o, 'bOk', 'bDead');
      },
    },
  );
  // The auditor reads the chain's two exits back, so the summary counts what Kafka really holds.
  const auditor = runService(
    fromKafka({
      brokers,
      groupId: `demo-audit-${run}`,
      topics: [TOPICS.scored, TOPICS.deadLetter],
      schema: z.unknown(),
      decode: (value) => value,
      rdkafka: consumerTuning,
      signal: stop.signal,
    }),
    (source) => source.pipe(runChain([], { ordering: 'unordered' }), acknowledge()),
    {
      signal: stop.signal,
      onOutcome: (o) => {
        if (o.source.topic === TOPICS.scored) counts.scored++;
        else counts.deadLettered++;
      },
    },
  );

  const produced = await produceRecords(brokers, generateOrders(RECORDS));
  const progress = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `in ${String(produced)} | A ok ${String(counts.aOk)} skipped ${String(counts.aSkipped)} failed ${String(counts.aDead)}` +
        ` | B ok ${String(counts.bOk)} | out ${String(counts.scored)} dlq ${String(counts.deadLettered)}` +
        ` | ${Math.round(counts.scored / seconds).toLocaleString('en')} rec/s end to end | leased ${String(directory.leased)}`,
    );
  }, 1000);

  const deadline = Date.now() + DEADLINE_MS;
  while ((counts.scored < expected.scored || counts.deadLettered < expected.deadLettered) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const seconds = (performance.now() - started) / 1000;
  stop.abort();
  clearInterval(progress);
  await Promise.all([moduleAService, moduleBService, auditor]);
  await mock?.close();

  const reconciled =
    counts.scored === expected.scored &&
    counts.deadLettered === expected.deadLettered &&
    counts.aSkipped === expected.skipped &&
    counts.scored + counts.deadLettered + counts.aSkipped === produced &&
    directory.leased === 0;
  console.log('\nsummary');
  console.log(`  records in           ${String(produced)}`);
  console.log(`  scored (out)         ${String(counts.scored)}   expected ${String(expected.scored)}`);
  console.log(`  dead-lettered        ${String(counts.deadLettered)}   expected ${String(expected.deadLettered)}`);
  console.log(`  skipped by a break   ${String(counts.aSkipped)}   expected ${String(expected.skipped)}`);
  console.log(
    `  leases still open    ${String(directory.leased)} (peak ${String(directory.peakLeased)}): every defer ran`,
  );
  console.log(
    `  throughput           ${Math.round(produced / seconds).toLocaleString('en')} records/s through both modules (${seconds.toFixed(1)} s)`,
  );
  console.log(reconciled ? '  counts reconcile: in = out + dead-lettered + skipped' : '  COUNTS DO NOT RECONCILE');
  return reconciled ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
