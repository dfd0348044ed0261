/**
 * The `otlp` exporter component: keeps the latest LinkBatch, and every
 * `interval` sends one snapshot (links + self-telemetry) to an OTLP backend.
 *
 * Memory while the backend is down: the only data held is the latest batch
 * (a reference, replaced by each new one) and at most one snapshot being sent.
 * Cumulative values supersede older ones, so a snapshot that could not be sent
 * is dropped (and counted) when a newer one exists; nothing queues up. With
 * delta temporality the deltas are taken against what the backend accepted
 * (see `DeltaTracker`), so dropping a snapshot loses nothing there either.
 */
import { hostname } from 'node:os';
import type { Component, CreateSettings, Host } from '../../core/component.ts';
import type { Consumer, LinkBatch } from '../../core/signals.ts';
import type { Counter, Histogram } from '../../core/telemetry.ts';
import type { Temporality } from './snapshot.ts';
import { SnapshotEncoder } from './snapshot.ts';
import type { PartialSuccess } from './protobuf.ts';
import type * as Transport from './transport.ts';
import type { ExportError, MetricsSender, TransportOptions } from './transport.ts';

/** Validated settings, in the units the exporter works in. */
export interface OtlpExporterOptions {
  transport: TransportOptions;
  intervalMs: number;
  temporality: Temporality;
  maxLinksPerRequest: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Attributes of the OTLP resource. */
  resourceAttributes: Readonly<Record<string, string>>;
}

/**
 * Resource attributes of this agent run: `service.name=loggerhead`, a fresh
 * `service.instance.id`, `host.name`, and `k8s.node.name` from `K8S_NODE_NAME`
 * or `NODE_NAME` when set.
 */
export function agentResourceAttributes(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const attrs: Record<string, string> = {
    'service.name': 'loggerhead',
    'service.instance.id': crypto.randomUUID(),
    'host.name': hostname(),
  };
  const node = env.K8S_NODE_NAME ?? env.NODE_NAME;
  if (node !== undefined && node !== '') attrs['k8s.node.name'] = node;
  return attrs;
}

type BackendState = 'unknown' | 'up' | 'down';

/**
 * The transport module, loaded by `start`: with it come `@grpc/grpc-js`,
 * `@opentelemetry/otlp-exporter-base` and Node's `http2` and `tls`: 8-17 MB of
 * RSS (8 in the agent, 17 imported alone) that an agent without an `otlp`
 * exporter does not load (measured, receivers/ebpf_socket/README.md, "Memory").
 */
async function loadTransport(): Promise<typeof Transport> {
  try {
    return await import('./transport.ts');
  } catch (e) {
    throw new Error(
      `otlp exporter: cannot load its transport (@grpc/grpc-js, @opentelemetry/otlp-exporter-base): ${(e as Error).message}; reinstall the agent's packages (npm ci)`,
      { cause: e },
    );
  }
}

/**
 * Requests of one snapshot in flight at once (each at most
 * `max_links_per_request` links, about 2.6 MB per 1000 links).
 */
export const MAX_IN_FLIGHT = 4;

/** What one finished snapshot export looked like. */
export interface ExportOutcome {
  requests: number;
  points: number;
  error?: ExportError;
}

export class OtlpExporter implements Component, Consumer<LinkBatch> {
  private readonly settings: CreateSettings;
  private readonly options: OtlpExporterOptions;
  private readonly encoder: SnapshotEncoder;
  private latest: LinkBatch | undefined;
  private transport: typeof Transport | undefined;
  private sender: MetricsSender | undefined;
  private intervalTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private inFlight: Promise<ExportOutcome> | undefined;
  /** A tick arrived while a snapshot was in flight or waiting to be retried. */
  private pending = false;
  private stopped = false;
  private shutdownDone: Promise<void> | undefined;
  private backend: BackendState = 'unknown';
  private downSinceMs = 0;
  private failedAttempts = 0;
  private retryDelayMs = 0;

  private readonly sentRequests: Counter;
  private readonly sentPoints: Counter;
  private readonly failedRequests: Counter;
  private readonly droppedSnapshots: Counter;
  private readonly rejectedPoints: Counter;
  private rejectionLogged = false;
  private readonly exportDuration: Histogram;

  constructor(settings: CreateSettings, options: OtlpExporterOptions) {
    if (!(options.intervalMs > 0))
      throw new Error(`intervalMs must be greater than 0, got ${options.intervalMs}`);
    this.settings = settings;
    this.options = options;
    this.encoder = new SnapshotEncoder({
      resourceAttributes: options.resourceAttributes,
      temporality: options.temporality,
      maxLinksPerRequest: options.maxLinksPerRequest,
    });
    const t = settings.telemetry;
    this.sentRequests = t.counter('loggerhead.exporter.sent_requests', {
      description: 'OTLP export requests the backend accepted',
      unit: '{request}',
    });
    this.sentPoints = t.counter('loggerhead.exporter.sent_points', {
      description: 'Data points in OTLP export requests the backend accepted',
      unit: '{point}',
    });
    this.failedRequests = t.counter('loggerhead.exporter.failed_requests', {
      description:
        'OTLP export requests that failed, by error.type (gRPC status, http_<status>, socket error)',
      unit: '{request}',
    });
    this.rejectedPoints = t.counter('loggerhead.exporter.rejected_points', {
      description: 'Data points the backend refused in requests it otherwise accepted (OTLP partial success)',
      unit: '{point}',
    });
    this.droppedSnapshots = t.counter('loggerhead.exporter.dropped_snapshots', {
      description:
        'Snapshots not sent because a newer one superseded them while an export was in flight or backing off',
      unit: '{snapshot}',
    });
    this.exportDuration = t.histogram('loggerhead.exporter.export_duration', {
      description: 'Wall time to collect, serialize and send one snapshot (all its requests)',
      unit: 's',
      boundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    t.observeGauge(
      'loggerhead.exporter.backend_up',
      { description: '1 when the last export to the backend succeeded, 0 when it failed', unit: '1' },
      () => (this.backend === 'unknown' ? [] : [{ value: this.backend === 'up' ? 1 : 0 }]),
    );
  }

  async start(_host: Host): Promise<void> {
    if (this.stopped) throw new Error('otlp exporter: start after shutdown');
    const transport = await loadTransport();
    if (this.stopped) return;
    this.transport = transport;
    this.sender = transport.createSender(this.options.transport);
    this.intervalTimer = setInterval(() => this.tick(), this.options.intervalMs);
    this.intervalTimer.unref();
  }

  async consume(batch: LinkBatch): Promise<void> {
    if (this.stopped) throw new Error('otlp exporter is shut down');
    this.latest = batch;
  }

  /** One interval elapsed: export now, or mark the newer snapshot as pending. */
  private tick(): void {
    if (this.inFlight !== undefined || this.retryTimer !== undefined) {
      if (this.pending) this.droppedSnapshots.add(1);
      this.pending = true;
      return;
    }
    void this.exportSnapshot();
  }

  /** Collects and sends one snapshot; never rejects. */
  exportSnapshot(): Promise<ExportOutcome> {
    if (this.inFlight !== undefined) return this.inFlight;
    this.pending = false;
    const run = this.send().finally(() => {
      this.inFlight = undefined;
    });
    this.inFlight = run;
    return run.then((outcome) => {
      this.afterExport(outcome);
      return outcome;
    });
  }

  private async send(): Promise<ExportOutcome> {
    const sender = this.sender;
    const transport = this.transport;
    if (sender === undefined || transport === undefined) return { requests: 0, points: 0 };
    const started = performance.now();
    const delta = this.options.temporality === 'delta' ? this.encoder.delta : undefined;
    const requests = this.encoder.requests(this.latest, this.settings.telemetry.collect(), Date.now());
    let sent = 0;
    let points = 0;
    let error: ExportError | undefined;
    // Up to MAX_IN_FLIGHT requests exist as bytes at a time. The first next()
    // (synchronous, before any await) captures the batch; later ones encode
    // from that capture while newer batches may arrive.
    const worker = async (): Promise<void> => {
      for (let r = requests.next(); !r.done; r = requests.next()) {
        const request = r.value;
        try {
          const partial = await sender.send(request.body);
          delta?.commit(request.acks);
          if (partial.rejectedDataPoints > 0) this.noteRejected(partial);
          sent++;
          points += request.points - partial.rejectedDataPoints;
        } catch (e) {
          const classified = transport.classifyExportError(e);
          this.failedRequests.add(1, { 'error.type': classified.errorType });
          error ??= classified;
        }
      }
    };
    await Promise.all(Array.from({ length: MAX_IN_FLIGHT }, worker));
    if (error === undefined) delta?.sweep();
    this.sentRequests.add(sent);
    this.sentPoints.add(points);
    this.exportDuration.record((performance.now() - started) / 1000);
    return error === undefined ? { requests: sent, points } : { requests: sent, points, error };
  }

  /** The backend took a request but refused some of its points (OTLP partial success). */
  private noteRejected(partial: PartialSuccess): void {
    this.rejectedPoints.add(partial.rejectedDataPoints);
    if (this.rejectionLogged) return;
    this.rejectionLogged = true;
    this.settings.logger.warn(
      'OTLP backend refused data points (partial success); further refusals are only counted',
      {
        endpoint: this.options.transport.url,
        rejected_points: partial.rejectedDataPoints,
        error: partial.errorMessage,
      },
    );
  }

  private afterExport(outcome: ExportOutcome): void {
    if (outcome.error === undefined) {
      if (this.backend === 'down') {
        this.settings.logger.info('OTLP exports succeeding again', {
          endpoint: this.options.transport.url,
          down_ms: Date.now() - this.downSinceMs,
          failed_attempts: this.failedAttempts,
        });
      }
      this.backend = 'up';
      this.failedAttempts = 0;
      this.retryDelayMs = 0;
    } else {
      this.failedAttempts++;
      if (this.backend !== 'down') {
        this.downSinceMs = Date.now();
        this.settings.logger.warn(
          'OTLP exports failing; keeping only the latest snapshot until one succeeds',
          {
            endpoint: this.options.transport.url,
            protocol: this.options.transport.protocol,
            error_type: outcome.error.errorType,
            retryable: outcome.error.retryable,
            error: outcome.error.message,
          },
        );
      }
      this.backend = 'down';
      if (outcome.error.retryable && !this.stopped) this.scheduleRetry();
    }
    if (this.pending && !this.stopped && this.retryTimer === undefined) void this.exportSnapshot();
  }

  /**
   * A gRPC channel that failed to connect waits out grpc-js's own reconnect
   * backoff (up to 120 s) before it tries again: measured after a 30 s outage,
   * the first export got through 17.4 s after the collector was back (HTTP:
   * 1.75 s). A retry therefore gets a fresh channel, so recovery follows this
   * exporter's backoff.
   */
  private renewSender(): void {
    const old = this.sender;
    if (old === undefined || this.transport === undefined || this.options.transport.protocol !== 'grpc')
      return;
    this.sender = this.transport.createSender(this.options.transport);
    void old.shutdown();
  }

  /** Exponential backoff with ±20 % jitter, from retryInitialMs up to retryMaxMs. */
  private scheduleRetry(): void {
    this.retryDelayMs =
      this.retryDelayMs === 0
        ? this.options.retryInitialMs
        : Math.min(this.retryDelayMs * 2, this.options.retryMaxMs);
    const delay = this.retryDelayMs * (0.8 + Math.random() * 0.4);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.renewSender();
      void this.exportSnapshot();
    }, delay);
    this.retryTimer.unref();
  }

  /** Stops the timers and sends a last snapshot, giving up after the export timeout. Every call waits for the same flush. */
  shutdown(): Promise<void> {
    this.shutdownDone ??= this.flushAndClose();
    return this.shutdownDone;
  }

  private async flushAndClose(): Promise<void> {
    this.stopped = true;
    clearInterval(this.intervalTimer);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const sender = this.sender;
    if (sender === undefined) return;
    const deadlineMs = this.options.transport.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const flush = async (): Promise<ExportOutcome> => {
      if (this.inFlight !== undefined) await this.inFlight;
      return this.exportSnapshot();
    };
    const result = await Promise.race([flush(), deadline]);
    clearTimeout(timer);
    if (result === 'deadline') {
      this.settings.logger.warn('OTLP final flush did not finish before the deadline', {
        endpoint: this.options.transport.url,
        deadline_ms: deadlineMs,
      });
    }
    await sender.shutdown();
  }
}
