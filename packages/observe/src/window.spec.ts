import { describe, expect, it } from 'vitest';
import { RollingWindow } from './window.js';

describe('RollingWindow', () => {
  it('rates over full seconds, means and quantiles, and forgets old seconds', () => {
    let now = 1_000_000;
    const window = new RollingWindow(10, 100, () => now);
    for (let second = 0; second < 9; second++) {
      for (let i = 0; i < 10; i++) window.add(second === 0 ? 100 : 10, i === 0);
      now += 1000;
    }
    // 9 full seconds of 10 events each, the current second empty.
    expect(window.rate()).toBe(10);
    expect(window.failureRate()).toBe(1);
    expect(window.total).toBe(90);
    expect(window.failuresTotal).toBe(9);
    expect(window.meanMs()).toBe(20);
    expect(window.quantileMs(0.5)).toBe(10);
    // The ring (100) holds all 90 durations.
    expect(window.recentMeanMs()).toBe(20);
    expect(window.quantileMs(0.99)).toBe(100);
    now += 20_000;
    expect(window.rate()).toBe(0);
    expect(window.meanMs()).toBeUndefined();
    expect(window.total).toBe(90);
  });
});
