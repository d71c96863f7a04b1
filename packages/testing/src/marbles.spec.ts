import { throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { HandlerError } from '@rxkafka/core';
import { errorShape, marbles, observableMatcher } from './marbles.js';

describe('observableMatcher', () => {
  it('treats errors as equal by name, message and code, whatever their stacks', () => {
    const a = new HandlerError('h', new Error('x'));
    const b = new HandlerError('h', new Error('x'));
    b.stack = 'elsewhere';
    expect(() => {
      observableMatcher(
        [{ frame: 0, notification: { kind: 'E', error: a } }],
        [{ frame: 0, notification: { kind: 'E', error: b } }],
      );
    }).not.toThrow();
  });

  it('tells errors apart by code', () => {
    const plain = Object.assign(new Error('x'), { code: 'A' });
    const other = Object.assign(new Error('x'), { code: 'B' });
    expect(() => {
      observableMatcher([plain], [other]);
    }).toThrow('Marble frames differ');
  });

  it('drives marble tests', () => {
    marbles(({ expectObservable }) => {
      expectObservable(throwError(() => new HandlerError('h', new Error('boom')))).toBe(
        '#',
        undefined,
        new HandlerError('h', new Error('boom')),
      );
    });
  });

  it('leaves non-errors alone', () => {
    expect(errorShape('text')).toBe('text');
    expect(errorShape(new TypeError('t'))).toEqual({ name: 'TypeError', message: 't' });
  });
});
