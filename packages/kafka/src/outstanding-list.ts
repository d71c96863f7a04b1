/** The fields an `OutstandingList` links its records by; set from the start, so a record keeps its shape. */
export interface OutstandingLinks<T> {
  olderOutstanding: T | undefined;
  newerOutstanding: T | undefined;
  isOutstanding: boolean;
}

/**
 * The records a producer holds, in produce order, linked through their own fields: adding and
 * removing allocate nothing. A `Set` here grew and shrank its hash table with every delivery batch,
 * about a tenth of what a passthrough allocated (docs/decisions.md 63). A record is in one list at most.
 */
export class OutstandingList<T extends OutstandingLinks<T>> implements Iterable<T> {
  #oldest: T | undefined;
  #newest: T | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(record: T): boolean {
    return record.isOutstanding;
  }

  add(record: T): void {
    if (record.isOutstanding) return;
    record.isOutstanding = true;
    record.olderOutstanding = this.#newest;
    record.newerOutstanding = undefined;
    if (this.#newest === undefined) this.#oldest = record;
    else this.#newest.newerOutstanding = record;
    this.#newest = record;
    this.#size++;
  }

  delete(record: T): void {
    if (!record.isOutstanding) return;
    const { olderOutstanding: older, newerOutstanding: newer } = record;
    if (older === undefined) this.#oldest = newer;
    else older.newerOutstanding = newer;
    if (newer === undefined) this.#newest = older;
    else newer.olderOutstanding = older;
    unlink(record);
    this.#size--;
  }

  /** Empties the list and returns its records, oldest first. */
  takeAll(): T[] {
    const all = [...this];
    for (const record of all) unlink(record);
    this.#oldest = undefined;
    this.#newest = undefined;
    this.#size = 0;
    return all;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let record = this.#oldest; record !== undefined; record = record.newerOutstanding) yield record;
  }
}

function unlink<T>(record: OutstandingLinks<T>): void {
  record.isOutstanding = false;
  record.olderOutstanding = undefined;
  record.newerOutstanding = undefined;
}
