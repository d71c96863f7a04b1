/**
 * toKafka's producer makes no call into its client while node-rdkafka destroys it. node-rdkafka's
 * disconnect deletes the native client on a worker thread; its `poll` takes no lock against that, and
 * the poll timer toKafka starts keeps firing until the disconnect's callback. A poll into a client being
 * destroyed aborts the process ("pure virtual method called": one write-failure reliability worker died
 * so, during its close). The transaction calls take no lock either. This watches node-rdkafka's own
 * methods: no poll between the start of the native disconnect and its callback, for every kind of
 * delivery confirmation.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastValueFrom } from 'rxjs';
import { afterAll, expect, test } from 'vitest';
import { handler, runChain } from '@rxkafka/core';
import { toKafka, type ToKafkaOptions } from '@rxkafka/kafka';
import { fromMemory } from '@rxkafka/testing';
import { brokers, capturingLogger, newTopics, readBack, unique, waitFor } from './helpers.js';

// The node-rdkafka that @rxkafka/kafka loads: resolved from its package, so the same module instance.
const kafkaPackage = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'kafka', 'package.json');
const { Producer } = createRequire(kafkaPackage)('node-rdkafka') as {
  Producer: { prototype: Record<string, (...args: unknown[]) => unknown> };
};

const watch = { destroying: new Set<object>(), disconnects: 0, pollsWhileDestroying: 0 };
const { poll, _disconnect: nativeDisconnect } = Producer.prototype as Record<string, (...args: unknown[]) => unknown>;
Producer.prototype['poll'] = function (this: object, ...args: unknown[]) {
  if (watch.destroying.has(this)) watch.pollsWhileDestroying++;
  return poll?.apply(this, args);
};
// node-rdkafka's Producer.disconnect flushes, then calls this: the native disconnect, which destroys the client.
Producer.prototype['_disconnect'] = function (this: object, callback: unknown) {
  watch.destroying.add(this);
  watch.disconnects++;
  return nativeDisconnect?.call(this, (...args: unknown[]) => {
    watch.destroying.delete(this);
    (callback as ((...a: unknown[]) => void) | undefined)?.(...args);
  });
};
afterAll(() => {
  Producer.prototype['poll'] = poll as (...args: unknown[]) => unknown;
  Producer.prototype['_disconnect'] = nativeDisconnect as (...args: unknown[]) => unknown;
});

const N = 500;
// The destroy takes a few ms and the poll timer fires every 5: a close is repeated to be caught.
const CLOSES = 5;

test.each<{ confirmation: string; sink: () => Partial<ToKafkaOptions> }>([
  { confirmation: 'flushed batches', sink: () => ({}) },
  { confirmation: 'a report per record', sink: () => ({ deliveryBatches: false }) },
  { confirmation: 'transactions', sink: () => ({ transactions: { id: unique('close-txn') } }) },
])('$confirmation: no poll while the client is destroyed', async ({ sink }) => {
  const topic = unique('producer-close');
  await newTopics([{ topic, partitions: 3 }]);
  const before = { disconnects: watch.disconnects, polls: watch.pollsWhileDestroying };
  const forward = handler<string, Record<string, unknown>>('forward', (ctx) => {
    ctx.emit({ topic, key: ctx.key, value: ctx.record });
  });
  for (let close = 1; close <= CLOSES; close++) {
    const records = Array.from({ length: N }, (_, id) => ({ key: `k${String(id % 7)}`, value: `v${String(id)}` }));
    await lastValueFrom(
      fromMemory<string>(records).pipe(
        runChain([forward], { concurrency: 16 }),
        toKafka({ brokers: brokers(), deadLetterTopic: false, logger: capturingLogger(), ...sink() }),
      ),
    );
    await waitFor(
      () => watch.disconnects >= before.disconnects + close && watch.destroying.size === 0,
      30_000,
      () => `close ${String(close)}: the producer's native disconnect to start and end`,
    );
  }
  expect(await readBack([topic], { expected: N * CLOSES })).toHaveLength(N * CLOSES);
  expect(watch.pollsWhileDestroying - before.polls).toBe(0);
});
