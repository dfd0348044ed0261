import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Link } from '../../core/signals.ts';
import { testLink } from '../../test/support/links.ts';
import { LINK_ATTRIBUTE_KEYS, linkAttributeEntries, linkAttributes } from './attributes.ts';

/** A server-side IPv6 link to a StatefulSet in another namespace: no attribute equals testLink()'s default. */
function link(overrides: Partial<Link> = {}): Link {
  return testLink({
    server: { name: 'catalog', kind: 'StatefulSet', namespace: 'inventory' },
    serverPort: 8080,
    networkType: 'ipv6',
    observer: 'server',
    ...overrides,
  });
}

void test('every attribute of a Kubernetes link, in key order', () => {
  assert.deepEqual(linkAttributeEntries(link()), [
    ['client.workload.name', 'checkout'],
    ['client.workload.kind', 'Deployment'],
    ['client.k8s.namespace.name', 'shop'],
    ['server.workload.name', 'catalog'],
    ['server.workload.kind', 'StatefulSet'],
    ['server.k8s.namespace.name', 'inventory'],
    ['server.port', 8080],
    ['network.transport', 'tcp'],
    ['network.type', 'ipv6'],
    ['link.observer', 'server'],
  ]);
  assert.deepEqual(
    linkAttributeEntries(link()).map(([k]) => k),
    [...LINK_ATTRIBUTE_KEYS],
  );
});

void test("an empty namespace is omitted, not sent as ''", () => {
  const attrs = linkAttributes(
    link({
      client: { name: 'curl', kind: 'process', namespace: '' },
      server: { name: '203.0.113.9', kind: 'external', namespace: '' },
      observer: 'client',
      networkType: 'ipv4',
    }),
  );
  assert.deepEqual(attrs, {
    'client.workload.name': 'curl',
    'client.workload.kind': 'process',
    'server.workload.name': '203.0.113.9',
    'server.workload.kind': 'external',
    'server.port': 8080,
    'network.transport': 'tcp',
    'network.type': 'ipv4',
    'link.observer': 'client',
  });
});
