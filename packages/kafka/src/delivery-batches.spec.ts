import { describe, expect, it } from 'vitest';
import type { KafkaError } from './errors.js';
import { DeliveryBatches, toKafkaError, type BatchingClient, type UndeliveredRecord } from './rdkafka.js';

type Done = (error: unknown) => void;

/** A producer whose flushes and transactional calls wait until the test answers them. */
function fakeClient() {
  const calls: { name: string; args: unknown[]; done: Done }[] = [];
  const call =
    (name: string) =>
    (...args: unknown[]): void => {
      calls.push({ name, args, done: args.at(-1) as Done });
    };
  const client = {
    flush: call('flush'),
    initTransactions: call('init'),
    beginTransaction: call('begin'),
    commitTransaction: call('commit'),
    abortTransaction: call('abort'),
  } as unknown as BatchingClient;
  /** Answers the oldest pending call, which must be `name`. */
  const answer = async (name: string, error: unknown = null): Promise<void> => {
    const next = calls.shift();
    expect(next?.name).toBe(name);
    next?.done(error);
    // Let the promise chain behind the call run.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { client, calls, answer };
}

function batches(settings: { maxRecords?: number; maxMs?: number; transactionalId?: string | null } = {}) {
  const fake = fakeClient();
  const delivered: { error: KafkaError | undefined; opaque: unknown }[] = [];
  const undelivered: { error: KafkaError; where: UndeliveredRecord }[] = [];
  // What the sink answers for a failed record: the opaque it matched, by key.
  const matched = new Map<string, unknown>();
  const errors: KafkaError[] = [];
  let writable = 0;
  const tx = new DeliveryBatches(
    fake.client,
    {
      delivered: (error, opaque) => delivered.push({ error, opaque }),
      undelivered: (error, where) => {
        undelivered.push({ error, where });
        return matched.get(where.key?.toString() ?? '');
      },
      error: (error) => errors.push(error),
      writable: () => writable++,
    },
    {
      transactionalId: settings.transactionalId === null ? undefined : (settings.transactionalId ?? 'tx'),
      maxRecords: settings.maxRecords ?? 3,
      maxMs: settings.maxMs ?? 60_000,
      timeoutMs: 30_000,
    },
  );
  return { tx, ...fake, delivered, undelivered, matched, errors, writable: () => writable };
}

const flushed = (settings: { maxRecords?: number; maxMs?: number } = {}) =>
  batches({ ...settings, transactionalId: null });
const TIMED_OUT = { code: -185, message: 'Local: Timed out' };
const refusedRecord: UndeliveredRecord = { topic: 'out', partition: 2, key: Buffer.from('k'), value: Buffer.from('v') };

describe('DeliveryBatches, ended by a flush', () => {
  it('takes records at once, refuses them while the batch flushes, then reports them delivered in order', async () => {
    const { tx, answer, calls, delivered, writable } = flushed();
    expect(tx.canProduce()).toBe(true);
    expect(calls).toEqual([]); // no transaction to begin
    tx.produced('a');
    tx.produced('b');
    tx.produced('c'); // maxRecords: the flush starts
    expect(calls.map((c) => c.name)).toEqual(['flush']);
    expect(tx.canProduce()).toBe(false);
    expect(delivered).toEqual([]);
    await answer('flush');
    expect(delivered).toEqual([
      { error: undefined, opaque: 'a' },
      { error: undefined, opaque: 'b' },
      { error: undefined, opaque: 'c' },
    ]);
    expect(writable()).toBe(1);
    expect(tx.canProduce()).toBe(true);
  });

  it('flushes after maxMs when the batch holds fewer than maxRecords', async () => {
    const { tx, answer, calls, delivered } = flushed({ maxMs: 20 });
    tx.canProduce();
    tx.produced('a');
    expect(calls).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(calls.map((c) => c.name)).toEqual(['flush']);
    await answer('flush');
    expect(delivered).toEqual([{ error: undefined, opaque: 'a' }]);
  });

  it('reports the delivered records of a batch first, then the failed ones, matched by where they went', async () => {
    const { tx, answer, delivered, undelivered, matched } = flushed({ maxRecords: 10 });
    tx.canProduce();
    for (const opaque of ['a', 'b', 'c']) tx.produced(opaque);
    matched.set('k', 'b');
    const refused = toKafkaError({ code: 10, message: 'Broker: Message size too large' }, 'delivery');
    tx.failed(refused, refusedRecord);
    // Asked as it came; a report nobody matches (the sink fails loudly then) is not reported again.
    tx.failed(refused, { ...refusedRecord, key: null });
    expect(undelivered.map((u) => u.where.key)).toEqual([refusedRecord.key, null]);
    void tx.end();
    await answer('flush');
    // A retriable failure then produces again only what failed, not what shared its batch.
    expect(delivered).toEqual([
      { error: undefined, opaque: 'a' },
      { error: undefined, opaque: 'c' },
      { error: refused, opaque: 'b' },
    ]);
  });

  it('flushes again while the flush times out: records still in librdkafka are never reported delivered', async () => {
    const { tx, answer, calls, delivered } = flushed();
    tx.canProduce();
    tx.produced('a');
    void tx.end();
    // A second at a time, not timeoutMs (30 s): a flush holds a thread the consumer's fetches need.
    expect(calls[0]?.args[0]).toBe(1000);
    await answer('flush', TIMED_OUT);
    expect(delivered).toEqual([]);
    expect(calls.map((c) => c.name)).toEqual(['flush']);
    await answer('flush');
    expect(delivered).toEqual([{ error: undefined, opaque: 'a' }]);
  });

  it('reports the records of a batch whose flush failed otherwise as retriable', async () => {
    const { tx, answer, delivered } = flushed();
    tx.canProduce();
    tx.produced('a');
    void tx.end();
    await answer('flush', { code: -172, message: 'Local: Erroneous state' });
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.error).toMatchObject({ retriable: true, fatal: false });
  });

  it('end() resolves once the flush completed, and at once when no record is open', async () => {
    const { tx, answer, delivered } = flushed();
    await expect(tx.end()).resolves.toBeUndefined();
    tx.canProduce();
    tx.produced('a');
    let ended = false;
    const ending = tx.end().then(() => (ended = true));
    expect(ended).toBe(false);
    await answer('flush');
    await ending;
    expect(delivered).toHaveLength(1);
  });

  it('reports nothing once closed: neither a late flush nor a failure', async () => {
    const { tx, answer, delivered, undelivered } = flushed();
    tx.canProduce();
    tx.produced('a');
    void tx.end();
    tx.close();
    tx.failed(toKafkaError(TIMED_OUT, 'delivery'), refusedRecord);
    await answer('flush');
    expect(delivered).toEqual([]);
    expect(undelivered).toEqual([]);
  });
});

describe('DeliveryBatches, as transactions', () => {
  it('refuses records until its transaction has begun, then reports them delivered, in order, once it committed', async () => {
    const { tx, answer, calls, delivered, writable } = batches();
    expect(tx.canProduce()).toBe(false);
    expect(tx.canProduce()).toBe(false);
    expect(calls.map((c) => c.name)).toEqual(['begin']);
    await answer('begin');
    expect(writable()).toBe(1);
    expect(tx.canProduce()).toBe(true);
    tx.produced('a');
    tx.produced('b');
    expect(calls).toEqual([]);
    tx.produced('c'); // maxRecords: the commit starts
    expect(tx.canProduce()).toBe(false);
    expect(delivered).toEqual([]);
    await answer('commit');
    expect(delivered).toEqual([
      { error: undefined, opaque: 'a' },
      { error: undefined, opaque: 'b' },
      { error: undefined, opaque: 'c' },
    ]);
    expect(writable()).toBe(2);
    // The next record begins the next transaction.
    expect(tx.canProduce()).toBe(false);
    expect(calls.map((c) => c.name)).toEqual(['begin']);
  });

  it('commits after maxMs when the transaction holds fewer than maxRecords', async () => {
    const { tx, answer, calls, delivered } = batches({ maxMs: 20 });
    tx.canProduce();
    await answer('begin');
    tx.produced('a');
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(calls.map((c) => c.name)).toEqual(['commit']);
    await answer('commit');
    expect(delivered).toEqual([{ error: undefined, opaque: 'a' }]);
  });

  it('end() commits the open transaction and resolves when it did', async () => {
    const { tx, answer, delivered } = batches();
    tx.canProduce();
    await answer('begin');
    tx.produced('a');
    let flushed = false;
    const flushing = tx.end().then(() => (flushed = true));
    expect(flushed).toBe(false);
    await answer('commit');
    await flushing;
    expect(delivered).toHaveLength(1);
    await expect(tx.end()).resolves.toBeUndefined(); // nothing open: at once
  });

  it('aborts a transaction whose commit failed and reports its records failed with the first record failure', async () => {
    const { tx, answer, delivered, writable } = batches();
    tx.canProduce();
    await answer('begin');
    tx.produced('a');
    tx.produced('b');
    const refused = toKafkaError({ code: 10, message: 'Broker: Message size too large' }, 'delivery');
    tx.failed(refused, refusedRecord);
    void tx.end();
    await answer('commit', { code: 48, message: 'abortable', isTxnRequiresAbort: true });
    await answer('abort');
    expect(delivered.map((d) => d.opaque)).toEqual(['a', 'b']);
    expect(delivered.every((d) => d.error === refused)).toBe(true);
    expect(writable()).toBe(2);
  });

  it('reports the records of a transaction that failed as a whole as retriable', async () => {
    const { tx, answer, delivered } = batches();
    tx.canProduce();
    await answer('begin');
    tx.produced('a');
    void tx.end();
    await answer('commit', { code: -185, message: 'Local: Timed out', isTxnRequiresAbort: true });
    await answer('abort');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.error).toMatchObject({ retriable: true, fatal: false });
  });

  it('reports a fatal commit failure as an error and no record as delivered', async () => {
    const { tx, answer, calls, delivered, errors } = batches();
    tx.canProduce();
    await answer('begin');
    tx.produced('a');
    void tx.end();
    await answer('commit', { code: -144, message: 'fenced', isFatal: true });
    expect(calls).toEqual([]); // no abort: the producer is unusable
    expect(delivered).toEqual([]);
    expect(errors[0]).toMatchObject({ fatal: true });
  });

  it('reports nothing once closed, whatever the commit answers', async () => {
    const { tx, answer, delivered, errors } = batches();
    tx.canProduce();
    await answer('begin');
    tx.produced('a');
    void tx.end();
    tx.close();
    await answer('commit');
    expect(delivered).toEqual([]);
    expect(errors).toEqual([]);
  });
});
