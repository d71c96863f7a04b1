/**
 * The producer of the raw `child` variant, in a process of its own: produces each batch the parent
 * sends (`{ id, values, keys }`) with a delivery report per record, and answers with the ids of fully
 * delivered batches (gathered for 1 ms, one message per gathering). Asked `'stats'`, it answers with its
 * CPU seconds since it was ready and its peak RSS, which the parent adds to its own.
 */
import NodeRdkafka from 'node-rdkafka';
import type { LibrdKafkaError, MessageKey } from 'node-rdkafka';
import { connectClient, cpuSeconds, peakRssMB } from './common.js';

export interface ChildBatch {
  readonly id: number;
  readonly values: (Buffer | null)[];
  readonly keys: MessageKey[];
}
export type ChildAnswer =
  number[] | { readonly error: string } | { readonly cpuSeconds: number; readonly peakRssMB: number };

const [brokers = '', topic = ''] = process.argv.slice(2);
const send = (answer: ChildAnswer | 'ready'): void => {
  process.send?.(answer);
};
const producer = new NodeRdkafka.Producer({
  'bootstrap.servers': brokers,
  'client.id': 'bench-raw-child-producer',
  dr_cb: true,
  'enable.idempotence': true,
  'linger.ms': 5,
});
await connectClient(producer);
producer.setPollInterval(5);

const remaining = new Map<number, number>();
let delivered: number[] = [];
let answerTimer: NodeJS.Timeout | undefined;
const answer = (): void => {
  answerTimer = undefined;
  send(delivered);
  delivered = [];
};
producer.on('delivery-report', (error: LibrdKafkaError | null | undefined, report) => {
  if (error) {
    send({ error: `delivery: ${error.message}` });
    return;
  }
  const id = report.opaque as number;
  const left = (remaining.get(id) ?? 1) - 1;
  if (left > 0) {
    remaining.set(id, left);
    return;
  }
  remaining.delete(id);
  delivered.push(id);
  answerTimer ??= setTimeout(answer, 1);
});

const cpuAtReady = cpuSeconds();
process.on('message', (message: ChildBatch | 'stats') => {
  if (message === 'stats') {
    send({ cpuSeconds: cpuSeconds() - cpuAtReady, peakRssMB: peakRssMB() });
    return;
  }
  remaining.set(message.id, message.values.length);
  for (let i = 0; i < message.values.length; i++) {
    // A full queue: serve delivery reports until there is room (the parent sends at most 8 batches ahead).
    for (;;) {
      try {
        producer.produce(topic, null, message.values[i] ?? null, message.keys[i], Date.now(), message.id);
        break;
      } catch (error) {
        if ((error as Partial<LibrdKafkaError>).code !== NodeRdkafka.CODES.ERRORS.ERR__QUEUE_FULL) throw error;
        producer.poll();
      }
    }
  }
});
process.on('disconnect', () => process.exit(0));
send('ready');
