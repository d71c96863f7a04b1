const PENDING = 0;
const DONE = 1;
const RELEASED = 2;

/** Identifies one tracked record; returned by `track`, passed back to `done` or `release`. */
export type Ticket = number;

/**
 * One partition's offsets between fetch and commit. Records finish in any order; the
 * committable offset only moves past a record once it and every record before it are done.
 */
export class PartitionOffsets {
  // Tracked offsets in fetch order, and their states (PENDING, DONE, RELEASED), from #first on.
  #offsets: number[] = [];
  #states: number[] = [];
  // Ticket of #offsets[0]; earlier tickets were compacted away.
  #first = 0;
  // Ticket of the oldest record not yet done: the commit point.
  #head = 0;
  // One past the highest contiguous done offset: what Kafka should store as committed.
  #committable: number | undefined;
  // The last committable offset handed to a commit that succeeded.
  #committed: number | undefined;
  // Records done beyond the commit point: completed, but held back from the commit by the head.
  #doneAhead = 0;
  // Ticket of the first record the last successful commit does not cover.
  #committedTicket = 0;

  /** Records handed out and not yet settled. */
  inFlight = 0;

  /** Registers a fetched record. Offsets must arrive in increasing order (Kafka guarantees it). */
  track(offset: number): Ticket {
    this.#offsets.push(offset);
    this.#states.push(PENDING);
    this.inFlight++;
    return this.#first + this.#offsets.length - 1;
  }

  /** Marks a record done. Returns true if the commit point moved. O(1) amortised. */
  done(ticket: Ticket): boolean {
    const index = ticket - this.#first;
    if (index < 0 || this.#states[index] !== PENDING) return false;
    this.#states[index] = DONE;
    this.inFlight--;
    this.#doneAhead++;
    let moved = false;
    while (this.#states[this.#head - this.#first] === DONE) {
      this.#committable = (this.#offsets[this.#head - this.#first] ?? 0) + 1;
      this.#head++;
      this.#doneAhead--;
      moved = true;
    }
    if (moved) this.compact();
    return moved;
  }

  /** Forgets a record that will not be finished (aborted): it blocks the commit point until redelivered. */
  release(ticket: Ticket): void {
    const index = ticket - this.#first;
    if (index < 0 || this.#states[index] !== PENDING) return;
    this.#states[index] = RELEASED;
    this.inFlight--;
  }

  /**
   * The record holding the commit point back: the oldest one not done (in flight, or released after an
   * abort), or undefined when every tracked record is done. `ticket` changes whenever the head moves.
   */
  get head(): { offset: number; ticket: Ticket; released: boolean } | undefined {
    const index = this.#head - this.#first;
    const offset = this.#offsets[index];
    if (offset === undefined) return undefined;
    return { offset, ticket: this.#head, released: this.#states[index] === RELEASED };
  }

  /** Records completed beyond the head: done, but not committable until the head is. */
  get heldBack(): number {
    return this.#doneAhead;
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
    // Tickets compacted away are all below the head; they are covered once a kept one is.
    const firstKept = this.#offsets[0];
    const coversCompacted = firstKept === undefined ? offset >= (this.#committable ?? Infinity) : firstKept <= offset;
    if (this.#committedTicket < this.#first && coversCompacted) this.#committedTicket = this.#first;
    const next = this.#first + this.#offsets.length;
    while (this.#committedTicket < next && this.#committedTicket >= this.#first) {
      const tracked = this.#offsets[this.#committedTicket - this.#first];
      if (tracked === undefined || tracked >= offset) break;
      this.#committedTicket++;
    }
  }

  /**
   * Records tracked and not covered by a successful commit: in flight, done behind the head, or done
   * since the last commit. After a crash, these are processed again.
   */
  get uncommittedCount(): number {
    return this.#first + this.#offsets.length - this.#committedTicket;
  }

  /** Drops the passed prefix once it dominates, keeping memory proportional to what is in flight. */
  private compact(): void {
    const passed = this.#head - this.#first;
    if (passed < 1024 || passed * 2 < this.#offsets.length) return;
    this.#offsets = this.#offsets.slice(passed);
    this.#states = this.#states.slice(passed);
    this.#first = this.#head;
  }
}
