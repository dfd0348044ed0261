/**
 * Link aggregation: socket batches in, cumulative links out, following the
 * accounting contract of DESIGN.md. Pure and deterministic: time comes in the
 * batch, identities come from an injected `resolve` function, no I/O.
 *
 * How bytes are counted (per kernel key K = family, client address, server
 * address, server port, observer, netns, cgroup id, comm):
 *
 * - An open socket is credited with its counter deltas, to the link it was
 *   assigned when first seen (the identity it had when it opened).
 * - When sockets close, the kernel folds their final totals into the closed
 *   totals of K. What K's closed totals hold beyond what was already credited
 *   to K's gone sockets while they were open is the remainder still owed:
 *   `owed = closed(K) − credited(gone sockets of K) − already paid(K)`.
 *   It goes to the link of K's sockets that just went away, or, for
 *   connections that opened and closed between two batches, to the link the
 *   key resolves to now (when both kinds meet in one batch under different
 *   names, counts split exactly and bytes in proportion to connections).
 * - `owed` is paid only when positive. A socket that closes between the
 *   receiver's two map reads is gone before its close reached the totals: its
 *   credit is subtracted early, `owed` goes negative for one batch, nothing is
 *   paid (an under-count), and the next batch's totals pay exactly the rest.
 *   Emitted counters therefore never go down and never exceed the truth.
 * - Waiting for a peer (host mode: `awaitingPeer`): a new socket whose other
 *   end is not known yet is held one batch, uncounted, and named and counted
 *   at the next batch; if it goes first, it was never credited, so the closed
 *   totals pay all of it. A key's first payment of connections never seen
 *   open is put off one batch the same way (nothing paid, nothing marked paid).
 *
 * Requires of the receiver (as `ebpf_socket` does): each batch reads the closed
 * totals before the open sockets, and reports every socket it ever reported
 * open in `gone` once it is no longer open (in the same batch whose open read
 * missed it). Closed sockets are folded under the comm and cgroup id they were
 * last reported with.
 */
import { ROLE_CLIENT, TCP_STATES } from '../../core/signals.ts';
import type {
  AddressFamily,
  ClosedLinkTotals,
  Identity,
  Link,
  LinkBatch,
  Role,
  SocketBatch,
  SocketColumns,
} from '../../core/signals.ts';
import {
  ACTIVE,
  COUNTED_OPENED,
  PREEXISTING,
  READS_PID,
  RELEASED,
  SERVER,
  SocketSlots,
} from './socket-slots.ts';

/** The two ends of a connection or of a kernel key, for identity resolution. */
export interface FlowEnds {
  family: AddressFamily;
  clientAddr: string;
  /** 0 when unknown (closed totals have no client port). */
  clientPort: number;
  serverAddr: string;
  serverPort: number;
  /** Which end observed: the local end is the client address for `client`, the server address for `server`. */
  observer: Role;
  netns: number;
  cgroupId: number;
  pid: number;
  comm: string;
  /** When the connection opened (ms since the epoch): what an IP meant then is what counts. */
  atMs: number;
}

export interface ResolvedEnds {
  client: Identity;
  server: Identity;
  /**
   * True when a better name may come later (a reverse DNS answer still
   * pending, a process not known yet): the socket is resolved again on a
   * later sample (once what the answer read has changed, given an
   * `InputsVersion`) instead of keeping this answer for life.
   */
  provisional: boolean;
  /**
   * True when an end is named by the host name or by an IP only because the
   * batches have not shown the local process behind it yet (host mode: the
   * other socket of a connection between two namespaces of this machine may
   * show up one batch later). Connections never seen open are then attributed
   * one batch later rather than under that name.
   */
  awaitingPeer?: boolean;
  /**
   * What the answer read of the ends beyond their kernel key (family, addresses, server port,
   * observer, netns, cgroup id, comm): another socket of the same key may reuse the answer, while
   * the inputs version has not moved, when these values are equal too. Absent: not reusable.
   */
  reads?: EndsReads;
  /** A provisional answer may change from this time on with no input version moving (ms since the epoch). */
  recheckAtMs?: number;
  /**
   * Which inputs the answer read: an opaque number the resolver passes back to its `InputsVersion`
   * (kinds, and the learned entries read); it holds while their version holds. Absent: all of them.
   */
  inputs?: number;
}

/** Which inputs of `FlowEnds` outside the kernel key a resolution read. */
export interface EndsReads {
  clientPort: boolean;
  pid: boolean;
  atMs: boolean;
}

export type Resolve = (ends: FlowEnds) => ResolvedEnds;

/**
 * The version of what a resolution reads besides the ends (cluster metadata, cgroup paths, DNS
 * answers, learned local peers), of the kinds in `inputs` (a `ResolvedEnds.inputs` mask; undefined:
 * all): it moves whenever one of them may have changed. With it, a provisional socket is resolved
 * again only once the version of what it read has moved (or its `recheckAtMs` has come), and the
 * sockets of one kernel key share one resolution while it holds.
 */
export type InputsVersion = (inputs?: number) => number;

export interface AggregatorOptions {
  /** A link with no open socket and no counter change for this long is dropped from the output. */
  linkIdleTimeoutMs: number;
  /** Links kept at most (overflow links not included); more go to the overflow link. */
  maxLinks: number;
}

/** What one `apply` did besides the links, for self-telemetry. */
export interface AggregateStats {
  linksCreated: number;
  linksExpired: number;
  /** Sockets and closed-key payments that went to an overflow link because `maxLinks` was reached. */
  overflowAssignments: number;
  /** Cookies in `gone` that were never reported open (nothing to release). */
  unknownGone: number;
  /** Socket counters or closed totals that went backwards (ignored; the emitted value holds). */
  counterRegressions: number;
  /** Sockets whose cookie came back with a new `openedAtMs` without a `gone` first. */
  replacedIncarnations: number;
  /** Sockets resolved again because their first answer was provisional, and that moved link. */
  relinked: number;
  /**
   * Closed totals of one kernel key shared between two links in one batch: sockets that just went
   * away under one name and connections never seen open under another (an IP that changed owner).
   */
  splitPayments: number;
  /** Closed-key payments put off by one batch because a local peer was not known yet. */
  deferredPayments: number;
  /** Resolutions computed (the others reused the answer of their kernel key, or were not needed). */
  resolutions: number;
}

export const OVERFLOW_NAME = '_overflow';
export const OVERFLOW_KIND = 'overflow';

/** 1 for the TCP states (by number) of a connection that has been established (open or closing). */
const ESTABLISHED = new Uint8Array(256);
for (const name of [
  'ESTABLISHED',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'CLOSE_WAIT',
  'CLOSING',
  'LAST_ACK',
  'TIME_WAIT',
]) {
  ESTABLISHED[TCP_STATES.indexOf(name)] = 1;
}

/** A socket's `link` while it has none (held). */
const NO_LINK = -1;

/** What `placeRow` did: found a known socket, found one whose owner changed (a new key), made a new one. */
const PLACED_KNOWN = 0;
const PLACED_REKEYED = 1;
const PLACED_NEW = 2;

/** Rows a call of `findRowsIn` or `applyRowsIn` takes (see `findRows`). */
const ROWS_PER_CALL = 1024;

/** How a row differs from the socket its cookie names (`differences`): none is 0. */
const DIFF_INCARNATION = 1;
const DIFF_OWNER = 2;
/** No socket has the cookie. */
const DIFF_NEW = 4;

interface LinkState {
  /** Its index in `Aggregator.linkStates`, by which sockets name it. */
  index: number;
  link: Link;
  /** Open sockets assigned to this link. */
  sockets: number;
  live: boolean;
  overflow: boolean;
}

/** A resolution kept for the other sockets of its kernel key. */
interface Resolution {
  resolved: ResolvedEnds;
  /** Version of the inputs it read, as of its computation (-1: they moved while it was computed). */
  version: number;
  clientPort: number;
  pid: number;
  atMs: number;
  /** The link it gave (not an overflow link), while that link lives. */
  link: LinkState | undefined;
}

interface KeyState {
  /** Its index in `Aggregator.keyStates`, by which sockets name it. */
  index: number;
  /** The last resolution of this key's ends, reusable per `Resolution`. */
  resolution: Resolution | undefined;
  /** Last closed totals reported by the kernel for this key. */
  closedC2S: number;
  closedS2C: number;
  closedRetrans: number;
  closedConnections: number;
  failedConnections: number;
  /** Closed and failed connections paid to a link so far. */
  paidClosed: number;
  paidFailed: number;
  /** The payment of connections never seen open was put off once for a peer still unknown. */
  deferred: boolean;
  /** Bytes and retransmits credited to this key's sockets while open, for the ones that are gone. */
  goneC2S: number;
  goneS2C: number;
  goneRetrans: number;
  /** Gone sockets that were established when seen (counted as opened, or pre-existing). */
  goneEstablished: number;
  /** Paid out of the closed totals so far. */
  paidC2S: number;
  paidS2C: number;
  paidRetrans: number;
  /** Connections counted opened that were never seen open (closed between two batches). */
  paidOpened: number;
  openSockets: number;
  /** The last batch whose closed totals had this key. */
  closedBatch: number;
  lastGoneBatch: number;
  /** Sockets of this key that went away in `lastGoneBatch`. */
  lastGoneCount: number;
  lastGoneLink: LinkState | undefined;
}

/**
 * A new socket whose other end was not known yet: what its last sample said (a copy), kept until
 * the next batch names it. Nothing of it is counted before; if it goes first, the kernel's closed
 * totals count all of it, as for a connection never seen open.
 */
interface Held {
  ends: FlowEnds;
  state: number;
  tx: number;
  rx: number;
  retrans: number;
  /** Batch in which the socket was first held. */
  since: number;
}

function newKeyState(index: number): KeyState {
  return {
    index,
    resolution: undefined,
    closedC2S: 0,
    closedS2C: 0,
    closedRetrans: 0,
    closedConnections: 0,
    failedConnections: 0,
    paidClosed: 0,
    paidFailed: 0,
    deferred: false,
    goneC2S: 0,
    goneS2C: 0,
    goneRetrans: 0,
    goneEstablished: 0,
    paidC2S: 0,
    paidS2C: 0,
    paidRetrans: 0,
    paidOpened: 0,
    openSockets: 0,
    closedBatch: -1,
    lastGoneBatch: -2,
    lastGoneCount: 0,
    lastGoneLink: undefined,
  };
}

/**
 * Kernel key of closed totals, as text. Addresses are kernel-formatted IP text
 * (never a NUL) and the comm, which may hold anything, comes last: unambiguous.
 */
function kernelKeyId(
  family: AddressFamily,
  clientAddr: string,
  serverAddr: string,
  serverPort: number,
  observer: Role,
  netns: number,
  cgroupId: number,
  comm: string,
): string {
  return `${family}\0${clientAddr}\0${serverAddr}\0${serverPort}\0${observer}\0${netns}\0${cgroupId}\0${comm}`;
}

/** Length-prefixed, so that no name or kind, however hostile, can make two identities collide. */
function identityKey(id: Identity): string {
  return `${id.kind.length}:${id.kind}${id.namespace.length}:${id.namespace}${id.name.length}:${id.name}`;
}

/** The ends of row `i`'s connection: client and server placed by the socket's role, at its open time. */
export function rowEnds(columns: SocketColumns, i: number): FlowEnds {
  const strings = columns.strings;
  const client = columns.role[i] === ROLE_CLIENT;
  const local = strings[columns.localAddr[i]!]!;
  const remote = strings[columns.remoteAddr[i]!]!;
  return {
    family: columns.family[i] === 6 ? 6 : 4,
    clientAddr: client ? local : remote,
    clientPort: client ? columns.localPort[i]! : columns.remotePort[i]!,
    serverAddr: client ? remote : local,
    serverPort: client ? columns.remotePort[i]! : columns.localPort[i]!,
    observer: client ? 'client' : 'server',
    netns: columns.netns[i]!,
    cgroupId: columns.cgroupId[i]!,
    pid: columns.pid[i]!,
    comm: strings[columns.comm[i]!]!,
    atMs: columns.openedAtMs[i]!,
  };
}

function addTo(
  target: LinkState,
  c2s: number,
  s2c: number,
  retrans: number,
  opened: number,
  closed: number,
  failed: number,
  now: number,
): void {
  const link = target.link;
  link.bytesClientToServer += c2s;
  link.bytesServerToClient += s2c;
  link.retransSegs += retrans;
  link.connectionsOpened += opened;
  link.connectionsClosed += closed;
  link.connectionsFailed += failed;
  link.lastActivityMs = now;
}

/** The ends of a kernel key: no client port or pid; resolved as of the batch time. */
function closedEnds(totals: ClosedLinkTotals, atMs: number): FlowEnds {
  return {
    family: totals.family,
    clientAddr: totals.clientAddr,
    clientPort: 0,
    serverAddr: totals.serverAddr,
    serverPort: totals.serverPort,
    observer: totals.observer,
    netns: totals.netns,
    cgroupId: totals.cgroupId,
    pid: 0,
    comm: totals.comm,
    atMs,
  };
}

/** The kernel key of row `i`, as text. */
function rowKeyId(columns: SocketColumns, i: number): string {
  const strings = columns.strings;
  const client = columns.role[i] === ROLE_CLIENT;
  const local = strings[columns.localAddr[i]!]!;
  const remote = strings[columns.remoteAddr[i]!]!;
  return kernelKeyId(
    columns.family[i] === 6 ? 6 : 4,
    client ? local : remote,
    client ? remote : local,
    client ? columns.remotePort[i]! : columns.localPort[i]!,
    client ? 'client' : 'server',
    columns.netns[i]!,
    columns.cgroupId[i]!,
    strings[columns.comm[i]!]!,
  );
}

/**
 * Holds the aggregation state across batches.
 *
 * @example
 * const agg = new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 10_000 });
 * const { batch } = agg.apply(socketBatch, resolve);
 */
export class Aggregator {
  private readonly options: AggregatorOptions;
  private readonly links = new Map<string, LinkState>();
  private readonly overflowLinks = new Map<string, LinkState>();
  /** Links and overflow links by index (a socket names its link by index); undefined: a free index. */
  private readonly linkStates: Array<LinkState | undefined> = [];
  private readonly freeLinkIndexes: number[] = [];
  private readonly sockets = new SocketSlots();
  /** Held sockets by cookie. */
  private readonly heldSockets = new Map<number, Held>();
  private readonly keys = new Map<string, KeyState>();
  /** Key states by index (a socket names its key by index); undefined: a free index. */
  private readonly keyStates: Array<KeyState | undefined> = [];
  private readonly freeKeyIndexes: number[] = [];
  /**
   * The owner each key names (command name, cgroup id), by key index, which its sockets' rows are
   * compared with: arrays rather than fields of the key's state, whose hidden class changes as it
   * fills (V8 would throw away code compiled to read them). Never empty: an array of strings from the
   * start (an empty one is an array of small integers to V8, and becoming one of strings with the
   * first key, it would throw that code away too).
   */
  private readonly keyComms: string[] = [''];
  /** The key of a closed totals object seen before (`closedKey`). */
  private readonly keyOfTotals = new WeakMap<ClosedLinkTotals, KeyState>();
  private keyCgroupIds = new Float64Array(64);
  /**
   * Per row of the batch being applied: its socket's slot as the first pass found it, or -1; until
   * then, of the batch before.
   */
  private rowSlots = new Int32Array(0);
  /** Per row of the batch being applied: how it differs from the socket in its slot (`DIFF_*`). */
  private rowDiffs = new Uint8Array(0);
  private batchNo = 0;
  private lastTimeMs: number | undefined;
  private versionOf: InputsVersion | undefined;
  private stats: AggregateStats = Aggregator.zeroStats();

  constructor(options: AggregatorOptions) {
    if (!(options.linkIdleTimeoutMs > 0)) {
      throw new Error(`linkIdleTimeoutMs must be greater than 0, got ${options.linkIdleTimeoutMs}`);
    }
    if (!(Number.isInteger(options.maxLinks) && options.maxLinks >= 1)) {
      throw new Error(`maxLinks must be an integer of at least 1, got ${options.maxLinks}`);
    }
    this.options = { ...options };
  }

  private static zeroStats(): AggregateStats {
    return {
      linksCreated: 0,
      linksExpired: 0,
      overflowAssignments: 0,
      unknownGone: 0,
      counterRegressions: 0,
      replacedIncarnations: 0,
      relinked: 0,
      splitPayments: 0,
      deferredPayments: 0,
      resolutions: 0,
    };
  }

  /** Links currently kept, overflow links included. */
  get linkCount(): number {
    return this.links.size + this.overflowLinks.size;
  }

  /** Open sockets currently tracked. */
  get socketCount(): number {
    return this.sockets.size;
  }

  /** Kernel keys currently tracked. */
  get keyCount(): number {
    return this.keys.size;
  }

  /**
   * Folds one socket batch in and returns every live link, cumulative. The
   * returned links are owned by the aggregator: valid until the next `apply`.
   * Without `version`, every provisional socket is resolved again in every
   * batch and no answer is shared between sockets.
   */
  apply(
    batch: SocketBatch,
    resolve: Resolve,
    learn?: (ends: FlowEnds) => void,
    version?: InputsVersion,
  ): { batch: LinkBatch; stats: AggregateStats } {
    this.stats = Aggregator.zeroStats();
    this.batchNo++;
    const now = batch.timeMs;
    const sinceMs = this.lastTimeMs ?? batch.startTimeMs;

    // First pass: find what is new or changed, and let the caller learn from all of it before anything
    // is resolved (a client socket to a local server is named by the server socket of the same batch).
    const rows = batch.sockets;
    const count = rows.count;
    const slots = this.sockets;
    if (this.rowSlots.length < count) {
      const rowSlots = new Int32Array(count);
      rowSlots.set(this.rowSlots);
      this.rowSlots = rowSlots;
      this.rowDiffs = new Uint8Array(count);
    }
    const unknown = this.findRows(rows, learn);
    const keys: KeyState[] = new Array(batch.closed.length);
    for (let i = 0; i < batch.closed.length; i++) {
      const totals = batch.closed[i] as ClosedLinkTotals;
      const key = this.closedKey(totals);
      key.closedBatch = this.batchNo;
      keys[i] = key;
      if (
        learn !== undefined &&
        (totals.connectionsClosed !== key.closedConnections ||
          totals.connectionsFailed !== key.failedConnections)
      ) {
        learn(closedEnds(totals, now));
      }
    }

    // Read after learning: what this batch's sockets taught is part of it.
    this.versionOf = version;

    // `gone` first: a socket reconnected under the same cookie is in `gone` (its old incarnation) and
    // in `sockets` (the new one) of one batch.
    for (const cookie of batch.gone) {
      const slot = slots.find(cookie);
      if (slot < 0) this.stats.unknownGone++;
      else this.release(cookie, slot, now);
    }
    slots.reserve(unknown);
    this.applyRows(rows, resolve, now, sinceMs);
    for (const [cookie, held] of this.heldSockets) {
      if (held.since < this.batchNo) this.settle(cookie, held, resolve, now, sinceMs);
    }
    for (let i = 0; i < batch.closed.length; i++) {
      this.applyClosed(keys[i] as KeyState, batch.closed[i] as ClosedLinkTotals, resolve, now, sinceMs);
    }
    for (const [id, key] of this.keys) {
      if (
        key.openSockets === 0 &&
        key.closedBatch !== this.batchNo &&
        this.batchNo - key.lastGoneBatch >= 2
      ) {
        this.keys.delete(id);
        this.keyStates[key.index] = undefined;
        this.keyComms[key.index] = '';
        this.keyCgroupIds[key.index] = Number.NaN;
        this.freeKeyIndexes.push(key.index);
      }
    }
    slots.endBatch();
    this.expire(now);
    this.lastTimeMs = now;

    const links: Link[] = [];
    for (const l of this.links.values()) links.push(l.link);
    for (const l of this.overflowLinks.values()) links.push(l.link);
    return { batch: { timeMs: now, startTimeMs: batch.startTimeMs, links }, stats: this.stats };
  }

  /**
   * First pass over the rows: each one's slot (`rowSlots`) and how it differs from it (`rowDiffs`),
   * and what is new or changed learned from. Returns the rows of sockets not tracked yet.
   *
   * The loops over the rows are methods of their own, called per `ROWS_PER_CALL` rows: V8 compiles a
   * loop of a first large batch while it runs (on-stack replacement), and code after it, not yet run
   * then, would make it throw that code away; and a loop's code compiled so does not outlive the
   * receiver's last-resort collection after that batch, while a function's code, compiled once it
   * has been called often enough, does.
   */
  private findRows(rows: SocketColumns, learn: ((ends: FlowEnds) => void) | undefined): number {
    let unknown = 0;
    for (let from = 0; from < rows.count; from += ROWS_PER_CALL) {
      unknown += this.findRowsIn(rows, from, Math.min(rows.count, from + ROWS_PER_CALL), learn);
    }
    return unknown;
  }

  /** `findRows` for rows `from` to `to` (excluded). */
  private findRowsIn(
    rows: SocketColumns,
    from: number,
    to: number,
    learn: ((ends: FlowEnds) => void) | undefined,
  ): number {
    const slots = this.sockets;
    const rowSlots = this.rowSlots;
    const rowDiffs = this.rowDiffs;
    let unknown = 0;
    for (let i = from; i < to; i++) {
      // `rowSlots[i]` still holds the slot of row `i` of the batch before: usually this row's.
      const slot = slots.findFrom(rowSlots[i]!, rows.cookie[i]!);
      const d = this.differences(slot, rows, i);
      rowSlots[i] = slot;
      rowDiffs[i] = d;
      if (d === DIFF_NEW) unknown++;
      if (learn !== undefined && d !== 0) learn(rowEnds(rows, i));
    }
    return unknown;
  }

  /** Folds every row in (`applyRowsIn`). */
  private applyRows(rows: SocketColumns, resolve: Resolve, now: number, sinceMs: number): void {
    for (let from = 0; from < rows.count; from += ROWS_PER_CALL) {
      this.applyRowsIn(rows, from, Math.min(rows.count, from + ROWS_PER_CALL), resolve, now, sinceMs);
    }
  }

  /**
   * `applyRows` for rows `from` to `to` (excluded). A row is folded in two steps: `placeRow` finds or
   * makes its socket's slot (a new socket, a new incarnation, another owner: out of line), then
   * `updateRow`, which every row goes through, new ones too. So the first poll, where every socket
   * is new, runs and compiles the code the next polls run for known sockets whose counters moved:
   * code first run in a later poll is compiled there by V8, which at 100k sockets cost that poll
   * 40-100 ms of CPU.
   */
  private applyRowsIn(
    rows: SocketColumns,
    from: number,
    to: number,
    resolve: Resolve,
    now: number,
    sinceMs: number,
  ): void {
    const rowSlots = this.rowSlots;
    for (let i = from; i < to; i++) {
      const placed = this.placeRow(rows, i, rowSlots[i]!, resolve, now, sinceMs);
      if (placed >= 0) this.updateRow(placed >> 2, placed & 3, rows, i, resolve, now, sinceMs);
    }
  }

  /**
   * The state of the kernel key of closed totals. A producer may hand the same object for the same
   * key at every batch (the receiver does): its key is then found without making its text again.
   */
  private closedKey(totals: ClosedLinkTotals): KeyState {
    const known = this.keyOfTotals.get(totals);
    if (known !== undefined && this.keyStates[known.index] === known) return known;
    const key = this.keyFor(
      kernelKeyId(
        totals.family,
        totals.clientAddr,
        totals.serverAddr,
        totals.serverPort,
        totals.observer,
        totals.netns,
        totals.cgroupId,
        totals.comm,
      ),
      totals.comm,
      totals.cgroupId,
    );
    this.keyOfTotals.set(totals, key);
    return key;
  }

  /** The state of row `i`'s kernel key. */
  private rowKey(rows: SocketColumns, i: number): KeyState {
    return this.keyFor(rowKeyId(rows, i), rows.strings[rows.comm[i]!]!, rows.cgroupId[i]!);
  }

  /** The state of the key `id`, made when new (`comm` and `cgroupId`: the owner `id` names). */
  private keyFor(id: string, comm: string, cgroupId: number): KeyState {
    let key = this.keys.get(id);
    if (key === undefined) {
      key = newKeyState(this.freeKeyIndexes.pop() ?? this.keyStates.length);
      if (key.index >= this.keyCgroupIds.length) {
        const grown = new Float64Array(2 * this.keyCgroupIds.length);
        grown.set(this.keyCgroupIds);
        this.keyCgroupIds = grown;
      }
      this.keyComms[key.index] = comm;
      this.keyCgroupIds[key.index] = cgroupId;
      this.keys.set(id, key);
      this.keyStates[key.index] = key;
    }
    return key;
  }

  /**
   * The answer for a socket or closed totals of `key`: its key's last one when that still holds (the
   * inputs version has not moved, no recheck time has come, and what it read of the ends is equal),
   * else a new resolution, kept for the key.
   */
  private resolveFor(
    key: KeyState,
    clientPort: number,
    pid: number,
    atMs: number,
    ends: FlowEnds | (() => FlowEnds),
    resolve: Resolve,
    now: number,
  ): Resolution {
    const kept = key.resolution;
    if (kept !== undefined && this.holds(kept, now)) {
      const reads = kept.resolved.reads as EndsReads;
      if (
        (!reads.clientPort || kept.clientPort === clientPort) &&
        (!reads.pid || kept.pid === pid) &&
        (!reads.atMs || kept.atMs === atMs)
      ) {
        return kept;
      }
    }
    const versionOf = this.versionOf;
    const before = versionOf?.();
    const resolved = resolve(typeof ends === 'function' ? ends() : ends);
    this.stats.resolutions++;
    const resolution: Resolution = { resolved, version: -1, clientPort, pid, atMs, link: undefined };
    // A resolution may move the version itself (a walk of the cgroup tree on an unknown id): it is
    // then not kept.
    if (versionOf !== undefined && versionOf() === before) {
      resolution.version = versionOf(resolved.inputs);
      if (resolved.reads !== undefined) key.resolution = resolution;
    }
    return resolution;
  }

  /** Whether nothing the resolution read can have changed. */
  private holds(r: Resolution, now: number): boolean {
    return (
      this.versionOf !== undefined &&
      r.version === this.versionOf(r.resolved.inputs) &&
      (r.resolved.recheckAtMs === undefined || now < r.resolved.recheckAtMs)
    );
  }

  /** The link of a resolution, created once per resolution while it lives. */
  private linkOf(
    r: Resolution,
    serverPort: number,
    family: AddressFamily,
    observer: Role,
    now: number,
    sinceMs: number,
  ): LinkState {
    if (r.link !== undefined && r.link.live) return r.link;
    const link = this.linkFor(r.resolved, serverPort, family, observer, now, sinceMs);
    r.link = link.overflow ? undefined : link;
    return link;
  }

  /** `linkOf` for the socket in row `i` of a batch: server port, family and observer read from the row. */
  private rowLinkOf(
    r: Resolution,
    rows: SocketColumns,
    i: number,
    client: boolean,
    now: number,
    sinceMs: number,
  ): LinkState {
    const serverPort = client ? rows.remotePort[i]! : rows.localPort[i]!;
    return this.linkOf(
      r,
      serverPort,
      rows.family[i] === 6 ? 6 : 4,
      client ? 'client' : 'server',
      now,
      sinceMs,
    );
  }

  private resolveRow(
    rows: SocketColumns,
    i: number,
    key: KeyState,
    resolve: Resolve,
    now: number,
  ): Resolution {
    const client = rows.role[i] === ROLE_CLIENT;
    return this.resolveFor(
      key,
      client ? rows.localPort[i]! : rows.remotePort[i]!,
      rows.pid[i]!,
      rows.openedAtMs[i]!,
      () => rowEnds(rows, i),
      resolve,
      now,
    );
  }

  private keyOf(slot: number): KeyState {
    return this.keyStates[this.sockets.key[slot]!] as KeyState;
  }

  private linkStateOf(slot: number): LinkState {
    return this.linkStates[this.sockets.link[slot]!] as LinkState;
  }

  /**
   * The slot of row `i`'s socket, made for a new one (resolved, linked or held), times 4 plus what
   * was done (`PLACED_*`), or -1 when the socket is held.
   */
  private placeRow(
    rows: SocketColumns,
    i: number,
    known: number,
    resolve: Resolve,
    now: number,
    sinceMs: number,
  ): number {
    const slots = this.sockets;
    const cookie = rows.cookie[i]!;
    // `known` was looked up in the first pass; a cookie twice in one batch may have changed since (a
    // released slot is not handed out again in the same batch). Every test below runs for every row,
    // new or known (see `applyRowsIn`).
    const released = (slots.flags[known < 0 ? 0 : known]! & RELEASED) !== 0;
    let slot = known;
    let d = this.rowDiffs[i]!;
    if (released || known < 0) {
      slot = slots.find(cookie);
      d = this.differences(slot, rows, i);
    }
    const incarnation = (d & DIFF_INCARNATION) !== 0;
    const owner = (d & DIFF_OWNER) !== 0;
    if (slot >= 0 && incarnation) {
      this.stats.replacedIncarnations++;
      this.release(cookie, slot, now);
      slot = -1;
    }
    let placed: number;
    if (slot >= 0) {
      placed = owner ? PLACED_REKEYED : PLACED_KNOWN;
      if (owner) this.rekey(slot, rows, i);
    } else {
      slot = this.addRow(rows, i, resolve, now, sinceMs);
      if (slot < 0) return -1;
      placed = PLACED_NEW;
    }
    return slot * 4 + placed;
  }

  /**
   * How row `i` differs from the socket in `slot` (`DIFF_*`; 0: the same). The columns of slot 0,
   * which always exists, are compared when there is no slot, so that the comparisons run on every
   * row whatever it is.
   */
  private differences(slot: number, rows: SocketColumns, i: number): number {
    const slots = this.sockets;
    const s = slot < 0 ? 0 : slot;
    // The owner is its key's (slot 0 may have none: a key index of -1, or of a key gone since).
    const k = slots.key[s]!;
    const incarnation = slots.openedAtMs[s] !== rows.openedAtMs[i];
    const comm = (k >= 0 ? this.keyComms[k] : '') !== rows.strings[rows.comm[i]!];
    const cgroup = (k >= 0 ? this.keyCgroupIds[k] : 0) !== rows.cgroupId[i];
    const d = (incarnation ? DIFF_INCARNATION : 0) + (comm || cgroup ? DIFF_OWNER : 0);
    return slot < 0 ? DIFF_NEW : d;
  }

  /** A known socket whose owner changed: counted under the key its row names now. */
  private rekey(slot: number, rows: SocketColumns, i: number): void {
    const slots = this.sockets;
    this.keyOf(slot).openSockets--;
    const key = this.rowKey(rows, i);
    slots.key[slot] = key.index;
    key.openSockets++;
  }

  /** A slot for the new socket of row `i`, resolved and linked; -1 when it is held. */
  private addRow(rows: SocketColumns, i: number, resolve: Resolve, now: number, sinceMs: number): number {
    const slots = this.sockets;
    const cookie = rows.cookie[i]!;
    const client = rows.role[i] === ROLE_CLIENT;
    const key = this.rowKey(rows, i);
    const resolution = this.resolveRow(rows, i, key, resolve, now);
    const resolved = resolution.resolved;
    key.openSockets++;
    const preexisting = rows.preexisting[i] === 1;
    // A new socket whose other end may be a local process the batches have not shown yet (its own
    // socket in the next batch): held one batch rather than counted under a name it would leave.
    const held = resolved.awaitingPeer === true && !preexisting;
    const link = held ? undefined : this.rowLinkOf(resolution, rows, i, client, now, sinceMs);
    if (link !== undefined) link.sockets++;
    const slot = slots.add(cookie);
    slots.openedAtMs[slot] = rows.openedAtMs[i]!;
    slots.key[slot] = key.index;
    slots.link[slot] = link === undefined ? NO_LINK : link.index;
    slots.flags[slot] = (client ? 0 : SERVER) | (preexisting ? PREEXISTING : 0);
    this.keepAnswer(slot, resolution);
    if (!held) return slot;
    this.heldSockets.set(cookie, this.heldRow(rows, i, this.batchNo));
    return -1;
  }

  /**
   * Row `i` of a placed socket: a held one's copy renewed, a provisional answer checked (and the
   * socket resolved again and moved when it no longer holds), then its counters credited.
   */
  private updateRow(
    slot: number,
    placed: number,
    rows: SocketColumns,
    i: number,
    resolve: Resolve,
    now: number,
    sinceMs: number,
  ): void {
    const slots = this.sockets;
    if (slots.link[slot] === NO_LINK) {
      const cookie = rows.cookie[i]!;
      const held = this.heldSockets.get(cookie) as Held;
      this.heldSockets.set(cookie, this.heldRow(rows, i, held.since));
      return;
    }
    // Checked for new sockets too (their answer holds, as just computed), so that it is compiled.
    if (
      !Number.isNaN(slots.answerVersion[slot]!) &&
      (placed === PLACED_REKEYED ||
        !this.answerHolds(slot, now) ||
        ((slots.flags[slot]! & READS_PID) !== 0 && slots.answerPid[slot] !== rows.pid[i])) &&
      placed !== PLACED_NEW
    ) {
      this.resolveAgain(slot, rows, i, resolve, now, sinceMs);
    }
    this.count(slot, rows.state[i]!, rows.txBytes[i]!, rows.rxBytes[i]!, rows.retransSegs[i]!, now);
  }

  /** A known socket whose answer no longer holds: resolved again, and moved if its link changed. */
  private resolveAgain(
    slot: number,
    rows: SocketColumns,
    i: number,
    resolve: Resolve,
    now: number,
    sinceMs: number,
  ): void {
    const resolution = this.resolveRow(rows, i, this.keyOf(slot), resolve, now);
    this.keepAnswer(slot, resolution);
    const link = this.rowLinkOf(resolution, rows, i, rows.role[i] === ROLE_CLIENT, now, sinceMs);
    const from = this.linkStateOf(slot);
    if (link !== from) {
      this.stats.relinked++;
      this.moveSocket(slot, from, link, now);
    }
  }

  /** Keeps what the socket needs of its answer to know when to resolve it again: nothing once settled. */
  private keepAnswer(slot: number, resolution: Resolution): void {
    const slots = this.sockets;
    const resolved = resolution.resolved;
    const flags = slots.flags[slot]! & ~READS_PID;
    if (!resolved.provisional) {
      slots.answerVersion[slot] = Number.NaN;
      slots.flags[slot] = flags;
      return;
    }
    slots.answerVersion[slot] = resolution.version;
    slots.answerInputs[slot] = resolved.inputs ?? Number.NaN;
    slots.answerRecheckAtMs[slot] = resolved.recheckAtMs ?? Number.POSITIVE_INFINITY;
    slots.answerPid[slot] = resolution.pid;
    slots.flags[slot] = resolved.reads?.pid === true ? flags | READS_PID : flags;
  }

  /** `holds` for a socket's provisional answer. */
  private answerHolds(slot: number, now: number): boolean {
    const versionOf = this.versionOf;
    if (versionOf === undefined) return false;
    const slots = this.sockets;
    const inputs = slots.answerInputs[slot]!;
    return (
      slots.answerVersion[slot] === versionOf(Number.isNaN(inputs) ? undefined : inputs) &&
      now < slots.answerRecheckAtMs[slot]!
    );
  }

  /** A copy of what row `i` says, for a held socket. */
  private heldRow(rows: SocketColumns, i: number, since: number): Held {
    return {
      ends: rowEnds(rows, i),
      state: rows.state[i]!,
      tx: rows.txBytes[i]!,
      rx: rows.rxBytes[i]!,
      retrans: rows.retransSegs[i]!,
      since,
    };
  }

  /** A held socket, one batch later: named with what the batches have shown since, then counted. */
  private settle(cookie: number, held: Held, resolve: Resolve, now: number, sinceMs: number): void {
    this.heldSockets.delete(cookie);
    const slot = this.sockets.find(cookie);
    const ends = held.ends;
    const resolution = this.resolveFor(
      this.keyOf(slot),
      ends.clientPort,
      ends.pid,
      ends.atMs,
      ends,
      resolve,
      now,
    );
    this.keepAnswer(slot, resolution);
    const link = this.linkOf(resolution, ends.serverPort, ends.family, ends.observer, now, sinceMs);
    this.sockets.link[slot] = link.index;
    link.sockets++;
    this.count(slot, held.state, held.tx, held.rx, held.retrans, now);
  }

  /** Credits a socket's link with what its sample adds: opened, active, counter growth. */
  private count(slot: number, state: number, tx: number, rx: number, retrans: number, now: number): void {
    const slots = this.sockets;
    const link = this.linkStateOf(slot).link;
    const established = ESTABLISHED[state] === 1;
    let flags = slots.flags[slot]!;
    let changed = false;
    if (established && (flags & (COUNTED_OPENED | PREEXISTING)) === 0) {
      flags |= COUNTED_OPENED;
      link.connectionsOpened++;
      changed = true;
    }
    if (established !== ((flags & ACTIVE) !== 0)) {
      flags ^= ACTIVE;
      link.activeConnections += established ? 1 : -1;
      changed = true;
    }
    slots.flags[slot] = flags;
    const dTx = this.delta(tx, slots.tx[slot]!);
    const dRx = this.delta(rx, slots.rx[slot]!);
    const dRetrans = this.delta(retrans, slots.retrans[slot]!);
    // Credited whether they moved or not (adding 0): the same code for a new socket, whose counters
    // usually start where its baseline put them, as for a known one that moved.
    slots.tx[slot] = slots.tx[slot]! + dTx;
    slots.rx[slot] = slots.rx[slot]! + dRx;
    slots.retrans[slot] = slots.retrans[slot]! + dRetrans;
    const server = (flags & SERVER) !== 0;
    link.bytesClientToServer += server ? dRx : dTx;
    link.bytesServerToClient += server ? dTx : dRx;
    link.retransSegs += dRetrans;
    if (dTx > 0 || dRx > 0 || dRetrans > 0 || changed) link.lastActivityMs = now;
  }

  /** Growth of a cumulative counter; a regression counts and gives 0. */
  private delta(next: number, previous: number): number {
    if (next >= previous) return next - previous;
    this.stats.counterRegressions++;
    return 0;
  }

  private moveSocket(slot: number, from: LinkState, to: LinkState, now: number): void {
    from.sockets--;
    from.link.lastActivityMs = now;
    if ((this.sockets.flags[slot]! & ACTIVE) !== 0) {
      from.link.activeConnections--;
      to.link.activeConnections++;
    }
    to.sockets++;
    to.link.lastActivityMs = now;
    this.sockets.link[slot] = to.index;
  }

  /** A socket is no longer open: its credit moves to its key, awaiting the closed totals. */
  private release(cookie: number, slot: number, now: number): void {
    const slots = this.sockets;
    const key = this.keyOf(slot);
    slots.remove(cookie, slot);
    key.openSockets--;
    if (slots.link[slot] === NO_LINK) {
      // Held, never counted: the kernel's closed totals count all of it, opened included.
      this.heldSockets.delete(cookie);
      return;
    }
    const flags = slots.flags[slot]!;
    if ((flags & SERVER) === 0) {
      key.goneC2S += slots.tx[slot]!;
      key.goneS2C += slots.rx[slot]!;
    } else {
      key.goneC2S += slots.rx[slot]!;
      key.goneS2C += slots.tx[slot]!;
    }
    key.goneRetrans += slots.retrans[slot]!;
    if ((flags & COUNTED_OPENED) !== 0 || (flags & (PREEXISTING | ACTIVE)) === (PREEXISTING | ACTIVE)) {
      key.goneEstablished++;
    }
    if (key.lastGoneBatch !== this.batchNo) key.lastGoneCount = 0;
    key.lastGoneCount++;
    key.lastGoneBatch = this.batchNo;
    const link = this.linkStateOf(slot);
    key.lastGoneLink = link;
    link.sockets--;
    if ((flags & ACTIVE) !== 0) link.link.activeConnections--;
    link.link.lastActivityMs = now;
  }

  private applyClosed(
    key: KeyState,
    totals: ClosedLinkTotals,
    resolve: Resolve,
    now: number,
    sinceMs: number,
  ): void {
    key.closedConnections += this.delta(totals.connectionsClosed, key.closedConnections);
    key.failedConnections += this.delta(totals.connectionsFailed, key.failedConnections);
    if (totals.bytesClientToServer >= key.closedC2S) key.closedC2S = totals.bytesClientToServer;
    else this.stats.counterRegressions++;
    if (totals.bytesServerToClient >= key.closedS2C) key.closedS2C = totals.bytesServerToClient;
    else this.stats.counterRegressions++;
    if (totals.retransSegs >= key.closedRetrans) key.closedRetrans = totals.retransSegs;
    else this.stats.counterRegressions++;

    const c2s = Math.max(0, key.closedC2S - key.goneC2S - key.paidC2S);
    const s2c = Math.max(0, key.closedS2C - key.goneS2C - key.paidS2C);
    const retrans = Math.max(0, key.closedRetrans - key.goneRetrans - key.paidRetrans);
    const opened = Math.max(0, key.closedConnections - key.goneEstablished - key.paidOpened);
    const closed = key.closedConnections - key.paidClosed;
    const failed = key.failedConnections - key.paidFailed;
    if (c2s === 0 && s2c === 0 && retrans === 0 && opened === 0 && closed === 0 && failed === 0) return;

    const recent = this.batchNo - key.lastGoneBatch <= 1 ? key.lastGoneLink : undefined;
    const gone = recent !== undefined && recent.live ? recent : undefined;
    let fresh: LinkState | undefined;
    if (gone === undefined || opened > 0) {
      const resolution = this.resolveFor(key, 0, 0, now, () => closedEnds(totals, now), resolve, now);
      if (gone === undefined && resolution.resolved.awaitingPeer === true && !key.deferred) {
        // Connections that opened and closed between two polls, to a local end whose process the
        // batches have not shown yet (its socket was never seen open and its own close may reach the
        // kernel's totals after this read): nothing is paid now, the next batch's totals pay it all
        // under the name known then. Once per key, so a peer that never shows costs one batch only.
        key.deferred = true;
        this.stats.deferredPayments++;
        return;
      }
      fresh = this.linkOf(resolution, totals.serverPort, totals.family, totals.observer, now, sinceMs);
    }
    key.paidC2S += c2s;
    key.paidS2C += s2c;
    key.paidRetrans += retrans;
    key.paidOpened += opened;
    key.paidClosed += closed;
    key.paidFailed += failed;
    if (gone === undefined || fresh === undefined || fresh === gone) {
      addTo((fresh ?? gone) as LinkState, c2s, s2c, retrans, opened, closed, failed, now);
      return;
    }
    // The key mixes sockets named differently (an IP that changed owner between two batches): the
    // connections never seen open belong to what the key means now, the sockets that just went to
    // theirs. Counts split exactly; the bytes of the two cannot be told apart in the kernel's totals,
    // so they split in proportion to the connections (the total stays exact).
    const goneShare = key.lastGoneCount / (key.lastGoneCount + opened);
    const goneC2S = Math.round(c2s * goneShare);
    const goneS2C = Math.round(s2c * goneShare);
    const goneRetrans = Math.round(retrans * goneShare);
    const freshClosed = Math.min(closed, opened);
    addTo(gone, goneC2S, goneS2C, goneRetrans, 0, closed - freshClosed, 0, now);
    addTo(fresh, c2s - goneC2S, s2c - goneS2C, retrans - goneRetrans, opened, freshClosed, failed, now);
    this.stats.splitPayments++;
  }

  private linkFor(
    resolved: ResolvedEnds,
    serverPort: number,
    family: AddressFamily,
    observer: Role,
    now: number,
    sinceMs: number,
  ): LinkState {
    const networkType = family === 4 ? 'ipv4' : 'ipv6';
    const id = `${identityKey(resolved.client)}${identityKey(resolved.server)}${serverPort}/${networkType}/${observer}`;
    const existing = this.links.get(id);
    if (existing !== undefined) {
      if (resolved.server.backing !== undefined) existing.link.server.backing = resolved.server.backing;
      return existing;
    }
    if (this.links.size >= this.options.maxLinks) {
      this.stats.overflowAssignments++;
      return this.overflowLink(networkType, observer, now, sinceMs);
    }
    const state: LinkState = {
      index: this.linkIndex(),
      link: {
        id,
        client: { ...resolved.client },
        server: { ...resolved.server },
        serverPort,
        transport: 'tcp',
        networkType,
        observer,
        bytesClientToServer: 0,
        bytesServerToClient: 0,
        connectionsOpened: 0,
        connectionsClosed: 0,
        connectionsFailed: 0,
        activeConnections: 0,
        retransSegs: 0,
        startTimeMs: sinceMs,
        lastActivityMs: now,
      },
      sockets: 0,
      live: true,
      overflow: false,
    };
    this.links.set(id, state);
    this.linkStates[state.index] = state;
    this.stats.linksCreated++;
    return state;
  }

  private overflowLink(
    networkType: Link['networkType'],
    observer: Role,
    now: number,
    sinceMs: number,
  ): LinkState {
    const id = `${OVERFLOW_NAME}/${networkType}/${observer}`;
    let state = this.overflowLinks.get(id);
    if (state === undefined) {
      const overflow: Identity = { name: OVERFLOW_NAME, kind: OVERFLOW_KIND, namespace: '' };
      state = {
        index: this.linkIndex(),
        link: {
          id,
          client: overflow,
          server: { ...overflow },
          serverPort: 0,
          transport: 'tcp',
          networkType,
          observer,
          bytesClientToServer: 0,
          bytesServerToClient: 0,
          connectionsOpened: 0,
          connectionsClosed: 0,
          connectionsFailed: 0,
          activeConnections: 0,
          retransSegs: 0,
          startTimeMs: sinceMs,
          lastActivityMs: now,
        },
        sockets: 0,
        live: true,
        overflow: true,
      };
      this.overflowLinks.set(id, state);
      this.linkStates[state.index] = state;
    }
    return state;
  }

  /** A free index in `linkStates`. */
  private linkIndex(): number {
    return this.freeLinkIndexes.pop() ?? this.linkStates.length;
  }

  private expire(now: number): void {
    const idle = this.options.linkIdleTimeoutMs;
    for (const map of [this.links, this.overflowLinks]) {
      for (const [id, state] of map) {
        if (state.sockets === 0 && now - state.link.lastActivityMs >= idle) {
          state.live = false;
          map.delete(id);
          this.linkStates[state.index] = undefined;
          this.freeLinkIndexes.push(state.index);
          this.stats.linksExpired++;
        }
      }
    }
  }
}
