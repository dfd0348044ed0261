/**
 * End to end in host mode: the real `ebpf_socket` receiver (eBPF on the
 * running kernel) feeding the real `k8s_attributes` processor, traffic
 * between two network namespaces from `tcpexact` clients and server. The
 * links come out named by process, both observers, with exact bytes and
 * connection counts. Needs root (CI runs as root); fails with the reason
 * otherwise.
 *
 * Node names its main thread `MainThread`, which is the comm the kernel
 * reports; the two processes set `process.title` first (which renames the
 * thread) to `lhkclient` / `lhkserver`, so their names tell them apart.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Link } from '../../core/signals.ts';
import type { Topology } from '../support/netns.ts';
import { linkRow, named, randomTopology, startPipeline } from '../support/pipeline.ts';
import type { Pipeline } from '../support/pipeline.ts';
import { runClient, spawnHold, spawnServer } from '../support/tcpexact.ts';
import type { ServerProcess } from '../support/tcpexact.ts';

describe(
  'host mode end to end: eBPF receiver -> k8s_attributes',
  { concurrency: false, timeout: 120_000 },
  () => {
    let topo: Topology;
    let server: ServerProcess;
    let pipeline: Pipeline;
    const CLIENT_TITLE = 'lhkclient';
    const SERVER_TITLE = 'lhkserver';

    before(async () => {
      topo = await randomTopology('lhk', ['client', 'server'], 202);
      server = await spawnServer(named(topo.host('server'), SERVER_TITLE), { host: '::' });
      pipeline = await startPipeline({ topology: topo, pollInterval: '1h' });
    });

    after(async () => {
      await pipeline?.shutdown();
      await server?.stop();
      await topo?.destroy();
    });

    function linksOf(observer: 'client' | 'server'): Link[] {
      return pipeline
        .links()
        .filter(
          (l) => l.observer === observer && l.serverPort === server.port && l.client.name === 'lhkclient',
        );
    }

    const describeLinks = (): string =>
      JSON.stringify(
        pipeline
          .links()
          .filter((l) => l.serverPort === server.port)
          .map(linkRow),
      );

    it('names both ends of short-lived IPv4 connections by process, from both observers, with exact bytes', async () => {
      const srv = topo.host('server');
      const report = await runClient(named(topo.host('client'), CLIENT_TITLE), {
        mode: 'many',
        host: srv.addr4,
        port: server.port,
        connections: 40,
        maxSend: 30_000,
        maxRecv: 60_000,
        seed: randomInt(1, 1_000_000),
        concurrency: 4,
      });
      await server.waitForConnections(40);
      const exact = (observer: 'client' | 'server') => (): boolean => {
        const ls = linksOf(observer).filter((l) => l.networkType === 'ipv4');
        return (
          ls.length === 1 &&
          ls[0]?.bytesClientToServer === report.bytesSent &&
          ls[0]?.bytesServerToClient === report.bytesReceived &&
          ls[0]?.connectionsClosed === 40
        );
      };
      await pipeline.pollUntil(() => exact('client')() && exact('server')(), describeLinks);
      for (const observer of ['client', 'server'] as const) {
        const [l] = linksOf(observer).filter((x) => x.networkType === 'ipv4');
        assert.ok(l);
        assert.deepEqual(l.client, { name: 'lhkclient', kind: 'process', namespace: '' }, observer);
        assert.deepEqual(l.server, { name: 'lhkserver', kind: 'process', namespace: '' }, observer);
        assert.equal(l.connectionsOpened, 40, observer);
        assert.equal(l.connectionsFailed, 0, observer);
        assert.equal(l.activeConnections, 0, observer);
        assert.equal(l.transport, 'tcp');
      }
    });

    it('follows a long-lived IPv6 connection while open and after it closes, exactly', async () => {
      const srv = topo.host('server');
      const hold = await spawnHold(named(topo.host('client'), CLIENT_TITLE), {
        host: srv.addr6,
        port: server.port,
        send: 1000,
        recv: 250_000,
      });
      const v6 = (observer: 'client' | 'server'): Link | undefined =>
        linksOf(observer).find((l) => l.networkType === 'ipv6');
      const seen = (c2s: number, s2c: number, active: number) => (): boolean =>
        (['client', 'server'] as const).every((o) => {
          const l = v6(o);
          return (
            l !== undefined &&
            l.bytesClientToServer === c2s &&
            l.bytesServerToClient === s2c &&
            l.activeConnections === active
          );
        });
      await pipeline.pollUntil(seen(hold.opened.bytesSent, hold.opened.bytesReceived, 1), describeLinks);
      const start = v6('client')?.startTimeMs;
      const more = await hold.exchange(70_000, 3);
      await pipeline.pollUntil(seen(more.bytesSent, more.bytesReceived, 1), describeLinks);
      const closed = await hold.close();
      await pipeline.pollUntil(
        () => seen(closed.bytesSent, closed.bytesReceived, 0)() && v6('server')?.connectionsClosed === 1,
        describeLinks,
      );
      for (const observer of ['client', 'server'] as const) {
        const l = v6(observer);
        assert.equal(l?.server.name, 'lhkserver', observer);
        assert.equal(l?.connectionsOpened, 1, observer);
        assert.equal(l?.connectionsClosed, 1, observer);
      }
      assert.equal(v6('client')?.startTimeMs, start, 'the start time of a cumulative link never moves');
    });
  },
);
