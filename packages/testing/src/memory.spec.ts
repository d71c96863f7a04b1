import { type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { handler, runChain, type Context, type OutputRecord } from '@rxkafka/core';
import { fromMemory, toMemory } from './memory.js';

type Rec = { n: number };

function collect<T>(source: Observable<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    source.subscribe({ next: (item) => items.push(item), error: reject, complete: () => resolve(items) });
  });
}

/** Acknowledges a context the way a sink does, through its outcome (`runChain` passes `ack` on). */
function ackOf(ctx: Context<Rec>): void {
  (ctx as unknown as { ack: () => void }).ack();
}

describe('fromMemory', () => {
  it('never has more than maxInFlight unacknowledged records, and emits more on ack', () => {
    const records = Array.from({ length: 10 }, (_, n) => ({ value: { n } }));
    const received: Context<Rec>[] = [];
    let completed = false;
    fromMemory<Rec>(records, { maxInFlight: 4 }).subscribe({
      next: (ctx) => received.push(ctx),
      complete: () => (completed = true),
    });
    expect(received.map((c) => c.record.n)).toEqual([0, 1, 2, 3]);
    ackOf(received[1]!);
    expect(received.map((c) => c.record.n)).toEqual([0, 1, 2, 3, 4]);
    // Four new acknowledgements (record 1 again is a no-op: acks are idempotent) let four more through.
    for (const ctx of [...received]) ackOf(ctx);
    expect(received).toHaveLength(9);
    expect(completed).toBe(false);
    for (const ctx of received) ackOf(ctx);
    expect(completed).toBe(true);
  });

  it('runs a whole pipeline with toMemory acknowledging', async () => {
    const outputs: OutputRecord[] = [];
    const records = Array.from({ length: 1000 }, (_, n) => ({
      key: `k${String(n % 7)}`,
      value: { n },
      partition: n % 3,
    }));
    const double = handler<Rec, Record<string, unknown>>('double', (ctx) => {
      ctx.emit({ topic: 'out', key: ctx.key, value: ctx.record.n * 2 });
    });
    const outcomes = await collect(
      fromMemory<Rec>(records, { maxInFlight: 16 }).pipe(runChain([double]), toMemory(outputs)),
    );
    expect(outcomes).toHaveLength(1000);
    expect(outputs.map((o) => o.value).sort((a, b) => Number(a) - Number(b))).toEqual(
      records.map((r) => r.value.n * 2),
    );
    // Offsets count per partition.
    const last = outcomes.filter((o) => o.source.partition === 0).map((o) => o.source.offset);
    expect(Math.max(...last)).toBe(333);
  });
});
