import { ConfigError } from '@rxkafka/core';
import { isPlainObject, isSecretKey, REDACTED } from '@rxkafka/core/options';
import { CONSUMER_KEYS, PRODUCER_KEYS } from './librdkafka-keys.js';

/** librdkafka settings as node-rdkafka takes them. */
export type LibrdkafkaConfig = Readonly<Record<string, string | number | boolean>>;

/**
 * The value as it may appear in an error or a log line. librdkafka takes only scalars, so anything else
 * is shown redacted whatever its key: `sasl: { password }` (kafkajs's form) holds credentials too.
 */
export function printableValue(key: string, value: unknown): unknown {
  return isSecretKey(key) || (typeof value === 'object' && value !== null) ? REDACTED : value;
}

/**
 * Checks `rdkafka` before any native call: an object of known librdkafka keys, suggesting the closest
 * known key for a misspelled one (librdkafka would reject it too, but later and without naming the
 * option path), with values librdkafka takes. The only check of `rdkafka`, so that every error about it
 * redacts secrets.
 */
export function checkLibrdkafkaConfig(
  config: unknown,
  role: 'consumer' | 'producer',
  field: string,
): asserts config is LibrdkafkaConfig {
  if (!isPlainObject(config)) {
    // Not key by key: whatever it is (a string of settings, a list of pairs) may hold credentials.
    throw new ConfigError(field, 'librdkafka properties (an object of key: value)', REDACTED);
  }
  const known = role === 'consumer' ? CONSUMER_KEYS : PRODUCER_KEYS;
  for (const [key, value] of Object.entries(config)) {
    if (!known.has(key)) {
      const suggestion = closest(key, known);
      throw new ConfigError(
        `${field}.${key}`,
        suggestion === undefined
          ? `a librdkafka ${role} property`
          : `a librdkafka ${role} property (did you mean \`${suggestion}\`?)`,
        printableValue(key, value),
      );
    }
    if (!['string', 'number', 'boolean'].includes(typeof value)) {
      throw new ConfigError(`${field}.${key}`, 'a string, number or boolean', printableValue(key, value));
    }
  }
}

function closest(key: string, known: ReadonlySet<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(3, Math.floor(key.length / 4)) + 1;
  for (const candidate of known) {
    const distance = editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
