/**
 * A timer for a duration option that accepts `Infinity` ("no limit"). Node fires a timer whose delay is
 * not a finite 32-bit number after 1 ms, so `setTimeout(f, Infinity)` would end the wait at once.
 */
export function timerFor(ms: number, callback: () => void): NodeJS.Timeout | undefined {
  return ms === Number.POSITIVE_INFINITY ? undefined : setTimeout(callback, ms);
}
