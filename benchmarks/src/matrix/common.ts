/**
 * What every Node contender process of the matrix shares: its run configuration (one JSON argument),
 * the measurement of its own process (CPU time and peak RSS over the measured window) and the one
 * result line it prints. The Go and Kafka Streams contenders print the same line (see go/main.go and
 * streams/).
 *
 * Clock: the window opens when the group assigns the contender its partitions (each client's own
 * assignment event; the first record if a client has none) and closes when the last record is done
 * (scenario-dependent: consumed; or its output delivered; or its handler finished) and its offsets are
 * committed or handed to the commit path. Opening at the first record instead would leave out the
 * records a client prefetched before handing over the first one (KafkaJS fetches up to 1 MB per
 * partition at once), which flatters large prefetches. Everything before the assignment (process
 * start, connect, group join) is `joinMs`, reported apart; `firstRecordMs` is assignment → first record.
 */

import { readFileSync } from 'node:fs';
import type { LibrdKafkaError } from 'node-rdkafka';

export type Scenario = 'consume' | 'passthrough' | 'io' | 'stall' | 'latency';

export interface RunConfig {
  readonly brokers: string;
  readonly scenario: Scenario;
  readonly topic: string;
  /** passthrough / latency: where outputs go. */
  readonly outTopic?: string;
  readonly group: string;
  /** Records to process before the run is done; 0 = until SIGTERM (latency). */
  readonly records: number;
  /** io: how long each handler awaits. */
  readonly delayMs?: number;
  /** io: records in the handler at once. */
  readonly concurrency?: number;
  readonly ordering?: 'unordered' | 'key';
  /** stall: how long to keep consuming after the first record before reporting. */
  readonly stallMs?: number;
  /** A contender's own variant (raw: fair, consume, flowing; rxkafka: defaults, window, tuned). */
  readonly variant?: string;
  /** Partitions of `topic` (KafkaJS consumes this many partitions at once). */
  readonly partitions: number;
  /** raw.ts only: run its loop on @confluentinc/kafka-javascript's node-rdkafka-compatible API. */
  readonly lib?: 'ckjs';
  /** Cut the window this long after the first record and report the records done so far. */
  readonly maxMs?: number;
}

export interface RunResult {
  readonly records: number;
  /** Value bytes of the records counted. */
  readonly bytes: number;
  /** Process start → partitions assigned (connect, group join). */
  readonly joinMs: number;
  /** Assignment → first record in the contender's code (offset lookup, first fetch). */
  readonly firstRecordMs: number;
  /** Assignment → done. */
  readonly windowMs: number;
  /** User + system CPU of the whole process (all threads) over the window. */
  readonly cpuSeconds: number;
  /** Peak resident set of the process (VmHWM / ru_maxrss). */
  readonly peakRssMB: number;
  readonly note?: string;
}

export const RESULT_PREFIX = 'BENCH_RESULT ';

export function readConfig(): RunConfig {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('usage: <contender>.ts <json RunConfig>');
  return JSON.parse(raw) as RunConfig;
}

const startedAt = performance.now() - process.uptime() * 1000;

/**
 * Peak RSS of this process image: VmHWM. Not `process.resourceUsage().maxRSS` (getrusage's ru_maxrss):
 * Linux keeps that across execve, so a child spawned by a 140 MB orchestrator reports at least 140 MB.
 */
export function peakRssMB(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    if (match?.[1] !== undefined) return Math.round(Number(match[1]) / 1024);
  } catch {
    // not Linux
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** User + system CPU seconds of this process so far (all threads). */
export function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Opens the window at the first record and prints the result line at the end. */
export class Meter {
  private assignedAt: number | undefined;
  private firstAt: number | undefined;
  private cpuAtStart = 0;
  records = 0;
  bytes = 0;
  /** What a helper process of the contender used over the window (raw `child`), added to the result. */
  helper = { cpuSeconds: 0, peakRssMB: 0 };

  private stallTimer: NodeJS.Timeout | undefined;

  /** Records done so far, for a window cut at `maxMs`. */
  progress: () => number = () => this.records;

  /** Stall scenario: once, `ms` after the first call, reports what the stalled handler holds, then exits. */
  reportStallAfter(ms: number, held: () => number, detail: () => string = () => ''): void {
    this.stallTimer ??= setTimeout(() => {
      this.records = held();
      this.report(`${String(this.records)} records handed to the stalled handler${detail()}`);
      process.exit(0);
    }, ms);
  }

  constructor(private readonly maxMs?: number) {}

  /** The group assigned partitions: the window opens (only the first call counts). */
  assigned(): void {
    if (this.assignedAt !== undefined) return;
    this.assignedAt = performance.now();
    this.cpuAtStart = cpuSeconds();
  }

  first(): void {
    if (this.firstAt !== undefined) return;
    this.firstAt = performance.now();
    if (this.assignedAt === undefined) this.assigned();
    if (this.maxMs !== undefined && this.maxMs > 0) {
      setTimeout(() => {
        this.records = this.progress();
        this.report('window cut at maxMs');
        process.exit(0);
      }, this.maxMs);
    }
  }

  get started(): boolean {
    return this.firstAt !== undefined;
  }

  /** Prints the result line (once) and returns it. */
  report(note?: string): RunResult {
    const now = performance.now();
    const firstAt = this.firstAt ?? now;
    const assignedAt = this.assignedAt ?? firstAt;
    const result: RunResult = {
      records: this.records,
      bytes: this.bytes,
      joinMs: Math.round(assignedAt - startedAt),
      firstRecordMs: Math.round(firstAt - assignedAt),
      windowMs: Math.round((now - assignedAt) * 10) / 10,
      cpuSeconds: Math.round((cpuSeconds() - this.cpuAtStart + this.helper.cpuSeconds) * 1000) / 1000,
      peakRssMB: peakRssMB() + this.helper.peakRssMB,
      ...(note === undefined ? {} : { note }),
    };
    process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
    return result;
  }
}

/** Exits after `ms` even if a client's disconnect hangs: the result line is already out. */
export function exitSoon(code = 0, ms = 5000): void {
  setTimeout(() => process.exit(code), ms).unref();
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The latency driver's values start with the produce time: epoch microseconds as a float64. */
export function nowMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/** A counting semaphore for the I/O scenario of the contenders that have no worker pool of their own. */
export class Slots {
  private waiting: (() => void)[] = [];
  inUse = 0;
  constructor(private readonly size: number) {}
  async take(): Promise<void> {
    if (this.inUse < this.size) {
      this.inUse++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.inUse--;
    else next();
  }
}

/** Runs `work` per key one at a time (a chain of promises per key), for the contenders' key mode. */
export class KeyQueues {
  private readonly tails = new Map<string, Promise<void>>();
  run(key: string, work: () => Promise<void>): Promise<void> {
    const tail = this.tails.get(key) ?? Promise.resolve();
    const next = tail.then(work);
    this.tails.set(key, next);
    void next.then(() => {
      if (this.tails.get(key) === next) this.tails.delete(key);
    });
    return next;
  }
}

/** Connects a node-rdkafka client (or its @confluentinc/kafka-javascript twin) within 30 s. */
export function connectClient(client: {
  connect: (options: { timeout: number }, cb: (error: LibrdKafkaError | null) => void) => unknown;
}): Promise<void> {
  return new Promise((resolve, reject) => {
    client.connect({ timeout: 30_000 }, (error) => {
      if (error) reject(new Error(`connect: ${error.message}`));
      else resolve();
    });
  });
}
