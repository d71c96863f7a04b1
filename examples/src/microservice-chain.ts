/**
 * The main demo: the Go original's microservice chain, rebuilt on rxkafka.
 *
 *   generator -> [orders] -> module A (validate, enrich with a deferred release) -> [orders.enriched]
 *             -> module B (score, key-ordered) -> [orders.scored]
 *   failures of either module -> [orders.dlq]
 *
 * With KAFKA_BROKERS unset it runs on librdkafka's built-in mock cluster: nothing to install.
 * It exits 0 only when every generated record is accounted for.
 *
 * It serves the live status page (@rxkafka/observe) on http://127.0.0.1:9464/ (DEMO_STATUS_PORT),
 * with Prometheus metrics on /metrics, and keeps it up after the run: DEMO_KEEP=1 until Ctrl-C, else
 * DEMO_KEEP_SECONDS (default 30 on a terminal, 0 otherwise). DEMO_TRACE=1 traces every record with
 * OpenTelemetry and checks that each order is one trace across module A and module B.
 */
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { runChain, type Outcome } from '@rxkafka/core';
import {
  acknowledge,
  fromKafka,
  runService,
  toKafka,
  defaultLogger,
  type LibrdkafkaConfig,
  type Logger,
} from '@rxkafka/kafka';
import { createTopics, produceRecords, startMockCluster, type MockCluster } from '@rxkafka/kafka/admin';
import {
  observe,
  prometheusMetrics,
  serveStatus,
  traceRecords,
  type StatusServer,
  type WatchedSource,
} from '@rxkafka/observe';
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
const STATUS_PORT = Number(process.env['DEMO_STATUS_PORT'] ?? 9464);
const KEEP_FOREVER = process.env['DEMO_KEEP'] === '1';
const KEEP_SECONDS = Number(process.env['DEMO_KEEP_SECONDS'] ?? (process.stdout.isTTY ? 30 : 0));
const TRACE = process.env['DEMO_TRACE'] === '1';
const DEADLINE_MS = Number(process.env['DEMO_TIMEOUT_MS'] ?? 180_000);

async function main(): Promise<number> {
  let mock: MockCluster | undefined;
  let brokers = process.env['KAFKA_BROKERS'];
  if (brokers === undefined || brokers === '') {
    mock = await startMockCluster();
    brokers = mock.brokers;
    await mock.createTopics(Object.values(TOPICS));
    console.log(`embedded librdkafka mock cluster at ${brokers} (set KAFKA_BROKERS to use a real cluster)`);
  } else {
    await createTopics(
      brokers,
      Object.values(TOPICS).map((topic) => ({ topic, partitions: 4 })),
      { ifExists: 'ignore' },
    );
    console.log(`Kafka cluster at ${brokers}`);
  }
  // librdkafka's statistics feed the consumer lag on the status page.
  const consumerTuning: LibrdkafkaConfig = { 'statistics.interval.ms': 1000 };
  const monitor = observe({ logger: defaultLogger() });
  const registry = new Registry();
  prometheusMetrics(monitor, { registry });
  const traces = TRACE ? traceOrders() : undefined;
  const watched = <T extends WatchedSource>(source: T, name: string): T => {
    monitor.watch(source, { name });
    return source;
  };
  const status = await startStatusServer(monitor, registry);
  console.log(`status page: ${status.url}`);
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
    watched(
      fromKafka<Order, EnrichState>({
        brokers,
        groupId: `demo-a-${run}`,
        topics: [TOPICS.orders],
        schema: Order,
        rdkafka: consumerTuning,
        signal: stop.signal,
      }),
      'module A',
    ),
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
    watched(
      fromKafka({
        brokers,
        groupId: `demo-b-${run}`,
        topics: [TOPICS.enriched],
        schema: EnrichedOrder,
        rdkafka: consumerTuning,
        signal: stop.signal,
      }),
      'module B',
    ),
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
    watched(
      fromKafka({
        brokers,
        groupId: `demo-audit-${run}`,
        topics: [TOPICS.scored, TOPICS.deadLetter],
        schema: z.unknown(),
        decode: (value) => value,
        rdkafka: consumerTuning,
        signal: stop.signal,
      }),
      'auditor',
    ),
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
  let traced = true;
  if (traces !== undefined) {
    traces.close();
    // Every order module B scored continued the trace that module A started for it.
    traced = traces.broken === 0 && traces.throughB === counts.bOk;
    console.log(
      `  traces               ${String(traces.orders)} orders, ${String(traces.throughB)} continued into module B ` +
        `(expected ${String(counts.bOk)}), ${String(traces.broken)} broken; ${String(traces.spans)} spans`,
    );
  }
  await keepStatusPage(status);
  monitor.close();
  return reconciled && traced ? 0 : 1;
}

/** The status page on STATUS_PORT, or on a free port if that one is taken. */
async function startStatusServer(monitor: ReturnType<typeof observe>, registry: Registry): Promise<StatusServer> {
  try {
    return await serveStatus({ port: STATUS_PORT, monitor, registry, title: 'rxkafka demo' });
  } catch {
    return serveStatus({ port: 0, monitor, registry, title: 'rxkafka demo' });
  }
}

/**
 * Traces every record (process, handler and publish spans, `traceparent` through Kafka headers) and
 * keeps only what it takes to check one trace per order: which traces module A and module B processed.
 */
function traceOrders(): { close(): void; orders: number; throughB: number; broken: number; spans: number } {
  // Per trace id: 1 if module A processed it, 2 if module B did.
  const seen = new Map<string, number>();
  let spans = 0;
  const processor: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (span: ReadableSpan) => {
      spans++;
      const bit = span.name === `process ${TOPICS.orders}` ? 1 : span.name === `process ${TOPICS.enriched}` ? 2 : 0;
      if (bit === 0) return;
      const id = span.spanContext().traceId;
      seen.set(id, (seen.get(id) ?? 0) | bit);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const tracing = traceRecords({ tracerProvider: new BasicTracerProvider({ spanProcessors: [processor] }) });
  const result = {
    close: () => {
      tracing.close();
      for (const bits of seen.values()) {
        if ((bits & 1) !== 0) result.orders++;
        if (bits === 3) result.throughB++;
        if (bits === 2) result.broken++;
      }
      result.spans = spans;
    },
    orders: 0,
    throughB: 0,
    broken: 0,
    spans: 0,
  };
  return result;
}

/** Keeps the page up after the run: until Ctrl-C with DEMO_KEEP=1, else for KEEP_SECONDS. */
async function keepStatusPage(status: StatusServer): Promise<void> {
  if (KEEP_FOREVER || KEEP_SECONDS > 0) {
    console.log(
      `status page stays up at ${status.url} ${KEEP_FOREVER ? 'until Ctrl-C' : `for ${String(KEEP_SECONDS)} s (DEMO_KEEP=1 keeps it until Ctrl-C)`}`,
    );
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        process.off('SIGINT', done);
        resolve();
      };
      // The server alone does not keep the process alive; this timer does (2^31-1 ms: until Ctrl-C).
      const timer = setTimeout(done, KEEP_FOREVER ? 2 ** 31 - 1 : KEEP_SECONDS * 1000);
      process.once('SIGINT', done);
    });
  }
  await status.close();
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
