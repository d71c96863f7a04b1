/**
 * The reliability workload: uniquely numbered records with per-key sequence numbers, keys drawn
 * from a Zipf distribution, fixed-size values, and an optional share of poison records.
 *
 * Every input record carries its identity in headers (`rel.id`, `rel.key`, `rel.seq`, `rel.kind`)
 * as well as in its value, so the verifier can identify it wherever it lands: in the output topic
 * (the worker copies id, key and seq into the output value) or in the dead-letter topic (which keeps
 * the original headers), even when the value is undecodable.
 */
import { produceRecords, type PlainRecord } from '@rxkafka/kafka/admin';
import { z } from 'zod';

/** What the handler does with a record; `undecodable` and `schema` never reach a handler. */
export type RecordKind = 'clean' | 'undecodable' | 'schema' | 'throw' | 'hang' | 'slow';

/** The input value of a decodable record. */
export const InputRecord = z.object({
  id: z.number().int().nonnegative(),
  key: z.string(),
  seq: z.number().int().nonnegative(),
  kind: z.enum(['clean', 'throw', 'hang', 'slow']),
  pad: z.string(),
});
export type InputRecord = z.infer<typeof InputRecord>;

/** What a worker writes to the output topic for each processed record. */
export const OutputValue = z.object({
  id: z.number().int(),
  key: z.string(),
  seq: z.number().int(),
  /** The worker instance that wrote it (attributes duplicates to the kill that caused them). */
  w: z.string(),
});
export type OutputValue = z.infer<typeof OutputValue>;

export const HEADER = { id: 'rel.id', key: 'rel.key', seq: 'rel.seq', kind: 'rel.kind' } as const;

/** Where a record of each kind must end up, and with which dead-letter reason and handler. */
export const EXPECTED: Record<RecordKind, { readonly reason: string; readonly handler: string } | 'output'> = {
  clean: 'output',
  undecodable: { reason: 'invalid', handler: 'decode:undecodable' },
  schema: { reason: 'invalid', handler: 'decode:schema' },
  throw: { reason: 'failed', handler: 'process' },
  hang: { reason: 'timeout', handler: 'process' },
  slow: 'output',
};

export interface PoisonMix {
  /** Fractions of all records, e.g. 0.01. */
  readonly undecodable: number;
  readonly schema: number;
  readonly throw: number;
  readonly hang: number;
  /**
   * Not poison: records whose handler takes `REL_SLOW_MS` and succeeds. A run with them and no poison is
   * the fair baseline for hanging records, which hold their key for the deadline whatever rxkafka does.
   */
  readonly slow?: number;
}

export const NO_POISON: PoisonMix = { undecodable: 0, schema: 0, throw: 0, hang: 0 };

export interface WorkloadOptions {
  readonly records: number;
  readonly keys?: number;
  /** Zipf exponent; 1.0 makes the hottest key about 13% of the records over 1,000 keys. */
  readonly zipf?: number;
  readonly valueBytes?: number;
  readonly poison?: PoisonMix;
  readonly seed?: number;
  /** First id (so a second batch can follow the first). */
  readonly firstId?: number;
}

/** The plan of a workload: the kind of every id, and how many records each key got. */
export interface Workload {
  readonly records: number;
  readonly firstId: number;
  /** kinds[id - firstId] */
  readonly kinds: RecordKind[];
  readonly keyOf: string[];
  readonly seqOf: number[];
}

/** A small, fast, seeded PRNG (mulberry32), so a run's workload is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Samples key indexes 0..n-1 with P(i) proportional to 1 / (i+1)^s. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += 1 / Math.pow(i + 1, s);
    cdf[i] = total;
  }
  return () => {
    const u = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] ?? 0) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Plans a workload: keys, per-key sequence numbers and kinds, all from the seed. */
export function planWorkload(options: WorkloadOptions, seqState = new Map<string, number>()): Workload {
  const keys = options.keys ?? 1000;
  const random = prng(options.seed ?? 7);
  const nextKey = zipfSampler(keys, options.zipf ?? 1.0, random);
  const poison = options.poison ?? NO_POISON;
  const firstId = options.firstId ?? 0;
  const kinds: RecordKind[] = [];
  const keyOf: string[] = [];
  const seqOf: number[] = [];
  for (let i = 0; i < options.records; i++) {
    const key = `k${String(nextKey())}`;
    const seq = seqState.get(key) ?? 0;
    seqState.set(key, seq + 1);
    const r = random();
    let kind: RecordKind = 'clean';
    let edge = poison.undecodable;
    if (r < edge) kind = 'undecodable';
    else if (r < (edge += poison.schema)) kind = 'schema';
    else if (r < (edge += poison.throw)) kind = 'throw';
    else if (r < (edge += poison.hang)) kind = 'hang';
    else if (r < (edge += poison.slow ?? 0)) kind = 'slow';
    kinds.push(kind);
    keyOf.push(key);
    seqOf.push(seq);
  }
  return { records: options.records, firstId, kinds, keyOf, seqOf };
}

/** The input record for one id of a plan. */
export function inputRecord(plan: Workload, index: number, topic: string, valueBytes = 512): PlainRecord {
  const id = plan.firstId + index;
  const kind = plan.kinds[index] ?? 'clean';
  const key = plan.keyOf[index] ?? 'k0';
  const seq = plan.seqOf[index] ?? 0;
  const headers = { [HEADER.id]: String(id), [HEADER.key]: key, [HEADER.seq]: String(seq), [HEADER.kind]: kind };
  let value: string;
  if (kind === 'undecodable') {
    value = `{"id":${String(id)},"truncated`.padEnd(valueBytes, '#');
  } else {
    const base = { id, key, seq, kind: kind === 'schema' ? 'clean' : kind, pad: '' };
    // Schema-invalid: well-formed JSON whose seq is a string.
    const shaped: Record<string, unknown> = kind === 'schema' ? { ...base, seq: `s${String(seq)}` } : base;
    const bare = JSON.stringify(shaped).length;
    shaped['pad'] = 'x'.repeat(Math.max(0, valueBytes - bare));
    value = JSON.stringify(shaped);
  }
  return { topic, key, value, headers };
}

/**
 * Produces a planned workload (or the slice [from, to) of it) and waits for every delivery report.
 * Chunked so a large run does not hold every record in memory at once.
 */
export async function produceWorkload(
  brokers: string,
  topic: string,
  plan: Workload,
  options: { readonly from?: number; readonly to?: number; readonly valueBytes?: number } = {},
): Promise<void> {
  const from = options.from ?? 0;
  const to = options.to ?? plan.records;
  const CHUNK = 50_000;
  for (let start = from; start < to; start += CHUNK) {
    const end = Math.min(to, start + CHUNK);
    const batch: PlainRecord[] = [];
    for (let i = start; i < end; i++) batch.push(inputRecord(plan, i, topic, options.valueBytes));
    await produceRecords(brokers, batch, { 'linger.ms': 50, 'batch.num.messages': 10_000 });
  }
}
