/**
 * Pure decoding of the tracker's raw buffers into signal types. No I/O: the
 * buffers come from `SocketTracker`, or from tests.
 */
import type { AddressFamily, ClosedLinkTotals, Role, SocketSample } from '../../core/signals.ts';
import {
  formatAddress,
  LINK_KEY,
  LINK_VALUE,
  readComm,
  RECORD,
  ROLE_CLIENT,
  SF_PREEXISTING,
  TCP_STATES,
  u64,
} from './layout.ts';

function role(value: number): Role {
  return value === ROLE_CLIENT ? 'client' : 'server';
}

function family(value: number): AddressFamily {
  return value === 6 ? 6 : 4;
}

/** Words (u32) per record; field offsets in words. */
const W = RECORD.size / 4;
const WORD = {
  cookie: RECORD.cookie / 4,
  startNs: RECORD.startNs / 4,
  tx: RECORD.tx / 4,
  rx: RECORD.rx / 4,
  baseTx: RECORD.baseTx / 4,
  baseRx: RECORD.baseRx / 4,
  cgroupId: RECORD.cgroupId / 4,
  localAddr: RECORD.localAddr / 4,
  remoteAddr: RECORD.remoteAddr / 4,
  netns: RECORD.netns / 4,
  pid: RECORD.pid / 4,
  retrans: RECORD.retrans / 4,
  srttUs: RECORD.srttUs / 4,
  comm: RECORD.comm / 4,
} as const;
const TWO_32 = 0x1_0000_0000;
const INTERN_LIMIT = 65536;

/**
 * Decodes socket records straight from the kernel's array. At 100k sockets
 * per poll, allocation is what costs, so:
 * - a socket already reported gets its previous sample object back, updated
 *   in place (the batch contract lets a producer reuse what it emitted once
 *   the next batch is out); `forget` drops it when the socket is gone;
 * - repeated IPv4 addresses and command names share one string.
 */
export class SocketDecoder {
  private readonly known = new Map<number, SocketSample>();
  private readonly maxKnown: number;
  private readonly v4 = new Map<number, string>();
  private readonly comms = new Map<number, { words: [number, number, number, number]; text: string }>();
  private readonly bootToEpochMs: number;

  /**
   * `bootToEpochMs` converts the kernel's monotonic nanoseconds to ms since
   * the epoch; `maxKnown` bounds the samples kept for reuse (sockets whose
   * close was never reported, e.g. a full `gone` table, would otherwise stay).
   */
  constructor(bootToEpochMs: number, maxKnown: number) {
    this.bootToEpochMs = bootToEpochMs;
    this.maxKnown = maxKnown;
  }

  /** Sockets reported open and not yet forgotten. */
  get size(): number {
    return this.known.size;
  }

  /** Drops the samples of sockets that are gone. */
  forget(cookies: readonly number[]): void {
    for (const cookie of cookies) this.known.delete(cookie);
  }

  /** Appends `count` decoded records of `records` (4-byte aligned) to `out`. */
  decode(records: Buffer, count: number, out: SocketSample[]): void {
    if (records.byteOffset % 4 !== 0) throw new Error('socket records must be 4-byte aligned');
    const u32 = new Uint32Array(records.buffer, records.byteOffset, count * W);
    const u16 = new Uint16Array(records.buffer, records.byteOffset, count * W * 2);
    const u8 = records;
    for (let i = 0; i < count; i++) {
      const w = i * W;
      const b = i * RECORD.size;
      const cookie = u32[w + WORD.cookie]! + u32[w + WORD.cookie + 1]! * TWO_32;
      const openedAtMs = Math.round(
        (u32[w + WORD.startNs]! + u32[w + WORD.startNs + 1]! * TWO_32) / 1e6 + this.bootToEpochMs,
      );
      const state = TCP_STATES[u8[b + RECORD.state]!] ?? 'UNKNOWN';
      const txBytes = u32[w + WORD.tx]! + u32[w + WORD.tx + 1]! * TWO_32;
      const rxBytes = u32[w + WORD.rx]! + u32[w + WORD.rx + 1]! * TWO_32;
      const pid = u32[w + WORD.pid]!;
      const seen = this.known.get(cookie);
      if (seen !== undefined && seen.openedAtMs === openedAtMs) {
        // Same incarnation: addresses, role, netns, cgroup and baselines are fixed; the owner is set once.
        seen.state = state;
        seen.txBytes = txBytes;
        seen.rxBytes = rxBytes;
        seen.retransSegs = u32[w + WORD.retrans]!;
        seen.srttUs = u32[w + WORD.srttUs]!;
        if (seen.pid !== pid) {
          seen.pid = pid;
          seen.comm = this.comm(u32, w + WORD.comm, records, b + RECORD.comm);
        }
        out.push(seen);
        continue;
      }
      const fam = family(u8[b + RECORD.family]!);
      const sample: SocketSample = {
        cookie,
        openedAtMs,
        netns: u32[w + WORD.netns]!,
        cgroupId: u32[w + WORD.cgroupId]! + u32[w + WORD.cgroupId + 1]! * TWO_32,
        pid,
        comm: this.comm(u32, w + WORD.comm, records, b + RECORD.comm),
        family: fam,
        localAddr: this.address(u32, w + WORD.localAddr, records, b + RECORD.localAddr, fam),
        localPort: u16[(b + RECORD.localPort) / 2]!,
        remoteAddr: this.address(u32, w + WORD.remoteAddr, records, b + RECORD.remoteAddr, fam),
        remotePort: u16[(b + RECORD.remotePort) / 2]!,
        role: role(u8[b + RECORD.role]!),
        state,
        txBytes,
        rxBytes,
        retransSegs: u32[w + WORD.retrans]!,
        srttUs: u32[w + WORD.srttUs]!,
        preexisting: (u8[b + RECORD.flags]! & SF_PREEXISTING) !== 0,
        baselineTxBytes: u32[w + WORD.baseTx]! + u32[w + WORD.baseTx + 1]! * TWO_32,
        baselineRxBytes: u32[w + WORD.baseRx]! + u32[w + WORD.baseRx + 1]! * TWO_32,
      };
      if (this.known.size >= this.maxKnown) this.known.clear();
      this.known.set(cookie, sample);
      out.push(sample);
    }
  }

  private address(u32: Uint32Array, word: number, buf: Buffer, offset: number, fam: AddressFamily): string {
    if (fam === 6) return formatAddress(buf, offset, 6);
    const key = u32[word]!;
    let text = this.v4.get(key);
    if (text === undefined) {
      if (this.v4.size >= INTERN_LIMIT) this.v4.clear();
      text = formatAddress(buf, offset, 4);
      this.v4.set(key, text);
    }
    return text;
  }

  private comm(u32: Uint32Array, word: number, buf: Buffer, offset: number): string {
    const a = u32[word]!;
    const b = u32[word + 1]!;
    const c = u32[word + 2]!;
    const d = u32[word + 3]!;
    const key = (a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca6b) ^ Math.imul(d, 0xc2b2ae35)) >>> 0;
    const hit = this.comms.get(key);
    if (
      hit !== undefined &&
      hit.words[0] === a &&
      hit.words[1] === b &&
      hit.words[2] === c &&
      hit.words[3] === d
    ) {
      return hit.text;
    }
    if (this.comms.size >= INTERN_LIMIT) this.comms.clear();
    const text = readComm(buf, offset, RECORD.commLength);
    this.comms.set(key, { words: [a, b, c, d], text });
    return text;
  }
}

/** Appends `count` decoded entries of the links table to `out`. */
export function decodeLinks(keys: Buffer, values: Buffer, count: number, out: ClosedLinkTotals[]): void {
  for (let i = 0; i < count; i++) {
    const k = i * LINK_KEY.size;
    const v = i * LINK_VALUE.size;
    const fam = family(keys[k + LINK_KEY.family]!);
    out.push({
      family: fam,
      clientAddr: formatAddress(keys, k + LINK_KEY.clientAddr, fam),
      serverAddr: formatAddress(keys, k + LINK_KEY.serverAddr, fam),
      serverPort: keys.readUInt16LE(k + LINK_KEY.serverPort),
      observer: role(keys[k + LINK_KEY.observer]!),
      netns: keys.readUInt32LE(k + LINK_KEY.netns),
      cgroupId: u64(keys, k + LINK_KEY.cgroupId),
      comm: readComm(keys, k + LINK_KEY.comm, LINK_KEY.commLength),
      bytesClientToServer: u64(values, v + LINK_VALUE.bytesC2s),
      bytesServerToClient: u64(values, v + LINK_VALUE.bytesS2c),
      connectionsClosed: u64(values, v + LINK_VALUE.closed),
      connectionsFailed: u64(values, v + LINK_VALUE.failed),
      retransSegs: u64(values, v + LINK_VALUE.retrans),
    });
  }
}

/** Appends `count` u64 cookies to `out`. */
export function decodeCookies(cookies: Buffer, count: number, out: number[]): void {
  for (let i = 0; i < count; i++) out.push(u64(cookies, i * 8));
}
