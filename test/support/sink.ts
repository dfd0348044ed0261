/**
 * A sink: an in-memory consumer that records every batch it gets, for tests
 * (after the Collector's consumertest.Sink). Not a mock: it is the real end of
 * a pipeline under test.
 */
import type { Consumer } from '../../core/signals.ts';

export class Sink<T> implements Consumer<T> {
  readonly batches: T[] = [];
  private waiters: Array<{ predicate: (batches: readonly T[]) => boolean; resolve: () => void }> = [];

  async consume(batch: T): Promise<void> {
    this.batches.push(batch);
    this.waiters = this.waiters.filter((w) => {
      if (!w.predicate(this.batches)) return true;
      w.resolve();
      return false;
    });
  }

  /** The most recent batch, if any. */
  last(): T | undefined {
    return this.batches[this.batches.length - 1];
  }

  /** Resolves once `predicate` holds over the recorded batches; rejects after `timeoutMs`. */
  waitFor(predicate: (batches: readonly T[]) => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate(this.batches)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`sink: condition not met within ${timeoutMs} ms (${this.batches.length} batches)`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ predicate, resolve: done });
    });
  }
}
