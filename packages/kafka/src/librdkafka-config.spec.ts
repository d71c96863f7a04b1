import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@rxkafka/core';
import { describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { REDACTED } from '@rxkafka/core/options';
import { checkLibrdkafkaConfig } from './librdkafka-config.js';

const KNOWN_SECRET_KEYS = new Set(['sasl.password']);

describe('checkLibrdkafkaConfig', () => {
  it('accepts known consumer and producer keys', () => {
    expect(() => {
      checkLibrdkafkaConfig({ 'session.timeout.ms': 6000, 'auto.offset.reset': 'latest' }, 'consumer', 'rdkafka');
    }).not.toThrow();
    expect(() => {
      checkLibrdkafkaConfig({ 'linger.ms': 10, acks: 'all' }, 'producer', 'rdkafka');
    }).not.toThrow();
  });

  it('rejects a misspelled key, naming it and suggesting the right one', () => {
    const check = () => {
      checkLibrdkafkaConfig({ 'sesion.timeout.ms': 6000 }, 'consumer', 'rdkafka');
    };
    expect(check).toThrow(ConfigError);
    expect(check).toThrow('Invalid option `rdkafka.sesion.timeout.ms`');
    expect(check).toThrow('did you mean `session.timeout.ms`?');
  });

  it('rejects a consumer-only key on a producer', () => {
    expect(() => {
      checkLibrdkafkaConfig({ 'group.id': 'x' }, 'producer', 'rdkafka');
    }).toThrow(ConfigError);
  });

  it('rejects values librdkafka cannot take', () => {
    expect(() => {
      checkLibrdkafkaConfig({ 'linger.ms': {} as unknown as number }, 'producer', 'rdkafka');
    }).toThrow('expected a string, number or boolean');
  });

  describe('never echoes a value that may be a secret', () => {
    const SECRET = 'hunter2-do-not-print';
    it.each([
      ['sasl.pasword', 'consumer'],
      ['sasl.password', 'consumer'],
      ['ssl.key.pasword', 'producer'],
      ['ssl.keystore.pasword', 'consumer'],
      ['my.secret', 'producer'],
      ['sals.password', 'consumer'],
      ['ssl_kee', 'consumer'],
    ] as const)('%s', (key, role) => {
      // A valid secret key with an invalid value type is rejected as well as a misspelled one.
      const value = KNOWN_SECRET_KEYS.has(key) ? ({ toString: () => SECRET } as unknown as string) : SECRET;
      let caught: unknown;
      try {
        checkLibrdkafkaConfig({ [key]: value }, role, 'rdkafka');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      const error = caught as ConfigError;
      // Everything a logger or a crash report could print of the error.
      const printed = [error.message, String(error.stack), JSON.stringify(error), inspect(error, { depth: 5 })];
      for (const text of printed) expect(text).not.toContain(SECRET);
      expect(error.message).toContain(REDACTED);
      expect(error.received).toBe(REDACTED);
    });

    it('still shows the value of an ordinary key', () => {
      expect(() => {
        checkLibrdkafkaConfig({ 'linger.mss': 10 }, 'producer', 'rdkafka');
      }).toThrow('received 10');
    });
  });

  it('uses a key list generated from the installed node-rdkafka', () => {
    const script = fileURLToPath(new URL('../scripts/gen-librdkafka-keys.mjs', import.meta.url));
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
