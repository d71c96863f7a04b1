/**
 * Security against a real broker with a SASL/SCRAM listener and ACLs: the right credentials work; wrong
 * credentials end in a typed error and a clean stop (no hang, no crash loop); a denied read or write
 * fails loudly without committing; and no secret reaches a log line or an error.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import {
  acknowledge,
  AuthenticationError,
  AuthorizationError,
  fromKafka,
  runService,
  toKafka,
  type LibrdkafkaConfig,
} from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { capturingLogger, type CapturingLogger, unique } from '../helpers.js';
import { admin, startSecureBroker, type SecureBroker } from './secure-broker.js';

const ALICE = { user: 'alice', password: 'alice-secret-5d3c' };
const WRONG_PASSWORD = 'not-alices-password-91aa';
const SECRETS = [ALICE.password, WRONG_PASSWORD, admin.password];

let broker: SecureBroker;
let alice: LibrdkafkaConfig;

beforeAll(async () => {
  broker = await startSecureBroker([ALICE]);
  alice = broker.credentials(ALICE.user, ALICE.password);
  // Alice may read and write topics and use groups whose names start with "sec-", nothing else.
  broker.allow(ALICE.user, 'TOPIC', 'sec-', ['READ', 'WRITE', 'DESCRIBE', 'CREATE']);
  broker.allow(ALICE.user, 'GROUP', 'sec-', ['READ', 'DESCRIBE']);
}, 240_000);

afterAll(async () => {
  await broker.stop();
});

const Item = z.object({ id: z.number().int() });
type Item = z.infer<typeof Item>;
type State = Record<string, unknown>;

async function seed(topic: string, count: number, as: LibrdkafkaConfig): Promise<void> {
  await produceRecords(
    broker.brokers,
    Array.from({ length: count }, (_, id) => ({ topic, key: `k${String(id % 5)}`, value: JSON.stringify({ id }) })),
    as,
  );
}

/** Runs a consume-only service until `count` outcomes arrived (then stops it), or until it fails. */
async function consume(topic: string, groupId: string, as: LibrdkafkaConfig, count: number, logger: CapturingLogger) {
  const source = fromKafka<Item>({ brokers: broker.brokers, groupId, topics: [topic], schema: Item, rdkafka: as });
  let seen = 0;
  const counts = await runService(source, (records) => records.pipe(runChain([]), acknowledge({ logger })), {
    handleSignals: false,
    logger,
    onOutcome: () => {
      if (++seen === count) void source.stop();
    },
  });
  return { counts, source };
}

function expectNoSecrets(logger: CapturingLogger, ...errors: unknown[]): void {
  const printed = [
    ...logger.lines.map((line) => `${line.message} ${inspect(line.object, { depth: 6 })}`),
    ...errors.map((error) => inspect(error, { depth: 6 })),
  ].join('\n');
  for (const secret of SECRETS) expect(printed).not.toContain(secret);
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the service to fail');
    },
    (error: unknown) => error,
  );
}

test('the right credentials consume, process and produce', async () => {
  const input = unique('sec-in');
  const output = unique('sec-out');
  await seed(input, 50, alice);
  const logger = capturingLogger();
  const source = fromKafka<Item, State>({
    brokers: broker.brokers,
    groupId: unique('sec-group'),
    topics: [input],
    schema: Item,
    rdkafka: alice,
  });
  const forward = handler<Item, State>('forward', (ctx) => {
    ctx.emit({ topic: output, key: String(ctx.record.id), value: ctx.record });
  });
  let seen = 0;
  const counts = await runService(
    source,
    (records) =>
      records.pipe(
        runChain([forward]),
        toKafka({ brokers: broker.brokers, deadLetterTopic: unique('sec-dlq'), logger, rdkafka: alice }),
      ),
    {
      handleSignals: false,
      logger,
      onOutcome: () => {
        if (++seen === 50) void source.stop();
      },
    },
  );
  expect(counts.ok).toBe(50);
  const { counts: readBack } = await consume(output, unique('sec-reader'), alice, 50, logger);
  expect(readBack.ok).toBe(50);
  expectNoSecrets(logger);
});

test('wrong credentials end in an AuthenticationError and a clean stop as soon as the broker refuses them', async () => {
  const logger = capturingLogger();
  const started = performance.now();
  // The default connectTimeout (30 s): a refusal must not wait for it.
  const source = fromKafka<Item>({
    brokers: broker.brokers,
    groupId: unique('sec-group'),
    topics: [unique('sec-in')],
    schema: Item,
    rdkafka: broker.credentials(ALICE.user, WRONG_PASSWORD),
  });
  const error = await failureOf(
    runService(source, (records) => records.pipe(runChain([]), acknowledge({ logger })), {
      handleSignals: false,
      logger,
    }),
  );
  // librdkafka's error events wait in its queue until the connect ends, and twice in CI they missed it
  // (a plain "broker transport failure"); its log line of the refusal comes at once and says why.
  expect(error, String(error)).toBeInstanceOf(AuthenticationError);
  expect((error as AuthenticationError).message).toContain('invalid credentials');
  expect((error as AuthenticationError).code).toBe('ERR__AUTHENTICATION');
  expect((error as AuthenticationError).retriable).toBe(false);
  expect(performance.now() - started).toBeLessThan(10_000);
  expect(source.state).toBe('closed');
  expectNoSecrets(logger, error);
});

test('a denied read fails loudly with an AuthorizationError and commits nothing', async () => {
  const topic = unique('denied-in');
  await seed(topic, 20, broker.credentials(admin.user, admin.password));
  const logger = capturingLogger();
  const groupId = unique('sec-group');
  const source = fromKafka<Item>({ brokers: broker.brokers, groupId, topics: [topic], schema: Item, rdkafka: alice });
  const error = await failureOf(
    runService(source, (records) => records.pipe(runChain([]), acknowledge({ logger })), {
      handleSignals: false,
      logger,
    }),
  );
  expect(error).toBeInstanceOf(AuthorizationError);
  expect((error as AuthorizationError).code).toBe('ERR_TOPIC_AUTHORIZATION_FAILED');
  expect(source.state).toBe('closed');
  expect(source.stats.commits).toBe(0);
  expectNoSecrets(logger, error);
});

test('a denied write stops the pipeline without committing the record', async () => {
  const input = unique('sec-in');
  await seed(input, 20, alice);
  const logger = capturingLogger();
  const groupId = unique('sec-group');
  const source = fromKafka<Item, State>({
    brokers: broker.brokers,
    groupId,
    topics: [input],
    schema: Item,
    rdkafka: alice,
  });
  const forbidden = unique('denied-out');
  const forward = handler<Item, State>('forward', (ctx) => {
    ctx.emit({ topic: forbidden, value: ctx.record });
  });
  const error = await failureOf(
    runService(
      source,
      (records) =>
        records.pipe(
          runChain([forward]),
          toKafka({ brokers: broker.brokers, deadLetterTopic: unique('sec-dlq'), logger, rdkafka: alice }),
        ),
      { handleSignals: false, logger },
    ),
  );
  expect(inspect(error)).toMatch(/AUTHORIZATION_FAILED/);
  expect(source.state).toBe('closed');
  // Nothing was committed: the same group reads every record again.
  const { counts } = await consume(input, groupId, alice, 20, logger);
  expect(counts.ok).toBe(20);
  expectNoSecrets(logger, error);
});
