import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Identity, Link } from '../../core/signals.ts';
import { CARETTA_LABELS, carettaSeries, carettaWorkload, fnv1a32 } from './caretta.ts';
import { testLink } from '../../test/support/links.ts';

function link(
  client: Identity,
  server: Identity,
  observer: 'client' | 'server',
  overrides: Partial<Link> = {},
): Link {
  return testLink({
    id: `${client.name}-${server.name}-${observer}`,
    client,
    server,
    serverPort: 3550,
    observer,
    bytesClientToServer: 1000,
    bytesServerToClient: 25_000,
    connectionsOpened: 1,
    connectionsClosed: 0,
    connectionsFailed: 0,
    retransSegs: 0,
    startTimeMs: 0,
    lastActivityMs: 0,
    ...overrides,
  });
}

const checkout: Identity = { name: 'checkoutservice', kind: 'Deployment', namespace: 'demo-ng' };
const catalog: Identity = { name: 'productcatalogservice', kind: 'Deployment', namespace: 'demo-ng' };

void test('FNV-1a test vectors of the issue', () => {
  assert.equal(fnv1a32('checkoutservice' + 'demo-ng'), 1074587981);
  assert.equal(fnv1a32('productcatalogservice' + 'demo-ng'), 1112713827);
  assert.equal((fnv1a32('checkoutservicedemo-ngproductcatalogservicedemo-ng') + 1) >>> 0, 198768460);
});

void test('FNV-1a: published 32-bit vectors, and UTF-8 bytes as Go hashes them', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  const utf8 = (s: string): number => {
    let h = 0x811c9dc5;
    for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
    return h >>> 0;
  };
  for (const s of ['zürich', 'サービス', 'emoji-🐢-svc', 'Ω']) assert.equal(fnv1a32(s), utf8(s), s);
});

void test('the known scenario: label set, ids, roles and values, seen from both ends', () => {
  const series = carettaSeries([link(checkout, catalog, 'client'), link(checkout, catalog, 'server')]);
  assert.deepEqual(
    series.map((s) => Object.fromEntries(s.labels)),
    [
      {
        link_id: '198768460',
        client_id: '1074587981',
        client_name: 'checkoutservice',
        client_namespace: 'demo-ng',
        client_kind: 'Deployment',
        client_owner: '',
        server_id: '1112713827',
        server_name: 'productcatalogservice',
        server_namespace: 'demo-ng',
        server_kind: 'Deployment',
        server_port: '3550',
        role: '1',
      },
      {
        link_id: '198768461',
        client_id: '1074587981',
        client_name: 'checkoutservice',
        client_namespace: 'demo-ng',
        client_kind: 'Deployment',
        client_owner: '',
        server_id: '1112713827',
        server_name: 'productcatalogservice',
        server_namespace: 'demo-ng',
        server_kind: 'Deployment',
        server_port: '3550',
        role: '2',
      },
    ],
  );
  assert.deepEqual(
    series.map((s) => s.value),
    [1000, 25_000],
    'role 1 = bytes the client socket sent, role 2 = bytes the server socket sent',
  );
  for (const s of series)
    assert.deepEqual(
      s.labels.map(([k]) => k),
      [...CARETTA_LABELS],
    );
});

void test('kinds and namespaces in Caretta spelling', () => {
  assert.deepEqual(carettaWorkload({ name: 'worker-1', kind: 'Node', namespace: '' }), {
    name: 'worker-1',
    namespace: 'node',
    kind: 'node',
    owner: '',
  });
  assert.deepEqual(carettaWorkload({ name: 'my-laptop', kind: 'host', namespace: '' }), {
    name: 'my-laptop',
    namespace: 'node',
    kind: 'node',
    owner: '',
  });
  assert.deepEqual(carettaWorkload({ name: '203.0.113.7', kind: 'external', namespace: '' }), {
    name: '203.0.113.7',
    namespace: 'external',
    kind: 'external',
    owner: '',
  });
  assert.equal(carettaWorkload({ name: 'debug', kind: 'Pod', namespace: 'default' }).kind, 'pod');
  assert.equal(carettaWorkload({ name: 'redis', kind: 'StatefulSet', namespace: 'db' }).kind, 'StatefulSet');
  assert.equal(carettaWorkload({ name: 'api', kind: 'Service', namespace: 'db' }).kind, 'Service');
});

void test('links Caretta cannot tell apart are summed into one series', () => {
  const series = carettaSeries([
    link(checkout, catalog, 'client', { networkType: 'ipv4', bytesClientToServer: 10 }),
    link(checkout, catalog, 'client', { networkType: 'ipv6', bytesClientToServer: 32 }),
    link(checkout, catalog, 'client', { serverPort: 8080, bytesClientToServer: 5 }),
  ]);
  assert.deepEqual(
    series.map((s) => [Object.fromEntries(s.labels).server_port, s.value]),
    [
      ['3550', 42],
      ['8080', 5],
    ],
  );
});
