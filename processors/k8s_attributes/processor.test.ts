import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Document } from 'yaml';
import { validateConfig } from '../../core/config/validate.ts';
import { socketColumns } from '../../core/socket-columns.ts';
import type { Link, LinkBatch, SocketBatch, SocketSample } from '../../core/signals.ts';
import { KubeApiEmulator } from '../../test/support/k8s-emulator.ts';
import { realisticCluster } from '../../test/support/k8s-fixtures.ts';
import type { PtrServer } from '../../test/support/ptr-dns.ts';
import { startPtrServer } from '../../test/support/ptr-dns.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';
import { Sink } from '../../test/support/sink.ts';
import { k8sAttributesProcessorFactory } from './factory.ts';
import type { K8sAttributesConfig } from './processor.ts';
import { K8sAttributesProcessor, noClusterReason } from './processor.ts';

const T0 = Date.parse('2026-11-26T12:00:00Z');

function config(yaml: Record<string, unknown> = {}): K8sAttributesConfig {
  const { value, issues } = validateConfig(
    new Document(yaml).contents,
    k8sAttributesProcessorFactory.configSchema,
    { path: 'processors::k8s_attributes' },
  );
  assert.deepEqual(issues, []);
  return value as unknown as K8sAttributesConfig;
}

function sample(over: Partial<SocketSample> & Pick<SocketSample, 'cookie'>): SocketSample {
  return {
    openedAtMs: T0,
    netns: 4026531840,
    cgroupId: 0,
    pid: 0,
    comm: 'curl',
    family: 4,
    localAddr: '10.0.0.1',
    localPort: 40000 + over.cookie,
    remoteAddr: '192.0.2.7',
    remotePort: 443,
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

/** Batch `i`, its open sockets given as rows. */
function batch(
  i: number,
  { sockets = [], ...over }: Partial<Omit<SocketBatch, 'sockets'>> & { sockets?: SocketSample[] } = {},
): SocketBatch {
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

function find(links: readonly Link[], client: string, server: string, observer = 'client'): Link | undefined {
  return links.find((l) => l.client.name === client && l.server.name === server && l.observer === observer);
}

function telemetryValue(
  settings: ReturnType<typeof testSettings>,
  name: string,
  attrs: Record<string, string> = {},
): number {
  const metric = settings.registry.collect().find((m) => m.name === name);
  assert.ok(metric, `no telemetry ${name}`);
  return metric.points
    .filter((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + p.value, 0);
}

describe('k8s_attributes processor, host mode', () => {
  let dns: PtrServer;
  before(async () => {
    dns = await startPtrServer({ '192.0.2.7': 'db.example.test' });
  });
  after(async () => {
    await dns.close();
  });

  it('names local ends by process, loopback peers by the owning process, externals by IP then DNS', async () => {
    const settings = testSettings('k8s_attributes');
    const sink = new Sink<LinkBatch>();
    const p = new K8sAttributesProcessor(
      settings,
      config({ mode: 'host', dns: { servers: [dns.address] }, cidr_names: { '198.51.100.0/24': 'partner' } }),
      sink,
    );
    await p.start(testHost());
    assert.equal(p.activeMode, 'host');
    const curl = sample({ cookie: 1, txBytes: 100, rxBytes: 2000 });
    const psql = sample({
      cookie: 2,
      comm: 'psql',
      localAddr: '127.0.0.1',
      remoteAddr: '127.0.0.1',
      remotePort: 5432,
      txBytes: 30,
      rxBytes: 700,
    });
    const postgres = sample({
      cookie: 3,
      role: 'server',
      comm: 'postgres',
      localAddr: '127.0.0.1',
      localPort: 5432,
      remoteAddr: '127.0.0.1',
      remotePort: psql.localPort,
      txBytes: 700,
      rxBytes: 30,
    });
    const partner = sample({ cookie: 4, remoteAddr: '198.51.100.9', txBytes: 5 });
    await p.consume(batch(1, { sockets: [curl, psql, postgres, partner] }));
    let links = sink.last()?.links ?? [];
    // An address known by nothing but its IP may be a network namespace of this machine whose
    // sockets show up in the next batch: a new socket to it is held one batch, uncounted.
    assert.equal(find(links, 'curl', '192.0.2.7'), undefined, 'first sighting: held');
    assert.equal(find(links, 'curl', 'db.example.test'), undefined, 'first sighting: held');
    assert.equal(find(links, 'psql', 'postgres')?.bytesClientToServer, 30);
    assert.equal(find(links, 'psql', 'postgres', 'server')?.bytesServerToClient, 700);
    assert.equal(find(links, 'psql', 'postgres', 'server')?.server.kind, 'process');
    assert.equal(find(links, 'curl', 'partner')?.bytesClientToServer, 5);

    // The PTR answer arrives in the background; the socket is named by it (or by its IP, then moved on
    // the next batch with news from it once the answer is in).
    const deadline = Date.now() + 5000;
    let i = 2;
    while (find(links, 'curl', 'db.example.test') === undefined) {
      assert.ok(Date.now() < deadline, 'the DNS name never appeared');
      await new Promise((r) => setTimeout(r, 20));
      await p.consume(batch(i, { sockets: [{ ...curl, txBytes: 100 + i }] }));
      links = sink.last()?.links ?? [];
      i++;
    }
    const named = find(links, 'curl', 'db.example.test');
    const byIp = find(links, 'curl', '192.0.2.7');
    assert.equal((named?.bytesClientToServer ?? 0) + (byIp?.bytesClientToServer ?? 0), 100 + i - 1);
    assert.equal(named?.activeConnections, 1);
    assert.equal(byIp?.activeConnections ?? 0, 0);
    assert.equal(dns.queryCount('192.0.2.7'), 1);

    assert.ok(
      telemetryValue(settings, 'loggerhead.processor.resolutions', { result: 'miss', end: 'server' }) >= 1,
    );
    assert.ok(
      telemetryValue(settings, 'loggerhead.processor.resolutions', { kind: 'process', result: 'hit' }) >= 4,
    );
    assert.equal(telemetryValue(settings, 'loggerhead.processor.dns.queries', { result: 'resolved' }), 1);
    assert.equal(telemetryValue(settings, 'loggerhead.processor.links'), links.length);
    assert.equal(telemetryValue(settings, 'loggerhead.processor.sockets'), 4);
    assert.equal(telemetryValue(settings, 'loggerhead.processor.dns.queue_depth'), 0);
    assert.equal(telemetryValue(settings, 'loggerhead.processor.mode', { mode: 'host' }), 1);
    await p.shutdown();
    await p.shutdown();
  });

  it('reports the DNS queue depth while queries wait for the rate cap', async () => {
    const settings = testSettings('k8s_attributes');
    const p = new K8sAttributesProcessor(
      settings,
      config({ mode: 'host', dns: { servers: [dns.address], max_queries_per_second: 1 } }),
      new Sink<LinkBatch>(),
    );
    await p.start(testHost());
    const externals = ['192.0.2.31', '192.0.2.32', '192.0.2.33'];
    await p.consume(
      batch(1, { sockets: externals.map((remoteAddr, i) => sample({ cookie: 10 + i, remoteAddr })) }),
    );
    assert.equal(telemetryValue(settings, 'loggerhead.processor.dns.queue_depth'), 2, 'one sent, two wait');
    await p.shutdown();
  });

  it('rejects a DNS rate cap of 0, naming the key', () => {
    const { issues } = validateConfig(
      new Document({ dns: { max_queries_per_second: 0 } }).contents,
      k8sAttributesProcessorFactory.configSchema,
      { path: 'processors::k8s_attributes' },
    );
    assert.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      ['processors::k8s_attributes::dns::max_queries_per_second: 0 is too small: the minimum is 1'],
    );
  });

  it('counts overflow and expiry in telemetry', async () => {
    const settings = testSettings('k8s_attributes');
    const sink = new Sink<LinkBatch>();
    const p = new K8sAttributesProcessor(
      settings,
      config({
        mode: 'host',
        dns: { enabled: false },
        cidr_names: { '192.0.2.7/32': 'seven', '192.0.2.8/32': 'eight' },
        max_links: 1,
        link_idle_timeout: '2s',
      }),
      sink,
    );
    await p.start(testHost());
    const t = (n: number) => ({ ...batch(n), closed: [] });
    await p.consume(
      batch(1, {
        sockets: [
          sample({ cookie: 1, txBytes: 1 }),
          sample({ cookie: 2, remoteAddr: '192.0.2.8', txBytes: 2 }),
        ],
      }),
    );
    assert.equal(sink.last()?.links.length, 2);
    assert.equal(telemetryValue(settings, 'loggerhead.processor.links.overflowed'), 1);
    await p.consume({ ...t(2), gone: [1, 2] });
    await p.consume(t(5));
    assert.equal(sink.last()?.links.length, 0);
    assert.equal(telemetryValue(settings, 'loggerhead.processor.links.expired'), 2);
    await p.shutdown();
  });

  it('rejects a batch before start, and shuts down safely without start', async () => {
    const p = new K8sAttributesProcessor(
      testSettings('k8s_attributes'),
      config({ mode: 'host' }),
      new Sink(),
    );
    await assert.rejects(p.consume(batch(1)), /k8s_attributes: consume\(\) before start\(\)/);
    await p.shutdown();
    await p.shutdown();
  });

  it('fails at creation on a bad cidr_names key, naming it', () => {
    assert.throws(
      () =>
        k8sAttributesProcessorFactory.create(
          testSettings('k8s_attributes'),
          config({ cidr_names: { '10.0.0.0/40': 'x' } }),
          new Sink(),
        ),
      /cidr_names: "10.0.0.0\/40" has prefix length 40, expected 0..32/,
    );
  });

  it('validates its defaults', () => {
    const c = config();
    assert.equal(c.mode, 'auto');
    assert.equal(c.owner_depth, 'workload');
    assert.deepEqual(c.dns, {
      enabled: true,
      ttl: 300_000,
      max_entries: 10_000,
      timeout: 2000,
      max_queue: 1000,
      max_queries_per_second: 50,
      servers: [],
    });
    assert.equal(c.link_idle_timeout, 600_000);
    assert.equal(c.max_links, 10_000);
    assert.deepEqual(c.cidr_names, {});
  });
});

describe('k8s_attributes processor, Kubernetes mode against the API emulator', () => {
  let emulator: KubeApiEmulator;
  let kubeconfig: string;
  const home = mkdtempSync(join(tmpdir(), 'lh-k8sattr-home-'));
  before(async () => {
    emulator = await KubeApiEmulator.start();
    realisticCluster().builder.loadInto(emulator);
    kubeconfig = emulator.writeKubeconfig();
  });
  after(async () => {
    await emulator.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('mode auto finds the cluster of its kubeconfig, names pods by workload and Services with their backing', async () => {
    const settings = testSettings('k8s_attributes');
    const sink = new Sink<LinkBatch>();
    const p = new K8sAttributesProcessor(settings, config({ kubeconfig, dns: { enabled: false } }), sink, {
      env: { HOME: home },
    });
    await p.start(testHost());
    try {
      assert.equal(p.activeMode, 'kubernetes');
      assert.ok(
        settings.logs.some(
          (l) => l.msg === 'resolution mode' && String(l.reason).includes('Kubernetes API found (kubeconfig'),
        ),
        JSON.stringify(settings.logs.filter((l) => l.msg === 'resolution mode')),
      );
      // Connections opened now: the emulator's pods were created a moment ago, and names are time-aware.
      const openedAtMs = Date.now();
      const toService = sample({
        cookie: 1,
        openedAtMs,
        localAddr: '10.212.1.10',
        remoteAddr: '10.212.100.20',
        remotePort: 3550,
        txBytes: 10,
        rxBytes: 20,
      });
      const toPod = sample({
        cookie: 2,
        openedAtMs,
        localAddr: '10.212.1.11',
        remoteAddr: '10.212.1.30',
        remotePort: 5432,
      });
      const deadline = Date.now() + 20_000;
      let i = 1;
      let links: readonly Link[] = [];
      // Until the informers have listed, names are provisional and resolved again on the next sample.
      while (
        find(links, 'checkout', 'catalog')?.server.backing === undefined ||
        find(links, 'checkout', 'db') === undefined
      ) {
        assert.ok(Date.now() < deadline, `names never resolved: ${JSON.stringify(links.map((l) => l.id))}`);
        await p.consume({
          ...batch(i, {
            sockets: [
              { ...toService, txBytes: 10 + i },
              { ...toPod, txBytes: i },
            ],
          }),
          timeMs: Date.now(),
        });
        links = sink.last()?.links ?? [];
        i++;
        await new Promise((r) => setTimeout(r, 50));
      }
      const svc = find(links, 'checkout', 'catalog');
      assert.deepEqual(svc?.client, { name: 'checkout', kind: 'Deployment', namespace: 'shop' });
      assert.deepEqual(svc?.server, {
        name: 'catalog',
        kind: 'Service',
        namespace: 'shop',
        backing: { name: 'catalog', kind: 'Deployment', namespace: 'shop' },
      });
      assert.equal(svc?.serverPort, 3550);
      assert.deepEqual(find(links, 'checkout', 'db')?.server, {
        name: 'db',
        kind: 'StatefulSet',
        namespace: 'shop',
      });
      const total = links.filter((l) => l.serverPort === 3550).reduce((n, l) => n + l.bytesClientToServer, 0);
      assert.equal(total, 10 + i - 1, 'moving from a provisional name loses no byte');
    } finally {
      await p.shutdown();
    }
  });

  it('mode auto falls back to host mode when no cluster answers, and says why', async () => {
    const settings = testSettings('k8s_attributes');
    const p = new K8sAttributesProcessor(settings, config({ dns: { enabled: false } }), new Sink(), {
      env: { KUBECONFIG: join(home, 'missing.yaml'), HOME: home },
    });
    await p.start(testHost());
    assert.equal(p.activeMode, 'host');
    const line = settings.logs.find((l) => l.msg === 'resolution mode');
    assert.equal(line?.mode, 'host');
    assert.match(String(line?.reason), /no kubeconfig at .*missing.yaml/);
    await p.shutdown();
  });
});

describe('noClusterReason (mode auto without loading the Kubernetes client)', () => {
  it('is certain only when not in a pod and no kubeconfig file exists, in the order detectCluster looks', () => {
    const home = mkdtempSync(join(tmpdir(), 'lh-no-cluster-'));
    try {
      const file = join(home, 'config.yaml');
      writeFileSync(file, 'apiVersion: v1\n');
      const missing = join(home, 'missing.yaml');
      const cases: Array<[string, NodeJS.ProcessEnv, string | undefined]> = [
        ['', { KUBERNETES_SERVICE_HOST: '10.96.0.1', HOME: home }, undefined],
        [
          '',
          { KUBERNETES_SERVICE_HOST: '', HOME: home },
          `no kubeconfig at ${join(home, '.kube', 'config')}`,
        ],
        [missing, { KUBERNETES_SERVICE_HOST: '10.96.0.1', HOME: home }, `no kubeconfig at ${missing}`],
        [file, { HOME: home }, undefined],
        ['', { KUBECONFIG: `${missing}:${file}`, HOME: home }, `no kubeconfig at ${missing}`],
        ['', { KUBECONFIG: `${file}:${missing}`, HOME: home }, undefined],
        ['', { KUBECONFIG: '', HOME: home }, `no kubeconfig at ${join(home, '.kube', 'config')}`],
      ];
      for (const [kubeconfig, env, expected] of cases) {
        assert.equal(noClusterReason(kubeconfig, env), expected, `${kubeconfig} ${JSON.stringify(env)}`);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
