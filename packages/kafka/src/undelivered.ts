import type { UndeliveredRecord } from './rdkafka.js';

/** What a produced record is matched on when librdkafka reports it failed without an opaque. */
export interface ProducedRecord {
  readonly topic: string;
  /** `null`: librdkafka's partitioner chose it. */
  readonly partition: number | null;
  readonly key: Buffer | string | null;
  readonly value: Buffer | null;
  /** Already matched to an earlier failure report. */
  readonly undelivered: boolean;
}

/**
 * The oldest record of `outstanding` (in produce order) that a failure report describes: same topic,
 * partition (any, for a record produced without one), key and value, and not matched before. Records
 * with the same bytes are interchangeable: whichever is produced again writes what the failed one
 * would have, so none is lost.
 */
export function findUndelivered<T extends ProducedRecord>(
  outstanding: Iterable<T>,
  where: UndeliveredRecord,
): T | undefined {
  for (const record of outstanding) {
    if (
      !record.undelivered &&
      record.topic === where.topic &&
      (record.partition === null || record.partition === where.partition) &&
      sameBytes(record.key, where.key) &&
      sameBytes(record.value, where.value)
    ) {
      return record;
    }
  }
  return undefined;
}

function sameBytes(produced: Buffer | string | null, reported: Buffer | null): boolean {
  if (produced === null || reported === null) return produced === reported;
  return Buffer.isBuffer(produced) ? produced.equals(reported) : reported.equals(Buffer.from(produced));
}
