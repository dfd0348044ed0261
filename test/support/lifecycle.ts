/**
 * The lifecycle test every registered factory runs (after the Collector's
 * generated component tests): create -> start -> consume a batch (a receiver:
 * emit one) -> shutdown -> shutdown; shutdown without start; two shutdowns at
 * once.
 *
 * A component whose defaults cannot run in a test (a fixed port, a cluster it
 * would wait for) gets a config override in `lifecycleOverrides`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Document } from 'yaml';
import type { ComponentKind, Factory } from '../../core/component.ts';
import { validateConfig } from '../../core/config/validate.ts';
import { socketColumns } from '../../core/socket-columns.ts';
import type { Consumer, LinkBatch, SignalBatches, SignalType, SocketBatch } from '../../core/signals.ts';
import { testLink } from './links.ts';
import { testHost, testSettings } from './settings.ts';
import { Sink } from './sink.ts';

/** Per kind and type: config values (as they would be written in YAML) merged over the defaults. */
export const lifecycleOverrides: Readonly<
  Record<ComponentKind, Readonly<Record<string, Record<string, unknown>>>>
> = {
  // A receiver's test waits for its first batch: poll often.
  receiver: { ebpf_socket: { poll_interval: '100ms' } },
  processor: {},
  exporter: {
    prometheus: { endpoint: '127.0.0.1:0' },
    servicemap: { endpoint: '127.0.0.1:0', summary: 'never' },
    // Port 9 (discard) on loopback: nothing listens, so exports fail fast and are retried in the background.
    otlp: { endpoint: '127.0.0.1:9', tls: { insecure: true } },
  },
};

/** The factory's validated default config with its test override applied. */
export function lifecycleConfig(factory: Factory): unknown {
  const override = lifecycleOverrides[factory.kind][factory.type];
  const node = override === undefined ? undefined : new Document(override).contents;
  const { value, issues } = validateConfig(node, factory.configSchema, {
    path: `${factory.kind}s::${factory.type}`,
  });
  assert.deepEqual(issues, [], `${factory.kind} "${factory.type}": the test config must validate`);
  return value;
}

const START_MS = Date.parse('2026-11-26T12:00:00Z');

/** One realistic batch of each signal: a client socket with traffic both ways, and its link. */
export function sampleBatch<S extends SignalType>(signal: S): SignalBatches[S] {
  const sockets: SocketBatch = {
    timeMs: START_MS + 5000,
    startTimeMs: START_MS,
    sockets: socketColumns([
      {
        cookie: 4242,
        openedAtMs: START_MS + 1000,
        netns: 4026531840,
        cgroupId: 0,
        pid: 0,
        comm: '',
        family: 4,
        localAddr: '127.0.0.1',
        localPort: 40000,
        remoteAddr: '127.0.0.1',
        remotePort: 8080,
        role: 'client',
        state: 'ESTABLISHED',
        txBytes: 1200,
        rxBytes: 34_000,
        retransSegs: 0,
        srttUs: 50,
        preexisting: false,
        baselineTxBytes: 0,
        baselineRxBytes: 0,
      },
    ]),
    gone: [],
    openSockets: 1,
    closed: [],
  };
  const links: LinkBatch = {
    timeMs: START_MS + 5000,
    startTimeMs: START_MS,
    links: [
      testLink({
        id: 'client|checkout|server|catalog|8080',
        serverPort: 8080,
        connectionsOpened: 1,
        connectionsClosed: 0,
        connectionsFailed: 0,
        retransSegs: 0,
        startTimeMs: START_MS,
        lastActivityMs: START_MS + 4000,
      }),
    ],
  };
  return (signal === 'sockets' ? sockets : links) as SignalBatches[S];
}

function create(factory: Factory) {
  const settings = testSettings(factory.type);
  const config = lifecycleConfig(factory);
  const downstream = new Sink<unknown>();
  const component =
    factory.kind === 'exporter'
      ? factory.create(settings, config)
      : factory.kind === 'processor'
        ? factory.create(settings, config, downstream)
        : factory.create(settings, config, downstream);
  return { settings, component, downstream };
}

/**
 * Registers the lifecycle tests for each factory. A receiver must deliver a
 * first batch within 10 s of start; processors and exporters consume one.
 */
export function runLifecycleTests(factories: readonly Factory[]): void {
  for (const factory of factories) {
    const name = `${factory.kind} ${factory.type}`;

    test(`${name}: create, start, consume a batch, shutdown, shutdown`, async () => {
      const { component, downstream } = create(factory);
      const host = testHost();
      await component.start(host);
      if (factory.kind === 'receiver') {
        await downstream.waitFor((batches) => batches.length > 0, 10_000);
      } else {
        await (component as unknown as Consumer<unknown>).consume(sampleBatch(factory.input));
      }
      await component.shutdown();
      await component.shutdown();
      assert.deepEqual(
        host.errors.map((e) => e.message),
        [],
        'no error reported through the host',
      );
    });

    test(`${name}: shutdown without start, twice`, async () => {
      const { component } = create(factory);
      await component.shutdown();
      await component.shutdown();
    });

    test(`${name}: two shutdowns at once after start`, async () => {
      const { component } = create(factory);
      await component.start(testHost());
      await Promise.all([component.shutdown(), component.shutdown()]);
    });
  }
}
