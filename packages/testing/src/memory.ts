import { Observable, tap, type MonoTypeOperatorFunction } from 'rxjs';
import { createContext, type Context, type Outcome, type OutputRecord, type StateFactoryOption } from '@rxkafka/core';

export interface MemoryRecord<R> {
  readonly key?: string | null;
  readonly value: R;
  readonly partition?: number;
}

/** Options of `fromMemory`; `state` is required by the types when `S` has a required field. */
export type MemorySourceOptions<S> = {
  readonly topic?: string;
  /** Records emitted but not yet acknowledged; like fromKafka's limit, this is the backpressure. Default 1000. */
  readonly maxInFlight?: number;
} & StateFactoryOption<S>;

/** The options argument may be left out only when the state needs no factory. */
type MemoryOptionsArgument<S> =
  Record<string, never> extends S ? [options?: MemorySourceOptions<S>] : [options: MemorySourceOptions<S>];

/**
 * An in-memory source that behaves like fromKafka: it emits contexts while fewer than
 * `maxInFlight` are unacknowledged, and emits more as outcomes are acknowledged.
 * Offsets count up per partition.
 */
export function fromMemory<R, S = Record<string, unknown>>(
  records: Iterable<MemoryRecord<R>>,
  ...[options]: MemoryOptionsArgument<S>
): Observable<Context<R, S>> {
  const topic = options?.topic ?? 'memory';
  const maxInFlight = options?.maxInFlight ?? 1000;
  // Without a factory every field of S is optional (the types see to it), so {} is a valid S.
  const makeState = (options as { state?: () => S } | undefined)?.state ?? ((): S => ({}) as S);
  return new Observable<Context<R, S>>((subscriber) => {
    const iterator = records[Symbol.iterator]();
    const offsets = new Map<number, number>();
    // Emitted and not yet acknowledged.
    let inFlight = 0;
    // True while `pump` runs, so an ack from inside it loops instead of recursing.
    let pumping = false;
    let exhausted = false;

    const settle = (): void => {
      inFlight--;
      pump();
    };

    const pump = (): void => {
      if (pumping) return;
      pumping = true;
      while (!subscriber.closed && !exhausted && inFlight < maxInFlight) {
        const next = iterator.next();
        if (next.done === true) {
          exhausted = true;
          break;
        }
        const { key = null, value, partition = 0 } = next.value;
        const offset = offsets.get(partition) ?? 0;
        offsets.set(partition, offset + 1);
        inFlight++;
        let settled = false;
        const settleOnce = (): void => {
          if (settled) return;
          settled = true;
          settle();
        };
        subscriber.next(
          createContext({
            record: value,
            source: {
              topic,
              partition,
              offset,
              key: key === null ? null : Buffer.from(key),
              value: null,
              headers: [],
              timestamp: Date.now(),
            },
            state: makeState(),
            ack: settleOnce,
            nack: settleOnce,
          }),
        );
      }
      pumping = false;
      if (exhausted && inFlight === 0) subscriber.complete();
    };

    pump();
  });
}

/** An in-memory sink: collects the outputs of `ok` outcomes, then acknowledges every outcome (aborted ones are released, not acknowledged). */
export function toMemory<R, S>(outputs: OutputRecord[] = []): MonoTypeOperatorFunction<Outcome<R, S>> {
  return tap((outcome) => {
    if (outcome.kind === 'ok') outputs.push(...outcome.context.outputs);
    // An aborted record was never finished: it is released uncommitted, to be redelivered.
    if (outcome.kind === 'aborted') outcome.nack();
    else outcome.ack();
  });
}
