import { finalize, NEVER, Observable, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { DirectSubscriber } from './direct-subscriber.js';

/** Records what it is told. */
class Recorder extends DirectSubscriber<number> {
  readonly seen: string[] = [];
  protected onNext(value: number): void {
    this.seen.push(`next ${String(value)}`);
  }
  protected onError(error: unknown): void {
    this.seen.push(`error ${(error as Error).message}`);
  }
  protected onComplete(): void {
    this.seen.push('complete');
  }
}

describe('DirectSubscriber', () => {
  it('is the subscription Observable.subscribe returns: no wrapper is made around it', () => {
    const recorder = new Recorder();
    expect(NEVER.subscribe(recorder)).toBe(recorder);
    recorder.unsubscribe();
  });

  it('receives values and completion, then unsubscribes, which tears the source down', () => {
    let tornDown = 0;
    const recorder = new Recorder();
    of(1, 2)
      .pipe(
        finalize(() => {
          tornDown++;
        }),
      )
      .subscribe(recorder);
    expect(recorder.seen).toEqual(['next 1', 'next 2', 'complete']);
    expect(recorder.closed).toBe(true);
    expect(tornDown).toBe(1);
  });

  it('passes one error on and nothing after it', () => {
    const recorder = new Recorder();
    new Observable<number>((subscriber) => {
      subscriber.next(1);
      subscriber.error(new Error('boom'));
      subscriber.next(2);
      subscriber.complete();
    }).subscribe(recorder);
    expect(recorder.seen).toEqual(['next 1', 'error boom']);
    expect(recorder.closed).toBe(true);
  });

  it('delivers nothing once unsubscribed', () => {
    const recorder = new Recorder();
    const source = new Observable<number>((subscriber) => {
      recorder.unsubscribe();
      subscriber.next(1);
      subscriber.complete();
    });
    source.subscribe(recorder);
    expect(recorder.seen).toEqual([]);
  });

  it('still unsubscribes when its completion handler throws', () => {
    class Throws extends Recorder {
      protected override onComplete(): void {
        throw new Error('handler bug');
      }
    }
    const throws = new Throws();
    let tornDown = 0;
    throws.add(() => {
      tornDown++;
    });
    expect(() => {
      throws.complete();
    }).toThrow('handler bug');
    expect(throws.closed).toBe(true);
    expect(tornDown).toBe(1);
  });
});
