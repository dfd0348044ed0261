/** Tests of the pipeline support module's pure parts and of its clean-up on a failed start. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import type { Link } from '../../core/signals.ts';
import { prometheusExporterFactory } from '../../exporters/prometheus/factory.ts';
import { sampleBatch } from './lifecycle.ts';
import type { Topology } from './netns.ts';
import { linkRow, startPipeline, sumLinks } from './pipeline.ts';

const [sample] = sampleBatch('links').links;

function link(observer: Link['observer'], port: number, c2s: number, s2c: number): Link {
  assert.ok(sample);
  return {
    ...sample,
    id: `${observer}-${port}-${c2s}`,
    serverPort: port,
    observer,
    bytesClientToServer: c2s,
    bytesServerToClient: s2c,
    connectionsOpened: 2,
    connectionsClosed: 1,
    retransSegs: 3,
  };
}

test('sumLinks adds every counter per key and leaves out links without a key', () => {
  const links = [
    link('client', 80, 10, 20),
    link('client', 80, 1, 2),
    link('server', 80, 5, 6),
    link('client', 81, 7, 7),
  ];
  const sums = sumLinks(links, (l) => (l.serverPort === 80 ? l.observer : undefined));
  assert.deepEqual(
    sums,
    new Map([
      ['client', { c2s: 11, s2c: 22, opened: 4, closed: 2, failed: 0, active: 2, retrans: 6 }],
      ['server', { c2s: 5, s2c: 6, opened: 2, closed: 1, failed: 0, active: 1, retrans: 3 }],
    ]),
  );
  assert.deepEqual(linkRow(link('server', 80, 5, 6)), [
    'server',
    { name: 'checkout', kind: 'Deployment', namespace: 'shop' },
    { name: 'catalog', kind: 'Service', namespace: 'shop' },
    5,
    6,
    1,
  ]);
});

test('a start that fails part-way shuts down what had started (the exporter frees its port)', async () => {
  const free = createServer();
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
  const port = (free.address() as { port: number }).port;
  await new Promise<void>((resolve) => free.close(() => resolve()));

  const topology = { hosts: [] } as unknown as Topology;
  await assert.rejects(
    startPipeline({
      topology,
      pollInterval: '1h',
      exporter: {
        factory: prometheusExporterFactory,
        id: 'prometheus',
        config: { endpoint: `127.0.0.1:${port}` },
      },
      processorStarted: async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        assert.equal(res.status, 200, 'the exporter serves while the processor starts');
        throw new Error('informers did not sync');
      },
    }),
    /informers did not sync/,
  );
  const again = createServer();
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.listen(port, '127.0.0.1', resolve);
  });
  await new Promise<void>((resolve) => again.close(() => resolve()));
});
