/**
 * Byte sizes as written in pipeline.yaml: a plain integer of bytes, or a number
 * with a unit, binary (`KiB`, `MiB`, `GiB`, `TiB`) or decimal (`kB`, `MB`,
 * `GB`, `TB`); `B` is bytes.
 */

const UNIT_BYTES: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  kB: 1000,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
};

const SIZE = /^(\d+(?:\.\d+)?)\s?([A-Za-z]+)?$/;

/** What `parseBytes` accepts, for error messages. */
export const BYTES_HINT = 'expected a whole number of bytes or a size such as "64KiB", "16MiB" or "1GB"';

/**
 * Parses a size to a whole number of bytes; `undefined` if the text is not one
 * (unknown unit, fractional byte count, beyond 2^53).
 *
 * @example
 * parseBytes('16MiB'); // 16777216
 * parseBytes('1.5KiB'); // 1536
 * parseBytes('4096'); // 4096
 * parseBytes('16mb'); // undefined
 */
export function parseBytes(text: string): number | undefined {
  const match = SIZE.exec(text);
  if (match === null) return undefined;
  const multiplier = match[2] === undefined ? 1 : UNIT_BYTES[match[2]];
  if (multiplier === undefined) return undefined;
  const bytes = Number(match[1]) * multiplier;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
