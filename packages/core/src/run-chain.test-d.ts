// Type tests: checked by `pnpm typecheck` (tsc), never run.
import { filter, type Observable } from 'rxjs';
import { expectTypeOf } from 'vitest';
import type { Context, StateFactoryOption } from './context.js';
import { BREAK, handler, named, type ChainHandler, type Handler } from './handler.js';
import type { Outcome } from './outcome.js';
import { runChain, type ChainInput } from './run-chain.js';

interface Order {
  readonly id: string;
  readonly amount: number;
}
interface State {
  tier?: string;
}

declare const contexts: Observable<ChainInput<Order, State>>;

// handler() infers the context type and allows sync, Promise, Observable and BREAK results.
const validate = handler<Order, State>('validate', (ctx) => {
  expectTypeOf(ctx.record).toEqualTypeOf<Order>();
  expectTypeOf(ctx.state).toEqualTypeOf<State>();
  return ctx.record.amount > 0 ? undefined : BREAK;
});
const enrich = handler<Order, State>('enrich', async (ctx, signal) => {
  expectTypeOf(signal).toEqualTypeOf<AbortSignal>();
  ctx.state.tier = await Promise.resolve('gold');
});
const onlyBig: Handler<Order, State> = named(
  'only-big',
  filter((ctx: Context<Order, State>) => ctx.record.amount > 100),
);

const outcomes = contexts.pipe(runChain([validate, enrich, onlyBig], { concurrency: 8, ordering: 'key' }));
expectTypeOf(outcomes).toEqualTypeOf<Observable<Outcome<Order, State>>>();

outcomes.subscribe((outcome) => {
  // Narrowing on `kind` exposes what each outcome carries.
  if (outcome.kind === 'failed') expectTypeOf(outcome.handler).toBeString();
  if (outcome.kind === 'ok') expectTypeOf(outcome.context.outputs).toExtend<readonly unknown[]>();
  if (outcome.kind === 'invalid') expectTypeOf(outcome).not.toHaveProperty('context');
});

// @ts-expect-error: a handler for another record type does not fit the chain.
runChain<Order, State>([handler<{ other: true }, State>('x', () => undefined)]);

// @ts-expect-error: unknown ordering modes are rejected by the types (and at runtime).
runChain<Order, State>([], { ordering: 'random' });

// A record-agnostic handler fits any chain, beside typed ones.
const audit = handler<unknown, object>('audit', (ctx) => {
  expectTypeOf(ctx.record).toEqualTypeOf<unknown>();
});
const typedChain: ChainHandler<Order, State>[] = [audit, validate];
const withAudit = contexts.pipe(runChain([validate, audit, enrich]));
expectTypeOf(withAudit).toEqualTypeOf<Observable<Outcome<Order, State>>>();
runChain<Order, State>(typedChain);

// A handler infers its record and state from the chain it is declared in.
const declared: Handler<Order, State>[] = [
  handler('inferred', (ctx) => {
    expectTypeOf(ctx.record).toEqualTypeOf<Order>();
  }),
];
runChain(declared);

// A source's state factory is optional only when the state has no required field.
type Options<S> = { readonly topic: string } & StateFactoryOption<S>;
const optionalState: Options<State> = { topic: 't' };
const requiredState: Options<{ count: number }> = { topic: 't', state: () => ({ count: 0 }) };
// @ts-expect-error: `{ count: number }` has a required field, so the factory is required.
const missingState: Options<{ count: number }> = { topic: 't' };
expectTypeOf(optionalState).toExtend<{ readonly state?: () => State }>();
expectTypeOf(requiredState.state).toBeFunction();
expectTypeOf(missingState).toBeObject();
