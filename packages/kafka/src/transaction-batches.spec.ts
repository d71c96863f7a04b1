import { describe, expect, it } from 'vitest';
import type { KafkaError } from './errors.js';
import { TransactionBatches, toKafkaError, type TransactionalClient } from './rdkafka.js';

type Done = (error: unknown) => void;

/** A producer whose transactional calls wait until the test answers them. */
function fakeClient() {
  const calls: { name: string; done: Done }[] = [];
  const call =
    (name: string) =>
    (...args: unknown[]): void => {
      calls.push({ name, done: args.at(-1) as Done });
    };
  const client = {
    initTransactions: call('init'),
    beginTransaction: call('begin'),
    commitTransaction: call('commit'),
    abortTransaction: call('abort'),
  } as unknown as TransactionalClient;
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

function batches(settings: { maxRecords?: number; maxMs?: number } = {}) {
  const fake = fakeClient();
  const delivered: { error: KafkaError | undefined; opaque: unknown }[] = [];
  const errors: KafkaError[] = [];
  let writable = 0;
  const tx = new TransactionBatches(
    fake.client,
    {
      delivered: (error, opaque) => delivered.push({ error, opaque }),
      error: (error) => errors.push(error),
      writable: () => writable++,
    },
    { id: 'tx', maxRecords: settings.maxRecords ?? 3, maxMs: settings.maxMs ?? 60_000, timeoutMs: 1000 },
  );
  return { tx, ...fake, delivered, errors, writable: () => writable };
}

describe('TransactionBatches', () => {
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

  it('flush() commits the open transaction and resolves when it did', async () => {
    const { tx, answer, delivered } = batches();
    tx.canProduce();
    await answer('begin');
    tx.produced('a');
    let flushed = false;
    const flushing = tx.commit().then(() => (flushed = true));
    expect(flushed).toBe(false);
    await answer('commit');
    await flushing;
    expect(delivered).toHaveLength(1);
    await expect(tx.commit()).resolves.toBeUndefined(); // nothing open: at once
  });

  it('aborts a transaction whose commit failed and reports its records failed with the first record failure', async () => {
    const { tx, answer, delivered, writable } = batches();
    tx.canProduce();
    await answer('begin');
    tx.produced('a');
    tx.produced('b');
    const refused = toKafkaError({ code: 10, message: 'Broker: Message size too large' }, 'delivery');
    tx.failed(refused);
    void tx.commit();
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
    void tx.commit();
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
    void tx.commit();
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
    void tx.commit();
    tx.close();
    await answer('commit');
    expect(delivered).toEqual([]);
    expect(errors).toEqual([]);
  });
});
