import diagnosticsChannel from 'node:diagnostics_channel';
import {
  HANDLER_CHANNEL,
  RECORD_CHANNEL,
  type HandlerTrace,
  type Outcome,
  type RecordTrace,
  type SourceRecord,
} from '@rxkafka/core';
import {
  CHANNELS,
  PRODUCE_CHANNEL,
  type CommittedMessage,
  type ConsumedMessage,
  type KafkaSource,
  type Logger,
  type ProduceTrace,
  type SettledMessage,
  type StatisticsMessage,
} from '@rxkafka/kafka';
import { diagnose, type Diagnosis, type PartitionCondition } from './diagnosis.js';
import { RollingWindow } from './window.js';

/** What the monitor needs of a source; `KafkaSource` has it. */
export type WatchedSource = Pick<
  KafkaSource<unknown, unknown>,
  'groupId' | 'limits' | 'partitions' | 'state' | 'stats'
>;

export interface MonitorOptions {
  /** Where stall diagnoses are logged (one line when a partition becomes stuck, one when it recovers). */
  readonly logger?: Logger;
  /** A record in flight this long is reported as slow, in ms. Default 10,000. */
  readonly slowRecordAfter?: number;
  /** A partition with lag that fetched nothing this long is reported stalled, in ms. Default 10,000. */
  readonly stalledAfter?: number;
  /** Completed records that wait this long for a commit are reported, in ms. Default 10,000. */
  readonly commitWaitAfter?: number;
  /** `/health/live` fails once a partition has been stalled this long, in ms. Default 60,000. */
  readonly liveFailsAfter?: number;
  /** How many dead-lettered records to keep for the status page. Default 20. */
  readonly deadLetters?: number;
  /** Hooks a metrics backend in (see `prometheusMetrics`). */
  readonly sinks?: readonly MonitorSink[];
}

/** Receives every event the monitor sees, already decoded; metrics backends implement it. */
export interface MonitorSink {
  consumed?(topic: string, partition: number): void;
  queueWait?(topic: string, seconds: number): void;
  outcome?(topic: string, kind: string, handler: string): void;
  handler?(handler: string, result: string, seconds: number): void;
  acknowledged?(topic: string, seconds: number): void;
  produced?(
    topic: string,
    deadLetter: boolean,
    queueSeconds: number | undefined,
    deliverySeconds: number | undefined,
    failed: boolean,
  ): void;
  committed?(seconds: number): void;
  commitFailed?(): void;
  rebalance?(kind: 'assign' | 'revoke', partitions: number): void;
  stalled?(topic: string, partition: number): void;
  /** A watched group's member left and joined again after getting no partitions back (the rejoin guard). */
  rejoined?(service: string): void;
  /** Called before each scrape with the current snapshot, for gauges. */
  collect?(status: Status): void;
}

export interface HandlerStatus {
  readonly name: string;
  /** Runs per second over the last 10 s. */
  readonly rate: number;
  /** Mean and 99th percentile of the last 512 runs. */
  readonly meanMs: number | undefined;
  readonly p99Ms: number | undefined;
  /** Failed or timed-out runs since the start. */
  readonly failures: number;
  readonly failureRate: number;
  readonly total: number;
}

export interface PartitionReport {
  readonly service: string;
  readonly topic: string;
  readonly partition: number;
  readonly lag: number | undefined;
  readonly committed: number | undefined;
  readonly highWatermark: number | undefined;
  /** Records completed but not committed yet (between the committed offset and the commit point, plus those held back). */
  readonly uncommitted: number | undefined;
  readonly inFlight: number;
  readonly paused: boolean;
  readonly condition: PartitionCondition;
  readonly reason: string;
  /** performance-free wall time (epoch ms) since the condition holds. */
  readonly since: number;
  readonly stalls: number;
}

export interface ServiceStatus {
  readonly name: string;
  readonly groupId: string | undefined;
  readonly state: string;
  readonly sourceTopics: readonly string[];
  readonly handlers: readonly HandlerStatus[];
  readonly outputTopics: readonly string[];
  readonly deadLetterTopics: readonly string[];
  /** Records consumed per second over the last 10 s. */
  readonly rate: number;
  readonly consumed: number;
  readonly inFlight: number;
  readonly inFlightBytes: number;
  readonly pausedPartitions: number;
  readonly assignedPartitions: number;
  readonly outcomes: Readonly<Record<string, number>>;
}

export interface DeadLetterEntry {
  /** Epoch ms. */
  readonly at: number;
  readonly service: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly reason: string;
  readonly handler: string | undefined;
  readonly error: string;
  deadLetterTopic: string | undefined;
}

export interface Health {
  readonly ok: boolean;
  readonly reasons: readonly string[];
}

export interface Status {
  readonly now: number;
  readonly services: readonly ServiceStatus[];
  readonly partitions: readonly PartitionReport[];
  readonly deadLetters: readonly DeadLetterEntry[];
  readonly live: Health;
  readonly ready: Health;
}

/** One record between fetch and acknowledgement. */
interface Track {
  readonly service: string;
  readonly consumedAt: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  handler: string | undefined;
  handlerSince: number;
  // Whether runChain started it; a record acknowledged without starting was invalid.
  started: boolean;
}

interface Service {
  readonly name: string;
  readonly groupId: string | undefined;
  source: WatchedSource | undefined;
  readonly sourceTopics: Set<string>;
  handlerNames: readonly string[];
  readonly handlers: Map<string, RollingWindow>;
  readonly outputTopics: Set<string>;
  readonly deadLetterTopics: Set<string>;
  readonly consumed: RollingWindow;
  readonly outcomes: Record<string, number>;
  // librdkafka's view per "topic\0partition": lag, committed offset, high watermark.
  readonly lag: Map<string, { lag: number | undefined; committed: number | undefined; high: number | undefined }>;
  // The last verdict per partition, for transitions (log lines) and `since`.
  readonly verdicts: Map<string, { condition: PartitionCondition; since: number; lag: number | undefined }>;
  readonly stalls: Map<string, number>;
  // source.stats.commitErrors when the last commit succeeded.
  commitErrorsAtSuccess: number;
  // performance.now() of the last successful commit (or of the service's first sight).
  lastCommitAt: number;
}

const tp = (topic: string, partition: number): string => `${topic}\u0000${String(partition)}`;

/**
 * Watches rxkafka through its diagnostics channels: per-record, per-handler and produce events,
 * rebalances, commits, stalls and librdkafka statistics. It keeps what the status page and health
 * endpoints show, feeds metrics sinks, and logs a stall diagnosis when a partition gets stuck.
 *
 * Subscribing costs nothing until events arrive; `close()` unsubscribes.
 */
export class Monitor implements Disposable {
  readonly #services = new Map<string, Service>();
  readonly #tracks = new Map<SourceRecord, Track>();
  readonly #deadLetters: DeadLetterEntry[] = [];
  // Dead letters by source record, to attach the dead-letter topic once it is produced.
  readonly #deadLetterBySource = new WeakMap<SourceRecord, DeadLetterEntry>();
  readonly #handlerStarts = new WeakMap<HandlerTrace, number>();
  readonly #produceStarts = new WeakMap<ProduceTrace, number>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #sinks: MonitorSink[];
  readonly #logger: Logger | undefined;
  readonly #slowRecordMs: number;
  readonly #stalledMs: number;
  readonly #commitWaitMs: number;
  readonly #liveFailsAfterMs: number;
  readonly #keepDeadLetters: number;
  #diagnosisTimer: NodeJS.Timeout | undefined;

  constructor(options: MonitorOptions = {}) {
    this.#sinks = [...(options.sinks ?? [])];
    this.#logger = options.logger;
    this.#slowRecordMs = options.slowRecordAfter ?? 10_000;
    this.#stalledMs = options.stalledAfter ?? 10_000;
    this.#commitWaitMs = options.commitWaitAfter ?? 10_000;
    this.#liveFailsAfterMs = options.liveFailsAfter ?? 60_000;
    this.#keepDeadLetters = options.deadLetters ?? 20;
    this.subscribe(CHANNELS.record, (m: ConsumedMessage) => {
      this.onConsumed(m);
    });
    this.subscribe(CHANNELS.settled, (m: SettledMessage) => {
      this.onSettled(m);
    });
    this.subscribe(CHANNELS.committed, (m: CommittedMessage) => {
      this.onCommitted(m);
    });
    this.subscribe(CHANNELS.commitFailed, () => {
      for (const sink of this.#sinks) sink.commitFailed?.();
    });
    this.subscribe(CHANNELS.assigned, (m: { partitions: readonly unknown[] }) => {
      for (const sink of this.#sinks) sink.rebalance?.('assign', m.partitions.length);
    });
    this.subscribe(CHANNELS.revoked, (m: { partitions: readonly unknown[] }) => {
      for (const sink of this.#sinks) sink.rebalance?.('revoke', m.partitions.length);
    });
    this.subscribe(CHANNELS.stalled, (m: { topic: string; partition: number }) => {
      this.onStalled(m.topic, m.partition);
    });
    this.subscribe(CHANNELS.rejoined, (m: { groupId: string }) => {
      const { name } = this.service(m.groupId);
      for (const sink of this.#sinks) sink.rejoined?.(name);
    });
    this.subscribe(CHANNELS.stats, (m: StatisticsMessage) => {
      this.onStatistics(m);
    });
    this.trace<RecordTrace>(RECORD_CHANNEL, {
      start: (m) => {
        this.onRecordStart(m);
      },
      asyncEnd: (m) => {
        this.onRecordEnd(m);
      },
    });
    this.trace<HandlerTrace>(HANDLER_CHANNEL, {
      start: (m) => {
        this.onHandlerStart(m);
      },
      asyncEnd: (m) => {
        this.onHandlerEnd(m);
      },
    });
    this.trace<ProduceTrace>(PRODUCE_CHANNEL, {
      start: (m) => {
        this.#produceStarts.set(m, performance.now());
        this.onProduceStart(m);
      },
      asyncEnd: (m) => {
        this.onProduceEnd(m);
      },
    });
    // Diagnoses (and their log lines) also happen without anyone looking at the page.
    this.#diagnosisTimer = setInterval(() => {
      this.status();
    }, 1000);
    this.#diagnosisTimer.unref();
  }

  /** Adds a metrics (or other) sink. */
  addSink(sink: MonitorSink): void {
    this.#sinks.push(sink);
  }

  /**
   * Watches a source: its state, partitions, limits and counters join the status page, the health
   * endpoints and the gauges. `name` defaults to the group id.
   */
  watch(source: WatchedSource, options: { readonly name?: string } = {}): this {
    const service = this.service(source.groupId, options.name);
    service.source = source;
    return this;
  }

  /** Everything the status page shows, computed now. Also runs the stall diagnosis. */
  status(): Status {
    const now = Date.now();
    const services: ServiceStatus[] = [];
    const partitions: PartitionReport[] = [];
    const liveReasons: string[] = [];
    const readyReasons: string[] = [];
    const oldest = this.oldestInFlight();
    for (const service of this.#services.values()) {
      const source = service.source;
      const stats = source?.stats;
      if (source !== undefined) {
        if (source.state !== 'running') readyReasons.push(`${service.name}: source is ${source.state}`);
        else if (source.partitions().length === 0) readyReasons.push(`${service.name}: no partitions assigned`);
      }
      for (const part of source?.partitions() ?? []) {
        const key = tp(part.topic, part.partition);
        const fromStats = service.lag.get(key);
        const previous = service.verdicts.get(key);
        const lag = fromStats?.lag;
        const limits = source?.limits;
        let limit: Parameters<typeof diagnose>[0]['limit'];
        if (stats?.paused === true && limits !== undefined) limit = fullestLimit(stats, limits);
        const old = oldest.get(`${service.name}\u0000${key}`);
        const committed = fromStats?.committed;
        const uncommitted =
          committed === undefined || committed < 0 || part.committable === undefined
            ? part.head?.heldBack
            : Math.max(0, part.committable - committed) + (part.head?.heldBack ?? 0);
        const diagnosis = diagnose(
          {
            topic: part.topic,
            partition: part.partition,
            paused: part.paused,
            revoking: part.revoking,
            inFlight: part.inFlight,
            waiting: part.waiting,
            waitingFor: part.waitingFor,
            idleMs: part.idleMs,
            lag,
            lagGrowing: lag !== undefined && previous?.lag !== undefined && lag > previous.lag,
            limit,
            oldest:
              old === undefined
                ? undefined
                : {
                    offset: old.offset,
                    handler: old.handler,
                    sinceMs: performance.now() - old.consumedAt,
                  },
            head: part.head,
            commitFailures: stats === undefined ? 0 : stats.commitErrors - service.commitErrorsAtSuccess,
            uncommitted: uncommitted ?? 0,
            sinceCommitMs: performance.now() - service.lastCommitAt,
          },
          { slowRecordMs: this.#slowRecordMs, stalledMs: this.#stalledMs, commitWaitMs: this.#commitWaitMs },
        );
        const since = previous?.condition === diagnosis.condition ? previous.since : now;
        if (previous?.condition !== diagnosis.condition)
          this.logTransition(service, part, diagnosis, previous?.condition);
        service.verdicts.set(key, { condition: diagnosis.condition, since, lag });
        if (diagnosis.condition === 'stalled' && now - since >= this.#liveFailsAfterMs) {
          liveReasons.push(
            `${service.name}: ${part.topic}[${String(part.partition)}] stalled for ${String(Math.round((now - since) / 1000))} s`,
          );
        }
        partitions.push({
          service: service.name,
          topic: part.topic,
          partition: part.partition,
          lag,
          committed,
          highWatermark: fromStats?.high,
          uncommitted,
          inFlight: part.inFlight,
          paused: part.paused,
          condition: diagnosis.condition,
          reason: diagnosis.reason,
          since,
          stalls: service.stalls.get(key) ?? 0,
        });
      }
      services.push({
        name: service.name,
        groupId: service.groupId,
        state: source?.state ?? 'unwatched',
        sourceTopics: [...service.sourceTopics],
        handlers: service.handlerNames.map((name) => handlerStatus(name, service.handlers.get(name))),
        outputTopics: [...service.outputTopics],
        deadLetterTopics: [...service.deadLetterTopics],
        rate: service.consumed.rate(),
        consumed: service.consumed.total,
        inFlight: stats?.inFlight ?? 0,
        inFlightBytes: stats?.inFlightBytes ?? 0,
        pausedPartitions: stats?.pausedPartitions ?? 0,
        assignedPartitions: source?.partitions().length ?? 0,
        outcomes: { ...service.outcomes },
      });
    }
    partitions.sort(
      (a, b) => a.service.localeCompare(b.service) || a.topic.localeCompare(b.topic) || a.partition - b.partition,
    );
    const status: Status = {
      now,
      services,
      partitions,
      deadLetters: [...this.#deadLetters].reverse(),
      live: { ok: liveReasons.length === 0, reasons: liveReasons },
      ready: { ok: readyReasons.length === 0, reasons: readyReasons },
    };
    return status;
  }

  /** Runs the metrics sinks' gauges; called before each scrape. */
  collect(): Status {
    const status = this.status();
    for (const sink of this.#sinks) sink.collect?.(status);
    return status;
  }

  close(): void {
    clearInterval(this.#diagnosisTimer);
    this.#diagnosisTimer = undefined;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the channel's message type, asserted once here
  private subscribe<T>(name: string, listener: (message: T) => void): void {
    const wrapped = (message: unknown): void => {
      listener(message as T);
    };
    diagnosticsChannel.subscribe(name, wrapped);
    this.#unsubscribe.push(() => diagnosticsChannel.unsubscribe(name, wrapped));
  }

  private trace<T extends object>(
    name: string,
    handlers: { start: (message: T) => void; asyncEnd: (message: T) => void },
  ): void {
    const channel = diagnosticsChannel.tracingChannel<object, T>(name);
    const subscribers = {
      start: handlers.start,
      end: noop,
      asyncStart: noop,
      asyncEnd: handlers.asyncEnd,
      error: noop,
    };
    channel.subscribe(subscribers);
    this.#unsubscribe.push(() => channel.unsubscribe(subscribers));
  }

  private service(groupId: string | undefined, name?: string): Service {
    const key = groupId ?? name ?? 'default';
    let service = this.#services.get(key);
    if (service === undefined) {
      service = {
        name: name ?? key,
        groupId,
        source: undefined,
        sourceTopics: new Set(),
        handlerNames: [],
        handlers: new Map(),
        outputTopics: new Set(),
        deadLetterTopics: new Set(),
        consumed: new RollingWindow(),
        outcomes: {},
        lag: new Map(),
        verdicts: new Map(),
        stalls: new Map(),
        commitErrorsAtSuccess: 0,
        lastCommitAt: performance.now(),
      };
      this.#services.set(key, service);
    } else if (name !== undefined && service.name !== name) {
      (service as { name: string }).name = name;
    }
    return service;
  }

  private onConsumed(m: ConsumedMessage): void {
    const { source } = m;
    const service = this.service(m.groupId);
    service.sourceTopics.add(source.topic);
    service.consumed.add(undefined);
    this.#tracks.set(source, {
      service: m.groupId,
      consumedAt: performance.now(),
      topic: source.topic,
      partition: source.partition,
      offset: source.offset,
      handler: undefined,
      handlerSince: 0,
      started: false,
    });
    for (const sink of this.#sinks) sink.consumed?.(source.topic, source.partition);
  }

  private onSettled(m: SettledMessage): void {
    const track = this.#tracks.get(m.source);
    if (track === undefined) return;
    // runChain passes undecodable and schema-violating records straight through: acknowledged, never started.
    if (m.done && !track.started) this.onInvalid(m.source, undefined);
    this.#tracks.delete(m.source);
    if (!m.done) return;
    const seconds = (performance.now() - track.consumedAt) / 1000;
    for (const sink of this.#sinks) sink.acknowledged?.(track.topic, seconds);
  }

  /** The service a record belongs to: its source's group, else one per topic (in-memory sources). */
  private serviceOf(source: SourceRecord): Service {
    const track = this.#tracks.get(source);
    return track === undefined ? this.service(undefined, source.topic) : this.service(track.service);
  }

  private onRecordStart(m: RecordTrace): void {
    const source = m.context.source;
    let track = this.#tracks.get(source);
    const service = this.serviceOf(source);
    if (service.handlerNames.length === 0 || service.handlerNames !== m.handlers) service.handlerNames = m.handlers;
    if (track === undefined) {
      // Not from a watched Kafka source (an in-memory one): tracked from here to its outcome.
      service.sourceTopics.add(source.topic);
      track = {
        service: source.topic,
        consumedAt: performance.now(),
        topic: source.topic,
        partition: source.partition,
        offset: source.offset,
        handler: undefined,
        handlerSince: 0,
        started: true,
      };
      this.#tracks.set(source, track);
      return;
    }
    track.started = true;
    const seconds = (performance.now() - track.consumedAt) / 1000;
    for (const sink of this.#sinks) sink.queueWait?.(source.topic, seconds);
  }

  private onRecordEnd(m: RecordTrace): void {
    const outcome = m.outcome;
    const source = m.context.source;
    const service = this.serviceOf(source);
    const track = this.#tracks.get(source);
    if (track !== undefined) track.handler = undefined;
    if (outcome === undefined) return;
    const handler = outcome.kind === 'ok' || outcome.kind === 'invalid' ? '' : outcome.handler;
    service.outcomes[outcome.kind] = (service.outcomes[outcome.kind] ?? 0) + 1;
    for (const sink of this.#sinks) sink.outcome?.(source.topic, outcome.kind, handler);
    if (outcome.kind === 'failed' || outcome.kind === 'timeout') this.addDeadLetter(service, outcome);
    // Records of in-memory sources end here; Kafka ones at their acknowledgement.
    if (track !== undefined && service.groupId === undefined) this.#tracks.delete(source);
  }

  private onHandlerStart(m: HandlerTrace): void {
    const now = performance.now();
    this.#handlerStarts.set(m, now);
    const track = this.#tracks.get(m.context.source);
    if (track !== undefined) {
      track.handler = m.handler;
      track.handlerSince = now;
    }
  }

  private onHandlerEnd(m: HandlerTrace): void {
    const started = this.#handlerStarts.get(m);
    if (started === undefined) return;
    const ms = performance.now() - started;
    const service = this.serviceOf(m.context.source);
    let window = service.handlers.get(m.handler);
    if (window === undefined) {
      window = new RollingWindow();
      service.handlers.set(m.handler, window);
    }
    const result = m.result ?? 'continue';
    window.add(ms, result === 'failed' || result === 'timeout');
    for (const sink of this.#sinks) sink.handler?.(m.handler, result, ms / 1000);
  }

  private onProduceStart(m: ProduceTrace): void {
    const service = this.serviceOf(m.source);
    if (m.deadLetterTopic !== false) service.deadLetterTopics.add(m.deadLetterTopic);
    if (!m.deadLetter) {
      service.outputTopics.add(m.topic);
      return;
    }
    service.deadLetterTopics.add(m.topic);
    const entry = this.#deadLetterBySource.get(m.source);
    if (entry !== undefined) {
      entry.deadLetterTopic = m.topic;
      return;
    }
    // Not dead-lettered by the chain: an invalid record (counted when it is acknowledged).
    this.pushDeadLetter(invalidEntry(service.name, m.source, m.topic), m.source);
  }

  /** An invalid record acknowledged: counted, and listed if no dead-letter produce listed it already. */
  private onInvalid(source: SourceRecord, deadLetterTopic: string | undefined): void {
    const service = this.serviceOf(source);
    service.outcomes['invalid'] = (service.outcomes['invalid'] ?? 0) + 1;
    for (const sink of this.#sinks) sink.outcome?.(source.topic, 'invalid', '');
    if (!this.#deadLetterBySource.has(source))
      this.pushDeadLetter(invalidEntry(service.name, source, deadLetterTopic), source);
  }

  private onProduceEnd(m: ProduceTrace): void {
    const started = this.#produceStarts.get(m);
    const now = performance.now();
    const queueSeconds = started === undefined || m.sentAt === undefined ? undefined : (m.sentAt - started) / 1000;
    const deliverySeconds = m.sentAt === undefined ? undefined : (now - m.sentAt) / 1000;
    const failed = m.error !== undefined;
    for (const sink of this.#sinks) sink.produced?.(m.topic, m.deadLetter, queueSeconds, deliverySeconds, failed);
  }

  private onCommitted(m: CommittedMessage): void {
    const service = this.#services.get(m.groupId);
    if (service !== undefined) {
      service.lastCommitAt = performance.now();
      if (service.source !== undefined) service.commitErrorsAtSuccess = service.source.stats.commitErrors;
    }
    for (const sink of this.#sinks) sink.committed?.(m.latencyMs / 1000);
  }

  private onStalled(topic: string, partition: number): void {
    for (const service of this.#services.values()) {
      if (!service.sourceTopics.has(topic) && service.source === undefined) continue;
      const key = tp(topic, partition);
      if (service.source?.partitions().some((p) => p.topic === topic && p.partition === partition) !== true) continue;
      service.stalls.set(key, (service.stalls.get(key) ?? 0) + 1);
    }
    for (const sink of this.#sinks) sink.stalled?.(topic, partition);
  }

  private onStatistics(m: StatisticsMessage): void {
    if (m.groupId === undefined) return;
    const service = this.service(m.groupId);
    const topics = m.stats['topics'];
    if (typeof topics !== 'object' || topics === null) return;
    for (const [topic, entry] of Object.entries(
      topics as Record<string, { partitions?: Record<string, Record<string, unknown>> }>,
    )) {
      for (const [id, p] of Object.entries(entry.partitions ?? {})) {
        const partition = Number(id);
        // librdkafka's internal "unassigned" partition, and partitions this consumer does not own.
        if (partition < 0 || p['consumer_lag'] === undefined) continue;
        const num = (v: unknown): number | undefined => (typeof v === 'number' && v >= 0 ? v : undefined);
        const lag = num(p['consumer_lag']);
        const committed = num(p['committed_offset']);
        if (lag === undefined && committed === undefined) continue;
        service.lag.set(tp(topic, partition), { lag, committed, high: num(p['hi_offset']) });
      }
    }
  }

  private addDeadLetter(service: Service, outcome: Outcome<unknown, unknown> & { kind: 'failed' | 'timeout' }): void {
    const { source } = outcome;
    const cause = outcome.error.cause;
    this.pushDeadLetter(
      {
        at: Date.now(),
        service: service.name,
        topic: source.topic,
        partition: source.partition,
        offset: source.offset,
        key: source.key?.toString('utf8') ?? null,
        reason: outcome.kind,
        handler: outcome.handler,
        error: cause instanceof Error ? cause.message : outcome.error.message,
        deadLetterTopic: undefined,
      },
      source,
    );
  }

  private pushDeadLetter(entry: DeadLetterEntry, source: SourceRecord): void {
    this.#deadLetters.push(entry);
    if (this.#deadLetters.length > this.#keepDeadLetters) this.#deadLetters.shift();
    this.#deadLetterBySource.set(source, entry);
  }

  /** The oldest in-flight record per service and partition. */
  private oldestInFlight(): Map<string, Track> {
    const oldest = new Map<string, Track>();
    for (const track of this.#tracks.values()) {
      const key = `${this.service(track.service).name}\u0000${tp(track.topic, track.partition)}`;
      const seen = oldest.get(key);
      if (seen === undefined || track.consumedAt < seen.consumedAt) oldest.set(key, track);
    }
    return oldest;
  }

  private logTransition(
    service: Service,
    part: { topic: string; partition: number },
    diagnosis: Diagnosis,
    previous: PartitionCondition | undefined,
  ): void {
    const logger = this.#logger;
    if (logger === undefined) return;
    const where = `${part.topic}[${String(part.partition)}]`;
    const fields = {
      event: 'partition-condition',
      service: service.name,
      topic: part.topic,
      partition: part.partition,
      condition: diagnosis.condition,
      previous,
    };
    if (diagnosis.problem) logger.warn(fields, `${where} ${diagnosis.condition}: ${diagnosis.reason}`);
    else if (previous !== undefined && problemConditions.has(previous))
      logger.info(fields, `${where} ${diagnosis.condition} again: ${diagnosis.reason}`);
  }
}

const problemConditions = new Set<PartitionCondition>(['stalled', 'slow-record', 'commit-failing', 'commit-waiting']);

function invalidEntry(service: string, source: SourceRecord, deadLetterTopic: string | undefined): DeadLetterEntry {
  return {
    at: Date.now(),
    service,
    topic: source.topic,
    partition: source.partition,
    offset: source.offset,
    key: source.key?.toString('utf8') ?? null,
    reason: 'invalid',
    handler: undefined,
    error: 'undecodable or schema-violating record',
    deadLetterTopic,
  };
}

function handlerStatus(name: string, window: RollingWindow | undefined): HandlerStatus {
  if (window === undefined) {
    return { name, rate: 0, meanMs: undefined, p99Ms: undefined, failures: 0, failureRate: 0, total: 0 };
  }
  return {
    name,
    rate: window.rate(),
    meanMs: window.recentMeanMs(),
    p99Ms: window.quantileMs(0.99),
    failures: window.failuresTotal,
    failureRate: window.failureRate(),
    total: window.total,
  };
}

function noop(): void {
  /* events this monitor does not use */
}

/** Starts a monitor: it subscribes to rxkafka's diagnostics channels until `close()`. */
export function observe(options: MonitorOptions = {}): Monitor {
  return new Monitor(options);
}

type Limit = NonNullable<Parameters<typeof diagnose>[0]['limit']>;

/** The limit nearest to full (the first on a tie): the one that holds a paused source. */
function fullestLimit(stats: WatchedSource['stats'], limits: WatchedSource['limits']): Limit {
  const candidates: Limit[] = [
    // Records waiting aside (and, for maxInFlight, completed behind an unfinished older one) count
    // against the in-flight limits, as the source counts them.
    { name: 'maxInFlight', value: stats.inFlight + stats.waiting + stats.heldBack, max: limits.maxInFlight },
    { name: 'maxInFlightBytes', value: stats.inFlightBytes + stats.waitingBytes, max: limits.maxInFlightBytes },
    { name: 'maxUncommitted', value: stats.uncommitted, max: limits.maxUncommitted },
  ];
  return candidates.reduce((fullest, next) => (next.value / next.max > fullest.value / fullest.max ? next : fullest));
}
