import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutstandingList, type OutstandingLinks } from './outstanding-list.js';

interface Item extends OutstandingLinks<Item> {
  readonly id: number;
}

const item = (id: number): Item => ({
  id,
  olderOutstanding: undefined,
  newerOutstanding: undefined,
  isOutstanding: false,
});
const ids = (list: OutstandingList<Item>): number[] => [...list].map((entry) => entry.id);

describe('OutstandingList', () => {
  it('keeps produce order across removals from the front, the middle and the back', () => {
    const list = new OutstandingList<Item>();
    const items = [0, 1, 2, 3, 4].map(item);
    for (const entry of items) list.add(entry);
    list.delete(items[2] as Item);
    list.delete(items[0] as Item);
    list.delete(items[4] as Item);
    expect(ids(list)).toEqual([1, 3]);
    expect(list.size).toBe(2);
    list.add(items[0] as Item);
    expect(ids(list)).toEqual([1, 3, 0]);
  });

  it('ignores adding a record twice and removing one it does not hold', () => {
    const list = new OutstandingList<Item>();
    const a = item(1);
    list.add(a);
    list.add(a);
    list.delete(item(2));
    expect(ids(list)).toEqual([1]);
    list.delete(a);
    list.delete(a);
    expect(list.size).toBe(0);
    expect(list.has(a)).toBe(false);
  });

  it('takeAll empties it, oldest first, and its records can be added again', () => {
    const list = new OutstandingList<Item>();
    const items = [0, 1, 2].map(item);
    for (const entry of items) list.add(entry);
    expect(list.takeAll().map((entry) => entry.id)).toEqual([0, 1, 2]);
    expect(list.size).toBe(0);
    expect(items.some((entry) => list.has(entry))).toBe(false);
    list.add(items[1] as Item);
    expect(ids(list)).toEqual([1]);
  });

  it('behaves as an insertion-ordered Set under any sequence of adds and deletes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9 })), { maxLength: 200 }), (steps) => {
        const list = new OutstandingList<Item>();
        const model = new Set<number>();
        const items = Array.from({ length: 10 }, (_, id) => item(id));
        for (const [adding, id] of steps) {
          if (adding) {
            list.add(items[id] as Item);
            model.add(id);
          } else {
            list.delete(items[id] as Item);
            model.delete(id);
          }
          expect(list.size).toBe(model.size);
        }
        expect(ids(list)).toEqual([...model]);
        for (const entry of items) expect(list.has(entry)).toBe(model.has(entry.id));
      }),
    );
  });
});
