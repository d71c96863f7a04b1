import { ConfigError, handler, runChain } from '@rxkafka/core';
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { acknowledge } from './acknowledge.js';
import { fromKafka } from './from-kafka.js';
import { runService } from './run-service.js';
import { toKafka } from './to-kafka.js';

// No broker: nothing here gets as far as connecting, which is the point of each case.
const base = { brokers: '127.0.0.1:9', groupId: 'g', topics: ['t'], schema: z.unknown() };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const settled = <T>(promise: Promise<T>, ms = 2000): Promise<T | 'pending'> =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(resolve, ms, 'pending'))]);

describe('a source stopped before it starts', () => {
  it('completes at once when subscribed, without connecting', async () => {
    const source = fromKafka({ ...base, logger: quiet });
    await source.stop();
    expect(source.state).toBe('closed');
    await expect(settled(lastValueFrom(source.pipe(toArray())))).resolves.toEqual([]);
    expect(source.state).toBe('closed');
  });

  it('is what `await using` gives at the end of its block', async () => {
    let source: ReturnType<typeof fromKafka> | undefined;
    {
      await using scoped = fromKafka({ ...base, logger: quiet });
      source = scoped;
      expect(source.state).toBe('idle');
    }
    expect(source.state).toBe('closed');
    await expect(settled(source.closed)).resolves.toBeUndefined();
  });

  it('is what an already-aborted signal gives', async () => {
    const source = fromKafka({ ...base, logger: quiet, signal: AbortSignal.abort() });
    expect(source.state).toBe('closed');
    await expect(settled(source.closed)).resolves.toBeUndefined();
    await expect(settled(lastValueFrom(source.pipe(toArray())))).resolves.toEqual([]);
  });
});

describe('runService', () => {
  it('rejects at once when building the pipeline throws, with its error', async () => {
    const source = fromKafka({ ...base, logger: quiet, maxInFlight: 10 });
    const run = runService(source, (records) => records.pipe(runChain([], { concurrency: 64 }), acknowledge()), {
      handleSignals: false,
      logger: quiet,
    });
    const result = await settled(run.catch((error: unknown) => error));
    expect(result).toBeInstanceOf(ConfigError);
    expect((result as ConfigError).message).toContain('concurrency');
  });

  it('rejects with the sink factory’s ConfigError when it is built inside the pipeline', async () => {
    const source = fromKafka({ ...base, logger: quiet });
    const run = runService(
      source,
      (records) => records.pipe(runChain([]), toKafka({ brokers: base.brokers, deadLetterTopic: '' })),
      { handleSignals: false, logger: quiet },
    );
    const result = await settled(run.catch((error: unknown) => error));
    expect(result).toBeInstanceOf(ConfigError);
    expect((result as ConfigError).message).toContain('deadLetterTopic');
  });

  it('ends at once with no outcomes when its signal is already aborted', async () => {
    let ran = 0;
    const count = handler<unknown, Record<string, unknown>>('count', () => {
      ran++;
    });
    const source = fromKafka({ ...base, logger: quiet });
    const counts = await settled(
      runService(source, (records) => records.pipe(runChain([count]), acknowledge()), {
        handleSignals: false,
        logger: quiet,
        signal: AbortSignal.abort(),
      }),
    );
    expect(counts).toEqual({ ok: 0, break: 0, failed: 0, timeout: 0, aborted: 0, invalid: 0 });
    expect(ran).toBe(0);
    expect(source.state).toBe('closed');
  });

  it.each([
    [{ handleSignal: false }, 'handleSignal'],
    [{ handleSignals: 'no' }, 'handleSignals'],
    [{ signal: {} }, 'signal'],
    [{ onOutcome: 1 }, 'onOutcome'],
    [{ logger: {} }, 'logger'],
  ])('rejects the options %j, naming `%s`, before it starts the source', async (options, field) => {
    const source = fromKafka({ ...base, logger: quiet });
    const run = runService(source, (records) => records.pipe(runChain([]), acknowledge()), options as never);
    const result = await settled(run.catch((error: unknown) => error));
    expect(result).toBeInstanceOf(ConfigError);
    expect((result as ConfigError).message).toContain(`Invalid option \`${field}\``);
    expect(source.state).toBe('idle');
  });
});
