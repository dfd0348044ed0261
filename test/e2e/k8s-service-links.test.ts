/**
 * End to end in Kubernetes mode: the real `ebpf_socket` receiver and the real
 * `k8s_attributes` processor, whose informers (the real
 * `@kubernetes/client-node`) list and watch the API emulator. Two network
 * namespaces play the pods `checkout` and `catalog` whose IPs the emulator
 * serves; an iptables DNAT rule in the checkout namespace plays kube-proxy for
 * the Service `catalog` (the client socket keeps the ClusterIP as its peer, as
 * on a real node). The client's links name the Service with its backing
 * Deployment, the server's name both Deployments, all with exact bytes.
 * A third namespace plays this node's host network, where a hostNetwork
 * DaemonSet pod serves from its own pod cgroup (made under the cgroup v2 root,
 * cgroupfs layout): its socket is named by the pod through the cgroup, and the
 * client's connection to the node IP by the pod serving it.
 * (Pod churn and IP reuse are tested in k8s-ip-reuse.test.ts.)
 * Needs root, iptables and a writable cgroup v2 tree; fails with the reason otherwise.
 * Addresses: 10.202.0.0/16, fd00:202::/64; namespaces `lhk-*`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Identity, Link } from '../../core/signals.ts';
import { KubeApiEmulator, RESOURCE_NAMES } from '../support/k8s-emulator.ts';
import { ClusterBuilder } from '../support/k8s-fixtures.ts';
import type { Topology } from '../support/netns.ts';
import { randomTopology, startPipeline } from '../support/pipeline.ts';
import type { Pipeline } from '../support/pipeline.ts';
import { cgroup2MountPoint } from '../../processors/k8s_attributes/host.ts';
import { runClient, spawnServer } from '../support/tcpexact.ts';
import type { ServerProcess, Spawner } from '../support/tcpexact.ts';

const SERVICE_PORT = 3550;

function requireIptables(): void {
  try {
    execFileSync('iptables', ['--version'], { stdio: 'pipe' });
  } catch (e) {
    throw new Error('iptables is needed to play kube-proxy (scripts/setup.d/45-iptables.sh installs it)', {
      cause: e,
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const deployment = (name: string): Identity => ({ name, kind: 'Deployment', namespace: 'shop' });

/**
 * A pod cgroup in the cgroupfs layout (`<root>/lhk-<n>/kubepods/besteffort/pod<uid>`) under the
 * cgroup v2 root; `remove` deletes it once its processes are gone.
 */
function podCgroup(uid: string): { path: string; remove: () => void } {
  const root = cgroup2MountPoint(readFileSync('/proc/self/mountinfo', 'utf8'));
  if (root === undefined)
    throw new Error('no cgroup v2 mount in /proc/self/mountinfo: a pod cgroup needs one');
  const top = join(root, `lhk-${randomInt(1, 1_000_000)}`);
  const path = join(top, 'kubepods', 'besteffort', `pod${uid}`);
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    throw new Error(`cannot make the pod cgroup ${path} (needs root and a writable cgroup v2 tree)`, {
      cause: e,
    });
  }
  const dirs = [path, join(top, 'kubepods', 'besteffort'), join(top, 'kubepods'), top];
  return { path, remove: () => dirs.forEach((d) => rmdirSync(d)) };
}

/**
 * Starts processes in the network namespace `netns`, inside the cgroup `cgroupPath` from their first
 * instruction (moved there before `ip netns exec`, which mounts a /sys without the cgroup tree).
 */
function inCgroup(netns: string, cgroupPath: string): Spawner {
  return {
    spawn: (cmd, args, options) =>
      spawn(
        'sh',
        ['-c', 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"', cgroupPath, netns, cmd, ...args],
        options ?? {},
      ),
  };
}

describe(
  'Kubernetes mode end to end: eBPF receiver -> k8s_attributes <- API emulator',
  { concurrency: false, timeout: 120_000 },
  () => {
    let topo: Topology;
    let server: ServerProcess;
    let agentServer: ServerProcess;
    let agentCgroup: { path: string; remove: () => void } | undefined;
    let emulator: KubeApiEmulator;
    let pipeline: Pipeline;
    let clusterIP: string;

    before(async () => {
      requireIptables();
      topo = await randomTopology('lhk', ['checkout', 'catalog', 'node'], 202);
      const checkoutHost = topo.host('checkout');
      const catalogHost = topo.host('catalog');
      const subnet = catalogHost.addr4.slice(0, catalogHost.addr4.lastIndexOf('.'));
      clusterIP = `${subnet}.100`;
      server = await spawnServer(catalogHost, { host: '::' });
      // kube-proxy's part: the ClusterIP:port is rewritten to the pod's address by conntrack; the client
      // socket keeps the ClusterIP as its peer, as on a real node.
      await checkoutHost.exec('iptables', [
        '-t',
        'nat',
        '-A',
        'OUTPUT',
        '-d',
        `${clusterIP}/32`,
        '-p',
        'tcp',
        '--dport',
        String(SERVICE_PORT),
        '-j',
        'DNAT',
        '--to-destination',
        `${catalogHost.addr4}:${server.port}`,
      ]);

      emulator = await KubeApiEmulator.start();
      const b = new ClusterBuilder();
      b.node('node-a', { internalIP: `${subnet}.200` });
      b.deployment('shop', 'checkout', [checkoutHost.addr4]);
      const catalog = b.deployment('shop', 'catalog', [catalogHost.addr4]);
      b.service('shop', 'catalog', clusterIP, catalog.pods, { port: SERVICE_PORT });
      // This node (the agent's: its host name) and a hostNetwork pod on it, serving in its own cgroup.
      const nodeHost = topo.host('node');
      b.node(hostname(), { internalIP: nodeHost.addr4 });
      const agent = b.daemonSet('kube-system', 'node-agent', [{ node: hostname(), ip: nodeHost.addr4 }], {
        hostNetwork: true,
      });
      agentCgroup = podCgroup(String((agent.pods[0]?.metadata as Record<string, unknown>).uid));
      agentServer = await spawnServer(inCgroup(nodeHost.netns, agentCgroup.path), { host: '::' });
      b.loadInto(emulator);

      pipeline = await startPipeline({
        topology: topo,
        pollInterval: '1h',
        processor: { mode: 'kubernetes', kubeconfig: emulator.writeKubeconfig(), dns: { enabled: false } },
        // Every informer has listed once it watches.
        processorStarted: async () => {
          const deadline = Date.now() + 20_000;
          while (emulator.openWatches() < RESOURCE_NAMES.length) {
            assert.ok(
              Date.now() < deadline,
              `informers did not all watch within 20 s (${emulator.openWatches()})`,
            );
            await sleep(50);
          }
        },
      });
    });

    after(async () => {
      await pipeline?.shutdown();
      await server?.stop();
      await agentServer?.stop();
      agentCgroup?.remove();
      await emulator?.stop();
      await topo?.destroy();
    });

    const links = (): readonly Link[] => pipeline.links();
    const describeLinks = (): string =>
      JSON.stringify(
        links().map((l) => [
          l.observer,
          l.client.name,
          l.server.name,
          l.server.kind,
          l.serverPort,
          l.bytesClientToServer,
          l.bytesServerToClient,
          l.connectionsClosed,
        ]),
      );

    const pollUntil = (done: () => boolean): Promise<void> => pipeline.pollUntil(done, describeLinks);

    const link = (observer: 'client' | 'server', server: string, port: number): Link | undefined =>
      links().find(
        (l) =>
          l.observer === observer &&
          l.client.name === 'checkout' &&
          l.server.name === server &&
          l.serverPort === port,
      );

    /**
     * `connections` calls from checkout to `host`:`port`, served by `served`; resolves once every link
     * `sides()` finds carries their exact bytes and all of them closed.
     */
    const callExactly = async (
      host: string,
      port: number,
      served: ServerProcess,
      connections: number,
      sides: () => (Link | undefined)[],
    ): Promise<void> => {
      const report = await runClient(topo.host('checkout'), {
        mode: 'many',
        host,
        port,
        connections,
        maxSend: 20_000,
        maxRecv: 80_000,
        seed: randomInt(1, 1_000_000),
        concurrency: 2,
      });
      await served.waitForConnections(connections);
      const exact = (l: Link | undefined): boolean =>
        l !== undefined &&
        l.bytesClientToServer === report.bytesSent &&
        l.bytesServerToClient === report.bytesReceived &&
        l.connectionsClosed === connections;
      await pollUntil(() => sides().every(exact));
    };

    it('names a Service call by Deployment and Service (with its backing), the server side by Deployments, exactly', async () => {
      await callExactly(clusterIP, SERVICE_PORT, server, 20, () => [
        link('client', 'catalog', SERVICE_PORT),
        link('server', 'catalog', server.port),
      ]);
      const viaService = link('client', 'catalog', SERVICE_PORT);
      assert.deepEqual(viaService?.client, deployment('checkout'));
      assert.deepEqual(viaService?.server, {
        name: 'catalog',
        kind: 'Service',
        namespace: 'shop',
        backing: deployment('catalog'),
      });
      const serverSide = link('server', 'catalog', server.port);
      assert.deepEqual(serverSide?.client, deployment('checkout'));
      assert.deepEqual(serverSide?.server, deployment('catalog'));
      assert.equal(viaService?.connectionsOpened, 20);
    });

    it('names a hostNetwork pod by its cgroup on its side and through the node IP it serves on the client side, exactly', async () => {
      await callExactly(topo.host('node').addr4, agentServer.port, agentServer, 10, () => [
        link('client', 'node-agent', agentServer.port),
        link('server', 'node-agent', agentServer.port),
      ]);
      const nodeAgent: Identity = { name: 'node-agent', kind: 'DaemonSet', namespace: 'kube-system' };
      for (const observer of ['client', 'server'] as const) {
        assert.deepEqual(link(observer, 'node-agent', agentServer.port)?.client, deployment('checkout'));
        assert.deepEqual(link(observer, 'node-agent', agentServer.port)?.server, nodeAgent);
      }
      assert.equal(
        links().filter((l) => l.serverPort === agentServer.port && l.server.kind === 'Node').length,
        0,
        'nothing of it is named by the node',
      );
    });
  },
);
