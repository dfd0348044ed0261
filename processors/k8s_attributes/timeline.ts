/**
 * A time-aware map from IP address to owner: who held an address at a given
 * time. Each address keeps a short chain of claims, newest first, with
 * non-overlapping `[fromMs, untilMs)` intervals; an ended claim is a tombstone,
 * kept until it is older than the TTL or the tombstone budget is spent.
 *
 * Pure: time is always passed in.
 */

/** Claims kept per address (the live one and the most recent tombstones). */
export const MAX_CLAIMS_PER_IP = 8;

class Claim<O> {
  owner: O;
  /** Identity of the claimant (a pod, Service or node record). */
  holder: object;
  fromMs: number;
  /** `Infinity` while the claim is live. */
  untilMs: number;
  prev: Claim<O> | undefined;
  /** Set once the claim has been unlinked from its chain. */
  dropped: boolean;

  constructor(owner: O, holder: object, fromMs: number, prev: Claim<O> | undefined) {
    this.owner = owner;
    this.holder = holder;
    this.fromMs = fromMs;
    this.untilMs = Infinity;
    this.prev = prev;
    this.dropped = false;
  }
}

export interface TimelineLimits {
  /** Most tombstones kept; the oldest go first. */
  maxTombstones: number;
  /** A tombstone older than this (by its end time) is dropped. */
  tombstoneTtlMs: number;
}

/**
 * A dotted-quad IPv4 address as a signed 32-bit integer (a small integer to
 * V8, stored in the hash table itself), or `undefined` for anything else.
 * Keying IPv4 by number spares a string per address and the cache miss of
 * comparing key strings scattered over the heap.
 */
export function ipv4Key(ip: string): number | undefined {
  const n = ip.length;
  if (n < 7 || n > 15) return undefined;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      value = (value << 8) | octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (value << 8) | octet;
}

/** How an address is keyed: `ipv4Key` when it is a dotted quad, else its text. */
export type IpKey = number | string;

export function ipKey(ip: string): IpKey {
  return ipv4Key(ip) ?? ip;
}

type Key = IpKey;

/**
 * What an address maps to: its chain of claims, or (see `sinceOf`) an owner
 * that is its only claim, live since the owner's own start.
 */
type Slot<O> = Claim<O> | O;

export class IpTimeline<O> {
  private readonly v4 = new Map<number, Slot<O>>();
  private readonly other = new Map<string, Slot<O>>();
  private readonly limits: TimelineLimits;
  private readonly sinceOf: ((owner: O) => number) | undefined;
  /** Ended claims in the order they ended. */
  private queue: Array<{ key: Key; claim: Claim<O> }> = [];
  private queueStart = 0;
  private tombstoneCount = 0;
  private liveCount = 0;

  /**
   * With `sinceOf` (owners that are objects, never `Claim`s, and know their
   * own start), the first claim of an address by an owner that is its own
   * holder, from `sinceOf(owner)` on, is stored as the owner itself: no claim
   * object and no boxed times for the usual address, held by one owner since
   * it started. It becomes a claim when anything else happens to the address.
   */
  constructor(limits: TimelineLimits, sinceOf?: (owner: O) => number) {
    this.limits = limits;
    this.sinceOf = sinceOf;
  }

  /** Addresses with a live claim. */
  get live(): number {
    return this.liveCount;
  }

  /** Ended claims still answering for past times. */
  get tombstones(): number {
    return this.tombstoneCount;
  }

  /**
   * `holder` claims `ip` from `sinceMs` (its creation time) on. A live claim by
   * someone else ends now; the new claim starts no earlier than the previous
   * one ended, so times before the handover keep their old owner.
   */
  claim(ip: string, owner: O, holder: object, sinceMs: number, nowMs: number): void {
    const key = ipKey(ip);
    const slot = this.slot(key);
    if (
      slot === undefined &&
      this.sinceOf !== undefined &&
      owner === holder &&
      this.sinceOf(owner) === sinceMs
    ) {
      this.set(key, owner);
      this.liveCount++;
      return;
    }
    if (slot === owner && slot === holder && !(slot instanceof Claim)) return;
    const head = this.get(key);
    if (head !== undefined && head.holder === holder && head.untilMs === Infinity) {
      head.owner = owner;
      return;
    }
    let fromMs = sinceMs;
    if (head !== undefined) {
      if (head.untilMs === Infinity) this.end(key, head, nowMs);
      fromMs = Math.max(fromMs, head.untilMs);
    }
    const claim = new Claim(owner, holder, fromMs, head);
    this.set(key, claim);
    this.liveCount++;
    let kept = 1;
    for (let c = claim; c.prev !== undefined; c = c.prev) {
      if (++kept > MAX_CLAIMS_PER_IP) {
        for (let gone: Claim<O> | undefined = c.prev; gone !== undefined; gone = gone.prev) this.drop(gone);
        c.prev = undefined;
        break;
      }
    }
  }

  /** `holder`'s live claim on `ip`, if it still has one, ends at `atMs`. */
  release(ip: string, holder: object, atMs: number): void {
    const key = ipKey(ip);
    const head = this.get(key);
    if (head !== undefined && head.holder === holder && head.untilMs === Infinity) this.end(key, head, atMs);
  }

  /** The owner of `ip` at `timeMs`, or `undefined`. */
  lookup(ip: string, timeMs: number): O | undefined {
    return this.lookupKey(ipKey(ip), timeMs);
  }

  /** `lookup` for an address already keyed with `ipKey`. */
  lookupKey(key: IpKey, timeMs: number): O | undefined {
    const slot = this.slot(key);
    if (slot === undefined) return undefined;
    if (!(slot instanceof Claim)) {
      return timeMs >= (this.sinceOf as (owner: O) => number)(slot) && timeMs < Infinity ? slot : undefined;
    }
    for (let c: Claim<O> | undefined = slot; c !== undefined; c = c.prev) {
      if (timeMs >= c.untilMs) return undefined;
      if (timeMs >= c.fromMs) return c.owner;
    }
    return undefined;
  }

  /** The live owner of `ip`, whatever its start time. */
  current(ip: string): O | undefined {
    const slot = this.slot(ipKey(ip));
    if (slot === undefined || !(slot instanceof Claim)) return slot;
    const head = slot as Claim<O>;
    return head.untilMs === Infinity ? head.owner : undefined;
  }

  /** Drops tombstones past the TTL or beyond the budget. */
  prune(nowMs: number): void {
    const oldest = nowMs - this.limits.tombstoneTtlMs;
    while (this.queueStart < this.queue.length) {
      const next = this.queue[this.queueStart] as { key: Key; claim: Claim<O> };
      if (!next.claim.dropped) {
        if (this.tombstoneCount <= this.limits.maxTombstones && next.claim.untilMs >= oldest) break;
        this.unlink(next.key, next.claim);
      }
      this.queueStart++;
    }
    if (this.queueStart > 1024 && this.queueStart * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueStart);
      this.queueStart = 0;
    }
  }

  private slot(key: Key): Slot<O> | undefined {
    return typeof key === 'number' ? this.v4.get(key) : this.other.get(key);
  }

  /** The address's chain of claims (an owner stored alone becomes a claim here). */
  private get(key: Key): Claim<O> | undefined {
    const slot = this.slot(key);
    if (slot === undefined || slot instanceof Claim) return slot as Claim<O> | undefined;
    const claim = new Claim(slot, slot as object, (this.sinceOf as (owner: O) => number)(slot), undefined);
    this.set(key, claim);
    return claim;
  }

  private set(key: Key, claim: Slot<O>): void {
    if (typeof key === 'number') this.v4.set(key, claim);
    else this.other.set(key, claim);
  }

  private remove(key: Key): void {
    if (typeof key === 'number') this.v4.delete(key);
    else this.other.delete(key);
  }

  private end(key: Key, claim: Claim<O>, atMs: number): void {
    claim.untilMs = Math.max(claim.fromMs, atMs);
    this.liveCount--;
    this.tombstoneCount++;
    this.queue.push({ key, claim });
  }

  private drop(claim: Claim<O>): void {
    if (claim.dropped) return;
    claim.dropped = true;
    if (claim.untilMs === Infinity) this.liveCount--;
    else this.tombstoneCount--;
  }

  private unlink(key: Key, claim: Claim<O>): void {
    const head = this.get(key);
    if (head === claim) {
      if (claim.prev === undefined) this.remove(key);
      else this.set(key, claim.prev);
    } else {
      for (let c = head; c !== undefined; c = c.prev) {
        if (c.prev === claim) {
          c.prev = claim.prev;
          break;
        }
      }
    }
    this.drop(claim);
  }
}
