/**
 * `SocketColumns` as a producer fills them (`SocketTable`), and conversions between columns and
 * `SocketSample` rows for tests and for the few sockets a consumer keeps.
 */
import { ROLE_CLIENT, ROLE_SERVER, TCP_STATES } from './signals.ts';
import type { SocketColumns, SocketSample } from './signals.ts';

type Column =
  Float64Array<ArrayBuffer> | Uint32Array<ArrayBuffer> | Uint16Array<ArrayBuffer> | Uint8Array<ArrayBuffer>;

/** A column of `rows` rows of the same type as `a`, with its first `n` rows. */
function resized<T extends Column>(a: T, rows: number, n: number): T {
  const b = new (a.constructor as new (length: number) => T)(rows);
  b.set(a.subarray(0, n));
  return b;
}

/**
 * Columns owned by a producer: typed arrays it writes rows into and grows as needed, and the string
 * table the id columns name. `count` rows are in use; `capacity` are allocated.
 */
export class SocketTable implements SocketColumns {
  count = 0;
  cookie = new Float64Array(0);
  openedAtMs = new Float64Array(0);
  netns = new Uint32Array(0);
  cgroupId = new Float64Array(0);
  pid = new Uint32Array(0);
  comm = new Uint32Array(0);
  family = new Uint8Array(0);
  localAddr = new Uint32Array(0);
  localPort = new Uint16Array(0);
  remoteAddr = new Uint32Array(0);
  remotePort = new Uint16Array(0);
  role = new Uint8Array(0);
  state = new Uint8Array(0);
  txBytes = new Float64Array(0);
  rxBytes = new Float64Array(0);
  retransSegs = new Uint32Array(0);
  srttUs = new Uint32Array(0);
  preexisting = new Uint8Array(0);
  baselineTxBytes = new Float64Array(0);
  baselineRxBytes = new Float64Array(0);
  strings: string[] = [];

  /** Rows allocated. */
  get capacity(): number {
    return this.cookie.length;
  }

  /** Makes room for at least `rows` rows (growing by half at least), keeping the rows in use. */
  reserve(rows: number): void {
    if (rows > this.capacity) this.resize(Math.max(rows, Math.ceil(this.capacity * 1.5)));
  }

  /** Allocates exactly `rows` rows (at least `count`), keeping the rows in use. */
  resize(rows: number): void {
    if (rows < this.count) throw new Error(`cannot resize to ${rows} rows: ${this.count} in use`);
    const n = this.count;
    this.cookie = resized(this.cookie, rows, n);
    this.openedAtMs = resized(this.openedAtMs, rows, n);
    this.netns = resized(this.netns, rows, n);
    this.cgroupId = resized(this.cgroupId, rows, n);
    this.pid = resized(this.pid, rows, n);
    this.comm = resized(this.comm, rows, n);
    this.family = resized(this.family, rows, n);
    this.localAddr = resized(this.localAddr, rows, n);
    this.localPort = resized(this.localPort, rows, n);
    this.remoteAddr = resized(this.remoteAddr, rows, n);
    this.remotePort = resized(this.remotePort, rows, n);
    this.role = resized(this.role, rows, n);
    this.state = resized(this.state, rows, n);
    this.txBytes = resized(this.txBytes, rows, n);
    this.rxBytes = resized(this.rxBytes, rows, n);
    this.retransSegs = resized(this.retransSegs, rows, n);
    this.srttUs = resized(this.srttUs, rows, n);
    this.preexisting = resized(this.preexisting, rows, n);
    this.baselineTxBytes = resized(this.baselineTxBytes, rows, n);
    this.baselineRxBytes = resized(this.baselineRxBytes, rows, n);
  }
}

/**
 * Columns holding `rows`, in order, with a string table of their distinct strings.
 *
 * @example
 * const batch: SocketBatch = { ...rest, sockets: socketColumns([row]) };
 */
export function socketColumns(rows: readonly SocketSample[]): SocketColumns {
  const table = new SocketTable();
  table.resize(rows.length);
  const ids = new Map<string, number>();
  const id = (text: string): number => {
    let found = ids.get(text);
    if (found === undefined) {
      found = table.strings.length;
      table.strings.push(text);
      ids.set(text, found);
    }
    return found;
  };
  for (const [i, r] of rows.entries()) {
    const state = TCP_STATES.indexOf(r.state);
    if (state < 0) throw new Error(`socket ${r.cookie}: unknown TCP state ${JSON.stringify(r.state)}`);
    table.cookie[i] = r.cookie;
    table.openedAtMs[i] = r.openedAtMs;
    table.netns[i] = r.netns;
    table.cgroupId[i] = r.cgroupId;
    table.pid[i] = r.pid;
    table.comm[i] = id(r.comm);
    table.family[i] = r.family;
    table.localAddr[i] = id(r.localAddr);
    table.localPort[i] = r.localPort;
    table.remoteAddr[i] = id(r.remoteAddr);
    table.remotePort[i] = r.remotePort;
    table.role[i] = r.role === 'client' ? ROLE_CLIENT : ROLE_SERVER;
    table.state[i] = state;
    table.txBytes[i] = r.txBytes;
    table.rxBytes[i] = r.rxBytes;
    table.retransSegs[i] = r.retransSegs;
    table.srttUs[i] = r.srttUs;
    table.preexisting[i] = r.preexisting ? 1 : 0;
    table.baselineTxBytes[i] = r.baselineTxBytes;
    table.baselineRxBytes[i] = r.baselineRxBytes;
  }
  table.count = rows.length;
  return table;
}

/** Row `i` of `columns` as a plain object of its own (nothing shared with the columns). */
export function socketRow(columns: SocketColumns, i: number): SocketSample {
  if (!(Number.isInteger(i) && i >= 0 && i < columns.count)) {
    throw new RangeError(`row ${i} out of range: ${columns.count} rows`);
  }
  const strings = columns.strings;
  return {
    cookie: columns.cookie[i]!,
    openedAtMs: columns.openedAtMs[i]!,
    netns: columns.netns[i]!,
    cgroupId: columns.cgroupId[i]!,
    pid: columns.pid[i]!,
    comm: strings[columns.comm[i]!]!,
    family: columns.family[i] === 6 ? 6 : 4,
    localAddr: strings[columns.localAddr[i]!]!,
    localPort: columns.localPort[i]!,
    remoteAddr: strings[columns.remoteAddr[i]!]!,
    remotePort: columns.remotePort[i]!,
    role: columns.role[i] === ROLE_CLIENT ? 'client' : 'server',
    state: TCP_STATES[columns.state[i]!] ?? 'UNKNOWN',
    txBytes: columns.txBytes[i]!,
    rxBytes: columns.rxBytes[i]!,
    retransSegs: columns.retransSegs[i]!,
    srttUs: columns.srttUs[i]!,
    preexisting: columns.preexisting[i] === 1,
    baselineTxBytes: columns.baselineTxBytes[i]!,
    baselineRxBytes: columns.baselineRxBytes[i]!,
  };
}

/** Every row of `columns`, as plain objects (for tests and tools: one object per socket). */
export function socketRows(columns: SocketColumns): SocketSample[] {
  const rows: SocketSample[] = [];
  for (let i = 0; i < columns.count; i++) rows.push(socketRow(columns, i));
  return rows;
}
