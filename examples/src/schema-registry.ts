/**
 * Plugging a schema registry in: an asynchronous decoder and serializer in the Confluent wire format
 * (a zero byte, a 4-byte schema id, then the payload). `InMemoryRegistry` stands in for a real client
 * (Confluent's, Apicurio's, for Avro, Protobuf or JSON Schema): like one, it answers lookups
 * asynchronously and caches them. rxkafka keeps each partition's records in order while lookups are in
 * flight, and toKafka keeps the outputs in order while the serializer encodes.
 *
 * Run: `node --conditions=@rxkafka/source --import tsx src/schema-registry.ts` (on the mock cluster,
 * or on KAFKA_BROKERS).
 */
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import { fromKafka, runService, toKafka, type Decoder } from '@rxkafka/kafka';
import { produceRecords, startMockCluster } from '@rxkafka/kafka/admin';

/** The registry client's surface that the codec needs. */
export interface RegistryClient {
  /** The id under which `subject`'s current schema is registered. */
  idOf(subject: string): Promise<number>;
  /** Validates a payload written with schema `id`; throws for an unknown id. */
  check(id: number, payload: unknown): Promise<unknown>;
}

/** A registry in memory, answering like a remote one: asynchronously, with a cache in front. */
export class InMemoryRegistry implements RegistryClient {
  readonly #schemas = new Map<number, { readonly subject: string; readonly schema: z.ZodType }>();
  readonly #latencyMs: number;
  lookups = 0;

  constructor(latencyMs = 2) {
    this.#latencyMs = latencyMs;
  }

  register(id: number, subject: string, schema: z.ZodType): void {
    this.#schemas.set(id, { subject, schema });
  }

  async idOf(subject: string): Promise<number> {
    await this.roundTrip();
    for (const [id, entry] of this.#schemas) if (entry.subject === subject) return id;
    throw new Error(`no schema registered for subject ${subject}`);
  }

  async check(id: number, payload: unknown): Promise<unknown> {
    await this.roundTrip();
    const entry = this.#schemas.get(id);
    if (entry === undefined) throw new Error(`unknown schema id ${String(id)}`);
    return entry.schema.parse(payload);
  }

  private roundTrip(): Promise<void> {
    this.lookups++;
    return new Promise((resolve) => setTimeout(resolve, Math.random() * this.#latencyMs));
  }
}

/** Confluent's framing: magic byte 0, the schema id as a 32-bit big-endian integer, then the payload. */
export function frame(id: number, payload: unknown): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(id, 1);
  return Buffer.concat([header, Buffer.from(JSON.stringify(payload))]);
}

/** fromKafka's `decode`: reads the schema id, asks the registry, and hands the checked payload on. */
export function registryDecoder(registry: RegistryClient): Decoder {
  return async (value) => {
    if (value === null || value.length < 5 || value[0] !== 0) throw new Error('not in the registry wire format');
    const payload: unknown = JSON.parse(value.subarray(5).toString('utf8'));
    return registry.check(value.readUInt32BE(1), payload);
  };
}

/** toKafka's `serialize`: frames each output with the id of its topic's `<topic>-value` subject. */
export function registrySerializer(registry: RegistryClient) {
  return async (value: unknown, output: { readonly topic: string }): Promise<Buffer> =>
    frame(await registry.idOf(`${output.topic}-value`), value);
}

const Reading = z.object({ sensor: z.string(), celsius: z.number() });
type Reading = z.infer<typeof Reading>;
const Alert = z.object({ sensor: z.string(), fahrenheit: z.number() });

async function main(): Promise<void> {
  const mock = process.env['KAFKA_BROKERS'] ? undefined : await startMockCluster();
  const brokers = mock?.brokers ?? process.env['KAFKA_BROKERS'] ?? '';
  await mock?.createTopics(['readings', 'alerts', 'readings.dlq']);
  const registry = new InMemoryRegistry();
  registry.register(1, 'readings-value', Reading);
  registry.register(2, 'alerts-value', Alert);

  const count = 1000;
  await produceRecords(
    brokers,
    Array.from({ length: count }, (_, i) => ({
      topic: 'readings',
      key: `s${String(i % 10)}`,
      // Every 100th record names a schema the registry does not know: it goes to the dead-letter topic.
      value: frame(i % 100 === 0 ? 99 : 1, { sensor: `s${String(i % 10)}`, celsius: i % 50 }),
    })),
  );
  const source = fromKafka<Reading>({
    brokers,
    groupId: 'registry-example',
    topics: ['readings'],
    schema: Reading,
    decode: registryDecoder(registry),
  });
  const alert = handler<Reading, Record<string, unknown>>('alert', (ctx) => {
    if (ctx.record.celsius > 40) {
      ctx.emit({
        topic: 'alerts',
        key: ctx.record.sensor,
        value: { sensor: ctx.record.sensor, fahrenheit: ctx.record.celsius * 1.8 + 32 },
      });
    }
  });
  let settled = 0;
  const counts = await runService(
    source,
    (records) =>
      records.pipe(
        runChain([alert]),
        toKafka({
          brokers,
          deadLetterTopic: 'readings.dlq',
          serialize: registrySerializer(registry),
          deadLetterLog: { maxPerSecond: 3 },
        }),
      ),
    {
      onOutcome: () => {
        if (++settled === count) void source.stop();
      },
    },
  );
  console.log(
    `ok ${String(counts.ok)}, invalid ${String(counts.invalid)}, registry lookups ${String(registry.lookups)}`,
  );
  await mock?.close();
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) await main();
