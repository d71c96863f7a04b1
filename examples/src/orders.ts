/**
 * The demo's domain: orders flow through module A (validate, enrich) and module B (score).
 * Each module is an ordinary handler chain; the topics between them make them microservices.
 */
import { z } from 'zod';
import { BREAK, handler, type Handler } from '@rxkafka/core';

export const TOPICS = {
  orders: 'orders',
  enriched: 'orders.enriched',
  scored: 'orders.scored',
  deadLetter: 'orders.dlq',
} as const;

export const Order = z.object({
  id: z.string().min(1),
  customerId: z.string().min(1),
  amount: z.number().positive(),
  items: z.number().int().min(1),
});
export type Order = z.infer<typeof Order>;

export const EnrichedOrder = Order.extend({
  customerTier: z.enum(['bronze', 'silver', 'gold']),
  seq: z.number().int(),
});
export type EnrichedOrder = z.infer<typeof EnrichedOrder>;

export interface EnrichState {
  tier?: 'bronze' | 'silver' | 'gold';
}

/**
 * A per-record resource, like a pooled connection: acquired by a handler, released by a defer.
 * `leased` returning to 0 at the end shows that every defer ran.
 */
export class CustomerDirectory {
  leased = 0;
  peakLeased = 0;

  lease(): { tierOf(customerId: string): 'bronze' | 'silver' | 'gold'; release(): void } {
    this.leased++;
    this.peakLeased = Math.max(this.peakLeased, this.leased);
    let released = false;
    return {
      tierOf: (customerId) =>
        (['bronze', 'silver', 'gold'] as const)[Number(customerId.replace(/\D/g, '')) % 3] ?? 'bronze',
      release: () => {
        if (!released) this.leased--;
        released = true;
      },
    };
  }
}

/** Module A: validate, then enrich with a leased directory connection, then emit to `orders.enriched`. */
export function moduleA(directory: CustomerDirectory): Handler<Order, EnrichState>[] {
  // Sequence numbers per customer let module B's consumers check per-key order.
  const sequence = new Map<string, number>();
  return [
    handler('validate', (ctx) => {
      // Business rule: empty-amount orders are skipped quietly (a break, not an error).
      if (ctx.record.amount < 0.01) return BREAK;
      if (ctx.record.items > 1000) throw new Error(`implausible item count ${String(ctx.record.items)}`);
      return undefined;
    }),
    handler('enrich', async (ctx) => {
      const connection = directory.lease();
      ctx.defer(() => {
        connection.release();
      });
      await new Promise((resolve) => setImmediate(resolve));
      ctx.state.tier = connection.tierOf(ctx.record.customerId);
    }),
    handler('emit', (ctx) => {
      const seq = (sequence.get(ctx.record.customerId) ?? 0) + 1;
      sequence.set(ctx.record.customerId, seq);
      ctx.emit({
        topic: TOPICS.enriched,
        key: ctx.record.customerId,
        value: { ...ctx.record, customerTier: ctx.state.tier ?? 'bronze', seq },
      });
    }),
  ];
}

/** Module B: score each enriched order (key-ordered) and emit to `orders.scored`. */
export function moduleB(): Handler<EnrichedOrder, Record<string, unknown>>[] {
  const multiplier = { bronze: 1, silver: 1.5, gold: 2 } as const;
  return [
    handler('score', (ctx) => {
      const score = Math.round(ctx.record.amount * multiplier[ctx.record.customerTier]);
      ctx.emit({
        topic: TOPICS.scored,
        key: ctx.record.customerId,
        value: { id: ctx.record.id, seq: ctx.record.seq, score },
      });
    }),
  ];
}

/** Test data: mostly good orders, some invalid JSON, some schema violations, some poison pills. */
export function* generateOrders(count: number): Generator<{ topic: string; key: string; value: string }> {
  for (let i = 0; i < count; i++) {
    const customerId = `c${String(i % 97)}`;
    const order: Order = { id: `o${String(i)}`, customerId, amount: 10 + (i % 50), items: 1 + (i % 5) };
    let value = JSON.stringify(order);
    if (i % 101 === 7)
      value = '{"id": "broken json'; // undecodable
    else if (i % 101 === 13)
      value = JSON.stringify({ ...order, amount: -5 }); // schema violation
    else if (i % 101 === 29)
      value = JSON.stringify({ ...order, items: 5000 }); // fails in a handler
    else if (i % 101 === 41) value = JSON.stringify({ ...order, amount: 0.001 }); // skipped: a break
    yield { topic: TOPICS.orders, key: customerId, value };
  }
}

/** Where `generateOrders(count)` should end up: scored, dead-lettered, or skipped by a break. */
export function expectedCounts(count: number): { scored: number; deadLettered: number; skipped: number } {
  let deadLettered = 0;
  let skipped = 0;
  for (let i = 0; i < count; i++) {
    if ([7, 13, 29].includes(i % 101)) deadLettered++;
    else if (i % 101 === 41) skipped++;
  }
  return { scored: count - deadLettered - skipped, deadLettered, skipped };
}
