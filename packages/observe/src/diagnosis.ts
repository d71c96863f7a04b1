/**
 * Why an assigned partition is (not) making progress: one verdict per partition, from what the source
 * reports, librdkafka's statistics and the records in flight. Pure, so every case is unit-tested.
 */

import type { PartitionStatus } from '@rxkafka/kafka';

/** From the most to the least urgent. */
export type PartitionCondition =
  | 'stalled'
  | 'revoking'
  | 'paused'
  | 'slow-record'
  | 'head-of-line'
  | 'commit-failing'
  | 'commit-waiting'
  | 'idle'
  | 'fetching';

/** What the source reports of the partition, with what librdkafka and the records in flight add. */
export interface PartitionFacts extends Pick<
  PartitionStatus,
  'topic' | 'partition' | 'paused' | 'revoking' | 'inFlight' | 'waiting' | 'waitingFor' | 'idleMs' | 'head'
> {
  /** Records waiting on the broker (librdkafka: high watermark minus committed), if known. */
  readonly lag: number | undefined;
  /** Whether lag rose since the previous look. */
  readonly lagGrowing: boolean;
  /** Which limit holds the source paused, if it is paused by backpressure. */
  readonly limit:
    | {
        readonly name: 'maxInFlight' | 'maxInFlightBytes' | 'maxUncommitted';
        readonly value: number;
        readonly max: number;
      }
    | undefined;
  /** The oldest record of this partition still in flight. */
  readonly oldest:
    { readonly offset: number; readonly handler: string | undefined; readonly sinceMs: number } | undefined;
  /** Commits have failed since the last one that succeeded. */
  readonly commitFailures: number;
  /** Completed records not committed yet, and how long ago the source's last commit succeeded (ms). */
  readonly uncommitted: number;
  readonly sinceCommitMs: number;
}

export interface DiagnosisThresholds {
  /** A record in flight this long is reported, in ms. */
  readonly slowRecordMs: number;
  /** A partition with lag that fetched nothing for this long, with nothing in flight and no pause, is stalled. */
  readonly stalledMs: number;
  /** Completed records that wait this long for a commit are reported, in ms. */
  readonly commitWaitMs: number;
}

export interface Diagnosis {
  readonly condition: PartitionCondition;
  /** One sentence for the log line and the status page. */
  readonly reason: string;
  /** True when this is a problem worth a log line. */
  readonly problem: boolean;
}

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export function diagnose(facts: PartitionFacts, thresholds: DiagnosisThresholds): Diagnosis {
  const { lag, oldest, head } = facts;
  if (facts.revoking)
    return { condition: 'revoking', reason: 'being revoked: draining in-flight records', problem: false };
  if (!facts.paused && facts.inFlight === 0 && lag !== undefined && lag > 0 && facts.idleMs >= thresholds.stalledMs) {
    return {
      condition: 'stalled',
      reason:
        `${String(lag)} records wait but nothing was fetched for ${s(facts.idleMs)}` +
        `${facts.lagGrowing ? ' and the lag grows' : ''}, while nothing holds the partition back ` +
        '(the source re-seeks it after stallTimeout)',
      problem: true,
    };
  }
  // A paused partition that waits for a slow head is diagnosed by that record: held behind it at
  // maxHeldBack, or with records done behind it filling maxInFlight.
  const heldBehindHead = facts.paused && facts.waiting > 0 && facts.waitingFor === 'maxHeldBack' && head !== undefined;
  const slow = oldest !== undefined && oldest.sinceMs >= thresholds.slowRecordMs;
  const headHoldsBack = head !== undefined && head.offset === oldest?.offset && head.heldBack > 0;
  if (facts.paused && !(slow && (heldBehindHead || headHoldsBack))) {
    if (heldBehindHead) {
      return {
        condition: 'paused',
        reason:
          `paused behind offset ${String(head.offset)}: ${String(head.heldBack)} completed records wait behind it ` +
          `(its share of maxHeldBack; a crash would process them again); it fetches again once that record finishes`,
        problem: false,
      };
    }
    const limit = facts.limit;
    return {
      condition: 'paused',
      reason:
        limit !== undefined
          ? `paused by backpressure: ${limit.name} holds (${String(limit.value)} of ${String(limit.max)})`
          : facts.waiting > 0
            ? `paused at its share of maxInFlight (${String(facts.inFlight)} in flight, ${String(facts.waiting)} waiting aside) while other partitions' keys run`
            : 'paused by the source (stopping or draining)',
      problem: false,
    };
  }
  if (oldest !== undefined && slow) {
    const where = oldest.handler === undefined ? 'waiting for a worker or its key' : `in handler ${oldest.handler}`;
    return {
      condition: 'slow-record',
      reason:
        `offset ${String(oldest.offset)} has been in flight for ${s(oldest.sinceMs)}, ${where}` +
        (headHoldsBack
          ? `; it holds the commit point back with ${String(head.heldBack)} completed records behind it`
          : ''),
      problem: true,
    };
  }
  if (
    head !== undefined &&
    head.heldBack > 0 &&
    (head.released || (oldest?.sinceMs ?? 0) >= thresholds.slowRecordMs / 2)
  ) {
    return {
      condition: 'head-of-line',
      reason:
        `commit point held at offset ${String(head.offset)} (${head.released ? 'aborted, awaiting redelivery' : 'still in flight'}); ` +
        `${String(head.heldBack)} completed records wait behind it`,
      problem: head.released,
    };
  }
  if (facts.commitFailures > 0) {
    return {
      condition: 'commit-failing',
      reason: `${String(facts.commitFailures)} commits failed since the last one that succeeded`,
      problem: true,
    };
  }
  if (facts.uncommitted > 0 && facts.sinceCommitMs >= thresholds.commitWaitMs) {
    return {
      condition: 'commit-waiting',
      reason: `${String(facts.uncommitted)} completed records wait for a commit; the last one succeeded ${s(facts.sinceCommitMs)} ago`,
      problem: true,
    };
  }
  if (facts.inFlight === 0 && (lag === undefined || lag <= 0)) {
    return {
      condition: 'idle',
      reason: lag === undefined ? 'nothing in flight' : 'no data: lag 0 (healthy idle)',
      problem: false,
    };
  }
  return {
    condition: 'fetching',
    reason: `${String(facts.inFlight)} in flight${lag === undefined ? '' : `, lag ${String(lag)}`}`,
    problem: false,
  };
}
