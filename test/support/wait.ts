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

/**
 * Resolves with the first value `attempt()` gives other than `undefined`,
 * trying every `intervalMs`; an attempt that rejects counts as `undefined`
 * (an endpoint not listening yet). Rejects with "`what`: not within
 * `timeoutMs` ms" (the last rejection as its cause) when none comes in time.
 *
 * @example const n = await untilValue(async () => (await count()) || undefined, 'a count', 20_000, 100);
 */
export async function untilValue<T>(
  attempt: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let failure: unknown;
  for (;;) {
    failure = undefined;
    const value = await attempt().catch((e: unknown) => {
      failure = e;
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`, { cause: failure });
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
