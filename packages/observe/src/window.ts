/**
 * Recent activity of one thing (a handler, a source): counts and durations in one-second buckets over
 * the last `seconds`, and a ring of the last durations for percentiles. Constant memory, O(1) per event.
 */
export class RollingWindow {
  // Per-bucket event counts, failure counts and duration sums; bucket i covers second `#epoch - (len-1) + i`.
  readonly #counts: number[];
  readonly #failures: number[];
  readonly #sums: number[];
  // The second (Math.floor(now / 1000)) of the newest bucket.
  #second: number;
  // The last durations, oldest overwritten first.
  readonly #ring: number[] = [];
  #ringNext = 0;
  // Totals since the start.
  total = 0;
  failuresTotal = 0;

  constructor(
    private readonly seconds = 10,
    private readonly ringSize = 512,
    private readonly clock: () => number = Date.now,
  ) {
    this.#counts = new Array<number>(seconds).fill(0);
    this.#failures = new Array<number>(seconds).fill(0);
    this.#sums = new Array<number>(seconds).fill(0);
    this.#second = Math.floor(clock() / 1000);
  }

  /** Records one event; `durationMs` feeds the latency figures, `failed` the failure rate. */
  add(durationMs: number | undefined, failed = false): void {
    const i = this.advance();
    this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    this.total++;
    if (failed) {
      this.#failures[i] = (this.#failures[i] ?? 0) + 1;
      this.failuresTotal++;
    }
    if (durationMs !== undefined) {
      this.#sums[i] = (this.#sums[i] ?? 0) + durationMs;
      if (this.#ring.length < this.ringSize) this.#ring.push(durationMs);
      else this.#ring[this.#ringNext] = durationMs;
      this.#ringNext = (this.#ringNext + 1) % this.ringSize;
    }
  }

  /** Events per second over the last full seconds (the current, partial one is left out). */
  rate(): number {
    const i = this.advance();
    let count = 0;
    for (let k = 0; k < this.seconds; k++) if (k !== i) count += this.#counts[k] ?? 0;
    return count / (this.seconds - 1);
  }

  /** Failures per second, likewise. */
  failureRate(): number {
    const i = this.advance();
    let count = 0;
    for (let k = 0; k < this.seconds; k++) if (k !== i) count += this.#failures[k] ?? 0;
    return count / (this.seconds - 1);
  }

  /** Mean duration over the window, in ms; undefined if nothing happened. */
  meanMs(): number | undefined {
    this.advance();
    let count = 0;
    let sum = 0;
    for (let k = 0; k < this.seconds; k++) {
      count += this.#counts[k] ?? 0;
      sum += this.#sums[k] ?? 0;
    }
    return count === 0 ? undefined : sum / count;
  }

  /** The mean of the last durations (the same ones the quantiles use), in ms. */
  recentMeanMs(): number | undefined {
    if (this.#ring.length === 0) return undefined;
    let sum = 0;
    for (const value of this.#ring) sum += value;
    return sum / this.#ring.length;
  }

  /** The q-quantile (0..1) of the last durations, in ms. */
  quantileMs(q: number): number | undefined {
    if (this.#ring.length === 0) return undefined;
    const sorted = [...this.#ring].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }

  /** Moves the buckets up to now; returns the index of the current bucket. */
  private advance(): number {
    const second = Math.floor(this.clock() / 1000);
    const gap = second - this.#second;
    if (gap > 0) {
      const clear = Math.min(gap, this.seconds);
      for (let k = 1; k <= clear; k++) {
        const i = (this.#second + k) % this.seconds;
        this.#counts[i] = 0;
        this.#failures[i] = 0;
        this.#sums[i] = 0;
      }
      this.#second = second;
    }
    return this.#second % this.seconds;
  }
}
