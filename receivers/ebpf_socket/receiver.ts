/**
 * The `ebpf_socket` receiver: loads the socket tracker, adopts the sockets
 * already open in every covered network namespace, then polls: one
 * SocketBatch per `poll_interval`.
 *
 * Per poll it reads the kernel-folded totals of closed sockets FIRST, then the
 * cookies of reported sockets that closed, then the open sockets that are new
 * or changed. A socket closing between those reads can only be under-counted
 * until the next poll, never counted twice (DESIGN.md, accounting contract).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Component, CreateSettings, Host } from '../../core/component.ts';
import { fixMmapThreshold, releaseMemory, trimNativeHeap } from '../../core/memory.ts';
import type { ClosedLinkTotals, Consumer, SocketBatch } from '../../core/signals.ts';
import type { Counter, Gauge, Histogram } from '../../core/telemetry.ts';
import { decodeCookies, LinkDecoder, SocketDecoder } from './decode.ts';
import { STAT, STAT_COUNT } from './layout.ts';
import { LostSocketsWarning } from './lost-warning.ts';
import type { StatName } from './layout.ts';
import { SocketTracker } from './libbpf.ts';
import { listNamespaces, resolveNamespaces } from './namespaces.ts';
import type { NetnsRef } from './namespaces.ts';
import { preflight, readSystemFacts } from './preflight.ts';
import type { SystemFacts } from './preflight.ts';

export interface EbpfSocketConfig {
  /** Milliseconds between polls. @default 5000 */
  poll_interval: number;
  /** Open sockets tracked at once; more are counted as drops. @default 65536 */
  max_sockets: number;
  /** Link keys of closed-socket totals; more are counted as drops. @default 16384 */
  max_links: number;
  /** `all`, or network namespace paths / inode numbers. @default ['all'] */
  network_namespaces: string[];
  /** Track connections to loopback addresses. @default true */
  include_loopback: boolean;
}

/**
 * Sockets in a batch from which, the first time a batch is that large (and again each time one is a
 * quarter larger than the largest so far), memory is handed back once the pipeline has consumed it.
 */
const RELEASE_FROM_ROWS = 10_000;

/** Records per iterator pass (the `out` array: 2 MiB). */
const OUT_CAPACITY = 16384;

/** Candidate locations of the compiled object: beside the sources, or beside dist/. */
const OBJECT_CANDIDATES = ['../../bpf/socket_tracker.bpf.o', '../../../bpf/socket_tracker.bpf.o'];

export function findObject(): string {
  for (const rel of OBJECT_CANDIDATES) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (fs.existsSync(p)) return p;
  }
  throw new Error(
    `ebpf_socket: bpf/socket_tracker.bpf.o not found (looked in ${OBJECT_CANDIDATES.join(', ')})`,
  );
}

/** Test seams: the machine facts and namespace listing. */
export interface ReceiverDeps {
  systemFacts?: () => SystemFacts;
  objectPath?: string;
}

const DROP_STATS: ReadonlyArray<{ stat: StatName; map: string; what: string }> = [
  { stat: 'socketsFull', map: 'sockets', what: 'socket table full: new sockets are not tracked' },
  { stat: 'linksFull', map: 'links', what: 'max_links reached: totals of closed sockets are lost' },
  { stat: 'goneFull', map: 'gone', what: 'closed-socket queue full: downstream keeps stale sockets' },
];

const HIT_STATS: ReadonlyArray<{ stat: StatName; hook: string }> = [
  { stat: 'hitState', hook: 'inet_sock_set_state' },
  { stat: 'hitRecv', hook: 'sock_recv_length' },
  { stat: 'hitDestroy', hook: 'tcp_destroy_sock' },
];

export class EbpfSocketReceiver implements Component {
  private readonly settings: CreateSettings;
  private readonly config: EbpfSocketConfig;
  private readonly next: Consumer<SocketBatch>;
  private readonly deps: ReceiverDeps;
  private tracker: SocketTracker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private host: Host | undefined;
  private startTimeMs = 0;
  private decoder: SocketDecoder | undefined;
  /** The closed totals, an object per kernel key kept across polls. */
  private readonly links = new LinkDecoder();
  private previousStats: number[] = new Array<number>(STAT_COUNT).fill(0);
  private previousSkipped = 0;
  private readonly loggedDrop = new Set<string>();
  private readonly lostWarning: LostSocketsWarning;
  private stopped = false;
  /** Rows of the batch after which memory is released next (`RELEASE_FROM_ROWS`). */
  private releaseAtRows = RELEASE_FROM_ROWS;
  private readonly instruments: {
    polls: Counter;
    pollDuration: Histogram;
    pollCpu: Histogram;
    tracked: Gauge;
    fill: Gauge;
    drops: Counter;
    lostBytes: Counter;
    hits: Counter;
    sockets: Counter;
    memory: Gauge;
    consumeErrors: Counter;
    staleReads: Counter;
    skippedRuns: Counter;
  };

  constructor(
    settings: CreateSettings,
    config: EbpfSocketConfig,
    next: Consumer<SocketBatch>,
    deps: ReceiverDeps = {},
  ) {
    this.settings = settings;
    this.config = config;
    this.next = next;
    this.deps = deps;
    this.lostWarning = new LostSocketsWarning(settings.logger);
    const t = settings.telemetry;
    this.instruments = {
      polls: t.counter('loggerhead.receiver.polls', {
        description: 'Polls of the kernel socket maps',
        unit: '1',
      }),
      pollDuration: t.histogram('loggerhead.receiver.poll.duration', {
        description: 'Wall time of one poll (map reads and decoding, not the consumer)',
        unit: 'ms',
        boundaries: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      }),
      pollCpu: t.histogram('loggerhead.receiver.poll.cpu', {
        description: 'Userspace CPU time of one poll',
        unit: 'ms',
        boundaries: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      }),
      tracked: t.gauge('loggerhead.receiver.sockets.tracked', {
        description: 'Open TCP sockets tracked in the kernel',
        unit: '1',
      }),
      fill: t.gauge('loggerhead.receiver.map.fill', {
        description: 'Fill ratio of a bounded kernel table (map = sockets | links)',
        unit: '1',
      }),
      drops: t.counter('loggerhead.receiver.map.full_drops', {
        description: 'Items not recorded because a kernel table was full (map = sockets | links | gone)',
        unit: '1',
      }),
      lostBytes: t.counter('loggerhead.receiver.lost_bytes', {
        description: 'Bytes of closed sockets lost because the links table was full',
        unit: 'By',
      }),
      hits: t.counter('loggerhead.receiver.hook.hits', {
        description: 'Runs of each kernel hook (hook = tracepoint name)',
        unit: '1',
      }),
      sockets: t.counter('loggerhead.receiver.sockets', {
        description:
          'Sockets by event: created (tracked from creation), adopted (pre-existing), closed; reclaimed: ' +
          'CLOSE not seen, folded by a poll with exact totals; reclaimed_lost: gone before a poll found it, ' +
          'bytes since the previous poll lost',
        unit: '1',
      }),
      memory: t.gauge('loggerhead.receiver.kernel_map.memory', {
        description: 'Kernel memory charged to the maps (all of the tracker)',
        unit: 'By',
      }),
      staleReads: t.counter('loggerhead.receiver.poll.stale_reads', {
        description:
          'Sockets skipped by a poll because they closed (or their memory was reused) while being read',
        unit: '1',
      }),
      skippedRuns: t.counter('loggerhead.receiver.hook.skipped_runs', {
        description:
          'Hook runs the kernel skipped (the hook was already running on that CPU): missed state changes',
        unit: '1',
      }),
      consumeErrors: t.counter('loggerhead.receiver.consume.errors', {
        description: 'Batches the next component rejected',
        unit: '1',
      }),
    };
  }

  async start(host: Host): Promise<void> {
    this.host = host;
    const logger = this.settings.logger;
    const all = this.config.network_namespaces.includes('all');
    if (all && this.config.network_namespaces.length > 1) {
      throw new Error('ebpf_socket: network_namespaces: `all` cannot be combined with other entries');
    }
    const namespaces: NetnsRef[] = all ? listNamespaces() : resolveNamespaces(this.config.network_namespaces);
    const ownInode = fs.statSync('/proc/self/ns/net').ino;
    const plan = preflight((this.deps.systemFacts ?? readSystemFacts)(), {
      otherNamespaces: namespaces.some((n) => n.inode !== ownInode),
    });
    const tracker = SocketTracker.open(
      this.deps.objectPath ?? findObject(),
      {
        maxSockets: this.config.max_sockets,
        maxLinks: this.config.max_links,
        outCapacity: Math.min(this.config.max_sockets, OUT_CAPACITY),
        netnsFilter: all ? null : namespaces.map((n) => n.inode),
        includeLoopback: this.config.include_loopback,
        tracepoints: plan.programs,
      },
      logger,
    );
    try {
      tracker.attach();
      const mmapThreshold = fixMmapThreshold();
      this.startTimeMs = Date.now();
      this.decoder = new SocketDecoder(this.startTimeMs - Number(process.hrtime.bigint()) / 1e6);
      const adoptionFailures: string[] = [];
      for (const ns of namespaces) {
        try {
          tracker.adopt(ns.path);
        } catch (error) {
          // A process may exit (and its namespace vanish) between listing and entering it.
          adoptionFailures.push(`${ns.path}: ${(error as Error).message}`);
        }
      }
      const stats = tracker.readStats();
      logger.info('ebpf_socket started', {
        hooks: plan.chosen,
        unavailable_hooks: plan.missing,
        network_namespaces: all ? 'all' : namespaces.map((n) => n.inode),
        namespaces_adopted: namespaces.length - adoptionFailures.length,
        sockets_adopted: stats[STAT.adopted],
        map_memory_bytes: tracker.mapMemoryBytes(),
        malloc_mmap_threshold_fixed: mmapThreshold,
      });
      if (adoptionFailures.length > 0) {
        logger.warn('could not adopt the open sockets of some network namespaces', {
          failures: adoptionFailures.slice(0, 10),
          count: adoptionFailures.length,
        });
      }
    } catch (error) {
      tracker.close();
      throw error;
    }
    this.tracker = tracker;
    this.timer = setInterval(() => this.tick(), this.config.poll_interval);
    this.timer.unref();
  }

  private tick(): void {
    if (this.inFlight !== undefined || this.stopped) return;
    this.inFlight = this.poll()
      .then(() => undefined)
      .catch((error: unknown) => this.host?.reportError(error as Error))
      .finally(() => {
        this.inFlight = undefined;
      });
  }

  /** One poll: reads the kernel and hands one batch to the next component. Public for tests and benchmarks. */
  async poll(): Promise<SocketBatch> {
    const tracker = this.tracker;
    const decoder = this.decoder;
    if (tracker === undefined || decoder === undefined) throw new Error('ebpf_socket: poll before start');
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    // What V8's background threads freed since the last poll (compiling, collecting): at most 0.5 ms.
    trimNativeHeap();
    const closed: ClosedLinkTotals[] = [];
    const links = this.links;
    links.begin();
    tracker.readLinks((keys, values, count) => links.decode(keys, values, count, closed));
    links.end();
    const goneCookies: number[] = [];
    tracker.takeGone((cookies, _values, count) => decodeCookies(cookies, count, goneCookies));
    decoder.begin();
    const openSockets = tracker.readSockets((records, count) => decoder.decode(records, count));
    const batch: SocketBatch = {
      timeMs: Date.now(),
      startTimeMs: this.startTimeMs,
      sockets: decoder.table,
      gone: goneCookies,
      openSockets,
      closed,
    };
    this.record(tracker, openSockets, closed.length);
    const cpu = process.cpuUsage(cpu0);
    this.instruments.pollDuration.record(performance.now() - wall0);
    this.instruments.pollCpu.record((cpu.user + cpu.system) / 1000);
    this.instruments.polls.add(1);
    try {
      await this.next.consume(batch);
    } catch (error) {
      this.instruments.consumeErrors.add(1);
      throw error;
    }
    if (batch.sockets.count >= this.releaseAtRows) this.release(batch.sockets.count);
    // What the pipeline freed handling the batch, so that it is not resident until the next poll.
    else trimNativeHeap();
    return batch;
  }

  /**
   * After a batch larger than any before (the first poll of a busy node: every socket new), the
   * garbage the pipeline made of it is gone but V8 and glibc keep its pages (`core/memory.ts`):
   * given back once, at the cost of a few full collections.
   */
  private release(rows: number): void {
    this.releaseAtRows = Math.ceil(rows * 1.25);
    const started = performance.now();
    const rss = process.memoryUsage.rss();
    releaseMemory();
    this.settings.logger.debug('memory released after a large batch', {
      sockets: rows,
      duration_ms: Math.round(performance.now() - started),
      rss_before_bytes: rss,
      rss_after_bytes: process.memoryUsage.rss(),
    });
  }

  private record(tracker: SocketTracker, openSockets: number, linkCount: number): void {
    const stats = tracker.readStats();
    const delta = (name: StatName): number => {
      const i = STAT[name];
      return Math.max(0, (stats[i] ?? 0) - (this.previousStats[i] ?? 0));
    };
    for (const drop of DROP_STATS) {
      const n = delta(drop.stat);
      if (n === 0) continue;
      this.instruments.drops.add(n, { map: drop.map });
      if (!this.loggedDrop.has(drop.stat)) {
        this.loggedDrop.add(drop.stat);
        this.settings.logger.warn(`kernel table full: ${drop.what}`, {
          map: drop.map,
          max_sockets: this.config.max_sockets,
          max_links: this.config.max_links,
          note: 'logged once; every drop is counted in loggerhead.receiver.map.full_drops',
        });
      }
    }
    const lost = delta('lostBytes');
    if (lost > 0) this.instruments.lostBytes.add(lost);
    for (const hit of HIT_STATS) this.instruments.hits.add(delta(hit.stat), { hook: hit.hook });
    this.instruments.sockets.add(delta('created'), { event: 'created' });
    this.instruments.sockets.add(delta('adopted'), { event: 'adopted' });
    this.instruments.sockets.add(delta('closed'), { event: 'closed' });
    this.instruments.sockets.add(delta('reclaimed'), { event: 'reclaimed' });
    const reclaimedLost = delta('reclaimedLost');
    this.instruments.sockets.add(reclaimedLost, { event: 'reclaimed_lost' });
    this.lostWarning.note(reclaimedLost);
    this.instruments.staleReads.add(delta('staleReads'));
    const skipped = tracker.skippedRuns();
    if (skipped > this.previousSkipped) {
      this.instruments.skippedRuns.add(skipped - this.previousSkipped);
      if (this.previousSkipped === 0) {
        this.settings.logger.warn(
          'the kernel skipped runs of a hook (nested on one CPU): state changes were missed',
          {
            note: 'logged once; counted in loggerhead.receiver.hook.skipped_runs',
          },
        );
      }
      this.previousSkipped = skipped;
    }
    this.instruments.tracked.set(openSockets);
    this.instruments.fill.set(openSockets / this.config.max_sockets, { map: 'sockets' });
    this.instruments.fill.set(linkCount / this.config.max_links, { map: 'links' });
    this.instruments.memory.set(tracker.mapMemoryBytes());
    this.previousStats = stats;
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.inFlight !== undefined) await this.inFlight;
    this.tracker?.close();
    this.tracker = undefined;
  }
}
