import { Observable, Subscription, type MonoTypeOperatorFunction, type Subscriber } from 'rxjs';
import { DirectSubscriber } from './direct-subscriber.js';

/**
 * Mirrors the source, and gives the operator before it a subscriber that keeps the subscriptions
 * added to it in a `Set`. Put after `mergeMap`: its inner subscriptions are added to the subscriber
 * downstream of it, which in RxJS 7 keeps them in an array and removes each finished one with
 * `indexOf` and `splice`. With records finishing in the order they started, that moves every other
 * running inner, each time: 2.9 µs per record at 1024 running (ReactiveX/rxjs#6400, a `Set` in RxJS 8).
 *
 * @example
 * ```ts
 * records$.pipe(mergeMap(handle, 1024), innerSubscriptionsInSet());
 * ```
 * @return An operator that passes values, errors and completion through unchanged.
 */
export function innerSubscriptionsInSet<T>(): MonoTypeOperatorFunction<T> {
  return (source) => new Observable<T>((downstream) => source.subscribe(new SetParent(downstream)));
}

/** A subscriber whose added subscriptions leave it in O(1) when they end. */
class SetParent<T> extends DirectSubscriber<T> {
  readonly #children = new Set<Subscription>();

  constructor(private readonly downstream: Subscriber<T>) {
    super();
  }

  protected onNext(value: T): void {
    this.downstream.next(value);
  }

  protected onError(error: unknown): void {
    this.downstream.error(error);
  }

  protected onComplete(): void {
    this.downstream.complete();
  }

  override add(teardown: Parameters<Subscription['add']>[0]): void {
    if (!(teardown instanceof Subscription) || teardown === this) {
      super.add(teardown);
      return;
    }
    if (teardown.closed) return;
    if (this.closed) {
      teardown.unsubscribe();
      return;
    }
    const children = this.#children;
    children.add(teardown);
    // The child's own finalizers are few: this is where it leaves the set.
    teardown.add(() => children.delete(teardown));
  }

  override unsubscribe(): void {
    if (this.closed) return;
    // Functions first, then subscriptions in the order they were added: the source, then the inners.
    super.unsubscribe();
    const children = [...this.#children];
    this.#children.clear();
    for (const child of children) child.unsubscribe();
  }
}
