/**
 * End to end in Kubernetes mode, pod churn as it happens in a real cluster:
 * network namespaces play pods whose IPs the Kubernetes API emulator
 * (test/support/k8s-emulator.ts; no real API server can run here) serves; the
 * real `ebpf_socket` receiver feeds the real `k8s_attributes` processor in
 * `mode: kubernetes` (the real client-node informers). The `checkout` pod is
 * deleted while one of its connections is still open (it finishes during the
 * pod's termination), then its IP is given to a pod of another Deployment in
 * a NEW network namespace (a new sandbox, as a CNI does). From both observers:
 * the old connection keeps the name `checkout` to its last byte, the new
 * connections are named `payments`, and every link's bytes are exact.
 * Needs root (CI runs as root) and nothing beyond iproute2; fails with the reason
 * otherwise. Addresses: 10.212.0.0/16 only; namespaces `lhk8-*`.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Identity, Link } from '../../core/signals.ts';
import { KubeApiEmulator } from '../support/k8s-emulator.ts';
import { ClusterBuilder } from '../support/k8s-fixtures.ts';
import { createTopology } from '../support/netns.ts';
import type { Topology } from '../support/netns.ts';
import { startPipeline } from '../support/pipeline.ts';
import type { Pipeline } from '../support/pipeline.ts';
import type { TestSettings } from '../support/settings.ts';
import { runClient, spawnHold, spawnServer } from '../support/tcpexact.ts';
import type { ClientReport, ServerProcess } from '../support/tcpexact.ts';

const deployment = (name: string): Identity => ({ name, kind: 'Deployment', namespace: 'shop' });

describe(
  'Kubernetes mode end to end: a deleted pod and its IP reused by a new pod',
  { concurrency: false },
  () => {
    let topo: Topology;
    let emu: KubeApiEmulator;
    let server: ServerProcess;
    let pipeline: Pipeline;
    let processorSettings: TestSettings;
    let checkoutPodName: string;

    before(async () => {
      const n = randomInt(0, 250);
      topo = await createTopology({
        prefix: 'lhk8',
        hosts: ['checkout', 'catalog', 'payments'],
        subnet4: `10.212.${n}.0/24`,
        subnet6: `fd00:212:0:${n.toString(16)}::/64`,
      });
      server = await spawnServer(topo.host('catalog'), { host: '::' });

      emu = await KubeApiEmulator.start();
      const b = new ClusterBuilder();
      b.node('node-1', { internalIP: `10.212.${n}.250` });
      const checkout = b.deployment('shop', 'checkout', [topo.host('checkout').addr4]);
      checkoutPodName = String((checkout.pods[0]?.metadata as Record<string, unknown>).name);
      b.deployment('shop', 'catalog', [topo.host('catalog').addr4]);
      b.loadInto(emu);

      pipeline = await startPipeline({
        topology: topo,
        pollInterval: '1h',
        processor: { mode: 'kubernetes', kubeconfig: emu.writeKubeconfig(), dns: { enabled: false } },
        processorStarted: async (settings) => {
          processorSettings = settings;
          await waitFor(
            'the processor to watch every resource',
            () => gauge('loggerhead.k8s.watch.state', (a) => a.state === 'watching') === 10,
          );
        },
      });
    });

    after(async () => {
      await pipeline?.shutdown();
      await server?.stop();
      await emu?.stop();
      await topo?.destroy();
    });

    function gauge(name: string, match: (attributes: Readonly<Record<string, string>>) => boolean): number {
      const metric = processorSettings.registry.collect().find((m) => m.name === name);
      return (metric?.points ?? []).filter((p) => match(p.attributes)).reduce((a, p) => a + p.value, 0);
    }

    async function waitFor(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!condition()) {
        assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    /** This test's links (other engineers' traffic may be on the machine). */
    const ours = (): Link[] => pipeline.links().filter((l) => l.serverPort === server.port);
    const link = (observer: 'client' | 'server', client: string): Link | undefined =>
      ours().find(
        (l) =>
          l.observer === observer &&
          l.networkType === 'ipv4' &&
          JSON.stringify(l.client) === JSON.stringify(deployment(client)) &&
          JSON.stringify(l.server) === JSON.stringify(deployment('catalog')),
      );
    const describeLinks = (): string =>
      JSON.stringify(
        ours().map((l) => [
          l.observer,
          l.client,
          l.server,
          l.bytesClientToServer,
          l.bytesServerToClient,
          l.activeConnections,
        ]),
      );

    /** Every link's ends and the self-telemetry of both components, for a failure message. */
    const diagnostics = (): string =>
      JSON.stringify({
        links: pipeline
          .links()
          .map((l) => `${l.observer} ${l.client.name}->${l.server.name}:${l.serverPort}`),
        telemetry: [
          ...pipeline.settings.receiver.registry.collect(),
          ...processorSettings.registry.collect(),
        ].map((m) => [m.name, m.points.map((p) => p.value)]),
        logs: [...pipeline.settings.receiver.logs, ...processorSettings.logs]
          .filter((l) => l.level !== 'debug')
          .slice(-20),
      });

    const pollUntil = (done: () => boolean): Promise<void> =>
      pipeline.pollUntil(done, () => `${describeLinks()}\n${diagnostics()}`, {
        timeoutMs: 15_000,
        intervalMs: 100,
      });

    const exact = (
      l: Link | undefined,
      bytesSent: number,
      bytesReceived: number,
      closedConnections: number,
    ) =>
      l !== undefined &&
      l.bytesClientToServer === bytesSent &&
      l.bytesServerToClient === bytesReceived &&
      l.connectionsClosed === closedConnections &&
      l.activeConnections === 0;

    it('old connections keep the old pod name to their last byte, new ones get the new pod name, all exact', async () => {
      const checkout = topo.host('checkout');
      const payments = topo.host('payments');
      const catalog = topo.host('catalog');
      const podIp = checkout.addr4;

      const before: ClientReport = await runClient(checkout, {
        mode: 'many',
        host: catalog.addr4,
        port: server.port,
        connections: 20,
        maxSend: 20_000,
        maxRecv: 40_000,
        seed: randomInt(1, 1_000_000),
        concurrency: 2,
      });
      const hold = await spawnHold(checkout, {
        host: catalog.addr4,
        port: server.port,
        send: 1000,
        recv: 5000,
      });
      await pollUntil(
        () =>
          link('client', 'checkout')?.activeConnections === 1 &&
          link('server', 'checkout')?.activeConnections === 1,
      );

      // The checkout pod is deleted; its open connection still finishes during termination.
      const tombstones = gauge('loggerhead.k8s.ip_tombstones', () => true);
      emu.delete('pods', 'shop', checkoutPodName);
      await waitFor(
        'the deletion',
        () => gauge('loggerhead.k8s.ip_tombstones', () => true) === tombstones + 1,
      );
      await hold.exchange(70_000, 3000);
      const closed = await hold.close();
      const oldSent = before.bytesSent + closed.bytesSent;
      const oldReceived = before.bytesReceived + closed.bytesReceived;
      const oldExact = (): boolean =>
        exact(link('client', 'checkout'), oldSent, oldReceived, 21) &&
        exact(link('server', 'checkout'), oldSent, oldReceived, 21);
      await pollUntil(oldExact);

      // A new sandbox gets the address: it leaves the old namespace for the new pod's.
      await checkout.exec('ip', ['addr', 'del', `${podIp}/24`, 'dev', 'eth0']);
      await payments.exec('ip', ['addr', 'add', `${podIp}/24`, 'dev', 'eth0']);
      for (const h of topo.hosts) await h.exec('ip', ['neigh', 'flush', 'dev', 'eth0']);
      const route = await payments.exec('ip', ['route', 'get', catalog.addr4, 'from', podIp]);
      assert.match(route.stdout, / dev eth0 /, route.stdout);
      const later = new ClusterBuilder();
      later.deployment('shop', 'payments', [podIp]);
      later.loadInto(emu);
      await waitFor('the new pod', () => gauge('loggerhead.k8s.objects', (a) => a.kind === 'Pod') === 2);
      // The agent keeps polling while a new sandbox comes up (seconds in a real cluster). Were the new
      // pod's first connections to close within one poll of the old pod's last one, the server side would
      // see one kernel key (same client IP, same server netns) mixing both, and the processor splits such
      // bytes between the two links by connection count: counts exact, bytes not (reported).
      await pipeline.poll();
      await pipeline.poll();

      const fresh = await runClient(payments, {
        mode: 'many',
        host: catalog.addr4,
        port: server.port,
        bind: podIp,
        connections: 10,
        maxSend: 5000,
        maxRecv: 5000,
        seed: randomInt(1, 1_000_000),
      });
      assert.ok(
        fresh.connections.every((c) => c.local.address === podIp),
        'the new pod used the reused address',
      );
      await pollUntil(
        () =>
          exact(link('client', 'payments'), fresh.bytesSent, fresh.bytesReceived, 10) &&
          exact(link('server', 'payments'), fresh.bytesSent, fresh.bytesReceived, 10) &&
          oldExact(),
      );
    });
  },
);
