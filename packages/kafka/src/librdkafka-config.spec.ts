import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@rxkafka/core';
import { describe, expect, it } from 'vitest';
import { checkLibrdkafkaConfig } from './librdkafka-config.js';

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

  it('uses a key list generated from the installed node-rdkafka', () => {
    const script = fileURLToPath(new URL('../scripts/gen-librdkafka-keys.mjs', import.meta.url));
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
