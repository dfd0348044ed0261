/**
 * Tests of tcpexact: the totals it reports equal what the other end counted and what the kernel's own
 * per-socket counters say (`ss -ti` bytes_sent / bytes_received). Run as root (namespaces):
 * `npx node --test test/support/tcpexact.test.ts`
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createTopology } from './netns.ts';
import type { Topology } from './netns.ts';
import {
  HEADER_BYTES,
  openHold,
  rootSpawner,
  runClient,
  runMany,
  runOnce,
  spawnHold,
  spawnServer,
  startServer,
} from './tcpexact.ts';
import type { ServerConnectionReport } from './tcpexact.ts';

const run = promisify(execFile);
const SCRIPT = new URL('./tcpexact.ts', import.meta.url).pathname;

interface SsSocket {
  local: string;
  peer: string;
  bytesSent: number;
  bytesReceived: number;
  retrans: number;
  pid: number | undefined;
}

/** Established TCP sockets of a namespace with their kernel byte counters (`ss -tinp`). */
async function ssSockets(netns: string): Promise<SsSocket[]> {
  const { stdout } = await run('ip', ['netns', 'exec', netns, 'ss', '-tinpH', 'state', 'established']);
  const out: SsSocket[] = [];
  // Each socket is a line with the addresses, then an indented line with the tcp_info fields.
  const lines = stdout.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [, , local = '', peer = ''] = lines[i]!.trim().split(/\s+/);
    const info = lines[i + 1]!;
    const field = (name: string): number => Number(new RegExp(`\\b${name}:(\\d+)`).exec(info)?.[1] ?? 0);
    const pid = /pid=(\d+)/.exec(lines[i]!)?.[1];
    out.push({
      local,
      peer,
      bytesSent: field('bytes_sent'),
      bytesReceived: field('bytes_received'),
      retrans: field('bytes_retrans'),
      pid: pid === undefined ? undefined : Number(pid),
    });
  }
  return out;
}

function byPort(sockets: SsSocket[], localPort: number): SsSocket {
  const found = sockets.filter((s) => s.local.endsWith(`:${localPort}`));
  assert.equal(found.length, 1, `one socket on local port ${localPort}: ${JSON.stringify(sockets)}`);
  return found[0]!;
}

void describe('tcpexact in-process', () => {
  void test('once: both ends count the header and payloads exactly, IPv4 and IPv6', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const server = await startServer({ host });
      for (const [send, recv] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [5_000_000, 3_000_001],
      ] as const) {
        const r = await runOnce({ host, port: server.port, send, recv });
        assert.equal(r.bytesSent, HEADER_BYTES + send);
        assert.equal(r.bytesReceived, recv);
        assert.equal(r.pid, process.pid);
        assert.deepEqual(r.localPorts, [r.connections[0]!.local.port]);
      }
      const conns = await server.waitForConnections(4);
      assert.deepEqual(
        conns.map((c) => [c.bytesIn, c.bytesOut, c.exchanges, c.error]),
        [
          [16, 0, 1, undefined],
          [17, 0, 1, undefined],
          [16, 1, 1, undefined],
          [5_000_016, 3_000_001, 1, undefined],
        ],
      );
      await server.close();
    }
  });

  void test('a dual-stack listener reports IPv4 clients as v4-mapped peers', async () => {
    const server = await startServer({ host: '::' });
    after(() => server.close());
    const r = await runOnce({ host: '127.0.0.1', port: server.port, send: 3, recv: 4 });
    const [conn] = await server.waitForConnections(1);
    assert.equal(conn!.peer.address, '::ffff:127.0.0.1');
    assert.equal(conn!.peer.port, r.localPorts[0]);
  });

  void test('many: seeded sizes are reproducible, totals match the server, concurrency works', async () => {
    const server = await startServer({ host: '127.0.0.1' });
    after(() => server.close());
    const options = {
      host: '127.0.0.1',
      port: server.port,
      connections: 40,
      maxSend: 70_000,
      maxRecv: 90_000,
    };
    const a = await runMany({ ...options, seed: 42, concurrency: 4 });
    const b = await runMany({ ...options, seed: 42 });
    const c = await runMany({ ...options, seed: 43, concurrency: 8 });
    const sizes = (r: typeof a): number[][] => r.connections.map((x) => [x.bytesSent, x.bytesReceived]);
    assert.deepEqual(sizes(a), sizes(b));
    assert.notDeepEqual(sizes(a), sizes(c));
    assert.equal(new Set(a.localPorts).size, 40);
    const conns = await server.waitForConnections(120);
    const sum = (f: (x: ServerConnectionReport) => number): number => conns.reduce((s, x) => s + f(x), 0);
    assert.equal(
      sum((x) => x.bytesIn),
      a.bytesSent + b.bytesSent + c.bytesSent,
    );
    assert.equal(
      sum((x) => x.bytesOut),
      a.bytesReceived + b.bytesReceived + c.bytesReceived,
    );
    assert.ok(conns.every((x) => x.error === undefined));
  });

  void test('hold: exchanges on one idle connection, then reset is seen by the server', async () => {
    const server = await startServer({ host: '127.0.0.1' });
    after(() => server.close());
    const conn = await openHold({ host: '127.0.0.1', port: server.port, send: 10, recv: 20 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const r = await conn.exchange(300_000, 1);
    assert.deepEqual([r.bytesSent, r.bytesReceived, r.exchanges], [16 + 10 + 16 + 300_000, 21, 2]);
    assert.equal(server.connections.length, 0, 'still open');
    await conn.reset();
    const [report] = await server.waitForConnections(1);
    assert.equal(report!.bytesIn, r.bytesSent);
    assert.equal(report!.bytesOut, 21);
    assert.match(report!.error ?? '', /ECONNRESET/);
  });

  void test('errors name the cause', async () => {
    const server = await startServer({ host: '127.0.0.1' });
    const port = server.port;
    await server.close();
    await assert.rejects(
      runOnce({ host: '127.0.0.1', port, send: 1, recv: 1 }),
      /connection to \[127.0.0.1\]:\d+ failed: connect ECONNREFUSED/,
    );
    await assert.rejects(
      runOnce({ host: '127.0.0.1', port, send: -1, recv: 1 }),
      /send must be a non-negative integer, got -1/,
    );
    await assert.rejects(
      runClient(rootSpawner, { mode: 'once', host: '127.0.0.1', port, send: 1, recv: 1 }),
      /tcpexact client once exited \(1\) before answering: .*ECONNREFUSED/,
    );
    const bad = await run(process.execPath, [SCRIPT, 'client', 'twice', '--host', 'x', '--port', '1']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((bad as { code: number }).code, 1);
    assert.match((bad as { stderr: string }).stderr, /client mode must be once, many or hold, got "twice"/);
  });
});

void describe('tcpexact across namespaces, checked against the kernel (needs root)', () => {
  let topo: Topology;
  before(async () => {
    topo = await createTopology({ prefix: 'lht', hosts: ['client', 'server'] });
  });
  after(() => topo.destroy());

  void test('hold: the kernel counters of both sockets equal the reported totals', async () => {
    const serverHost = topo.host('server');
    const server = await spawnServer(serverHost, { host: '::' });
    after(() => server.stop());
    for (const addr of [serverHost.addr4, serverHost.addr6]) {
      const hold = await spawnHold(topo.host('client'), {
        host: addr,
        port: server.port,
        send: 1000,
        recv: 2000,
      });
      const r = await hold.exchange(1_000_000, 250_000);
      assert.equal(r.bytesSent, 16 + 1000 + 16 + 1_000_000);
      assert.equal(r.bytesReceived, 2000 + 250_000);
      const port = r.localPorts[0]!;
      const client = byPort(await ssSockets(topo.host('client').netns), port);
      assert.equal(client.bytesSent - client.retrans, r.bytesSent);
      assert.equal(client.bytesReceived, r.bytesReceived);
      assert.equal(client.pid, r.pid, 'the reported pid owns the socket');
      const peer = (await ssSockets(serverHost.netns)).filter((s) => s.peer.endsWith(`:${port}`));
      assert.equal(peer.length, 1);
      assert.equal(peer[0]!.bytesReceived, r.bytesSent);
      assert.equal(peer[0]!.bytesSent - peer[0]!.retrans, r.bytesReceived);
      assert.equal(peer[0]!.pid, server.pid);
      const closed = await hold.close();
      assert.equal(closed.bytesSent, r.bytesSent);
    }
    const conns = await server.waitForConnections(2);
    assert.deepEqual(
      conns.map((c) => [c.bytesIn, c.bytesOut, c.exchanges, c.error]),
      [
        [1_001_032, 252_000, 2, undefined],
        [1_001_032, 252_000, 2, undefined],
      ],
    );
    assert.equal(conns[0]!.peer.address, `::ffff:${topo.host('client').addr4}`);
    assert.equal(conns[1]!.peer.address, topo.host('client').addr6);
  });

  void test('many as a child process in a namespace: the server saw exactly what the client reports', async () => {
    const serverHost = topo.host('server');
    const server = await spawnServer(serverHost, { host: serverHost.addr6 });
    after(() => server.stop());
    const r = await runClient(topo.host('client'), {
      mode: 'many',
      host: serverHost.addr6,
      port: server.port,
      connections: 25,
      maxSend: 200_000,
      maxRecv: 200_000,
      seed: 5,
      concurrency: 3,
    });
    assert.equal(r.connections.length, 25);
    assert.notEqual(r.pid, process.pid);
    const conns = await server.waitForConnections(25);
    const byPeerPort = new Map(conns.map((c) => [c.peer.port, c]));
    for (const c of r.connections) {
      const s = byPeerPort.get(c.local.port);
      assert.ok(s !== undefined, `server saw local port ${c.local.port}`);
      assert.deepEqual([s.bytesIn, s.bytesOut], [c.bytesSent, c.bytesReceived]);
      assert.equal(s.pid, server.pid);
    }
  });

  void test('a tbf-shaped link with a short queue retransmits, and the totals stay exact', async () => {
    const shaped = await createTopology({ prefix: 'lht', hosts: ['client', 'server'], bridge: true });
    after(() => shaped.destroy());
    const client = shaped.host('client');
    await shaped
      .host('server')
      .shape({ direction: 'ingress', rateKbit: 20_000, burstBytes: 8000, limitBytes: 12_000 });
    const server = await spawnServer(shaped.host('server'), { host: '::' });
    after(() => server.stop());
    const hold = await spawnHold(client, {
      host: shaped.host('server').addr4,
      port: server.port,
      send: 0,
      recv: 0,
    });
    const r = await hold.exchange(4_000_000, 10);
    const kernel = byPort(await ssSockets(client.netns), r.localPorts[0]!);
    assert.ok(
      kernel.retrans > 0,
      `expected retransmissions through the shaped link: ${JSON.stringify(kernel)}`,
    );
    assert.equal(kernel.bytesSent - kernel.retrans, r.bytesSent);
    await hold.close();
    const [conn] = await server.waitForConnections(1);
    assert.equal(conn!.bytesIn, 16 + 16 + 4_000_000);
  });
});
