/**
 * The reliability harness: worker child processes, a scenario (topics, workload, verifier tail),
 * and the end of a run (wait, stop, seal, verify). Every wait is bounded and says what it waited for;
 * every child is killed when the scenario ends, when the test fails and when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, createWriteStream, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { createTopics } from '@rxkafka/kafka/admin';
import { buildReport, formatReport, sealTopics, StallError, TopicTail, type ReliabilityReport } from './verify.js';
import { planWorkload, produceWorkload, type PoisonMix, type Workload } from './workload.js';

/**
 * The longest a graceful stop may take with rxkafka's defaults, as README's "Stopping" bounds it:
 * drainTimeout 10 s + abortGrace 5 s + final commit 10 s + consumer close (connectTimeout) 30 s +
 * toKafka's flushTimeout 10 s + producer close 30 s. A client wedged after a broker restart used them up
 * (a 30 s budget killed one worker whose consumer close was still within its bound).
 */
const DOCUMENTED_STOP_BOUND_MS = 100_000;

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WORKER = join(REPO_ROOT, 'test', 'reliability', 'worker.ts');
/** Worker logs (stderr), one file per worker: `<group>-<worker>.log`. RXKAFKA_RELIABILITY_LOGS overrides. */
export const LOG_DIR = process.env['RXKAFKA_RELIABILITY_LOGS'] ?? join(tmpdir(), 'rxkafka-reliability');

export const sleep = (ms: number): Promise<void> => new Promise((wake) => setTimeout(wake, ms));

export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** One line a worker printed on stdout. */
export interface WorkerLine {
  readonly t: 'started' | 'ready' | 'progress' | 'exit' | 'fatal';
  readonly at: number;
  readonly w: string;
  readonly peakRss?: number;
  readonly rss?: number;
  readonly counts?: Record<string, number>;
  readonly stats?: Record<string, unknown>;
  readonly error?: { name: string; message: string; code?: unknown };
}

const live = new Set<WorkerProcess>();
process.once('exit', () => {
  for (const worker of live) worker.child.kill('SIGKILL');
});

/** A worker child process (test/reliability/worker.ts). */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly lines: WorkerLine[] = [];
  /** Kinds of line seen (the line list keeps only the latest ones). */
  readonly seen = new Set<WorkerLine['t']>();
  stderrTail = '';
  peakRss = 0;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly name: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, ['--conditions=@rxkafka/source', '--import', 'tsx', WORKER], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, REL_NAME: name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    let buffer = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          const line = JSON.parse(text) as WorkerLine;
          this.lines.push(line);
          this.seen.add(line.t);
          if (this.lines.length > 2000) this.lines.splice(0, 1000);
          this.peakRss = Math.max(this.peakRss, line.peakRss ?? 0, line.rss ?? 0);
        } catch {
          this.stderrTail = `${this.stderrTail}\n[stdout] ${text}`.slice(-8000);
        }
      }
    });
    // The full stderr (the worker's log lines) goes to a file for post-mortems; the tail stays in memory.
    mkdirSync(LOG_DIR, { recursive: true });
    this.logFile = join(LOG_DIR, `${env['REL_GROUP'] ?? 'worker'}-${name}.log`);
    const log = createWriteStream(this.logFile);
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-8000);
      log.write(chunk);
    });
    this.child.once('close', () => log.end());
    this.exited = new Promise((resolveExit) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolveExit({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** The worker's last progress line (its own counts and source stats). */
  get last(): WorkerLine | undefined {
    return this.lines.at(-1);
  }

  fatal(): WorkerLine | undefined {
    return this.lines.findLast((line) => line.t === 'fatal');
  }

  /** Resolves once the worker processed its first record; rejects if it exits first or after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.seen.has('ready')) {
      if (!this.alive) throw new Error(`worker ${this.name} exited before it was ready: ${this.describe()}`);
      if (Date.now() > deadline)
        throw new Error(`worker ${this.name} not ready in ${String(timeoutMs)} ms: ${this.describe()}`);
      await sleep(50);
    }
  }

  /** kill -9, and wait (bounded) for the process to be gone. */
  async kill9(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await bounded(this.exited, 10_000, `worker ${this.name} to die after SIGKILL`);
  }

  /** SIGTERM (graceful: drain, commit, leave the group); SIGKILL after `timeoutMs`. Returns how it ended. */
  async stop(timeoutMs = 30_000): Promise<'graceful' | 'failed' | 'forced'> {
    // A SIGTERM before runService installed its handler would kill the process outright, which is
    // not the graceful stop under test: wait (bounded) until the worker says it started.
    const deadline = Date.now() + timeoutMs;
    while (this.alive && !this.seen.has('started') && Date.now() < deadline) await sleep(50);
    if (this.alive) {
      this.child.kill('SIGTERM');
      const ended = await Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
      if (!ended) {
        await this.kill9();
        return 'forced';
      }
    }
    return this.exit?.code === 0 ? 'graceful' : 'failed';
  }

  describe(): string {
    const last = this.last;
    return (
      `pid ${String(this.pid)}, ${this.alive ? 'alive' : `exited ${JSON.stringify(this.exit)}`}, ` +
      `last line ${JSON.stringify(last)}; stderr tail:\n${this.stderrTail.slice(-1500)}`
    );
  }
}

export async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${String(ms)} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills every worker still running (test teardown). */
export async function killAllWorkers(): Promise<void> {
  await Promise.all([...live].map((worker) => worker.kill9().catch(() => undefined)));
}

export interface ScenarioOptions {
  readonly name: string;
  readonly brokers: string;
  readonly records: number;
  readonly partitions?: number;
  readonly deadLetterPartitions?: number;
  readonly replicationFactor?: number;
  readonly topicConfig?: Record<string, string>;
  readonly poison?: PoisonMix;
  readonly seed?: number;
  /** Environment for every worker of the scenario (REL_* settings, see worker.ts). */
  readonly workerEnv?: Record<string, string>;
}

/** A scenario: its topics, its planned workload, its verifier tail and its workers. */
export class Scenario {
  readonly input = unique('rel-in');
  readonly output = unique('rel-out');
  readonly deadLetter = unique('rel-dlq');
  readonly group = unique('rel-group');
  readonly plan: Workload;
  readonly workers: WorkerProcess[] = [];
  readonly notes: string[] = [];
  /** Workers whose final SIGTERM did not end in a clean exit (code 0 within 30 s), with the reason. */
  readonly ungraceful: string[] = [];
  /** Set by prepare(). */
  tail!: TopicTail;
  startedAt = 0;
  #count = 0;

  constructor(readonly options: ScenarioOptions) {
    this.plan = planWorkload({
      records: options.records,
      seed: options.seed ?? 7,
      ...(options.poison ? { poison: options.poison } : {}),
    });
  }

  get partitions(): Record<string, number> {
    return { [this.output]: this.options.partitions ?? 12, [this.deadLetter]: this.options.deadLetterPartitions ?? 3 };
  }

  /** The background producer of `prepare({ produceOverMs })`. */
  producing: Promise<void> = Promise.resolve();

  /**
   * Creates the topics and starts the verifier tail; produces the whole workload first (a backlog),
   * or, with `produceOverMs`, in 20 slices spread over that time while the workers run (live traffic).
   */
  async prepare(options: { readonly produceOverMs?: number } = {}): Promise<void> {
    const { brokers } = this.options;
    const rf = this.options.replicationFactor ?? 1;
    const config = this.options.topicConfig ?? {};
    await createTopics(brokers, [
      { topic: this.input, partitions: this.options.partitions ?? 12, replicationFactor: rf, config },
      { topic: this.output, partitions: this.options.partitions ?? 12, replicationFactor: rf, config },
      { topic: this.deadLetter, partitions: this.options.deadLetterPartitions ?? 3, replicationFactor: rf, config },
    ]);
    const over = options.produceOverMs ?? 0;
    if (over <= 0) await produceWorkload(brokers, this.input, this.plan);
    this.tail = new TopicTail(brokers, this.output, this.deadLetter, unique('rel-verifier'));
    this.startedAt = Date.now();
    if (over > 0) {
      const slices = 20;
      const produce = async (): Promise<void> => {
        for (let i = 0; i < slices; i++) {
          const from = Math.floor((this.plan.records * i) / slices);
          const to = Math.floor((this.plan.records * (i + 1)) / slices);
          await produceWorkload(brokers, this.input, this.plan, { from, to });
          const due = this.startedAt + ((i + 1) * over) / slices;
          if (due > Date.now()) await sleep(due - Date.now());
        }
      };
      this.producing = produce();
      // Surfaced by finish(); without this an early failure would be an unhandled rejection.
      this.producing.catch(() => undefined);
    }
  }

  /** Starts one more worker process in the scenario's group. */
  startWorker(env: Record<string, string> = {}): WorkerProcess {
    const worker = new WorkerProcess(`w${String(++this.#count)}`, {
      REL_BROKERS: this.options.brokers,
      REL_IN: this.input,
      REL_OUT: this.output,
      REL_DLQ: this.deadLetter,
      REL_GROUP: this.group,
      ...this.options.workerEnv,
      ...env,
    });
    this.workers.push(worker);
    return worker;
  }

  running(): WorkerProcess[] {
    return this.workers.filter((worker) => worker.alive);
  }

  /** Waits until `count` distinct records were processed; fails with the reason if progress stops for `stallMs`. */
  async waitForProcessed(count: number, stallMs: number): Promise<void> {
    await this.tail.waitForIds(Math.min(count, this.plan.records), stallMs, () => this.describeWorkers());
  }

  describeWorkers(): string {
    return this.running()
      .map((w) => `${w.name}: ${JSON.stringify({ counts: w.last?.counts, stats: w.last?.stats })}`)
      .join('; ');
  }

  /**
   * Ends the run: waits for every record (failing over to fresh workers if progress stalls for
   * `stallMs`, noted in the report), stops the workers gracefully, seals the topics and reads them in full.
   */
  async finish(options: {
    stallMs: number;
    rescue?: boolean;
    rescueWorkers?: number;
  }): Promise<{ report: ReliabilityReport; stalled: StallError | undefined }> {
    await bounded(this.producing, 10 * 60_000, 'the background producer of the workload');
    let stalled: StallError | undefined;
    try {
      await this.waitForProcessed(this.plan.records, options.stallMs);
    } catch (first) {
      if (!(first instanceof StallError)) throw first;
      // The tail is a consumer too: rule out that the verifier, not the workers, is what stalled.
      await this.refreshTail();
      await this.waitForProcessed(this.plan.records, Math.max(15_000, options.stallMs / 2)).catch((error: unknown) => {
        stalled = error instanceof StallError ? first : undefined;
        if (stalled === undefined) throw error;
      });
    }
    if (stalled !== undefined) {
      const error = stalled;
      if (options.rescue === false) throw error;
      this.notes.push(
        `stalled with ${error.missing.toLocaleString('en-US')} records unprocessed: ${error.message.slice(0, 600)}`,
      );
      // Like the issue's fault test: replace the stuck workers, to tell stuck records from lost ones.
      const stuck = this.running();
      const endings = await Promise.all(stuck.map((w) => w.stop(20_000)));
      this.notes.push(
        `stuck workers stopped: ${endings.join(', ')}; rescued by ${String(options.rescueWorkers ?? 2)} fresh workers`,
      );
      for (let i = 0; i < (options.rescueWorkers ?? 2); i++) this.startWorker();
      try {
        await this.waitForProcessed(this.plan.records, options.stallMs);
      } catch (again) {
        if (!(again instanceof StallError)) throw again;
        this.notes.push(`fresh workers stalled too: ${again.message.slice(0, 400)}`);
      }
    }
    const finishedAt = Date.now();
    const recoveryMs = this.tail.longestGap(this.tail.progress[0]?.[0] ?? this.startedAt, finishedAt);
    const last = this.running();
    const endings = await Promise.all(last.map((w) => w.stop(DOCUMENTED_STOP_BOUND_MS)));
    last.forEach((w, i) => {
      const how = endings[i] ?? 'forced';
      if (how !== 'graceful') {
        this.ungraceful.push(
          `${w.name}: ${how}, exit ${JSON.stringify(w.exit)}, ${JSON.stringify(w.fatal()?.error)}, log ${w.logFile}`,
        );
      }
    });
    if (this.ungraceful.length > 0)
      this.notes.push(`final stops that were not graceful: ${this.ungraceful.join('; ')}`);
    await sealTopics(this.options.brokers, this.partitions);
    // The final count comes from a fresh reader of both topics, from offset 0 to the end markers.
    const reader = new TopicTail(this.options.brokers, this.output, this.deadLetter, unique('rel-final'));
    try {
      await reader.waitForMarkers(this.partitions, 120_000);
    } finally {
      await bounded(reader.close(), 30_000, 'the final reader to close');
    }
    this.notes.push(`worker logs: ${join(LOG_DIR, `${this.group}-w*.log`)}`);
    const report = buildReport(this.options.name, this.plan, this.input, reader, {
      recoveryMs,
      peakRssBytes: Math.max(0, ...this.workers.map((w) => w.peakRss)),
      wallMs: finishedAt - this.startedAt,
      notes: this.notes,
    });
    return { report, stalled };
  }

  /** Replaces the progress tail by a fresh one that reads both topics again from the start. */
  async refreshTail(): Promise<void> {
    const old = this.tail;
    this.tail = new TopicTail(this.options.brokers, this.output, this.deadLetter, unique('rel-verifier'));
    // Keep the old progress samples, so the longest gap still covers the whole run.
    this.tail.progress.push(...old.progress);
    await bounded(old.close(), 30_000, 'the old progress tail to close').catch((error: unknown) => {
      this.notes.push(`the old progress tail did not close: ${String(error)}`);
    });
  }

  /** Test teardown: kills every worker and closes the tail. */
  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.kill9().catch(() => undefined)));
    // The tail is absent when prepare() failed; the test reports that error, not this one.
    const tail = this.tail as TopicTail | undefined;
    if (tail !== undefined) await bounded(tail.close(), 30_000, 'the progress tail to close').catch(() => undefined);
  }
}

/** Prints a report (the table row and the findings) so it shows in the test log. */
/**
 * What every scenario asserts, whatever its faults: the run did not stall, the final stops were
 * graceful, and nothing was lost, reordered, misrouted or garbled.
 */
export function expectSafety(s: Scenario, report: ReliabilityReport, stalled: Error | undefined): void {
  expect.soft(stalled?.message, 'the run stalled').toBeUndefined();
  expect.soft(s.ungraceful, 'final graceful stops (SIGTERM → exit 0)').toEqual([]);
  expect.soft(report.lost, 'lost').toBe(0);
  expect.soft(report.reordered, 'reordered (key mode)').toBe(0);
  expect.soft(report.misrouted, 'misrouted').toBe(0);
  expect.soft(report.garbage, 'unparseable records').toBe(0);
}

export function printReport(report: ReliabilityReport): void {
  process.stdout.write(`\n${formatReport(report)}\n\n`);
  appendResult(report);
}

/** Reports of this run, appended to a JSON-lines file when RXKAFKA_RELIABILITY_OUT is set (for docs). */
function appendResult(report: ReliabilityReport): void {
  const out = process.env['RXKAFKA_RELIABILITY_OUT'];
  if (out === undefined || out === '') return;
  appendFileSync(out, `${JSON.stringify({ ...report, at: new Date().toISOString() })}\n`);
}
