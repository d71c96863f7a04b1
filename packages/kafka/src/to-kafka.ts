import { Observable, type OperatorFunction, type Subscriber, type Subscription } from 'rxjs';
import { z } from 'zod';
import { durationMs, fn, isPromiseLike, parseOptions, positiveInt } from '@rxkafka/core/options';
import {
  ConfigError,
  HandlerError,
  isDeadLetter,
  toError,
  type DeadLetterOutcome,
  type Outcome,
  type OutputRecord,
} from '@rxkafka/core';
import {
  brokersOption,
  deadLetterLogOption,
  loggerOption,
  rdkafkaOption,
  RECONNECT_BACKOFF_MAX_MS,
} from './client-options.js';
import { closeWithin } from './close-within.js';
import { deadLetterRecord, describeRecord } from './dead-letter.js';
import { produceChannel, publish, publishStatistics, type ProduceTrace } from './diagnostics.js';
import { DeadLetterLog, type DeadLetterLogOptions } from './dead-letter-log.js';
import { DeliveryError, type KafkaError } from './errors.js';
import { checkLibrdkafkaConfig, type LibrdkafkaConfig } from './librdkafka-config.js';
import { defaultLogger, type Logger } from './logger.js';
import { OutstandingList, type OutstandingLinks } from './outstanding-list.js';
import { findUndelivered } from './undelivered.js';
import { ProducerPort, toKafkaError, toNativeHeaders, type BatchSettings, type UndeliveredRecord } from './rdkafka.js';

export interface ToKafkaOptions {
  /** `bootstrap.servers`, e.g. `127.0.0.1:9092`. */
  readonly brokers: string;
  /** Where failed, timed-out and invalid records go. `false` only logs them, then acknowledges them. */
  readonly deadLetterTopic: string | false;
  /**
   * Output value to bytes. Default: Buffers and strings unchanged, `null` as a tombstone, anything else
   * as JSON. It may return a Promise (e.g. a schema-registry encoder); outputs keep their order anyway.
   */
  readonly serialize?: Serializer;
  /** Where dead-lettered records are logged with their error. Default: pino on stderr. */
  readonly logger?: Logger;
  /** The level and sampling of the one line logged per dead-lettered record. */
  readonly deadLetterLog?: DeadLetterLogOptions;
  /** How long completion waits for outstanding deliveries, in ms. Default 10,000. */
  readonly flushTimeout?: number;
  /**
   * How long connecting may take before the sink fails, and closing before it is given up on (logged with a
   * `CloseTimeoutError`), in ms. Default 30,000.
   */
  readonly connectTimeout?: number;
  /**
   * Attempts to deliver one output. When librdkafka gives up on a record with a retriable error (it
   * timed out after `message.timeout.ms`, default 60 s here, or the brokers were unreachable), the
   * producer is replaced by a fresh one (new connections, metadata and idempotence state) and every
   * record it still held is produced again, in order. After this many failed attempts of one record,
   * the stream fails with a `DeliveryError`. Default 3.
   */
  readonly deliveryAttempts?: number;
  /**
   * How deliveries are confirmed. By default a batch at a time: librdkafka reports failed records only,
   * and a batch ends at `maxRecords` records (default 10,000) or `maxMs` after its first record
   * (default 5, as `linger.ms`) with a flush, which sends it at once; when the flush completes, every
   * record of the batch not reported failed is acknowledged and emitted, in order. No record is
   * produced while a batch ends (they wait, bounded by the source's `maxInFlight`). A record is
   * acknowledged only once delivered, as with reports, at a fraction of their cost on the JavaScript
   * thread (docs/decisions.md 55). `false`: one delivery report per record, each acknowledged as its
   * own report comes. With `transactions`, the transactions are the batches.
   */
  readonly deliveryBatches?: { readonly maxRecords?: number; readonly maxMs?: number } | false;
  /**
   * Deliver in transactions, which are then the batches: records are produced inside a transaction
   * that commits at `maxRecords` records (default 10,000) or `maxMs` after its first record (default
   * 20), and a record is acknowledged and emitted once its transaction committed. `id` is the
   * `transactional.id`: one per running instance (two producers with one id fence each other, and the
   * older one fails with a fatal error, as does one whose transaction outlived
   * `transaction.timeout.ms`). A failed commit aborts the transaction: its records are produced again
   * on a new producer, up to `deliveryAttempts`, or the stream fails with a `DeliveryError` if one was
   * refused. Consumers reading with `isolation.level: 'read_committed'` see a transaction's outputs
   * whole or not at all. The guarantee stays at least once: offsets are still committed by the
   * consumer, after. Outcomes come up to `maxMs` plus a commit later. Each transactional call (init,
   * commit, abort) is bounded by `flushTimeout`. Throughput: docs/decisions.md 54.
   */
  readonly transactions?: {
    readonly id: string;
    readonly maxRecords?: number;
    readonly maxMs?: number;
  };
  /** Extra librdkafka producer properties. Misspelled keys are rejected. */
  readonly rdkafka?: LibrdkafkaConfig;
}

/** An output's value as bytes: a Buffer, a string (UTF-8), or `null` (a tombstone). */
export type SerializedValue = Buffer | string | null;

export type Serializer = (value: unknown, output: OutputRecord) => SerializedValue | PromiseLike<SerializedValue>;

const DEAD_LETTER_TOPIC = 'a topic name, or false to only log failed records';

const optionsSchema = z.strictObject({
  brokers: brokersOption,
  deadLetterTopic: z.union([z.string().min(1, { error: DEAD_LETTER_TOPIC }), z.literal(false)], {
    error: DEAD_LETTER_TOPIC,
  }),
  serialize: fn<Serializer>('a serializer').optional(),
  logger: loggerOption,
  deadLetterLog: deadLetterLogOption,
  flushTimeout: durationMs('a flush timeout', { unlimited: false }).optional(),
  connectTimeout: durationMs('a connect timeout', { unlimited: false }).optional(),
  deliveryAttempts: positiveInt('attempts').optional(),
  deliveryBatches: z
    .union(
      [
        z.literal(false),
        z.strictObject({
          maxRecords: positiveInt('records').optional(),
          maxMs: durationMs('a batch length', { unlimited: false }).optional(),
        }),
      ],
      {
        error:
          '{ maxRecords?: an integer >= 1, maxMs?: milliseconds from 0 to 2147483647 }, or false for a delivery report per record',
      },
    )
    .optional(),
  transactions: z
    .strictObject({
      id: z.string({ error: 'a transactional.id' }).min(1, { error: 'a transactional.id' }),
      maxRecords: positiveInt('records').optional(),
      maxMs: durationMs('a transaction length', { unlimited: false }).optional(),
    })
    .optional(),
  rdkafka: rdkafkaOption,
});

/** Serialises output values: Buffers and strings pass through, `null` is a tombstone, the rest is JSON. */
export function serializeJson(value: unknown): Buffer | string | null {
  if (value === null || Buffer.isBuffer(value) || typeof value === 'string') return value;
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError(`cannot serialise a value of type ${typeof value} as JSON`);
  return json;
}

/**
 * The producer sink. For each outcome it produces the outputs (for `ok`) or the dead-letter record
 * (for `failed`, `timeout`, `invalid`), waits until they are delivered (see `deliveryBatches`), and
 * only then acknowledges the record so its offset may be committed. It emits each outcome once it is
 * settled.
 *
 * A delivery that fails after librdkafka's own retries fails the stream with a `DeliveryError`:
 * that record is never acknowledged, so nothing is committed past it.
 *
 * @example
 * ```ts
 * source.pipe(runChain(chain), toKafka({ brokers, deadLetterTopic: 'orders.dlq' })).subscribe();
 * ```
 */
export function toKafka<R, S>(options: ToKafkaOptions): OperatorFunction<Outcome<R, S>, Outcome<R, S>> {
  const parsed = parseOptions(optionsSchema, options);
  const flushTimeout = parsed.flushTimeout ?? 10_000;
  if (parsed.transactions !== undefined && parsed.deliveryBatches !== undefined) {
    throw new ConfigError(
      'deliveryBatches',
      'absent when `transactions` is set (its transactions are the batches)',
      parsed.deliveryBatches,
    );
  }
  const extra = parsed.rdkafka ?? {};
  checkLibrdkafkaConfig(extra, 'producer', 'rdkafka');
  const logger = parsed.logger ?? defaultLogger();
  const settings: ProducerSettings = {
    deadLetterTopic: parsed.deadLetterTopic,
    serialize: parsed.serialize ?? serializeJson,
    logger,
    deadLetterLog: new DeadLetterLog(logger, options.deadLetterLog),
    flushTimeout,
    connectTimeout: parsed.connectTimeout ?? 30_000,
    deliveryAttempts: parsed.deliveryAttempts ?? 3,
    batches: batchSettings(parsed, flushTimeout),
    librdkafka: producerLibrdkafkaConfig(parsed.brokers, extra),
  };
  return (source) =>
    new Observable<Outcome<R, S>>((subscriber) => new ProducerSession(source, subscriber, settings).start());
}

/** toKafka's librdkafka producer properties: its defaults, then the user's `rdkafka` over them. */
export function producerLibrdkafkaConfig(brokers: string, extra: LibrdkafkaConfig): LibrdkafkaConfig {
  return {
    'bootstrap.servers': brokers,
    'client.id': 'rxkafka-producer',
    // Idempotence keeps librdkafka's retries from duplicating or reordering records.
    'enable.idempotence': true,
    'linger.ms': 5,
    // librdkafka's 300 s default kept a wedged producer silent for 5 minutes after a broker restart;
    // a retriable failure now replaces the producer (see deliveryAttempts), so give up on one sooner.
    'message.timeout.ms': 60_000,
    'reconnect.backoff.max.ms': RECONNECT_BACKOFF_MAX_MS,
    ...extra,
  };
}

/** How deliveries are confirmed: transactions, flushed batches (the default), or a report per record. */
function batchSettings(parsed: z.infer<typeof optionsSchema>, timeoutMs: number): BatchSettings | undefined {
  const { transactions, deliveryBatches } = parsed;
  if (deliveryBatches === false) return undefined;
  const { maxRecords = 10_000, maxMs = transactions === undefined ? 5 : 20 } = transactions ?? deliveryBatches ?? {};
  return { transactionalId: transactions?.id, maxRecords, maxMs, timeoutMs };
}

interface ProducerSettings {
  readonly deadLetterTopic: string | false;
  readonly serialize: Serializer;
  readonly logger: Logger;
  readonly deadLetterLog: DeadLetterLog;
  readonly flushTimeout: number;
  readonly connectTimeout: number;
  readonly deliveryAttempts: number;
  readonly batches: BatchSettings | undefined;
  readonly librdkafka: LibrdkafkaConfig;
}

/** The delivery reports an outcome with several outputs still waits for. */
interface Siblings {
  remaining: number;
}

interface Pending<R, S> extends OutstandingLinks<Pending<R, S>> {
  readonly topic: string;
  readonly partition: number | null;
  readonly value: Buffer | null;
  readonly key: Buffer | string | null;
  readonly headers: Record<string, string | Buffer>[] | undefined;
  /** The outcome acknowledged once this record (and its siblings, if any) is delivered. */
  readonly outcome: Outcome<R, S>;
  /** Shared by the outputs of one outcome; undefined for the common single record. */
  readonly siblings: Siblings | undefined;
  /** The produce TracingChannel's message, while someone subscribes. */
  readonly trace: ProduceTrace | undefined;
  // Set from the start, so that setting them later does not grow the object (a property store per record).
  /** The producer generation that holds it; reports from a replaced producer are ignored. */
  generation: number;
  /** Delivery attempts that failed. */
  failures: number;
  /** In a flushed batch, librdkafka reported it failed; its batch reports it when it ends. */
  undelivered: boolean;
}

// How often delivery reports are served, and how soon a full local queue is retried.
const POLL_INTERVAL_MS = 5;

class ProducerSession<R, S> {
  #producer: ProducerPort | undefined;
  #ready = false;
  // Records produce() could not take yet (not connected, or queue full). Kept in order.
  readonly #backlog: Pending<R, S>[] = [];
  // Delivery reports not yet received.
  #awaitingReports = 0;
  #sourceDone = false;
  // After the source completes, the bound on waiting for outstanding deliveries (flushTimeout).
  #completionTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #sourceSubscription: Subscription | undefined;
  #closing = false;
  // The last step waiting for an asynchronous serialization; outcomes that arrive meanwhile queue behind it.
  #serializing: Promise<void> | undefined;
  // Incremented whenever the producer is replaced.
  #generation = 0;
  // Records the current producer holds (produced, no report yet), in produce order.
  readonly #outstanding = new OutstandingList<Pending<R, S>>();

  constructor(
    private readonly source: Observable<Outcome<R, S>>,
    private readonly subscriber: Subscriber<Outcome<R, S>>,
    private readonly settings: ProducerSettings,
  ) {}

  start(): () => void {
    if (!this.connectProducer()) return () => undefined;
    this.#sourceSubscription = this.source.subscribe({
      next: (outcome) => {
        this.handle(outcome);
      },
      error: (error: unknown) => {
        this.fail(error);
      },
      complete: () => {
        this.#sourceDone = true;
        this.#completionTimer = setTimeout(() => {
          this.giveUpOnDeliveries();
        }, this.settings.flushTimeout);
        this.maybeComplete();
      },
    });
    return () => {
      this.close();
    };
  }

  /** Creates and connects a producer for the current generation; false if it could not be created. */
  private connectProducer(): boolean {
    const generation = this.#generation;
    let producer: ProducerPort;
    try {
      producer = new ProducerPort(
        this.settings.librdkafka,
        {
          delivered: (error, opaque) => {
            this.delivered(error, opaque as Pending<R, S>);
          },
          undelivered: (error, where) => this.undelivered(error, where),
          writable: () => {
            if (generation === this.#generation) this.drainBacklog();
          },
          stats: (json) => {
            publishStatistics('producer.stats', undefined, json);
          },
          error: (error) => {
            publish('producer.error', { error });
            if (error.fatal && generation === this.#generation) this.fail(error);
          },
        },
        this.settings.batches,
      );
    } catch (error) {
      this.fail(error);
      return false;
    }
    this.#producer = producer;
    producer.connect(this.settings.connectTimeout).then(
      () => {
        if (this.#closing || generation !== this.#generation) return;
        producer.pollEvery(POLL_INTERVAL_MS);
        this.#ready = true;
        this.drainBacklog();
      },
      (error: unknown) => {
        if (generation !== this.#generation || this.#closing) return;
        if (generation === 0) {
          // The first connection: a wrong address or a broker that is not there fails loudly.
          this.fail(toError(error));
          return;
        }
        // A replacement while the brokers are still away: keep trying, records wait in the backlog
        // (and the source pauses once its in-flight limit is reached).
        this.settings.logger.warn(
          { event: 'producer.reconnect', err: error },
          'the replacement producer could not connect; trying again in 1 s',
        );
        this.#generation++;
        void producer.discard();
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          if (!this.#closing) this.connectProducer();
        }, 1000);
      },
    );
    return true;
  }

  /**
   * Replaces the producer after a retriable delivery failure: a fresh client has new connections,
   * metadata and idempotence state, whatever wedged the old one. Every record the old one still held
   * goes to the front of the backlog, in produce order, so per-partition order is kept; the old
   * client's late reports are ignored (a record it delivered after all is a duplicate, never a loss).
   */
  private replaceProducer(cause: KafkaError, record: Pending<R, S>): void {
    const old = this.#producer;
    const resend = this.#outstanding.takeAll();
    // Produced again, so a failure report may match them again.
    for (const pending of resend) pending.undelivered = false;
    this.#generation++;
    this.#ready = false;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#backlog.unshift(...resend);
    const { source } = record.outcome;
    this.settings.logger.warn(
      { event: 'producer.replaced', err: cause, record: describeRecord(source), resent: resend.length },
      `delivery to ${record.topic} failed with ${cause.code} (retriable; attempt ${String(record.failures)} of ` +
        `${String(this.settings.deliveryAttempts)}): replacing the producer and producing ${String(resend.length)} ` +
        `outstanding records again`,
    );
    publish('producer.replaced', { error: cause, resent: resend.length });
    void old?.discard();
    this.connectProducer();
  }

  private handle(outcome: Outcome<R, S>): void {
    // Behind an asynchronous serialization, later outcomes wait their turn, so outputs keep their order.
    if (this.#serializing !== undefined) this.afterSerializing(() => this.handleNow(outcome));
    else this.handleNow(outcome);
  }

  private handleNow(outcome: Outcome<R, S>): void {
    if (this.subscriber.closed) return;
    switch (outcome.kind) {
      case 'aborted':
        outcome.nack();
        this.subscriber.next(outcome);
        return;
      case 'break':
        this.settle(outcome);
        return;
      case 'ok':
        this.produceOutputs(outcome);
        return;
      default:
        this.deadLetter(outcome);
    }
  }

  private produceOutputs(outcome: Outcome<R, S> & { kind: 'ok' }): void {
    const outputs = outcome.context.outputs;
    if (outputs.length === 0) {
      this.settle(outcome);
      return;
    }
    const { serialize } = this.settings;
    let values: (SerializedValue | PromiseLike<SerializedValue>)[];
    if (outputs.length === 1) {
      // The common case, without the arrays and callbacks of the general one.
      const output = outputs[0] as OutputRecord;
      let value: SerializedValue | PromiseLike<SerializedValue>;
      try {
        value = serialize(output.value, output);
      } catch (error) {
        this.serializeFailed(outcome, error);
        return;
      }
      if (!isPromiseLike(value)) {
        this.enqueue(pendingOutput(output, value, outcome, undefined));
        return;
      }
      values = [value];
    } else {
      try {
        values = outputs.map((output) => serialize(output.value, output));
      } catch (error) {
        this.serializeFailed(outcome, error);
        return;
      }
      if (!values.some(isPromiseLike)) {
        this.produceSerialized(outcome, values as SerializedValue[]);
        return;
      }
    }
    this.afterSerializing(() =>
      Promise.all(values.map((value) => Promise.resolve(value))).then(
        (serialized) => {
          if (!this.subscriber.closed) this.produceSerialized(outcome, serialized);
        },
        (error: unknown) => {
          if (!this.subscriber.closed) this.serializeFailed(outcome, error);
        },
      ),
    );
  }

  private produceSerialized(outcome: Outcome<R, S> & { kind: 'ok' }, values: readonly SerializedValue[]): void {
    const outputs = outcome.context.outputs;
    // One output, the common case, needs no counter shared with siblings.
    const siblings: Siblings | undefined = outputs.length === 1 ? undefined : { remaining: outputs.length };
    for (let i = 0; i < outputs.length; i++) {
      this.enqueue(pendingOutput(outputs[i] as OutputRecord, values[i] ?? null, outcome, siblings));
    }
  }

  /** An output that cannot be serialised is the chain's failure, not the pipeline's. */
  private serializeFailed(outcome: Outcome<R, S> & { kind: 'ok' }, error: unknown): void {
    const { context, source, attempt, durationMs, deferErrors, ack, nack } = outcome;
    this.deadLetter({
      kind: 'failed',
      handler: 'serialize',
      error: new HandlerError('serialize', toError(error)),
      context,
      source,
      attempt,
      durationMs,
      deferErrors,
      ack,
      nack,
    });
  }

  /** Runs `step` once every earlier asynchronous serialization has finished. */
  private afterSerializing(step: () => void | Promise<void>): void {
    const next = (this.#serializing ?? Promise.resolve()).then(step).catch((error: unknown) => {
      this.fail(error);
    });
    this.#serializing = next;
    void next.finally(() => {
      if (this.#serializing !== next) return;
      this.#serializing = undefined;
      this.maybeComplete();
    });
  }

  private deadLetter(outcome: DeadLetterOutcome<R, S>): void {
    this.settings.deadLetterLog.write(outcome, this.settings.deadLetterTopic);
    const topic = this.settings.deadLetterTopic;
    if (topic === false) {
      this.settle(outcome);
      return;
    }
    const record = deadLetterRecord(outcome);
    this.enqueue({
      topic,
      partition: null,
      ...record,
      outcome,
      siblings: undefined,
      trace: undefined,
      generation: 0,
      failures: 0,
      undelivered: false,
      olderOutstanding: undefined,
      newerOutstanding: undefined,
      isOutstanding: false,
    });
  }

  private settle(outcome: Outcome<R, S>): void {
    outcome.ack();
    this.subscriber.next(outcome);
  }

  private enqueue(untraced: Pending<R, S>): void {
    const record = produceChannel.hasSubscribers ? traced(untraced, this.settings.deadLetterTopic) : untraced;
    this.#awaitingReports++;
    if (!this.#ready || this.#backlog.length > 0 || !this.tryProduce(record)) {
      this.#backlog.push(record);
      this.scheduleRetry();
    }
  }

  /** False when librdkafka's queue is full. Other produce errors fail the stream. */
  private tryProduce(record: Pending<R, S>): boolean {
    const producer = this.#producer;
    if (producer === undefined) return false;
    try {
      const taken = producer.produce(record.topic, record.partition, record.value, record.key, record.headers, record);
      if (taken) {
        record.generation = this.#generation;
        this.#outstanding.add(record);
        if (record.trace !== undefined) record.trace.sentAt = performance.now();
      }
      return taken;
    } catch (error) {
      // Refused before it was sent (too large, say): no producer will take it.
      this.deliveryFailed(record.outcome, toKafkaError(error, `produce to ${record.topic}`));
      return true;
    }
  }

  private drainBacklog(): void {
    while (this.#backlog.length > 0 && !this.subscriber.closed) {
      const next = this.#backlog[0];
      if (next === undefined || !this.tryProduce(next)) {
        this.scheduleRetry();
        return;
      }
      this.#backlog.shift();
    }
  }

  private scheduleRetry(): void {
    if (!this.#ready || this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#producer?.poll();
      this.drainBacklog();
    }, POLL_INTERVAL_MS);
  }

  private delivered(error: KafkaError | undefined, record: Pending<R, S>): void {
    // A replaced producer's report: the record was handed to the current producer again.
    if (record.generation !== this.#generation || !this.#outstanding.has(record)) return;
    if (error !== undefined && error.retriable && !error.fatal && !this.#closing) {
      record.failures++;
      if (record.failures < this.settings.deliveryAttempts) {
        this.replaceProducer(error, record);
        return;
      }
    }
    this.#outstanding.delete(record);
    this.#awaitingReports--;
    const { outcome, trace } = record;
    if (trace !== undefined) {
      if (error !== undefined) {
        trace.error = error;
        produceChannel.error.publish(trace);
      }
      produceChannel.asyncEnd.publish(trace);
    }
    if (error !== undefined) {
      // librdkafka already retried for message.timeout.ms (on deliveryAttempts producers, if the error
      // was retriable): this record cannot be delivered.
      this.deliveryFailed(outcome, error);
      return;
    }
    if (record.siblings === undefined || --record.siblings.remaining === 0) this.settle(outcome);
    this.maybeComplete();
  }

  /** An output of `outcome` cannot be delivered: logged with its record, and the stream fails. */
  private deliveryFailed(outcome: Outcome<R, S>, error: KafkaError): void {
    const { source } = outcome;
    this.settings.logger.error(
      { err: error, record: describeRecord(source) },
      'delivery failed; stopping without acknowledging the record',
    );
    this.fail(
      new DeliveryError(
        `Delivery failed for the outcome of ${source.topic}[${String(source.partition)}]@${String(source.offset)}: ${error.message}`,
        error.code,
        error.errno,
        false,
        true,
        { cause: error },
      ),
    );
  }

  /**
   * A batched record librdkafka gave up on, known by where it went and its bytes (`findUndelivered`).
   * Its batch reports it when it ends.
   */
  private undelivered(error: KafkaError, where: UndeliveredRecord): Pending<R, S> | undefined {
    const record = findUndelivered(this.#outstanding, where);
    if (record !== undefined) {
      record.undelivered = true;
      return record;
    }
    // Not a record this producer holds: fail loudly rather than acknowledge past a lost record.
    this.fail(
      new DeliveryError(
        `Delivery failed for a record to ${where.topic}[${String(where.partition)}] that the sink does not hold: ${error.message}`,
        error.code,
        error.errno,
        false,
        true,
        { cause: error },
      ),
    );
    return undefined;
  }

  private maybeComplete(): void {
    if (!this.#sourceDone || this.#awaitingReports > 0 || this.#serializing !== undefined || this.#closing) return;
    this.#closing = true;
    clearTimeout(this.#completionTimer);
    const producer = this.#producer;
    void (async () => {
      try {
        await producer?.flush(this.settings.flushTimeout);
      } catch (error) {
        publish('producer.error', { error });
      }
      if (producer !== undefined) await this.closeProducer(producer);
      this.subscriber.complete();
    })();
  }

  /**
   * The source completed `flushTimeout` ago and outputs are still unconfirmed (brokers away, a wedged
   * producer): complete without them, loudly. Their records were never acknowledged, so never
   * committed: the group processes them again. The producer closes without a further flush.
   */
  private giveUpOnDeliveries(): void {
    if (this.#closing || this.subscriber.closed) return;
    this.#closing = true;
    const unconfirmed = this.#awaitingReports;
    this.settings.logger.warn(
      { event: 'producer.unconfirmed', unconfirmed, flushTimeoutMs: this.settings.flushTimeout },
      `${String(unconfirmed)} outputs were not confirmed delivered within flushTimeout ` +
        `(${String(this.settings.flushTimeout)} ms) after the source completed: completing without them; ` +
        'their records were not acknowledged, so they are processed again',
    );
    clearTimeout(this.#retryTimer);
    const producer = this.#producer;
    void (async () => {
      if (producer !== undefined) await this.closeProducer(producer, { flush: false });
      this.subscriber.complete();
    })();
  }

  private fail(error: unknown): void {
    if (this.subscriber.closed) return;
    this.subscriber.error(error);
  }

  private close(): void {
    this.#sourceSubscription?.unsubscribe();
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#completionTimer);
    if (this.#closing && this.#sourceDone) return;
    this.#closing = true;
    if (this.#producer !== undefined) void this.closeProducer(this.#producer);
  }

  /** Within `connectTimeout`; without a flush, what the producer still holds is dropped. */
  private closeProducer(producer: ProducerPort, { flush } = { flush: true }): Promise<void> {
    const client = flush ? producer : { disconnect: () => producer.discard() };
    return closeWithin(client, 'producer', this.settings.connectTimeout, this.settings.logger);
  }
}

/** Publishes the start of a produce; headers that subscribers add (say, `traceparent`) go with the record. */
function traced<R, S>(record: Pending<R, S>, deadLetterTopic: string | false): Pending<R, S> {
  const { outcome } = record;
  const trace: ProduceTrace = {
    topic: record.topic,
    key: record.key,
    deadLetter: isDeadLetter(outcome),
    deadLetterTopic,
    source: outcome.source,
    headers: {},
  };
  produceChannel.start.publish(trace);
  const added = Object.entries(trace.headers).map(([key, value]) => ({ [key]: value }));
  return { ...record, headers: added.length === 0 ? record.headers : [...(record.headers ?? []), ...added], trace };
}

function pendingOutput<R, S>(
  output: OutputRecord,
  value: SerializedValue,
  outcome: Outcome<R, S>,
  siblings: Siblings | undefined,
): Pending<R, S> {
  return {
    topic: output.topic,
    partition: output.partition ?? null,
    value: typeof value === 'string' ? Buffer.from(value) : value,
    key: output.key ?? null,
    headers: toNativeHeaders(output.headers),
    outcome,
    siblings,
    trace: undefined,
    generation: 0,
    failures: 0,
    undelivered: false,
    olderOutstanding: undefined,
    newerOutstanding: undefined,
    isOutstanding: false,
  };
}
