/**
 * The verifier: reads the output and dead-letter topics in full and reports lost, duplicated,
 * reordered (per key) and dead-lettered records (by reason), as a typed report and a table.
 *
 * "In full" is exact, not a timeout guess: once the workers are done, `sealTopics` writes one end
 * marker into every partition of each topic, and the reader runs until it has seen every marker.
 * The reader (`TopicTail`) runs during the whole scenario too, so the harness can watch progress
 * and measure the longest gap in output progress (the recovery time).
 */
import { z } from 'zod';
import { runChain, type SourceRecord } from '@rxkafka/core';
import { fromKafka, DLQ_HEADERS, type KafkaSource } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { EXPECTED, HEADER, OutputValue, type RecordKind, type Workload } from './workload.js';

export const END_MARKER_HEADER = 'rel.end';

export interface DeadLetterSeen {
  readonly id: number;
  readonly reason: string;
  readonly handler: string;
  readonly headers: Record<string, string>;
}

export interface OutputSeen {
  readonly id: number;
  readonly key: string;
  readonly seq: number;
  readonly w: string;
  readonly partition: number;
  readonly offset: number;
}

/** A consumer that tails the output and dead-letter topics for the whole scenario. */
export class TopicTail {
  readonly outputs: OutputSeen[] = [];
  readonly deadLetters: DeadLetterSeen[] = [];
  /** Records the verifier could not parse (each is a finding). */
  readonly garbage: string[] = [];
  /** Distinct ids seen anywhere, and when the count last grew (for progress and gap measurement). */
  readonly ids = new Set<number>();
  readonly markers = new Set<string>();
  /** [time, distinct ids] every time the distinct count grew, sampled at most every 50 ms. */
  readonly progress: [number, number][] = [];
  #failure: unknown;
  readonly #source: KafkaSource<unknown, Record<string, unknown>>;
  readonly #subscription;

  constructor(
    brokers: string,
    readonly outputTopic: string,
    readonly deadLetterTopic: string,
    groupId: string,
  ) {
    this.#source = fromKafka({
      brokers,
      groupId,
      topics: [outputTopic, deadLetterTopic],
      schema: z.unknown(),
      decode: (value) => value,
      maxInFlight: 20_000,
      rdkafka: { 'session.timeout.ms': 10_000, 'heartbeat.interval.ms': 1000 },
    });
    this.#subscription = this.#source.pipe(runChain([], { ordering: 'unordered', concurrency: 1000 })).subscribe({
      next: (outcome) => {
        this.#take(outcome.source);
        outcome.ack();
      },
      error: (error: unknown) => {
        this.#failure = error;
      },
    });
  }

  get failure(): unknown {
    return this.#failure;
  }

  #take(record: SourceRecord): void {
    const headers: Record<string, string> = {};
    for (const h of record.headers) headers[h.key] = h.value.toString('utf8');
    if (headers[END_MARKER_HEADER] !== undefined) {
      this.markers.add(`${record.topic}:${String(record.partition)}`);
      return;
    }
    let id: number;
    if (record.topic === this.outputTopic) {
      let value: OutputValue;
      try {
        value = OutputValue.parse(JSON.parse(record.value?.toString('utf8') ?? 'null'));
      } catch (error) {
        this.garbage.push(`${record.topic}[${String(record.partition)}]@${String(record.offset)}: ${String(error)}`);
        return;
      }
      id = value.id;
      this.outputs.push({ ...value, partition: record.partition, offset: record.offset });
    } else {
      id = Number(headers[HEADER.id]);
      if (!Number.isInteger(id)) {
        this.garbage.push(`${record.topic}[${String(record.partition)}]@${String(record.offset)}: no ${HEADER.id}`);
        return;
      }
      this.deadLetters.push({
        id,
        reason: headers[DLQ_HEADERS.reason] ?? '(none)',
        handler: headers[DLQ_HEADERS.handler] ?? '(none)',
        headers,
      });
    }
    const before = this.ids.size;
    this.ids.add(id);
    if (this.ids.size !== before) {
      const now = Date.now();
      const last = this.progress.at(-1);
      if (last !== undefined && now - last[0] < 50) last[1] = this.ids.size;
      else this.progress.push([now, this.ids.size]);
    }
  }

  /** Resolves once `count` distinct ids were seen; rejects with the reason when progress stops for `stallMs`. */
  async waitForIds(count: number, stallMs: number, describe: () => string): Promise<void> {
    let lastSize = this.ids.size;
    let lastChange = Date.now();
    while (this.ids.size < count) {
      this.#throwIfFailed();
      if (this.ids.size !== lastSize) {
        lastSize = this.ids.size;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > stallMs) {
        throw new StallError(
          `no new record reached the output or dead-letter topic for ${String(stallMs)} ms: ` +
            `${String(this.ids.size)} of ${String(count)} ids seen. ${describe()}`,
          count - this.ids.size,
        );
      }
      await sleep(100);
    }
  }

  /** Resolves once every partition's end marker was read (see `sealTopics`). */
  async waitForMarkers(partitions: Record<string, number>, timeoutMs: number): Promise<void> {
    const expected = Object.entries(partitions).reduce((sum, [, n]) => sum + n, 0);
    const deadline = Date.now() + timeoutMs;
    while (this.markers.size < expected) {
      this.#throwIfFailed();
      if (Date.now() > deadline) {
        throw new Error(
          `verifier: read ${String(this.markers.size)} of ${String(expected)} end markers in ${String(timeoutMs)} ms ` +
            `(seen: ${[...this.markers].sort().join(', ')})`,
        );
      }
      await sleep(100);
    }
  }

  /** Milliseconds from `at` until the next new distinct id (how long output took to resume after a fault). */
  resumedAfter(at: number): number | undefined {
    const next = this.progress.find(([time]) => time > at);
    return next === undefined ? undefined : next[0] - at;
  }

  /** Longest interval without a new distinct id between `from` and `to` (ms since epoch). */
  longestGap(from: number, to: number): number {
    let previous = from;
    let longest = 0;
    for (const [at] of this.progress) {
      if (at < from) continue;
      if (at > to) break;
      longest = Math.max(longest, at - previous);
      previous = at;
    }
    return Math.max(longest, to - previous);
  }

  async close(): Promise<void> {
    await this.#source.stop();
    this.#subscription.unsubscribe();
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) {
      throw this.#failure instanceof Error
        ? this.#failure
        : new Error('verifier consumer failed', { cause: this.#failure });
    }
  }
}

export class StallError extends Error {
  override name = 'StallError';
  constructor(
    message: string,
    readonly missing: number,
  ) {
    super(message);
  }
}

/** Writes an end marker into every partition of each topic (after the workers stopped writing). */
export async function sealTopics(brokers: string, partitions: Record<string, number>): Promise<void> {
  const markers = Object.entries(partitions).flatMap(([topic, n]) =>
    Array.from({ length: n }, (_, partition) => ({
      topic,
      partition,
      key: 'rel-end',
      value: 'end',
      headers: { [END_MARKER_HEADER]: '1' },
    })),
  );
  await produceRecords(brokers, markers);
}

export interface ReliabilityReport {
  readonly scenario: string;
  readonly records: number;
  /** Ids in neither topic. */
  readonly lost: number;
  /** Extra copies, in both topics together (occurrences beyond the first). */
  readonly duplicated: number;
  /** Per key, records whose first output came after the first output of a later sequence number. */
  readonly reordered: number;
  readonly deadLettered: number;
  readonly deadLetteredByReason: Record<string, number>;
  /** Records in the wrong place: a clean record dead-lettered, a poison record in the output, a wrong reason. */
  readonly misrouted: number;
  /** Dead-letter records without the required headers (reason, handler, error, source coordinates). */
  readonly missingHeaders: number;
  /** Duplicates attributed to the worker instance that wrote the first copy. */
  readonly duplicatedByWorker: Record<string, number>;
  readonly garbage: number;
  /** Longest gap in output progress during the run, in ms. */
  readonly recoveryMs: number;
  /** Peak RSS of any worker, in bytes. */
  readonly peakRssBytes: number;
  readonly wallMs: number;
  /** Free-form notes (e.g. "stalled 31,937 records; rescued by fresh workers"). */
  readonly notes: string[];
  /** A few examples of each finding, for failure messages. */
  readonly examples: { lost: number[]; reordered: string[]; misrouted: string[]; missingHeaders: string[] };
}

const REQUIRED_DLQ_HEADERS = [
  DLQ_HEADERS.reason,
  DLQ_HEADERS.handler,
  DLQ_HEADERS.errorCode,
  DLQ_HEADERS.errorMessage,
  DLQ_HEADERS.errorStack,
  DLQ_HEADERS.topic,
  DLQ_HEADERS.partition,
  DLQ_HEADERS.offset,
  HEADER.id,
  HEADER.key,
  HEADER.seq,
  HEADER.kind,
];

export function buildReport(
  scenario: string,
  plan: Workload,
  inputTopic: string,
  tail: TopicTail,
  extra: { recoveryMs: number; peakRssBytes: number; wallMs: number; notes?: string[] },
): ReliabilityReport {
  const count = new Map<number, number>();
  for (const o of tail.outputs) count.set(o.id, (count.get(o.id) ?? 0) + 1);
  for (const d of tail.deadLetters) count.set(d.id, (count.get(d.id) ?? 0) + 1);

  const lostIds: number[] = [];
  let duplicated = 0;
  for (let i = 0; i < plan.records; i++) {
    const n = count.get(plan.firstId + i) ?? 0;
    if (n === 0) lostIds.push(plan.firstId + i);
    else duplicated += n - 1;
  }

  // Duplicates by the worker that wrote the first copy (outputs only: dead-letter copies carry no worker).
  const firstWriter = new Map<number, string>();
  const duplicatedByWorker: Record<string, number> = {};
  for (const o of tail.outputs) {
    const writer = firstWriter.get(o.id);
    if (writer === undefined) firstWriter.set(o.id, o.w);
    else duplicatedByWorker[writer] = (duplicatedByWorker[writer] ?? 0) + 1;
  }

  // Reordering per key: outputs of one key share an output partition, so offset order is write order.
  const sorted = [...tail.outputs].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  const firstSeen = new Set<number>();
  const maxSeq = new Map<string, number>();
  let reordered = 0;
  const reorderedExamples: string[] = [];
  for (const o of sorted) {
    if (firstSeen.has(o.id)) continue;
    firstSeen.add(o.id);
    const max = maxSeq.get(o.key) ?? -1;
    if (o.seq < max) {
      reordered++;
      if (reorderedExamples.length < 5) reorderedExamples.push(`${o.key}: seq ${String(o.seq)} after ${String(max)}`);
    } else {
      maxSeq.set(o.key, o.seq);
    }
  }

  // Routing and dead-letter headers.
  let misrouted = 0;
  const misroutedExamples: string[] = [];
  const kindOf = (id: number): RecordKind | undefined => plan.kinds[id - plan.firstId];
  const misroute = (text: string): void => {
    misrouted++;
    if (misroutedExamples.length < 5) misroutedExamples.push(text);
  };
  const outputIds = new Set<number>();
  for (const o of tail.outputs) {
    if (outputIds.has(o.id)) continue;
    outputIds.add(o.id);
    const kind = kindOf(o.id);
    if (kind === undefined || EXPECTED[kind] !== 'output')
      misroute(`id ${String(o.id)} (${String(kind)}) in the output topic`);
  }
  const deadLetteredByReason: Record<string, number> = {};
  let missingHeaders = 0;
  const missingExamples: string[] = [];
  const deadIds = new Set<number>();
  for (const d of tail.deadLetters) {
    const label = `${d.reason}/${d.handler}`;
    if (deadIds.has(d.id)) continue;
    deadIds.add(d.id);
    deadLetteredByReason[label] = (deadLetteredByReason[label] ?? 0) + 1;
    const kind = kindOf(d.id);
    const expected = kind === undefined ? undefined : EXPECTED[kind];
    if (expected === undefined || expected === 'output') {
      misroute(
        `id ${String(d.id)} (${String(kind)}) dead-lettered as ${label}: ${d.headers[DLQ_HEADERS.errorMessage] ?? ''}`,
      );
    } else if (expected.reason !== d.reason || expected.handler !== d.handler) {
      misroute(
        `id ${String(d.id)} (${String(kind)}) dead-lettered as ${label}, expected ${expected.reason}/${expected.handler}`,
      );
    }
    const missing: string[] = REQUIRED_DLQ_HEADERS.filter((h) => d.headers[h] === undefined || d.headers[h] === '');
    if (d.headers[DLQ_HEADERS.topic] !== undefined && d.headers[DLQ_HEADERS.topic] !== inputTopic)
      missing.push('source topic');
    if (missing.length > 0) {
      missingHeaders++;
      if (missingExamples.length < 5) missingExamples.push(`id ${String(d.id)}: ${missing.join(', ')}`);
    }
  }

  return {
    scenario,
    records: plan.records,
    lost: lostIds.length,
    duplicated,
    reordered,
    deadLettered: deadIds.size,
    deadLetteredByReason,
    misrouted,
    missingHeaders,
    duplicatedByWorker,
    garbage: tail.garbage.length,
    recoveryMs: extra.recoveryMs,
    peakRssBytes: extra.peakRssBytes,
    wallMs: extra.wallMs,
    notes: extra.notes ?? [],
    examples: {
      lost: lostIds.slice(0, 10),
      reordered: reorderedExamples,
      misrouted: misroutedExamples,
      missingHeaders: missingExamples,
    },
  };
}

const n = (value: number): string => value.toLocaleString('en-US');
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** One markdown table row per report (the docs/reliability.md format). */
export function formatTable(reports: readonly ReliabilityReport[]): string {
  const head =
    '| scenario | records | lost | duplicated | reordered | dead-lettered | misrouted | recovery (longest output gap) | peak RSS (worker) | wall time |\n' +
    '|---|---:|---:|---:|---:|---|---:|---:|---:|---:|';
  const rows = reports.map((r) => {
    const reasons = Object.entries(r.deadLetteredByReason)
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(', ');
    return `| ${r.scenario} | ${n(r.records)} | ${n(r.lost)} | ${n(r.duplicated)} | ${n(r.reordered)} | ${n(r.deadLettered)}${reasons === '' ? '' : ` (${reasons})`} | ${n(r.misrouted)} | ${secs(r.recoveryMs)} | ${mib(r.peakRssBytes)} | ${secs(r.wallMs)} |`;
  });
  return [head, ...rows].join('\n');
}

/** A report as the test prints it: the table row, notes and examples of every finding. */
export function formatReport(report: ReliabilityReport): string {
  const lines = [formatTable([report])];
  if (Object.keys(report.duplicatedByWorker).length > 0) {
    lines.push(`duplicates by the worker that wrote the first copy: ${JSON.stringify(report.duplicatedByWorker)}`);
  }
  if (report.missingHeaders > 0) lines.push(`dead-letter records missing headers: ${n(report.missingHeaders)}`);
  if (report.garbage > 0) lines.push(`unparseable records: ${n(report.garbage)}`);
  for (const note of report.notes) lines.push(`note: ${note}`);
  const { examples } = report;
  if (examples.lost.length > 0) lines.push(`lost (first ids): ${examples.lost.join(', ')}`);
  if (examples.reordered.length > 0) lines.push(`reordered: ${examples.reordered.join('; ')}`);
  if (examples.misrouted.length > 0) lines.push(`misrouted: ${examples.misrouted.join('; ')}`);
  if (examples.missingHeaders.length > 0) lines.push(`missing headers: ${examples.missingHeaders.join('; ')}`);
  return lines.join('\n');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
