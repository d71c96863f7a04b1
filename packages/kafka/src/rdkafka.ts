/**
 * The only module that loads node-rdkafka. It wraps the native clients in small ports
 * (promises and typed callbacks), converts native errors into `KafkaError`, and converts
 * messages into `SourceRecord`s. Nothing else in rxkafka touches the binding.
 */
import { createRequire } from 'node:module';
import Kafka from 'node-rdkafka';
import type {
  DeliveryReport,
  LibrdKafkaError,
  Message,
  MessageHeader,
  Metadata,
  TopicPartition,
  TopicPartitionOffset,
} from 'node-rdkafka';
import type { SourceRecord } from '@rxkafka/core';
import { AuthenticationError, AuthorizationError, KafkaError, TopicExistsError } from './errors.js';
import type { LibrdkafkaConfig } from './librdkafka-config.js';
import { TOPIC_KEYS } from './librdkafka-keys.js';

// node-rdkafka is CommonJS; Node's ESM loader only sees its default export.
const { KafkaConsumer, Producer, AdminClient, CODES } = Kafka;

export type { TopicPartition, TopicPartitionOffset };

/** node-rdkafka's types say callbacks always get an error; at run time it is null on success. */
type NativeError = LibrdKafkaError | null | undefined;

/**
 * Splits settings into global and topic-level ones. node-rdkafka always installs a default topic
 * configuration, which silently replaces topic-level keys (like `auto.offset.reset`) set globally.
 */
export function splitConfig(config: LibrdkafkaConfig): [Record<string, unknown>, Record<string, unknown>] {
  const global: Record<string, unknown> = {};
  const topic: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) (TOPIC_KEYS.has(key) ? topic : global)[key] = value;
  return [global, topic];
}

const CODE_NAMES = new Map<number, string>(Object.entries(CODES.ERRORS).map(([name, errno]) => [errno, name]));

/**
 * librdkafka's description of each error code, lower-cased and without its `Local: `/`Broker: ` prefix,
 * back to the code. node-rdkafka passes `event.error` as an Error that carries only librdkafka's
 * err2str() text (no code, no fatal flag), so this is the only way to tell "all broker connections
 * are down" (retriable) from "fatal error" (the client is unusable).
 */
const CODES_BY_DESCRIPTION: ReadonlyMap<string, number> = (() => {
  const byDescription = new Map<string, number>();
  try {
    // node-rdkafka's own error class renders err2str() for a code; it is not re-exported by its index.
    const errors = createRequire(import.meta.url)('node-rdkafka/lib/error.js') as {
      create(code: number): { message?: unknown };
    };
    for (const errno of CODE_NAMES.keys()) {
      const text = errors.create(errno).message;
      if (typeof text === 'string') byDescription.set(describe(text), errno);
    }
  } catch {
    // Without the table, such errors keep ERR_UNKNOWN; nothing else depends on it.
  }
  return byDescription;
})();

function describe(message: string): string {
  const colon = message.indexOf(': ');
  return (colon >= 0 && /^(local|broker)$/i.test(message.slice(0, colon)) ? message.slice(colon + 2) : message)
    .trim()
    .toLowerCase();
}

/** librdkafka's codes for these names (an unknown name matches nothing). */
function codeSet(names: readonly string[]): ReadonlySet<number> {
  return new Set(names.map((name) => (CODES.ERRORS as Record<string, number>)[name] ?? Number.NaN));
}

/**
 * Errors where the same call may succeed later (librdkafka marks only some itself). Connection-level
 * errors are here too: they arrive as `event.error` while a broker restarts, and librdkafka reconnects
 * by itself, so they are never a reason to give up on a client.
 */
const RETRIABLE = codeSet([
  'ERR__TRANSPORT',
  'ERR__ALL_BROKERS_DOWN',
  'ERR__RESOLVE',
  'ERR__MSG_TIMED_OUT',
  'ERR__NODE_UPDATE',
  'ERR__WAIT_CACHE',
  'ERR__OUTDATED',
  'ERR__IN_PROGRESS',
  'ERR__PREV_IN_PROGRESS',
  'ERR__RETRY',
  'ERR__TIMED_OUT',
  'ERR__TIMED_OUT_QUEUE',
  'ERR__QUEUE_FULL',
  'ERR__WAIT_COORD',
  'ERR_REQUEST_TIMED_OUT',
  'ERR_REBALANCE_IN_PROGRESS',
  'ERR_NOT_COORDINATOR',
  'ERR_COORDINATOR_NOT_AVAILABLE',
  'ERR_COORDINATOR_LOAD_IN_PROGRESS',
  'ERR_NOT_LEADER_FOR_PARTITION',
  'ERR_LEADER_NOT_AVAILABLE',
  'ERR_NETWORK_EXCEPTION',
  'ERR_BROKER_NOT_AVAILABLE',
  'ERR_REPLICA_NOT_AVAILABLE',
  'ERR_NOT_ENOUGH_REPLICAS',
  'ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'ERR_UNKNOWN_TOPIC_OR_PART',
  'ERR_KAFKA_STORAGE_ERROR',
  'ERR_FETCH_SESSION_ID_NOT_FOUND',
  'ERR_INVALID_FETCH_SESSION_EPOCH',
  'ERR_OFFSET_NOT_AVAILABLE',
  'ERR_PREFERRED_LEADER_NOT_AVAILABLE',
  'ERR_FENCED_LEADER_EPOCH',
  'ERR_UNKNOWN_LEADER_EPOCH',
  'ERR_CONCURRENT_TRANSACTIONS',
  'ERR_THROTTLING_QUOTA_EXCEEDED',
]);

/** Codes that mean the credentials were refused, or an ACL denied the operation: not transient. */
const AUTHENTICATION = codeSet(['ERR__AUTHENTICATION', 'ERR_SASL_AUTHENTICATION_FAILED', 'ERR__SSL']);
const AUTHORIZATION = codeSet([
  'ERR_TOPIC_AUTHORIZATION_FAILED',
  'ERR_GROUP_AUTHORIZATION_FAILED',
  'ERR_CLUSTER_AUTHORIZATION_FAILED',
  'ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED',
]);

export const ERR = {
  ASSIGN_PARTITIONS: CODES.ERRORS.ERR__ASSIGN_PARTITIONS,
  REVOKE_PARTITIONS: CODES.ERRORS.ERR__REVOKE_PARTITIONS,
  QUEUE_FULL: CODES.ERRORS.ERR__QUEUE_FULL,
  NO_OFFSET: CODES.ERRORS.ERR__NO_OFFSET,
  TOPIC_EXISTS: CODES.ERRORS.ERR_TOPIC_ALREADY_EXISTS,
} as const;

/** Converts whatever node-rdkafka threw or passed into a `KafkaError` (or a subclass). */
export function toKafkaError(
  error: unknown,
  context: string,
  Kind: new (...args: ConstructorParameters<typeof KafkaError>) => KafkaError = KafkaError,
): KafkaError {
  if (error instanceof KafkaError) return error;
  const native = (typeof error === 'object' && error !== null ? error : {}) as Partial<LibrdKafkaError>;
  const message = typeof native.message === 'string' ? native.message : String(error);
  let errno = typeof native.code === 'number' ? native.code : -1;
  // -1 is ERR_UNKNOWN, what node-rdkafka sets when it has only the text.
  if (errno === -1 || !CODE_NAMES.has(errno)) errno = CODES_BY_DESCRIPTION.get(describe(message)) ?? errno;
  if (Kind === KafkaError && AUTHENTICATION.has(errno)) Kind = AuthenticationError;
  if (Kind === KafkaError && AUTHORIZATION.has(errno)) Kind = AuthorizationError;
  return new Kind(
    `${context}: ${message}`,
    CODE_NAMES.get(errno) ?? 'ERR_UNKNOWN',
    errno,
    native.isRetriable === true || RETRIABLE.has(errno),
    native.isFatal === true || errno === CODES.ERRORS.ERR__FATAL,
    { cause: error },
  );
}

// Most records carry no headers: they share one frozen empty list instead of an array each.
const NO_HEADERS: SourceRecord['headers'] = Object.freeze([]);

function toSourceRecord(message: Message): SourceRecord {
  const key = message.key;
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: asKey(key),
    value: message.value,
    headers:
      message.headers === undefined || message.headers.length === 0
        ? NO_HEADERS
        : message.headers.flatMap(toRecordHeaders),
    timestamp: message.timestamp ?? 0,
  };
}

function toRecordHeaders(header: MessageHeader): { key: string; value: Buffer }[] {
  return Object.entries(header).map(([key, value]) => ({
    key,
    value: Buffer.isBuffer(value) ? value : Buffer.from(value),
  }));
}

/**
 * librdkafka's error events can reach JavaScript just after a failed connect's callback; a connect that
 * fails waits this long for them, so that refused credentials are reported as such, not as a timeout.
 */
const CONNECT_ERROR_GRACE_MS = 250;

interface NativeClient {
  connect(options: { timeout: number }, callback: (error: NativeError) => void): unknown;
  on(event: 'event.log', listener: (log: { severity: number; fac: string; message: string }) => void): unknown;
  isConnected(): boolean;
  disconnect(cb: () => void): unknown;
}

/**
 * librdkafka's "SASL authentication error" line carries the broker's verdict, or a local failure of the
 * exchange ("SaslAuthenticateRequest failed: Local: Broker transport failure", a response it could not
 * parse), which is no verdict on the credentials and may heal.
 */
export function isRefusal(message: string): boolean {
  return (
    message.includes('SASL authentication error') &&
    !message.includes('SaslAuthenticateRequest failed') &&
    !message.includes('SaslAuthenticateResponse parsing failed')
  );
}

/**
 * Remembers the broker's refusal of the credentials: the real reason a connect fails. librdkafka queues
 * its error events until the client is polled, and nothing polls while connecting, so they may arrive
 * only after the connect has given up (CI saw them miss the grace above). Its log line of the refusal
 * arrives at once: that is the first sign, and the error event confirms it.
 */
class Refusal {
  error: KafkaError | undefined;
  #onRefused: ((error: KafkaError) => void) | undefined;

  constructor(client: NativeClient, context: string) {
    client.on('event.log', (log) => {
      if (this.error !== undefined || log.severity > 3 || !isRefusal(log.message)) return;
      const native = { code: CODES.ERRORS.ERR__AUTHENTICATION, message: log.message };
      this.error = toKafkaError(native, context, AuthenticationError);
      this.#onRefused?.(this.error);
    });
  }

  /** Calls `listener` when the credentials are refused, or at once if they already were. */
  whenRefused(listener: (error: KafkaError) => void): void {
    this.#onRefused = listener;
    if (this.error !== undefined) listener(this.error);
  }

  /** Keeps the first refusal: a later "authentication failure" event is replaced by it, which says why. */
  note(error: KafkaError): KafkaError {
    if (!(error instanceof AuthenticationError)) return error;
    this.error ??= error;
    return this.error;
  }
}

function connectClient(client: NativeClient, timeoutMs: number, context: string, refusal: Refusal): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    // Refused credentials do not heal by waiting: fail now, not when the connect times out. The native
    // connect cannot be cancelled and runs to its end; should it connect after all, it is disconnected.
    refusal.whenRefused((error) => {
      if (settled) return;
      settled = true;
      reject(error);
    });
    client.connect({ timeout: timeoutMs }, (error: NativeError) => {
      if (!error) {
        if (settled) {
          void disconnectClient(client);
          return;
        }
        settled = true;
        resolve();
        return;
      }
      if (settled) return;
      const converted = toKafkaError(error, context);
      setTimeout(() => {
        settled = true;
        reject(refusal.error ?? converted);
      }, CONNECT_ERROR_GRACE_MS);
    });
  });
}

/** Idempotent: resolves at once for a client that is not connected. */
function disconnectClient(client: { isConnected(): boolean; disconnect(cb: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    if (!client.isConnected()) {
      resolve();
      return;
    }
    client.disconnect(() => {
      resolve();
    });
  });
}

export interface ConsumerEvents {
  /** librdkafka wants partitions assigned or revoked; call `assign`/`unassign` when ready. */
  rebalance(kind: 'assign' | 'revoke', partitions: TopicPartition[]): void;
  /** The result of an asynchronous commit. */
  committed(error: KafkaError | undefined, offsets: TopicPartitionOffset[]): void;
  error(error: KafkaError): void;
  /** librdkafka's statistics JSON, every `statistics.interval.ms` (off by default). */
  stats?(json: string): void;
  /** librdkafka's own log lines of warning level or worse (syslog severity 4 or lower). */
  warning?(severity: number, facility: string, message: string): void;
}

// Syslog's "warning": librdkafka logs what an operator should see at this level or below.
const LOG_WARNING = 4;

/** A consumer group member in non-flowing mode. */
export class ConsumerPort {
  readonly #client: InstanceType<typeof KafkaConsumer>;
  readonly #refusal: Refusal;

  constructor(config: LibrdkafkaConfig, events: ConsumerEvents) {
    const [globalConfig, topicConfig] = splitConfig(withMockDefaults(config));
    try {
      this.#client = new KafkaConsumer(
        {
          ...globalConfig,
          // A function (not an arrow): node-rdkafka calls it with the consumer as `this`.
          rebalance_cb: function (error: LibrdKafkaError, partitions: TopicPartition[]) {
            if (error.code === ERR.ASSIGN_PARTITIONS) events.rebalance('assign', partitions);
            else if (error.code === ERR.REVOKE_PARTITIONS) events.rebalance('revoke', partitions);
            else events.error(toKafkaError(error, 'rebalance'));
          },
          offset_commit_cb: function (error: NativeError, offsets: TopicPartitionOffset[]) {
            // "No offset" means there was nothing new to commit: not a failure.
            const failure = error !== undefined && error !== null && error.code !== ERR.NO_OFFSET;
            events.committed(failure ? toKafkaError(error, 'commit') : undefined, offsets);
          },
        },
        topicConfig,
      );
    } catch (error) {
      throw toKafkaError(error, 'creating the consumer');
    }
    this.#refusal = new Refusal(this.#client, 'consumer');
    this.#client.on('event.error', (error) => {
      events.error(this.#refusal.note(toKafkaError(error, 'consumer')));
    });
    this.#client.on('event.stats', (event: { message: string }) => {
      events.stats?.(event.message);
    });
    this.#client.on('event.log', (log: { severity: number; fac: string; message: string }) => {
      if (log.severity <= LOG_WARNING) events.warning?.(log.severity, log.fac, log.message);
    });
  }

  connect(timeoutMs: number): Promise<void> {
    return connectClient(this.#client, timeoutMs, 'connecting the consumer', this.#refusal);
  }

  subscribe(topics: readonly (string | RegExp)[], consumeTimeoutMs: number): void {
    this.#client.setDefaultConsumeTimeout(consumeTimeoutMs);
    this.#client.subscribe([...topics]);
  }

  /** Leaves the group and joins it again as a new member: a fresh start for a join that got stuck. */
  resubscribe(topics: readonly (string | RegExp)[]): void {
    this.#client.unsubscribe();
    this.#client.subscribe([...topics]);
  }

  /** Up to `max` records. Call it again only after it settles: parallel calls race. */
  consume(max: number): Promise<SourceRecord[]> {
    return new Promise((resolve, reject) => {
      this.#client.consume(max, (error: NativeError, messages: Message[]) => {
        if (error) reject(toKafkaError(error, 'consume'));
        else resolve(messages.map(toSourceRecord));
      });
    });
  }

  get cooperative(): boolean {
    return this.#client.rebalanceProtocol() === 'COOPERATIVE';
  }

  assign(partitions: TopicPartition[]): void {
    if (this.cooperative) this.#client.incrementalAssign(partitions);
    else this.#client.assign(partitions);
  }

  unassign(partitions: TopicPartition[]): void {
    if (this.cooperative) this.#client.incrementalUnassign(partitions);
    else this.#client.unassign();
  }

  /**
   * Answers an assignment that arrives after the source stopped. Once the close has begun, node-rdkafka
   * refuses `assign` ("Erroneous state") while librdkafka's close waits for the rebalance to be answered:
   * the close hung until the process was killed. A closing group takes an unassign as the answer. Before
   * the close begins, the assignment is taken, and the close revokes it.
   */
  answerWhileClosing(partitions: TopicPartition[]): void {
    try {
      this.assign(partitions);
    } catch {
      this.#client.unassign();
    }
  }

  pause(partitions: TopicPartition[]): void {
    if (partitions.length === 0) return;
    try {
      this.#client.pause(partitions);
    } catch (error) {
      throw toKafkaError(error, 'pause');
    }
  }

  /** librdkafka keeps a pause across unassign and re-assign; resuming a partition that is not paused is a no-op. */
  resume(partitions: TopicPartition[]): void {
    if (partitions.length === 0) return;
    try {
      this.#client.resume(partitions);
    } catch (error) {
      throw toKafkaError(error, 'resume');
    }
  }

  /** The group's committed offset of a partition, or undefined if it has none. A broker round trip. */
  committedOffset(partition: TopicPartition, timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      this.#client.committed([partition], timeoutMs, (error: NativeError, offsets: TopicPartitionOffset[]) => {
        if (error) {
          reject(toKafkaError(error, 'committed offsets'));
          return;
        }
        const offset = offsets[0]?.offset;
        resolve(typeof offset === 'number' && offset >= 0 ? offset : undefined);
      });
    });
  }

  /** A partition's low and high watermarks, asked of its leader. */
  watermarks(partition: TopicPartition, timeoutMs: number): Promise<{ low: number; high: number }> {
    return new Promise((resolve, reject) => {
      this.#client.queryWatermarkOffsets(
        partition.topic,
        partition.partition,
        timeoutMs,
        (error: NativeError, offsets: { lowOffset: number; highOffset: number }) => {
          if (error) reject(toKafkaError(error, 'watermark offsets'));
          else resolve({ low: offsets.lowOffset, high: offsets.highOffset });
        },
      );
    });
  }

  /** Moves an assigned partition's fetch position; librdkafka drops what it prefetched. */
  seek(position: TopicPartitionOffset, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.#client.seek(position, timeoutMs, (error: NativeError) => {
          if (error) reject(toKafkaError(error, 'seek'));
          else resolve();
        });
      } catch (error) {
        reject(toKafkaError(error, 'seek'));
      }
    });
  }

  /** Asynchronous; the result arrives through `events.committed`. */
  commit(offsets: TopicPartitionOffset[]): void {
    try {
      this.#client.commit(offsets);
    } catch (error) {
      throw toKafkaError(error, 'commit');
    }
  }

  /** Leaves the group (the final revoke reaches `events.rebalance`) and closes the client. */
  disconnect(): Promise<void> {
    return disconnectClient(this.#client);
  }
}

export interface ProducerEvents {
  /** A delivery report: `error` is set if librdkafka gave up on the record. */
  delivered(error: KafkaError | undefined, opaque: unknown): void;
  error(error: KafkaError): void;
  /** librdkafka's statistics JSON, every `statistics.interval.ms` (off by default). */
  stats?(json: string): void;
  /** The producer takes records again after refusing them (`produce` returned false) for a batch. */
  writable?(): void;
  /**
   * In flushed batches: librdkafka gave up on a record, known only by where it was going and its bytes
   * (batched records carry no opaque, see `ProducerPort`). Returns that record's opaque, or undefined
   * if no record matches; the failure is then reported through `delivered` when its batch ends.
   */
  undelivered?(error: KafkaError, where: UndeliveredRecord): unknown;
}

/** A record librdkafka reported failed in a batch: its topic, the partition it was for, and its bytes. */
export interface UndeliveredRecord {
  readonly topic: string;
  readonly partition: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

/**
 * Delivery confirmed a batch at a time (toKafka's `deliveryBatches`, or `transactions`): a batch's
 * records are delivered once a flush, or the commit of the transaction that holds them, completes.
 */
export interface BatchSettings {
  /** Set: every batch is a transaction of this `transactional.id`. Unset: a flush ends a batch. */
  readonly transactionalId: string | undefined;
  /** A batch ends once it holds this many records... */
  readonly maxRecords: number;
  /** ...or this long after its first record, in ms. */
  readonly maxMs: number;
  /** Bound of each call that ends a batch (init, commit, abort; a flush is called in shorter slices), in ms. */
  readonly timeoutMs: number;
}

/**
 * A producer whose records report their delivery: one delivery report each (its opaque identifies the
 * record), or, in batches, the flush or commit that ends their batch, librdkafka then reporting
 * failed records only. Batched records are produced without an opaque: node-rdkafka keeps a
 * handle on a record's opaque until its delivery report, which a delivered batched record never gets.
 */
export class ProducerPort {
  readonly #client: InstanceType<typeof Producer>;
  readonly #refusal: Refusal;
  readonly #batches: DeliveryBatches | undefined;
  // The connect in progress or done, settled either way: a close waits for it.
  #connecting: Promise<unknown> | undefined;
  // Set once a close began: nothing calls into the client from this thread any more.
  #closing = false;

  constructor(config: LibrdkafkaConfig, events: ProducerEvents, batchSettings?: BatchSettings) {
    const transactionalId = batchSettings?.transactionalId;
    try {
      const [globalConfig, topicConfig] = splitConfig(config);
      this.#client = new Producer(
        {
          ...globalConfig,
          // Batched records are reported only when they fail, with their value, to tell which failed.
          ...(batchSettings === undefined ? { dr_cb: true } : { dr_msg_cb: true, 'delivery.report.only.error': true }),
          ...(transactionalId === undefined ? {} : { 'transactional.id': transactionalId }),
        },
        topicConfig,
      );
    } catch (error) {
      throw toKafkaError(error, 'creating the producer');
    }
    const batches = batchSettings === undefined ? undefined : new DeliveryBatches(this.#client, events, batchSettings);
    this.#batches = batches;
    this.#client.on('delivery-report', (error: NativeError, report: DeliveryReport) => {
      const kafkaError = error ? toKafkaError(error, 'delivery') : undefined;
      if (batches === undefined) events.delivered(kafkaError, report.opaque);
      // In batches only failures are reported; the flush or commit reports the rest.
      else if (kafkaError !== undefined) {
        const { topic, partition, key, value } = report;
        batches.failed(kafkaError, { topic, partition, key: asKey(key), value: value ?? null });
      }
    });
    this.#refusal = new Refusal(this.#client, 'producer');
    this.#client.on('event.error', (error) => {
      events.error(this.#refusal.note(toKafkaError(error, 'producer')));
    });
    this.#client.on('event.stats', (event: { message: string }) => {
      events.stats?.(event.message);
    });
  }

  connect(timeoutMs: number): Promise<void> {
    const connecting = (async () => {
      await connectClient(this.#client, timeoutMs, 'connecting the producer', this.#refusal);
      await this.#batches?.init();
    })();
    this.#connecting = connecting.catch(() => undefined);
    return connecting;
  }

  /** Serves delivery reports every `intervalMs`. */
  pollEvery(intervalMs: number): void {
    this.#client.setPollInterval(intervalMs);
  }

  /** Returns false when librdkafka's queue is full: poll, then try again. Throws other errors. */
  produce(
    topic: string,
    partition: number | null,
    value: Buffer | null,
    key: Buffer | string | null,
    headers: Record<string, string | Buffer>[] | undefined,
    opaque: unknown,
  ): boolean {
    const batches = this.#batches;
    if (batches !== undefined && !batches.canProduce()) return false;
    try {
      this.#client.produce(
        topic,
        partition,
        value,
        key,
        Date.now(),
        batches === undefined ? opaque : undefined,
        headers,
      );
      batches?.produced(opaque);
      return true;
    } catch (error) {
      const kafkaError = toKafkaError(error, `produce to ${topic}`);
      if (kafkaError.errno === ERR.QUEUE_FULL) return false;
      throw kafkaError;
    }
  }

  poll(): void {
    if (!this.#closing) this.#client.poll();
  }

  /** Waits for what was produced to be delivered: the open batch ends, if there is one. */
  flush(timeoutMs: number): Promise<void> {
    if (this.#batches !== undefined) return this.#batches.end();
    return new Promise((resolve, reject) => {
      this.#client.flush(timeoutMs, (error: NativeError) => {
        if (error) reject(toKafkaError(error, 'flush'));
        else resolve();
      });
    });
  }

  /** The brokers as `host:port,...`, from cluster metadata. */
  brokers(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#client.getMetadata({ timeout: timeoutMs }, (error: NativeError, metadata: Metadata) => {
        if (error) reject(toKafkaError(error, 'metadata'));
        else resolve(metadata.brokers.map((b) => `${b.host}:${String(b.port)}`).join(','));
      });
    });
  }

  /** Asks for a topic's metadata; on the mock cluster this creates the topic. */
  touchTopic(topic: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#client.getMetadata({ topic, timeout: timeoutMs }, (error: NativeError, metadata: Metadata) => {
        if (error) reject(toKafkaError(error, `metadata of ${topic}`));
        else resolve(metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0);
      });
    });
  }

  /**
   * Closes without flushing: for a producer being replaced, whose records are produced again on its
   * successor. Whatever it still held is dropped (or, if already sent, may still land: a duplicate; an
   * open transaction is aborted when its successor initialises the same `transactional.id`).
   */
  async discard(): Promise<void> {
    await this.#quiesce();
    return new Promise((resolve) => {
      if (!this.#client.isConnected()) {
        resolve();
        return;
      }
      this.#client.disconnect(0, () => {
        resolve();
      });
    });
  }

  /** Flushes for up to 5 s (node-rdkafka's default), then closes the client. */
  async disconnect(): Promise<void> {
    await this.#quiesce();
    return disconnectClient(this.#client);
  }

  /**
   * Before the native disconnect, which destroys the client on a worker thread: node-rdkafka's `poll`
   * and transaction calls take no lock against that, and its poll timer keeps firing until the
   * disconnect's callback. A poll into a client being destroyed is what "pure virtual method called"
   * aborts on. The disconnect's own flush serves the last delivery reports.
   */
  async #quiesce(): Promise<void> {
    this.#closing = true;
    // A close during the connect would find nothing to close, and the connection made after it would stay.
    await this.#connecting;
    this.#client.setPollInterval(0);
    this.#batches?.close();
    await this.#batches?.settled();
  }
}

/** The longest a batch's flush holds a libuv thread at a time, in ms. */
const FLUSH_SLICE_MS = 1000;

/** The calls of node-rdkafka's producer that end batches. */
export type BatchingClient = Pick<
  InstanceType<typeof Producer>,
  'flush' | 'initTransactions' | 'beginTransaction' | 'commitTransaction' | 'abortTransaction'
>;

/**
 * The records of the open batch, and its end. A batch opens when a record comes and none is open (a
 * transaction begins first, if batches are transactions), and ends at `maxRecords` or `maxMs`; while
 * it opens or ends, `produce` refuses records (they wait in toKafka's backlog) and `writable` tells
 * when to offer them again. No record may be produced while a batch ends: librdkafka's flush waits for
 * every record it holds, so a record produced meanwhile could not be told apart from the batch's.
 *
 * A flush that completes means each record of the batch was delivered or reported failed: the
 * delivered are reported in produce order, then the failed (matched to their records by
 * `undelivered` as they came). A committed transaction reports all its records delivered; a failed
 * commit aborts the transaction and reports its records failed with the first failure librdkafka
 * reported for one of them (or the commit's own error): toKafka then produces them again on a new
 * producer, or stops.
 */
export class DeliveryBatches {
  // Opaques produced into the open batch, in order.
  #records: unknown[] = [];
  // Records of the open or ending batch that librdkafka reported failed (flushed batches).
  #failures = new Map<unknown, KafkaError>();
  #state: 'idle' | 'opening' | 'open' | 'ending' | 'closed' = 'idle';
  #firstFailure: KafkaError | undefined;
  #endTimer: NodeJS.Timeout | undefined;
  // The end in progress, for flush() to wait on.
  #ending: Promise<void> | undefined;
  // Native calls out now. node-rdkafka's transaction calls take no lock against a disconnect, which
  // destroys the client on a worker thread: a close waits for them (each is bounded by its timeout).
  readonly #calls = new Set<Promise<void>>();

  constructor(
    private readonly client: BatchingClient,
    private readonly events: ProducerEvents,
    private readonly settings: BatchSettings,
  ) {}

  get #transactional(): boolean {
    return this.settings.transactionalId !== undefined;
  }

  init(): Promise<void> {
    if (!this.#transactional) return Promise.resolve();
    return this.#call((done) => {
      this.client.initTransactions(this.settings.timeoutMs, done);
    }, 'initialising transactions');
  }

  /** True if a record may be produced now; otherwise opens a batch if none is open. */
  canProduce(): boolean {
    if (this.#state === 'open') return true;
    if (this.#state !== 'idle') return false;
    if (this.#transactional) {
      this.#begin();
      return false;
    }
    this.#state = 'open';
    return true;
  }

  produced(opaque: unknown): void {
    this.#records.push(opaque);
    if (this.#records.length >= this.settings.maxRecords) void this.end();
    else if (this.#records.length === 1) {
      this.#endTimer = setTimeout(() => void this.end(), this.settings.maxMs);
    }
  }

  /** A record librdkafka gave up on. */
  failed(error: KafkaError, where: UndeliveredRecord): void {
    if (this.#transactional) {
      this.#firstFailure ??= error;
      return;
    }
    if (this.#state === 'closed') return;
    const opaque = this.events.undelivered?.(error, where);
    if (opaque !== undefined) this.#failures.set(opaque, error);
  }

  /** Ends the open batch (resolves at once if none holds records). */
  end(): Promise<void> {
    if (this.#state === 'ending') return this.#ending ?? Promise.resolve();
    if (this.#state !== 'open' || this.#records.length === 0) return Promise.resolve();
    this.#state = 'ending';
    clearTimeout(this.#endTimer);
    const records = this.#records;
    this.#records = [];
    this.#ending = (this.#transactional ? this.#commit(records) : this.#flush(records)).finally(() => {
      this.#ending = undefined;
    });
    return this.#ending;
  }

  close(): void {
    this.#state = 'closed';
    clearTimeout(this.#endTimer);
  }

  /** Resolves once no native call is out; after close() none starts, so this ends. */
  async settled(): Promise<void> {
    while (this.#calls.size > 0) await Promise.allSettled(this.#calls);
  }

  #call(call: (done: (error: NativeError) => void) => void, context: string): Promise<void> {
    const pending = settledCall(call, context);
    this.#calls.add(pending);
    const forget = (): void => {
      this.#calls.delete(pending);
    };
    pending.then(forget, forget);
    return pending;
  }

  /** The producer was closed meanwhile: a late result is nobody's business. */
  #closed(): boolean {
    return this.#state === 'closed';
  }

  /**
   * Flushes until librdkafka holds none of the batch's records. A flush holds a thread of libuv's
   * pool, which the consumer's fetches share, so while brokers are away it is called in slices of at
   * most `FLUSH_SLICE_MS`; the wait as a whole is bounded by `message.timeout.ms`, after which
   * librdkafka reports what it still holds failed. Other errors fail the batch as retriable.
   */
  async #flush(records: unknown[]): Promise<void> {
    let failure: KafkaError | undefined;
    const sliceMs = Math.min(this.settings.timeoutMs, FLUSH_SLICE_MS);
    while (!this.#closed()) {
      try {
        await this.#call((done) => {
          this.client.flush(sliceMs, done);
        }, 'flushing a batch');
        break;
      } catch (error) {
        const kafkaError = toKafkaError(error, 'flushing a batch');
        if (kafkaError.errno === CODES.ERRORS.ERR__TIMED_OUT) continue;
        failure = asRetriable(kafkaError);
        break;
      }
    }
    // Failures of the batch's records reach `failed` through their own callback, after the flush's.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.#closed()) return;
    this.#state = 'idle';
    const failures = this.#failures;
    this.#failures = new Map();
    // The delivered first, then the failed: a retriable failure produces again only what failed.
    for (const opaque of records) if (!failures.has(opaque)) this.events.delivered(failure, opaque);
    for (const opaque of records) {
      const error = failures.get(opaque);
      if (error !== undefined) this.events.delivered(error, opaque);
    }
    this.events.writable?.();
  }

  #begin(): void {
    this.#state = 'opening';
    this.#call((done) => {
      this.client.beginTransaction(done);
    }, 'beginning a transaction').then(
      () => {
        if (this.#state !== 'opening') return;
        this.#state = 'open';
        this.events.writable?.();
      },
      (error: unknown) => {
        if (this.#state !== 'opening') return;
        this.#state = 'closed';
        this.events.error(asFatal(toKafkaError(error, 'beginning a transaction')));
      },
    );
  }

  async #commit(records: unknown[]): Promise<void> {
    const { timeoutMs } = this.settings;
    let failure: KafkaError | undefined;
    try {
      await this.#call((done) => {
        this.client.commitTransaction(timeoutMs, done);
      }, 'committing a transaction');
    } catch (error) {
      failure = toKafkaError(error, 'committing a transaction');
    }
    if (this.#closed()) return;
    if (failure?.fatal === true) {
      this.#state = 'closed';
      this.events.error(failure);
      return;
    }
    if (failure !== undefined) {
      // Best effort: a producer whose abort fails is replaced by toKafka anyway (the records fail below).
      await this.#call((done) => {
        this.client.abortTransaction(timeoutMs, done);
      }, 'aborting a transaction').catch(() => undefined);
      // A record's own failure may still be on its way (reports are dispatched after the commit's result).
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#closed()) return;
    }
    this.#state = 'idle';
    // Without a record's own failure, the transaction failed as a whole (a timeout, a coordinator that
    // moved): producing its records again may succeed, so it counts as retriable.
    const cause = failure === undefined ? undefined : (this.#firstFailure ?? asRetriable(failure));
    this.#firstFailure = undefined;
    for (const opaque of records) this.events.delivered(cause, opaque);
    this.events.writable?.();
  }
}

/** Calls a node-rdkafka method that ends with a callback `(error)`. */
function settledCall(call: (done: (error: NativeError) => void) => void, context: string): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      call((error) => {
        if (error) reject(toKafkaError(error, context));
        else resolve();
      });
    } catch (error) {
      reject(toKafkaError(error, context));
    }
  });
}

function asRetriable(error: KafkaError): KafkaError {
  return error.retriable
    ? error
    : new KafkaError(error.message, error.code, error.errno, true, false, { cause: error });
}

/** A failure that leaves the transactional producer unusable: toKafka stops instead of retrying. */
function asFatal(error: KafkaError): KafkaError {
  return error.fatal ? error : new KafkaError(error.message, error.code, error.errno, false, true, { cause: error });
}

/** A key as node-rdkafka gives it (a string if it was produced as one), as bytes. */
function asKey(key: Buffer | string | null | undefined): Buffer | null {
  return key === undefined || key === null ? null : Buffer.isBuffer(key) ? key : Buffer.from(key);
}

/** Headers as node-rdkafka takes them: one object per header. */
export function toNativeHeaders(
  headers: Readonly<Record<string, string | Buffer>> | undefined,
): Record<string, string | Buffer>[] | undefined {
  return headers === undefined ? undefined : Object.entries(headers).map(([key, value]) => ({ [key]: value }));
}

export interface NewTopic {
  readonly topic: string;
  readonly partitions?: number;
  readonly replicationFactor?: number;
  readonly config?: Readonly<Record<string, string>>;
}

export interface CreateTopicsOptions {
  /** Per topic, in ms. Default 30,000. */
  readonly timeoutMs?: number;
  /** `'fail'` (default) rejects with a `TopicExistsError`; `'ignore'` leaves an existing topic as it is. */
  readonly ifExists?: 'fail' | 'ignore';
}

/** Topic administration, for tests, examples and benchmarks. Not for the mock cluster (no CreateTopics there). */
export async function createTopics(
  brokers: string,
  topics: readonly NewTopic[],
  options: CreateTopicsOptions = {},
): Promise<void> {
  const { timeoutMs = 30_000, ifExists = 'fail' } = options;
  const admin = AdminClient.create({ 'bootstrap.servers': brokers, 'client.id': 'rxkafka-admin' });
  try {
    for (const topic of topics) {
      await new Promise<void>((resolve, reject) => {
        admin.createTopic(
          {
            topic: topic.topic,
            num_partitions: topic.partitions ?? 1,
            replication_factor: topic.replicationFactor ?? 1,
            config: { ...topic.config },
          },
          timeoutMs,
          (error: NativeError) => {
            if (!error) resolve();
            else if (error.code !== ERR.TOPIC_EXISTS) reject(toKafkaError(error, `creating topic ${topic.topic}`));
            else if (ifExists === 'ignore') resolve();
            else reject(toKafkaError(error, `creating topic ${topic.topic}`, TopicExistsError));
          },
        );
      });
    }
  } finally {
    admin.disconnect();
  }
}

/** librdkafka's built-in mock cluster, owned by one producer. It lives until `close`. */
export interface MockCluster {
  /** `bootstrap.servers` for every client that should use the mock. */
  readonly brokers: string;
  /** Creates topics (4 partitions each: the mock's fixed default). */
  createTopics(topics: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** Bootstrap servers of the mock clusters alive in this process. */
const mockClusters = new Set<string>();

/**
 * The mock's group coordinator holds a join for `session.timeout.ms` minus a second: with librdkafka's
 * 45 s default, a consumer of the mock waited most of a minute for its partitions.
 */
const MOCK_CONSUMER_DEFAULTS: LibrdkafkaConfig = { 'session.timeout.ms': 6000, 'heartbeat.interval.ms': 500 };

/** Consumers of a mock cluster get settings that make it usable; explicit settings still win. */
function withMockDefaults(config: LibrdkafkaConfig): LibrdkafkaConfig {
  return mockClusters.has(String(config['bootstrap.servers'])) ? { ...MOCK_CONSUMER_DEFAULTS, ...config } : config;
}

export async function startMockCluster(): Promise<MockCluster> {
  const owner = new ProducerPort(
    { 'test.mock.num.brokers': 1, 'client.id': 'rxkafka-mock-owner', 'allow.auto.create.topics': true },
    { delivered: () => undefined, error: () => undefined },
  );
  await owner.connect(10_000);
  const brokers = await owner.brokers(10_000);
  mockClusters.add(brokers);
  return {
    brokers,
    async createTopics(topics) {
      for (const topic of topics) await owner.touchTopic(topic, 10_000);
    },
    close: () => {
      mockClusters.delete(brokers);
      return owner.disconnect();
    },
  };
}

/** A record for `produceRecords`. */
export interface PlainRecord {
  readonly topic: string;
  readonly key?: string | Buffer | null;
  readonly value: Buffer | string | null;
  readonly partition?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Produces records and waits for every delivery report: for seeding topics in tests,
 * examples and benchmarks. Services produce through `toKafka`.
 */
export async function produceRecords(
  brokers: string,
  records: Iterable<PlainRecord>,
  config: LibrdkafkaConfig = {},
): Promise<number> {
  let failure: KafkaError | undefined;
  let awaiting = 0;
  let wake: (() => void) | undefined;
  const producer = new ProducerPort(
    { 'bootstrap.servers': brokers, 'linger.ms': 20, 'enable.idempotence': true, ...config },
    {
      delivered: (error) => {
        awaiting--;
        failure ??= error;
        wake?.();
      },
      error: (error) => {
        if (error.fatal) failure ??= error;
      },
    },
  );
  await producer.connect(30_000);
  producer.pollEvery(5);
  const waitForReports = (): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      setTimeout(resolve, 50);
    });
  let count = 0;
  try {
    for (const record of records) {
      const value = typeof record.value === 'string' ? Buffer.from(record.value) : record.value;
      const headers = toNativeHeaders(record.headers);
      while (!producer.produce(record.topic, record.partition ?? null, value, record.key ?? null, headers, undefined)) {
        await waitForReports();
      }
      awaiting++;
      count++;
      if (failure !== undefined) throw failure;
    }
    while (awaiting > 0 && failure === undefined) await waitForReports();
    if (failure !== undefined) throw failure;
    return count;
  } finally {
    await producer.disconnect();
  }
}
