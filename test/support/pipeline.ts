/**
 * A real pipeline for end-to-end tests: the `ebpf_socket` receiver (eBPF on
 * the running kernel) watching the test's network namespaces -> the
 * `k8s_attributes` processor -> optionally one exporter, and a `Sink` that
 * records every batch the processor produced (the pipeline's own view, to
 * compare what a backend holds against). Each component gets its own
 * `testSettings` (logs and self-telemetry a test can read) and its config is
 * validated against its factory's schema, as `loggerhead run` does.
 *
 * Started downstream-first (exporter, processor, receiver) and shut down
 * upstream-first. Needs root, as the receiver does.
 *
 * @example
 * const pipeline = await startPipeline({ topology: topo, pollInterval: '1h' });
 * await pipeline.pollUntil(() => pipeline.links().length > 0, () => 'no link yet');
 * await pipeline.shutdown();
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { Document } from 'yaml';
import type { Component, ExporterFactory } from '../../core/component.ts';
import { validateConfig } from '../../core/config/validate.ts';
import type { Consumer, Link, LinkBatch } from '../../core/signals.ts';
import { k8sAttributesProcessorFactory } from '../../processors/k8s_attributes/factory.ts';
import type { K8sAttributesConfig } from '../../processors/k8s_attributes/factory.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import { EbpfSocketReceiver } from '../../receivers/ebpf_socket/receiver.ts';
import { createTopology } from './netns.ts';
import type { NetnsHost, Topology } from './netns.ts';
import { testHost, testSettings } from './settings.ts';
import type { TestSettings } from './settings.ts';
import { Sink } from './sink.ts';
import type { Spawner } from './tcpexact.ts';

/** `yaml` validated against `factory`'s schema at config path `path`; fails the test on any issue. */
export function validated<T>(
  factory: { configSchema: Parameters<typeof validateConfig>[1] },
  yaml: object,
  path: string,
): T {
  const { value, issues } = validateConfig(new Document(yaml).contents, factory.configSchema, { path });
  assert.deepEqual(issues, []);
  return value as T;
}

/**
 * Runs node inside `host` with `process.title` set first, which renames the main thread: its comm,
 * the name host mode reports for the process (node's own is `MainThread` for every process).
 */
export function named(host: NetnsHost, title: string): Spawner {
  const setTitle = `data:text/javascript,process.title=${JSON.stringify(title)}`;
  return { spawn: (cmd, args, options) => host.spawn(cmd, ['--import', setTitle, ...args], options) };
}

/**
 * `hosts` in network namespaces named `prefix`-*, on a random /24 of 10.`octet`.0.0/16 and a /120
 * of fd00:`octet`::/64 (each test its own `octet`, so that runs of different tests never share addresses).
 */
export function randomTopology(prefix: string, hosts: string[], octet: number): Promise<Topology> {
  const n = randomInt(0, 256);
  return createTopology({
    prefix,
    hosts,
    subnet4: `10.${octet}.${n}.0/24`,
    subnet6: `fd00:${octet}::${n.toString(16)}00/120`,
  });
}

/** A link as a failure message shows it: observer, both ends, bytes each way, closed connections. */
export function linkRow(l: Link): unknown[] {
  return [l.observer, l.client, l.server, l.bytesClientToServer, l.bytesServerToClient, l.connectionsClosed];
}

/** Per-key sums over links (see `sumLinks`). */
export interface LinkTotals {
  c2s: number;
  s2c: number;
  opened: number;
  closed: number;
  failed: number;
  active: number;
  retrans: number;
}

/** Sums of the links' counters per `key(link)`; a link whose key is undefined is left out. */
export function sumLinks(
  links: readonly Link[],
  key: (l: Link) => string | undefined,
): Map<string, LinkTotals> {
  const out = new Map<string, LinkTotals>();
  for (const l of links) {
    const k = key(l);
    if (k === undefined) continue;
    const t = out.get(k) ?? { c2s: 0, s2c: 0, opened: 0, closed: 0, failed: 0, active: 0, retrans: 0 };
    out.set(k, {
      c2s: t.c2s + l.bytesClientToServer,
      s2c: t.s2c + l.bytesServerToClient,
      opened: t.opened + l.connectionsOpened,
      closed: t.closed + l.connectionsClosed,
      failed: t.failed + l.connectionsFailed,
      active: t.active + l.activeConnections,
      retrans: t.retrans + l.retransSegs,
    });
  }
  return out;
}

export interface PipelineOptions {
  /** The network namespaces whose sockets the receiver watches: all of them. */
  topology: Topology;
  /** The receiver's `poll_interval`: '1h' leaves polling to the test (`poll`, `pollUntil`). */
  pollInterval: string;
  /**
   * The processor's config.
   * @default { mode: 'host', dns: { enabled: false } }
   */
  processor?: object;
  /** Called once the processor has started, before the receiver is created (e.g. wait for informers). */
  processorStarted?: (settings: TestSettings) => Promise<void>;
  /** The exporter at the end, fed every batch before the sink gets it. */
  exporter?: {
    factory: ExporterFactory<unknown, 'links'>;
    /** Instance id, `type` or `type/name`. */
    id: string;
    config: object;
  };
}

/** A started pipeline (see the module comment). */
export interface Pipeline<E extends Component = Component> {
  readonly receiver: EbpfSocketReceiver;
  /** The exporter, as created (undefined without `exporter` in the options). */
  readonly exporter: E;
  /** Every batch the processor produced. */
  readonly sink: Sink<LinkBatch>;
  readonly settings: { receiver: TestSettings; processor: TestSettings; exporter?: TestSettings };
  /** The links of the latest batch ([] before the first one). */
  links(): readonly Link[];
  /** One poll of the receiver, its batch through the pipeline. */
  poll(): Promise<void>;
  /**
   * Polls, then polls again every `intervalMs` until `done` holds; fails after `timeoutMs` with
   * `what()` (a close completes in the kernel just after the application saw it).
   */
  pollUntil(
    done: () => boolean,
    what: () => string,
    options?: { timeoutMs?: number; intervalMs?: number },
  ): Promise<void>;
  /** Receiver, processor, exporter, in that order; safe twice. */
  shutdown(): Promise<void>;
}

/** Starts the pipeline; on a failure part-way, shuts down what started and rethrows. */
export async function startPipeline<E extends Component = Component>(
  options: PipelineOptions,
): Promise<Pipeline<E>> {
  const started: Component[] = [];
  const shutdown = async (): Promise<void> => {
    for (const c of started.splice(0)) await c.shutdown();
  };
  try {
    return await start(options, started, shutdown);
  } catch (error) {
    await shutdown();
    throw error;
  }
}

async function start<E extends Component>(
  options: PipelineOptions,
  started: Component[],
  shutdown: () => Promise<void>,
): Promise<Pipeline<E>> {
  const sink = new Sink<LinkBatch>();
  let exporterSettings: TestSettings | undefined;
  let exporter: (Component & Consumer<LinkBatch>) | undefined;
  if (options.exporter !== undefined) {
    const { factory, id, config } = options.exporter;
    exporterSettings = testSettings(id);
    exporter = factory.create(exporterSettings, validated(factory, config, `exporters::${id}`));
    started.unshift(exporter);
    await exporter.start(testHost());
  }
  const next = exporter;
  const processorSettings = testSettings('k8s_attributes');
  const processor = k8sAttributesProcessorFactory.create(
    processorSettings,
    validated<K8sAttributesConfig>(
      k8sAttributesProcessorFactory,
      options.processor ?? { mode: 'host', dns: { enabled: false } },
      'processors::k8s_attributes',
    ),
    {
      consume: async (batch) => {
        await next?.consume(batch);
        await sink.consume(batch);
      },
    },
  );
  started.unshift(processor);
  await processor.start(testHost());
  await options.processorStarted?.(processorSettings);
  const receiverSettings = testSettings('ebpf_socket');
  const receiver = ebpfSocketReceiverFactory.create(
    receiverSettings,
    validated(
      ebpfSocketReceiverFactory,
      {
        poll_interval: options.pollInterval,
        network_namespaces: options.topology.hosts.map((h) => `/run/netns/${h.netns}`),
      },
      'receivers::ebpf_socket',
    ),
    processor,
  );
  assert.ok(receiver instanceof EbpfSocketReceiver);
  started.unshift(receiver);
  await receiver.start(testHost());
  return {
    receiver,
    exporter: exporter as unknown as E,
    sink,
    settings: { receiver: receiverSettings, processor: processorSettings, exporter: exporterSettings },
    links: () => sink.last()?.links ?? [],
    async poll() {
      await receiver.poll();
    },
    async pollUntil(done, what, { timeoutMs = 10_000, intervalMs = 50 } = {}) {
      const deadline = Date.now() + timeoutMs;
      await receiver.poll();
      while (!done()) {
        assert.ok(Date.now() < deadline, `not reached within ${timeoutMs / 1000} s: ${what()}`);
        await new Promise((r) => setTimeout(r, intervalMs));
        await receiver.poll();
      }
    },
    shutdown,
  };
}
