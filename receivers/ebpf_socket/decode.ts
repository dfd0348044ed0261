/**
 * Pure decoding of the tracker's raw buffers into signal types. No I/O: the
 * buffers come from `SocketTracker`, or from tests.
 */
import { SocketTable } from '../../core/socket-columns.ts';
import type { AddressFamily, ClosedLinkTotals, Role } from '../../core/signals.ts';
import {
  ROLE_CLIENT as COLUMN_CLIENT,
  ROLE_SERVER as COLUMN_SERVER,
  TCP_STATES,
} from '../../core/signals.ts';
import {
  formatAddress,
  LINK_KEY,
  LINK_VALUE,
  readComm,
  RECORD,
  ROLE_CLIENT,
  SF_PREEXISTING,
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
/** Strings in the table past which the next batch starts a new one (default). */
const STRING_LIMIT = 131072;
/** Polls between two trims of the columns to the largest batch among them. */
const TRIM_EVERY = 12;
/** Records a call of `SocketDecoder.decodeRows` takes. */
const RECORDS_PER_CALL = 1024;

/** The u64 at `word` (two u32 words, little-endian). */
function u64At(u32: Uint32Array, word: number): number {
  return u32[word]! + u32[word + 1]! * TWO_32;
}

/**
 * Decodes socket records straight from the kernel's array into columns (`SocketColumns`): no
 * object per socket. At 100k sockets per poll, allocation and retained memory are what cost, so:
 * - the columns of the previous batch are written over by the next one (the batch contract lets a
 *   producer reuse what it emitted once the next batch is out), 92 bytes a row;
 * - the iterator walks the kernel table in slot order, so a socket that changes again usually lands
 *   on the row that carried it last time, and only its counters, state and owner are written;
 * - addresses and command names are interned: each distinct one is formatted once and named by an
 *   id into the batch's string table, which only grows until it holds `STRING_LIMIT` strings; the
 *   next batch then starts a new table (a new array: ids of the old one mean nothing in it).
 * The columns are trimmed every `TRIM_EVERY` polls to the largest batch among them.
 */
export class SocketDecoder {
  /** The columns every batch carries (rows `0..count-1`). */
  readonly table = new SocketTable();
  private peak = 0;
  private polls = 0;
  private readonly v4 = new Map<number, number>();
  private readonly v6 = new Interned16();
  private readonly comms = new Interned16();
  private readonly bootToEpochMs: number;
  private readonly stringLimit: number;

  /**
   * `bootToEpochMs` converts the kernel's monotonic nanoseconds to ms since the epoch;
   * `stringLimit` is the size of the string table past which a batch starts a new one.
   */
  constructor(bootToEpochMs: number, stringLimit = STRING_LIMIT) {
    this.bootToEpochMs = bootToEpochMs;
    this.stringLimit = stringLimit;
  }

  /** Rows allocated for reuse. */
  get size(): number {
    return this.table.capacity;
  }

  /** Starts a new batch: every row written so far may be overwritten. Call once per poll, before `decode`. */
  begin(): void {
    const table = this.table;
    this.peak = Math.max(this.peak, table.count);
    if (++this.polls % TRIM_EVERY === 0) {
      if (table.capacity > this.peak) table.resize(this.peak);
      this.peak = 0;
    }
    table.count = 0;
    if (table.strings.length >= this.stringLimit) {
      table.strings = [];
      this.v4.clear();
      this.v6.clear();
      this.comms.clear();
      // No row left from an earlier batch can pass for a socket seen again: its ids are of the old table.
      table.openedAtMs.fill(Number.NaN);
    }
  }

  /** Appends `count` decoded records of `records` (4-byte aligned) to the table's rows. */
  decode(records: Buffer, count: number): void {
    if (records.byteOffset % 4 !== 0) throw new Error('socket records must be 4-byte aligned');
    const u32 = new Uint32Array(records.buffer, records.byteOffset, count * W);
    const u16 = new Uint16Array(records.buffer, records.byteOffset, count * W * 2);
    const t = this.table;
    const first = t.count;
    t.reserve(first + count);
    // Before the loop: V8 compiles the loop of a first large call while it runs (on-stack replacement)
    // and code after it, not yet run then, would throw that code away at the end of every call.
    t.count = first + count;
    for (let from = 0; from < count; from += RECORDS_PER_CALL) {
      this.decodeRows(u32, u16, records, first, from, Math.min(count, from + RECORDS_PER_CALL));
    }
  }

  /**
   * Records `from` to `to` (excluded) into the rows from `first + from`. A method called per
   * `RECORDS_PER_CALL` records: V8 compiles it once it has been called often enough, and that code
   * outlives the last-resort collection the receiver runs after a large batch (`core/memory.ts`),
   * where a loop's code compiled while it runs (on-stack replacement) does not: the next large batch
   * compiled the loop again (8-10 ms of V8's threads).
   */
  private decodeRows(
    u32: Uint32Array,
    u16: Uint16Array,
    u8: Buffer,
    first: number,
    from: number,
    to: number,
  ): void {
    for (let i = from; i < to; i++) this.decodeRow(u32, u16, u8, i, first + i);
  }

  /**
   * Record `i` into row `row`. A method of its own, called per record, so that V8 compiles it once
   * for good (see `decodeRows`): compiled as part of the loop, it was compiled again by the next
   * large batch, 20-25 ms of V8's threads.
   */
  private decodeRow(u32: Uint32Array, u16: Uint16Array, u8: Buffer, i: number, row: number): void {
    const t = this.table;
    const w = i * W;
    const b = i * RECORD.size;
    const cookie = u64At(u32, w + WORD.cookie);
    const openedAtMs = Math.round(
      (u32[w + WORD.startNs]! + u32[w + WORD.startNs + 1]! * TWO_32) / 1e6 + this.bootToEpochMs,
    );
    const pid = u32[w + WORD.pid]!;
    // Each compared on every row (no short cut), so that a first poll of new sockets runs and
    // compiles the comparisons the next polls make for sockets seen again (V8 compiles code first
    // run in a later poll there, at a cost to that poll).
    const sameCookie = t.cookie[row] === cookie;
    const sameOpen = t.openedAtMs[row] === openedAtMs;
    const samePid = t.pid[row] === pid;
    if (!sameCookie || !sameOpen) {
      // Another socket, or a new incarnation: everything is written.
      const fam = family(u8[b + RECORD.family]!);
      t.cookie[row] = cookie;
      t.openedAtMs[row] = openedAtMs;
      t.netns[row] = u32[w + WORD.netns]!;
      t.cgroupId[row] = u64At(u32, w + WORD.cgroupId);
      t.family[row] = fam;
      t.localAddr[row] = this.address(u32, w + WORD.localAddr, u8, b + RECORD.localAddr, fam);
      t.localPort[row] = u16[(b + RECORD.localPort) / 2]!;
      t.remoteAddr[row] = this.address(u32, w + WORD.remoteAddr, u8, b + RECORD.remoteAddr, fam);
      t.remotePort[row] = u16[(b + RECORD.remotePort) / 2]!;
      t.role[row] = u8[b + RECORD.role] === ROLE_CLIENT ? COLUMN_CLIENT : COLUMN_SERVER;
      t.preexisting[row] = (u8[b + RECORD.flags]! & SF_PREEXISTING) !== 0 ? 1 : 0;
      t.baselineTxBytes[row] = u64At(u32, w + WORD.baseTx);
      t.baselineRxBytes[row] = u64At(u32, w + WORD.baseRx);
      t.pid[row] = pid;
      t.comm[row] = this.comm(u32, w + WORD.comm, u8, b + RECORD.comm);
    } else if (!samePid) {
      // Same incarnation: addresses, role, netns, cgroup and baselines are fixed; the owner is set once.
      t.pid[row] = pid;
      t.comm[row] = this.comm(u32, w + WORD.comm, u8, b + RECORD.comm);
    }
    const state = u8[b + RECORD.state]!;
    t.state[row] = state < TCP_STATES.length ? state : 0;
    t.txBytes[row] = u64At(u32, w + WORD.tx);
    t.rxBytes[row] = u64At(u32, w + WORD.rx);
    t.retransSegs[row] = u32[w + WORD.retrans]!;
    t.srttUs[row] = u32[w + WORD.srttUs]!;
  }

  private intern(text: string): number {
    const strings = this.table.strings;
    strings.push(text);
    return strings.length - 1;
  }

  private address(u32: Uint32Array, word: number, buf: Buffer, offset: number, fam: AddressFamily): number {
    if (fam === 6) {
      return this.v6.get(u32, word) ?? this.v6.add(u32, word, this.intern(formatAddress(buf, offset, 6)));
    }
    // `| 0`: a small integer key (an address above 2^31 would be a boxed number in the map).
    const key = u32[word]! | 0;
    let id = this.v4.get(key);
    if (id === undefined) {
      id = this.intern(formatAddress(buf, offset, 4));
      this.v4.set(key, id);
    }
    return id;
  }

  private comm(u32: Uint32Array, word: number, buf: Buffer, offset: number): number {
    return (
      this.comms.get(u32, word) ??
      this.comms.add(u32, word, this.intern(readComm(buf, offset, RECORD.commLength)))
    );
  }
}

/**
 * String ids named by 16 bytes (4 u32 words: a command name, an IPv6 address): each value is
 * decoded once. A hash collision replaces the older entry (its value gets a new id when seen again).
 */
class Interned16 {
  private readonly entries = new Map<number, { a: number; b: number; c: number; d: number; id: number }>();

  private static key(a: number, b: number, c: number, d: number): number {
    return a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca6b) ^ Math.imul(d, 0xc2b2ae35);
  }

  /** The id of the 4 words at `word`, if known. */
  get(u32: Uint32Array, word: number): number | undefined {
    const a = u32[word]!;
    const b = u32[word + 1]!;
    const c = u32[word + 2]!;
    const d = u32[word + 3]!;
    const hit = this.entries.get(Interned16.key(a, b, c, d));
    if (hit !== undefined && hit.a === a && hit.b === b && hit.c === c && hit.d === d) return hit.id;
    return undefined;
  }

  /** Remembers `id` as the id of the 4 words at `word`; returns it. */
  add(u32: Uint32Array, word: number, id: number): number {
    const a = u32[word]!;
    const b = u32[word + 1]!;
    const c = u32[word + 2]!;
    const d = u32[word + 3]!;
    this.entries.set(Interned16.key(a, b, c, d), { a, b, c, d, id });
    return id;
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * Decodes the kernel's closed totals (the links table, read whole at every poll) into
 * `ClosedLinkTotals`, one object per kernel key for as long as the key is in the table: a key seen
 * again has its counters written into the object it had, and no address or command text is
 * formatted again (the key's bytes are read as one latin1 string to find it). On a busy node the
 * table holds thousands of keys, most of them unchanged since the last poll, which each poll made
 * into a new object and three strings. An object is valid until the next poll, as a batch is
 * (`core/signals.ts`).
 */
export class LinkDecoder {
  /** By the key's bytes (latin1 text), with the poll that last saw it. */
  private readonly byKey = new Map<string, { totals: ClosedLinkTotals; poll: number }>();
  private poll = 0;
  private seen = 0;

  /** Keys held. */
  get size(): number {
    return this.byKey.size;
  }

  /** Starts a poll: call before the chunks of one read of the table. */
  begin(): void {
    this.poll++;
    this.seen = 0;
  }

  /** Appends the totals of `count` entries of the links table to `out`. */
  decode(keys: Buffer, values: Buffer, count: number, out: ClosedLinkTotals[]): void {
    for (let i = 0; i < count; i++) {
      const k = i * LINK_KEY.size;
      const v = i * LINK_VALUE.size;
      const id = keys.toString('latin1', k, k + LINK_KEY.size);
      let entry = this.byKey.get(id);
      if (entry === undefined) {
        entry = { totals: linkTotals(keys, k), poll: 0 };
        this.byKey.set(id, entry);
      }
      if (entry.poll !== this.poll) this.seen++;
      entry.poll = this.poll;
      const t = entry.totals;
      t.bytesClientToServer = u64(values, v + LINK_VALUE.bytesC2s);
      t.bytesServerToClient = u64(values, v + LINK_VALUE.bytesS2c);
      t.connectionsClosed = u64(values, v + LINK_VALUE.closed);
      t.connectionsFailed = u64(values, v + LINK_VALUE.failed);
      t.retransSegs = u64(values, v + LINK_VALUE.retrans);
      out.push(t);
    }
  }

  /** Ends a poll: forgets the keys the table no longer holds. */
  end(): void {
    if (this.seen === this.byKey.size) return;
    for (const [id, entry] of this.byKey) if (entry.poll !== this.poll) this.byKey.delete(id);
  }
}

/** The key at byte `k` of `keys` as totals, counters zero. */
function linkTotals(keys: Buffer, k: number): ClosedLinkTotals {
  const fam = family(keys[k + LINK_KEY.family]!);
  return {
    family: fam,
    clientAddr: formatAddress(keys, k + LINK_KEY.clientAddr, fam),
    serverAddr: formatAddress(keys, k + LINK_KEY.serverAddr, fam),
    serverPort: keys.readUInt16LE(k + LINK_KEY.serverPort),
    observer: role(keys[k + LINK_KEY.observer]!),
    netns: keys.readUInt32LE(k + LINK_KEY.netns),
    cgroupId: u64(keys, k + LINK_KEY.cgroupId),
    comm: readComm(keys, k + LINK_KEY.comm, LINK_KEY.commLength),
    bytesClientToServer: 0,
    bytesServerToClient: 0,
    connectionsClosed: 0,
    connectionsFailed: 0,
    retransSegs: 0,
  };
}

/** Appends `count` u64 cookies to `out`. */
export function decodeCookies(cookies: Buffer, count: number, out: number[]): void {
  for (let i = 0; i < count; i++) out.push(u64(cookies, i * 8));
}
