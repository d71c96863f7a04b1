/**
 * rxkafka contenders, on the public API only (@rxkafka/core, @rxkafka/kafka), as their own process.
 *
 * Both variants move bytes (a pass-through `decode` and a Buffer schema), like every other contender.
 * variant `defaults` — every pipeline option at its default: runChain concurrency 16, ordering 'key';
 *   fromKafka maxInFlight 4096, batchSize 500, commit every 1000 records or 1 s. In the io scenario the
 *   scenario sets concurrency and ordering (the same for every contender).
 * variant `window` — the defaults with other replay bounds: maxUncommitted 4096 (= maxInFlight; the
 *   default is 16,384), or BENCH_MAX_UNCOMMITTED, and maxHeldBack BENCH_MAX_HELD_BACK if set.
 * variant `txn` — toKafka's `transactions` with `maxMs` 50 and fromKafka's `maxInFlight` 16,384, so that a
 *   transaction holds thousands of records while the one before it commits (docs/decisions.md 54).
 * variant `reports` — the defaults with toKafka's `deliveryBatches: false`: a delivery report per record.
 * variant `tuned` — ordering 'unordered' and concurrency 64 where the scenario leaves them free
 *   (consume, passthrough, latency); in the io scenario maxInFlight max(4096, 2 × concurrency), so the
 *   pool is never starved by the in-flight limit.
 *
 * consume: fromKafka → runChain([count]) → acknowledge(); passthrough and latency: fromKafka →
 * runChain([emit one output]) → toKafka; io: fromKafka → runChain([await delay]) → acknowledge();
 * stall: a handler that never settles.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { z } from 'zod';
import { handler, runChain, type ChainHandler } from '@rxkafka/core';
import { acknowledge, fromKafka, toKafka, type Logger } from '@rxkafka/kafka';
import { Meter, readConfig, sleep } from './common.js';

type Bytes = Buffer;
type State = Record<string, never>;

const config = readConfig();
const meter = new Meter(config.maxMs);
const tuned = config.variant === 'tuned';
const target = config.records > 0 ? config.records : Infinity;
const failures: string[] = [];
const logger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: (_object, message) => {
    failures.push(message);
  },
};

diagnosticsChannel.subscribe('rxkafka:consumer.assigned', () => {
  meter.assigned();
});

const io = config.scenario === 'io';
const concurrency = io ? (config.concurrency ?? 16) : tuned ? 64 : undefined;
const ordering = io ? (config.ordering ?? 'key') : tuned ? 'unordered' : undefined;
const txn = config.variant === 'txn';
const maxInFlight = io && tuned ? Math.max(4096, 2 * (config.concurrency ?? 16)) : txn ? 16_384 : undefined;

const source = fromKafka<Bytes, State>({
  brokers: config.brokers,
  groupId: config.group,
  topics: [config.topic],
  schema: z.custom<Buffer>((value) => Buffer.isBuffer(value), { error: 'a Buffer' }),
  decode: (value) => value,
  rdkafka: { 'client.id': `bench-rx-${config.variant ?? 'defaults'}` },
  ...(maxInFlight === undefined ? {} : { maxInFlight }),
  ...(config.variant === 'window' ? windowOptions() : {}),
});

/** The window variant's replay bounds. */
function windowOptions(): { maxUncommitted: number; maxHeldBack?: number } {
  const maxHeldBack = process.env['BENCH_MAX_HELD_BACK'];
  return {
    maxUncommitted: Number(process.env['BENCH_MAX_UNCOMMITTED'] ?? 4096),
    ...(maxHeldBack === undefined ? {} : { maxHeldBack: Number(maxHeldBack) }),
  };
}

let handled = 0;
const stage: ChainHandler<Bytes, State> =
  config.scenario === 'passthrough' || config.scenario === 'latency'
    ? handler<Bytes, State>('forward', (ctx) => {
        meter.first();
        meter.bytes += ctx.source.value?.length ?? 0;
        ctx.emit({ topic: config.outTopic ?? '', key: ctx.source.key, value: ctx.source.value });
      })
    : config.scenario === 'io'
      ? handler<Bytes, State>('io', async (ctx) => {
          meter.first();
          meter.bytes += ctx.source.value?.length ?? 0;
          await sleep(config.delayMs ?? 0);
        })
      : config.scenario === 'stall'
        ? handler<Bytes, State>('stalled', (ctx) => {
            meter.first();
            handled++;
            meter.reportStallAfter(
              config.stallMs ?? 10_000,
              () => handled,
              () => `; peakInFlight ${String(source.stats.peakInFlight)}`,
            );
            meter.bytes += ctx.source.value?.length ?? 0;
            return new Promise<void>(() => undefined);
          })
        : handler<Bytes, State>('count', (ctx) => {
            meter.first();
            meter.bytes += ctx.source.value?.length ?? 0;
          });

const chainOptions = {
  ...(concurrency === undefined ? {} : { concurrency }),
  ...(ordering === undefined ? {} : { ordering }),
};
const sink =
  config.scenario === 'passthrough' || config.scenario === 'latency'
    ? toKafka({
        brokers: config.brokers,
        deadLetterTopic: false,
        logger,
        ...(txn ? { transactions: { id: `bench-rx-txn-${config.group}`, maxMs: 50 } } : {}),
        ...(config.variant === 'reports' ? { deliveryBatches: false as const } : {}),
      })
    : acknowledge({ logger });

let done = 0;
meter.progress = () => done;
let notOk = 0;
source.pipe(runChain([stage], chainOptions), sink).subscribe({
  next: (outcome) => {
    if (outcome.kind !== 'ok') notOk++;
    if (++done === target) {
      meter.records = done;
      const stats = source.stats;
      meter.report(
        `notOk ${String(notOk)}; peakInFlight ${String(stats.peakInFlight)}, pauses ${String(stats.pauses)}, commits ${String(stats.commits)}, held-back holds ${String(stats.heldBackHolds)}` +
          (failures.length > 0 ? `; errors: ${failures.slice(0, 2).join('; ')}` : ''),
      );
      process.exit(notOk > 0 ? 1 : 0);
    }
  },
  error: (error: unknown) => {
    console.error('rxkafka pipeline failed:', error);
    process.exit(1);
  },
});
