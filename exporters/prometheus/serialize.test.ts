import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Link, LinkBatch } from '../../core/signals.ts';
import { TelemetryRegistry } from '../../core/telemetry-registry.ts';
import { TEST_LINK_START_MS, testLink } from '../../test/support/links.ts';
import { CHUNK_BYTES, ChunkPool } from './exposition.ts';
import { expositionText, serializeExposition, streamExposition } from './serialize.ts';
import type { SerializeOptions } from './serialize.ts';

const START_MS = TEST_LINK_START_MS;

function batch(links: Link[]): LinkBatch {
  return { timeMs: START_MS + 5000, startTimeMs: START_MS, links };
}

function text(
  b: LinkBatch | undefined,
  options: Partial<SerializeOptions> = {},
  registry?: TelemetryRegistry,
): string {
  return expositionText(
    serializeExposition(b, registry?.collect() ?? [], {
      format: 'text',
      maxLabelValueLength: 0,
      carettaCompatible: false,
      ...options,
    }),
  );
}

const L =
  'client_workload_name="checkout",client_workload_kind="Deployment",client_k8s_namespace_name="shop",' +
  'server_workload_name="catalog",server_workload_kind="Service",server_k8s_namespace_name="shop",' +
  'server_port="3550",network_transport="tcp",network_type="ipv4",link_observer="client"';

const BYTES_HELP =
  'TCP payload bytes carried by the link since the agent started (retransmissions excluded), per direction, as counted by the observer socket.';
const CONN_HELP =
  'TCP connections of the link since the agent started: opened (established), closed (after being established), failed (never established).';
const ACTIVE_HELP = 'TCP connections of the link open at the last poll.';
const RETRANS_HELP =
  'TCP segments retransmitted by the observer sockets of the link since the agent started.';

void test('text 0.0.4: the link family, HELP and TYPE once per family, one series per point', () => {
  assert.equal(
    text(batch([testLink()])),
    `# HELP loggerhead_link_bytes_total ${BYTES_HELP}
# TYPE loggerhead_link_bytes_total counter
loggerhead_link_bytes_total{${L},direction="client_to_server"} 1200
loggerhead_link_bytes_total{${L},direction="server_to_client"} 34000
# HELP loggerhead_link_connections_total ${CONN_HELP}
# TYPE loggerhead_link_connections_total counter
loggerhead_link_connections_total{${L},event="opened"} 3
loggerhead_link_connections_total{${L},event="closed"} 2
loggerhead_link_connections_total{${L},event="failed"} 1
# HELP loggerhead_link_active_connections ${ACTIVE_HELP}
# TYPE loggerhead_link_active_connections gauge
loggerhead_link_active_connections{${L}} 1
# HELP loggerhead_link_retransmits_total ${RETRANS_HELP}
# TYPE loggerhead_link_retransmits_total counter
loggerhead_link_retransmits_total{${L}} 4
`,
  );
});

void test('OpenMetrics 1.0: family names without _total, UNIT, _created from Link.startTimeMs, # EOF', () => {
  const om = expositionText(
    serializeExposition(batch([testLink()]), [], {
      format: 'openmetrics',
      maxLabelValueLength: 0,
      carettaCompatible: false,
    }),
  );
  assert.equal(
    om,
    `# HELP loggerhead_link_bytes ${BYTES_HELP}
# TYPE loggerhead_link_bytes counter
# UNIT loggerhead_link_bytes bytes
loggerhead_link_bytes_total{${L},direction="client_to_server"} 1200
loggerhead_link_bytes_created{${L},direction="client_to_server"} 1700000000.5
loggerhead_link_bytes_total{${L},direction="server_to_client"} 34000
loggerhead_link_bytes_created{${L},direction="server_to_client"} 1700000000.5
# HELP loggerhead_link_connections ${CONN_HELP}
# TYPE loggerhead_link_connections counter
loggerhead_link_connections_total{${L},event="opened"} 3
loggerhead_link_connections_created{${L},event="opened"} 1700000000.5
loggerhead_link_connections_total{${L},event="closed"} 2
loggerhead_link_connections_created{${L},event="closed"} 1700000000.5
loggerhead_link_connections_total{${L},event="failed"} 1
loggerhead_link_connections_created{${L},event="failed"} 1700000000.5
# HELP loggerhead_link_active_connections ${ACTIVE_HELP}
# TYPE loggerhead_link_active_connections gauge
loggerhead_link_active_connections{${L}} 1
# HELP loggerhead_link_retransmits ${RETRANS_HELP}
# TYPE loggerhead_link_retransmits counter
loggerhead_link_retransmits_total{${L}} 4
loggerhead_link_retransmits_created{${L}} 1700000000.5
# EOF
`,
  );
});

void test('an empty namespace is left out of the labels; several links share one family header', () => {
  const out = text(
    batch([
      testLink(),
      testLink({
        id: 'l2',
        client: { name: 'curl', kind: 'process', namespace: '' },
        server: { name: '203.0.113.9', kind: 'external', namespace: '' },
        serverPort: 443,
        networkType: 'ipv6',
        bytesClientToServer: 7,
      }),
    ]),
  );
  assert.equal(out.match(/# TYPE loggerhead_link_bytes_total counter/g)?.length, 1);
  assert.ok(
    out.includes(
      'loggerhead_link_bytes_total{client_workload_name="curl",client_workload_kind="process",' +
        'server_workload_name="203.0.113.9",server_workload_kind="external",server_port="443",' +
        'network_transport="tcp",network_type="ipv6",link_observer="client",direction="client_to_server"} 7\n',
    ),
  );
});

void test('hostile label values are escaped: backslash, double quote, line feed; unicode passes through', () => {
  const out = text(
    batch([
      testLink({
        client: { name: 'a\\b"c\nd', kind: 'Deployment', namespace: 'ns-é-🐢' },
        server: { name: 'x', kind: 'Service', namespace: 'y' },
      }),
    ]),
  );
  assert.ok(
    out.includes(
      'loggerhead_link_retransmits_total{client_workload_name="a\\\\b\\"c\\nd",client_workload_kind="Deployment",' +
        'client_k8s_namespace_name="ns-é-🐢",server_workload_name="x",server_workload_kind="Service",' +
        'server_k8s_namespace_name="y",server_port="3550",network_transport="tcp",network_type="ipv4",link_observer="client"} 4\n',
    ),
    out,
  );
  for (const line of out.split('\n').slice(0, -1)) assert.ok(!line.includes('\r'), 'one sample per line');
});

void test('max_label_value_length cuts long values, keeps a hash so long values stay distinct', () => {
  const long1 = 'p'.repeat(10_000) + '1';
  const long2 = 'p'.repeat(10_000) + '2';
  const result = serializeExposition(
    batch([
      testLink({ client: { name: long1, kind: 'Deployment', namespace: 'a' } }),
      testLink({ id: 'l2', client: { name: long2, kind: 'Deployment', namespace: 'a' } }),
    ]),
    [],
    { format: 'text', maxLabelValueLength: 64, carettaCompatible: false },
  );
  const out = expositionText(result);
  const names = [...out.matchAll(/loggerhead_link_retransmits_total\{client_workload_name="([^"]*)"/g)].map(
    (m) => m[1],
  );
  assert.equal(names.length, 2);
  assert.equal(names[0]?.length, 64);
  assert.match(names[0] ?? '', /^p{55}~[0-9a-f]{8}$/);
  assert.notEqual(names[0], names[1]);
  assert.equal(result.truncatedLabelValues, 2);
});

void test('a cut never splits a surrogate pair', () => {
  const name = 'x'.repeat(54) + '🐢'.repeat(10);
  const out = text(batch([testLink({ client: { name, kind: 'Deployment', namespace: 'a' } })]), {
    maxLabelValueLength: 64,
  });
  const got = /client_workload_name="([^"]*)"/.exec(out)?.[1] ?? '';
  assert.equal(got.slice(0, 54), 'x'.repeat(54));
  assert.match(got, /^x{54}~[0-9a-f]{8}$/);
});

void test('self-telemetry: counters, gauges and histograms with component_id, in both formats', () => {
  const registry = new TelemetryRegistry(1_700_000_000_000);
  const t = registry.scoped({ 'component.id': 'ebpf_socket' });
  t.counter('loggerhead.receiver.polls', { description: 'Polls done.', unit: '1' }).add(3);
  t.gauge('loggerhead.receiver.sockets', {
    description: 'Open "sockets" tracked.\nNow.',
    unit: '{socket}',
  }).set(17);
  const h = t.histogram('loggerhead.receiver.poll.duration', {
    description: 'Poll duration.',
    unit: 's',
    boundaries: [0.001, 0.01, 1],
  });
  h.record(0.005);
  h.record(2);
  const textOut = expositionText(
    serializeExposition(undefined, registry.collect(), {
      format: 'text',
      maxLabelValueLength: 0,
      carettaCompatible: false,
    }),
  );
  assert.ok(
    textOut.endsWith(`# HELP loggerhead_receiver_polls_total Polls done.
# TYPE loggerhead_receiver_polls_total counter
loggerhead_receiver_polls_total{component_id="ebpf_socket"} 3
# HELP loggerhead_receiver_sockets Open "sockets" tracked.\\nNow.
# TYPE loggerhead_receiver_sockets gauge
loggerhead_receiver_sockets{component_id="ebpf_socket"} 17
# HELP loggerhead_receiver_poll_duration_seconds Poll duration.
# TYPE loggerhead_receiver_poll_duration_seconds histogram
loggerhead_receiver_poll_duration_seconds_bucket{component_id="ebpf_socket",le="0.001"} 0
loggerhead_receiver_poll_duration_seconds_bucket{component_id="ebpf_socket",le="0.01"} 1
loggerhead_receiver_poll_duration_seconds_bucket{component_id="ebpf_socket",le="1"} 1
loggerhead_receiver_poll_duration_seconds_bucket{component_id="ebpf_socket",le="+Inf"} 2
loggerhead_receiver_poll_duration_seconds_sum{component_id="ebpf_socket"} 2.005
loggerhead_receiver_poll_duration_seconds_count{component_id="ebpf_socket"} 2
`),
    textOut,
  );
  const omOut = expositionText(
    serializeExposition(undefined, registry.collect(), {
      format: 'openmetrics',
      maxLabelValueLength: 0,
      carettaCompatible: false,
    }),
  );
  assert.ok(
    omOut.endsWith(`# HELP loggerhead_receiver_polls Polls done.
# TYPE loggerhead_receiver_polls counter
loggerhead_receiver_polls_total{component_id="ebpf_socket"} 3
loggerhead_receiver_polls_created{component_id="ebpf_socket"} 1700000000
# HELP loggerhead_receiver_sockets Open \\"sockets\\" tracked.\\nNow.
# TYPE loggerhead_receiver_sockets gauge
loggerhead_receiver_sockets{component_id="ebpf_socket"} 17
# HELP loggerhead_receiver_poll_duration_seconds Poll duration.
# TYPE loggerhead_receiver_poll_duration_seconds histogram
# UNIT loggerhead_receiver_poll_duration_seconds seconds
loggerhead_receiver_poll_duration_seconds_bucket{component_id="ebpf_socket",le="0.001"} 0
loggerhead_receiver_poll_duration_seconds_bucket{component_id="ebpf_socket",le="0.01"} 1
loggerhead_receiver_poll_duration_seconds_bucket{component_id="ebpf_socket",le="1.0"} 1
loggerhead_receiver_poll_duration_seconds_bucket{component_id="ebpf_socket",le="+Inf"} 2
loggerhead_receiver_poll_duration_seconds_sum{component_id="ebpf_socket"} 2.005
loggerhead_receiver_poll_duration_seconds_count{component_id="ebpf_socket"} 2
loggerhead_receiver_poll_duration_seconds_created{component_id="ebpf_socket"} 1700000000
# EOF
`),
    omOut,
  );
});

void test('attribute keys that sanitise to one label name are joined; a telemetry family that collides is skipped', () => {
  const registry = new TelemetryRegistry(0);
  const t = registry.scoped({ 'component.id': 'x' });
  t.gauge('loggerhead.q', { description: 'q', unit: '1' }).set(1, { 'a.b': 'one', a_b: 'two' });
  t.gauge('loggerhead.link.active_connections', { description: 'clash', unit: '1' }).set(5);
  const result = serializeExposition(batch([]), registry.collect(), {
    format: 'text',
    maxLabelValueLength: 0,
    carettaCompatible: false,
  });
  const out = expositionText(result);
  assert.ok(out.includes('loggerhead_q{a_b="one;two",component_id="x"} 1\n'), out);
  assert.deepEqual(result.skippedFamilies, ['loggerhead.link.active_connections']);
  assert.equal(out.match(/# TYPE loggerhead_link_active_connections /g)?.length, 1);
  assert.ok(!out.includes(' 5\n'));
});

void test('caretta_compatible adds caretta_links_observed as a gauge with the 12 labels', () => {
  const out = text(
    batch([
      testLink({
        client: { name: 'checkoutservice', kind: 'Deployment', namespace: 'demo-ng' },
        server: { name: 'productcatalogservice', kind: 'Deployment', namespace: 'demo-ng' },
      }),
    ]),
    { carettaCompatible: true },
  );
  assert.ok(
    out.includes(
      '# TYPE caretta_links_observed gauge\n' +
        'caretta_links_observed{link_id="198768460",client_id="1074587981",client_name="checkoutservice",' +
        'client_namespace="demo-ng",client_kind="Deployment",client_owner="",server_id="1112713827",' +
        'server_name="productcatalogservice",server_namespace="demo-ng",server_kind="Deployment",' +
        'server_port="3550",role="1"} 1200\n',
    ),
    out,
  );
  assert.ok(!text(batch([testLink()])).includes('caretta'));
});

void test('large expositions come out in Buffers of CHUNK_BYTES (no line split) whose concatenation is the exposition', () => {
  const links = Array.from({ length: 4000 }, (_, i) => testLink({ id: `l${i}`, serverPort: 1000 + i }));
  const result = serializeExposition(batch(links), [], {
    format: 'text',
    maxLabelValueLength: 0,
    carettaCompatible: false,
  });
  assert.ok(result.chunks.length > 4);
  for (const c of result.chunks.slice(0, -1)) {
    assert.ok(c.length <= CHUNK_BYTES && c.length > CHUNK_BYTES - 1024, String(c.length));
    assert.equal(c[c.length - 1], 0x0a, 'each Buffer ends with a whole line');
  }
  assert.equal(result.samples, 4000 * 7);
  const lines = expositionText(result).split('\n');
  assert.equal(lines.filter((l) => l !== '' && !l.startsWith('#')).length, 28_000);
  assert.ok(lines.includes(`loggerhead_link_retransmits_total{${L.replace('3550', '4999')}} 4`));
});

void test('values: large integers, floats and non-finite numbers in sample lines', () => {
  const out = text(
    batch([
      testLink({
        bytesClientToServer: Number.MAX_SAFE_INTEGER,
        bytesServerToClient: 2 ** 60,
        retransSegs: 0,
      }),
    ]),
  );
  assert.ok(out.includes(`direction="client_to_server"} 9007199254740991\n`));
  assert.ok(out.includes(`direction="server_to_client"} 1152921504606847000\n`));
  const registry = new TelemetryRegistry(0);
  const g = registry.scoped({}).gauge('loggerhead.g', { description: 'g', unit: '1' });
  g.set(-3.5, { k: 'a' });
  g.set(NaN, { k: 'b' });
  g.set(Infinity, { k: 'c' });
  const t = text(undefined, {}, registry);
  assert.ok(t.includes('loggerhead_g{k="a"} -3.5\nloggerhead_g{k="b"} NaN\nloggerhead_g{k="c"} +Inf\n'), t);
});

void test('createdLines: false leaves the _created samples out of OpenMetrics', () => {
  const out = expositionText(
    serializeExposition(batch([testLink()]), [], {
      format: 'openmetrics',
      maxLabelValueLength: 0,
      carettaCompatible: false,
      createdLines: false,
    }),
  );
  assert.ok(!out.includes('_created'));
  assert.ok(out.includes(`loggerhead_link_bytes_total{${L},direction="client_to_server"} 1200\n`));
  assert.ok(out.endsWith('# EOF\n'));
});

void test('streamed chunk by chunk through a ChunkPool, the exposition is the same, and Buffers are reused', () => {
  const pool = new ChunkPool(8);
  const links = Array.from({ length: 3000 }, (_, i) => testLink({ id: `l${i}`, serverPort: 1000 + i }));
  const options = { format: 'openmetrics' as const, maxLabelValueLength: 0, carettaCompatible: true };
  const whole = expositionText(serializeExposition(batch(links), [], options));
  const stream = streamExposition(batch(links), [], { ...options, pool });
  const parts: string[] = [];
  const seen = new Set<ArrayBufferLike>();
  let next = stream.next();
  while (next.done !== true) {
    parts.push(next.value.toString('utf8'));
    seen.add(next.value.buffer);
    pool.give([next.value]);
    next = stream.next();
  }
  assert.equal(parts.join(''), whole);
  assert.ok(parts.length > 10);
  assert.ok(
    seen.size < 3,
    `a chunk handed back is the next one written into (${seen.size} Buffers for ${parts.length} chunks)`,
  );
  assert.equal(
    next.value.samples,
    3000 * (7 + 6) + 3000,
    '7 samples and 6 _created per link, 1 Caretta series per link',
  );
  assert.ok(pool.size <= 8);
  pool.give([Buffer.alloc(10), Buffer.alloc(CHUNK_BYTES * 2)]);
  assert.ok(pool.size <= 8, 'only pool-sized Buffers are kept');
});
