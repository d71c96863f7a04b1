import { describe, expect, it } from 'vitest';
import { AuthenticationError, AuthorizationError, DeliveryError, KafkaError } from './errors.js';
import { isRefusal, splitConfig, toKafkaError } from './rdkafka.js';

describe('toKafkaError', () => {
  it('names librdkafka codes and marks the retriable ones', () => {
    const error = toKafkaError({ code: 27, message: 'Broker: Group rebalance in progress' }, 'commit');
    expect(error).toBeInstanceOf(KafkaError);
    expect(error).toMatchObject({
      code: 'ERR_REBALANCE_IN_PROGRESS',
      errno: 27,
      retriable: true,
      fatal: false,
      message: 'commit: Broker: Group rebalance in progress',
    });
  });

  it('keeps librdkafka’s own fatal and retriable flags, and the native error as cause', () => {
    const native = { code: -150, message: 'Fatal error', isFatal: true };
    const error = toKafkaError(native, 'producer');
    expect(error).toMatchObject({ code: 'ERR__FATAL', fatal: true, retriable: false });
    expect(error.cause).toBe(native);
  });

  it('treats a failure to resolve the group coordinator as retriable, and a bad argument as not', () => {
    expect(toKafkaError({ code: -180, message: 'wait' }, 'commit').retriable).toBe(true);
    expect(toKafkaError({ code: -186, message: 'invalid argument' }, 'commit').retriable).toBe(false);
  });

  it('types refused credentials and denied operations, and never retries them', () => {
    // event.error carries only librdkafka's text; the code is recovered from it.
    const refused = toKafkaError(new Error('Local: Authentication failure'), 'consumer');
    expect(refused).toBeInstanceOf(AuthenticationError);
    expect(refused).toMatchObject({ code: 'ERR__AUTHENTICATION', retriable: false });
    const denied = toKafkaError({ code: 29, message: 'Broker: Topic authorization failed' }, 'consume');
    expect(denied).toBeInstanceOf(AuthorizationError);
    expect(denied).toMatchObject({ code: 'ERR_TOPIC_AUTHORIZATION_FAILED', retriable: false });
    const group = toKafkaError({ code: 30, message: 'Broker: Group authorization failed' }, 'commit');
    expect(group).toBeInstanceOf(AuthorizationError);
    // A delivery failure stays a DeliveryError, whatever its cause.
    expect(toKafkaError({ code: 29, message: 'denied' }, 'delivery', DeliveryError)).toBeInstanceOf(DeliveryError);
  });

  it('normalises errors without a code (delivery reports carry none)', () => {
    const error = toKafkaError(new Error('something nobody ever said'), 'delivery', DeliveryError);
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ code: 'ERR_UNKNOWN', errno: -1, retriable: false, fatal: false });
    expect(toKafkaError('just a string', 'x').message).toBe('x: just a string');
  });

  it('recovers the code of an event.error, which node-rdkafka passes as message text only', () => {
    // What node-rdkafka's LibrdKafkaError makes of librdkafka's err2str() text: prefix cut, lower case.
    const allDown = Object.assign(new Error('all broker connections are down'), { code: -1, origin: 'local' });
    expect(toKafkaError(allDown, 'producer')).toMatchObject({
      code: 'ERR__ALL_BROKERS_DOWN',
      errno: -187,
      retriable: true,
      fatal: false,
    });
    expect(toKafkaError(new Error('Local: Broker transport failure'), 'consumer')).toMatchObject({
      code: 'ERR__TRANSPORT',
      retriable: true,
    });
    expect(toKafkaError(new Error('fatal error'), 'producer')).toMatchObject({ code: 'ERR__FATAL', fatal: true });
  });

  it('classifies the transient broker and connection errors as retriable', () => {
    for (const code of [-195, -187, -193, -192, 8, 3, 6, 5, 7, 19, 56])
      expect(toKafkaError({ code, message: 'x' }, 'x').retriable, String(code)).toBe(true);
  });

  it('passes a KafkaError through unchanged', () => {
    const error = new KafkaError('m', 'ERR__STATE', -172, false, false);
    expect(toKafkaError(error, 'again')).toBe(error);
  });
});

describe('isRefusal', () => {
  it('takes the broker’s verdict on the credentials as a refusal, not a local failure of the exchange', () => {
    expect(
      isRefusal(
        '[thrd:sasl_plaintext://127.0.0.1:9092/bootstrap]: SASL authentication error: Authentication failed during ' +
          'authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256 (after 4ms in state AUTH_REQ)',
      ),
    ).toBe(true);
    expect(
      isRefusal('SASL authentication error: SaslAuthenticateRequest failed: Local: Broker transport failure'),
    ).toBe(false);
    expect(isRefusal('SASL authentication error: SaslAuthenticateResponse parsing failed: Local: Bad message')).toBe(
      false,
    );
    expect(isRefusal('Connect to ipv4#127.0.0.1:9092 failed: Connection refused')).toBe(false);
  });
});

describe('splitConfig', () => {
  it('sets the global enable.auto.commit the consumer reads, not the simple consumer’s deprecated topic alias', () => {
    const [global, topic] = splitConfig({
      'enable.auto.commit': false,
      'auto.commit.interval.ms': 1000,
      'auto.offset.reset': 'earliest',
      'message.timeout.ms': 5000,
      'compression.codec': 'lz4',
    });
    expect(global).toEqual({
      'enable.auto.commit': false,
      'auto.commit.interval.ms': 1000,
      'compression.codec': 'lz4',
    });
    // node-rdkafka's default topic config would reset these if they were global.
    expect(topic).toEqual({ 'auto.offset.reset': 'earliest', 'message.timeout.ms': 5000 });
  });
});
