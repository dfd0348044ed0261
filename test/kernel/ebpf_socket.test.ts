/**
 * Kernel tests of the `ebpf_socket` receiver: the real eBPF program on the
 * running kernel, traffic between network namespaces joined by veth pairs,
 * bytes compared to the byte with what the test's own clients and servers
 * sent. Needs root (CI runs as root); fails with the reason otherwise.
 *
 * Other engineers' programs and traffic may run at the same time: every
 * assertion filters on this test's namespaces and ports.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { SpawnOptions } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import fs, { statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import koffi from 'koffi';
import type { SocketBatch, SocketSample } from '../../core/signals.ts';
import { socketRows } from '../../core/socket-columns.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import type { EbpfSocketConfig } from '../../receivers/ebpf_socket/factory.ts';
import { u64 } from '../../receivers/ebpf_socket/layout.ts';
import { EbpfSocketReceiver } from '../../receivers/ebpf_socket/receiver.ts';
import { createTopology } from '../support/netns.ts';
import type { Topology } from '../support/netns.ts';
import { testHost, testSettings } from '../support/settings.ts';
import type { TestSettings } from '../support/settings.ts';
import { Sink } from '../support/sink.ts';
import { openHold, runClient, runOnce, spawnHold, spawnServer, startServer } from '../support/tcpexact.ts';
import type { HoldProcess, ServerProcess } from '../support/tcpexact.ts';

const DEFAULTS: EbpfSocketConfig = {
  poll_interval: 3_600_000,
  // Covering every namespace, the receiver adopts the other jobs' sockets too (a poll bench holds 100k):
  // a table four times the default keeps room for this test's own.
  max_sockets: 262_144,
  max_links: 16384,
  network_namespaces: ['all'],
  include_loopback: true,
};

interface Running {
  receiver: EbpfSocketReceiver;
  sink: Sink<SocketBatch>;
  settings: TestSettings;
  /** Latest sample of every open socket, by cookie, over all polls. */
  open: Map<number, SocketSample>;
  poll(): Promise<SocketBatch>;
}

/** Starts a receiver whose timer never fires: the test polls by hand. */
async function startReceiver(config: Partial<EbpfSocketConfig> = {}): Promise<Running> {
  const settings = testSettings('ebpf_socket');
  const sink = new Sink<SocketBatch>();
  const receiver = ebpfSocketReceiverFactory.create(settings, { ...DEFAULTS, ...config }, sink);
  assert.ok(receiver instanceof EbpfSocketReceiver);
  await receiver.start(testHost());
  const open = new Map<number, SocketSample>();
  return {
    receiver,
    sink,
    settings,
    open,
    async poll() {
      const batch = await receiver.poll();
      for (const cookie of batch.gone) open.delete(cookie);
      // A batch is valid until the next one (the receiver reuses its columns): keep copies.
      for (const s of socketRows(batch.sockets)) open.set(s.cookie, s);
      return batch;
    },
  };
}

/**
 * Polls until `done` holds (at most 5 s): a peer's close completes in the
 * kernel (LAST_ACK -> CLOSE on the final ACK) slightly after the application
 * saw it.
 */
async function pollUntil(r: Running, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  await r.poll();
  while (!done() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    await r.poll();
  }
}

interface LinkView {
  netns: number;
  observer: 'client' | 'server';
  serverAddr: string;
  serverPort: number;
}

interface Totals {
  c2s: number;
  s2c: number;
  closed: number;
  failed: number;
  open: number;
  retrans: number;
}

/** What one observer saw on one link: closed totals of the last batch plus the open sockets. */
function totals(r: Running, view: LinkView): Totals {
  const out: Totals = { c2s: 0, s2c: 0, closed: 0, failed: 0, open: 0, retrans: 0 };
  const last = r.sink.last();
  assert.ok(last !== undefined, 'no batch yet');
  for (const c of last.closed) {
    if (c.netns !== view.netns || c.observer !== view.observer) continue;
    if (c.serverAddr !== view.serverAddr || c.serverPort !== view.serverPort) continue;
    out.c2s += c.bytesClientToServer;
    out.s2c += c.bytesServerToClient;
    out.closed += c.connectionsClosed;
    out.failed += c.connectionsFailed;
    out.retrans += c.retransSegs;
  }
  for (const s of r.open.values()) {
    if (s.netns !== view.netns || s.role !== view.observer) continue;
    const serverAddr = s.role === 'client' ? s.remoteAddr : s.localAddr;
    const serverPort = s.role === 'client' ? s.remotePort : s.localPort;
    if (serverAddr !== view.serverAddr || serverPort !== view.serverPort) continue;
    out.c2s += s.role === 'client' ? s.txBytes : s.rxBytes;
    out.s2c += s.role === 'client' ? s.rxBytes : s.txBytes;
    out.retrans += s.retransSegs;
    out.open += 1;
  }
  return out;
}

/** Sum of a self-telemetry instrument's points whose attributes include `attributes`. */
function metric(r: Running, name: string, attributes: Record<string, string> = {}): number {
  const m = r.settings.registry.collect().find((x) => x.name === name);
  assert.ok(m !== undefined, `${name} is recorded`);
  return m.points
    .filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + p.value, 0);
}

function histogramCount(r: Running, name: string): number {
  const m = r.settings.registry.collect().find((x) => x.name === name);
  return m?.points[0]?.histogram?.count ?? 0;
}

function socketsOn(r: Running, netns: number, port: number): SocketSample[] {
  return [...r.open.values()].filter(
    (s) => s.netns === netns && (s.localPort === port || s.remotePort === port),
  );
}

/** A /24 in 10.201.0.0/16 and a /120 in fd00:201::/64, random so that parallel runs rarely collide. */
function subnets(): { subnet4: string; subnet6: string } {
  const n = randomInt(1, 250);
  return { subnet4: `10.201.${n}.0/24`, subnet6: `fd00:201::${n.toString(16)}00/120` };
}

describe('ebpf_socket on the real kernel', { concurrency: false }, () => {
  let topo: Topology;
  let server: ServerProcess;

  before(async () => {
    topo = await createTopology({ prefix: 'lhr', hosts: ['client', 'server'], ...subnets() });
    server = await spawnServer(topo.host('server'), { host: '::' });
  });
  after(async () => {
    await server?.stop();
    await topo?.destroy();
  });

  it('counts 1,000 short-lived IPv4 connections with random sizes exactly, over a veth pair, dual-stack server', async () => {
    const r = await startReceiver();
    after(() => r.receiver.shutdown());
    const client = topo.host('client');
    const srv = topo.host('server');
    const report = await runClient(client, {
      mode: 'many',
      host: srv.addr4,
      port: server.port,
      connections: 1000,
      maxSend: 20_000,
      maxRecv: 50_000,
      seed: randomInt(1, 1_000_000),
      concurrency: 4,
    });
    await server.waitForConnections(1000);
    const serverView = {
      netns: srv.inode,
      observer: 'server' as const,
      serverAddr: srv.addr4,
      serverPort: server.port,
    };
    await pollUntil(r, () => totals(r, serverView).closed === 1000);
    const fromClient = totals(r, {
      netns: client.inode,
      observer: 'client',
      serverAddr: srv.addr4,
      serverPort: server.port,
    });
    assert.deepEqual(
      {
        c2s: fromClient.c2s,
        s2c: fromClient.s2c,
        closed: fromClient.closed,
        failed: fromClient.failed,
        open: fromClient.open,
      },
      { c2s: report.bytesSent, s2c: report.bytesReceived, closed: 1000, failed: 0, open: 0 },
    );
    // The server listens on `::`: its sockets are v4-mapped IPv6, reported as IPv4.
    const fromServer = totals(r, {
      netns: srv.inode,
      observer: 'server',
      serverAddr: srv.addr4,
      serverPort: server.port,
    });
    assert.deepEqual(
      { c2s: fromServer.c2s, s2c: fromServer.s2c, closed: fromServer.closed, open: fromServer.open },
      { c2s: report.bytesSent, s2c: report.bytesReceived, closed: 1000, open: 0 },
    );
    const keys = r.sink
      .last()!
      .closed.filter((c) => c.serverPort === server.port && c.netns === client.inode);
    assert.equal(keys.length, 1, 'one kernel link key for the client side');
    assert.equal(keys[0]!.clientAddr, client.addr4);
    assert.equal(keys[0]!.family, 4);

    // Self-telemetry: every number the issue names, against this run (other jobs' sockets add to it).
    const started = r.settings.logs.find((l) => l.msg === 'ebpf_socket started');
    assert.deepEqual(started?.hooks, [
      'tp_btf/inet_sock_set_state',
      'tp_btf/sock_recv_length',
      'tp_btf/tcp_destroy_sock',
      'iter/tcp',
      'iter/bpf_map_elem',
    ]);
    assert.deepEqual(started?.unavailable_hooks, []);
    const last = r.sink.last()!;
    const polls = r.sink.batches.length;
    assert.equal(metric(r, 'loggerhead.receiver.polls'), polls);
    assert.equal(histogramCount(r, 'loggerhead.receiver.poll.duration'), polls);
    assert.equal(histogramCount(r, 'loggerhead.receiver.poll.cpu'), polls);
    assert.equal(metric(r, 'loggerhead.receiver.sockets.tracked'), last.openSockets);
    assert.equal(metric(r, 'loggerhead.receiver.map.fill', { map: 'sockets' }), last.openSockets / 262_144);
    assert.equal(metric(r, 'loggerhead.receiver.map.full_drops'), 0);
    // 2,000 sockets (both ends): each created, moved through at least SYN, ESTABLISHED and CLOSE, closed.
    assert.ok(metric(r, 'loggerhead.receiver.sockets', { event: 'created' }) >= 2000);
    assert.ok(metric(r, 'loggerhead.receiver.sockets', { event: 'closed' }) >= 2000);
    assert.ok(metric(r, 'loggerhead.receiver.hook.hits', { hook: 'inet_sock_set_state' }) >= 3 * 2000);
    // Every server socket received its request, every client its answer.
    assert.ok(metric(r, 'loggerhead.receiver.hook.hits', { hook: 'sock_recv_length' }) >= 2000);
    assert.ok(metric(r, 'loggerhead.receiver.kernel_map.memory') > 262_144 * 80, 'the socket table at least');
  });

  it('counts IPv6 connections exactly on both sides', async () => {
    const r = await startReceiver();
    after(() => r.receiver.shutdown());
    const client = topo.host('client');
    const srv = topo.host('server');
    const report = await runClient(client, {
      mode: 'many',
      host: srv.addr6,
      port: server.port,
      connections: 200,
      maxSend: 100_000,
      maxRecv: 100_000,
      seed: randomInt(1, 1_000_000),
      concurrency: 2,
    });
    await pollUntil(
      r,
      () =>
        totals(r, { netns: srv.inode, observer: 'server', serverAddr: srv.addr6, serverPort: server.port })
          .closed === 200,
    );
    for (const observer of ['client', 'server'] as const) {
      const t = totals(r, {
        netns: observer === 'client' ? client.inode : srv.inode,
        observer,
        serverAddr: srv.addr6,
        serverPort: server.port,
      });
      assert.deepEqual(
        { c2s: t.c2s, s2c: t.s2c, closed: t.closed },
        { c2s: report.bytesSent, s2c: report.bytesReceived, closed: 200 },
        observer,
      );
    }
    const key = r.sink.last()!.closed.find((c) => c.serverPort === server.port && c.netns === client.inode);
    assert.equal(key?.family, 6);
    assert.equal(key?.clientAddr, client.addr6);
  });

  it('keeps a long-lived idle connection exact while open, and after close counts it once', async () => {
    const r = await startReceiver();
    after(() => r.receiver.shutdown());
    const client = topo.host('client');
    const srv = topo.host('server');
    const hold = await spawnHold(client, {
      host: srv.addr4,
      port: server.port,
      send: 123_457,
      recv: 654_321,
    });
    await r.poll();
    const [c] = socketsOn(r, client.inode, server.port);
    const [s] = socketsOn(r, srv.inode, server.port);
    assert.ok(c !== undefined && s !== undefined, 'both ends are reported while open');
    assert.deepEqual(
      [c.role, c.txBytes, c.rxBytes, c.pid, c.remotePort, c.state, c.preexisting],
      [
        'client',
        hold.opened.bytesSent,
        hold.opened.bytesReceived,
        hold.opened.pid,
        server.port,
        'ESTABLISHED',
        false,
      ],
    );
    assert.deepEqual(
      [s.role, s.rxBytes, s.txBytes, s.pid, s.localPort, s.localAddr, s.remoteAddr],
      [
        'server',
        hold.opened.bytesSent,
        hold.opened.bytesReceived,
        server.pid,
        server.port,
        srv.addr4,
        client.addr4,
      ],
    );
    // Idle: the next poll reports neither socket (unchanged).
    await new Promise((done) => setTimeout(done, 300));
    const idle = await r.poll();
    assert.equal(
      socketRows(idle.sockets).filter((x) => x.cookie === c.cookie || x.cookie === s.cookie).length,
      0,
    );
    const more = await hold.exchange(777, 4242);
    await r.poll();
    assert.equal(r.open.get(c.cookie)?.txBytes, more.bytesSent);
    assert.equal(r.open.get(c.cookie)?.rxBytes, more.bytesReceived);
    assert.equal(r.open.get(s.cookie)?.rxBytes, more.bytesSent);
    assert.equal(r.open.get(s.cookie)?.txBytes, more.bytesReceived);
    const closed = await hold.close();
    await pollUntil(r, () => !r.open.has(c.cookie) && !r.open.has(s.cookie));
    const gone = r.sink.batches.flatMap((b) => b.gone);
    assert.ok(gone.includes(c.cookie) && gone.includes(s.cookie), 'both cookies are gone');
    for (const observer of ['client', 'server'] as const) {
      const t = totals(r, {
        netns: observer === 'client' ? client.inode : srv.inode,
        observer,
        serverAddr: srv.addr4,
        serverPort: server.port,
      });
      // Retransmissions may happen (a loaded machine delays ACKs): bytes stay exact regardless.
      assert.deepEqual(
        [t.c2s, t.s2c, t.closed, t.failed, t.open],
        [closed.bytesSent, closed.bytesReceived, 1, 0, 0],
        observer,
      );
    }
  });

  it('reports the cgroup, command, smoothed RTT and open time of a socket', async () => {
    // The client runs in a cgroup v2 group of its own: its sockets carry that group's id (its directory's inode).
    const unified = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) =>
      fs.existsSync(`${d}/cgroup.procs`),
    );
    assert.ok(unified !== undefined, 'a cgroup v2 hierarchy is mounted');
    const group = `${unified}/lhr-${process.pid}-${randomInt(1, 1_000_000)}`;
    fs.mkdirSync(group);
    const held: { hold?: HoldProcess } = {};
    // A group is removed once empty: the client first.
    after(async () => {
      await held.hold?.close();
      fs.rmdirSync(group);
    });
    const r = await startReceiver();
    after(() => r.receiver.shutdown());
    const client = topo.host('client');
    const srv = topo.host('server');
    // Joins the group before `ip netns exec` (which mounts a sysfs of its own, without the cgroup tree).
    const inGroup = {
      spawn: (cmd: string, args: readonly string[], options?: SpawnOptions) =>
        spawn(
          'sh',
          [
            '-c',
            `echo $$ > ${group}/cgroup.procs && exec ip netns exec "$@"`,
            'sh',
            client.netns,
            cmd,
            ...args,
          ],
          options ?? {},
        ),
    };
    const t0 = Date.now();
    const hold = await spawnHold(inGroup, { host: srv.addr4, port: server.port, send: 1000, recv: 1000 });
    held.hold = hold;
    await r.poll();
    const [c] = socketsOn(r, client.inode, server.port);
    assert.ok(c !== undefined, 'the client socket is reported');
    const comm = fs.readFileSync(`/proc/${hold.opened.pid}/comm`, 'utf8').trim();
    assert.deepEqual(
      [c.cgroupId, c.pid, c.comm, c.family, c.localAddr, c.remoteAddr],
      [statSync(group).ino, hold.opened.pid, comm, 4, client.addr4, srv.addr4],
    );
    assert.ok(c.srttUs > 0 && c.srttUs < 1_000_000, `smoothed RTT ${c.srttUs} µs`);
    assert.ok(
      c.openedAtMs >= t0 - 20 && c.openedAtMs <= Date.now(),
      `opened at ${c.openedAtMs}, test at ${t0}`,
    );
    const [s] = socketsOn(r, srv.inode, server.port);
    assert.ok(s !== undefined && s.srttUs > 0, 'the server socket has an RTT too');
    assert.notEqual(s.cgroupId, c.cgroupId, 'the server is not in the client group');
  });

  it('counts only the bytes after start for a connection opened before the receiver', async () => {
    const client = topo.host('client');
    const srv = topo.host('server');
    const hold = await spawnHold(client, { host: srv.addr6, port: server.port, send: 1000, recv: 2000 });
    const r = await startReceiver();
    after(() => r.receiver.shutdown());
    const more = await hold.exchange(5000, 7000);
    await r.poll();
    const [c] = socketsOn(r, client.inode, server.port);
    const [s] = socketsOn(r, srv.inode, server.port);
    assert.ok(c !== undefined && s !== undefined, 'both pre-existing ends are adopted');
    const afterStartSent = more.bytesSent - hold.opened.bytesSent;
    const afterStartReceived = more.bytesReceived - hold.opened.bytesReceived;
    assert.deepEqual(
      [c.preexisting, c.role, c.txBytes, c.rxBytes, c.baselineTxBytes, c.baselineRxBytes],
      [true, 'client', afterStartSent, afterStartReceived, hold.opened.bytesSent, hold.opened.bytesReceived],
    );
    assert.deepEqual(
      [s.preexisting, s.role, s.rxBytes, s.txBytes, s.localPort],
      [true, 'server', afterStartSent, afterStartReceived, server.port],
    );
    const closed = await hold.close();
    await r.poll();
    const t = totals(r, {
      netns: client.inode,
      observer: 'client',
      serverAddr: srv.addr6,
      serverPort: server.port,
    });
    assert.deepEqual(
      [t.c2s, t.s2c, t.closed, t.open],
      [closed.bytesSent - hold.opened.bytesSent, closed.bytesReceived - hold.opened.bytesReceived, 1, 0],
    );
  });

  it('does not lose a connection that opens and closes between two polls, nor count a socket twice', async () => {
    const r = await startReceiver();
    after(() => r.receiver.shutdown());
    const client = topo.host('client');
    const srv = topo.host('server');
    await r.poll();
    const view = {
      netns: client.inode,
      observer: 'client' as const,
      serverAddr: srv.addr4,
      serverPort: server.port,
    };
    const before = totals(r, view);
    const first = await runClient(client, {
      mode: 'once',
      host: srv.addr4,
      port: server.port,
      send: 4321,
      recv: 8765,
    });
    const second = await runClient(client, {
      mode: 'once',
      host: srv.addr4,
      port: server.port,
      send: 1,
      recv: 0,
    });
    await r.poll();
    await r.poll();
    const now = totals(r, view);
    assert.deepEqual(
      [now.c2s - before.c2s, now.s2c - before.s2c, now.closed - before.closed],
      [first.bytesSent + second.bytesSent, first.bytesReceived + second.bytesReceived, 2],
    );
  });

  it('counts a full socket table, exports it, logs it once, and keeps running', async () => {
    const client = topo.host('client');
    const srv = topo.host('server');
    const r = await startReceiver({
      max_sockets: 16,
      network_namespaces: [`/run/netns/${client.netns}`, `/run/netns/${srv.netns}`],
    });
    after(() => r.receiver.shutdown());
    const report = await runClient(client, {
      mode: 'many',
      host: srv.addr4,
      port: server.port,
      connections: 5,
      maxSend: 10,
      maxRecv: 10,
      concurrency: 1,
    });
    const holds = [];
    for (let i = 0; i < 12; i++)
      holds.push(await spawnHold(client, { host: srv.addr4, port: server.port, send: 10, recv: 10 }));
    await r.poll();
    await r.poll();
    const drops = r.settings.registry
      .collect()
      .find((m) => m.name === 'loggerhead.receiver.map.full_drops')
      ?.points.filter((p) => p.attributes.map === 'sockets')
      .reduce((a, p) => a + p.value, 0);
    assert.ok(drops !== undefined && drops >= 24 - 16, `drops counted and exported (got ${drops})`);
    const warnings = r.settings.logs.filter(
      (l) => l.level === 'warn' && String(l.msg).startsWith('kernel table full'),
    );
    assert.equal(warnings.length, 1, 'logged exactly once');
    assert.equal(r.sink.last()!.openSockets, 16);
    const view = {
      netns: client.inode,
      observer: 'client' as const,
      serverAddr: srv.addr4,
      serverPort: server.port,
    };
    // The short connections made before the table filled up were all tracked.
    const closedOnly = r.sink
      .last()!
      .closed.filter(
        (c) => c.netns === client.inode && c.observer === 'client' && c.serverPort === server.port,
      );
    assert.deepEqual(
      [
        closedOnly.reduce((a, c) => a + c.connectionsClosed, 0),
        closedOnly.reduce((a, c) => a + c.bytesClientToServer, 0),
        closedOnly.reduce((a, c) => a + c.bytesServerToClient, 0),
      ],
      [5, report.bytesSent, report.bytesReceived],
    );
    for (const h of holds) await h.close();
    await pollUntil(r, () => r.sink.last()!.openSockets === 0);
    assert.equal(r.sink.last()!.openSockets, 0, 'the held sockets left the table');
    // Still running and tracking: a new connection is exact, and nothing more was dropped.
    const before = totals(r, view);
    const again = await runClient(client, {
      mode: 'once',
      host: srv.addr4,
      port: server.port,
      send: 4242,
      recv: 2424,
    });
    await pollUntil(r, () => totals(r, view).closed === before.closed + 1);
    const now = totals(r, view);
    assert.deepEqual(
      [now.c2s - before.c2s, now.s2c - before.s2c, now.closed - before.closed, now.open],
      [again.bytesSent, again.bytesReceived, 1, 0],
    );
    assert.equal(metric(r, 'loggerhead.receiver.map.full_drops', { map: 'sockets' }), drops);
    assert.equal(
      r.settings.logs.filter((l) => String(l.msg).startsWith('kernel table full')).length,
      1,
      'still logged once',
    );
  });

  it('counts a full links table: the closed sockets lost and their bytes, logged once', async () => {
    const client = topo.host('client');
    const srv = topo.host('server');
    // 9 servers, one connection each: 18 link keys (client and server observers) for 16 entries.
    const servers: ServerProcess[] = [];
    for (let i = 0; i < 9; i++) servers.push(await spawnServer(srv, { host: srv.addr4 }));
    after(() => Promise.all(servers.map((x) => x.stop())));
    const r = await startReceiver({
      max_links: 16,
      network_namespaces: [`/run/netns/${client.netns}`, `/run/netns/${srv.netns}`],
    });
    after(() => r.receiver.shutdown());
    const reports = [];
    for (const x of servers) {
      reports.push(
        await runClient(client, { mode: 'once', host: srv.addr4, port: x.port, send: 1000, recv: 3000 }),
      );
      await x.waitForConnections(1);
    }
    const perConnection = reports[0]!.bytesSent + reports[0]!.bytesReceived;
    assert.ok(reports.every((x) => x.bytesSent + x.bytesReceived === perConnection));
    await pollUntil(
      r,
      () =>
        r.sink.last()!.closed.reduce((a, c) => a + c.connectionsClosed, 0) +
          metric(r, 'loggerhead.receiver.map.full_drops', { map: 'links' }) ===
        18,
    );
    const closed = r.sink.last()!.closed;
    assert.equal(closed.length, 16, 'the links table is full');
    assert.equal(metric(r, 'loggerhead.receiver.map.full_drops', { map: 'links' }), 2);
    assert.equal(metric(r, 'loggerhead.receiver.lost_bytes'), 2 * perConnection, 'the lost bytes, exactly');
    const counted = closed.reduce((a, c) => a + c.bytesClientToServer + c.bytesServerToClient, 0);
    assert.equal(counted + 2 * perConnection, 18 * perConnection, 'every byte counted or counted as lost');
    assert.equal(
      r.settings.logs.filter((l) => String(l.msg).startsWith('kernel table full') && l.map === 'links')
        .length,
      1,
    );
  });

  it('counts a refused connection as failed, with no bytes', async () => {
    const r = await startReceiver();
    after(() => r.receiver.shutdown());
    const client = topo.host('client');
    const srv = topo.host('server');
    const closedPort = server.port === 9 ? 10 : 9;
    const refused = await client.exec('bash', ['-c', `echo > /dev/tcp/${srv.addr4}/${closedPort}`], {
      allowFailure: true,
    });
    assert.match(refused.stderr, /refused/i);
    await r.poll();
    const t = totals(r, {
      netns: client.inode,
      observer: 'client',
      serverAddr: srv.addr4,
      serverPort: closedPort,
    });
    assert.deepEqual(t, { c2s: 0, s2c: 0, closed: 0, failed: 1, open: 0, retrans: 0 });
  });
});

describe('ebpf_socket with retransmissions', { concurrency: false }, () => {
  it('stays exact when a shaped link drops segments and the sender retransmits', async () => {
    const topo = await createTopology({
      prefix: 'lhr',
      hosts: ['client', 'server'],
      bridge: true,
      ...subnets(),
    });
    after(() => topo.destroy());
    const client = topo.host('client');
    const srv = topo.host('server');
    const server = await spawnServer(srv, { host: '::' });
    after(() => server.stop());
    // Drops in the "network" (the bridge port toward the server): the client retransmits them.
    await srv.shape({ direction: 'ingress', rateKbit: 100_000, burstBytes: 16_384, limitBytes: 16_384 });
    const r = await startReceiver();
    after(() => r.receiver.shutdown());
    const report = await runClient(client, {
      mode: 'once',
      host: srv.addr4,
      port: server.port,
      send: 2_000_000,
      recv: 200_000,
    });
    const serverView = {
      netns: srv.inode,
      observer: 'server' as const,
      serverAddr: srv.addr4,
      serverPort: server.port,
    };
    await pollUntil(r, () => totals(r, serverView).closed === 1);
    const fromClient = totals(r, { ...serverView, netns: client.inode, observer: 'client' });
    assert.ok(fromClient.retrans > 0, `the link retransmitted (retransmits ${fromClient.retrans})`);
    assert.deepEqual(
      [fromClient.c2s, fromClient.s2c, fromClient.closed],
      [report.bytesSent, report.bytesReceived, 1],
    );
    const fromServer = totals(r, serverView);
    assert.deepEqual([fromServer.c2s, fromServer.s2c], [report.bytesSent, report.bytesReceived]);
  });
});

describe('ebpf_socket on loopback', { concurrency: false }, () => {
  it('counts IPv4 and IPv6 loopback connections from both ends', async () => {
    const own = statSync('/proc/self/ns/net').ino;
    const server = await startServer({ host: '::' });
    after(() => server.close());
    const r = await startReceiver({ network_namespaces: ['/proc/self/ns/net'] });
    after(() => r.receiver.shutdown());
    const v4 = await runOnce({ host: '127.0.0.1', port: server.port, send: 12_345, recv: 54_321 });
    const v6 = await runOnce({ host: '::1', port: server.port, send: 2_222, recv: 3_333 });
    await pollUntil(
      r,
      () =>
        totals(r, { netns: own, observer: 'server', serverAddr: '::1', serverPort: server.port }).closed ===
        1,
    );
    for (const [addr, report] of [
      ['127.0.0.1', v4],
      ['::1', v6],
    ] as const) {
      for (const observer of ['client', 'server'] as const) {
        const t = totals(r, { netns: own, observer, serverAddr: addr, serverPort: server.port });
        assert.deepEqual(
          [t.c2s, t.s2c, t.closed],
          [report.bytesSent, report.bytesReceived, 1],
          `${addr} ${observer}`,
        );
      }
    }
  });

  it('ignores loopback connections with include_loopback: false', async () => {
    const own = statSync('/proc/self/ns/net').ino;
    const server = await startServer({ host: '::' });
    after(() => server.close());
    const r = await startReceiver({ network_namespaces: ['/proc/self/ns/net'], include_loopback: false });
    after(() => r.receiver.shutdown());
    const hold = await openHold({ host: '127.0.0.1', port: server.port, send: 10, recv: 10 });
    await runOnce({ host: '::1', port: server.port, send: 100, recv: 100 });
    await r.poll();
    assert.deepEqual(socketsOn(r, own, server.port), []);
    assert.equal(r.sink.last()!.closed.filter((c) => c.serverPort === server.port).length, 0);
    await hold.close();
  });
});

/**
 * Raw sockets and maps through libc and libbpf (koffi), for what Node does
 * not offer: listen(fd, 0) (Node turns a backlog of 0 into 511), a client
 * socket whose descriptor stays open after a reset, and the receiver's socket
 * table (to stand in for a CLOSE the kernel did not report).
 */
const libc = koffi.load('libc.so.6');
const sys = {
  listen: libc.func('int listen(int fd, int backlog)'),
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  connect: libc.func('int connect(int fd, const void *addr, uint32_t len)'),
  send: libc.func('intptr_t send(int fd, const void *buf, size_t len, int flags)'),
  recv: libc.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)'),
  close: libc.func('int close(int fd)'),
};
const libbpf = koffi.load('libbpf.so.1');
const bpfMap = {
  lookup: libbpf.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
  update: libbpf.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
};
const MSG_DONTWAIT = 0x40;

/** A blocking IPv4 TCP client on a raw descriptor, connected to 127.0.0.1:port. */
function rawConnect(port: number): number {
  const fd = sys.socket(2, 1, 0) as number;
  assert.ok(fd >= 0, 'socket()');
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(2, 0);
  addr.writeUInt16BE(port, 2);
  addr.set([127, 0, 0, 1], 4);
  assert.equal(sys.connect(fd, addr, addr.length), 0, 'connect()');
  return fd;
}

/** Receives exactly `n` bytes on a raw descriptor without blocking the event loop. */
async function rawRecv(fd: number, n: number): Promise<void> {
  const buf = Buffer.alloc(n);
  let got = 0;
  const deadline = Date.now() + 5000;
  while (got < n) {
    const r = Number(sys.recv(fd, buf, n - got, MSG_DONTWAIT));
    if (r > 0) got += r;
    else if (Date.now() > deadline) throw new Error(`raw recv: ${got} of ${n} bytes after 5 s`);
    else await new Promise((done) => setTimeout(done, 5));
  }
}

/** The receiver's socket table in this process: its descriptor, found by its unique shape in fdinfo. */
function socketTableFd(entries: number): number {
  const found = fs
    .readdirSync('/proc/self/fdinfo')
    .filter((fd) => {
      let info: string;
      try {
        info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      } catch {
        return false; // the descriptor of the directory listing itself, closed since
      }
      return (
        /^map_type:\s+2$/m.test(info) &&
        /^value_size:\s+80$/m.test(info) &&
        new RegExp(`^max_entries:\\s+${entries}$`, 'm').test(info)
      );
    })
    .map(Number);
  assert.equal(found.length, 1, `one socket table of ${entries} entries in this process`);
  return found[0]!;
}

/** The entries a cookie may occupy, in probe order (direct_slot(), spread_slot() in socket_tracker.bpf.c). */
function probeSlots(cookie: number, entries: number): number[] {
  const M = 0xffff_ffff_ffff_ffffn;
  const spread = (probe: number): number => {
    let x = (BigInt(cookie) + BigInt(probe) * 0x9e3779b97f4a7c15n) & M;
    x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & M;
    x ^= x >> 31n;
    return Number((x >> 32n) % BigInt(entries));
  };
  return [cookie % entries, ...Array.from({ length: 7 }, (_, i) => spread(i + 1))];
}

/** A one-exchange server: reads `request` bytes, answers `response` bytes, keeps the connection open. */
async function listenServer(backlog: number | undefined, request: number, response: number) {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    let got = 0;
    socket.on('data', (d) => {
      got += d.length;
      if (got === request) socket.write(Buffer.alloc(response, 0x73));
    });
    socket.on('error', () => undefined);
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  if (backlog !== undefined) {
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    assert.equal(sys.listen(fd, backlog), 0, 'listen() again with the new backlog');
    const ss = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    assert.equal(ss.trim().split(/\s+/)[2], String(backlog), `backlog shown by ss: ${ss.trim()}`);
  }
  return {
    port,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

describe('ebpf_socket: roles and reclaimed entries', { concurrency: false }, () => {
  it('gives the server role, pid and command to the sockets of a listen(fd, 0) listener', async () => {
    const own = statSync('/proc/self/ns/net').ino;
    const server = await listenServer(0, 3000, 5000);
    after(() => server.close());
    const r = await startReceiver({ network_namespaces: ['/proc/self/ns/net'] });
    after(() => r.receiver.shutdown());
    const fd = rawConnect(server.port);
    after(() => sys.close(fd));
    assert.equal(Number(sys.send(fd, Buffer.alloc(3000, 0x71), 3000, 0)), 3000);
    await rawRecv(fd, 5000);
    await r.poll();
    const s = socketsOn(r, own, server.port).find((x) => x.localPort === server.port);
    assert.ok(s !== undefined, 'the server socket is reported');
    assert.deepEqual(
      [s.role, s.pid, s.preexisting, s.rxBytes, s.txBytes],
      ['server', process.pid, false, 3000, 5000],
    );
    assert.notEqual(s.comm, '');
  });

  it('adopts the open connections of a listen(fd, 0) listener as servers', async () => {
    const own = statSync('/proc/self/ns/net').ino;
    const server = await listenServer(0, 3000, 5000);
    after(() => server.close());
    const fd = rawConnect(server.port);
    after(() => sys.close(fd));
    assert.equal(Number(sys.send(fd, Buffer.alloc(3000, 0x71), 3000, 0)), 3000);
    await rawRecv(fd, 5000);
    const r = await startReceiver({ network_namespaces: ['/proc/self/ns/net'] });
    after(() => r.receiver.shutdown());
    await r.poll();
    const mine = socketsOn(r, own, server.port);
    const s = mine.find((x) => x.localPort === server.port);
    const c = mine.find((x) => x.remotePort === server.port);
    assert.deepEqual(
      [s?.role, s?.preexisting, c?.role, c?.preexisting],
      ['server', true, 'client', true],
      'roles of the adopted ends',
    );
  });

  it('counts a socket reconnected on the same descriptor (connect AF_UNSPEC) once per connection, never twice', async () => {
    const own = statSync('/proc/self/ns/net').ino;
    const server = await listenServer(undefined, 3000, 5000);
    after(() => server.close());
    const r = await startReceiver({ network_namespaces: ['/proc/self/ns/net'] });
    after(() => r.receiver.shutdown());
    let fd = rawConnect(server.port);
    after(() => {
      if (fd >= 0) sys.close(fd);
    });
    assert.equal(Number(sys.send(fd, Buffer.alloc(3000, 0x71), 3000, 0)), 3000);
    await rawRecv(fd, 5000);
    await r.poll();
    const first = socketsOn(r, own, server.port).find((x) => x.remotePort === server.port);
    assert.ok(first !== undefined, 'the first connection is reported');
    assert.deepEqual([first.role, first.txBytes, first.rxBytes], ['client', 3000, 5000]);

    // The same socket disconnects (AF_UNSPEC: CLOSE, counters reset) and connects again.
    assert.equal(sys.connect(fd, Buffer.alloc(16), 16), 0, 'connect(AF_UNSPEC)');
    const addr = Buffer.alloc(16);
    addr.writeUInt16LE(2, 0);
    addr.writeUInt16BE(server.port, 2);
    addr.set([127, 0, 0, 1], 4);
    assert.equal(sys.connect(fd, addr, addr.length), 0, 'connect() again');
    assert.equal(Number(sys.send(fd, Buffer.alloc(3000, 0x71), 3000, 0)), 3000);
    await rawRecv(fd, 5000);
    const batch = await r.poll();
    assert.ok(batch.gone.includes(first.cookie), 'the first connection is gone');
    const second = socketRows(batch.sockets).find((x) => x.cookie === first.cookie);
    assert.ok(second !== undefined, 'the second connection is reported under the same socket cookie');
    assert.deepEqual(
      [second.role, second.txBytes, second.rxBytes, second.preexisting],
      ['client', 3000, 5000, false],
      'only the second connection’s bytes',
    );
    assert.ok(second.openedAtMs >= first.openedAtMs);
    const view = {
      netns: own,
      observer: 'client' as const,
      serverAddr: '127.0.0.1',
      serverPort: server.port,
    };
    const mid = totals(r, view);
    assert.deepEqual([mid.c2s, mid.s2c, mid.closed, mid.failed, mid.open], [6000, 10000, 1, 0, 1]);
    sys.close(fd);
    fd = -1;
    await pollUntil(r, () => totals(r, view).closed === 2);
    const t = totals(r, view);
    assert.deepEqual([t.c2s, t.s2c, t.closed, t.failed, t.open], [6000, 10000, 2, 0, 0]);
  });

  it('reclaims a table entry whose CLOSE was not seen: exact totals while the socket memory is the same, counted as lost once it is not', async () => {
    const own = statSync('/proc/self/ns/net').ino;
    const entries = 96;
    const server = await listenServer(undefined, 3000, 5000);
    after(() => server.close());
    const r = await startReceiver({ network_namespaces: ['/proc/self/ns/net'], max_sockets: entries });
    after(() => r.receiver.shutdown());
    const table = socketTableFd(entries);
    const fd = rawConnect(server.port);
    after(() => sys.close(fd));
    assert.equal(Number(sys.send(fd, Buffer.alloc(3000, 0x71), 3000, 0)), 3000);
    await rawRecv(fd, 5000);
    await r.poll();
    const c = socketsOn(r, own, server.port).find((x) => x.remotePort === server.port);
    assert.ok(c !== undefined, 'the client socket is reported');

    // Move the client's entry out of reach of its cookie's probe window: its CLOSE will find nothing.
    const key = Buffer.alloc(4);
    const value = Buffer.alloc(80);
    const probes = probeSlots(c.cookie, entries);
    const from =
      probes.find((slot) => {
        key.writeUInt32LE(slot);
        assert.equal(bpfMap.lookup(table, key, value), 0);
        return u64(value, 0) === c.cookie;
      }) ?? -1;
    assert.ok(from >= 0, 'the entry is in its probe window');
    const entry = Buffer.from(value);
    const freeSlot = (): number => {
      for (let slot = 0; slot < entries; slot++) {
        if (probes.includes(slot)) continue;
        key.writeUInt32LE(slot);
        assert.equal(bpfMap.lookup(table, key, value), 0);
        if (u64(value, 0) === 0) return slot;
      }
      throw new Error('no free entry outside the probe window');
    };
    const to = freeSlot();
    key.writeUInt32LE(to);
    assert.equal(bpfMap.update(table, key, entry, 0n), 0);
    key.writeUInt32LE(from);
    assert.equal(bpfMap.update(table, key, Buffer.alloc(80), 0n), 0);

    // The server resets the connection: the client socket goes to CLOSE, its descriptor stays open.
    server.sockets[0]!.resetAndDestroy();
    await new Promise((done) => setTimeout(done, 100));
    // The first poll that finds the socket closed marks the entry, the second reclaims it; like any
    // close, that shows at the next poll.
    await r.poll();
    await r.poll();
    const batch = await r.poll();
    const reclaimed = (event: string): number =>
      r.settings.registry
        .collect()
        .find((m) => m.name === 'loggerhead.receiver.sockets')
        ?.points.filter((p) => p.attributes.event === event)
        .reduce((a, p) => a + p.value, 0) ?? 0;
    assert.equal(reclaimed('reclaimed'), 1, 'one entry reclaimed with its totals');
    assert.ok(batch.gone.includes(c.cookie), 'the socket is gone');
    const t = totals(r, { netns: own, observer: 'client', serverAddr: '127.0.0.1', serverPort: server.port });
    assert.deepEqual([t.c2s, t.s2c, t.closed, t.failed, t.open], [3000, 5000, 1, 0, 0]);

    // An entry whose socket memory now holds another socket (a cookie no socket has): freed, counted as lost.
    const s = socketsOn(r, own, server.port).find((x) => x.localPort === server.port);
    assert.equal(s, undefined, 'the server end closed normally');
    const fake = Buffer.from(entry);
    fake.writeUInt32LE(fake.readUInt32LE(4) + 0x100, 4);
    const bogus = u64(fake, 0);
    const at = freeSlot();
    key.writeUInt32LE(at);
    assert.equal(bpfMap.update(table, key, fake, 0n), 0);
    await r.poll();
    await r.poll();
    const next = await r.poll();
    assert.equal(reclaimed('reclaimed_lost'), 1, 'one entry reclaimed without totals');
    const lostWarnings = r.settings.logs.filter(
      (l) => l.level === 'warn' && /bytes since the previous poll are lost/.test(String(l.msg)),
    );
    assert.equal(lostWarnings.length, 1, 'the poll that lost it warns, once');
    assert.equal(lostWarnings[0]!.sockets, 1);
    assert.ok(next.gone.includes(bogus), 'its cookie is reported gone');
    assert.equal(bpfMap.lookup(table, key, value), 0);
    assert.equal(u64(value, 0), 0, 'its entry is free again');
  });
});

interface MapInfo {
  fd: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  memlock: number;
}

/** Every BPF map this process holds, from /proc/self/fdinfo. */
function bpfMaps(): MapInfo[] {
  const maps: MapInfo[] = [];
  for (const fd of fs.readdirSync('/proc/self/fdinfo')) {
    let info: string;
    try {
      info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // the descriptor of the directory listing itself
    }
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(info)?.[1]);
    if (!/^map_type:/m.test(info)) continue;
    maps.push({
      fd: Number(fd),
      type: field('map_type'),
      keySize: field('key_size'),
      valueSize: field('value_size'),
      maxEntries: field('max_entries'),
      memlock: field('memlock'),
    });
  }
  return maps;
}

describe('ebpf_socket kernel memory', { concurrency: false }, () => {
  it('stays within 32 MiB at the default sizes with every map full', async (t) => {
    // Default sizes; a namespace list, so that the namespace filter map is in use too.
    const r = await startReceiver({
      max_sockets: 65536,
      max_links: 16384,
      network_namespaces: ['/proc/self/ns/net'],
    });
    after(() => r.receiver.shutdown());
    const HASH = 1;
    const empty = bpfMaps();
    const hashes = empty.filter((m) => m.type === HASH);
    // links, gone (one per table entry), netns filter, zero-backlog listeners.
    assert.deepEqual(
      hashes.map((m) => m.maxEntries).sort((a, b) => a - b),
      [1024, 4096, 16384, 65536],
      'the hash maps of the tracker',
    );
    // Fill every hash map to its limit with distinct keys (the preallocated arrays cost the same empty or full).
    for (const m of hashes) {
      const key = Buffer.alloc(m.keySize);
      const value = Buffer.alloc(m.valueSize);
      let stored = 0;
      for (let i = 1; stored < m.maxEntries && i <= 2 * m.maxEntries; i++) {
        key.writeUInt32LE(i);
        if (bpfMap.update(m.fd, key, value, 1n) === 0) stored++;
      }
      key.writeUInt32LE(0xfffffff0);
      assert.notEqual(bpfMap.update(m.fd, key, value, 1n), 0, `map of ${m.maxEntries} entries is full`);
    }
    const full = bpfMaps();
    const total = full.reduce((sum, m) => sum + m.memlock, 0);
    const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
    t.diagnostic(
      `kernel memory of the maps, default sizes: ${mib(empty.reduce((s, m) => s + m.memlock, 0))} MiB empty, ` +
        `${mib(total)} MiB full (` +
        full.map((m) => `${m.maxEntries}x${m.keySize}+${m.valueSize}: ${mib(m.memlock)}`).join(', ') +
        ')',
    );
    assert.ok(total <= 32 * 2 ** 20, `${mib(total)} MiB <= 32 MiB`);
    // The receiver's gauge reads the same counters (the poll drains the closed-socket queue first).
    await r.poll();
    const gauge = metric(r, 'loggerhead.receiver.kernel_map.memory');
    const gone = full.find((m) => m.type === HASH && m.maxEntries === 65536)!.memlock;
    assert.ok(gauge <= total && gauge >= total - gone, `gauge ${gauge} within [${total - gone}, ${total}]`);
  });
});

describe('ebpf_socket and network namespaces created after start', { concurrency: false }, () => {
  it('counts a connection between namespaces that did not exist when the receiver started', async () => {
    const r = await startReceiver();
    after(() => r.receiver.shutdown());
    await r.poll();
    const topo = await createTopology({ prefix: 'lhr', hosts: ['client', 'server'], ...subnets() });
    after(() => topo.destroy());
    const client = topo.host('client');
    const srv = topo.host('server');
    const server = await spawnServer(srv, { host: '::' });
    after(() => server.stop());
    const report = await runClient(client, {
      mode: 'once',
      host: srv.addr6,
      port: server.port,
      send: 77_777,
      recv: 11_111,
    });
    const view = {
      netns: srv.inode,
      observer: 'server' as const,
      serverAddr: srv.addr6,
      serverPort: server.port,
    };
    await pollUntil(r, () => totals(r, view).closed === 1);
    for (const [netns, observer] of [
      [client.inode, 'client'],
      [srv.inode, 'server'],
    ] as const) {
      const t = totals(r, { ...view, netns, observer });
      assert.deepEqual([t.c2s, t.s2c, t.closed], [report.bytesSent, report.bytesReceived, 1], observer);
    }
  });
});
