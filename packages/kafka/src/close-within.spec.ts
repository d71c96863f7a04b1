import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeWithin } from './close-within.js';
import { CloseTimeoutError } from './errors.js';
import type { Logger } from './logger.js';

function recordingLogger(): Logger & { errors: { object: object; message: string }[] } {
  const errors: { object: object; message: string }[] = [];
  return {
    errors,
    info: () => undefined,
    warn: () => undefined,
    error: (object, message) => errors.push({ object, message }),
  };
}

describe('closeWithin', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves when the client has closed, logging nothing and leaving no timer behind', async () => {
    const logger = recordingLogger();
    await closeWithin({ disconnect: () => Promise.resolve() }, 'consumer', 30_000, logger);
    expect(logger.errors).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives a close that never ends up at the bound, loudly, with a CloseTimeoutError', async () => {
    const logger = recordingLogger();
    const published: unknown[] = [];
    const listener = (message: unknown): void => void published.push(message);
    subscribe('rxkafka:consumer.error', listener);
    try {
      let settled = false;
      const closing = closeWithin({ disconnect: () => new Promise<void>(() => undefined) }, 'consumer', 30_000, logger);
      void closing.then(() => (settled = true));
      await vi.advanceTimersByTimeAsync(29_999);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(settled).toBe(true);
      const [line] = logger.errors;
      expect(line?.message).toBe('The consumer did not close within 30000 ms; giving up on it');
      const error = (line?.object as { err: unknown }).err;
      expect(error).toBeInstanceOf(CloseTimeoutError);
      expect(error).toMatchObject({ code: 'ERR_CLOSE_TIMEOUT', client: 'consumer', timeoutMs: 30_000 });
      expect(published).toEqual([{ error }]);
    } finally {
      unsubscribe('rxkafka:consumer.error', listener);
    }
  });
});
