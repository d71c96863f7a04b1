/**
 * runService's `handleSignals` (default true), as README's options table promises: "SIGINT and SIGTERM
 * drain and stop; a second one exits at once". A real service process (fixtures/signal-service.ts) gets
 * real signals while its records are in flight: the first drains, commits and exits 0; a second one
 * during the drain exits with 130 at once, leaving the unfinished records uncommitted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { produceRecords } from '@rxkafka/kafka/admin';
import { brokers, idRecords, IdRecord, json, newTopics, readBack, unique, waitFor, within } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVICE = fileURLToPath(new URL('fixtures/signal-service.ts', import.meta.url));

/** runService's log lines (run-service.ts). */
const DRAINING = 'shutting down: draining in-flight records';
const FORCED = 'second signal: exiting without draining';

/** One line the service writes on stdout (its `SignalLine`, with the time it was written). */
type Line = (
  | { readonly t: 'started' }
  | { readonly t: 'begin' | 'end'; readonly id: number }
  | { readonly t: 'outcome'; readonly id: number; readonly kind: string }
  | { readonly t: 'exit'; readonly counts: Record<string, number> }
  | { readonly t: 'fatal'; readonly error: string }
) & { readonly at: number };

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Date.now() when the process exited. */
  readonly at: number;
}

const live = new Set<ServiceProcess>();

/** The service child process, with its stdout lines and stderr (pino JSON log lines). */
class ServiceProcess {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  stderr = '';
  /** Resolves once the process exited and its output streams closed. */
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--conditions=@rxkafka/source', '--import', 'tsx', SERVICE], {
      cwd: ROOT,
      env: { ...process.env, KAFKA_BROKERS: brokers(), ...env },
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
          this.lines.push(JSON.parse(text) as Line);
        } catch {
          this.stderr += `[stdout] ${text}\n`;
        }
      }
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    let exitAt = 0;
    this.child.once('exit', () => {
      exitAt = Date.now();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal, at: exitAt || Date.now() };
        live.delete(this);
        resolve(this.exit);
      });
    });
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  ids(t: 'begin' | 'end'): Set<number> {
    return new Set(this.lines.flatMap((line) => (line.t === t ? [line.id] : [])));
  }

  outcomes(): Extract<Line, { t: 'outcome' }>[] {
    return this.lines.filter((line): line is Extract<Line, { t: 'outcome' }> => line.t === 'outcome');
  }

  /** runService's log lines on stderr with this message. */
  logged(message: string): Record<string, unknown>[] {
    return this.stderr
      .split('\n')
      .filter((text) => text.includes(message))
      .map((text) => JSON.parse(text) as Record<string, unknown>);
  }

  /** Waits until every record in `ids` is in the handler; fails early if the process exits. */
  async waitForBegun(ids: readonly number[], timeoutMs: number): Promise<void> {
    await waitFor(
      () => !this.alive || ids.every((id) => this.ids('begin').has(id)),
      timeoutMs,
      () => `records ${JSON.stringify(ids)} to be in flight: ${this.describe()}`,
    );
    if (!this.alive) throw new Error(`the service exited before its records were in flight: ${this.describe()}`);
  }

  describe(): string {
    return (
      `${this.alive ? 'alive' : `exited ${JSON.stringify(this.exit)}`}; stdout ${JSON.stringify(this.lines)}; ` +
      `stderr tail:\n${this.stderr.slice(-3000)}`
    );
  }
}

afterEach(async () => {
  await Promise.all(
    [...live].map(async (service) => {
      service.child.kill('SIGKILL');
      await within(service.exited, 15_000, () => 'a killed service process to exit');
    }),
  );
});

/** Fresh topics and group, with `count` records (ids 0 … count - 1, one key each) waiting in the input. */
async function scenario(prefix: string, count: number): Promise<{ input: string; output: string; group: string }> {
  const input = unique(`${prefix}-in`);
  const output = unique(`${prefix}-out`);
  const group = unique(`${prefix}-group`);
  await newTopics([
    { topic: input, partitions: 2 },
    { topic: output, partitions: 2 },
  ]);
  await produceRecords(brokers(), idRecords(input, 0, count, count));
  return { input, output, group };
}

const idsOf = (records: Parameters<typeof json>[0][]): number[] =>
  records.map((record) => json(record, IdRecord).id).sort((a, b) => a - b);

test.each(['SIGTERM', 'SIGINT'] as const)(
  '%s while records are in flight: they finish, are committed, and the process exits 0',
  async (signal) => {
    const RECORDS = 4;
    const HANDLER_MS = 3000;
    const DRAIN_TIMEOUT = 20_000;
    const { input, output, group } = await scenario(`signal-${signal.toLowerCase()}`, RECORDS);
    const service = new ServiceProcess({
      SIGNAL_IN: input,
      SIGNAL_OUT: output,
      SIGNAL_GROUP: group,
      SIGNAL_HANDLER_MS: String(HANDLER_MS),
      SIGNAL_DRAIN_TIMEOUT: String(DRAIN_TIMEOUT),
    });
    const all = Array.from({ length: RECORDS }, (_, id) => id);
    await service.waitForBegun(all, 90_000);

    const inFlight = [...service.ids('begin')].filter((id) => !service.ids('end').has(id));
    const signalledAt = Date.now();
    service.child.kill(signal);
    expect(inFlight.length, 'records in the handler when the signal was sent').toBeGreaterThan(0);

    const exit = await within(
      service.exited,
      DRAIN_TIMEOUT + 30_000,
      () => `the service to exit: ${service.describe()}`,
    );
    const context = service.describe();
    expect(exit, context).toMatchObject({ code: 0, signal: null });
    // The drain needs one handler call (3 s); a drain that ran into drainTimeout would take 20 s.
    expect(exit.at - signalledAt, context).toBeLessThan(DRAIN_TIMEOUT);
    expect(service.logged(DRAINING), context).toEqual([expect.objectContaining({ signal })]);
    expect(service.logged(FORCED), context).toEqual([]);

    // Every record in flight at the signal finished ok, after the signal: none was aborted.
    const outcomes = service.outcomes();
    for (const id of inFlight) {
      const outcome = outcomes.find((line) => line.id === id);
      expect(outcome, `record ${String(id)}: ${context}`).toMatchObject({ kind: 'ok' });
      expect(outcome!.at, `record ${String(id)} settled after the signal: ${context}`).toBeGreaterThanOrEqual(
        signalledAt,
      );
    }
    expect(outcomes.map((line) => line.kind).sort(), context).toEqual(all.map(() => 'ok'));
    const last = service.lines.at(-1);
    expect(last, context).toMatchObject({
      t: 'exit',
      counts: { ok: RECORDS, break: 0, failed: 0, timeout: 0, aborted: 0, invalid: 0 },
    });

    // Their outputs were delivered.
    expect(idsOf(await readBack([output], { expected: RECORDS, timeoutMs: 60_000 }))).toEqual(all);

    // And their offsets committed: the group next reads only what is produced after the stop.
    await produceRecords(brokers(), idRecords(input, 100, 2, RECORDS));
    const reread = await readBack([input], { groupId: group, expected: 2, timeoutMs: 60_000, settleMs: 3000 });
    expect(idsOf(reread)).toEqual([100, 101]);
  },
);

test.each([
  ['SIGINT', 'SIGINT'],
  ['SIGTERM', 'SIGINT'],
] as const)(
  'a second signal while draining (%s, then %s) exits at once with 130 and commits nothing unfinished',
  async (first, second) => {
    const RECORDS = 4;
    const HANDLER_MS = 10_000;
    const DRAIN_TIMEOUT = 30_000;
    const { input, output, group } = await scenario('signal-twice', RECORDS);
    const service = new ServiceProcess({
      SIGNAL_IN: input,
      SIGNAL_OUT: output,
      SIGNAL_GROUP: group,
      SIGNAL_HANDLER_MS: String(HANDLER_MS),
      SIGNAL_DRAIN_TIMEOUT: String(DRAIN_TIMEOUT),
      // Commit as often as the library does by default: what finished would be committed at once.
      SIGNAL_COMMIT_INTERVAL: '200',
    });
    const all = Array.from({ length: RECORDS }, (_, id) => id);
    await service.waitForBegun(all, 90_000);

    service.child.kill(first);
    await waitFor(
      () => !service.alive || service.stderr.includes(DRAINING),
      20_000,
      () => `the service to start draining: ${service.describe()}`,
    );
    expect(service.alive, `still draining after the first signal: ${service.describe()}`).toBe(true);
    const secondAt = Date.now();
    service.child.kill(second);

    const exit = await within(service.exited, 20_000, () => `the service to exit: ${service.describe()}`);
    const context = service.describe();
    expect(exit, context).toMatchObject({ code: 130, signal: null });
    expect(exit.at - secondAt, `exit after the second signal, in ms: ${context}`).toBeLessThan(3000);
    expect(service.logged(DRAINING), context).toEqual([expect.objectContaining({ signal: first })]);
    expect(service.logged(FORCED), context).toEqual([expect.objectContaining({ signal: second })]);
    // Nothing finished, nothing settled, runService never resolved.
    expect(service.ids('end'), context).toEqual(new Set());
    expect(service.outcomes(), context).toEqual([]);
    expect(
      service.lines.some((line) => line.t === 'exit'),
      context,
    ).toBe(false);

    // None of the unfinished records was committed: the group reads every one of them again (once the
    // broker has dropped the member that never left, after its 6 s session timeout).
    const reread = await readBack([input], { groupId: group, expected: RECORDS, timeoutMs: 90_000, settleMs: 2000 });
    expect(idsOf(reread)).toEqual(all);
  },
);

test('an already-aborted signal ends the service at once, and the process exits: its producer is closed', async () => {
  const { input, output, group } = await scenario('signal-aborted', 2);
  const startedAt = Date.now();
  const service = new ServiceProcess({
    SIGNAL_IN: input,
    SIGNAL_OUT: output,
    SIGNAL_GROUP: group,
    SIGNAL_ABORTED: '1',
  });
  // A producer connected after its close had begun used to be left open, and the process never exited.
  const exit = await within(service.exited, 30_000, () => `the service to exit: ${service.describe()}`);
  const context = service.describe();
  expect(exit, context).toMatchObject({ code: 0, signal: null });
  expect(exit.at - startedAt, context).toBeLessThan(20_000);
  expect(
    service.lines.find((line) => line.t === 'exit'),
    context,
  ).toMatchObject({
    counts: { ok: 0, break: 0, failed: 0, timeout: 0, aborted: 0, invalid: 0 },
  });
});
