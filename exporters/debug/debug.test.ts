import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Document } from 'yaml';
import { validateConfig } from '../../core/config/validate.ts';
import type { LinkBatch } from '../../core/signals.ts';
import { sampleBatch } from '../../test/support/lifecycle.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';
import type { DebugExporterConfig } from './debug.ts';
import { debugExporterFactory } from './debug.ts';

function exporter(verbosity: DebugExporterConfig['verbosity']) {
  const settings = testSettings('debug/x');
  const component = debugExporterFactory.create(settings, { verbosity });
  return { settings, component };
}

const twoLinks = (): LinkBatch => {
  const batch = sampleBatch('links');
  const first = batch.links[0];
  assert.ok(first !== undefined);
  return {
    ...batch,
    links: [
      first,
      {
        ...first,
        id: 'other',
        client: { name: 'curl', kind: 'process', namespace: '' },
        server: { name: '93.184.215.14', kind: 'external', namespace: '' },
        serverPort: 443,
        observer: 'client',
        bytesClientToServer: 800,
        bytesServerToClient: 66_000,
        activeConnections: 0,
        connectionsClosed: 1,
      },
    ],
  };
};

const strip = (logs: Array<Record<string, unknown>>) => logs.map(({ time: _time, ...rest }) => rest);

test('basic: one summary line per batch, bytes summed over the links', async () => {
  const { settings, component } = exporter('basic');
  await component.start(testHost());
  await component.consume(twoLinks());
  await component.consume({ timeMs: 1, startTimeMs: 0, links: [] });
  assert.deepEqual(strip(settings.logs), [
    {
      level: 'info',
      msg: 'links',
      component: 'debug/x',
      links: 2,
      bytes: 1200 + 34_000 + 800 + 66_000,
      client_to_server_bytes: 2000,
      server_to_client_bytes: 100_000,
      active_connections: 1,
    },
    {
      level: 'info',
      msg: 'links',
      component: 'debug/x',
      links: 0,
      bytes: 0,
      client_to_server_bytes: 0,
      server_to_client_bytes: 0,
      active_connections: 0,
    },
  ]);
});

test('detailed: the summary, then one line per link', async () => {
  const { settings, component } = exporter('detailed');
  await component.consume(twoLinks());
  assert.deepEqual(
    strip(settings.logs).map((l) => [l.msg, l.client, l.server, l.server_port]),
    [
      ['links', undefined, undefined, undefined],
      ['link', 'checkout (Deployment, shop)', 'catalog (Service, shop)', 8080],
      ['link', 'curl (process)', '93.184.215.14 (external)', 443],
    ],
  );
  assert.deepEqual(strip(settings.logs)[2], {
    level: 'info',
    msg: 'link',
    component: 'debug/x',
    client: 'curl (process)',
    server: '93.184.215.14 (external)',
    server_port: 443,
    network_type: 'ipv4',
    observer: 'client',
    client_to_server_bytes: 800,
    server_to_client_bytes: 66_000,
    connections_opened: 1,
    connections_closed: 1,
    connections_failed: 0,
    active_connections: 0,
    retransmitted_segments: 0,
  });
});

test('after shutdown a batch is refused', async () => {
  const { component } = exporter('basic');
  await component.shutdown();
  await assert.rejects(component.consume(sampleBatch('links')), { message: 'debug exporter is shut down' });
});

test('verbosity defaults to basic and rejects anything else', () => {
  assert.deepEqual(validateConfig(undefined, debugExporterFactory.configSchema).value, {
    verbosity: 'basic',
  });
  const { issues } = validateConfig(
    new Document({ verbosity: 'normal' }).contents,
    debugExporterFactory.configSchema,
    {
      path: 'exporters::debug',
    },
  );
  assert.deepEqual(issues, [
    {
      path: 'exporters::debug::verbosity',
      message: 'invalid value "normal": must be one of basic, detailed',
    },
  ]);
});
