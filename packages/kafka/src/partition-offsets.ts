/**
 * One partition's offsets between fetch and commit. Records finish in any order; the
 * committable offset only moves past a record once it and every record before it are done.
 */
export class PartitionOffsets {
  // Offsets handed out and not yet passed by the commit point, in fetch order, mapped to "done".
  // A Map keeps insertion order, so its first entry is always the oldest unfinished offset.
  readonly #pending = new Map<number, boolean>();
  // One past the highest contiguous done offset: what Kafka should store as committed.
  #committable: number | undefined;
  // The last committable offset handed to a commit that succeeded.
  #committed: number | undefined;

  /** Records handed out and not yet done. */
  inFlight = 0;

  /** Registers a fetched record. Offsets must arrive in increasing order (Kafka guarantees it). */
  track(offset: number): void {
    this.#pending.set(offset, false);
    this.inFlight++;
  }

  /** Marks a record done. Returns true if the commit point moved. */
  done(offset: number): boolean {
    if (this.#pending.get(offset) !== false) return false;
    this.#pending.set(offset, true);
    this.inFlight--;
    let moved = false;
    for (const [pendingOffset, isDone] of this.#pending) {
      if (!isDone) break;
      this.#pending.delete(pendingOffset);
      this.#committable = pendingOffset + 1;
      moved = true;
    }
    return moved;
  }

  /** Forgets a record that will not be finished (aborted): it blocks the commit point until redelivered. */
  release(offset: number): void {
    if (this.#pending.get(offset) === false) this.inFlight--;
  }

  /** The offset to commit now, or undefined if nothing new is done since the last commit. */
  get uncommitted(): number | undefined {
    return this.#committable !== undefined && this.#committable !== this.#committed ? this.#committable : undefined;
  }

  get committable(): number | undefined {
    return this.#committable;
  }

  markCommitted(offset: number): void {
    if (this.#committed === undefined || offset > this.#committed) this.#committed = offset;
  }
}
