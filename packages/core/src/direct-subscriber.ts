import { Subscription, type Observer } from 'rxjs';

/**
 * An observer that is its own subscription. `Observable.subscribe` takes such an object as the
 * subscriber as it is, where it wraps a plain observer in two more objects (a `SafeSubscriber` and
 * its `ConsumerObserver`), and the observer's callbacks are closures: four to six allocations per
 * subscription that live as long as it does. For the subscriptions made per record (decisions 47).
 *
 * Like RxJS's subscribers: nothing is delivered once it errored, completed or was unsubscribed, and
 * after an error or completion it unsubscribes, which tears down what it was subscribed to.
 */
export abstract class DirectSubscriber<T> extends Subscription implements Observer<T> {
  #stopped = false;

  next(value: T): void {
    if (!this.#stopped && !this.closed) this.onNext(value);
  }

  error(error: unknown): void {
    if (this.#stopped || this.closed) return;
    this.#stopped = true;
    try {
      this.onError(error);
    } finally {
      this.unsubscribe();
    }
  }

  complete(): void {
    if (this.#stopped || this.closed) return;
    this.#stopped = true;
    try {
      this.onComplete();
    } finally {
      this.unsubscribe();
    }
  }

  protected abstract onNext(value: T): void;
  protected abstract onError(error: unknown): void;
  protected abstract onComplete(): void;
}
