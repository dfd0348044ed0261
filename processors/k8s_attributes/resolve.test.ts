import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FlowEnds } from './aggregate.ts';
import { CidrTable } from './cidr.ts';
import type { ClusterMetadata, IpOwner, PodRecord, ServiceRecord } from './metadata.ts';
import type { DnsAnswer, DnsLookup, HostLookup, ResolveContext } from './resolve.ts';
import {
  INPUT,
  LocalPeers,
  containerFromCgroup,
  inputKinds,
  inputsVersion,
  podUidFromCgroup,
  resolveEnds,
} from './resolve.ts';

const T = 1_700_000_000_000;

/** A table-backed cluster (the edge fake; the real store is tested against the API emulator). */
class TableCluster implements ClusterMetadata {
  readonly ips: Array<{ ip: string; owner: IpOwner; fromMs: number; untilMs: number }> = [];
  readonly pods = new Map<string, PodRecord>();
  isSynced = true;
  version = 0;
  readonly asked: string[] = [];

  addPod(pod: PodRecord, fromMs = 0, untilMs = Infinity): void {
    this.pods.set(pod.uid, pod);
    if (!pod.hostNetwork)
      for (const ip of pod.ips) this.ips.push({ ip, owner: { kind: 'pod', pod }, fromMs, untilMs });
  }
  lookupIp(ip: string, timeMs: number): IpOwner | undefined {
    this.asked.push(ip);
    return this.ips.find((e) => e.ip === ip && e.fromMs <= timeMs && timeMs < e.untilMs)?.owner;
  }
  podByUid(uid: string): PodRecord | undefined {
    return this.pods.get(uid);
  }
  synced(): boolean {
    return this.isSynced;
  }
  watchStates() {
    return [];
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

function pod(name: string, ip: string, workload: string, over: Partial<PodRecord> = {}): PodRecord {
  return {
    uid: `00000000-0000-4000-8000-${name
      .padStart(12, '0')
      .slice(-12)
      .replace(/[^0-9a-f]/g, 'a')}`,
    name,
    namespace: 'shop',
    nodeName: 'node-1',
    hostNetwork: false,
    ips: [ip],
    workload: { kind: 'Deployment', name: workload, namespace: 'shop' },
    ...over,
  };
}

class TableHost implements HostLookup {
  readonly version = 0;
  readonly paths: Record<number, string>;
  readonly comms: Record<number, string>;
  constructor(paths: Record<number, string> = {}, comms: Record<number, string> = {}) {
    this.paths = paths;
    this.comms = comms;
  }
  cgroupPath(id: number): string | undefined {
    return this.paths[id];
  }
  commOf(pid: number): string | undefined {
    return this.comms[pid];
  }
}

function ends(over: Partial<FlowEnds>): FlowEnds {
  return {
    family: 4,
    clientAddr: '10.0.0.5',
    clientPort: 40000,
    serverAddr: '10.0.0.9',
    serverPort: 8080,
    observer: 'client',
    netns: 1,
    cgroupId: 0,
    pid: 0,
    comm: '',
    atMs: T,
    ...over,
  };
}

function dnsTable(names: Record<string, string>, pending: string[] = []): DnsLookup {
  return { lookup: (ip): DnsAnswer => ({ name: names[ip], pending: pending.includes(ip) }), version: 0 };
}

function ctx(over: Partial<ResolveContext>): ResolveContext {
  return {
    mode: 'kubernetes',
    cluster: undefined,
    host: new TableHost(),
    peers: new LocalPeers(),
    cidr: new CidrTable({}),
    dns: undefined,
    hostName: 'node-1',
    nowMs: T + 3_600_000,
    informerGraceMs: 30_000,
    ...over,
  };
}

describe('cgroup paths', () => {
  const uid = '1b2c3d4e-0000-4000-8000-00000000000a';
  const podCases: Array<[string, string | undefined]> = [
    [
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_4000_8000_00000000000a.slice/cri-containerd-0123456789ab.scope',
      uid,
    ],
    [`/kubepods/besteffort/pod${uid}/0123456789abcdef`, uid],
    [`/kubepods.slice/kubepods-pod${uid.toUpperCase().replaceAll('-', '_')}.slice`, uid],
    ['/system.slice/docker-0123.scope', undefined],
    ['/user.slice/pod-not-a-uid', undefined],
    [`/kubepods/pod${uid}0`, undefined],
  ];
  for (const [path, expected] of podCases) {
    it(`pod UID of ${path.slice(0, 70)}`, () => assert.equal(podUidFromCgroup(path), expected));
  }
  const id = '3f2a9c1b0d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8';
  const containerCases: Array<[string, string | undefined]> = [
    [`/system.slice/docker-${id}.scope`, '3f2a9c1b0d4e'],
    [`/docker/${id}`, '3f2a9c1b0d4e'],
    [`/machine.slice/libpod-${id}.scope/container`, '3f2a9c1b0d4e'],
    [`/kubepods.slice/kubepods-besteffort.slice/x.slice/cri-containerd-${id}.scope`, '3f2a9c1b0d4e'],
    [`/kubepods.slice/crio-${id}.scope`, '3f2a9c1b0d4e'],
    ['/machine.slice/systemd-nspawn@build\\x2dbox.service', 'build-box'],
    ['/machine.slice/machine-web1.scope', 'web1'],
    ['/lxc.payload.mybox/init.scope', 'mybox'],
    ['/lxc/old-box', 'old-box'],
    ['/user.slice/user-1000.slice/session-3.scope', undefined],
    ['/system.slice/nginx.service', undefined],
    ['/', undefined],
    ['/system.slice/docker-xyz.scope', undefined],
  ];
  for (const [path, expected] of containerCases) {
    it(`container of ${path.slice(0, 70)}`, () => assert.equal(containerFromCgroup(path), expected));
  }
});

describe('resolveEnds in Kubernetes mode', () => {
  const cluster = new TableCluster();
  const checkout = pod('checkout-7d9f-abcde', '10.0.0.5', 'checkout');
  const catalogOld = pod('catalog-old', '10.0.0.9', 'catalog-v1');
  const catalogNew = pod('catalog-new', '10.0.0.9', 'catalog-v2');
  cluster.addPod(checkout);
  cluster.addPod(catalogOld, 0, T + 1000);
  cluster.addPod(catalogNew, T + 1000);
  const agent = pod('agent-xyz', '192.168.0.1', 'loggerhead', {
    hostNetwork: true,
    uid: '1b2c3d4e-0000-4000-8000-00000000000a',
    workload: { kind: 'DaemonSet', name: 'loggerhead', namespace: 'monitoring' },
  });
  cluster.addPod(agent);
  const service: ServiceRecord = {
    name: 'catalog',
    namespace: 'shop',
    clusterIPs: ['10.96.0.20', 'fd00:96::20'],
    backing: { kind: 'Deployment', name: 'catalog-v2', namespace: 'shop' },
  };
  for (const ip of service.clusterIPs) {
    cluster.ips.push({ ip, owner: { kind: 'service', service }, fromMs: 0, untilMs: Infinity });
  }
  cluster.ips.push({
    ip: '192.168.0.1',
    owner: { kind: 'node', node: { name: 'node-1', addresses: ['192.168.0.1'] } },
    fromMs: 0,
    untilMs: Infinity,
  });
  const host = new TableHost({
    42: '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_4000_8000_00000000000a.slice/cri-containerd-0123456789ab.scope',
    43: '/system.slice/kubelet.service',
  });
  const c = ctx({
    cluster,
    host,
    cidr: new CidrTable({ '203.0.113.0/24': 'partner-api' }),
    dns: dnsTable({ '198.51.100.7': 'db.example.com' }, ['198.51.100.8']),
  });

  it('pod -> pod: both workloads', () => {
    const r = resolveEnds(ends({}), c);
    assert.deepEqual(r.client, { name: 'checkout', kind: 'Deployment', namespace: 'shop' });
    assert.deepEqual(r.server, { name: 'catalog-v1', kind: 'Deployment', namespace: 'shop' });
    assert.equal(r.provisional, false);
  });

  it('a reused pod IP names the pod that owned it when the connection opened', () => {
    assert.equal(resolveEnds(ends({ atMs: T + 999 }), c).server.name, 'catalog-v1');
    assert.equal(resolveEnds(ends({ atMs: T + 1000 }), c).server.name, 'catalog-v2');
  });

  it('the server side of the same connection names the same ends', () => {
    const r = resolveEnds(ends({ observer: 'server' }), c);
    assert.equal(r.client.name, 'checkout');
    assert.equal(r.server.name, 'catalog-v1');
  });

  it('a Service ClusterIP names the Service and its backing workload (v4 and v6)', () => {
    for (const ip of ['10.96.0.20', 'fd00:96::20', 'FD00:96:0::20']) {
      const r = resolveEnds(ends({ serverAddr: ip, family: ip.includes(':') ? 6 : 4 }), c);
      assert.deepEqual(r.server, {
        name: 'catalog',
        kind: 'Service',
        namespace: 'shop',
        backing: { name: 'catalog-v2', kind: 'Deployment', namespace: 'shop' },
      });
    }
  });

  it('a Service without a backing workload yet is provisional while the cluster may still learn it', () => {
    const lone: ServiceRecord = { name: 'lone', namespace: 'shop', clusterIPs: ['10.96.0.30'] };
    cluster.ips.push({
      ip: '10.96.0.30',
      owner: { kind: 'service', service: lone },
      fromMs: 0,
      untilMs: Infinity,
    });
    assert.equal(
      resolveEnds(ends({ serverAddr: '10.96.0.30' }), { ...c, nowMs: T + 1000 }).provisional,
      true,
    );
    assert.equal(resolveEnds(ends({ serverAddr: '10.96.0.30' }), c).provisional, false);
    assert.equal(
      resolveEnds(ends({ serverAddr: '10.96.0.20' }), { ...c, nowMs: T + 1000 }).provisional,
      false,
    );
  });

  it('a v4-mapped address resolves like its IPv4 form', () => {
    assert.equal(resolveEnds(ends({ serverAddr: '::ffff:10.0.0.9' }), c).server.name, 'catalog-v1');
  });

  it('a node IP names the node', () => {
    assert.deepEqual(resolveEnds(ends({ serverAddr: '192.168.0.1' }), c).server, {
      name: 'node-1',
      kind: 'Node',
      namespace: '',
    });
  });

  it('a hostNetwork pod local socket is named by its cgroup, not by the node IP', () => {
    const r = resolveEnds(ends({ clientAddr: '192.168.0.1', cgroupId: 42 }), c);
    assert.deepEqual(r.client, { name: 'loggerhead', kind: 'DaemonSet', namespace: 'monitoring' });
  });

  it('a host process on the node is the Node', () => {
    const r = resolveEnds(ends({ clientAddr: '192.168.0.1', cgroupId: 43, comm: 'kubelet' }), c);
    assert.deepEqual(r.client, { name: 'node-1', kind: 'Node', namespace: '' });
  });

  it('a connection to a node IP served by a hostNetwork pod of this node names the pod', () => {
    const peers = new LocalPeers();
    peers.learnAddress(1, '192.168.0.1');
    peers.learnServer(1, 9100, { cgroupId: 42, pid: 7, comm: 'agent' });
    const r = resolveEnds(ends({ serverAddr: '192.168.0.1', serverPort: 9100 }), { ...c, peers });
    assert.equal(r.server.name, 'loggerhead');
    assert.equal(r.server.kind, 'DaemonSet');
  });

  it('loopback inside a pod stays the pod', () => {
    const r = resolveEnds(ends({ clientAddr: '127.0.0.1', serverAddr: '127.0.0.1', cgroupId: 42 }), c);
    assert.equal(r.client.name, 'loggerhead');
    assert.equal(r.server.name, 'loggerhead');
  });

  it('externals: CIDR table, then DNS, then the IP; a pending DNS answer is provisional', () => {
    assert.deepEqual(resolveEnds(ends({ serverAddr: '203.0.113.9' }), c).server, {
      name: 'partner-api',
      kind: 'external',
      namespace: '',
    });
    assert.equal(resolveEnds(ends({ serverAddr: '198.51.100.7' }), c).server.name, 'db.example.com');
    const pending = resolveEnds(ends({ serverAddr: '198.51.100.8' }), c);
    assert.equal(pending.server.name, '198.51.100.8');
    assert.equal(pending.provisional, true);
    const none = resolveEnds(ends({ serverAddr: '198.51.100.9' }), c);
    assert.equal(none.server.name, '198.51.100.9');
    assert.equal(none.provisional, false);
  });

  it('a young connection to an address the cluster does not know yet is provisional', () => {
    const young = { ...c, nowMs: T + 10_000 };
    assert.equal(resolveEnds(ends({ serverAddr: '10.0.0.77' }), young).provisional, true);
    assert.equal(resolveEnds(ends({ serverAddr: '10.0.0.77', atMs: T - 30_000 }), young).provisional, false);
    assert.equal(resolveEnds(ends({}), young).provisional, false, 'known names are final at once');
  });

  it('before the cluster is synced, unknown ends are provisional', () => {
    cluster.isSynced = false;
    try {
      assert.equal(resolveEnds(ends({ serverAddr: '10.0.0.77' }), c).provisional, true);
      assert.equal(
        resolveEnds(ends({ clientAddr: '10.0.0.78', serverAddr: '10.0.0.9' }), c).provisional,
        true,
      );
      assert.equal(resolveEnds(ends({}), c).provisional, false);
    } finally {
      cluster.isSynced = true;
    }
  });

  it('hostile addresses neither crash nor reach the cluster or DNS', () => {
    const asked = cluster.asked.length;
    let dnsAsked = 0;
    const guarded = {
      ...c,
      dns: {
        lookup: (ip: string) => {
          dnsAsked++;
          return { name: `x.${ip}`, pending: false };
        },
        version: 0,
      },
    };
    for (const addr of ['', 'not-an-ip', 'a'.repeat(5000), '10.0.0.9\u0000', '10.0.0.9 ', '../../etc']) {
      const r = resolveEnds(ends({ serverAddr: addr }), guarded);
      assert.equal(r.server.kind, 'external');
      assert.ok(r.server.name.length <= 253);
      assert.notEqual(r.server.name, 'catalog-v1');
    }
    assert.equal(cluster.asked.length, asked + 6, 'only the valid client address was looked up');
    assert.equal(dnsAsked, 0);
    const zoned = resolveEnds(ends({ serverAddr: 'fe80::1%eth0', family: 6 }), guarded);
    assert.equal(zoned.server.name, 'x.fe80::1');
  });
});

describe('resolveEnds in host mode', () => {
  const dockerId = '3f2a9c1b0d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8';
  const host = new TableHost(
    { 5: `/system.slice/docker-${dockerId}.scope`, 6: '/user.slice/user-1000.slice/session-2.scope' },
    { 321: 'psql' },
  );
  const base = (): ResolveContext =>
    ctx({ mode: 'host', host, hostName: 'laptop', dns: dnsTable({ '93.184.215.14': 'example.org' }) });

  it('names the local end by process, the remote by DNS', () => {
    const r = resolveEnds(
      ends({ cgroupId: 6, comm: 'curl', serverAddr: '93.184.215.14', serverPort: 443 }),
      base(),
    );
    assert.deepEqual(r.client, { name: 'curl', kind: 'process', namespace: '' });
    assert.deepEqual(r.server, { name: 'example.org', kind: 'external', namespace: '' });
  });

  it('names a containerised local end by its container', () => {
    const r = resolveEnds(ends({ cgroupId: 5, comm: 'nginx', observer: 'server' }), base());
    assert.deepEqual(r.server, { name: '3f2a9c1b0d4e', kind: 'container', namespace: '' });
  });

  it('falls back to /proc for the comm of a pid, else the host (provisional)', () => {
    assert.equal(resolveEnds(ends({ pid: 321 }), base()).client.name, 'psql');
    const unknown = resolveEnds(ends({}), base());
    assert.deepEqual(unknown.client, { name: 'laptop', kind: 'host', namespace: '' });
    assert.equal(unknown.provisional, true);
  });

  it('names loopback peers by the process that owns the other socket', () => {
    const c = base();
    c.peers.learnServer(9, 5432, { cgroupId: 6, pid: 10, comm: 'postgres' });
    c.peers.learnClient(9, 41000, '127.0.0.1', '127.0.0.1', 5432, { cgroupId: 6, pid: 11, comm: 'psql' });
    const loop = { netns: 9, clientAddr: '127.0.0.1', serverAddr: '127.0.0.1', serverPort: 5432 };
    const fromClient = resolveEnds(ends({ ...loop, comm: 'psql', clientPort: 41000 }), c);
    assert.deepEqual([fromClient.client.name, fromClient.server.name], ['psql', 'postgres']);
    const fromServer = resolveEnds(
      ends({ ...loop, observer: 'server', comm: 'postgres', clientPort: 41000 }),
      c,
    );
    assert.deepEqual([fromServer.client.name, fromServer.server.name], ['psql', 'postgres']);
    // Closed totals have no client port: the flow (addresses + server port) names the client.
    const closedKey = resolveEnds(ends({ ...loop, observer: 'server', comm: 'postgres', clientPort: 0 }), c);
    assert.equal(closedKey.client.name, 'psql');
    // The same port in another network namespace is someone else.
    const elsewhere = resolveEnds(ends({ ...loop, netns: 10, comm: 'psql' }), c);
    assert.deepEqual(elsewhere.server, { name: 'laptop', kind: 'host', namespace: '' });
    assert.equal(elsewhere.provisional, true);
  });

  it('names a peer in another local network namespace through the address it owns', () => {
    const c = base();
    c.peers.learnAddress(20, '10.202.0.2');
    c.peers.learnServer(20, 8080, { cgroupId: 0, pid: 0, comm: 'api' });
    const r = resolveEnds(
      ends({ netns: 21, comm: 'worker', serverAddr: '10.202.0.2', clientAddr: '10.202.0.1' }),
      c,
    );
    assert.deepEqual([r.client.name, r.server.name, r.server.kind], ['worker', 'api', 'process']);
  });

  it('an accepted socket with only the listener cgroup is named by the process serving its port', () => {
    const c = base();
    const accepted = ends({
      netns: 20,
      observer: 'server',
      clientAddr: '93.184.215.14',
      serverAddr: '10.202.0.2',
      cgroupId: 6,
      comm: '',
    });
    // Nothing known yet: the host, waiting for a socket of the port to show the process.
    const before = resolveEnds(accepted, c);
    assert.deepEqual(before.server, { name: 'laptop', kind: 'host', namespace: '' });
    assert.deepEqual([before.provisional, before.awaitingPeer], [true, true]);
    c.peers.learnServer(20, 8080, { cgroupId: 6, pid: 10, comm: 'api' });
    // Such a socket never replaces the process it was learned from...
    c.peers.learnServer(20, 8080, { cgroupId: 6, pid: 0, comm: '' });
    const after = resolveEnds(accepted, c);
    assert.deepEqual(after.server, { name: 'api', kind: 'process', namespace: '' });
    assert.deepEqual([after.provisional, after.awaitingPeer], [false, false]);
    // ...and a process of another cgroup on the same port does not name it.
    assert.equal(resolveEnds({ ...accepted, cgroupId: 5 }, c).server.kind, 'container');
    assert.equal(resolveEnds({ ...accepted, cgroupId: 77 }, c).server.name, 'laptop');
  });

  it('LocalPeers is bounded and ignores sockets with no owner information', () => {
    const peers = new LocalPeers(3);
    for (let p = 1; p <= 10; p++) peers.learnServer(1, p, { cgroupId: 0, pid: 0, comm: `s${p}` });
    peers.learnServer(1, 99, { cgroupId: 0, pid: 0, comm: '' });
    assert.equal(peers.server(1, 1), undefined);
    assert.equal(peers.server(1, 10)?.comm, 's10');
    assert.equal(peers.server(1, 99), undefined);
    assert.equal(peers.size, 3);
  });

  it('LocalPeers versions what it learned: a new or different process moves it, the same one again does not', () => {
    const peers = new LocalPeers();
    const nginx = (pid: number) => ({ cgroupId: 9, pid, comm: 'nginx' });
    let v = peers.version;
    peers.learnServer(4026531840, 80, nginx(10));
    assert.ok(peers.version > v, 'a new server');
    v = peers.version;
    peers.learnServer(4026531840, 80, nginx(11));
    assert.equal(peers.version, v, 'another worker of the same server names its sockets the same');
    assert.equal(peers.server(4026531840, 80)?.pid, 10);
    peers.learnServer(4026531840, 80, { cgroupId: 9, pid: 12, comm: 'envoy' });
    assert.ok(peers.version > v, 'another process on the port');
    v = peers.version;
    peers.learnServer(4026531840, 80, { cgroupId: 9, pid: 0, comm: '' });
    assert.equal(peers.version, v, 'an accepted socket with the listener cgroup only replaces nothing');
    peers.learnAddress(7, '10.0.0.1');
    peers.learnAddress(7, '10.0.0.1');
    assert.equal(peers.version, v + 1, 'an address learned once');
    // Without a comm the pid is what names the process: a different pid is a change.
    peers.learnClient(7, 40000, '10.0.0.1', '10.0.0.2', 80, { cgroupId: 0, pid: 5, comm: '' });
    v = peers.version;
    peers.learnClient(7, 40000, '10.0.0.1', '10.0.0.2', 80, { cgroupId: 0, pid: 6, comm: '' });
    assert.ok(peers.version > v);
    assert.equal(peers.client(7, 40000, '10.0.0.1', '10.0.0.2', 80)?.pid, 6);
  });

  it('an unnamed server socket over loopback depends on its own entries only, not on every port learned', () => {
    const peers = new LocalPeers();
    const host = ctx({ mode: 'host', peers });
    const adopted = ends({
      observer: 'server',
      clientAddr: '127.0.0.1',
      clientPort: 40000,
      serverAddr: '127.0.0.1',
      serverPort: 8080,
      netns: 7,
    });
    const first = resolveEnds(adopted, host);
    assert.equal(first.provisional, true);
    assert.equal(inputKinds(first.inputs as number), 0, 'no kind read as a whole');
    const version = (): number => inputsVersion(host, first.inputs);
    let v = version();
    const proc = (comm: string) => ({ cgroupId: 0, pid: 0, comm });
    for (let port = 1; port < 2000; port++) {
      if (port === 8080) continue;
      peers.learnServer(7, port, proc(`s${port}`));
      peers.learnClient(7, 30000 + port, '127.0.0.1', '127.0.0.1', 9000, proc('c'));
      peers.learnServer(8, 8080, proc('other-namespace'));
    }
    peers.learnClient(8, 40000, '127.0.0.1', '127.0.0.1', 8080, proc('other-namespace'));
    // Buckets are shared by hash: among 6000 entries, a few may fall in the same bucket as ours.
    const unrelated = version() - v;
    assert.ok(unrelated <= 4, `${unrelated} unrelated entries moved the answer's version`);
    v = version();
    peers.learnServer(7, 8080, proc('nginx'));
    assert.ok(version() > v, 'its server port learned');
    const named = resolveEnds(adopted, host);
    assert.equal(named.server.name, 'nginx');
    v = inputsVersion(host, named.inputs);
    peers.learnClient(7, 40000, '127.0.0.1', '127.0.0.1', 8080, proc('curl'));
    assert.ok(inputsVersion(host, named.inputs) > v, 'its client port learned');
    assert.equal(resolveEnds(adopted, host).client.name, 'curl');
    // Closed totals have no client port: their client is found by flow.
    const closed = resolveEnds({ ...adopted, clientPort: 0, serverPort: 9090 }, host);
    v = inputsVersion(host, closed.inputs);
    peers.learnClient(7, 41000, '127.0.0.1', '127.0.0.1', 9090, proc('wget'));
    assert.ok(inputsVersion(host, closed.inputs) > v, 'its flow learned');
    assert.equal(resolveEnds({ ...adopted, clientPort: 0, serverPort: 9090 }, host).client.name, 'wget');
  });

  it('reads back every entry bucket and kind an answer can hold, the last buckets included', () => {
    const peers = new LocalPeers();
    const host = ctx({ mode: 'host', peers });
    for (let port = 1; port <= 40_000; port++) {
      peers.learnServer(7, port, { cgroupId: 0, pid: 0, comm: `s${port % 3}` });
      peers.learnClient(7, port, '127.0.0.1', '127.0.0.1', port % 7, { cgroupId: 0, pid: 0, comm: 'c' });
    }
    const kinds =
      INPUT.localAddresses |
      INPUT.localServers |
      INPUT.localClients |
      INPUT.cgroups |
      INPUT.cluster |
      INPUT.dns;
    const kindsVersion = peers.addressesVersion + peers.serversVersion + peers.clientsVersion;
    for (const [a, b, c] of [
      [32_766, 0, 16_383],
      [0, 32_766, 32_766],
      [12_345, 4097, 32_766],
    ] as const) {
      const inputs = kinds + 64 * (a + 1 + 32_768 * (b + 1) + 32_768 ** 2 * (c + 1));
      const entries = peers.entryVersion(a) + peers.entryVersion(b) + peers.entryVersion(c);
      assert.ok(entries > 0);
      assert.equal(inputsVersion(host, inputs), kindsVersion + entries, `buckets ${a} ${b} ${c}`);
      assert.equal(inputKinds(inputs), kinds);
      assert.equal(inputsVersion(host, 64 * (a + 1)), peers.entryVersion(a), 'one entry, no kind');
    }
  });

  it('learns the flows of a connection pool once, and a flow forgotten meanwhile again', () => {
    const peers = new LocalPeers(1);
    const socket = (serverPort: number, clientPort: number): FlowEnds =>
      ends({ netns: 3, clientPort, serverPort, cgroupId: 9, comm: 'pool' });
    peers.learn(socket(5432, 40000));
    const v = peers.clientsVersion;
    peers.learn(socket(5432, 40001));
    peers.learn(socket(5432, 40001));
    assert.equal(peers.clientByFlow(3, '10.0.0.5', '10.0.0.9', 5432)?.comm, 'pool');
    assert.ok(peers.clientsVersion > v, 'the new port is learned');
    peers.learn(socket(6379, 40002));
    assert.equal(peers.clientByFlow(3, '10.0.0.5', '10.0.0.9', 5432), undefined, 'forgotten: one entry only');
    peers.learn(socket(5432, 40003));
    assert.equal(peers.clientByFlow(3, '10.0.0.5', '10.0.0.9', 5432)?.comm, 'pool');
  });

  it('an entry forgotten to stay within bounds moves the version of the answers that read it', () => {
    const peers = new LocalPeers(2);
    const host = ctx({ mode: 'host', peers });
    peers.learnServer(7, 8080, { cgroupId: 0, pid: 0, comm: 'nginx' });
    const client = resolveEnds(
      ends({ clientAddr: '127.0.0.1', serverAddr: '127.0.0.1', serverPort: 8080, netns: 7, comm: 'curl' }),
      host,
    );
    assert.equal(client.server.name, 'nginx');
    const v = inputsVersion(host, client.inputs);
    peers.learnServer(7, 1, { cgroupId: 0, pid: 0, comm: 'a' });
    peers.learnServer(7, 2, { cgroupId: 0, pid: 0, comm: 'b' });
    assert.equal(peers.server(7, 8080), undefined);
    assert.ok(inputsVersion(host, client.inputs) > v);
  });

  it('says what it read of the ends beyond their kernel key, and until when a grace makes it provisional', () => {
    const cluster = new TableCluster();
    const k8s = ctx({ cluster, nowMs: T + 10_000, informerGraceMs: 30_000 });
    const young = resolveEnds(ends({ serverAddr: '192.0.2.1', comm: 'curl' }), k8s);
    assert.equal(young.provisional, true);
    assert.equal(young.recheckAtMs, T + 30_000);
    assert.deepEqual(young.reads, { clientPort: false, pid: false, atMs: true });
    const old = resolveEnds(ends({ serverAddr: '192.0.2.1', comm: 'curl', atMs: T - 60_000 }), k8s);
    assert.deepEqual([old.provisional, old.recheckAtMs], [false, undefined]);
    const peers = new LocalPeers();
    peers.learnAddress(2, '10.0.0.5');
    const host = ctx({ mode: 'host', peers });
    const server = { observer: 'server' as const, comm: 'srv', cgroupId: 0 };
    assert.deepEqual(resolveEnds(ends({ ...server, clientAddr: '192.0.2.9' }), host).reads, {
      clientPort: false,
      pid: false,
      atMs: false,
    });
    assert.equal(
      resolveEnds(ends({ ...server, clientAddr: '192.0.2.9' }), host).inputs,
      INPUT.localAddresses,
    );
    const local = resolveEnds(ends({ ...server, clientAddr: '10.0.0.5' }), host);
    assert.deepEqual(
      local.reads,
      { clientPort: true, pid: false, atMs: false },
      'a local client: its process is found by its port',
    );
    assert.equal(
      inputKinds(local.inputs as number),
      INPUT.localAddresses,
      'the client entries read one by one',
    );
    const hostVersion = (inputs: number | undefined): number => inputsVersion(host, inputs);
    let v = hostVersion(local.inputs);
    peers.learnClient(2, 40001, '10.0.0.5', '10.0.0.9', 9090, { cgroupId: 0, pid: 0, comm: 'other' });
    peers.learnServer(2, 5432, { cgroupId: 0, pid: 0, comm: 'postgres' });
    assert.equal(hostVersion(local.inputs), v, 'another client port and another server learned');
    peers.learnClient(2, 40000, '10.0.0.5', '10.0.0.9', 8080, { cgroupId: 0, pid: 0, comm: 'curl' });
    assert.ok(hostVersion(local.inputs) > v, 'its client port learned');
    const known = resolveEnds(ends({ ...server, clientAddr: '10.0.0.5' }), host);
    assert.equal(known.client.name, 'curl');
    v = hostVersion(known.inputs);
    peers.learnClient(2, 40002, '10.0.0.5', '10.0.0.9', 8080, { cgroupId: 0, pid: 0, comm: 'wget' });
    assert.equal(hostVersion(known.inputs), v, 'a port learned anew');
    peers.learnClient(2, 40000, '10.0.0.5', '10.0.0.9', 8080, { cgroupId: 0, pid: 0, comm: 'wget' });
    assert.ok(hostVersion(known.inputs) > v, 'its port taken by another process');
    assert.equal(young.inputs, INPUT.cluster | INPUT.localAddresses);
    assert.equal(resolveEnds(ends({ ...server, comm: '' }), host).reads?.pid, true);
  });
});
