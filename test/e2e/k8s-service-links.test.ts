/**
 * End to end in Kubernetes mode: the real `ebpf_socket` receiver and the real
 * `k8s_attributes` processor, whose informers (the real
 * `@kubernetes/client-node`) list and watch the API emulator. Two network
 * namespaces play the pods `checkout` and `catalog` whose IPs the emulator
 * serves; an iptables DNAT rule in the checkout namespace plays kube-proxy for
 * the Service `catalog` (the client socket keeps the ClusterIP as its peer, as
 * on a real node). The client's links name the Service with its backing
 * Deployment, the server's name both Deployments, all with exact bytes.
 * (Pod churn and IP reuse are tested in k8s-ip-reuse.test.ts.)
 * Needs root and iptables; fails with the reason otherwise.
 * Addresses: 10.202.0.0/16, fd00:202::/64; namespaces `lhk-*`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Document } from 'yaml';
import { validateConfig } from '../../core/config/validate.ts';
import type { Identity, Link, LinkBatch } from '../../core/signals.ts';
import { k8sAttributesProcessorFactory } from '../../processors/k8s_attributes/factory.ts';
import type { K8sAttributesConfig } from '../../processors/k8s_attributes/factory.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import { EbpfSocketReceiver } from '../../receivers/ebpf_socket/receiver.ts';
import { KubeApiEmulator, RESOURCE_NAMES } from '../support/k8s-emulator.ts';
import { ClusterBuilder } from '../support/k8s-fixtures.ts';
import { createTopology } from '../support/netns.ts';
import type { Topology } from '../support/netns.ts';
import { testHost, testSettings } from '../support/settings.ts';
import { Sink } from '../support/sink.ts';
import { runClient, spawnServer } from '../support/tcpexact.ts';
import type { ServerProcess } from '../support/tcpexact.ts';

const SERVICE_PORT = 3550;

function validated<T>(
  factory: { configSchema: Parameters<typeof validateConfig>[1] },
  yaml: object,
  path: string,
): T {
  const { value, issues } = validateConfig(new Document(yaml).contents, factory.configSchema, { path });
  assert.deepEqual(issues, []);
  return value as T;
}

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

describe(
  'Kubernetes mode end to end: eBPF receiver -> k8s_attributes <- API emulator',
  { concurrency: false, timeout: 120_000 },
  () => {
    let topo: Topology;
    let server: ServerProcess;
    let emulator: KubeApiEmulator;
    let receiver: EbpfSocketReceiver;
    let processorShutdown: () => Promise<void>;
    let clusterIP: string;
    const sink = new Sink<LinkBatch>();

    before(async () => {
      requireIptables();
      const n = randomInt(0, 256);
      topo = await createTopology({
        prefix: 'lhk',
        hosts: ['checkout', 'catalog'],
        subnet4: `10.202.${n}.0/24`,
        subnet6: `fd00:202::${n.toString(16)}00/120`,
      });
      clusterIP = `10.202.${n}.100`;
      const checkoutHost = topo.host('checkout');
      const catalogHost = topo.host('catalog');
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
      b.node('node-a', { internalIP: `10.202.${n}.200` });
      b.deployment('shop', 'checkout', [checkoutHost.addr4]);
      const catalog = b.deployment('shop', 'catalog', [catalogHost.addr4]);
      b.service('shop', 'catalog', clusterIP, catalog.pods, { port: SERVICE_PORT });
      b.loadInto(emulator);

      const processor = k8sAttributesProcessorFactory.create(
        testSettings('k8s_attributes'),
        validated<K8sAttributesConfig>(
          k8sAttributesProcessorFactory,
          { mode: 'kubernetes', kubeconfig: emulator.writeKubeconfig(), dns: { enabled: false } },
          'processors::k8s_attributes',
        ),
        sink,
      );
      await processor.start(testHost());
      processorShutdown = () => processor.shutdown();
      // Every informer has listed once it watches.
      const deadline = Date.now() + 20_000;
      while (emulator.openWatches() < RESOURCE_NAMES.length) {
        assert.ok(
          Date.now() < deadline,
          `informers did not all watch within 20 s (${emulator.openWatches()})`,
        );
        await sleep(50);
      }
      const created = ebpfSocketReceiverFactory.create(
        testSettings('ebpf_socket'),
        validated(
          ebpfSocketReceiverFactory,
          { poll_interval: '1h', network_namespaces: topo.hosts.map((h) => `/run/netns/${h.netns}`) },
          'receivers::ebpf_socket',
        ),
        processor,
      );
      assert.ok(created instanceof EbpfSocketReceiver);
      receiver = created;
      await receiver.start(testHost());
    });

    after(async () => {
      await receiver?.shutdown();
      await processorShutdown?.();
      await server?.stop();
      await emulator?.stop();
      await topo?.destroy();
    });

    const links = (): readonly Link[] => sink.last()?.links ?? [];
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

    async function pollUntil(done: () => boolean): Promise<void> {
      const deadline = Date.now() + 10_000;
      await receiver.poll();
      while (!done()) {
        assert.ok(Date.now() < deadline, `not reached within 10 s: ${describeLinks()}`);
        await sleep(50);
        await receiver.poll();
      }
    }

    const link = (observer: 'client' | 'server', server: string, port: number): Link | undefined =>
      links().find(
        (l) =>
          l.observer === observer &&
          l.client.name === 'checkout' &&
          l.server.name === server &&
          l.serverPort === port,
      );

    it('names a Service call by Deployment and Service (with its backing), the server side by Deployments, exactly', async () => {
      const report = await runClient(topo.host('checkout'), {
        mode: 'many',
        host: clusterIP,
        port: SERVICE_PORT,
        connections: 20,
        maxSend: 20_000,
        maxRecv: 80_000,
        seed: randomInt(1, 1_000_000),
        concurrency: 2,
      });
      await server.waitForConnections(20);
      const exact = (l: Link | undefined): boolean =>
        l !== undefined &&
        l.bytesClientToServer === report.bytesSent &&
        l.bytesServerToClient === report.bytesReceived &&
        l.connectionsClosed === 20;
      await pollUntil(
        () => exact(link('client', 'catalog', SERVICE_PORT)) && exact(link('server', 'catalog', server.port)),
      );
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
  },
);
