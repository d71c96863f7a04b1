/**
 * The guard behind "never silently idle" for group membership: after librdkafka loses the assignment
 * (the session timed out, e.g. while a broker restarted) it revokes everything and joins again, and
 * the new assignment arrives as an assign callback, even an empty one. A member still waiting for it
 * after `boundMs`, with nothing assigned, is stuck outside the group: once CI saw none come in 120 s.
 */
export class RejoinWatch {
  // When the assignment was lost, or when the last rejoin was started; undefined while assigned.
  #since: number | undefined;
  #lostAt: number | undefined;

  constructor(readonly boundMs: number) {}

  /** The assignment was lost: librdkafka revokes it and joins again. */
  lost(now: number): void {
    this.#lostAt ??= now;
    this.#since ??= now;
  }

  /** An assign callback came: the member is in the group again. */
  assigned(): void {
    this.#lostAt = undefined;
    this.#since = undefined;
  }

  /**
   * How long the member has been out of the group, when it is time to join again (once per `boundMs`).
   * `unassigned` is false while partitions are still held or being revoked: that is not waiting to join.
   */
  overdue(now: number, unassigned: boolean): number | undefined {
    if (this.#since === undefined || this.#lostAt === undefined || !unassigned) return undefined;
    if (now - this.#since < this.boundMs) return undefined;
    this.#since = now;
    return now - this.#lostAt;
  }
}

/** Three session timeouts, at least 30 s: a join waits for the other members' revokes to drain. */
export function rejoinBoundMs(sessionTimeoutMs: number): number {
  return Math.max(30_000, 3 * sessionTimeoutMs);
}
