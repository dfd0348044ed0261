/**
 * Test-only component factories, for graph, service and CLI tests that need a
 * pipeline end to end without the kernel or a cluster. Each is a small working
 * component (a timer-driven source, a converter, a recording sink), not a mock.
 */
import type {
  Component,
  CreateSettings,
  ExporterFactory,
  Host,
  ProcessorFactory,
  ReceiverFactory,
} from '../../core/component.ts';
import { formatComponentId } from '../../core/component.ts';
import { socketColumns } from '../../core/socket-columns.ts';
import type { Consumer, LinkBatch, SignalBatches, SignalType, SocketBatch } from '../../core/signals.ts';

export interface FakeSourceConfig {
  interval: number;
  fail_start: string;
  report_error: string;
  shutdown_delay: number;
  start_delay: number;
  fail_create: string;
}

/** An empty batch of `signal` at `timeMs`. */
export function emptyBatch<S extends SignalType>(signal: S, timeMs: number): SignalBatches[S] {
  const batch: SocketBatch | LinkBatch =
    signal === 'sockets'
      ? { timeMs, startTimeMs: timeMs, sockets: socketColumns([]), gone: [], openSockets: 0, closed: [] }
      : { timeMs, startTimeMs: timeMs, links: [] };
  return batch as SignalBatches[S];
}

/** Emits an empty batch of its signal every `interval`; can fail on start or report an error after it. */
class FakeSource<S extends SignalType> implements Component {
  private timer: NodeJS.Timeout | undefined;
  private readonly signal: S;
  private readonly settings: CreateSettings;
  private readonly config: FakeSourceConfig;
  private readonly next: Consumer<SignalBatches[S]>;

  constructor(
    signal: S,
    settings: CreateSettings,
    config: FakeSourceConfig,
    next: Consumer<SignalBatches[S]>,
  ) {
    this.signal = signal;
    this.settings = settings;
    this.config = config;
    this.next = next;
  }

  async start(host: Host): Promise<void> {
    if (this.config.start_delay > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.config.start_delay).unref());
    }
    if (this.config.fail_start !== '') throw new Error(this.config.fail_start);
    if (this.config.report_error !== '') host.reportError(new Error(this.config.report_error));
    this.timer = setInterval(() => {
      this.next.consume(emptyBatch(this.signal, Date.now())).catch((error: unknown) => {
        host.reportError(error as Error);
      });
    }, this.config.interval).unref();
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.config.shutdown_delay > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.config.shutdown_delay));
    }
    this.settings.logger.debug('fake source stopped');
  }
}

/** A receiver emitting `output` batches on a timer. */
export function fakeSourceFactory<S extends SignalType>(
  type: string,
  output: S,
): ReceiverFactory<FakeSourceConfig, S> {
  return {
    kind: 'receiver',
    type,
    stability: 'development',
    description: `test source of ${output}`,
    output,
    configSchema: {
      type: 'object',
      description: 'fake source',
      fields: {
        interval: { type: 'duration', description: 'time between batches', default: '100ms', minMs: 1 },
        fail_start: { type: 'string', description: 'when set, start rejects with this message', default: '' },
        report_error: {
          type: 'string',
          description: 'when set, reported through the host on start',
          default: '',
        },
        shutdown_delay: { type: 'duration', description: 'how long shutdown takes', default: '0s' },
        start_delay: { type: 'duration', description: 'how long start takes', default: '0s' },
        fail_create: { type: 'string', description: 'when set, create throws this message', default: '' },
      },
    },
    create: (settings, config, next) => {
      if (config.fail_create !== '') throw new Error(config.fail_create);
      return new FakeSource(output, settings, config, next);
    },
  };
}

/** Turns socket batches into (empty) link batches at the same time; passes links through. */
export function fakeConverterFactory<I extends SignalType>(
  type: string,
  input: I,
): ProcessorFactory<object, I, 'links'> {
  return {
    kind: 'processor',
    type,
    stability: 'development',
    description: `test processor ${input} -> links`,
    input,
    output: 'links',
    configSchema: { type: 'object', description: 'fake converter', fields: {} },
    create: (_settings, _config, next) => ({
      start: async () => {},
      shutdown: async () => {},
      consume: async (batch: SignalBatches[I]) => next.consume(emptyBatch('links', batch.timeMs)),
    }),
  };
}

/** A recording exporter; every instance it creates is pushed to `created`. */
export interface RecordingExporter extends Component, Consumer<unknown> {
  readonly id: string;
  readonly batches: unknown[];
  shutdowns: number;
}

export function recordingExporterFactory<I extends SignalType>(
  type: string,
  input: I,
): ExporterFactory<object, I> & { created: RecordingExporter[] } {
  const created: RecordingExporter[] = [];
  return {
    kind: 'exporter',
    type,
    stability: 'development',
    description: `test exporter recording ${input}`,
    input,
    configSchema: { type: 'object', description: 'recording exporter', fields: {} },
    created,
    create: (settings) => {
      const exporter: RecordingExporter = {
        id: formatComponentId(settings.id),
        batches: [],
        shutdowns: 0,
        start: async () => {},
        shutdown: async () => {
          exporter.shutdowns += 1;
        },
        consume: async (batch) => {
          exporter.batches.push(batch);
        },
      };
      created.push(exporter);
      return exporter;
    },
  };
}
