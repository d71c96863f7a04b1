/**
 * Vitest globalSetup for the integration project: one real Kafka broker per test run, shared by
 * every test file (starting a JVM per file would dominate the run time).
 *
 * Set KAFKA_BROKERS to point the tests at an existing cluster instead (e.g. a CI service).
 */
// Without a direct import of 'vitest', tsc rejects the augmentation below (TS2664) under pnpm's layout.
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startKafkaBroker } from '@rxkafka/testing';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers of the broker under test, e.g. `127.0.0.1:41234`. */
    kafkaBrokers: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const existing = process.env['KAFKA_BROKERS'];
  if (existing !== undefined && existing !== '') {
    project.provide('kafkaBrokers', existing);
    return undefined;
  }

  const broker = await startKafkaBroker();
  // Also exported via env so helpers that run outside inject() (and worker processes) can find it.
  process.env['KAFKA_BROKERS'] = broker.brokers;
  project.provide('kafkaBrokers', broker.brokers);
  return async () => {
    delete process.env['KAFKA_BROKERS'];
    await broker.stop();
  };
}
