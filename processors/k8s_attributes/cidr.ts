/**
 * The user's CIDR name table (`cidr_names`), matched by longest prefix. Pure:
 * no I/O, no clock.
 */

import type { ParsedIp } from '../../core/ip.ts';
import { formatIp, parseIp } from '../../core/ip.ts';

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
      const canonical = `${formatIp(prefix, 0, ip.family)}/${bits}`;
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
