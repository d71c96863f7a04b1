/**
 * Two profiles, chosen by RXKAFKA_RELIABILITY:
 * - `full`: the sizes (500,000 records, 5 kills, 2 broker restarts).
 * - anything else (default): the reduced CI profile (fewer records, one kill, one broker restart),
 *   sized so the whole suite stays within about 8 minutes on a 2-core machine.
 * RXKAFKA_RELIABILITY_RECORDS overrides the record count of either profile.
 */
export interface Profile {
  readonly name: 'full' | 'ci';
  readonly records: number;
  readonly kills: number;
  readonly brokerRestarts: number;
  /** How long the broker stays down on each restart. */
  readonly brokerDownMs: number;
  /** (b): how long members keep joining and leaving. */
  readonly churnMs: number;
  /** (e): records in the backlog behind the stalled handler, and how long it stalls. */
  readonly backlog: number;
  readonly stallMs: number;
  /** A run fails over (and the test fails) when no record reaches the output for this long. */
  readonly progressStallMs: number;
  /** Per-test timeout. */
  readonly testTimeoutMs: number;
}

const FULL: Profile = {
  name: 'full',
  records: 500_000,
  kills: 5,
  brokerRestarts: 2,
  brokerDownMs: 5000,
  churnMs: 60_000,
  backlog: 500_000,
  stallMs: 30_000,
  progressStallMs: 90_000,
  testTimeoutMs: 30 * 60_000,
};

const CI: Profile = {
  name: 'ci',
  records: 20_000,
  kills: 1,
  brokerRestarts: 1,
  brokerDownMs: 3000,
  churnMs: 15_000,
  backlog: 40_000,
  stallMs: 15_000,
  progressStallMs: 40_000,
  testTimeoutMs: 5 * 60_000,
};

export function profile(): Profile {
  const base = process.env['RXKAFKA_RELIABILITY'] === 'full' ? FULL : CI;
  const records = Number(process.env['RXKAFKA_RELIABILITY_RECORDS'] ?? '');
  return Number.isInteger(records) && records > 0
    ? { ...base, records, backlog: Math.max(records, base.backlog) }
    : base;
}

/** rxkafka's defaults for the settings the bounds are computed from (the workers do not override them). */
export const WORKER_DEFAULTS = {
  maxInFlight: 4096,
  commitEvery: 1000,
} as const;
