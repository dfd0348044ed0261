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

interface Claim<O> {
  owner: O;
  /** Identity of the claimant (a pod, Service or node record). */
  holder: object;
  fromMs: number;
  /** `Infinity` while the claim is live. */
  untilMs: number;
  prev: Claim<O> | undefined;
  /** Set once the claim has been unlinked from its chain. */
  dropped: boolean;
}

export interface TimelineLimits {
  /** Most tombstones kept; the oldest go first. */
  maxTombstones: number;
  /** A tombstone older than this (by its end time) is dropped. */
  tombstoneTtlMs: number;
}

export class IpTimeline<O> {
  private readonly heads = new Map<string, Claim<O>>();
  private readonly limits: TimelineLimits;
  /** Ended claims in the order they ended. */
  private queue: Array<{ ip: string; claim: Claim<O> }> = [];
  private queueStart = 0;
  private tombstoneCount = 0;
  private liveCount = 0;

  constructor(limits: TimelineLimits) {
    this.limits = limits;
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
    const head = this.heads.get(ip);
    if (head !== undefined && head.holder === holder && head.untilMs === Infinity) {
      head.owner = owner;
      return;
    }
    let fromMs = sinceMs;
    if (head !== undefined) {
      if (head.untilMs === Infinity) this.end(ip, head, nowMs);
      fromMs = Math.max(fromMs, head.untilMs);
    }
    const claim: Claim<O> = { owner, holder, fromMs, untilMs: Infinity, prev: head, dropped: false };
    this.heads.set(ip, claim);
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
    const head = this.heads.get(ip);
    if (head !== undefined && head.holder === holder && head.untilMs === Infinity) this.end(ip, head, atMs);
  }

  /** The owner of `ip` at `timeMs`, or `undefined`. */
  lookup(ip: string, timeMs: number): O | undefined {
    for (let c = this.heads.get(ip); c !== undefined; c = c.prev) {
      if (timeMs >= c.untilMs) return undefined;
      if (timeMs >= c.fromMs) return c.owner;
    }
    return undefined;
  }

  /** The live owner of `ip`, whatever its start time. */
  current(ip: string): O | undefined {
    const head = this.heads.get(ip);
    return head !== undefined && head.untilMs === Infinity ? head.owner : undefined;
  }

  /** Drops tombstones past the TTL or beyond the budget. */
  prune(nowMs: number): void {
    const oldest = nowMs - this.limits.tombstoneTtlMs;
    while (this.queueStart < this.queue.length) {
      const next = this.queue[this.queueStart] as { ip: string; claim: Claim<O> };
      if (!next.claim.dropped) {
        if (this.tombstoneCount <= this.limits.maxTombstones && next.claim.untilMs >= oldest) break;
        this.unlink(next.ip, next.claim);
      }
      this.queueStart++;
    }
    if (this.queueStart > 1024 && this.queueStart * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueStart);
      this.queueStart = 0;
    }
  }

  private end(ip: string, claim: Claim<O>, atMs: number): void {
    claim.untilMs = Math.max(claim.fromMs, atMs);
    this.liveCount--;
    this.tombstoneCount++;
    this.queue.push({ ip, claim });
  }

  private drop(claim: Claim<O>): void {
    if (claim.dropped) return;
    claim.dropped = true;
    if (claim.untilMs === Infinity) this.liveCount--;
    else this.tombstoneCount--;
  }

  private unlink(ip: string, claim: Claim<O>): void {
    const head = this.heads.get(ip);
    if (head === claim) {
      if (claim.prev === undefined) this.heads.delete(ip);
      else this.heads.set(ip, claim.prev);
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
