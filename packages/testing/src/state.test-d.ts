// Type tests (checked by `pnpm typecheck`): a state with a required field needs a value or a factory.
import { fromMemory } from './memory.js';
import { testContext } from './context-factory.js';

type Counter = { count: number };
type Notes = { note?: string };

testContext({ id: 1 });
testContext<{ id: number }, Notes>({ id: 1 });
testContext<{ id: number }, Counter>({ id: 1 }, { state: { count: 0 } });
// @ts-expect-error `state` is required: `{}` is not a Counter
testContext<{ id: number }, Counter>({ id: 1 });
// @ts-expect-error `state` is required: `{}` is not a Counter
testContext<{ id: number }, Counter>({ id: 1 }, { topic: 't' });

fromMemory([{ value: 1 }]);
fromMemory<number, Notes>([{ value: 1 }], { topic: 't' });
fromMemory<number, Counter>([{ value: 1 }], { state: () => ({ count: 0 }) });
// @ts-expect-error the factory is required
fromMemory<number, Counter>([{ value: 1 }]);
// @ts-expect-error the factory is required
fromMemory<number, Counter>([{ value: 1 }], { maxInFlight: 5 });
