/**
 * Per-socket state of the aggregator as columns (struct of arrays): one slot per open socket,
 * found by cookie. At 100k open sockets an object per socket (a `SocketState` of 14 fields, its
 * hidden class and boxed numbers) took about 200 bytes; a slot takes 73 bytes of columns plus 12-24
 * in the cookie index.
 *
 * A slot freed during a batch (`remove`) keeps its values and is not handed out again before
 * `endBatch`: a caller may still read a socket it released in the same batch, and tell it was
 * released (`RELEASED`).
 */

/** `flags` bits. */
export const SERVER = 1;
/** Counted as opened (seen established, not pre-existing). */
export const COUNTED_OPENED = 2;
export const PREEXISTING = 4;
/** Counted in its link's activeConnections. */
export const ACTIVE = 8;
/** No longer tracked (gone, or replaced by a new incarnation): its slot is free at `endBatch`. */
export const RELEASED = 16;
/** Its provisional answer read the pid (`answerPid`). */
export const READS_PID = 32;

/** A column of `SocketSlots`. */
type Column = Float64Array | Uint32Array | Int32Array | Uint8Array;

/** Slots kept at least, however few sockets are open. */
const MIN_CAPACITY = 1024;

/**
 * Cookie to slot, by open addressing on typed arrays (linear probing, deletion by shifting the
 * entries that follow back): 12 bytes an entry, at most 7/8 full, against about 37 for a `Map` of
 * 100k numbers (its hash table of 2^17 entries), and no boxed number for a cookie of 2^31 or more.
 */
export class CookieIndex {
  private keys = new Float64Array(0);
  /** Slot of the entry; -1: empty. */
  private values = new Int32Array(0);
  private mask = -1;
  private count = 0;

  constructor() {
    this.rehash(MIN_CAPACITY);
  }

  get size(): number {
    return this.count;
  }

  /** Entries allocated. */
  get capacity(): number {
    return this.values.length;
  }

  /** The slot of `cookie`, or -1. */
  get(cookie: number): number {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    for (let i = CookieIndex.hash(cookie) & mask; ;) {
      const v = values[i]!;
      // The key compared and the next entry computed whatever this one holds: the first batch looks
      // up its sockets in an empty index, where nothing else would run them, and V8 would compile
      // this again (inlined where it is called) in the next batch that does.
      const hit = keys[i] === cookie;
      const next = (i + 1) & mask;
      if (v < 0 || hit) return v;
      i = next;
    }
  }

  /** Makes room for `entries` entries in all, at most 7/8 full, in one step. */
  reserve(entries: number): void {
    let capacity = this.values.length;
    while (entries * 8 > capacity * 7) capacity *= 2;
    if (capacity > this.values.length) this.rehash(capacity);
  }

  /** Sets the slot of `cookie` (a new entry, or a new slot for it). */
  set(cookie: number, slot: number): void {
    if ((this.count + 1) * 8 > this.values.length * 7) this.rehash(this.values.length * 2);
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let i = CookieIndex.hash(cookie) & mask;
    while (values[i]! >= 0 && keys[i] !== cookie) i = (i + 1) & mask;
    if (values[i]! < 0) this.count++;
    keys[i] = cookie;
    values[i] = slot;
  }

  /** Removes `cookie`, if present. */
  delete(cookie: number): void {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let i = CookieIndex.hash(cookie) & mask;
    for (; ; i = (i + 1) & mask) {
      if (values[i]! < 0) return;
      if (keys[i] === cookie) break;
    }
    this.count--;
    // Entries after the hole that would not be found past it move back into it.
    for (let j = (i + 1) & mask; values[j]! >= 0; j = (j + 1) & mask) {
      const home = CookieIndex.hash(keys[j]!) & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        keys[i] = keys[j]!;
        values[i] = values[j]!;
        i = j;
      }
    }
    values[i] = -1;
    if (this.values.length > MIN_CAPACITY && this.count * 8 < this.values.length) {
      this.rehash(this.values.length / 2);
    }
  }

  /** Calls `fn` with every entry; `fn` may change the entry's slot (the value it returns). */
  remap(fn: (cookie: number, slot: number) => number): void {
    const keys = this.keys;
    const values = this.values;
    for (let i = 0; i < values.length; i++) if (values[i]! >= 0) values[i] = fn(keys[i]!, values[i]!);
  }

  private static hash(cookie: number): number {
    const h = Math.imul((cookie >>> 0) ^ Math.imul((cookie / 0x1_0000_0000) >>> 0, 0x9e3779b1), 0x85ebca6b);
    return h ^ (h >>> 15);
  }

  private rehash(capacity: number): void {
    const keys = this.keys;
    const values = this.values;
    this.keys = new Float64Array(capacity);
    this.values = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
    this.count = 0;
    for (let i = 0; i < values.length; i++) if (values[i]! >= 0) this.set(keys[i]!, values[i]!);
  }
}

export class SocketSlots {
  /** The socket's cookie; NaN in a free slot. */
  cookie = new Float64Array(0);
  openedAtMs = new Float64Array(0);
  /** Counters credited so far. */
  tx = new Float64Array(0);
  rx = new Float64Array(0);
  retrans = new Uint32Array(0);
  /** Index of the socket's kernel key state. */
  key = new Int32Array(0);
  /** Index of the socket's link state; -1 while it has none. */
  link = new Int32Array(0);
  flags = new Uint8Array(0);
  /**
   * The provisional answer the socket is named by, until a settled one comes: the version of the
   * inputs it read as of its computation (NaN: settled, no provisional answer), which inputs (a mask;
   * NaN: all), when it may change with no input moving (Infinity: never), and the pid it read
   * (with `READS_PID`). Numbers, not the answer: the socket's link is what the answer gave.
   */
  answerVersion = new Float64Array(0);
  answerInputs = new Float64Array(0);
  answerRecheckAtMs = new Float64Array(0);
  answerPid = new Uint32Array(0);
  private readonly byCookie = new CookieIndex();
  /** Slots below it have been handed out at some time. */
  private highWater = 0;
  private free = new Int32Array(0);
  private freeCount = 0;
  /** Slots released in this batch. */
  private readonly pending: number[] = [];

  constructor() {
    this.allocate(MIN_CAPACITY);
  }

  /** Sockets tracked. */
  get size(): number {
    return this.byCookie.size;
  }

  /** Slots allocated. */
  get capacity(): number {
    return this.flags.length;
  }

  /** The slot of `cookie`, or -1. */
  find(cookie: number): number {
    return this.byCookie.get(cookie);
  }

  /**
   * `find`, trying `hint` first: the slot the caller saw `cookie` in last (a batch lists its sockets
   * in the order of the kernel's table, so row `i` is usually the socket of row `i` of the batch
   * before). A hit reads the slot's cookie, next to the slots of the rows around it, where `find`
   * reads two random places of a table of 1.5 MB at 100k sockets: 5-8 ms less per 100k rows.
   */
  findFrom(hint: number, cookie: number): number {
    const cookies = this.cookie;
    return hint >= 0 && hint < cookies.length && cookies[hint] === cookie ? hint : this.byCookie.get(cookie);
  }

  /**
   * Makes room for `sockets` more sockets in one step (the columns and the cookie index grow once
   * for a batch of new sockets rather than by halves as they come: 30 ms less for 100k).
   */
  reserve(sockets: number): void {
    const needed = this.highWater + Math.max(0, sockets - this.freeCount);
    if (needed > this.capacity) this.resize(Math.max(needed, Math.ceil(this.capacity * 1.5)));
    this.byCookie.reserve(this.byCookie.size + sockets);
  }

  /** A slot for a new socket, every column zero (`key` and `link` -1, settled). */
  add(cookie: number): number {
    let slot: number;
    if (this.freeCount > 0) slot = this.free[--this.freeCount]!;
    else {
      if (this.highWater === this.capacity)
        this.resize(Math.max(MIN_CAPACITY, Math.ceil(this.capacity * 1.5)));
      slot = this.highWater++;
    }
    this.cookie[slot] = cookie;
    this.openedAtMs[slot] = 0;
    this.tx[slot] = 0;
    this.rx[slot] = 0;
    this.retrans[slot] = 0;
    this.key[slot] = -1;
    this.link[slot] = -1;
    this.flags[slot] = 0;
    this.answerVersion[slot] = Number.NaN;
    this.byCookie.set(cookie, slot);
    return slot;
  }

  /** `cookie` is no longer tracked: its slot is marked `RELEASED`, and free from `endBatch` on. */
  remove(cookie: number, slot: number): void {
    this.byCookie.delete(cookie);
    this.flags[slot] = this.flags[slot]! | RELEASED;
    this.pending.push(slot);
  }

  /**
   * Frees the slots released in the batch; when fewer than a quarter of the slots are in use,
   * moves the sockets to the first ones and gives the rest back.
   */
  endBatch(): void {
    if (this.freeCount + this.pending.length > this.free.length) {
      const free = new Int32Array(Math.max(64, 2 * (this.freeCount + this.pending.length)));
      free.set(this.free.subarray(0, this.freeCount));
      this.free = free;
    }
    for (const slot of this.pending) {
      this.cookie[slot] = Number.NaN;
      this.free[this.freeCount++] = slot;
    }
    this.pending.length = 0;
    const size = this.byCookie.size;
    if (this.capacity > MIN_CAPACITY && size < this.capacity / 4)
      this.compact(Math.max(MIN_CAPACITY, size * 2));
  }

  /** Every tracked socket: [cookie, slot]. */
  entries(): Array<[number, number]> {
    const all: Array<[number, number]> = [];
    this.byCookie.remap((cookie, slot) => {
      all.push([cookie, slot]);
      return slot;
    });
    return all;
  }

  private compact(capacity: number): void {
    // Slot `to` of the new columns takes the socket of slot `order[to]`.
    const order = new Int32Array(this.byCookie.size);
    let next = 0;
    this.byCookie.remap((_cookie, from) => {
      order[next] = from;
      return next++;
    });
    const old = this.columns();
    this.allocate(capacity);
    for (const [j, column] of this.columns().entries()) {
      const from = old[j]!;
      for (let to = 0; to < next; to++) column[to] = from[order[to]!]!;
    }
    this.highWater = next;
    this.freeCount = 0;
    this.free = new Int32Array(0);
  }

  private resize(capacity: number): void {
    const n = this.highWater;
    const old = this.columns();
    this.allocate(capacity);
    for (const [j, column] of this.columns().entries()) column.set(old[j]!.subarray(0, n));
  }

  /** Every column, in the order `allocate` makes them. */
  private columns(): Column[] {
    return [
      this.cookie,
      this.openedAtMs,
      this.tx,
      this.rx,
      this.retrans,
      this.key,
      this.link,
      this.flags,
      this.answerVersion,
      this.answerInputs,
      this.answerRecheckAtMs,
      this.answerPid,
    ];
  }

  /** New columns of `capacity` slots. */
  private allocate(capacity: number): void {
    this.cookie = new Float64Array(capacity).fill(Number.NaN);
    this.openedAtMs = new Float64Array(capacity);
    this.tx = new Float64Array(capacity);
    this.rx = new Float64Array(capacity);
    this.retrans = new Uint32Array(capacity);
    this.key = new Int32Array(capacity);
    this.link = new Int32Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.answerVersion = new Float64Array(capacity);
    this.answerInputs = new Float64Array(capacity);
    this.answerRecheckAtMs = new Float64Array(capacity);
    this.answerPid = new Uint32Array(capacity);
  }
}
