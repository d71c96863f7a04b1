import { isDeepStrictEqual } from 'node:util';
import { AssertionError } from 'node:assert';
import { TestScheduler } from 'rxjs/testing';

/** The parts of an error a test should compare: never the stack. */
export interface ErrorShape {
  readonly name: string;
  readonly message: string;
  readonly code?: unknown;
}

/** An error's shape; any other value unchanged. */
export function errorShape(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  return code === undefined
    ? { name: error.name, message: error.message }
    : { name: error.name, message: error.message, code };
}

/** Replaces every Error inside a value by its shape, so deep equality ignores stacks. */
export function normaliseErrors(value: unknown, seen = new WeakMap<object, unknown>()): unknown {
  if (value instanceof Error) return errorShape(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(normaliseErrors(item, seen));
    return out;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [key, item] of Object.entries(value)) out[key] = normaliseErrors(item, seen);
  return out;
}

/**
 * Compares marble frames, treating errors as equal when name, message and code match
 * (the approach of rxjs' own `observableMatcher`).
 */
export function observableMatcher(actual: unknown, expected: unknown): void {
  const left = normaliseErrors(actual);
  const right = normaliseErrors(expected);
  if (!isDeepStrictEqual(left, right)) {
    throw new AssertionError({
      message: 'Marble frames differ',
      actual: left,
      expected: right,
      operator: 'deepStrictEqual',
    });
  }
}

/** A TestScheduler wired to `observableMatcher`. Make a new one per test. */
export function createTestScheduler(): TestScheduler {
  return new TestScheduler(observableMatcher);
}

/** The helpers `TestScheduler#run` passes: `cold`, `hot`, `expectObservable`, `time`, ... */
export type RunHelpers = Parameters<Parameters<TestScheduler['run']>[0]>[0];

/** Runs `callback` in virtual time with a fresh scheduler: `marbles(({ cold, expectObservable }) => ...)`. */
export function marbles<T>(callback: (helpers: RunHelpers) => T): T {
  return createTestScheduler().run(callback);
}
