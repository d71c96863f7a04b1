import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';

/** Something with a deadline: told once when it passes, unless disarmed first. */
export interface DeadlineTarget {
  onDeadline(): void;
}

interface Group {
  readonly targets: Set<DeadlineTarget>;
  action: Subscription | undefined;
}

/**
 * Per-record deadlines with one timer per distinct deadline instead of one per record.
 * Records that start in the same scheduler millisecond share a deadline exactly (the timeout is
 * fixed), so at high rates many share one timer; a timer per record cost about 1 µs each.
 * Runs arm only once their chain goes asynchronous: a synchronous chain cannot be interrupted.
 */
export class Deadlines {
  // Armed targets, grouped by their exact deadline (scheduler time).
  readonly #groups = new Map<number, Group>();

  constructor(
    private readonly scheduler: SchedulerLike,
    private readonly timeoutMs: number,
  ) {}

  /** The deadline of something starting now. */
  next(): number {
    return this.scheduler.now() + this.timeoutMs;
  }

  /** Tells `target` when `deadline` (from `next`) passes; at once if it already has. */
  arm(target: DeadlineTarget, deadline: number): void {
    let group = this.#groups.get(deadline);
    if (group === undefined) {
      group = { targets: new Set(), action: undefined };
      this.#groups.set(deadline, group);
      const delay = Math.max(0, deadline - this.scheduler.now());
      group.action = this.scheduler.schedule(fireGroup, delay, { deadlines: this, deadline });
    }
    group.targets.add(target);
  }

  disarm(target: DeadlineTarget, deadline: number): void {
    const group = this.#groups.get(deadline);
    if (group === undefined || !group.targets.delete(target)) return;
    if (group.targets.size === 0) {
      group.action?.unsubscribe();
      this.#groups.delete(deadline);
    }
  }

  /** @internal */
  fire(deadline: number): void {
    const group = this.#groups.get(deadline);
    if (group === undefined) return;
    this.#groups.delete(deadline);
    for (const target of group.targets) target.onDeadline();
  }
}

function fireGroup(
  this: SchedulerAction<{ deadlines: Deadlines; deadline: number }>,
  state?: { deadlines: Deadlines; deadline: number },
): void {
  state?.deadlines.fire(state.deadline);
}
