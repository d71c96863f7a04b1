import { ConfigError } from '@rxkafka/core';
import { CONSUMER_KEYS, PRODUCER_KEYS } from './librdkafka-keys.js';

/** librdkafka settings as node-rdkafka takes them. */
export type LibrdkafkaConfig = Readonly<Record<string, string | number | boolean>>;

/** Stands in for the value of a key that may hold a secret, in errors and logs. */
export const REDACTED = '[redacted]';

/**
 * Whether a librdkafka key may hold a secret (`sasl.*`, `ssl.*`, passwords, secrets, keys), judged by
 * its name alone so that misspelled keys (`sasl.pasword`) are covered too.
 */
export function isSecretKey(key: string): boolean {
  const name = key.toLowerCase();
  return (
    /^(sasl|ssl)[._]/.test(name) ||
    /(password|passwd|secret|credential|token)/.test(name) ||
    /(^|[._])key([._]|$)/.test(name)
  );
}

/** The value as it may appear in an error or a log line. */
export function printableValue(key: string, value: unknown): unknown {
  return isSecretKey(key) ? REDACTED : value;
}

/**
 * Rejects unknown librdkafka keys before any native call, suggesting the closest known key.
 * librdkafka would reject them too, but later and without naming the option path.
 */
export function checkLibrdkafkaConfig(config: LibrdkafkaConfig, role: 'consumer' | 'producer', field: string): void {
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
