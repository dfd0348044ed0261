/**
 * IP addresses: the one place that parses address text and formats address
 * bytes. Every address the agent emits or keys by goes through here, so the
 * receiver's text and the Kubernetes store's keys agree exactly: dotted quad
 * for IPv4 and v4-mapped IPv6, RFC 5952 for other IPv6 (lower case, no leading
 * zeros, the longest run of two or more zero groups, the first on a tie,
 * written `::`). Pure: no I/O, no clock.
 */

/** A parsed address: 4 bytes for IPv4 (v4-mapped IPv6 included), 16 for IPv6. */
export interface ParsedIp {
  family: 4 | 6;
  bytes: Uint8Array;
  /** Canonical text (see the module note); a zone is not part of it. */
  text: string;
}

/** Longest accepted input: a full IPv6 with an embedded IPv4 tail (45) plus a `%zone`. */
const MAX_INPUT_LENGTH = 64;

/** Dotted-quad IPv4, strict (no leading zeros, no spaces), by character codes: this runs per socket. */
function parseV4(text: string): Uint8Array | undefined {
  if (text.length < 7 || text.length > 15) return undefined;
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? 46 : text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined;
      value = value * 10 + (c - 48);
      if (value > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

/** IPv6 without zone: hex groups, at most one `::`, optionally an IPv4 tail as the last 32 bits. */
function parseV6(text: string): Uint8Array | undefined {
  let head = text;
  let tailV4: Uint8Array | undefined;
  const lastColon = head.lastIndexOf(':');
  if (lastColon >= 0 && head.indexOf('.', lastColon) > lastColon) {
    tailV4 = parseV4(head.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = `${head.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groupsOf(halves[0] as string);
  const right = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (left === undefined || right === undefined) return undefined;
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tailV4 !== undefined) out.set(tailV4, 12);
  return out;
}

/** True when the 16 bytes at `offset` are `::ffff:a.b.c.d`. */
function isV4Mapped(bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 10; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
}

function v4Text(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

function v6Text(bytes: Uint8Array, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) {
    groups.push(((bytes[offset + 2 * i] as number) << 8) | (bytes[offset + 2 * i + 1] as number));
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Canonical text of the address in `bytes` at `offset`: 4 bytes for family 4,
 * 16 for family 6 (a v4-mapped one is written as its IPv4).
 *
 * @example
 * formatIp(new Uint8Array([127, 0, 0, 1]), 0, 4); // '127.0.0.1'
 */
export function formatIp(bytes: Uint8Array, offset: number, family: 4 | 6): string {
  if (family === 4) return v4Text(bytes, offset);
  return isV4Mapped(bytes, offset) ? v4Text(bytes, offset + 12) : v6Text(bytes, offset);
}

/**
 * Parses an IPv4 or IPv6 address. A zone (`fe80::1%eth0`: one `%`, then a
 * non-empty name without `%`) is accepted on IPv6 and dropped; a v4-mapped
 * address (`::ffff:10.0.0.1`) becomes IPv4. Anything else that is not an
 * address gives `undefined`.
 *
 * @example
 * parseIp('::ffff:10.1.2.3'); // { family: 4, text: '10.1.2.3', bytes: [10, 1, 2, 3] }
 */
export function parseIp(input: string): ParsedIp | undefined {
  if (input.length === 0 || input.length > MAX_INPUT_LENGTH) return undefined;
  const v4 = parseV4(input);
  if (v4 !== undefined) return { family: 4, bytes: v4, text: input };
  const zone = input.indexOf('%');
  if (zone >= 0 && (zone === input.length - 1 || input.indexOf('%', zone + 1) >= 0)) return undefined;
  const v6 = parseV6(zone >= 0 ? input.slice(0, zone) : input);
  if (v6 === undefined) return undefined;
  if (isV4Mapped(v6, 0)) {
    const bytes = v6.slice(12);
    return { family: 4, bytes, text: v4Text(bytes, 0) };
  }
  return { family: 6, bytes: v6, text: v6Text(v6, 0) };
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(ip: ParsedIp): boolean {
  if (ip.family === 4) return ip.bytes[0] === 127;
  return ip.bytes.subarray(0, 15).every((b) => b === 0) && ip.bytes[15] === 1;
}

/** True for 0.0.0.0 and ::. */
export function isUnspecified(ip: ParsedIp): boolean {
  return ip.bytes.every((b) => b === 0);
}
