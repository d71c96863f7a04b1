import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * Parses options with a zod schema and turns the first issue into a `ConfigError`
 * that names the field, what was expected and what was received.
 */
export function parseOptions<T>(schema: z.ZodType<T>, input: unknown, prefix = ''): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new ConfigError(prefix || 'options', 'valid options', input);
  if (issue.code === 'unrecognized_keys') {
    const parent = valueAt(input, issue.path);
    const key = issue.keys[0] ?? '';
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape).join(', ') : '';
    throw new ConfigError(
      joinPath(prefix, [...issue.path, key]),
      known === '' ? 'no such option' : `a known option (${known})`,
      valueAt(parent, [key]),
    );
  }
  throw new ConfigError(joinPath(prefix, issue.path), issue.message, valueAt(input, issue.path));
}

/** A finite or infinite duration in milliseconds. */
export const durationMs = (what: string) =>
  z
    .number({ error: `${what} in milliseconds (a number >= 0)` })
    .min(0, { error: `${what} in milliseconds (a number >= 0)` });

export const positiveInt = (what: string) =>
  z
    .number({ error: `${what} (an integer >= 1)` })
    .int({ error: `${what} (an integer >= 1)` })
    .min(1, { error: `${what} (an integer >= 1)` });

export const fn = <T extends (...args: never[]) => unknown>(what: string) =>
  z.custom<T>((value) => typeof value === 'function', { error: `${what} (a function)` });

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  const parts = path.map(String);
  if (prefix !== '') parts.unshift(prefix);
  return parts.join('.') || 'options';
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
