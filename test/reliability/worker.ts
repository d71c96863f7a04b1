/**
 * A reliability worker: a real service process built on the public API only.
 *
 *   fromKafka → runChain([process], { ordering: 'key', concurrency: 64 }) → toKafka (output + dead-letter topic)
 *
 * Run it as the harness does (from the repository root):
 *   node --conditions=@rxkafka/source --import tsx test/reliability/worker.ts
 * Configured by environment variables (see `config` below). It writes one JSON line per event on
 * stdout (`ready`, `progress` every 500 ms, `exit`, `fatal`) for the harness, and nothing else there.
 * SIGTERM/SIGINT stop it gracefully (runService); a pipeline failure exits with code 1.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { existsSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { handler, runChain, type Ordering } from '@rxkafka/core';
import { emptyOutcomeCounts, fromKafka, runService, toKafka, type Logger } from '@rxkafka/kafka';
import { InputRecord, type OutputValue } from './workload.js';

function env(name: string, fallback?: string): string {
  const value = process.env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new Error(`worker: ${name} is required`);
}
const int = (name: string, fallback: number): number => {
  const value = Number(env(name, String(fallback)));
  if (!Number.isFinite(value)) throw new Error(`worker: ${name} must be a number`);
  return value;
};

/** `{ [option]: number }` when the environment variable is set, else `{}` (the library default). */
function optional<K extends string>(option: K, name: string): Partial<Record<K, number>> {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return {};
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`worker: ${name} must be a number`);
  return { [option]: value } as Partial<Record<K, number>>;
}

const config = {
  brokers: env('REL_BROKERS'),
  input: env('REL_IN'),
  output: env('REL_OUT'),
  deadLetter: env('REL_DLQ'),
  group: env('REL_GROUP'),
  name: env('REL_NAME', `w${String(process.pid)}`),
  concurrency: int('REL_CONCURRENCY', 64),
  ordering: env('REL_ORDERING', 'key') as Ordering,
  handlerMaxMs: int('REL_HANDLER_MAX_MS', 5),
  /** Per-attempt deadline; 0 = none. */
  timeoutMs: int('REL_TIMEOUT_MS', 0),
  /** How long a record of kind 'slow' takes (then succeeds). */
  slowMs: int('REL_SLOW_MS', 0),
  /** While this file exists, every handler call waits (a stalled downstream). */
  stallFile: process.env['REL_STALL_FILE'],
  /** librdkafka producer message.timeout.ms; 0 = librdkafka's default. */
  messageTimeoutMs: int('REL_MESSAGE_TIMEOUT_MS', 0),
  sessionTimeoutMs: int('REL_SESSION_TIMEOUT_MS', 6000),
  /** '1': toKafka delivers by transaction commits (`transactions`), one transactional.id per worker. */
  transactions: env('REL_TRANSACTIONS', '') === '1',
  /** '1': toKafka confirms each delivery by its own report (`deliveryBatches: false`), not in batches. */
  deliveryReports: env('REL_DELIVERY_REPORTS', '') === '1',
};

const emit = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ ...line, at: Date.now(), w: config.name })}\n`);
};

// Log lines go to stderr (the harness keeps the tail for failure messages), never stdout.
const logger: Logger = {
  info: (object, message) => void process.stderr.write(`INFO ${message} ${safeJson(object)}\n`),
  warn: (object, message) => void process.stderr.write(`WARN ${message} ${safeJson(object)}\n`),
  error: (object, message) => void process.stderr.write(`ERROR ${message} ${safeJson(object)}\n`),
};
function safeJson(object: object): string {
  try {
    return JSON.stringify(object, (_k, v: unknown) => (v instanceof Error ? `${v.name}: ${v.message}` : v)).slice(
      0,
      2000,
    );
  } catch {
    return '[unserialisable]';
  }
}

// Lifecycle events (the public diagnostics channels) go to the log, for post-mortems of a run.
for (const event of [
  'consumer.assigned',
  'consumer.revoked',
  'consumer.commitFailed',
  'consumer.error',
  'consumer.stalled',
  'consumer.state',
  'consumer.paused',
  'consumer.resumed',
  'producer.error',
  'producer.replaced',
]) {
  diagnosticsChannel.subscribe(`rxkafka:${event}`, (message) => {
    process.stderr.write(`${new Date().toISOString()} EVENT ${event} ${safeJson(message as object)}\n`);
  });
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      signal.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(timer);
      reject(signal.reason as Error);
    }
    signal.addEventListener('abort', abort, { once: true });
  });

const process_ = handler<InputRecord, Record<string, unknown>>('process', async (ctx, signal) => {
  const { id, key, seq, kind } = ctx.record;
  if (config.stallFile !== undefined) {
    while (existsSync(config.stallFile)) await sleep(100, signal);
  }
  if (config.handlerMaxMs > 0) await sleep(Math.random() * config.handlerMaxMs, signal);
  if (kind === 'slow') {
    const startedAt = performance.now();
    await sleep(config.slowMs, signal);
    const tookMs = performance.now() - startedAt;
    // A timer that fires late says the event loop lagged: the record's deadline may pass meanwhile.
    if (tookMs > config.slowMs + 50) logger.warn({ id, slowMs: config.slowMs, tookMs }, 'a slow record slept late');
  }
  if (kind === 'throw') throw new Error(`poison record ${String(id)}: the handler throws`);
  if (kind === 'hang')
    await new Promise((_resolve, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
    );
  const value: OutputValue = { id, key, seq, w: config.name };
  ctx.emit({ topic: config.output, key: ctx.key, value });
});

const counts = emptyOutcomeCounts();
let peakRss = 0;
/** The source's counters as a plain object, for the JSON lines. */
const statsOf = (): Record<string, unknown> => Object.fromEntries(Object.entries(source.stats));
const source = fromKafka<InputRecord>({
  brokers: config.brokers,
  groupId: config.group,
  topics: [config.input],
  schema: InputRecord,
  // rxkafka's defaults unless the scenario sets them (REL_MAX_IN_FLIGHT, REL_COMMIT_EVERY,
  // REL_COMMIT_INTERVAL, REL_DRAIN_TIMEOUT, REL_MAX_UNCOMMITTED, REL_MAX_HELD_BACK).
  ...optional('maxInFlight', 'REL_MAX_IN_FLIGHT'),
  ...optional('commitEvery', 'REL_COMMIT_EVERY'),
  ...optional('commitInterval', 'REL_COMMIT_INTERVAL'),
  ...optional('drainTimeout', 'REL_DRAIN_TIMEOUT'),
  ...optional('maxUncommitted', 'REL_MAX_UNCOMMITTED'),
  ...optional('maxHeldBack', 'REL_MAX_HELD_BACK'),
  rdkafka: {
    'session.timeout.ms': config.sessionTimeoutMs,
    'heartbeat.interval.ms': Math.max(100, Math.floor(config.sessionTimeoutMs / 6)),
  },
});

const progress = setInterval(() => {
  const rss = process.memoryUsage.rss();
  peakRss = Math.max(peakRss, rss);
  emit({ t: 'progress', counts, stats: statsOf(), state: source.state, rss, peakRss });
}, 500);

// Event-loop lag over the run, logged at exit: deadlines and timers are only as punctual as the loop.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

let readySent = false;
try {
  const service = runService(
    source,
    (records) =>
      records.pipe(
        runChain([process_], {
          ordering: config.ordering,
          concurrency: config.concurrency,
          ...(config.timeoutMs > 0 ? { timeout: config.timeoutMs } : {}),
        }),
        toKafka({
          brokers: config.brokers,
          deadLetterTopic: config.deadLetter,
          logger,
          ...(config.messageTimeoutMs > 0 ? { rdkafka: { 'message.timeout.ms': config.messageTimeoutMs } } : {}),
          ...(config.transactions ? { transactions: { id: `${config.group}-${config.name}` } } : {}),
          ...(config.deliveryReports ? { deliveryBatches: false as const } : {}),
        }),
      ),
    {
      logger,
      onOutcome: (outcome) => {
        counts[outcome.kind]++;
        if (!readySent) {
          readySent = true;
          emit({ t: 'ready' });
        }
      },
    },
  );
  // runService has installed its SIGTERM/SIGINT handlers: from here a SIGTERM is a graceful stop.
  emit({ t: 'started' });
  const result = await service;
  clearInterval(progress);
  emit({ t: 'exit', counts: result, stats: statsOf(), peakRss });
  loopDelay.disable();
  logger.info(
    { maxMs: loopDelay.max / 1e6, p99Ms: loopDelay.percentile(99) / 1e6, meanMs: loopDelay.mean / 1e6 },
    'event loop delay over the run',
  );
  process.exitCode = 0;
} catch (error) {
  clearInterval(progress);
  const e = error instanceof Error ? error : new Error(String(error));
  emit({
    t: 'fatal',
    error: { name: e.name, message: e.message, code: (e as { code?: unknown }).code },
    counts,
    stats: statsOf(),
    peakRss,
  });
  process.exitCode = 1;
}
// A client handle left open must not keep a finished worker alive: the harness waits for the exit.
setTimeout(() => process.exit(), 3000).unref();
