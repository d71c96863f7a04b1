import { VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Deadlines } from './deadlines.js';

function target(log: string[], name: string) {
  return { onDeadline: () => void log.push(name) };
}

describe('Deadlines', () => {
  it('shares one timer among targets armed at the same instant, and fires each once', () => {
    const scheduler = new VirtualTimeScheduler();
    const deadlines = new Deadlines(scheduler, 10);
    const log: string[] = [];
    const [a, b, c] = [target(log, 'a'), target(log, 'b'), target(log, 'c')];
    const deadline = deadlines.next();
    expect(deadline).toBe(10);
    deadlines.arm(a, deadline);
    deadlines.arm(b, deadline);
    deadlines.arm(c, deadline);
    expect(scheduler.actions).toHaveLength(1);
    deadlines.disarm(b, 10);
    scheduler.flush();
    expect(log).toEqual(['a', 'c']);
  });

  it('cancels the timer when its last target is disarmed', () => {
    const scheduler = new VirtualTimeScheduler();
    const deadlines = new Deadlines(scheduler, 10);
    const log: string[] = [];
    const a = target(log, 'a');
    deadlines.arm(a, deadlines.next());
    deadlines.disarm(a, 10);
    deadlines.disarm(a, 10);
    scheduler.flush();
    expect(log).toEqual([]);
    expect(scheduler.frame).toBe(0);
  });

  it('keeps deadlines armed at different instants apart', () => {
    const scheduler = new VirtualTimeScheduler();
    const deadlines = new Deadlines(scheduler, 10);
    const log: string[] = [];
    deadlines.arm(target(log, 'first'), deadlines.next());
    scheduler.schedule(() => {
      deadlines.arm(target(log, 'second'), deadlines.next());
    }, 5);
    scheduler.schedule(() => {
      log.push(`at ${String(scheduler.now())}`);
    }, 12);
    scheduler.flush();
    expect(log).toEqual(['first', 'at 12', 'second']);
  });

  it('fires at once for a deadline already past', () => {
    const scheduler = new VirtualTimeScheduler();
    const deadlines = new Deadlines(scheduler, 10);
    const log: string[] = [];
    const deadline = deadlines.next();
    scheduler.schedule(() => {
      deadlines.arm(target(log, `late at ${String(scheduler.now())}`), deadline);
    }, 15);
    scheduler.flush();
    expect(log).toEqual(['late at 15']);
  });
});
