import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { socketColumns } from '../../core/socket-columns.ts';
import type { ClosedLinkTotals, Identity, Link, SocketBatch, SocketSample } from '../../core/signals.ts';
import type { FlowEnds, Resolve } from './aggregate.ts';
import { Aggregator, OVERFLOW_KIND, OVERFLOW_NAME } from './aggregate.ts';
import { CidrTable } from './cidr.ts';
import type { ClusterMetadata, IpOwner } from './metadata.ts';
import { inputsVersion, LocalPeers, resolveEnds } from './resolve.ts';
import type { ResolveContext } from './resolve.ts';
import { seededRandom } from '../../test/support/random.ts';

const T0 = 1_700_000_000_000;

function sample(over: Partial<SocketSample> & Pick<SocketSample, 'cookie'>): SocketSample {
  return {
    openedAtMs: T0,
    netns: 4026531840,
    cgroupId: 7,
    pid: 100,
    comm: 'curl',
    family: 4,
    localAddr: '10.0.0.1',
    localPort: 40000 + over.cookie,
    remoteAddr: '10.0.0.2',
    remotePort: 80,
    role: 'client',
    state: 'ESTABLISHED',
    txBytes: 0,
    rxBytes: 0,
    retransSegs: 0,
    srttUs: 0,
    preexisting: false,
    baselineTxBytes: 0,
    baselineRxBytes: 0,
    ...over,
  };
}

function totals(over: Partial<ClosedLinkTotals>): ClosedLinkTotals {
  return {
    family: 4,
    clientAddr: '10.0.0.1',
    serverAddr: '10.0.0.2',
    serverPort: 80,
    observer: 'client',
    netns: 4026531840,
    cgroupId: 7,
    comm: 'curl',
    bytesClientToServer: 0,
    bytesServerToClient: 0,
    connectionsClosed: 0,
    connectionsFailed: 0,
    retransSegs: 0,
    ...over,
  };
}

/** A batch with its open sockets given as rows. */
type BatchOf = Partial<Omit<SocketBatch, 'sockets'>> & { sockets?: SocketSample[] };

/** Batch `i`. */
function batch(i: number, { sockets = [], ...over }: BatchOf = {}): SocketBatch {
  return {
    timeMs: T0 + i * 1000,
    startTimeMs: T0,
    sockets: socketColumns(sockets),
    gone: [],
    openSockets: 0,
    closed: [],
    ...over,
  };
}

/** Names the local end by comm, the remote by a table of addresses (default: the address). */
function tableResolve(table: Record<string, string> = {}, log: FlowEnds[] = []): Resolve {
  return (ends) => {
    log.push(ends);
    const local = ends.observer === 'client' ? ends.clientAddr : ends.serverAddr;
    const remote = ends.observer === 'client' ? ends.serverAddr : ends.clientAddr;
    const localId: Identity = { name: ends.comm || local, kind: 'process', namespace: '' };
    const remoteName = table[remote] ?? remote;
    const remoteId: Identity = { name: remoteName, kind: 'external', namespace: '' };
    return ends.observer === 'client'
      ? { client: localId, server: remoteId, provisional: false }
      : { client: remoteId, server: localId, provisional: false };
  };
}

function agg(options: Partial<{ linkIdleTimeoutMs: number; maxLinks: number }> = {}): Aggregator {
  return new Aggregator({ linkIdleTimeoutMs: 60_000, maxLinks: 100, ...options });
}

function only(links: readonly Link[]): Link {
  assert.equal(links.length, 1, `expected one link, got ${JSON.stringify(links.map((l) => l.id))}`);
  return links[0] as Link;
}

function counters(l: Link): Record<string, number> {
  return {
    c2s: l.bytesClientToServer,
    s2c: l.bytesServerToClient,
    opened: l.connectionsOpened,
    closed: l.connectionsClosed,
    failed: l.connectionsFailed,
    active: l.activeConnections,
    retrans: l.retransSegs,
  };
}

describe('Aggregator', () => {
  it('credits an open client socket with its deltas, both ways', () => {
    const a = agg();
    const r = tableResolve({ '10.0.0.2': 'web' });
    let out = a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 100, rxBytes: 1000 })] }), r);
    let l = only(out.batch.links);
    assert.deepEqual(counters(l), {
      c2s: 100,
      s2c: 1000,
      opened: 1,
      closed: 0,
      failed: 0,
      active: 1,
      retrans: 0,
    });
    assert.equal(l.client.name, 'curl');
    assert.equal(l.server.name, 'web');
    assert.equal(l.serverPort, 80);
    assert.equal(l.observer, 'client');
    assert.equal(l.networkType, 'ipv4');
    assert.equal(l.startTimeMs, T0);
    out = a.apply(
      batch(2, { sockets: [sample({ cookie: 1, txBytes: 150, rxBytes: 1000, retransSegs: 2 })] }),
      r,
    );
    l = only(out.batch.links);
    assert.deepEqual(counters(l), {
      c2s: 150,
      s2c: 1000,
      opened: 1,
      closed: 0,
      failed: 0,
      active: 1,
      retrans: 2,
    });
    assert.equal(l.lastActivityMs, T0 + 2000);
    out = a.apply(batch(3), r);
    assert.equal(
      only(out.batch.links).bytesClientToServer,
      150,
      'an unchanged socket keeps its link and counters',
    );
  });

  it('maps a server socket: received bytes are client to server', () => {
    const a = agg();
    const s = sample({
      cookie: 1,
      role: 'server',
      comm: 'nginx',
      localAddr: '10.0.0.2',
      localPort: 80,
      remoteAddr: '10.0.0.1',
      remotePort: 40001,
      txBytes: 5000,
      rxBytes: 70,
    });
    const l = only(a.apply(batch(1, { sockets: [s] }), tableResolve()).batch.links);
    assert.equal(l.observer, 'server');
    assert.equal(l.serverPort, 80);
    assert.equal(l.server.name, 'nginx');
    assert.equal(l.client.name, '10.0.0.1');
    assert.equal(l.bytesClientToServer, 70);
    assert.equal(l.bytesServerToClient, 5000);
  });

  it('counts a connection that opened and closed between two batches, resolved at batch time', () => {
    const a = agg();
    const seen: FlowEnds[] = [];
    const out = a.apply(
      batch(1, {
        closed: [
          totals({ bytesClientToServer: 10, bytesServerToClient: 20, connectionsClosed: 1, retransSegs: 1 }),
        ],
      }),
      tableResolve({}, seen),
    );
    assert.deepEqual(counters(only(out.batch.links)), {
      c2s: 10,
      s2c: 20,
      opened: 1,
      closed: 1,
      failed: 0,
      active: 0,
      retrans: 1,
    });
    assert.equal(seen[0]?.atMs, T0 + 1000);
    assert.equal(seen[0]?.clientPort, 0);
  });

  it('closed totals are cumulative: the same totals again add nothing', () => {
    const a = agg();
    const r = tableResolve();
    const t = totals({ bytesClientToServer: 10, bytesServerToClient: 20, connectionsClosed: 1 });
    a.apply(batch(1, { closed: [t] }), r);
    const l = only(a.apply(batch(2, { closed: [t] }), r).batch.links);
    assert.deepEqual(counters(l), {
      c2s: 10,
      s2c: 20,
      opened: 1,
      closed: 1,
      failed: 0,
      active: 0,
      retrans: 0,
    });
  });

  it('a socket seen open then closed: only its tail is added, never twice', () => {
    const a = agg();
    const r = tableResolve();
    a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 100, rxBytes: 10 })] }), r);
    const l = only(
      a.apply(
        batch(2, {
          gone: [1],
          closed: [totals({ bytesClientToServer: 150, bytesServerToClient: 12, connectionsClosed: 1 })],
        }),
        r,
      ).batch.links,
    );
    assert.deepEqual(counters(l), {
      c2s: 150,
      s2c: 12,
      opened: 1,
      closed: 1,
      failed: 0,
      active: 0,
      retrans: 0,
    });
  });

  it('a close racing the two reads under-counts for one batch only, and never goes down', () => {
    const a = agg();
    const r = tableResolve();
    a.apply(
      batch(1, { sockets: [sample({ cookie: 1, txBytes: 100 }), sample({ cookie: 2, txBytes: 40 })] }),
      r,
    );
    // Socket 1 closed after the closed read and before the open read: gone, but its totals are not in yet.
    // Meanwhile a short connection of the same key (7 bytes) did land.
    let l = only(
      a.apply(batch(2, { gone: [1], closed: [totals({ bytesClientToServer: 7, connectionsClosed: 1 })] }), r)
        .batch.links,
    );
    assert.equal(l.bytesClientToServer, 140, 'holds what was emitted; the 7 bytes wait');
    assert.equal(l.connectionsOpened, 2);
    assert.equal(l.connectionsClosed, 1);
    assert.equal(l.activeConnections, 1);
    // Next batch: socket 1's final 130 bytes arrive in the totals (7 + 130).
    l = only(
      a.apply(batch(3, { closed: [totals({ bytesClientToServer: 137, connectionsClosed: 2 })] }), r).batch
        .links,
    );
    assert.deepEqual(counters(l), {
      c2s: 177,
      s2c: 0,
      opened: 3,
      closed: 2,
      failed: 0,
      active: 1,
      retrans: 0,
    });
  });

  it('a cookie that comes back with a new incarnation is a new connection', () => {
    const a = agg();
    const r = tableResolve();
    a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 100 })] }), r);
    const out = a.apply(
      batch(2, {
        sockets: [sample({ cookie: 1, openedAtMs: T0 + 1500, txBytes: 30 })],
        closed: [totals({ bytesClientToServer: 100, connectionsClosed: 1 })],
      }),
      r,
    );
    const l = only(out.batch.links);
    assert.equal(out.stats.replacedIncarnations, 1);
    assert.deepEqual(counters(l), {
      c2s: 130,
      s2c: 0,
      opened: 2,
      closed: 1,
      failed: 0,
      active: 1,
      retrans: 0,
    });
  });

  it('a pre-existing socket is active but not counted opened, before or after it closes', () => {
    const a = agg();
    const r = tableResolve();
    let l = only(
      a.apply(
        batch(1, {
          sockets: [sample({ cookie: 1, preexisting: true, txBytes: 5, baselineTxBytes: 1_000_000 })],
        }),
        r,
      ).batch.links,
    );
    assert.deepEqual(counters(l), { c2s: 5, s2c: 0, opened: 0, closed: 0, failed: 0, active: 1, retrans: 0 });
    l = only(
      a.apply(batch(2, { gone: [1], closed: [totals({ bytesClientToServer: 9, connectionsClosed: 1 })] }), r)
        .batch.links,
    );
    assert.deepEqual(counters(l), { c2s: 9, s2c: 0, opened: 0, closed: 1, failed: 0, active: 0, retrans: 0 });
  });

  it('failed connects: seen in SYN_SENT or never seen, counted failed, not opened', () => {
    const a = agg();
    const r = tableResolve();
    let l = only(a.apply(batch(1, { sockets: [sample({ cookie: 1, state: 'SYN_SENT' })] }), r).batch.links);
    assert.deepEqual(counters(l), { c2s: 0, s2c: 0, opened: 0, closed: 0, failed: 0, active: 0, retrans: 0 });
    l = only(a.apply(batch(2, { gone: [1], closed: [totals({ connectionsFailed: 3 })] }), r).batch.links);
    assert.deepEqual(counters(l), { c2s: 0, s2c: 0, opened: 0, closed: 0, failed: 3, active: 0, retrans: 0 });
  });

  it('a socket seen connecting that established and closed between batches is counted opened once', () => {
    const a = agg();
    const r = tableResolve();
    a.apply(batch(1, { sockets: [sample({ cookie: 1, state: 'SYN_SENT' })] }), r);
    const l = only(
      a.apply(batch(2, { gone: [1], closed: [totals({ bytesClientToServer: 3, connectionsClosed: 1 })] }), r)
        .batch.links,
    );
    assert.deepEqual(counters(l), { c2s: 3, s2c: 0, opened: 1, closed: 1, failed: 0, active: 0, retrans: 0 });
  });

  it('a connection keeps the identity it had when it opened, even after the IP is reused', () => {
    const a = agg();
    const table: Record<string, string> = { '10.0.0.2': 'old-pod' };
    const r = tableResolve(table);
    a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 10 })] }), r);
    table['10.0.0.2'] = 'new-pod';
    let links = a.apply(
      batch(2, { sockets: [sample({ cookie: 1, txBytes: 20 }), sample({ cookie: 2, txBytes: 1 })] }),
      r,
    ).batch.links;
    const byServer = (ls: readonly Link[], name: string): Link => {
      const l = ls.find((x) => x.server.name === name);
      assert.ok(l, `no link to ${name}`);
      return l;
    };
    assert.equal(byServer(links, 'old-pod').bytesClientToServer, 20);
    assert.equal(byServer(links, 'new-pod').bytesClientToServer, 1);
    // The old connection closes: its tail goes to the old pod's link, not to whatever the IP means now.
    links = a.apply(
      batch(3, { gone: [1], closed: [totals({ bytesClientToServer: 25, connectionsClosed: 1 })] }),
      r,
    ).batch.links;
    assert.equal(byServer(links, 'old-pod').bytesClientToServer, 25);
    assert.equal(byServer(links, 'old-pod').connectionsClosed, 1);
    assert.equal(byServer(links, 'new-pod').bytesClientToServer, 1);
  });

  it('an old connection closing with new ones to its reused IP in one batch: counts exact, bytes split, total exact', () => {
    const a = agg();
    const table: Record<string, string> = { '10.0.0.2': 'old-pod' };
    const r = tableResolve(table);
    a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 10 })] }), r);
    table['10.0.0.2'] = 'new-pod';
    // The old socket closes (10 credited + 5 more) and three connections to the new pod open and close
    // between the two polls (100 bytes each): one kernel key, 315 bytes, 4 closes.
    const out = a.apply(
      batch(2, { gone: [1], closed: [totals({ bytesClientToServer: 315, connectionsClosed: 4 })] }),
      r,
    );
    const old = out.batch.links.find((l) => l.server.name === 'old-pod');
    const next = out.batch.links.find((l) => l.server.name === 'new-pod');
    assert.ok(old && next);
    assert.deepEqual([old.connectionsOpened, old.connectionsClosed], [1, 1]);
    assert.deepEqual([next.connectionsOpened, next.connectionsClosed], [3, 3]);
    assert.equal(old.bytesClientToServer + next.bytesClientToServer, 315);
    assert.equal(old.bytesClientToServer, 10 + Math.round(305 / 4));
    assert.equal(out.stats.splitPayments, 1);
  });

  it('same-host traffic seen by both sockets stays two links, one per observer', () => {
    const a = agg();
    const client = sample({
      cookie: 1,
      localAddr: '127.0.0.1',
      remoteAddr: '127.0.0.1',
      txBytes: 10,
      rxBytes: 20,
    });
    const server = sample({
      cookie: 2,
      role: 'server',
      comm: 'srv',
      localAddr: '127.0.0.1',
      localPort: 80,
      remoteAddr: '127.0.0.1',
      remotePort: 40001,
      txBytes: 20,
      rxBytes: 10,
    });
    const links = a.apply(batch(1, { sockets: [client, server] }), tableResolve()).batch.links;
    assert.equal(links.length, 2);
    for (const l of links) {
      assert.equal(l.bytesClientToServer, 10, l.observer);
      assert.equal(l.bytesServerToClient, 20, l.observer);
    }
    assert.deepEqual(links.map((l) => l.observer).sort(), ['client', 'server']);
  });

  it('expires idle links; a later reappearance starts fresh with a new start time', () => {
    const a = agg({ linkIdleTimeoutMs: 5000 });
    const r = tableResolve();
    a.apply(batch(1, { closed: [totals({ bytesClientToServer: 10, connectionsClosed: 1 })] }), r);
    let out = a.apply(batch(5, { closed: [totals({ bytesClientToServer: 10, connectionsClosed: 1 })] }), r);
    assert.equal(out.batch.links.length, 1, 'idle for 4 s of 5: kept');
    out = a.apply(batch(6, { closed: [totals({ bytesClientToServer: 10, connectionsClosed: 1 })] }), r);
    assert.equal(out.batch.links.length, 0);
    assert.equal(out.stats.linksExpired, 1);
    out = a.apply(batch(9, { closed: [totals({ bytesClientToServer: 14, connectionsClosed: 2 })] }), r);
    const l = only(out.batch.links);
    assert.deepEqual(counters(l), { c2s: 4, s2c: 0, opened: 1, closed: 1, failed: 0, active: 0, retrans: 0 });
    assert.equal(l.startTimeMs, T0 + 6000);
  });

  it('never expires a link with an open socket, however idle', () => {
    const a = agg({ linkIdleTimeoutMs: 5000 });
    const r = tableResolve();
    a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 1 })] }), r);
    const out = a.apply(batch(100), r);
    assert.equal(only(out.batch.links).activeConnections, 1);
  });

  it('max_links: one overflow link per observer and network type absorbs the rest, every assignment counted', () => {
    const a = agg({ maxLinks: 2 });
    const r = tableResolve();
    const sockets = [1, 2, 3, 4].map((i) => sample({ cookie: i, remoteAddr: `10.0.1.${i}`, txBytes: i }));
    const out = a.apply(
      batch(1, { sockets, closed: [totals({ serverAddr: '10.0.9.9', connectionsClosed: 1 })] }),
      r,
    );
    assert.equal(out.batch.links.length, 3);
    assert.equal(out.stats.overflowAssignments, 3);
    const overflow = out.batch.links.find((l) => l.client.kind === OVERFLOW_KIND);
    assert.ok(overflow);
    assert.equal(overflow.client.name, OVERFLOW_NAME);
    assert.equal(overflow.server.name, OVERFLOW_NAME);
    assert.equal(overflow.bytesClientToServer, 3 + 4);
    assert.equal(overflow.connectionsOpened, 3);
    assert.equal(overflow.connectionsClosed, 1);
    assert.equal(overflow.activeConnections, 2);
  });

  it('ignores counters that go backwards and counts them; emitted values never go down', () => {
    const a = agg();
    const r = tableResolve();
    a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 100 })] }), r);
    let out = a.apply(batch(2, { sockets: [sample({ cookie: 1, txBytes: 60 })] }), r);
    assert.equal(only(out.batch.links).bytesClientToServer, 100);
    assert.equal(out.stats.counterRegressions, 1);
    out = a.apply(batch(3, { sockets: [sample({ cookie: 1, txBytes: 120 })] }), r);
    assert.equal(only(out.batch.links).bytesClientToServer, 120);
  });

  it('counts gone cookies it never saw', () => {
    const out = agg().apply(batch(1, { gone: [42] }), tableResolve());
    assert.equal(out.stats.unknownGone, 1);
    assert.equal(out.batch.links.length, 0);
  });

  it('resolves a provisional identity again and moves the socket; the old link keeps what it had', () => {
    const a = agg();
    let name: string | undefined;
    const r: Resolve = (ends) => ({
      client: { name: ends.comm, kind: 'process', namespace: '' },
      server: { name: name ?? ends.serverAddr, kind: 'external', namespace: '' },
      provisional: name === undefined,
    });
    a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 10 })] }), r);
    name = 'db.example';
    let out = a.apply(batch(2, { sockets: [sample({ cookie: 1, txBytes: 25 })] }), r);
    assert.equal(out.stats.relinked, 1);
    const named = out.batch.links.find((l) => l.server.name === 'db.example');
    const byIp = out.batch.links.find((l) => l.server.name === '10.0.0.2');
    assert.equal(byIp?.bytesClientToServer, 10);
    assert.equal(byIp?.activeConnections, 0);
    assert.equal(named?.bytesClientToServer, 15);
    assert.equal(named?.activeConnections, 1);
    name = 'other.example';
    out = a.apply(batch(3, { sockets: [sample({ cookie: 1, txBytes: 30 })] }), r);
    assert.equal(out.stats.relinked, 0, 'a settled identity is kept for life');
  });

  it('a server socket whose comm appears after first sight closes under its final key, exactly', () => {
    const a = agg();
    const r = tableResolve();
    const srv = (over: Partial<SocketSample>): SocketSample =>
      sample({
        cookie: 1,
        role: 'server',
        localAddr: '10.0.0.2',
        localPort: 80,
        remoteAddr: '10.0.0.1',
        remotePort: 40001,
        ...over,
      });
    a.apply(batch(1, { sockets: [srv({ comm: '', cgroupId: 0, rxBytes: 0 })] }), r);
    a.apply(batch(2, { sockets: [srv({ comm: 'nginx', cgroupId: 9, rxBytes: 40 })] }), r);
    const closed = totals({
      observer: 'server',
      comm: 'nginx',
      cgroupId: 9,
      bytesClientToServer: 50,
      bytesServerToClient: 5,
      connectionsClosed: 1,
    });
    const links = a.apply(batch(3, { gone: [1], closed: [closed] }), r).batch.links;
    const total = links.reduce((n, l) => n + l.bytesClientToServer, 0);
    assert.equal(total, 50);
    assert.equal(
      links.reduce((n, l) => n + l.connectionsOpened, 0),
      1,
    );
  });

  it('identities with hostile strings never collide into one link', () => {
    const a = agg();
    const names = ['a","b', 'a', '"b', 'a\u0000b', 'ä'.repeat(300)];
    const r: Resolve = (ends) => ({
      client: { name: names[ends.clientPort % names.length] as string, kind: 'process', namespace: '' },
      server: { name: 'x', kind: 'external', namespace: '' },
      provisional: false,
    });
    const sockets = names.map((_, i) => sample({ cookie: i + 1, localPort: i, txBytes: 1 }));
    assert.equal(a.apply(batch(1, { sockets }), r).batch.links.length, names.length);
  });

  it('lets the caller learn from every new socket and changed key before anything is resolved', () => {
    const a = agg();
    const events: string[] = [];
    const r: Resolve = (ends) => {
      events.push(`resolve ${ends.observer}`);
      return tableResolve()(ends);
    };
    const learn = (ends: FlowEnds): void => {
      events.push(`learn ${ends.observer} ${ends.comm}`);
    };
    const client = sample({ cookie: 1, txBytes: 1 });
    const server = sample({ cookie: 2, role: 'server', comm: 'srv', localPort: 80, remotePort: 40001 });
    const t = totals({ observer: 'server', comm: 'srv', connectionsClosed: 1 });
    a.apply(batch(1, { sockets: [client, server], closed: [t] }), r, learn);
    assert.deepEqual(events, [
      'learn client curl',
      'learn server srv',
      'learn server srv',
      'resolve client',
      'resolve server',
      'resolve server',
    ]);
    events.length = 0;
    a.apply(batch(2, { sockets: [{ ...client, txBytes: 5 }], closed: [t] }), r, learn);
    assert.deepEqual(events, [], 'nothing new: nothing to learn or resolve');
    a.apply(batch(3, { sockets: [{ ...server, comm: 'srv2' }] }), r, learn);
    assert.deepEqual(events, ['learn server srv2'], 'a changed owner is learned again');
  });

  it('a cookie twice in one batch is counted by its latest counters', () => {
    const a = agg();
    const links = a.apply(
      batch(1, { sockets: [sample({ cookie: 1, txBytes: 5 }), sample({ cookie: 1, txBytes: 9 })] }),
      tableResolve(),
    ).batch.links;
    assert.deepEqual(counters(only(links)), {
      c2s: 9,
      s2c: 0,
      opened: 1,
      closed: 0,
      failed: 0,
      active: 1,
      retrans: 0,
    });
  });

  it('rejects invalid options with the value', () => {
    assert.throws(() => agg({ maxLinks: 0 }), /maxLinks must be an integer of at least 1, got 0/);
    assert.throws(() => agg({ linkIdleTimeoutMs: -1 }), /linkIdleTimeoutMs must be greater than 0, got -1/);
  });
});

describe('Aggregator with closed totals handed as the same objects at every batch', () => {
  it('counts as with new objects, across a key forgotten and seen again', () => {
    const reused = [totals({ serverPort: 80 }), totals({ serverPort: 443, comm: 'wget' })];
    const fresh = agg();
    const same = agg();
    const r = tableResolve();
    // Per batch: which of the two keys the kernel's table holds, and their closed connections.
    const plan: Array<Array<[number, number]>> = [
      [[0, 1]],
      [
        [0, 2],
        [1, 1],
      ],
      [[1, 3]],
      [[1, 3]],
      [[1, 4]],
      [[1, 4]],
      [
        [0, 5],
        [1, 4],
      ],
    ];
    for (const [i, entries] of plan.entries()) {
      const closed = entries.map(([which, n]) => {
        const t = reused[which]!;
        t.connectionsClosed = n;
        t.bytesClientToServer = 100 * n;
        t.bytesServerToClient = 7 * n;
        return t;
      });
      const a = fresh.apply(batch(i + 1, { closed: closed.map((t) => ({ ...t })) }), r).batch.links;
      const b = same.apply(batch(i + 1, { closed }), r).batch.links;
      assert.deepEqual(
        b.map((l) => [l.id, counters(l)]),
        a.map((l) => [l.id, counters(l)]),
        `batch ${i + 1}`,
      );
    }
    const byPort = new Map(same.apply(batch(9), r).batch.links.map((l) => [l.serverPort, counters(l)]));
    assert.deepEqual(
      [byPort.get(80)?.closed, byPort.get(80)?.c2s, byPort.get(443)?.closed, byPort.get(443)?.s2c],
      // Port 80: 2 closed, then absent long enough to be forgotten, then 5 more in a table counting from 0 again.
      [7, 700, 4, 28],
    );
  });
});

/**
 * A model kernel: sockets with growing counters that close at random, folded
 * per key into closed totals like the eBPF program does, read in the
 * receiver's order (closed totals first, then open sockets) with closes
 * landing between the two reads. Checks that at every batch the emitted bytes
 * never exceed the truth and never go down, and that once traffic stops they
 * equal it exactly.
 */
describe('Aggregator against a model kernel with racing closes', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: exact in the end, monotonic and never over the truth on the way`, () => {
      const rand = seededRandom(seed);
      interface ModelSocket {
        s: SocketSample;
        reported: boolean;
        established: boolean;
      }
      const open = new Map<number, ModelSocket>();
      const closed = new Map<string, ClosedLinkTotals>();
      const pendingGone: number[] = [];
      let nextCookie = 1;
      let truthC2S = 0;
      let truthS2C = 0;
      let truthOpened = 0;
      let truthFailed = 0;
      const servers = ['10.0.0.2', '10.0.0.3'];
      const comms = ['curl', 'wget'];

      const closeSocket = (m: ModelSocket): void => {
        open.delete(m.s.cookie);
        const s = m.s;
        const t: ClosedLinkTotals = totals({
          serverAddr: s.remoteAddr,
          comm: s.comm,
          cgroupId: s.cgroupId,
        });
        const id = JSON.stringify([t.serverAddr, t.comm]);
        const acc = closed.get(id) ?? t;
        closed.set(id, {
          ...acc,
          bytesClientToServer: acc.bytesClientToServer + s.txBytes,
          bytesServerToClient: acc.bytesServerToClient + s.rxBytes,
          connectionsClosed: acc.connectionsClosed + (m.established ? 1 : 0),
          connectionsFailed: acc.connectionsFailed + (m.established ? 0 : 1),
        });
        if (m.reported) pendingGone.push(s.cookie);
      };

      const step = (): void => {
        if (rand() < 0.5) {
          const cookie = nextCookie++;
          const established = rand() < 0.9;
          if (established) truthOpened++;
          else truthFailed++;
          open.set(cookie, {
            s: sample({
              cookie,
              openedAtMs: T0 + cookie,
              remoteAddr: servers[Math.floor(rand() * 2)] as string,
              comm: comms[Math.floor(rand() * 2)] as string,
              state: established ? 'ESTABLISHED' : 'SYN_SENT',
            }),
            reported: false,
            established,
          });
        }
        for (const m of open.values()) {
          if (!m.established) continue;
          if (rand() < 0.5) {
            const n = Math.floor(rand() * 1000);
            m.s = { ...m.s, txBytes: m.s.txBytes + n };
            truthC2S += n;
          }
          if (rand() < 0.3) {
            const n = Math.floor(rand() * 1000);
            m.s = { ...m.s, rxBytes: m.s.rxBytes + n };
            truthS2C += n;
          }
        }
        for (const m of [...open.values()]) if (rand() < 0.15) closeSocket(m);
      };

      const a = agg({ maxLinks: 100 });
      const r = tableResolve();
      let lastC2S = 0;
      let lastS2C = 0;
      let lastOpened = 0;
      let time = 1;
      const poll = (traffic: boolean): void => {
        if (traffic) for (let i = 0; i < 3; i++) step();
        const closedRead = [...closed.values()].map((t) => ({ ...t }));
        if (traffic) step();
        const sockets: SocketSample[] = [];
        for (const m of open.values()) {
          sockets.push(m.s);
          m.reported = true;
        }
        const gone = pendingGone.splice(0);
        const out = a.apply(batch(time++, { sockets, gone, closed: closedRead, openSockets: open.size }), r);
        const c2s = out.batch.links.reduce((n, l) => n + l.bytesClientToServer, 0);
        const s2c = out.batch.links.reduce((n, l) => n + l.bytesServerToClient, 0);
        const opened = out.batch.links.reduce((n, l) => n + l.connectionsOpened, 0);
        assert.ok(c2s >= lastC2S && s2c >= lastS2C && opened >= lastOpened, 'monotonic');
        assert.ok(c2s <= truthC2S && s2c <= truthS2C && opened <= truthOpened, 'never over the truth');
        lastC2S = c2s;
        lastS2C = s2c;
        lastOpened = opened;
      };
      for (let i = 0; i < 60; i++) poll(true);
      for (const m of [...open.values()]) closeSocket(m);
      poll(false);
      poll(false);
      const links = a.apply(batch(time++, { closed: [...closed.values()] }), r).batch.links;
      const sum = (f: (l: Link) => number): number => links.reduce((n, l) => n + f(l), 0);
      assert.equal(
        sum((l) => l.bytesClientToServer),
        truthC2S,
      );
      assert.equal(
        sum((l) => l.bytesServerToClient),
        truthS2C,
      );
      assert.equal(
        sum((l) => l.connectionsOpened),
        truthOpened,
      );
      assert.equal(
        sum((l) => l.connectionsClosed),
        truthOpened,
      );
      assert.equal(
        sum((l) => l.connectionsFailed),
        truthFailed,
      );
      assert.equal(
        sum((l) => l.activeConnections),
        0,
      );
      assert.ok(truthC2S > 10_000, 'the model generated traffic');
    });
  }
});

describe('host mode over the real resolver: connections between two network namespaces', () => {
  // A client process in one network namespace, a server process in another, the agent in neither.
  const A = 101;
  const B = 102;
  const CLIENT_ADDR = '10.77.0.1';
  const SERVER_ADDR = '10.77.0.2';
  const PORT = 8080;
  const clientKey = (c2s: number, s2c: number, n: number): ClosedLinkTotals =>
    totals({
      clientAddr: CLIENT_ADDR,
      serverAddr: SERVER_ADDR,
      serverPort: PORT,
      observer: 'client',
      netns: A,
      cgroupId: 11,
      comm: 'client',
      bytesClientToServer: c2s,
      bytesServerToClient: s2c,
      connectionsClosed: n,
    });
  const serverKey = (c2s: number, s2c: number, n: number): ClosedLinkTotals => ({
    ...clientKey(c2s, s2c, n),
    observer: 'server',
    netns: B,
    cgroupId: 12,
    comm: 'server',
  });
  /** Sockets to another port, open: they only make the server address known as local. */
  const held = sample({
    cookie: 1,
    netns: A,
    cgroupId: 11,
    comm: 'client',
    localAddr: CLIENT_ADDR,
    remoteAddr: SERVER_ADDR,
    remotePort: 9999,
    state: 'SYN_SENT',
  });
  const heldServer = sample({
    cookie: 2,
    netns: B,
    cgroupId: 12,
    comm: 'other',
    localAddr: SERVER_ADDR,
    localPort: 9999,
    remoteAddr: CLIENT_ADDR,
    remotePort: 40001,
    role: 'server',
    state: 'SYN_RECV',
  });

  /** The two sockets of one connection on PORT. */
  const cli = (over: Partial<SocketSample>): SocketSample =>
    sample({
      cookie: 10,
      netns: A,
      cgroupId: 11,
      comm: 'client',
      localAddr: CLIENT_ADDR,
      localPort: 40010,
      remoteAddr: SERVER_ADDR,
      remotePort: PORT,
      ...over,
    });
  const srv = (over: Partial<SocketSample>): SocketSample =>
    sample({
      cookie: 11,
      netns: B,
      cgroupId: 12,
      comm: 'server',
      role: 'server',
      localAddr: SERVER_ADDR,
      localPort: PORT,
      remoteAddr: CLIENT_ADDR,
      remotePort: 40010,
      ...over,
    });

  function hostMode(): {
    agg: Aggregator;
    resolve: Resolve;
    learn: (ends: FlowEnds) => void;
    version: (inputs?: number) => number;
  } {
    const peers = new LocalPeers();
    const ctx: ResolveContext = {
      mode: 'host',
      cluster: undefined,
      host: { cgroupPath: () => undefined, commOf: () => undefined, version: 0 },
      peers,
      cidr: new CidrTable({}),
      dns: undefined,
      hostName: 'vm',
      nowMs: T0,
      informerGraceMs: 30_000,
    };
    return {
      agg: new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 100 }),
      resolve: (ends) => resolveEnds(ends, ctx),
      learn: (ends) => peers.learn(ends),
      version: (inputs?: number) => inputsVersion(ctx, inputs),
    };
  }

  interface Case {
    name: string;
    /** Batches as the receiver shapes them; closed totals are cumulative. */
    batches: BatchOf[];
    /** Per batch: [observer, client name, server name, c2s, s2c, opened, closed] of every link on PORT. */
    want: Array<Array<[string, string, string, number, number, number, number]>>;
    deferred: number;
  }
  const cases: Case[] = [
    {
      name: 'the client key closes one batch before the server key (server socket never seen open)',
      batches: [
        { closed: [clientKey(100, 200, 1)] },
        { closed: [clientKey(100, 200, 1), serverKey(100, 200, 1)] },
      ],
      want: [
        [],
        [
          ['client', 'client', 'server', 100, 200, 1, 1],
          ['server', 'client', 'server', 100, 200, 1, 1],
        ],
      ],
      deferred: 1,
    },
    {
      name: 'the same, with the server address already known as local (was named vm)',
      batches: [
        { sockets: [held, heldServer] },
        { closed: [clientKey(100, 200, 1)] },
        { closed: [clientKey(100, 200, 1), serverKey(100, 200, 1)] },
      ],
      want: [
        [],
        [],
        [
          ['client', 'client', 'server', 100, 200, 1, 1],
          ['server', 'client', 'server', 100, 200, 1, 1],
        ],
      ],
      deferred: 1,
    },
    {
      name: 'the server key closes one batch before the client key (was named by the client address)',
      batches: [
        { closed: [serverKey(100, 200, 1)] },
        { closed: [serverKey(100, 200, 1), clientKey(100, 200, 1)] },
      ],
      want: [
        [],
        [
          ['client', 'client', 'server', 100, 200, 1, 1],
          ['server', 'client', 'server', 100, 200, 1, 1],
        ],
      ],
      deferred: 1,
    },
    {
      name: 'both keys in one batch: paid at once; later connections of known keys are never put off',
      batches: [
        { closed: [clientKey(100, 200, 1), serverKey(100, 200, 1)] },
        { closed: [clientKey(150, 260, 2), serverKey(100, 200, 1)] },
        { closed: [clientKey(150, 260, 2), serverKey(150, 260, 2)] },
      ],
      want: [
        [
          ['client', 'client', 'server', 100, 200, 1, 1],
          ['server', 'client', 'server', 100, 200, 1, 1],
        ],
        [
          ['client', 'client', 'server', 150, 260, 2, 2],
          ['server', 'client', 'server', 100, 200, 1, 1],
        ],
        [
          ['client', 'client', 'server', 150, 260, 2, 2],
          ['server', 'client', 'server', 150, 260, 2, 2],
        ],
      ],
      deferred: 0,
    },
    {
      name: 'a peer that never shows costs one batch, then the address names it',
      batches: [
        { closed: [clientKey(100, 200, 1)] },
        { closed: [clientKey(100, 200, 1)] },
        { closed: [clientKey(130, 210, 2)] },
      ],
      want: [
        [],
        [['client', 'client', SERVER_ADDR, 100, 200, 1, 1]],
        [['client', 'client', SERVER_ADDR, 130, 210, 2, 2]],
      ],
      deferred: 1,
    },
    {
      name: 'the server socket shows one batch after the client socket: the client socket waits for it',
      batches: [
        { sockets: [cli({ txBytes: 50 })] },
        { sockets: [cli({ txBytes: 80, rxBytes: 20 }), srv({ txBytes: 20, rxBytes: 80 })] },
        { sockets: [cli({ txBytes: 90, rxBytes: 20 })] },
      ],
      want: [
        [],
        [
          ['client', 'client', 'server', 80, 20, 1, 0],
          ['server', 'client', 'server', 80, 20, 1, 0],
        ],
        [
          ['client', 'client', 'server', 90, 20, 1, 0],
          ['server', 'client', 'server', 80, 20, 1, 0],
        ],
      ],
      deferred: 0,
    },
    {
      name: 'a held socket that closes before it is named is counted once, from the closed totals',
      batches: [
        { sockets: [cli({ txBytes: 50 })] },
        { gone: [10], closed: [clientKey(100, 30, 1)] },
        { closed: [clientKey(100, 30, 1), serverKey(100, 30, 1)] },
      ],
      want: [
        [],
        [],
        [
          ['client', 'client', 'server', 100, 30, 1, 1],
          ['server', 'client', 'server', 100, 30, 1, 1],
        ],
      ],
      deferred: 1,
    },
    {
      // The kernel gives an accepted socket the listener's cgroup; its comm and pid only once the
      // server process touches it, frozen when the socket is reported. Such a socket once replaced
      // the port's server process (then every end of the port was named after the host, vm).
      name: 'accepted sockets reported before the server touched them are named by the process serving the port',
      batches: [
        { sockets: [cli({ txBytes: 5 }), srv({ rxBytes: 5 })] },
        {
          sockets: [
            cli({ cookie: 20, localPort: 40020, txBytes: 7 }),
            srv({ cookie: 21, remotePort: 40020, comm: '', pid: 0, rxBytes: 7 }),
          ],
          closed: [clientKey(100, 200, 1), { ...serverKey(100, 200, 1), comm: '' }],
        },
      ],
      want: [
        [
          ['client', 'client', 'server', 5, 0, 1, 0],
          ['server', 'client', 'server', 5, 0, 1, 0],
        ],
        [
          ['client', 'client', 'server', 112, 200, 3, 1],
          ['server', 'client', 'server', 112, 200, 3, 1],
        ],
      ],
      deferred: 0,
    },
    {
      name: 'a held socket whose peer never shows is named by the address one batch later',
      batches: [{ sockets: [cli({ txBytes: 50 })] }, {}, { sockets: [cli({ txBytes: 70 })] }],
      want: [
        [],
        [['client', 'client', SERVER_ADDR, 50, 0, 1, 0]],
        [['client', 'client', SERVER_ADDR, 70, 0, 1, 0]],
      ],
      deferred: 0,
    },
  ];

  for (const c of cases) {
    for (const versioned of [false, true]) {
      it(`${c.name}${versioned ? ' (answers kept while the inputs version holds)' : ''}`, () => {
        const { agg, resolve, learn, version } = hostMode();
        let deferred = 0;
        c.batches.forEach((b, i) => {
          const { batch: out, stats } = agg.apply(
            batch(i + 1, b),
            resolve,
            learn,
            versioned ? version : undefined,
          );
          deferred += stats.deferredPayments;
          const got = out.links
            .filter((l) => l.serverPort === PORT)
            .map((l) => [
              l.observer,
              l.client.name,
              l.server.name,
              l.bytesClientToServer,
              l.bytesServerToClient,
              l.connectionsOpened,
              l.connectionsClosed,
            ])
            .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
          assert.deepEqual(got, c.want[i], `batch ${i + 1}`);
        });
        assert.equal(deferred, c.deferred);
      });
    }
  }
});

describe('gone before sockets', () => {
  it('a socket reconnected under the same cookie: the old incarnation goes, the new one is tracked', () => {
    const a = agg();
    const resolve = tableResolve();
    a.apply(batch(1, { sockets: [sample({ cookie: 5, txBytes: 100, rxBytes: 10 })] }), resolve);
    const { batch: out, stats } = a.apply(
      batch(2, {
        gone: [5],
        sockets: [sample({ cookie: 5, openedAtMs: T0 + 1500, txBytes: 30, rxBytes: 3 })],
        closed: [totals({ bytesClientToServer: 100, bytesServerToClient: 10, connectionsClosed: 1 })],
      }),
      resolve,
    );
    const link = out.links[0] as Link;
    assert.deepEqual(
      [link.bytesClientToServer, link.bytesServerToClient, link.connectionsOpened, link.connectionsClosed],
      [130, 13, 2, 1],
    );
    assert.equal(link.activeConnections, 1);
    assert.equal(a.socketCount, 1);
    assert.deepEqual([stats.replacedIncarnations, stats.unknownGone], [0, 0]);
    const next = a.apply(
      batch(3, {
        sockets: [sample({ cookie: 5, openedAtMs: T0 + 1500, txBytes: 50, rxBytes: 3 })],
        closed: [totals({ bytesClientToServer: 100, bytesServerToClient: 10, connectionsClosed: 1 })],
      }),
      resolve,
    );
    const later = next.batch.links[0] as Link;
    assert.deepEqual(
      [later.bytesClientToServer, later.connectionsOpened, later.activeConnections],
      [150, 2, 1],
    );
  });
});

describe('with an inputs version: provisional sockets and kernel keys resolve only when something moved', () => {
  const reads = { clientPort: false, pid: false, atMs: false };

  it('a provisional socket is not resolved again while the version holds, and is once it moves', () => {
    const a = agg();
    let v = 0;
    let calls = 0;
    let name: string | undefined;
    const r: Resolve = (ends) => {
      calls++;
      return {
        client: { name: ends.comm, kind: 'process', namespace: '' },
        server: { name: name ?? ends.serverAddr, kind: 'external', namespace: '' },
        provisional: name === undefined,
        reads,
      };
    };
    const version = (): number => v;
    a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 10 })] }), r, undefined, version);
    assert.equal(calls, 1);
    // What the fake would answer now differs, but nothing it reads moved (as its version says).
    name = 'db.example';
    let out = a.apply(batch(2, { sockets: [sample({ cookie: 1, txBytes: 20 })] }), r, undefined, version);
    assert.equal(calls, 1, 'not resolved again: nothing moved');
    assert.equal(out.stats.resolutions, 0);
    assert.equal(only(out.batch.links).bytesClientToServer, 20);
    v++;
    out = a.apply(batch(3, { sockets: [sample({ cookie: 1, txBytes: 30 })] }), r, undefined, version);
    assert.equal(calls, 2, 'resolved again once the version moved');
    assert.equal(out.stats.relinked, 1);
    assert.equal(out.batch.links.find((l) => l.server.name === '10.0.0.2')?.bytesClientToServer, 20);
    assert.equal(out.batch.links.find((l) => l.server.name === 'db.example')?.bytesClientToServer, 10);
    v++;
    name = 'other.example';
    out = a.apply(batch(4, { sockets: [sample({ cookie: 1, txBytes: 40 })] }), r, undefined, version);
    assert.equal(calls, 2, 'a settled answer is kept for life');
    assert.equal(out.stats.relinked, 0);
  });

  it('a provisional socket is not resolved again when only inputs it did not read moved', () => {
    const a = agg();
    let read = 0;
    let other = 0;
    let calls = 0;
    const r: Resolve = (ends) => {
      calls++;
      return { ...tableResolve()(ends), provisional: true, reads, inputs: 1 };
    };
    const version = (inputs = 3): number =>
      ((inputs & 1) !== 0 ? read : 0) + ((inputs & 2) !== 0 ? other : 0);
    a.apply(batch(1, { sockets: [sample({ cookie: 1, txBytes: 1 })] }), r, undefined, version);
    other++;
    a.apply(batch(2, { sockets: [sample({ cookie: 1, txBytes: 2 })] }), r, undefined, version);
    assert.equal(calls, 1, 'an input it did not read moved');
    read++;
    a.apply(batch(3, { sockets: [sample({ cookie: 1, txBytes: 3 })] }), r, undefined, version);
    assert.equal(calls, 2, 'an input it read moved');
  });

  it('a provisional answer is resolved again when the batch time reaches its recheck time, the version unmoved', () => {
    const a = agg();
    let calls = 0;
    const r: Resolve = (ends) => {
      calls++;
      const provisional = calls === 1;
      return {
        client: { name: ends.comm, kind: 'process', namespace: '' },
        server: { name: provisional ? ends.serverAddr : 'named', kind: 'external', namespace: '' },
        provisional,
        reads: { ...reads, atMs: true },
        ...(provisional ? { recheckAtMs: T0 + 2500 } : {}),
      };
    };
    const version = (): number => 0;
    for (const [i, want] of [
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
    ] as const) {
      const out = a.apply(batch(i, { sockets: [sample({ cookie: 1, txBytes: i })] }), r, undefined, version);
      assert.equal(calls, want, `batch ${i} at +${i * 1000} ms`);
      if (i === 3) assert.equal(out.stats.relinked, 1);
    }
  });

  it('the sockets of one kernel key share a resolution, unless it read what differs between them', () => {
    const a = agg();
    const log: FlowEnds[] = [];
    const table = tableResolve({}, log);
    let readsClientPort = false;
    const r: Resolve = (ends) => ({ ...table(ends), reads: { ...reads, clientPort: readsClientPort } });
    let v = 0;
    const version = (): number => v;
    const clients = [1, 2, 3].map((cookie) => sample({ cookie }));
    let out = a.apply(batch(1, { sockets: clients }), r, undefined, version);
    assert.equal(log.length, 1, 'three sockets of one key, one resolution');
    assert.equal(only(out.batch.links).activeConnections, 3);
    out = a.apply(batch(2, { sockets: [sample({ cookie: 4 })] }), r, undefined, version);
    assert.equal(log.length, 1, 'a new socket of the key, the version unmoved: the same answer');
    v++;
    out = a.apply(batch(3, { sockets: [sample({ cookie: 5 })] }), r, undefined, version);
    assert.equal(log.length, 2, 'the version moved: resolved');
    readsClientPort = true;
    v++;
    out = a.apply(batch(4, { sockets: [6, 7].map((cookie) => sample({ cookie })) }), r, undefined, version);
    assert.equal(log.length, 4, 'an answer that read the client port is not shared between ports');
    out = a.apply(batch(5, { sockets: [sample({ cookie: 8, localPort: 40007 })] }), r, undefined, version);
    assert.equal(log.length, 4, 'but is with an equal port');
    assert.equal(out.stats.resolutions, 0);
  });

  it('Kubernetes mode: one key, one version, two open times on either side of an IP changing owner: two names', () => {
    // The server address belonged to pod "old" until T0 - 45 min, to pod "new" since; the store does
    // not change in between (one version), but what the address meant depends on when each socket opened.
    const reusedAtMs = T0 - 2_700_000;
    const owner = (name: string): IpOwner => ({
      kind: 'pod',
      pod: {
        uid: name,
        name,
        namespace: 'shop',
        nodeName: 'n1',
        hostNetwork: false,
        ips: ['10.0.0.2'],
        workload: { kind: 'Deployment', name, namespace: 'shop' },
      },
    });
    const cluster: ClusterMetadata = {
      lookupIp: (ip, timeMs) => (ip !== '10.0.0.2' ? undefined : owner(timeMs < reusedAtMs ? 'old' : 'new')),
      podByUid: () => undefined,
      synced: () => true,
      version: 0,
      watchStates: () => [],
      start: async () => undefined,
      stop: async () => undefined,
    };
    const peers = new LocalPeers();
    const ctx: ResolveContext = {
      mode: 'kubernetes',
      cluster,
      host: { cgroupPath: () => undefined, commOf: () => undefined, version: 0 },
      peers,
      cidr: new CidrTable({}),
      dns: undefined,
      hostName: 'n1',
      nowMs: T0,
      informerGraceMs: 30_000,
    };
    const a = agg();
    const out = a.apply(
      batch(1, {
        sockets: [
          sample({ cookie: 1, openedAtMs: T0 - 3_600_000, txBytes: 1 }),
          sample({ cookie: 2, openedAtMs: T0 - 1_800_000, txBytes: 2 }),
          sample({ cookie: 3, openedAtMs: T0 - 1_800_000, txBytes: 4 }),
        ],
      }),
      (ends) => resolveEnds(ends, ctx),
      (ends) => peers.learn(ends),
      (inputs) => inputsVersion(ctx, inputs),
    );
    const bytes = Object.fromEntries(out.batch.links.map((l) => [l.server.name, l.bytesClientToServer]));
    assert.deepEqual(bytes, { old: 1, new: 6 });
    assert.equal(out.stats.resolutions, 2, 'the two sockets opened at one time share an answer');
  });
});
