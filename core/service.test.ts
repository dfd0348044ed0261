import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Component, ExporterFactory, Factory, ProcessorFactory, ReceiverFactory } from './component.ts';
import { formatComponentId } from './component.ts';
import { parsePipelineConfig } from './config/load.ts';
import { createLogger } from './log.ts';
import { Registry } from './registry.ts';
import { COMPONENT_ERRORS, Service } from './service.ts';
import type { LinkBatch, SocketBatch } from './signals.ts';
import { TelemetryRegistry } from './telemetry-registry.ts';
import {
  emptyBatch,
  fakeConverterFactory,
  fakeSourceFactory,
  recordingExporterFactory,
} from '../test/support/fake-components.ts';
import { until } from '../test/support/wait.ts';

/** A journal of lifecycle events, shared by the factories below. */
function journaled(events: string[]) {
  const wrap = (
    label: string,
    component: Component,
    hooks: { failStart?: string; hangShutdown?: boolean } = {},
  ) => ({
    start: async (...args: Parameters<Component['start']>) => {
      events.push(`start ${label}`);
      if (hooks.failStart !== undefined) throw new Error(hooks.failStart);
      await component.start(...args);
    },
    shutdown: async () => {
      events.push(`shutdown ${label}`);
      if (hooks.hangShutdown === true) await new Promise(() => {});
      await component.shutdown();
    },
  });
  const receiver = (
    type: string,
    hooks: { failStart?: string } = {},
  ): ReceiverFactory<object, 'sockets'> => ({
    kind: 'receiver',
    type,
    stability: 'development',
    description: 'journaled receiver',
    output: 'sockets',
    configSchema: { type: 'object', description: '', fields: {} },
    create: (settings, _config, next) => {
      const id = formatComponentId(settings.id);
      events.push(`create ${id}`);
      const component = {
        ...wrap(id, { start: async () => {}, shutdown: async () => {} }, hooks),
        emit: (batch: SocketBatch) => next.consume(batch),
      };
      emitters.set(id, component.emit);
      return component;
    },
  });
  const processor = (type: string): ProcessorFactory<object, 'sockets', 'links'> => ({
    kind: 'processor',
    type,
    stability: 'development',
    description: 'journaled processor',
    input: 'sockets',
    output: 'links',
    configSchema: { type: 'object', description: '', fields: {} },
    create: (settings, _config, next) => {
      events.push(`create ${type}`);
      let n = 0;
      const instance = ++processorInstances;
      return {
        ...wrap(`${type}#${instance}`, { start: async () => {}, shutdown: async () => {} }),
        consume: async (batch: SocketBatch) => {
          n += 1;
          settings.logger.debug('converted', { n });
          await next.consume({ ...emptyBatch('links', batch.timeMs), startTimeMs: instance });
        },
      };
    },
  });
  const exporter = (
    type: string,
    hooks: { hangShutdown?: boolean } = {},
  ): ExporterFactory<object, 'links'> => ({
    kind: 'exporter',
    type,
    stability: 'development',
    description: 'journaled exporter',
    input: 'links',
    configSchema: { type: 'object', description: '', fields: {} },
    create: (settings) => {
      const id = formatComponentId(settings.id);
      events.push(`create ${id}`);
      const received: LinkBatch[] = [];
      exported.set(id, received);
      return {
        ...wrap(id, { start: async () => {}, shutdown: async () => {} }, hooks),
        consume: async (batch: LinkBatch) => {
          received.push(batch);
        },
      };
    },
  });
  const emitters = new Map<string, (batch: SocketBatch) => Promise<void>>();
  const exported = new Map<string, LinkBatch[]>();
  let processorInstances = 0;
  return { receiver, processor, exporter, emitters, exported };
}

function setup(factories: Factory[], yaml: string, shutdownTimeoutMillis = 1000) {
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', write: (line) => logs.push(JSON.parse(line)) });
  const telemetry = new TelemetryRegistry();
  const config = parsePipelineConfig(yaml, new Registry(factories), { file: 't.yaml', env: {} });
  const service = new Service({ config, logger, telemetry, shutdownTimeoutMillis });
  return { service, logs, telemetry };
}

const TWO_PIPELINES = `
receivers:
  src:
  src/2:
processors:
  conv:
exporters:
  out:
  out/2:
service:
  pipelines:
    a:
      receivers: [src]
      processors: [conv]
      exporters: [out, out/2]
    b:
      receivers: [src, src/2]
      processors: [conv]
      exporters: [out]
`;

test('components start downstream first and shut down upstream first; receivers and exporters are shared, processors per pipeline', async () => {
  const events: string[] = [];
  const j = journaled(events);
  const { service, logs } = setup([j.receiver('src'), j.processor('conv'), j.exporter('out')], TWO_PIPELINES);
  await service.start();
  assert.deepEqual(events, [
    'create out',
    'create out/2',
    'create conv',
    'create conv',
    'create src',
    'create src/2',
    'start out',
    'start out/2',
    'start conv#1',
    'start conv#2',
    'start src',
    'start src/2',
  ]);
  assert.deepEqual(
    service.components().map((n) => `${n.kind} ${n.id}${n.pipeline === undefined ? '' : ` @${n.pipeline}`}`),
    [
      'exporter out',
      'exporter out/2',
      'processor conv @a',
      'processor conv @b',
      'receiver src',
      'receiver src/2',
    ],
  );

  // src feeds both pipelines (fan-out); out gets both pipelines' data (fan-in); out/2 only pipeline a's.
  await j.emitters.get('src')?.(emptyBatch('sockets', 1));
  await j.emitters.get('src/2')?.(emptyBatch('sockets', 2));
  assert.deepEqual(
    j.exported.get('out')?.map((b) => [b.timeMs, b.startTimeMs]),
    [
      [1, 1],
      [1, 2],
      [2, 2],
    ],
  );
  assert.deepEqual(
    j.exported.get('out/2')?.map((b) => [b.timeMs, b.startTimeMs]),
    [[1, 1]],
  );
  const converted = logs.filter((l) => l.msg === 'converted').map((l) => [l.component, l.pipeline, l.kind]);
  assert.deepEqual(converted[0], ['conv', 'a', 'processor']);

  events.length = 0;
  assert.deepEqual(await service.shutdown(), []);
  assert.deepEqual(events, [
    'shutdown src/2',
    'shutdown src',
    'shutdown conv#2',
    'shutdown conv#1',
    'shutdown out/2',
    'shutdown out',
  ]);
  assert.deepEqual(
    logs
      .filter((l) => l.msg === 'starting component' || l.msg === 'shutting down component')
      .map((l) => `${l.msg} ${l.component}`),
    [
      'starting component out',
      'starting component out/2',
      'starting component conv',
      'starting component conv',
      'starting component src',
      'starting component src/2',
      'shutting down component src/2',
      'shutting down component src',
      'shutting down component conv',
      'shutting down component conv',
      'shutting down component out/2',
      'shutting down component out',
    ],
  );
  events.length = 0;
  assert.deepEqual(
    await service.shutdown(),
    [],
    'a second shutdown waits for the first and does nothing more',
  );
  assert.deepEqual(events, []);
});

test('a failed start names the component, shuts everything created down, and starts nothing after it', async () => {
  const events: string[] = [];
  const j = journaled(events);
  const { service } = setup(
    [
      j.receiver('src', { failStart: 'cannot attach: permission denied' }),
      j.processor('conv'),
      j.exporter('out'),
    ],
    TWO_PIPELINES,
  );
  await assert.rejects(service.start(), {
    name: 'ComponentError',
    message: 'failed to start receiver "src": cannot attach: permission denied',
  });
  assert.deepEqual(events.slice(6), [
    'start out',
    'start out/2',
    'start conv#1',
    'start conv#2',
    'start src',
    'shutdown src/2',
    'shutdown src',
    'shutdown conv#2',
    'shutdown conv#1',
    'shutdown out/2',
    'shutdown out',
  ]);
});

test('a failed create names the component', async () => {
  const broken: ExporterFactory<object, 'links'> = {
    ...recordingExporterFactory('broken', 'links'),
    create: () => {
      throw new Error('endpoint is taken');
    },
  };
  const { service } = setup(
    [fakeSourceFactory('src', 'links'), broken],
    'receivers: {src: }\nexporters: {broken: }\nservice: {pipelines: {p: {receivers: [src], exporters: [broken]}}}\n',
  );
  await assert.rejects(service.start(), { message: 'failed to create exporter "broken": endpoint is taken' });
});

test('a shutdown that misses the deadline is reported and the rest still shut down', async () => {
  const events: string[] = [];
  const j = journaled(events);
  const { service, logs } = setup(
    [j.receiver('src'), j.processor('conv'), j.exporter('out', { hangShutdown: true })],
    TWO_PIPELINES,
    200,
  );
  await service.start();
  const started = Date.now();
  const errors = await service.shutdown();
  const tookMs = Date.now() - started;
  assert.deepEqual(
    errors.map((e) => e.message),
    [
      'exporter "out/2" did not shut down within the 200ms deadline',
      'exporter "out" did not shut down within the 200ms deadline',
    ],
  );
  assert.ok(tookMs < 1000, `shutdown took ${tookMs} ms, well past its 200 ms deadline`);
  assert.equal(logs.filter((l) => l.msg === 'shutdown deadline missed').length, 2);
  assert.deepEqual(logs.at(-1), { ...logs.at(-1), msg: 'shutdown complete', errors: 2 });
});

test('an error reported after start is logged and counted while the pipeline keeps serving', async () => {
  const exporters = recordingExporterFactory('rec', 'links');
  const { service, logs, telemetry } = setup(
    [fakeSourceFactory('src', 'sockets'), fakeConverterFactory('conv', 'sockets'), exporters],
    `
receivers:
  src:
    interval: 10ms
    report_error: "lost the kernel map"
processors:
  conv:
exporters:
  rec:
service:
  pipelines:
    p: {receivers: [src], processors: [conv], exporters: [rec]}
`,
  );
  await service.start();
  const exporter = exporters.created[0];
  assert.ok(exporter !== undefined);
  await until(() => exporter.batches.length >= 3, 'batches keep flowing after the error', 5000);
  assert.deepEqual(await service.shutdown(), []);
  const errorLog = logs.find((l) => l.msg === 'component error');
  assert.deepEqual(errorLog, {
    time: errorLog?.time,
    level: 'error',
    msg: 'component error',
    component: 'src',
    kind: 'receiver',
    error: { message: 'lost the kernel map', name: 'Error' },
  });
  const counter = telemetry.collect().find((m) => m.name === COMPONENT_ERRORS);
  assert.deepEqual(counter?.points, [
    { attributes: { 'component.id': 'src', 'component.kind': 'receiver' }, value: 1 },
  ]);
  assert.equal(exporter.shutdowns, 1);
});

test('shutdown before start is safe', async () => {
  const { service } = setup(
    [fakeSourceFactory('src', 'links'), recordingExporterFactory('rec', 'links')],
    'receivers: {src: }\nexporters: {rec: }\nservice: {pipelines: {p: {receivers: [src], exporters: [rec]}}}\n',
  );
  assert.deepEqual(await service.shutdown(), []);
});

test('the shutdown deadline must be positive', () => {
  const config = parsePipelineConfig(
    'receivers: {src: }\nexporters: {rec: }\nservice: {pipelines: {p: {receivers: [src], exporters: [rec]}}}\n',
    new Registry([fakeSourceFactory('src', 'links'), recordingExporterFactory('rec', 'links')]),
    { file: 't.yaml', env: {} },
  );
  assert.throws(
    () =>
      new Service({
        config,
        logger: createLogger(),
        telemetry: new TelemetryRegistry(),
        shutdownTimeoutMillis: 0,
      }),
    { message: 'shutdownTimeoutMillis must be greater than 0, got 0' },
  );
});

test('declared components that no pipeline uses are validated but never created', async () => {
  const events: string[] = [];
  const j = journaled(events);
  const { service } = setup(
    [j.receiver('src'), j.processor('conv'), j.exporter('out')],
    `
receivers: {src: , src/unused: }
processors: {conv: , conv/unused: }
exporters: {out: , out/unused: }
service: {pipelines: {p: {receivers: [src], processors: [conv], exporters: [out]}}}
`,
  );
  await service.start();
  assert.deepEqual(
    events.filter((e) => e.startsWith('create')),
    ['create out', 'create conv', 'create src'],
  );
  assert.deepEqual(await service.shutdown(), []);
});

test('after a shutdown, start refuses to build anything', async () => {
  const events: string[] = [];
  const j = journaled(events);
  const { service } = setup([j.receiver('src'), j.processor('conv'), j.exporter('out')], TWO_PIPELINES);
  await service.shutdown();
  await assert.rejects(service.start(), { message: 'the service was shut down before it started' });
  assert.deepEqual(events, []);
});

test('a failed create shuts down the components created before it', async () => {
  const events: string[] = [];
  const j = journaled(events);
  const { service } = setup(
    [fakeSourceFactory('src', 'sockets'), j.processor('conv'), j.exporter('out')],
    `
receivers: {src: {fail_create: "no such kernel map"}}
processors: {conv: }
exporters: {out: }
service: {pipelines: {p: {receivers: [src], processors: [conv], exporters: [out]}}}
`,
  );
  await assert.rejects(service.start(), { message: 'failed to create receiver "src": no such kernel map' });
  assert.deepEqual(events, ['create out', 'create conv', 'shutdown conv#1', 'shutdown out']);
});
