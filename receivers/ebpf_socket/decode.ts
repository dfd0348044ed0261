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
 * The u64 at `word` (two u32 words, little-endian). A value below 2^31 comes out
 * a small integer: `lo + hi * 2^32` would be a double, which the interpreter
 * (the first poll's code) stores as a 16-byte box in the sample.
 */
function u64At(u32: Uint32Array, word: number): number {
  const hi = u32[word + 1]!;
  return hi === 0 ? u32[word]! : u32[word]! + hi * TWO_32;
}
/** Polls between two trims of the sample pool to the largest batch among them. */
const TRIM_EVERY = 12;

/** Every sample the decoder makes comes from here, so they all share one V8 object shape. */
function blankSample(): SocketSample {
  return {
    cookie: -1,
    openedAtMs: 0,
    netns: 0,
    cgroupId: 0,
    pid: 0,
    comm: '',
    family: 4,
    localAddr: '',
    localPort: 0,
    remoteAddr: '',
    remotePort: 0,
    role: 'client',
    state: '',
    txBytes: 0,
    rxBytes: 0,
    retransSegs: 0,
    srttUs: 0,
    preexisting: false,
    baselineTxBytes: 0,
    baselineRxBytes: 0,
  };
}

/**
 * V8 keeps a number field of an object shape either tagged (a small integer
 * inline, other numbers as shared boxes) or, once it has held a non-integer or
 * a number beyond 2^31, as a private 16-byte box in every object of the shape.
 * A socket's netns inode and open time are such numbers, and a byte counter
 * can become one, which would box every counter of every sample. Holding
 * `null` once, in a throwaway sample, makes the fields tagged for good. With
 * `u64At` (no box for a number below 2^31, in any tier of code) and shared
 * address and command strings, a sample of a 100k batch takes 227 bytes, IPv4
 * or IPv6, in the batch that creates it (measured, Node 24: 323 / 371 bytes
 * before): 184 for the object, 8 in the pool, 16 each for the boxes of the
 * open time and the netns inode.
 */
const shape = blankSample() as unknown as Record<string, unknown>;
for (const [key, value] of Object.entries(shape)) if (typeof value === 'number') shape[key] = null;

/**
 * Decodes socket records straight from the kernel's array. At 100k sockets
 * per poll, allocation and retained memory are what cost, so:
 * - the sample objects of the previous batch are reused for the next one (the
 *   batch contract lets a producer reuse what it emitted once the next batch
 *   is out): no per-socket state is kept besides the objects a batch needs;
 * - the iterator walks the kernel table in slot order, so a socket that
 *   changes again usually lands on the object that carried it last time, and
 *   only its counters, state and owner are written;
 * - repeated addresses and command names share one string.
 * The pool is trimmed every `TRIM_EVERY` polls to the largest batch among them.
 */
export class SocketDecoder {
  private readonly pool: SocketSample[] = [];
  /** Samples handed out in the current batch. */
  private used = 0;
  private peak = 0;
  private polls = 0;
  private readonly v4 = new Map<number, string>();
  private readonly v6 = new Interned16();
  private readonly comms = new Interned16();
  private readonly bootToEpochMs: number;

  /** `bootToEpochMs` converts the kernel's monotonic nanoseconds to ms since the epoch. */
  constructor(bootToEpochMs: number) {
    this.bootToEpochMs = bootToEpochMs;
  }

  /** Sample objects kept for reuse. */
  get size(): number {
    return this.pool.length;
  }

  /**
   * Starts a new batch: every sample handed out so far may be overwritten.
   * Call once per poll, before `decode`.
   */
  begin(): void {
    this.peak = Math.max(this.peak, this.used);
    this.used = 0;
    if (++this.polls % TRIM_EVERY === 0) {
      if (this.pool.length > this.peak) this.pool.length = this.peak;
      this.peak = 0;
    }
  }

  /** Appends `count` decoded records of `records` (4-byte aligned) to `out`. */
  decode(records: Buffer, count: number, out: SocketSample[]): void {
    if (records.byteOffset % 4 !== 0) throw new Error('socket records must be 4-byte aligned');
    const u32 = new Uint32Array(records.buffer, records.byteOffset, count * W);
    const u16 = new Uint16Array(records.buffer, records.byteOffset, count * W * 2);
    const u8 = records;
    const pool = this.pool;
    for (let i = 0; i < count; i++) {
      const w = i * W;
      const b = i * RECORD.size;
      const cookie = u64At(u32, w + WORD.cookie);
      const openedAtMs = Math.round(
        (u32[w + WORD.startNs]! + u32[w + WORD.startNs + 1]! * TWO_32) / 1e6 + this.bootToEpochMs,
      );
      const state = TCP_STATES[u8[b + RECORD.state]!] ?? 'UNKNOWN';
      const txBytes = u64At(u32, w + WORD.tx);
      const rxBytes = u64At(u32, w + WORD.rx);
      const pid = u32[w + WORD.pid]!;
      let sample = pool[this.used];
      if (sample === undefined) {
        sample = blankSample();
        pool.push(sample);
      }
      this.used++;
      if (sample.cookie !== cookie || sample.openedAtMs !== openedAtMs) {
        // A new sample, another socket, or a new incarnation: everything is written.
        const fam = family(u8[b + RECORD.family]!);
        sample.cookie = cookie;
        sample.openedAtMs = openedAtMs;
        sample.netns = u32[w + WORD.netns]!;
        sample.cgroupId = u64At(u32, w + WORD.cgroupId);
        sample.family = fam;
        sample.localAddr = this.address(u32, w + WORD.localAddr, records, b + RECORD.localAddr, fam);
        sample.localPort = u16[(b + RECORD.localPort) / 2]!;
        sample.remoteAddr = this.address(u32, w + WORD.remoteAddr, records, b + RECORD.remoteAddr, fam);
        sample.remotePort = u16[(b + RECORD.remotePort) / 2]!;
        sample.role = role(u8[b + RECORD.role]!);
        sample.preexisting = (u8[b + RECORD.flags]! & SF_PREEXISTING) !== 0;
        sample.baselineTxBytes = u64At(u32, w + WORD.baseTx);
        sample.baselineRxBytes = u64At(u32, w + WORD.baseRx);
        sample.pid = pid;
        sample.comm = this.comm(u32, w + WORD.comm, records, b + RECORD.comm);
      } else if (sample.pid !== pid) {
        // Same incarnation: addresses, role, netns, cgroup and baselines are fixed; the owner is set once.
        sample.pid = pid;
        sample.comm = this.comm(u32, w + WORD.comm, records, b + RECORD.comm);
      }
      sample.state = state;
      sample.txBytes = txBytes;
      sample.rxBytes = rxBytes;
      sample.retransSegs = u32[w + WORD.retrans]!;
      sample.srttUs = u32[w + WORD.srttUs]!;
      out.push(sample);
    }
  }

  private address(u32: Uint32Array, word: number, buf: Buffer, offset: number, fam: AddressFamily): string {
    if (fam === 6) return this.v6.get(u32, word) ?? this.v6.add(u32, word, formatAddress(buf, offset, 6));
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
    return this.comms.get(u32, word) ?? this.comms.add(u32, word, readComm(buf, offset, RECORD.commLength));
  }
}

/**
 * Strings named by 16 bytes (4 u32 words: a command name, an IPv6 address):
 * each value is decoded once and its string shared by every sample that has
 * it. At most `INTERN_LIMIT` entries; emptied when full.
 */
class Interned16 {
  private readonly entries = new Map<number, { words: [number, number, number, number]; text: string }>();

  private static key(a: number, b: number, c: number, d: number): number {
    return (a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca6b) ^ Math.imul(d, 0xc2b2ae35)) >>> 0;
  }

  /** The string of the 4 words at `word`, if known. */
  get(u32: Uint32Array, word: number): string | undefined {
    const a = u32[word]!;
    const b = u32[word + 1]!;
    const c = u32[word + 2]!;
    const d = u32[word + 3]!;
    const hit = this.entries.get(Interned16.key(a, b, c, d));
    if (
      hit !== undefined &&
      hit.words[0] === a &&
      hit.words[1] === b &&
      hit.words[2] === c &&
      hit.words[3] === d
    ) {
      return hit.text;
    }
    return undefined;
  }

  /** Remembers `text` as the string of the 4 words at `word`; returns it. */
  add(u32: Uint32Array, word: number, text: string): string {
    const a = u32[word]!;
    const b = u32[word + 1]!;
    const c = u32[word + 2]!;
    const d = u32[word + 3]!;
    if (this.entries.size >= INTERN_LIMIT) this.entries.clear();
    this.entries.set(Interned16.key(a, b, c, d), { words: [a, b, c, d], text });
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
