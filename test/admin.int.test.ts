/** Topic administration: an existing topic is a typed error, or ignored when asked. */
import { expect, test } from 'vitest';
import { createTopics, produceRecords, TopicExistsError } from '@rxkafka/kafka/admin';
import { brokers, readBack, unique } from './helpers.js';

test('creating a topic that exists rejects with a TopicExistsError, or is skipped with ifExists: ignore', async () => {
  const existing = unique('admin-existing');
  const fresh = unique('admin-fresh');
  await createTopics(brokers(), [{ topic: existing, partitions: 2 }]);

  const error = await createTopics(brokers(), [{ topic: existing }]).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TopicExistsError);
  expect(error).toMatchObject({ code: 'ERR_TOPIC_ALREADY_EXISTS', retriable: false });

  // The existing topic is left alone and the next one is still created.
  await createTopics(brokers(), [{ topic: existing }, { topic: fresh, partitions: 3 }], { ifExists: 'ignore' });
  await produceRecords(
    brokers(),
    [0, 1, 2].map((partition) => ({ topic: fresh, partition, value: 'x' })),
  );
  const records = await readBack([fresh], { expected: 3 });
  expect(new Set(records.map((record) => record.partition))).toEqual(new Set([0, 1, 2]));
});
