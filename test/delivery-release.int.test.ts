/**
 * toKafka keeps nothing of a record once its delivery is confirmed, however deliveries are confirmed:
 * a report per record, flushed batches (the default) or transactions. node-rdkafka holds a handle on
 * a produced record's opaque until that record's delivery report, which a delivered record never gets
 * when librdkafka reports failures only: a batched record produced with an opaque stayed reachable for
 * good (in transactions, every record leaked so before this test).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { lastValueFrom } from 'rxjs';
import { expect, test } from 'vitest';
import { handler, runChain } from '@rxkafka/core';
import { toKafka, type ToKafkaOptions } from '@rxkafka/kafka';
import { fromMemory } from '@rxkafka/testing';
import { brokers, capturingLogger, newTopics, readBack, sleep, unique } from './helpers.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const N = 2000;
const VALUE = 'x'.repeat(1024);

test.each<{ confirmation: string; sink: Partial<ToKafkaOptions> }>([
  { confirmation: 'a report per record', sink: { deliveryBatches: false } },
  { confirmation: 'flushed batches', sink: {} },
  { confirmation: 'transactions', sink: { transactions: { id: unique('release-txn') } } },
])('$confirmation: every delivered record becomes garbage', async ({ sink }) => {
  const topic = unique('release');
  await newTopics([{ topic, partitions: 3 }]);
  let released = 0;
  const registry = new FinalizationRegistry<number>(() => {
    released++;
  });
  const forward = handler<string, Record<string, unknown>>('forward', (ctx) => {
    // The context is what an output's pending delivery holds on to, with the record and its outputs.
    registry.register(ctx, ctx.offset);
    ctx.emit({ topic, key: ctx.key, value: ctx.record });
  });
  const records = Array.from({ length: N }, (_, id) => ({ key: `k${String(id % 11)}`, value: VALUE }));
  await lastValueFrom(
    fromMemory<string>(records).pipe(
      runChain([forward], { concurrency: 16 }),
      toKafka({ brokers: brokers(), deadLetterTopic: false, logger: capturingLogger(), ...sink }),
    ),
  );
  for (let round = 0; round < 10 && released < N; round++) {
    collectGarbage();
    // Finalizers run in a later task.
    await sleep(50);
  }
  expect(await readBack([topic], { expected: N })).toHaveLength(N);
  expect(released).toBe(N);
});
