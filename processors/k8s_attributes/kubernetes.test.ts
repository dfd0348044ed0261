/**
 * The real `@kubernetes/client-node` informers against the Kubernetes API
 * emulator (test/support/k8s-emulator.ts): a realistic cluster, live changes,
 * IP reuse, faults (API down at start, dropped watches, 410 in both forms,
 * repeated 5xx) and hostile objects.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { TestSettings } from '../../test/support/settings.ts';
import { testSettings } from '../../test/support/settings.ts';
import { counterValue } from '../../test/support/telemetry.ts';
import type { KubeObject } from '../../test/support/k8s-emulator.ts';
import { KubeApiEmulator } from '../../test/support/k8s-emulator.ts';
import { ClusterBuilder, realisticCluster } from '../../test/support/k8s-fixtures.ts';
import type { KubernetesMetadata } from './kubernetes.ts';
import { createKubernetesMetadata, detectCluster, loadKubeConfig, WATCHED_RESOURCES } from './kubernetes.ts';
import type { IpOwner } from './metadata.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function emulator(options: Parameters<typeof KubeApiEmulator.start>[0] = {}): Promise<KubeApiEmulator> {
  const emu = await KubeApiEmulator.start(options);
  cleanups.push(() => emu.stop());
  return emu;
}

function metadata(
  emu: KubeApiEmulator,
  extra: Partial<Parameters<typeof createKubernetesMetadata>[0]> = {},
): { md: KubernetesMetadata; settings: TestSettings } {
  const settings = testSettings('k8s_attributes');
  const md = createKubernetesMetadata({
    kubeconfig: emu.writeKubeconfig(),
    ownerDepth: 'workload',
    logger: settings.logger,
    telemetry: settings.telemetry,
    retry: { initialDelayMs: 50, maxDelayMs: 400 },
    listPageSize: 4,
    ...extra,
  });
  cleanups.push(() => md.stop());
  return { md, settings };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function describeOwner(o: IpOwner | undefined): string {
  if (o === undefined) return 'none';
  if (o.kind === 'pod')
    return `pod ${o.pod.namespace}/${o.pod.name} ${o.pod.workload.kind}/${o.pod.workload.name}`;
  if (o.kind === 'service') {
    const b = o.service.backing;
    return `service ${o.service.namespace}/${o.service.name} ${b === undefined ? '-' : `${b.kind}/${b.name}`}`;
  }
  return `node ${o.node.name}`;
}

function expectedText(e: { kind: string; name: string; namespace: string; workload: string }): string {
  if (e.kind === 'node') return `node ${e.name}`;
  return `${e.kind} ${e.namespace}/${e.name} ${e.workload === '' ? '-' : e.workload}`;
}

function resolvesAll(
  md: KubernetesMetadata,
  expected: ReadonlyMap<string, Parameters<typeof expectedText>[0]>,
) {
  const now = Date.now();
  return [...expected].every(([ip, e]) => describeOwner(md.lookupIp(ip, now)) === expectedText(e));
}

function assertResolvesAll(
  md: KubernetesMetadata,
  expected: ReadonlyMap<string, Parameters<typeof expectedText>[0]>,
) {
  const now = Date.now();
  const got = [...expected.keys()].map((ip) => `${ip} ${describeOwner(md.lookupIp(ip, now))}`);
  const want = [...expected].map(([ip, e]) => `${ip} ${expectedText(e)}`);
  assert.deepEqual(got, want);
}

function state(md: KubernetesMetadata, resource: string) {
  const s = md.watchStates().find((w) => w.resource === resource);
  assert.ok(s !== undefined, `no watch state for ${resource}`);
  return s;
}

function warnings(settings: TestSettings, resource: string): number {
  return settings.logs.filter((l) => l.level === 'warn' && l.resource === resource).length;
}

function podIp(o: KubeObject): string {
  return String((o.status as Record<string, unknown>).podIP);
}

describe('createKubernetesMetadata against the API emulator', () => {
  it('resolves every IP of a realistic cluster, the hostNetwork pod by UID, and reports healthy watches', async () => {
    const emu = await emulator();
    const cluster = realisticCluster();
    cluster.builder.loadInto(emu);
    const { md, settings } = metadata(emu);
    assert.equal(md.synced(), false);
    await md.start();
    await waitFor('sync', () => md.synced());
    assertResolvesAll(md, cluster.expected);
    const proxy = md.podByUid(cluster.hostNetworkPod.uid);
    assert.equal(proxy?.name, cluster.hostNetworkPod.name);
    assert.equal(`${proxy?.workload.kind}/${proxy?.workload.name}`, cluster.hostNetworkPod.workload);
    assert.equal(proxy?.hostNetwork, true);
    assert.equal(
      describeOwner(md.lookupIp('10.212.0.10', Date.now())),
      'node node-a',
      'node IP stays the node',
    );
    assert.equal(md.lookupIp('192.0.2.1', Date.now()), undefined);
    await waitFor('all watching', () => md.watchStates().every((w) => w.state === 'watching'));
    assert.deepEqual(
      md.watchStates().map((w) => w.resource),
      [...WATCHED_RESOURCES],
    );
    assert.ok(md.watchStates().every((w) => w.relists === 0 && w.errors === 0));
    // Paged lists (4 per page) and one watch per resource, each from the list's resourceVersion.
    assert.ok(emu.requests.some((r) => r.verb === 'list' && r.query.continue !== undefined));
    for (const r of emu.requests.filter((x) => x.verb === 'watch'))
      assert.match(r.query.resourceVersion ?? '', /^\d+$/);
    const objects = settings.registry.collect().find((m) => m.name === 'loggerhead.k8s.objects');
    const count = (kind: string) => objects?.points.find((p) => p.attributes.kind === kind)?.value;
    assert.deepEqual(
      ['Pod', 'Service', 'EndpointSlice', 'Node', 'Deployment', 'ReplicaSet', 'CronJob', 'Job'].map(count),
      [11, 4, 4, 2, 2, 4, 1, 1],
    );
    const watchState = settings.registry.collect().find((m) => m.name === 'loggerhead.k8s.watch.state');
    assert.equal(
      watchState?.points.filter((p) => p.attributes.state === 'watching' && p.value === 1).length,
      WATCHED_RESOURCES.length,
    );
    assert.ok(settings.logs.some((l) => l.msg === 'kubernetes metadata synced'));
  });

  it('owner_depth pod names pods', async () => {
    const emu = await emulator();
    const b = new ClusterBuilder();
    const web = b.deployment('shop', 'web', ['10.212.5.1']);
    b.loadInto(emu);
    const { md } = metadata(emu, { ownerDepth: 'pod' });
    await md.start();
    await waitFor('sync', () => md.synced());
    const name = String((web.pods[0]?.metadata as Record<string, unknown>).name);
    assert.equal(describeOwner(md.lookupIp('10.212.5.1', Date.now())), `pod shop/${name} Pod/${name}`);
  });

  it('follows live changes; a deleted pod keeps its IP for earlier times and a new pod reusing it gets later ones', async () => {
    const emu = await emulator();
    const b = new ClusterBuilder();
    const web = b.deployment('shop', 'web', ['10.212.6.1']);
    b.loadInto(emu);
    const { md } = metadata(emu);
    await md.start();
    await waitFor('sync', () => md.synced());
    const oldPod = web.pods[0] as KubeObject;
    const oldName = String((oldPod.metadata as Record<string, unknown>).name);
    const beforeDelete = Date.now();
    assert.equal(
      describeOwner(md.lookupIp('10.212.6.1', beforeDelete)),
      `pod shop/${oldName} Deployment/web`,
    );

    // A new Deployment arrives over the watch; its pod reuses the IP right after the old pod is deleted.
    await new Promise((r) => setTimeout(r, 5));
    emu.delete('pods', 'shop', oldName);
    await waitFor('old pod deleted', () => md.stats().podTombstones === 1);
    const afterDelete = Date.now();
    const later = new ClusterBuilder();
    const api = later.deployment('shop', 'api', ['10.212.6.1']);
    later.loadInto(emu);
    const newName = String((api.pods[0]?.metadata as Record<string, unknown>).name);
    await waitFor('new pod', () => md.lookupIp('10.212.6.1', Date.now() + 1000)?.kind === 'pod');
    await waitFor('new pod resolved to its Deployment', () =>
      describeOwner(md.lookupIp('10.212.6.1', Date.now() + 1000)).endsWith('Deployment/api'),
    );
    assert.equal(
      describeOwner(md.lookupIp('10.212.6.1', beforeDelete)),
      `pod shop/${oldName} Deployment/web`,
    );
    assert.equal(
      describeOwner(md.lookupIp('10.212.6.1', afterDelete + 1000)),
      `pod shop/${newName} Deployment/api`,
    );
    assert.equal(state(md, 'pods').relists, 0);
  });

  it('API unreachable at start: start() returns at once, retries quietly with backoff, resolves once the API is up', async () => {
    const emu = await emulator({ startPaused: true });
    const cluster = realisticCluster();
    cluster.builder.loadInto(emu);
    const { md, settings } = metadata(emu);
    const t0 = Date.now();
    await md.start();
    assert.ok(Date.now() - t0 < 1000, `start() took ${Date.now() - t0} ms`);
    await waitFor('several failed attempts', () => state(md, 'pods').errors >= 3);
    assert.equal(state(md, 'pods').state, 'backoff');
    assert.equal(md.synced(), false);
    assert.equal(md.lookupIp('10.212.1.10', Date.now()), undefined);
    assert.equal(warnings(settings, 'pods'), 1, 'one warning per state change, not one per retry');
    await emu.resume();
    await waitFor('sync after the API came up', () => md.synced());
    await waitFor('names', () => resolvesAll(md, cluster.expected));
    assertResolvesAll(md, cluster.expected);
    await waitFor('all watching', () => md.watchStates().every((w) => w.state === 'watching'));
    assert.ok(settings.logs.some((l) => l.msg === 'kubernetes informer recovered' && l.resource === 'pods'));
    assert.equal(warnings(settings, 'pods'), 1);
  });

  it('a dropped watch is resumed from its resourceVersion without a relist', async () => {
    const emu = await emulator();
    const b = new ClusterBuilder();
    b.deployment('shop', 'web', ['10.212.7.1']);
    b.loadInto(emu);
    const { md } = metadata(emu);
    await md.start();
    await waitFor('sync', () => md.synced());
    await waitFor('every watch open', () => emu.openWatches() === WATCHED_RESOURCES.length);
    const lists = emu.count('pods', 'list');
    assert.equal(emu.closeWatches(), WATCHED_RESOURCES.length);
    await waitFor('re-watch', () => emu.openWatches('pods') === 1);
    const more = new ClusterBuilder();
    more.deployment('shop', 'late', ['10.212.7.2']);
    more.loadInto(emu);
    await waitFor('late pod', () =>
      describeOwner(md.lookupIp('10.212.7.2', Date.now() + 1000)).endsWith('Deployment/late'),
    );
    assert.equal(emu.count('pods', 'list'), lists, 'no new list');
    assert.equal(state(md, 'pods').relists, 0);
    assert.equal(state(md, 'pods').errors, 0);
  });

  for (const form of ['event', 'status'] as const) {
    it(`410 Gone (${form === 'event' ? 'in-stream ERROR event' : 'HTTP status'}) forces a relist that catches up with missed changes`, async () => {
      const emu = await emulator({ expiredWatchForm: form });
      const b = new ClusterBuilder();
      const web = b.deployment('shop', 'web', ['10.212.8.1', '10.212.8.2']);
      b.loadInto(emu);
      const { md } = metadata(emu);
      await md.start();
      await waitFor('sync', () => md.synced());
      await waitFor('watching', () => emu.openWatches('pods') === 1);
      // The agent loses the API; meanwhile a pod goes, another comes, and history is compacted.
      await emu.pause();
      const gone = String((web.pods[0]?.metadata as Record<string, unknown>).name);
      emu.delete('pods', 'shop', gone);
      const more = new ClusterBuilder();
      more.statefulSet('shop', 'cache', ['10.212.8.3']);
      more.loadInto(emu);
      emu.compact();
      await emu.resume();
      await waitFor('relist', () => state(md, 'pods').relists >= 1);
      await waitFor('caught up', () =>
        describeOwner(md.lookupIp('10.212.8.3', Date.now())).endsWith('StatefulSet/cache'),
      );
      await waitFor('deleted pod gone', () => md.lookupIp('10.212.8.1', Date.now() + 1000) === undefined);
      await waitFor('watching again', () => state(md, 'pods').state === 'watching');
      assert.equal(
        describeOwner(md.lookupIp(podIp(web.pods[1] as KubeObject), Date.now())).endsWith('Deployment/web'),
        true,
      );
      const watches = emu.requests.filter((r) => r.resource === 'pods' && r.verb === 'watch');
      assert.ok(
        watches.some((r) => (form === 'status' ? r.status === 410 : r.status === 200)),
        'a watch from the compacted version was refused',
      );
    });
  }

  it('an in-stream 410 on a healthy watch relists without errors', async () => {
    const emu = await emulator();
    const b = new ClusterBuilder();
    b.deployment('shop', 'web', ['10.212.9.1']);
    b.loadInto(emu);
    const { md, settings } = metadata(emu);
    await md.start();
    await waitFor('sync', () => md.synced());
    await waitFor('watching', () => emu.openWatches('services') === 1);
    emu.expireWatches('services');
    await waitFor('relist', () => state(md, 'services').relists === 1);
    await waitFor('watching again', () => emu.openWatches('services') === 1);
    assert.equal(counterValue(settings, 'loggerhead.k8s.relists', { resource: 'services' }), 1);
    assert.equal(counterValue(settings, 'loggerhead.k8s.watch.errors', { resource: 'services' }), 0);
    assert.equal(state(md, 'services').errors, 0);
    assert.equal(state(md, 'services').state, 'watching');
    assert.equal(describeOwner(md.lookupIp('10.212.9.1', Date.now())).endsWith('Deployment/web'), true);
  });

  it('bookmarks advance the resourceVersion: after compaction a re-watch needs no relist', async () => {
    const emu = await emulator();
    new ClusterBuilder().loadInto(emu);
    const { md } = metadata(emu);
    await md.start();
    await waitFor('sync', () => md.synced());
    await waitFor('watching', () => emu.openWatches('nodes') === 1);
    emu.create('pods', { metadata: { name: 'unrelated', namespace: 'x' } }); // moves the global resourceVersion on
    assert.equal(emu.bookmark('nodes', { force: true }), 1);
    await new Promise((r) => setTimeout(r, 100));
    emu.compact();
    emu.closeWatches('nodes');
    await waitFor('re-watch', () => emu.openWatches('nodes') === 1);
    assert.equal(state(md, 'nodes').relists, 0);
  });

  it('a first list that fails part-way leaves nothing of its pages behind once the retry succeeds', async () => {
    const emu = await emulator();
    const b = new ClusterBuilder();
    const web = b.deployment('shop', 'web', [
      '10.212.9.1',
      '10.212.9.2',
      '10.212.9.3',
      '10.212.9.4',
      '10.212.9.5',
    ]);
    b.loadInto(emu);
    // When the second page is asked for, a pod of the first page (already in the store) is deleted and
    // that request fails: the retried list no longer has the pod.
    let gone: KubeObject | undefined;
    const record = emu.requests.push.bind(emu.requests);
    emu.requests.push = (...records) => {
      for (const r of records) {
        const secondPage = r.resource === 'pods' && r.verb === 'list' && r.query.continue !== undefined;
        if (secondPage && gone === undefined) {
          gone = web.pods.find((p) => md.lookupIp(podIp(p), Date.now()) !== undefined);
          assert.ok(gone !== undefined, 'the first page is in the store before the list ends');
          const meta = gone.metadata as Record<string, unknown>;
          emu.delete('pods', String(meta.namespace), String(meta.name));
          emu.fail({ resource: 'pods', verb: 'list', status: 500 });
        }
      }
      return record(...records);
    };
    const { md } = metadata(emu, { listPageSize: 2 });
    await md.start();
    await waitFor('sync', () => md.synced());
    assert.equal(state(md, 'pods').errors, 1);
    assert.ok(gone !== undefined);
    const goneIp = podIp(gone);
    assert.equal(md.lookupIp(goneIp, Date.now() + 1000), undefined, `${goneIp} still resolves`);
    for (const pod of web.pods.filter((p) => podIp(p) !== goneIp))
      assert.match(describeOwner(md.lookupIp(podIp(pod), Date.now())), /Deployment\/web$/);
  });

  it('repeated 500s on lists are retried with growing delays, then everything resolves', async () => {
    const emu = await emulator();
    const cluster = realisticCluster();
    cluster.builder.loadInto(emu);
    emu.fail({ resource: 'pods', verb: 'list', status: 500, times: 5 });
    emu.fail({ resource: 'services', verb: 'watch', status: 503, times: 3 });
    const { md, settings } = metadata(emu);
    await md.start();
    await waitFor('sync', () => md.synced());
    await waitFor('names', () => resolvesAll(md, cluster.expected));
    await waitFor('all watching', () => md.watchStates().every((w) => w.state === 'watching'));
    assert.equal(state(md, 'pods').errors, 5);
    assert.equal(state(md, 'services').errors, 3);
    assert.equal(state(md, 'services').relists, 0, 'a failed watch resumes from its resourceVersion');
    const times = emu.requests.filter((r) => r.resource === 'pods' && r.verb === 'list').map((r) => r.timeMs);
    const gaps = times.slice(1, 6).map((t, i) => t - (times[i] as number));
    // Backoff ceilings 50, 100, 200, 400, 400 ms with jitter in [ceiling/2, ceiling].
    assert.ok(gaps.length === 5, `gaps ${gaps.join(',')}`);
    assert.ok((gaps[0] as number) >= 20 && (gaps[3] as number) >= 190, `gaps ${gaps.join(',')}`);
    assert.ok(gaps.reduce((a, b) => a + b, 0) >= 570, `gaps ${gaps.join(',')}`);
    assert.equal(warnings(settings, 'pods'), 1);
    assert.equal(warnings(settings, 'services'), 1);
    const errors = settings.registry.collect().find((m) => m.name === 'loggerhead.k8s.watch.errors');
    assert.equal(errors?.points.find((p) => p.attributes.resource === 'pods')?.value, 5);
    // Each retried list of pods is a relist; a failed watch resumes without one.
    assert.equal(counterValue(settings, 'loggerhead.k8s.relists', { resource: 'pods' }), 5);
    assert.equal(counterValue(settings, 'loggerhead.k8s.relists', { resource: 'services' }), 0);
  });

  it('hostile objects neither crash nor mis-attribute', async () => {
    const emu = await emulator();
    const b = new ClusterBuilder();
    const good = b.deployment('shop', 'web', ['10.212.10.1']);
    // Listed at start: long (but valid) and unicode names, several controllers, a cycle, a missing owner.
    // 236 characters: its pods are named `<deployment>-<10-char hash>-<5 chars>`, exactly the 253 allowed.
    const long = 'l'.repeat(236);
    b.deployment('shop', long, ['10.212.10.2']);
    b.pod('ünï-☕', 'pöd-😀', { ip: '10.212.10.3' });
    const twoControllers = b.pod('shop', 'two-controllers', { ip: '10.212.10.4' });
    (twoControllers.metadata as Record<string, unknown>).ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: 'u-a', controller: true },
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'b', uid: 'u-b', controller: true },
    ];
    const cycleRs = { metadata: { name: 'cyc-rs', namespace: 'shop', uid: 'u-cyc-rs' } } as KubeObject;
    const cycleDeploy = { metadata: { name: 'cyc', namespace: 'shop', uid: 'u-cyc' } } as KubeObject;
    (cycleRs.metadata as Record<string, unknown>).ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'cyc', uid: 'u-cyc', controller: true },
    ];
    (cycleDeploy.metadata as Record<string, unknown>).ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'cyc-rs', uid: 'u-cyc-rs', controller: true },
    ];
    b.objects.push(
      { resource: 'replicasets', object: cycleRs },
      { resource: 'deployments', object: cycleDeploy },
    );
    b.pod('shop', 'in-cycle', { ip: '10.212.10.5', owner: { object: cycleRs, resource: 'replicasets' } });
    const orphanRs = { metadata: { name: 'orphan-rs', namespace: 'shop', uid: 'u-orphan' } } as KubeObject;
    b.pod('shop', 'orphan', { ip: '10.212.10.6', owner: { object: orphanRs, resource: 'replicasets' } });
    b.loadInto(emu);
    const { md, settings } = metadata(emu);
    await md.start();
    await waitFor('sync', () => md.synced());
    const at = Date.now();
    const name = (o: KubeObject) => String((o.metadata as Record<string, unknown>).name);
    assert.equal(
      describeOwner(md.lookupIp('10.212.10.1', at)),
      `pod shop/${name(good.pods[0] as KubeObject)} Deployment/web`,
    );
    assert.match(describeOwner(md.lookupIp('10.212.10.2', at)), new RegExp(`Deployment/${long}$`));
    assert.equal(describeOwner(md.lookupIp('10.212.10.3', at)), 'pod ünï-☕/pöd-😀 Pod/pöd-😀');
    assert.equal(
      describeOwner(md.lookupIp('10.212.10.4', at)),
      'pod shop/two-controllers Pod/two-controllers',
    );
    assert.equal(describeOwner(md.lookupIp('10.212.10.5', at)), 'pod shop/in-cycle ReplicaSet/cyc-rs');
    assert.equal(describeOwner(md.lookupIp('10.212.10.6', at)), 'pod shop/orphan ReplicaSet/orphan-rs');

    // Over the watch: objects the API server would never send.
    emu.create('pods', {
      metadata: { name: 'x'.repeat(5000), namespace: 'shop' },
      status: { podIP: '10.212.10.7' },
    });
    emu.create('pods', {
      metadata: { name: 'no-uid', namespace: 'shop', uid: null },
      status: { podIP: '10.212.10.8' },
    });
    emu.create('pods', {
      metadata: {
        name: 'garbage',
        namespace: 'shop',
        ownerReferences: 'not a list',
        creationTimestamp: 'never',
      },
      spec: [1, 2],
      status: { podIP: { nested: true }, podIPs: 'x', phase: 7 },
    });
    emu.create('pods', {
      metadata: {
        name: 'bad-ref',
        namespace: 'shop',
        ownerReferences: [{ controller: true, kind: 'ReplicaSet' }],
      },
      status: { podIP: '10.212.10.9' },
    });
    emu.create('endpointslices', { metadata: { name: 'weird', namespace: 'shop' }, endpoints: 'none' });
    emu.create('nodes', {
      metadata: { name: 'n-odd' },
      status: { addresses: [{ type: 'InternalIP', address: 'nope' }] },
    });
    emu.create('pods', { metadata: { name: 'after', namespace: 'shop' }, status: { podIP: '10.212.10.10' } });
    await waitFor('later pod', () => md.lookupIp('10.212.10.10', Date.now() + 1000) !== undefined);
    assert.equal(md.lookupIp('10.212.10.7', Date.now() + 1000), undefined);
    assert.equal(md.lookupIp('10.212.10.8', Date.now() + 1000), undefined);
    assert.equal(
      describeOwner(md.lookupIp('10.212.10.9', Date.now() + 1000)),
      'pod shop/bad-ref Pod/bad-ref',
    );
    const rejected = settings.registry.collect().find((m) => m.name === 'loggerhead.k8s.objects.rejected');
    assert.deepEqual(
      rejected?.points.map((p) => `${p.attributes.resource} ${p.attributes.reason} ${p.value}`).sort(),
      ['pods bad metadata.name 1', 'pods bad metadata.uid 1'],
    );
    assert.ok(md.watchStates().every((w) => w.errors === 0));
  });

  it('stop() is safe before start and twice, and stops all traffic', async () => {
    const emu = await emulator();
    const { md } = metadata(emu);
    await md.stop();
    await md.stop();
    await md.start();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(emu.requests.length, 0, 'a stopped source does not start');
    const second = metadata(emu).md;
    await second.start();
    await waitFor('sync', () => second.synced());
    await waitFor('watches', () => emu.openWatches() === WATCHED_RESOURCES.length);
    await second.stop();
    await waitFor('watches closed', () => emu.openWatches() === 0);
    assert.ok(second.watchStates().every((w) => w.state === 'stopped'));
  });

  it('a kubeconfig that cannot be loaded is a clear error at creation', () => {
    assert.throws(
      () => loadKubeConfig('/nonexistent/kubeconfig.yaml'),
      /cannot load kubeconfig \/nonexistent\/kubeconfig.yaml: .*ENOENT/,
    );
  });
});

describe('detectCluster', () => {
  it('finds a kubeconfig whose server answers, even with a 401', async () => {
    const emu = await emulator();
    assert.deepEqual(await detectCluster({ kubeconfig: emu.writeKubeconfig(), timeoutMs: 2000 }), {
      found: true,
      source: 'kubeconfig',
      server: emu.url,
    });
    const wrong = await emulator({ token: 'other' });
    const path = wrong.writeKubeconfig();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, wrong.kubeconfig().replace('"other"', '"bad-token"'));
    assert.equal((await detectCluster({ kubeconfig: path, timeoutMs: 2000 })).found, true);
  });

  it('reports why it found none', async () => {
    const emu = await emulator();
    const path = emu.writeKubeconfig();
    await emu.pause();
    const down = await detectCluster({ kubeconfig: path, timeoutMs: 2000 });
    assert.equal(down.found, false);
    assert.match(down.found ? '' : down.reason, /did not answer.*ECONNREFUSED/);
    const none = await detectCluster({ kubeconfig: '/nonexistent/config', timeoutMs: 500 });
    assert.deepEqual(none, { found: false, reason: 'no kubeconfig at /nonexistent/config' });
    const home = await detectCluster({ env: { HOME: '/nonexistent-home' } });
    assert.deepEqual(home, { found: false, reason: 'no kubeconfig at /nonexistent-home/.kube/config' });
  });

  it('in a pod, the service environment is enough', async () => {
    assert.deepEqual(
      await detectCluster({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } }),
      {
        found: true,
        source: 'in-cluster',
        server: 'https://10.96.0.1:443',
      },
    );
  });
});
