import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';
import type { Monitor, MonitorSink, Status } from './monitor.js';

export interface PrometheusOptions {
  /** Your prom-client `Registry`: every rxkafka metric is registered there. */
  readonly registry: Registry;
  /** Name prefix. Default `rxkafka_`. */
  readonly prefix?: string;
  /** Histogram buckets for handler, queue, end-to-end, produce and commit durations, in seconds. */
  readonly buckets?: readonly number[];
}

const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Prometheus metrics for a monitor, in the user's own prom-client `Registry` (prom-client is an
 * optional peer dependency: it is loaded only here). Counters count from now on; gauges are read from
 * the monitor at each scrape; consumer lag comes from librdkafka's statistics (set
 * `statistics.interval.ms` in the source's `rdkafka` options).
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const monitor = observe().watch(source);
 * prometheusMetrics(monitor, { registry });
 * ```
 */
export function prometheusMetrics(monitor: Monitor, options: PrometheusOptions): MonitorSink {
  const prom = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
  const prefix = options.prefix ?? 'rxkafka_';
  const registers = [options.registry];
  const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new prom.Counter<L>({ name: prefix + name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new prom.Histogram<L>({ name: prefix + name, help, labelNames, buckets, registers });

  // A scrape reads every gauge; one status serves them all.
  let cached: { at: number; status: Status } | undefined;
  const current = (): Status => {
    const now = performance.now();
    if (cached === undefined || now - cached.at > 250) cached = { at: now, status: monitor.status() };
    return cached.status;
  };
  const gauge = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (set: (labels: Record<L, string>, value: number) => void, status: Status) => void,
  ) =>
    new prom.Gauge<L>({
      name: prefix + name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        fill((labels, value) => this.set(labels, value), current());
      },
    });

  const consumed = counter('records_consumed_total', 'Records handed downstream by fromKafka.', ['topic', 'partition']);
  const outcomes = counter(
    'outcomes_total',
    'Records by outcome, and the handler where the chain stopped ("" when it ran to the end).',
    ['topic', 'outcome', 'handler'],
  );
  const handlerDuration = histogram('handler_duration_seconds', 'Time in each handler, by how it ended.', [
    'handler',
    'result',
  ]);
  const queueWait = histogram('queue_wait_seconds', "Time from fetch until a worker (and the record's key) was free.", [
    'topic',
  ]);
  const toAck = histogram('consume_to_ack_seconds', 'End to end: from fetch to acknowledgement (outputs delivered).', [
    'topic',
  ]);
  const produceQueue = histogram('produce_queue_seconds', 'Time a produced record waited before librdkafka took it.', [
    'topic',
  ]);
  const delivery = histogram('delivery_seconds', 'From produce to its confirmed delivery.', ['topic']);
  const produced = counter(
    'records_produced_total',
    'Records produced and delivered: outputs and dead-letter records.',
    ['topic', 'kind'],
  );
  const deliveryErrors = counter('delivery_errors_total', "Records whose delivery failed after librdkafka's retries.", [
    'topic',
  ]);
  const commitDuration = histogram('commit_duration_seconds', 'From sending an offset commit to its result.', []);
  const commitFailures = counter('commit_failures_total', 'Offset commits that failed.', []);
  const rebalances = counter('rebalances_total', 'Rebalance callbacks, by kind.', ['kind']);
  const assignedTotal = counter('partitions_assigned_total', 'Partitions assigned by rebalances.', []);
  const revokedTotal = counter('partitions_revoked_total', 'Partitions revoked by rebalances.', []);
  const stalls = counter(
    'stalls_total',
    'Partitions found stalled (lag, nothing fetched) and recovered by the source.',
    ['topic', 'partition'],
  );
  const rejoins = counter(
    'rejoins_total',
    'Times a member got no partitions back after losing its group session, and left and joined again.',
    ['group'],
  );

  gauge('records_in_flight', 'Records handed downstream and not yet settled.', ['group'], (set, s) => {
    for (const svc of s.services) set({ group: svc.name }, svc.inFlight);
  });
  gauge('bytes_in_flight', 'Key and value bytes of records in flight.', ['group'], (set, s) => {
    for (const svc of s.services) set({ group: svc.name }, svc.inFlightBytes);
  });
  gauge('paused_partitions', 'Partitions held paused by backpressure.', ['group'], (set, s) => {
    for (const svc of s.services) set({ group: svc.name }, svc.pausedPartitions);
  });
  gauge('assigned_partitions', 'Partitions assigned now.', ['group'], (set, s) => {
    for (const svc of s.services) set({ group: svc.name }, svc.assignedPartitions);
  });
  gauge(
    'consumer_lag',
    'High watermark minus committed offset, per partition (librdkafka statistics).',
    ['group', 'topic', 'partition'],
    (set, s) => {
      for (const p of s.partitions)
        if (p.lag !== undefined) set({ group: p.service, topic: p.topic, partition: String(p.partition) }, p.lag);
    },
  );
  gauge(
    'uncommitted_records',
    'Records completed but not committed yet, per partition.',
    ['group', 'topic', 'partition'],
    (set, s) => {
      for (const p of s.partitions)
        if (p.uncommitted !== undefined)
          set({ group: p.service, topic: p.topic, partition: String(p.partition) }, p.uncommitted);
    },
  );
  gauge(
    'partition_condition',
    'Why each partition is (not) progressing: 1 for its current condition.',
    ['group', 'topic', 'partition', 'condition'],
    (set, s) => {
      for (const p of s.partitions)
        set({ group: p.service, topic: p.topic, partition: String(p.partition), condition: p.condition }, 1);
    },
  );

  const sink: MonitorSink = {
    consumed: (topic, partition) => {
      consumed.inc({ topic, partition: String(partition) });
    },
    queueWait: (topic, seconds) => {
      queueWait.observe({ topic }, seconds);
    },
    outcome: (topic, outcome, handler) => {
      outcomes.inc({ topic, outcome, handler });
    },
    handler: (handler, result, seconds) => {
      handlerDuration.observe({ handler, result }, seconds);
    },
    acknowledged: (topic, seconds) => {
      toAck.observe({ topic }, seconds);
    },
    produced: (topic, deadLetter, queueSeconds, deliverySeconds, failed) => {
      if (queueSeconds !== undefined) produceQueue.observe({ topic }, queueSeconds);
      if (failed) {
        deliveryErrors.inc({ topic });
        return;
      }
      if (deliverySeconds !== undefined) delivery.observe({ topic }, deliverySeconds);
      produced.inc({ topic, kind: deadLetter ? 'dead_letter' : 'output' });
    },
    committed: (seconds) => {
      commitDuration.observe(seconds);
    },
    commitFailed: () => {
      commitFailures.inc();
    },
    rebalance: (kind, count) => {
      rebalances.inc({ kind });
      if (kind === 'assign') assignedTotal.inc(count);
      else revokedTotal.inc(count);
    },
    stalled: (topic, partition) => {
      stalls.inc({ topic, partition: String(partition) });
    },
    rejoined: (service) => {
      rejoins.inc({ group: service });
    },
  };
  monitor.addSink(sink);
  return sink;
}
