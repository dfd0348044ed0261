/** Waiting in tests for something another task or process does. */

/**
 * Resolves once `predicate()` holds, checking every `intervalMs`; rejects
 * with "`what`: not within `timeoutMs` ms" when it does not in time.
 *
 * @example await until(() => sink.batches.length >= 3, 'three batches', 5000);
 */
export async function until(
  predicate: () => boolean,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
