/**
 * The `k8s_attributes` processor: socket batches in, named links out. Thin
 * shell around the pure parts: it picks the mode, owns the lookups
 * (Kubernetes metadata, cgroup paths, reverse DNS, learned local peers),
 * resolves with `resolve.ts`, aggregates with `aggregate.ts` and records
 * self-telemetry.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Component, CreateSettings, Host } from '../../core/component.ts';
import type { Logger } from '../../core/logger.ts';
import type { Consumer, LinkBatch, SocketBatch } from '../../core/signals.ts';
import type { Counter, Histogram, Telemetry } from '../../core/telemetry.ts';
import { Aggregator } from './aggregate.ts';
import type { FlowEnds, ResolvedEnds } from './aggregate.ts';
import { CidrTable } from './cidr.ts';
import { clusterSource } from './cluster-source.ts';
import { ReverseDns } from './dns.ts';
import type { ReverseDnsStats } from './dns.ts';
import { HostInfo, ownAddresses } from './host.ts';
import type { HostInfoStats } from './host.ts';
import type { ClusterMetadata } from './metadata.ts';
import { inputsVersion, LocalPeers, parseAddress, resolveEnds } from './resolve.ts';
import type { Mode, ResolveContext } from './resolve.ts';

/** Validated config (durations in milliseconds), as the schema in factory.ts describes it. */
export interface K8sAttributesConfig {
  mode: 'auto' | Mode;
  kubeconfig: string;
  owner_depth: 'workload' | 'pod';
  dns: {
    enabled: boolean;
    ttl: number;
    max_entries: number;
    timeout: number;
    max_queue: number;
    max_queries_per_second: number;
    servers: string[];
  };
  cidr_names: Record<string, string>;
  link_idle_timeout: number;
  max_links: number;
}

/** Test seams at the edges: where /proc and the cgroup tree are, and the cluster detection timeout. */
export interface ProcessorEdges {
  hostInfo?: HostInfo;
  detectTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

interface Instruments {
  resolutions: Counter;
  linksCreated: Counter;
  linksExpired: Counter;
  overflowed: Counter;
  anomalies: Counter;
  splitPayments: Counter;
  deferredPayments: Counter;
  dnsQueries: Counter;
  cgroupWalks: Counter;
  batchDuration: Histogram;
}

function instruments(t: Telemetry): Instruments {
  return {
    resolutions: t.counter('loggerhead.processor.resolutions', {
      description:
        'Socket ends named, by end (client | server), identity kind and result (hit: named; miss: an external named by its IP, or a local end nothing named); an answer shared by the sockets of one kernel key counts once',
      unit: '1',
    }),
    linksCreated: t.counter('loggerhead.processor.links.created', {
      description: 'Links created (a link that expired and came back counts again)',
      unit: '1',
    }),
    linksExpired: t.counter('loggerhead.processor.links.expired', {
      description: 'Links dropped from the output after link_idle_timeout with no open socket and no change',
      unit: '1',
    }),
    overflowed: t.counter('loggerhead.processor.links.overflowed', {
      description:
        'Sockets and closed-connection totals sent to the _overflow link because max_links was reached',
      unit: '1',
    }),
    anomalies: t.counter('loggerhead.processor.input.anomalies', {
      description:
        'Receiver input that breaks its contract, by type (counter_regression, unknown_gone, replaced_incarnation); ignored safely',
      unit: '1',
    }),
    splitPayments: t.counter('loggerhead.processor.links.split_payments', {
      description:
        'Closed totals of one kernel key shared in one batch between a closing socket and new connections named differently (an IP that changed owner): counts exact, bytes split by connections',
      unit: '1',
    }),
    deferredPayments: t.counter('loggerhead.processor.links.deferred_payments', {
      description:
        'Totals of connections that opened and closed between two polls, paid one batch later because the local process at the other end was not known yet (host mode)',
      unit: '1',
    }),
    dnsQueries: t.counter('loggerhead.processor.dns.queries', {
      description:
        'Reverse DNS queries by result (resolved, not_found, error), and addresses dropped on a full queue',
      unit: '1',
    }),
    cgroupWalks: t.counter('loggerhead.processor.cgroup.walks', {
      description: 'Walks of the cgroup v2 tree (at start and on an unknown cgroup id, rate-limited)',
      unit: '1',
    }),
    batchDuration: t.histogram('loggerhead.processor.batch.duration', {
      description: 'Time to resolve and aggregate one socket batch (not the downstream consumer)',
      unit: 'ms',
      boundaries: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    }),
  };
}

/** Resolutions of one end, result and kind since the last batch, with their telemetry attributes. */
interface ResolutionCount {
  attrs: Record<string, string>;
  n: number;
}

/** How long an unknown address of a new connection stays provisional in Kubernetes mode. */
const INFORMER_GRACE_MS = 30_000;

function isNamedByIp(name: string): boolean {
  return parseAddress(name) !== undefined;
}

/**
 * Why mode auto cannot find a cluster, when that is certain without the Kubernetes client: not in a
 * pod and no kubeconfig file (`clusterSource`, as `detectCluster` looks). Host mode then never loads
 * the client.
 */
export function noClusterReason(kubeconfig: string, env: NodeJS.ProcessEnv): string | undefined {
  const source = clusterSource(kubeconfig === '' ? undefined : kubeconfig, env);
  if (source.kind === 'in-cluster') return undefined;
  return existsSync(source.path) ? undefined : `no kubeconfig at ${source.path}`;
}

export class K8sAttributesProcessor implements Component, Consumer<SocketBatch> {
  private readonly logger: Logger;
  private readonly telemetry: Telemetry;
  private readonly config: K8sAttributesConfig;
  private readonly next: Consumer<LinkBatch>;
  private readonly edges: ProcessorEdges;
  private readonly cidr: CidrTable;
  private readonly aggregator: Aggregator;
  private readonly peers = new LocalPeers();
  private readonly inst: Instruments;
  private mode: Mode | undefined;
  private cluster: ClusterMetadata | undefined;
  private dns: ReverseDns | undefined;
  private hostInfo: HostInfo | undefined;
  private context: ResolveContext | undefined;
  private lastDns: ReverseDnsStats | undefined;
  private lastHost: HostInfoStats | undefined;
  /** Resolutions since the last batch, by end and result, then by kind (no text is built per resolution). */
  private readonly resolutionCounts: Record<
    'client' | 'server',
    Record<'hit' | 'miss', Map<string, ResolutionCount>>
  > = {
    client: { hit: new Map(), miss: new Map() },
    server: { hit: new Map(), miss: new Map() },
  };
  private stopped = false;

  constructor(
    settings: CreateSettings,
    config: K8sAttributesConfig,
    next: Consumer<LinkBatch>,
    edges: ProcessorEdges = {},
  ) {
    this.logger = settings.logger;
    this.telemetry = settings.telemetry;
    this.config = config;
    this.next = next;
    this.edges = edges;
    this.cidr = new CidrTable(config.cidr_names);
    this.aggregator = new Aggregator({
      linkIdleTimeoutMs: config.link_idle_timeout,
      maxLinks: config.max_links,
    });
    this.inst = instruments(settings.telemetry);
    settings.telemetry.observeGauge(
      'loggerhead.processor.links',
      { description: 'Links kept and exported, the overflow links included', unit: '1' },
      () => [{ value: this.aggregator.linkCount }],
    );
    settings.telemetry.observeGauge(
      'loggerhead.processor.sockets',
      { description: 'Open sockets the processor tracks (their link and last counters)', unit: '1' },
      () => [{ value: this.aggregator.socketCount }],
    );
    settings.telemetry.observeGauge(
      'loggerhead.processor.dns.queue_depth',
      { description: 'Addresses waiting for a reverse DNS query', unit: '1' },
      () => (this.dns === undefined ? [] : [{ value: this.dns.stats().queueDepth }]),
    );
    settings.telemetry.observeGauge(
      'loggerhead.processor.dns.cache_size',
      { description: 'Addresses in the reverse DNS cache (names and known absences)', unit: '1' },
      () => (this.dns === undefined ? [] : [{ value: this.dns.stats().cacheSize }]),
    );
    settings.telemetry.observeGauge(
      'loggerhead.processor.mode',
      { description: 'Resolution mode in use (1 for the active one)', unit: '1' },
      () => (this.mode === undefined ? [] : [{ value: 1, attributes: { mode: this.mode } }]),
    );
  }

  /** The mode chosen at start (`kubernetes` or `host`); undefined before start. */
  get activeMode(): Mode | undefined {
    return this.mode;
  }

  async start(_host: Host): Promise<void> {
    this.stopped = false;
    this.mode = await this.chooseMode();
    if (this.mode === 'kubernetes') {
      const { createKubernetesMetadata } = await import('./kubernetes.ts');
      this.cluster = createKubernetesMetadata({
        ...(this.config.kubeconfig !== '' ? { kubeconfig: this.config.kubeconfig } : {}),
        ownerDepth: this.config.owner_depth,
        logger: this.logger,
        telemetry: this.telemetry,
        ...(this.edges.env !== undefined ? { env: this.edges.env } : {}),
      });
      await this.cluster.start();
    }
    if (this.config.dns.enabled) {
      this.dns = new ReverseDns({
        ttlMs: this.config.dns.ttl,
        maxEntries: this.config.dns.max_entries,
        timeoutMs: this.config.dns.timeout,
        maxQueue: this.config.dns.max_queue,
        maxQueriesPerSecond: this.config.dns.max_queries_per_second,
        servers: this.config.dns.servers,
      });
    }
    this.hostInfo = this.edges.hostInfo ?? new HostInfo();
    this.hostInfo.walkCgroups();
    if (this.hostInfo.cgroupRoot === undefined) {
      this.logger.warn('no cgroup v2 mount found: local ends are named by process only', {
        error: this.hostInfo.lastError,
      });
    } else if (this.hostInfo.lastError !== undefined) {
      this.logger.warn('cgroup tree not readable: local ends are named by process only', {
        error: this.hostInfo.lastError,
      });
    }
    const ownNetns = this.hostInfo.ownNetns();
    if (ownNetns !== undefined) for (const addr of ownAddresses()) this.peers.learnAddress(ownNetns, addr);
    const hostName = this.edges.env?.NODE_NAME ?? process.env.NODE_NAME ?? hostname();
    this.context = {
      mode: this.mode,
      cluster: this.cluster,
      host: this.hostInfo,
      peers: this.peers,
      cidr: this.cidr,
      dns: this.dns,
      hostName,
      nowMs: Date.now(),
      informerGraceMs: INFORMER_GRACE_MS,
    };
  }

  private async chooseMode(): Promise<Mode> {
    if (this.config.mode !== 'auto') {
      this.logger.info('resolution mode', { mode: this.config.mode, reason: 'configured' });
      return this.config.mode;
    }
    const certain = noClusterReason(this.config.kubeconfig, this.edges.env ?? process.env);
    if (certain !== undefined) {
      this.logger.info('resolution mode', {
        mode: 'host',
        reason: `mode auto: no Kubernetes API (${certain})`,
      });
      return 'host';
    }
    const { detectCluster } = await import('./kubernetes.ts');
    const found = await detectCluster({
      ...(this.config.kubeconfig !== '' ? { kubeconfig: this.config.kubeconfig } : {}),
      ...(this.edges.detectTimeoutMs !== undefined ? { timeoutMs: this.edges.detectTimeoutMs } : {}),
      ...(this.edges.env !== undefined ? { env: this.edges.env } : {}),
    });
    if (found.found) {
      this.logger.info('resolution mode', {
        mode: 'kubernetes',
        reason: `mode auto: Kubernetes API found (${found.source}, ${found.server})`,
      });
      return 'kubernetes';
    }
    this.logger.info('resolution mode', {
      mode: 'host',
      reason: `mode auto: no Kubernetes API (${found.reason})`,
    });
    return 'host';
  }

  // What the aggregator calls, made once: a new function per batch is a new call target in its
  // compiled loop, which V8 deoptimizes at the next batch (seen with --log-deopt at 100k sockets:
  // "wrong call target" where a provisional socket's answer is checked).
  private readonly learn = (ends: FlowEnds): void => this.peers.learn(ends);
  private readonly resolve = (ends: FlowEnds): ResolvedEnds => {
    const r = resolveEnds(ends, this.context as ResolveContext);
    this.countResolution('client', r.client.kind, r.client.kind === 'external' && isNamedByIp(r.client.name));
    this.countResolution('server', r.server.kind, r.server.kind === 'external' && isNamedByIp(r.server.name));
    return r;
  };
  private readonly version = (inputs?: number): number =>
    inputsVersion(this.context as ResolveContext, inputs);

  async consume(batch: SocketBatch): Promise<void> {
    const ctx = this.context;
    if (ctx === undefined) throw new Error('k8s_attributes: consume() before start()');
    const started = performance.now();
    ctx.nowMs = batch.timeMs;
    this.hostInfo?.refresh();
    const { batch: links, stats } = this.aggregator.apply(batch, this.resolve, this.learn, this.version);
    this.flushTelemetry(stats);
    this.inst.batchDuration.record(performance.now() - started);
    await this.next.consume(links);
  }

  private countResolution(end: 'client' | 'server', kind: string, miss: boolean): void {
    const result = miss || kind === 'host' ? 'miss' : 'hit';
    const byKind = this.resolutionCounts[end][result];
    const entry = byKind.get(kind);
    if (entry !== undefined) entry.n++;
    else byKind.set(kind, { attrs: { end, kind, result }, n: 1 });
  }

  private flushTelemetry(stats: ReturnType<Aggregator['apply']>['stats']): void {
    for (const byResult of Object.values(this.resolutionCounts)) {
      for (const byKind of Object.values(byResult)) {
        for (const entry of byKind.values()) {
          if (entry.n > 0) this.inst.resolutions.add(entry.n, entry.attrs);
          entry.n = 0;
        }
        if (byKind.size > 1000) byKind.clear();
      }
    }
    this.inst.linksCreated.add(stats.linksCreated);
    this.inst.linksExpired.add(stats.linksExpired);
    this.inst.overflowed.add(stats.overflowAssignments);
    this.inst.splitPayments.add(stats.splitPayments);
    this.inst.deferredPayments.add(stats.deferredPayments);
    if (stats.counterRegressions > 0)
      this.inst.anomalies.add(stats.counterRegressions, { type: 'counter_regression' });
    if (stats.unknownGone > 0) this.inst.anomalies.add(stats.unknownGone, { type: 'unknown_gone' });
    if (stats.replacedIncarnations > 0) {
      this.inst.anomalies.add(stats.replacedIncarnations, { type: 'replaced_incarnation' });
    }
    if (this.dns !== undefined) {
      const now = this.dns.stats();
      const before = this.lastDns;
      this.inst.dnsQueries.add(now.resolved - (before?.resolved ?? 0), { result: 'resolved' });
      this.inst.dnsQueries.add(now.notFound - (before?.notFound ?? 0), { result: 'not_found' });
      this.inst.dnsQueries.add(now.errors - (before?.errors ?? 0), { result: 'error' });
      this.inst.dnsQueries.add(now.dropped - (before?.dropped ?? 0), { result: 'dropped' });
      this.lastDns = now;
    }
    if (this.hostInfo !== undefined) {
      const now = this.hostInfo.stats();
      this.inst.cgroupWalks.add(now.cgroupWalks - (this.lastHost?.cgroupWalks ?? 0));
      this.lastHost = now;
    }
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.dns?.close();
    this.dns = undefined;
    const cluster = this.cluster;
    this.cluster = undefined;
    this.context = undefined;
    if (cluster !== undefined) await cluster.stop();
  }
}
