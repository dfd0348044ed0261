/**
 * IP address parsing and the user's CIDR name table (`cidr_names`), matched by
 * longest prefix. Pure: no I/O, no clock.
 */

/** A parsed address: 4 bytes for IPv4 (v4-mapped IPv6 included), 16 for IPv6. */
export interface ParsedIp {
  family: 4 | 6;
  bytes: Uint8Array;
  /** Canonical text: dotted IPv4, or lower-case IPv6 without zone. */
  text: string;
}

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

function v6Text(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * Parses an IPv4 or IPv6 address. A zone (`fe80::1%eth0`) is dropped, a
 * v4-mapped address (`::ffff:10.0.0.1`) becomes IPv4. Anything else that is not
 * an address gives `undefined`.
 *
 * @example
 * parseIp('::ffff:10.1.2.3'); // { family: 4, text: '10.1.2.3', bytes: [10, 1, 2, 3] }
 */
export function parseIp(input: string): ParsedIp | undefined {
  if (input.length === 0 || input.length > 64) return undefined;
  const v4 = parseV4(input);
  if (v4 !== undefined) return { family: 4, bytes: v4, text: input };
  const zone = input.indexOf('%');
  const bare = zone >= 0 ? input.slice(0, zone) : input;
  const v6 = parseV6(bare);
  if (v6 === undefined) return undefined;
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  if (mapped) {
    const b = v6.slice(12);
    return { family: 4, bytes: b, text: `${b[0]}.${b[1]}.${b[2]}.${b[3]}` };
  }
  return { family: 6, bytes: v6, text: v6Text(v6) };
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

interface CidrEntry {
  family: 4 | 6;
  prefix: Uint8Array;
  bits: number;
  name: string;
  cidr: string;
}

function matches(entry: CidrEntry, ip: ParsedIp): boolean {
  if (entry.family !== ip.family) return false;
  const full = entry.bits >> 3;
  for (let i = 0; i < full; i++) if (entry.prefix[i] !== ip.bytes[i]) return false;
  const rest = entry.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((entry.prefix[full] as number) & mask) === ((ip.bytes[full] as number) & mask);
}

/** Thrown for a `cidr_names` key that is not a CIDR; names the key. */
export class CidrError extends Error {
  override readonly name = 'CidrError';
}

/**
 * The user's table of names for address ranges. The longest matching prefix
 * wins; two entries with the same prefix are a config error.
 *
 * @example
 * const t = new CidrTable({ '10.0.0.0/8': 'corp', '10.9.0.0/16': 'lab' });
 * t.lookup(parseIp('10.9.1.1')!); // 'lab'
 */
export class CidrTable {
  private readonly entries: CidrEntry[];

  constructor(names: Readonly<Record<string, string>>) {
    const entries: CidrEntry[] = [];
    const seen = new Map<string, string>();
    for (const [cidr, name] of Object.entries(names)) {
      const slash = cidr.indexOf('/');
      const ip = parseIp(slash < 0 ? cidr : cidr.slice(0, slash));
      if (ip === undefined) throw new CidrError(`cidr_names: ${JSON.stringify(cidr)} is not an IP prefix`);
      const max = ip.family === 4 ? 32 : 128;
      const bitsText = slash < 0 ? String(max) : cidr.slice(slash + 1);
      const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
      if (!(bits >= 0 && bits <= max)) {
        throw new CidrError(
          `cidr_names: ${JSON.stringify(cidr)} has prefix length ${bitsText}, expected 0..${max}`,
        );
      }
      if (name.length === 0) throw new CidrError(`cidr_names: ${JSON.stringify(cidr)} has an empty name`);
      const prefix = ip.bytes.slice();
      for (let b = bits; b < max; b++) prefix[b >> 3] = (prefix[b >> 3] as number) & ~(0x80 >> (b & 7));
      const canonical = `${ip.family === 4 ? Array.from(prefix).join('.') : v6Text(prefix)}/${bits}`;
      const previous = seen.get(canonical);
      if (previous !== undefined) {
        throw new CidrError(
          `cidr_names: ${JSON.stringify(cidr)} and ${JSON.stringify(previous)} are the same prefix`,
        );
      }
      seen.set(canonical, cidr);
      entries.push({ family: ip.family, prefix, bits, name, cidr });
    }
    this.entries = entries.sort((a, b) => b.bits - a.bits);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The name of the longest prefix containing `ip`, if any. */
  lookup(ip: ParsedIp): string | undefined {
    for (const e of this.entries) if (matches(e, ip)) return e.name;
    return undefined;
  }
}
