import { commitWaitBound } from './commits.js';
import type { ConsumerSession } from './consumer-session.js';
import { publish } from './diagnostics.js';
import { dropWaiting } from './dispatch.js';
import { type KafkaError, PartitionRevokedError } from './errors.js';
import { timerFor } from './option-timer.js';
import { PartitionState } from './partition-state.js';
import type { TopicPartition } from './rdkafka.js';

/** Takes partitions on assignment and hands them back on revoke, after draining and committing them. */
export class Rebalance<R, S> {
  constructor(private readonly session: ConsumerSession<R, S>) {}

  assign(partitions: TopicPartition[]): void {
    const { session } = this;
    const consumer = session.consumer;
    if (consumer === undefined) return;
    if (session.tornDown) {
      try {
        consumer.answerWhileClosing(partitions);
      } catch (error) {
        session.nativeError(error as KafkaError);
      }
      return;
    }
    session.rejoin.assigned();
    for (const { topic, partition } of partitions) session.assignment.add(new PartitionState(topic, partition));
    session.stats.assigned += partitions.length;
    try {
      consumer.assign(partitions);
    } catch (error) {
      session.nativeError(error as KafkaError);
    }
    // Set the pause state of every new partition explicitly: paused while backpressure holds (or the
    // source is stopping), resumed otherwise. librdkafka keeps an application's pause on a partition
    // across unassign and re-assign, so without the resume a partition revoked while paused and handed
    // back later would stay paused for good, with heartbeats going on and nothing fetched.
    const states = partitions.flatMap(({ topic, partition }) => session.assignment.get(topic, partition) ?? []);
    if (session.stats.paused || !session.accepting) session.backpressure.pause(consumer, states);
    else session.backpressure.resume(consumer, states, true);
    publish('consumer.assigned', { partitions });
  }

  /**
   * Stops dispatching, lets in-flight records finish (up to `drainTimeout`), aborts the rest and
   * waits `abortGrace` for them, commits, and only then releases.
   */
  async revoke(partitions: TopicPartition[]): Promise<void> {
    const { session } = this;
    const { settings } = session;
    const states = partitions
      .map(({ topic, partition }) => session.assignment.get(topic, partition))
      .filter((state): state is PartitionState => state !== undefined);
    for (const state of states) {
      state.revoking = true;
      dropWaiting(state, session.stats);
    }
    // Drain before aborting, as stop() does. Aborting at once left holes: a record aborted while a
    // later offset of its partition had already finished (other keys run concurrently) held the
    // commit back, so the next owner re-read, and re-produced, the finished ones: duplicates.
    // After teardown (the final revoke while disconnecting) the pipeline is unsubscribed and nothing
    // in flight can settle any more: waiting would only hold up the close by drainTimeout + abortGrace.
    // Nor can it commit: node-rdkafka refuses commits once closing ("KafkaConsumer is disconnected",
    // measured), and teardown committed just before the close.
    if (!session.tornDown) {
      await Promise.all(states.map((state) => drained(state, settings.drainTimeout)));
      const stragglers = states.filter((state) => state.offsets.inFlight > 0);
      for (const state of stragglers) state.controller.abort(new PartitionRevokedError(state.topic, state.partition));
      await Promise.all(stragglers.map((state) => drained(state, settings.abortGrace)));
      await session.commits.commitAndWait(states, commitWaitBound(settings), false);
    }
    for (const state of states) session.assignment.delete(state);
    session.stats.revoked += partitions.length;
    const consumer = session.consumer;
    try {
      consumer?.unassign(partitions);
    } catch (error) {
      session.nativeError(error as KafkaError);
    }
    // A pause must not outlive its reason: librdkafka would keep it on the partition past the unassign.
    // (Resuming an unassigned partition only clears the flag; its fetcher is stopped.)
    if (consumer !== undefined && !session.tornDown)
      session.backpressure.resume(
        consumer,
        states.filter((state) => state.paused),
      );
    else for (const state of states) if (state.paused) session.stats.pausedPartitions--;
    publish('consumer.revoked', { partitions });
  }
}

/** Resolves when `state` has nothing in flight, or after `timeoutMs`. */
function drained(state: PartitionState, timeoutMs: number): Promise<void> {
  if (state.offsets.inFlight === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = timerFor(timeoutMs, resolve);
    state.onDrained = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}
