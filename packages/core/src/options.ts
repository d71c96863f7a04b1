/**
 * Option parsing shared by the rxkafka packages (`@rxkafka/core/options`): zod schemas in, `ConfigError`s
 * out, and the few checks on user-given values they share. Not part of the root API, which holds what a
 * service needs.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';

export { isPromiseLike } from './handler.js';

/** An object literal (or `Object.create(null)`): not an array, a class instance or a function. */
export function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * The longest delay a timer can hold: Node (and browsers) store it in a signed 32-bit integer and
 * fire at once (after 1 ms) when it is larger. `Infinity` says "no limit" instead.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Stands in for the value of an option that may hold a secret, in errors and logs. */
export const REDACTED = '[redacted]';

/**
 * Whether an option may hold a secret (`sasl.*`, `ssl.*`, passwords, secrets, keys), judged by its
 * name alone so that misspelled names (`sasl.pasword`) are covered too.
 */
export function isSecretKey(key: string): boolean {
  const name = key.toLowerCase();
  return (
    /^(sasl|ssl)[._]/.test(name) ||
    /(password|passwd|secret|credential|token)/.test(name) ||
    /(^|[._])key([._]|$)/.test(name)
  );
}

/**
 * Parses options with a zod schema and turns the first issue into a `ConfigError`
 * that names the field, what was expected and what was received. A misspelled option, nested or
 * not, lists the options known at that level with a "did you mean" hint. Secrets are never shown.
 */
export function parseOptions<T>(schema: z.ZodType<T>, input: unknown, prefix = ''): T {
  const result = schema.safeParse(input ?? {}, { error: expectedInWords });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new ConfigError(prefix || 'options', 'valid options', withoutSecrets([], input));
  if (issue.code === 'unrecognized_keys') {
    const parent = valueAt(input, issue.path);
    const key = issue.keys[0] ?? '';
    const known = objectAt(schema, issue.path);
    const names = known === undefined ? [] : Object.keys(known.shape);
    const suggestion = closest(key, names);
    const hint = suggestion === undefined ? '' : `; did you mean \`${suggestion}\`?`;
    const path = [...issue.path, key];
    throw new ConfigError(
      joinPath(prefix, path),
      names.length === 0 ? 'no such option' : `a known option (${names.join(', ')})${hint}`,
      withoutSecrets(path, valueAt(parent, [key])),
    );
  }
  throw new ConfigError(
    joinPath(prefix, issue.path),
    issue.message,
    withoutSecrets(issue.path, valueAt(input, issue.path)),
  );
}

/**
 * What the schema expected, in words, for schemas that do not say it themselves: zod's own messages
 * ("Invalid input: expected object, received string", "Too small: …") do not read after "expected".
 */
function expectedInWords(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.inst instanceof z.ZodObject) {
        return `an object of options (${Object.keys(issue.inst.shape).join(', ')})`;
      }
      return TYPE_IN_WORDS[issue.expected] ?? `a value of type ${issue.expected}`;
    case 'too_small':
      return sizeInWords(issue.origin, 'at least', issue.inclusive === false ? '>' : '>=', issue.minimum);
    case 'too_big':
      return sizeInWords(issue.origin, 'at most', issue.inclusive === false ? '<' : '<=', issue.maximum);
    case 'invalid_value':
      return issue.values.length === 1
        ? valueInWords(issue.values[0])
        : `one of ${issue.values.map(valueInWords).join(', ')}`;
    case 'invalid_format':
      return issue.format === 'regex' && issue.pattern !== undefined
        ? `a string matching ${issue.pattern}`
        : `a string in ${issue.format} format`;
    case 'not_multiple_of':
      return `a multiple of ${String(issue.divisor)}`;
    case 'invalid_key':
      return `an ${issue.origin} with valid keys`;
    case 'invalid_element':
      return `a ${issue.origin} of valid values`;
    case 'invalid_union':
      return 'a value of one of the accepted forms';
    default:
      return 'a valid value';
  }
}

const TYPE_IN_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  bigint: 'a bigint',
  array: 'an array',
  object: 'an object',
  record: 'an object',
  function: 'a function',
  date: 'a Date',
  // A required option left out.
  nonoptional: 'a value',
};

function sizeInWords(origin: string, atLeastOrMost: string, comparison: string, bound: number | bigint): string {
  const count = String(bound);
  if (origin === 'string') {
    return bound === 1 && comparison === '>='
      ? 'a non-empty string'
      : `a string of ${atLeastOrMost} ${count} characters`;
  }
  if (origin === 'array' || origin === 'set') {
    return bound === 1 && comparison === '>='
      ? `a non-empty ${origin}`
      : `${origin === 'array' ? 'an' : 'a'} ${origin} of ${atLeastOrMost} ${count} items`;
  }
  return `a number ${comparison} ${count}`;
}

function valueInWords(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

/**
 * The value as a `ConfigError` may show it: redacted under a secret's name, and with the secrets of
 * the objects it holds redacted (a misspelled option may hold credentials, e.g. `rdkfka: {…}`).
 */
function withoutSecrets(path: readonly PropertyKey[], value: unknown): unknown {
  if (path.some((key) => typeof key === 'string' && isSecretKey(key))) return REDACTED;
  return redactSecrets(value, new WeakSet());
}

/** Copies plain objects and arrays only where a secret is redacted; anything else is returned as it is. */
function redactSecrets(value: unknown, seen: WeakSet<object>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  // A cycle, or an object met before: shown once, never as the original with its secrets.
  if (seen.has(value)) return REDACTED;
  if (!Array.isArray(value) && !isPlainObject(value)) return value;
  seen.add(value);
  let redacted = false;
  const entries: [string, unknown][] = [];
  for (const [key, item] of Object.entries(value)) {
    const printable = isSecretKey(key) ? REDACTED : redactSecrets(item, seen);
    redacted ||= printable !== item;
    entries.push([key, printable]);
  }
  if (!redacted) return value;
  return Array.isArray(value) ? entries.map(([, item]) => item) : Object.fromEntries(entries);
}

/**
 * A duration in milliseconds: a number from 0 to `MAX_TIMER_MS`, or `Infinity` (no limit) when
 * `unlimited` says so. Larger finite values are rejected: a timer cannot hold them.
 */
export const durationMs = (what: string, { unlimited = true }: { readonly unlimited?: boolean } = {}) => {
  const expected = unlimited
    ? `${what} in milliseconds (a number from 0 to ${String(MAX_TIMER_MS)}, or Infinity for no limit)`
    : `${what} in milliseconds (a number from 0 to ${String(MAX_TIMER_MS)})`;
  // z.number() rejects Infinity, so the check is by hand.
  return z.custom<number>(
    (ms) => typeof ms === 'number' && ms >= 0 && (ms <= MAX_TIMER_MS || (unlimited && ms === Number.POSITIVE_INFINITY)),
    { error: expected },
  );
};

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

/** The object schema at `path`, looking through `.optional()`, `.nullable()` and `.default()`. */
function objectAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodObject | undefined {
  let current: z.ZodType | undefined = unwrap(schema);
  for (const key of path) {
    if (!(current instanceof z.ZodObject)) return undefined;
    const field: z.ZodType | undefined = (current.shape as Record<PropertyKey, z.ZodType | undefined>)[key];
    current = field === undefined ? undefined : unwrap(field);
  }
  return current instanceof z.ZodObject ? current : undefined;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}

/** The known name closest to a misspelled one, if it is close enough to be a typo. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = name.toLowerCase();
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // A third of the name may be wrong, and at least one character.
  return bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/** Levenshtein distance, two rows at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
