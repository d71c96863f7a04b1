import { setMaxListeners } from 'node:events';
import type { SourceRecord } from '@rxkafka/core';
import { PartitionOffsets, type Ticket } from './partition-offsets.js';
import type { WatchedPartition } from './stall-guard.js';

/** The limit a partition holds its share of while its fetched records wait aside. */
export type WaitingFor = 'maxInFlight' | 'maxHeldBack';

/** One assigned partition as the source sees it now. */
export interface PartitionStatus {
  readonly topic: string;
  readonly partition: number;
  /** Held paused in librdkafka by this source (backpressure or stopping). */
  readonly paused: boolean;
  /** Being revoked: draining, nothing new is dispatched. */
  readonly revoking: boolean;
  /** Records of this partition handed downstream and not yet settled. */
  readonly inFlight: number;
  /** Records fetched and kept aside while the partition holds its share of a limit. */
  readonly waiting: number;
  /**
   * The limit whose share the partition holds while records wait aside: `maxInFlight` (records in
   * flight) or `maxHeldBack` (completed records behind its oldest unfinished one).
   */
  readonly waitingFor: WaitingFor | undefined;
  /** One past the last offset fetched in this assignment; undefined before the first record. */
  readonly nextOffset: number | undefined;
  /** The offset the next commit would store (one past the highest contiguous done record). */
  readonly committable: number | undefined;
  /** How long since the last sign of progress (a fetch, a resume, the assignment), in ms. */
  readonly idleMs: number;
  /** The oldest record not done, holding the commit point back, if any. */
  readonly head: { readonly offset: number; readonly released: boolean; readonly heldBack: number } | undefined;
}

/** What rxkafka keeps per assigned partition. Replaced on every assignment, which acts as its generation. */
export class PartitionState implements WatchedPartition {
  readonly offsets = new PartitionOffsets();
  /** Aborts the signals of this partition's records on revoke or shutdown. */
  readonly controller = new AbortController();
  revoking = false;
  /** False once revoked or assigned again: a stale state must not commit. */
  current = true;
  /** Whether rxkafka has this partition paused in librdkafka (set only with the native call). */
  paused = false;
  /** Resolves a pending drain wait when the last in-flight record settles. */
  onDrained: (() => void) | undefined;
  /**
   * Records fetched while this partition held its share of `maxInFlight` or `maxHeldBack`, in offset
   * order: kept aside (untracked, so never committed) and dispatched as the partition's own records settle.
   */
  readonly waiting: SourceRecord[] = [];
  /** Which limit the waiting records wait for. */
  waitingFor: WaitingFor | undefined;
  /** One past the last offset fetched in this assignment. */
  nextOffset: number | undefined;
  lastProgressAt = performance.now();
  /** The head-of-line record last seen, since when, and whether it was logged. */
  headTicket: Ticket | undefined;
  headSince = 0;
  headWarned = false;
  /** Since when (performance.now()) it has held its share of `maxHeldBack` at every fetch, if it does. */
  overHeldBackShareSince: number | undefined;
  /** It has held its share of `maxHeldBack` for `pauseAfter` (as of the last fetch): it may be held. */
  heldBackTooLong = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {
    // Every in-flight record listens on this signal.
    setMaxListeners(0, this.controller.signal);
  }

  status(now: number): PartitionStatus {
    const head = this.offsets.head;
    return {
      topic: this.topic,
      partition: this.partition,
      paused: this.paused,
      revoking: this.revoking,
      inFlight: this.offsets.inFlight,
      waiting: this.waiting.length,
      waitingFor: this.waiting.length > 0 ? this.waitingFor : undefined,
      nextOffset: this.nextOffset,
      committable: this.offsets.committable,
      idleMs: Math.round(now - this.lastProgressAt),
      head:
        head === undefined
          ? undefined
          : { offset: head.offset, released: head.released, heldBack: this.offsets.heldBack },
    };
  }
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${String(partition)}`;

/** The partitions assigned now, one state each. */
export class Assignment {
  // Keyed by topic and partition.
  readonly #states = new Map<string, PartitionState>();
  // The last state looked up: a fetched batch mostly comes from one partition, so most lookups skip the key.
  #last: PartitionState | undefined;

  get(topic: string, partition: number): PartitionState | undefined {
    const last = this.#last;
    if (last?.partition === partition && last.topic === topic && last.current) return last;
    const state = this.#states.get(tpKey(topic, partition));
    if (state !== undefined) this.#last = state;
    return state;
  }

  add(state: PartitionState): void {
    const key = tpKey(state.topic, state.partition);
    const replaced = this.#states.get(key);
    if (replaced !== undefined) replaced.current = false;
    this.#states.set(key, state);
  }

  delete(state: PartitionState): void {
    if (!state.current) return;
    state.current = false;
    this.#states.delete(tpKey(state.topic, state.partition));
  }

  /** False once its partition was revoked or assigned again: a stale state must not commit. */
  isCurrent(state: PartitionState): boolean {
    return state.current;
  }

  get size(): number {
    return this.#states.size;
  }

  values(): IterableIterator<PartitionState> {
    return this.#states.values();
  }

  /** Records fetched and not covered by a commit, over every partition. */
  uncommittedCount(): number {
    let count = 0;
    for (const state of this.#states.values()) count += state.offsets.uncommittedCount;
    return count;
  }
}
