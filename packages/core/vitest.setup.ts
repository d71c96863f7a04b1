/**
 * Setup for every core spec: an error thrown inside an RxJS subscriber callback goes to
 * `config.onUnhandledError`, which a marble run (virtual time) calls before the test ends; any such
 * error fails the test that caused it, instead of being lost.
 */
import { config } from 'rxjs';
import { afterEach, beforeEach, expect } from 'vitest';

let unhandled: unknown[] = [];

beforeEach(() => {
  unhandled = [];
  config.onUnhandledError = (error) => {
    unhandled.push(error);
  };
});

afterEach(() => {
  config.onUnhandledError = null;
  expect(unhandled, 'no error may escape to config.onUnhandledError').toEqual([]);
});
