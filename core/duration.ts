/**
 * Durations as written in pipeline.yaml: one or more `<number><unit>` parts
 * (Go's `time.ParseDuration` syntax, unsigned), converted to milliseconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/** Why `parseDuration` rejected its input (the input itself is left to the caller's message). */
export const DURATION_HINT =
  'expected a number and a unit (ns, us, ms, s, m, h) such as "500ms", "5s" or "1m30s"';

/**
 * Parses a duration to milliseconds; `undefined` if the text is not one.
 *
 * @example
 * parseDuration('1m30s'); // 90000
 * parseDuration('250us'); // 0.25
 * parseDuration('5 sec'); // undefined
 */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text === '') return undefined;
  let totalMs = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const match = PART.exec(text);
    if (match === null || match.index !== start) return undefined;
    totalMs += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  return Number.isFinite(totalMs) ? totalMs : undefined;
}

/**
 * Formats milliseconds the shortest way `parseDuration` reads back.
 *
 * @example
 * formatDuration(90_000); // '1m30s'
 * formatDuration(1500); // '1.5s'
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1) return `${+(ms * 1000).toFixed(3)}us`;
  if (ms < 1000) return `${+ms.toFixed(6)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 ? `${+s.toFixed(6)}s` : ''}`;
}
