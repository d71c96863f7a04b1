import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { closest, MAX_TIMER_MS, REDACTED } from './options.js';
import { runChain } from './run-chain.js';

const RETRY_OPTIONS = ['maxAttempts', 'initialDelay', 'maxDelay', 'multiplier', 'jitter', 'retryable', 'random'];

function configErrorOf(create: () => unknown): ConfigError | undefined {
  try {
    create();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
}

describe('durations (properties)', () => {
  it('accepts every duration a timer can hold, and Infinity as no limit', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 1, max: MAX_TIMER_MS }), fc.constant(Number.POSITIVE_INFINITY)), (ms) => {
        expect(configErrorOf(() => runChain([], { timeout: ms, deferTimeout: ms }))).toBeUndefined();
        expect(configErrorOf(() => runChain([], { retry: { maxAttempts: 2, maxDelay: ms } }))).toBeUndefined();
      }),
    );
  });

  it('rejects every finite duration above 2^31−1 ms with a ConfigError naming the option', () => {
    fc.assert(
      fc.property(
        fc.double({ min: MAX_TIMER_MS + 1, max: Number.MAX_SAFE_INTEGER, noNaN: true }),
        fc.constantFrom('timeout', 'deferTimeout'),
        (ms, field) => {
          const error = configErrorOf(() => runChain([], { [field]: ms }));
          expect(error?.field).toBe(field);
          expect(error?.message).toContain(String(MAX_TIMER_MS));
        },
      ),
    );
  });
});

describe('did you mean (properties)', () => {
  it('a one-character typo of a nested option names that option', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...RETRY_OPTIONS),
        fc.nat(),
        fc.constantFrom('drop', 'swap', 'double'),
        (name, at, typo) => {
          const i = at % (name.length - 1);
          const misspelt =
            typo === 'drop'
              ? name.slice(0, i) + name.slice(i + 1)
              : typo === 'double'
                ? name.slice(0, i) + name.charAt(i) + name.slice(i)
                : name.slice(0, i) + name.charAt(i + 1) + name.charAt(i) + name.slice(i + 2);
          fc.pre(misspelt !== name && !RETRY_OPTIONS.includes(misspelt));
          expect(closest(misspelt, RETRY_OPTIONS)).toBe(name);
          const error = configErrorOf(() => runChain([], { retry: { maxAttempts: 2, [misspelt]: 1 } }));
          expect(error?.field).toBe(`retry.${misspelt}`);
          expect(error?.expected).toContain(`did you mean \`${name}\`?`);
        },
      ),
    );
  });

  it('suggests nothing for a name unlike every option', () => {
    expect(closest('backof', RETRY_OPTIONS)).toBeUndefined();
  });
});

describe('ConfigError', () => {
  it("says what was expected in words where a schema does not, never in zod's own", () => {
    const notAnArray = configErrorOf(() => runChain([], { defers: 'x' } as never));
    expect(notAnArray?.message).toBe('Invalid option `defers`: expected an array, received "x"');
    const notAnObject = configErrorOf(() => runChain([], { retry: 'x' } as never));
    expect(notAnObject?.expected).toBe(`an object of options (${RETRY_OPTIONS.join(', ')})`);
  });

  it('never shows the value of an option named like a secret, nor the secrets a misspelled option holds', () => {
    const SECRET = 'hunter2-do-not-print';
    const named = configErrorOf(() => runChain([], { apiToken: SECRET } as never));
    expect(named?.received).toBe(REDACTED);
    const holding = configErrorOf(() => runChain([], { retyr: { maxAttempts: 2, password: SECRET } } as never));
    expect(holding?.received).toEqual({ maxAttempts: 2, password: REDACTED });
    for (const error of [named, holding]) expect(JSON.stringify(error) + String(error?.message)).not.toContain(SECRET);
  });
});
