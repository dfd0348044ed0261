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
import type {
  AddressFamily,
  ClosedLinkTotals,
  Identity,
  Link,
  LinkBatch,
  Role,
  SocketBatch,
  SocketSample,
} from '../../core/signals.ts';

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
   * Which inputs the answer read (a mask of the resolver's input kinds, passed back to its
   * `InputsVersion`): it holds while their version holds. Absent: all of them.
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

/** TCP states of a connection that has been established (open or closing). */
const ESTABLISHED_STATES: ReadonlySet<string> = new Set([
  'ESTABLISHED',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'CLOSE_WAIT',
  'CLOSING',
  'LAST_ACK',
  'TIME_WAIT',
]);

interface LinkState {
  link: Link;
  /** Open sockets assigned to this link. */
  sockets: number;
  live: boolean;
  overflow: boolean;
}

/** A resolution kept for the other sockets of its kernel key, and for its provisional sockets. */
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
  lastGoneBatch: number;
  /** Sockets of this key that went away in `lastGoneBatch`. */
  lastGoneCount: number;
  lastGoneLink: LinkState | undefined;
}

/**
 * One open socket. Kept small (100k open sockets are usual): a held socket's sample sits in
 * `Aggregator.heldSockets`, a settled socket keeps no resolution.
 */
interface SocketState {
  openedAtMs: number;
  observer: Role;
  /** Its key's comm and cgroup id, kept here too: comparing them needs no visit to the key. */
  comm: string;
  cgroupId: number;
  key: KeyState;
  /** Undefined while the socket waits one batch for a local peer to show (see `heldSockets`). */
  link: LinkState | undefined;
  tx: number;
  rx: number;
  retrans: number;
  /** Counted as opened (seen established, not pre-existing). */
  countedOpened: boolean;
  preexisting: boolean;
  /** Counted in its link's activeConnections. */
  active: boolean;
  /** The provisional answer the socket is named by, until a settled one comes; undefined once settled. */
  resolution: Resolution | undefined;
  /** No longer tracked (gone, or replaced by a new incarnation). */
  released: boolean;
}

/**
 * A new socket whose other end was not known yet: its last sample (a copy), kept until the next batch
 * names it. Nothing of it is counted before; if it goes first, the kernel's closed totals count all of it,
 * as for a connection never seen open.
 */
interface Held {
  sample: SocketSample;
  /** Batch in which the socket was first held. */
  since: number;
}

function newKeyState(): KeyState {
  return {
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

/** The ends of a sampled socket's connection: client and server placed by the socket's role, at its open time. */
export function sampleEnds(s: SocketSample): FlowEnds {
  const client = s.role === 'client';
  return {
    family: s.family,
    clientAddr: client ? s.localAddr : s.remoteAddr,
    clientPort: client ? s.localPort : s.remotePort,
    serverAddr: client ? s.remoteAddr : s.localAddr,
    serverPort: client ? s.remotePort : s.localPort,
    observer: s.role,
    netns: s.netns,
    cgroupId: s.cgroupId,
    pid: s.pid,
    comm: s.comm,
    atMs: s.openedAtMs,
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

function serverPortOf(s: SocketSample): number {
  return s.role === 'client' ? s.remotePort : s.localPort;
}

function sampleKeyId(s: SocketSample): string {
  const client = s.role === 'client';
  return kernelKeyId(
    s.family,
    client ? s.localAddr : s.remoteAddr,
    client ? s.remoteAddr : s.localAddr,
    client ? s.remotePort : s.localPort,
    s.role,
    s.netns,
    s.cgroupId,
    s.comm,
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
  private readonly sockets = new Map<number, SocketState>();
  private readonly heldSockets = new Map<SocketState, Held>();
  private readonly keys = new Map<string, KeyState>();
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
    const states: Array<SocketState | undefined> = new Array(batch.sockets.length);
    for (let i = 0; i < batch.sockets.length; i++) {
      const sample = batch.sockets[i] as SocketSample;
      const s = this.sockets.get(sample.cookie);
      states[i] = s;
      if (
        learn !== undefined &&
        (s === undefined ||
          s.openedAtMs !== sample.openedAtMs ||
          s.comm !== sample.comm ||
          s.cgroupId !== sample.cgroupId)
      ) {
        learn(sampleEnds(sample));
      }
    }
    const keys: KeyState[] = new Array(batch.closed.length);
    for (let i = 0; i < batch.closed.length; i++) {
      const totals = batch.closed[i] as ClosedLinkTotals;
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
      );
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
      const s = this.sockets.get(cookie);
      if (s === undefined) this.stats.unknownGone++;
      else this.release(cookie, s, now);
    }
    for (let i = 0; i < batch.sockets.length; i++) {
      this.applySample(batch.sockets[i] as SocketSample, states[i], resolve, now, sinceMs);
    }
    for (const [s, held] of this.heldSockets) {
      if (held.since < this.batchNo) this.settle(s, held.sample, resolve, now, sinceMs);
    }
    const present = new Set<KeyState>(keys);
    for (let i = 0; i < batch.closed.length; i++) {
      this.applyClosed(keys[i] as KeyState, batch.closed[i] as ClosedLinkTotals, resolve, now, sinceMs);
    }
    for (const [id, key] of this.keys) {
      if (key.openSockets === 0 && !present.has(key) && this.batchNo - key.lastGoneBatch >= 2)
        this.keys.delete(id);
    }
    this.expire(now);
    this.lastTimeMs = now;

    const links: Link[] = [];
    for (const l of this.links.values()) links.push(l.link);
    for (const l of this.overflowLinks.values()) links.push(l.link);
    return { batch: { timeMs: now, startTimeMs: batch.startTimeMs, links }, stats: this.stats };
  }

  private keyFor(id: string): KeyState {
    let key = this.keys.get(id);
    if (key === undefined) {
      key = newKeyState();
      this.keys.set(id, key);
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

  private resolveSample(sample: SocketSample, key: KeyState, resolve: Resolve, now: number): Resolution {
    const client = sample.role === 'client';
    return this.resolveFor(
      key,
      client ? sample.localPort : sample.remotePort,
      sample.pid,
      sample.openedAtMs,
      () => sampleEnds(sample),
      resolve,
      now,
    );
  }

  private applySample(
    sample: SocketSample,
    known: SocketState | undefined,
    resolve: Resolve,
    now: number,
    sinceMs: number,
  ): void {
    // `known` was looked up in the first pass; a cookie twice in one batch may have changed since.
    let s = known === undefined || known.released ? this.sockets.get(sample.cookie) : known;
    if (s !== undefined && s.openedAtMs !== sample.openedAtMs) {
      this.stats.replacedIncarnations++;
      this.release(sample.cookie, s, now);
      s = undefined;
    }
    if (s === undefined) {
      const key = this.keyFor(sampleKeyId(sample));
      const resolution = this.resolveSample(sample, key, resolve, now);
      const resolved = resolution.resolved;
      key.openSockets++;
      // A new socket whose other end may be a local process the batches have not shown yet (its own
      // socket in the next batch): held one batch rather than counted under a name it would leave.
      const held = resolved.awaitingPeer === true && !sample.preexisting;
      const link = held
        ? undefined
        : this.linkOf(resolution, serverPortOf(sample), sample.family, sample.role, now, sinceMs);
      if (link !== undefined) link.sockets++;
      s = {
        openedAtMs: sample.openedAtMs,
        observer: sample.role,
        comm: sample.comm,
        cgroupId: sample.cgroupId,
        key,
        link,
        tx: 0,
        rx: 0,
        retrans: 0,
        countedOpened: false,
        preexisting: sample.preexisting,
        active: false,
        resolution: resolved.provisional ? resolution : undefined,
        released: false,
      };
      this.sockets.set(sample.cookie, s);
      if (held) {
        this.heldSockets.set(s, { sample: { ...sample }, since: this.batchNo });
        return;
      }
    } else {
      let changedKey = false;
      if (sample.comm !== s.comm || sample.cgroupId !== s.cgroupId) {
        s.key.openSockets--;
        s.key = this.keyFor(sampleKeyId(sample));
        s.comm = sample.comm;
        s.cgroupId = sample.cgroupId;
        s.key.openSockets++;
        changedKey = true;
      }
      if (s.link === undefined) {
        (this.heldSockets.get(s) as Held).sample = { ...sample };
        return;
      }
      const kept = s.resolution;
      if (
        kept !== undefined &&
        (changedKey ||
          !this.holds(kept, now) ||
          (kept.resolved.reads?.pid === true && kept.pid !== sample.pid))
      ) {
        const resolution = this.resolveSample(sample, s.key, resolve, now);
        s.resolution = resolution.resolved.provisional ? resolution : undefined;
        const link = this.linkOf(resolution, serverPortOf(sample), sample.family, sample.role, now, sinceMs);
        if (link !== s.link) {
          this.stats.relinked++;
          this.moveSocket(s, s.link, link, now);
        }
      }
    }
    this.count(s, sample, now);
  }

  /** A held socket, one batch later: named with what the batches have shown since, then counted. */
  private settle(s: SocketState, sample: SocketSample, resolve: Resolve, now: number, sinceMs: number): void {
    this.heldSockets.delete(s);
    const resolution = this.resolveSample(sample, s.key, resolve, now);
    s.resolution = resolution.resolved.provisional ? resolution : undefined;
    s.link = this.linkOf(resolution, serverPortOf(sample), sample.family, sample.role, now, sinceMs);
    s.link.sockets++;
    this.count(s, sample, now);
  }

  /** Credits a socket's link with what its sample adds: opened, active, counter growth. */
  private count(s: SocketState, sample: SocketSample, now: number): void {
    const link = (s.link as LinkState).link;
    const established = ESTABLISHED_STATES.has(sample.state);
    let changed = false;
    if (established && !s.countedOpened && !s.preexisting) {
      s.countedOpened = true;
      link.connectionsOpened++;
      changed = true;
    }
    if (established !== s.active) {
      s.active = established;
      link.activeConnections += established ? 1 : -1;
      changed = true;
    }
    const dTx = this.delta(sample.txBytes, s.tx);
    const dRx = this.delta(sample.rxBytes, s.rx);
    const dRetrans = this.delta(sample.retransSegs, s.retrans);
    if (dTx > 0 || dRx > 0 || dRetrans > 0) {
      s.tx += dTx;
      s.rx += dRx;
      s.retrans += dRetrans;
      if (s.observer === 'client') {
        link.bytesClientToServer += dTx;
        link.bytesServerToClient += dRx;
      } else {
        link.bytesClientToServer += dRx;
        link.bytesServerToClient += dTx;
      }
      link.retransSegs += dRetrans;
      changed = true;
    }
    if (changed) link.lastActivityMs = now;
  }

  /** Growth of a cumulative counter; a regression counts and gives 0. */
  private delta(next: number, previous: number): number {
    if (next >= previous) return next - previous;
    this.stats.counterRegressions++;
    return 0;
  }

  private moveSocket(s: SocketState, from: LinkState, to: LinkState, now: number): void {
    from.sockets--;
    from.link.lastActivityMs = now;
    if (s.active) {
      from.link.activeConnections--;
      to.link.activeConnections++;
    }
    to.sockets++;
    to.link.lastActivityMs = now;
    s.link = to;
  }

  /** A socket is no longer open: its credit moves to its key, awaiting the closed totals. */
  private release(cookie: number, s: SocketState, now: number): void {
    const key = s.key;
    s.released = true;
    this.sockets.delete(cookie);
    key.openSockets--;
    if (s.link === undefined) {
      // Held, never counted: the kernel's closed totals count all of it, opened included.
      this.heldSockets.delete(s);
      return;
    }
    if (s.observer === 'client') {
      key.goneC2S += s.tx;
      key.goneS2C += s.rx;
    } else {
      key.goneC2S += s.rx;
      key.goneS2C += s.tx;
    }
    key.goneRetrans += s.retrans;
    if (s.countedOpened || (s.preexisting && s.active)) key.goneEstablished++;
    if (key.lastGoneBatch !== this.batchNo) key.lastGoneCount = 0;
    key.lastGoneCount++;
    key.lastGoneBatch = this.batchNo;
    key.lastGoneLink = s.link;
    s.link.sockets--;
    if (s.active) s.link.link.activeConnections--;
    s.link.link.lastActivityMs = now;
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
    }
    return state;
  }

  private expire(now: number): void {
    const idle = this.options.linkIdleTimeoutMs;
    for (const map of [this.links, this.overflowLinks]) {
      for (const [id, state] of map) {
        if (state.sockets === 0 && now - state.link.lastActivityMs >= idle) {
          state.live = false;
          map.delete(id);
          this.stats.linksExpired++;
        }
      }
    }
  }
}
