/**
 * Reverse DNS for external addresses, off the batch path: `lookup` answers at
 * once from a cache and, on a miss, queues a PTR query. The first batch that
 * sees an address names it by the IP; a later batch gets the name once the
 * answer is in. Cached with a TTL (a stale name is served while it is
 * refreshed), bounded in entries, rate-limited by a fixed number of queries in
 * flight and a cap on queries per second (a token bucket that holds one token:
 * queries go out at least 1/rate seconds apart), with a bounded queue whose
 * overflow is counted.
 */
import { Resolver } from 'node:dns/promises';
import { parseIp } from '../../core/ip.ts';
import type { DnsAnswer, DnsLookup } from './resolve.ts';

/**
 * The reverse-lookup name of an address (`7.2.0.192.in-addr.arpa`, nibbles
 * under `ip6.arpa` for IPv6), or undefined for a string that is not an address.
 */
export function reverseName(address: string): string | undefined {
  const ip = parseIp(address);
  if (ip === undefined) return undefined;
  if (ip.family === 4) return `${[...ip.bytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const b of ip.bytes) nibbles.push((b >> 4).toString(16), (b & 15).toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

export interface ReverseDnsOptions {
  /** How long an answer (a name or "no name") is kept. */
  ttlMs: number;
  /** Cached addresses at most; the oldest entry goes first. */
  maxEntries: number;
  /** Per-query timeout. */
  timeoutMs: number;
  /** Addresses waiting for a query at most; more are dropped (counted) and asked again on a later sighting. */
  maxQueue: number;
  /** Queries in flight at most. @default 4 */
  concurrency?: number;
  /** Queries sent per second at most; queued addresses wait for their turn. @default 50 */
  maxQueriesPerSecond?: number;
  /** DNS servers (`ip` or `ip:port`); the system's resolvers when empty or omitted. */
  servers?: readonly string[];
  /** Clock (milliseconds); wake-ups for the rate cap use the global setTimeout. @default Date.now */
  now?: () => number;
}

export interface ReverseDnsStats {
  queueDepth: number;
  inFlight: number;
  cacheSize: number;
  /** Queries sent. */
  queries: number;
  /** Queries answered with a name. */
  resolved: number;
  /** Queries answered "no such name" (cached as such). */
  notFound: number;
  /** Queries that failed (timeout, refused, server failure). */
  errors: number;
  /** Addresses not queued because the queue was full. */
  dropped: number;
}

interface Entry {
  name: string | undefined;
  expiresAtMs: number;
}

const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);
/** Failures other than "no such name" are retried sooner than a full TTL. */
const ERROR_TTL_MS = 30_000;

/** A name as DNS gives it, made safe to use as an identity name. */
function cleanName(name: string): string | undefined {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed.length === 0 || trimmed.length > 253) return undefined;
  return /^[\x21-\x7e]+$/.test(trimmed) ? trimmed.toLowerCase() : undefined;
}

/**
 * @example
 * const dns = new ReverseDns({ ttlMs: 300_000, maxEntries: 10_000, timeoutMs: 2000, maxQueue: 1000 });
 * dns.lookup('192.0.2.7'); // { name: undefined, pending: true } -- later: { name: 'host.example', pending: false }
 */
export class ReverseDns implements DnsLookup {
  private readonly options: Required<Omit<ReverseDnsOptions, 'servers'>>;
  private readonly resolver: Resolver;
  private readonly cache = new Map<string, Entry>();
  private readonly queue: string[] = [];
  private readonly waiting = new Set<string>();
  private inFlight = 0;
  /** When the next query may be sent (the token bucket: one token, refilled every 1/rate seconds). */
  private nextSendMs = -Infinity;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly counters = { queries: 0, resolved: 0, notFound: 0, errors: 0, dropped: 0 };
  private idleWaiters: Array<() => void> = [];
  private answers = 0;

  constructor(options: ReverseDnsOptions) {
    for (const [field, value] of [
      ['ttlMs', options.ttlMs],
      ['maxEntries', options.maxEntries],
      ['timeoutMs', options.timeoutMs],
      ['maxQueue', options.maxQueue],
      ['concurrency', options.concurrency ?? 4],
      ['maxQueriesPerSecond', options.maxQueriesPerSecond ?? 50],
    ] as const) {
      if (!(Number.isFinite(value) && value > 0))
        throw new Error(`dns ${field} must be greater than 0, got ${value}`);
    }
    this.options = {
      ttlMs: options.ttlMs,
      maxEntries: options.maxEntries,
      timeoutMs: options.timeoutMs,
      maxQueue: options.maxQueue,
      concurrency: options.concurrency ?? 4,
      maxQueriesPerSecond: options.maxQueriesPerSecond ?? 50,
      now: options.now ?? Date.now,
    };
    this.intervalMs = 1000 / this.options.maxQueriesPerSecond;
    this.resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
    if (options.servers !== undefined && options.servers.length > 0) {
      try {
        this.resolver.setServers([...options.servers]);
      } catch (e) {
        throw new Error(`dns servers ${JSON.stringify(options.servers)}: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
  }

  /** What is known about `ip` now; queues a query when nothing (or only a stale answer) is. */
  lookup(ip: string): DnsAnswer {
    const entry = this.cache.get(ip);
    const now = this.options.now();
    if (entry !== undefined && entry.expiresAtMs > now) return { name: entry.name, pending: false };
    const pending = this.enqueue(ip);
    return { name: entry?.name, pending: entry?.name === undefined && pending };
  }

  /** Moves whenever an answer comes in (a name, no name, or an error). */
  get version(): number {
    return this.answers;
  }

  stats(): ReverseDnsStats {
    return {
      ...this.counters,
      queueDepth: this.queue.length,
      inFlight: this.inFlight,
      cacheSize: this.cache.size,
    };
  }

  /** Resolves once no query is queued or in flight (for tests and orderly shutdown). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cancels queries in flight and drops the queue. Safe twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.waiting.clear();
    this.resolver.cancel();
    this.notifyIdle();
  }

  /** True when `ip` is queued or in flight after this call. */
  private enqueue(ip: string): boolean {
    if (this.closed) return false;
    if (this.waiting.has(ip)) return true;
    if (this.queue.length >= this.options.maxQueue) {
      this.counters.dropped++;
      return true;
    }
    this.waiting.add(ip);
    this.queue.push(ip);
    this.pump();
    return true;
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.options.concurrency && this.queue.length > 0) {
      const now = this.options.now();
      if (now < this.nextSendMs) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, this.nextSendMs - now);
        return;
      }
      // A late wake-up does not bank the time it missed: queries never go out faster than the cap.
      this.nextSendMs = now + this.intervalMs;
      const ip = this.queue.shift() as string;
      this.inFlight++;
      this.counters.queries++;
      void this.query(ip);
    }
  }

  private async query(ip: string): Promise<void> {
    let entry: Entry;
    try {
      const ptr = reverseName(ip);
      // resolvePtr, not reverse(): reverse() falls back to /etc/hosts and reports a timeout as ENOTFOUND.
      const names = ptr === undefined ? [] : await this.resolver.resolvePtr(ptr);
      const name = names.map(cleanName).find((n) => n !== undefined);
      entry = { name, expiresAtMs: this.options.now() + this.options.ttlMs };
      if (name !== undefined) this.counters.resolved++;
      else this.counters.notFound++;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && NOT_FOUND.has(code)) {
        this.counters.notFound++;
        entry = { name: undefined, expiresAtMs: this.options.now() + this.options.ttlMs };
      } else {
        this.counters.errors++;
        const previous = this.cache.get(ip)?.name;
        entry = {
          name: previous,
          expiresAtMs: this.options.now() + Math.min(this.options.ttlMs, ERROR_TTL_MS),
        };
      }
    }
    this.inFlight--;
    this.waiting.delete(ip);
    if (!this.closed) {
      this.cache.delete(ip);
      this.cache.set(ip, entry);
      this.answers++;
      while (this.cache.size > this.options.maxEntries) {
        const oldest = this.cache.keys().next();
        if (oldest.done === true) break;
        this.cache.delete(oldest.value);
      }
      this.pump();
    }
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.inFlight > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
