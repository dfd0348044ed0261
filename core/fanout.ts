/**
 * Fan-out: one consumer that hands each batch to several (a receiver shared by
 * several pipelines, a pipeline with several exporters).
 */
import type { Consumer } from './signals.ts';

/**
 * A consumer that passes each batch to every one of `consumers`, concurrently.
 * It rejects when any of them rejects (an `AggregateError` when several do),
 * after all have finished. A single consumer is returned as is.
 *
 * @example
 * const next = fanout([prometheusExporter, otlpExporter]);
 * await next.consume(batch);
 */
export function fanout<T>(consumers: ReadonlyArray<Consumer<T>>): Consumer<T> {
  if (consumers.length === 1) return consumers[0] as Consumer<T>;
  const all = [...consumers];
  return {
    async consume(batch: T): Promise<void> {
      const results = await Promise.allSettled(all.map(async (consumer) => consumer.consume(batch)));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) {
        const reasons = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
        throw new AggregateError(errors, `${errors.length} of ${all.length} consumers failed: ${reasons}`);
      }
    },
  };
}
