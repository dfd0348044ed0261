import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IpOwner } from './metadata.ts';
import type { ControllerInput, ControllerLink, EndpointSliceInput, PodInput } from './objects.ts';
import type { StoreOptions } from './store.ts';
import { MetadataStore } from './store.ts';

function clockAt(start: number): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v) };
}

function newStore(extra: Partial<StoreOptions> = {}) {
  const clock = clockAt(1_000_000);
  const store = new MetadataStore({ ownerDepth: 'workload', now: clock.now, ...extra });
  return { store, clock };
}

const link = (kind: string, name: string, uid: string): ControllerLink => ({ kind, name, uid });

function pod(
  name: string,
  ip: string | undefined,
  controller: ControllerLink,
  extra: Partial<PodInput> = {},
): PodInput {
  return {
    uid: `u-${name}`,
    name,
    namespace: 'shop',
    nodeName: 'node-a',
    hostNetwork: false,
    ips: ip === undefined ? [] : [ip],
    terminated: false,
    creationMs: 0,
    controller,
    ...extra,
  };
}

function ctl(kind: ControllerInput['kind'], name: string, controller?: ControllerLink): ControllerInput {
  return { kind, name, uid: `u-${name}`, namespace: 'shop', controller };
}

function slice(
  uid: string,
  service: string,
  readyPodUids: string[],
  readyOtherIps: string[] = [],
): EndpointSliceInput {
  return { uid, namespace: 'shop', serviceName: service, readyPodUids, readyOtherIps };
}

/** `kind:name workload` for assertions. */
function describeOwner(o: IpOwner | undefined): string {
  if (o === undefined) return 'none';
  if (o.kind === 'pod') return `pod:${o.pod.name} ${o.pod.workload.kind}/${o.pod.workload.name}`;
  if (o.kind === 'service') {
    const b = o.service.backing;
    return `service:${o.service.name} ${b === undefined ? '-' : `${b.kind}/${b.name}`}`;
  }
  return `node:${o.node.name}`;
}

function webDeployment(store: MetadataStore): void {
  store.upsertController(ctl('Deployment', 'web'));
  store.upsertController(ctl('ReplicaSet', 'web-7d9f', link('Deployment', 'web', 'u-web')));
}

describe('MetadataStore: pods and owners', () => {
  it('pod IP -> pod -> ReplicaSet -> Deployment', () => {
    const { store } = newStore();
    webDeployment(store);
    store.upsertPod(pod('web-7d9f-a', '10.1.0.1', link('ReplicaSet', 'web-7d9f', 'u-web-7d9f')));
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 2_000_000)), 'pod:web-7d9f-a Deployment/web');
  });

  it('pods listed before their controllers resolve fully once the controllers arrive', () => {
    const { store } = newStore();
    store.upsertPod(pod('web-7d9f-a', '10.1.0.1', link('ReplicaSet', 'web-7d9f', 'u-web-7d9f')));
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 2e6)), 'pod:web-7d9f-a ReplicaSet/web-7d9f');
    webDeployment(store);
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 2e6)), 'pod:web-7d9f-a Deployment/web');
    assert.equal(store.podByUid('u-web-7d9f-a')?.workload.name, 'web');
  });

  it('pods of one workload share one WorkloadRef object', () => {
    const { store } = newStore();
    webDeployment(store);
    const rs = link('ReplicaSet', 'web-7d9f', 'u-web-7d9f');
    store.upsertPod(pod('a', '10.1.0.1', rs));
    store.upsertPod(pod('b', '10.1.0.2', rs));
    const a = store.lookupIp('10.1.0.1', 2e6);
    const b = store.lookupIp('10.1.0.2', 2e6);
    assert.ok(a?.kind === 'pod' && b?.kind === 'pod');
    assert.equal(a.pod.workload, b.pod.workload);
  });

  it('owner_depth pod names the pod', () => {
    const { store } = newStore({ ownerDepth: 'pod' });
    webDeployment(store);
    store.upsertPod(pod('web-7d9f-a', '10.1.0.1', link('ReplicaSet', 'web-7d9f', 'u-web-7d9f')));
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 2e6)), 'pod:web-7d9f-a Pod/web-7d9f-a');
  });

  it('Job -> CronJob, StatefulSet, DaemonSet, bare pod', () => {
    const { store } = newStore();
    store.upsertController(ctl('CronJob', 'report'));
    store.upsertController(ctl('Job', 'report-1', link('CronJob', 'report', 'u-report')));
    store.upsertController(ctl('StatefulSet', 'db'));
    store.upsertController(ctl('DaemonSet', 'agent'));
    store.upsertPod(pod('report-1-x', '10.1.0.1', link('Job', 'report-1', 'u-report-1')));
    store.upsertPod(pod('db-0', '10.1.0.2', link('StatefulSet', 'db', 'u-db')));
    store.upsertPod(pod('agent-x', '10.1.0.3', link('DaemonSet', 'agent', 'u-agent')));
    store.upsertPod(pod('debug', '10.1.0.4', undefined));
    assert.deepEqual(
      ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4'].map((ip) => describeOwner(store.lookupIp(ip, 2e6))),
      [
        'pod:report-1-x CronJob/report',
        'pod:db-0 StatefulSet/db',
        'pod:agent-x DaemonSet/agent',
        'pod:debug Pod/debug',
      ],
    );
  });

  it('a pod adopted by another controller is renamed', () => {
    const { store } = newStore();
    webDeployment(store);
    store.upsertPod(pod('p', '10.1.0.1', undefined));
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 2e6)), 'pod:p Pod/p');
    store.upsertPod(pod('p', '10.1.0.1', link('ReplicaSet', 'web-7d9f', 'u-web-7d9f')));
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 2e6)), 'pod:p Deployment/web');
  });

  it('a pod whose Deployment and ReplicaSet were deleted first (cascading delete) keeps its Deployment name', () => {
    const { store, clock } = newStore();
    webDeployment(store);
    store.upsertPod(pod('web-7d9f-a', '10.1.0.1', link('ReplicaSet', 'web-7d9f', 'u-web-7d9f')));
    clock.set(3e6);
    store.deleteController('u-web');
    store.deleteController('u-web-7d9f');
    clock.set(3.5e6);
    store.deletePod('u-web-7d9f-a');
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 3.2e6)), 'pod:web-7d9f-a Deployment/web');
    assert.equal(store.lookupIp('10.1.0.1', 3.6e6), undefined);
    assert.deepEqual(store.stats().controllersByKind, { Deployment: 0, ReplicaSet: 0 });
  });
});

describe('MetadataStore: IP reuse and tombstones', () => {
  it('a deleted pod keeps its IP for earlier times; a new pod reusing it owns it from then on', () => {
    const { store, clock } = newStore();
    store.upsertPod(pod('old', '10.1.0.9', undefined, { creationMs: 1_000_000 }));
    clock.set(5_000_000);
    store.deletePod('u-old');
    clock.set(5_000_500);
    store.upsertPod(pod('new', '10.1.0.9', undefined, { creationMs: 4_999_000 }));
    assert.equal(describeOwner(store.lookupIp('10.1.0.9', 2_000_000)), 'pod:old Pod/old');
    assert.equal(describeOwner(store.lookupIp('10.1.0.9', 4_999_500)), 'pod:old Pod/old');
    assert.equal(describeOwner(store.lookupIp('10.1.0.9', 5_000_000)), 'pod:new Pod/new');
    assert.equal(describeOwner(store.lookupIp('10.1.0.9', 9e9)), 'pod:new Pod/new');
    assert.equal(store.lookupIp('10.1.0.9', 500_000), undefined, 'before the old pod existed');
    assert.equal(store.podByUid('u-old')?.name, 'old', 'a deleted pod is still found by UID');
  });

  it('a new pod that gets the IP before the old one is seen deleted takes over from that moment', () => {
    const { store, clock } = newStore();
    store.upsertPod(pod('old', '10.1.0.9', undefined, { creationMs: 1_000_000 }));
    clock.set(5_000_000);
    store.upsertPod(pod('new', '10.1.0.9', undefined, { creationMs: 4_000_000 }));
    clock.set(5_100_000);
    store.deletePod('u-old');
    assert.equal(describeOwner(store.lookupIp('10.1.0.9', 4_500_000)), 'pod:old Pod/old');
    assert.equal(describeOwner(store.lookupIp('10.1.0.9', 5_050_000)), 'pod:new Pod/new');
  });

  it('a finished pod (Succeeded/Failed) stops owning its IP but stays known by UID', () => {
    const { store, clock } = newStore();
    store.upsertPod(pod('job-x', '10.1.0.7', undefined));
    clock.set(2_000_000);
    store.upsertPod(pod('job-x', '10.1.0.7', undefined, { terminated: true }));
    assert.equal(describeOwner(store.lookupIp('10.1.0.7', 1_500_000)), 'pod:job-x Pod/job-x');
    assert.equal(store.lookupIp('10.1.0.7', 2_000_001), undefined);
    assert.equal(store.podByUid('u-job-x')?.name, 'job-x');
  });

  it('a pod that changes IP keeps the old one for earlier times', () => {
    const { store, clock } = newStore();
    store.upsertPod(pod('p', '10.1.0.1', undefined));
    clock.set(2e6);
    store.upsertPod(pod('p', '10.1.0.2', undefined));
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 1.5e6)), 'pod:p Pod/p');
    assert.equal(store.lookupIp('10.1.0.1', 2.5e6), undefined);
    assert.equal(describeOwner(store.lookupIp('10.1.0.2', 2.5e6)), 'pod:p Pod/p');
  });

  it('tombstones are bounded by age', () => {
    const { store, clock } = newStore({ tombstoneTtlMs: 60_000 });
    store.upsertPod(pod('old', '10.1.0.9', undefined));
    clock.set(2_000_000);
    store.deletePod('u-old');
    clock.set(2_060_000);
    store.prune();
    assert.equal(store.podByUid('u-old')?.name, 'old');
    assert.equal(describeOwner(store.lookupIp('10.1.0.9', 1_500_000)), 'pod:old Pod/old');
    clock.set(2_060_001);
    store.prune();
    assert.equal(store.podByUid('u-old'), undefined);
    assert.equal(store.lookupIp('10.1.0.9', 1_500_000), undefined);
    assert.deepEqual([store.stats().podTombstones, store.stats().ipTombstones], [0, 0]);
  });

  it('tombstones are bounded by count, oldest first', () => {
    const { store, clock } = newStore({ maxTombstones: 3 });
    for (let i = 0; i < 10; i++) {
      store.upsertPod(pod(`p${i}`, `10.1.1.${i}`, undefined));
      clock.set(1_000_000 + i + 1);
      store.deletePod(`u-p${i}`);
    }
    const s = store.stats();
    assert.deepEqual([s.pods, s.podTombstones, s.ipTombstones], [0, 3, 3]);
    assert.equal(store.podByUid('u-p6'), undefined);
    assert.equal(store.podByUid('u-p7')?.name, 'p7');
    assert.equal(describeOwner(store.lookupIp('10.1.1.9', 1_000_000)), 'pod:p9 Pod/p9');
    assert.equal(store.lookupIp('10.1.1.0', 1_000_000), undefined);
  });
});

describe('MetadataStore: nodes and hostNetwork pods', () => {
  it('node InternalIP and ExternalIP resolve to the node; a hostNetwork pod does not take them', () => {
    const { store } = newStore();
    store.upsertNode({ uid: 'u-n', name: 'node-a', addresses: ['10.0.0.10', '203.0.113.10'], creationMs: 0 });
    store.upsertController(ctl('DaemonSet', 'kube-proxy'));
    store.upsertPod(
      pod('kube-proxy-x', '10.0.0.10', link('DaemonSet', 'kube-proxy', 'u-kube-proxy'), {
        hostNetwork: true,
      }),
    );
    assert.equal(describeOwner(store.lookupIp('10.0.0.10', 2e6)), 'node:node-a');
    assert.equal(describeOwner(store.lookupIp('203.0.113.10', 2e6)), 'node:node-a');
    const p = store.podByUid('u-kube-proxy-x');
    assert.deepEqual(p?.workload, { kind: 'DaemonSet', name: 'kube-proxy', namespace: 'shop' });
    assert.equal(p?.hostNetwork, true);
  });

  it('a pod wins over a node on the same address', () => {
    const { store } = newStore();
    store.upsertNode({ uid: 'u-n', name: 'node-a', addresses: ['10.0.0.10'], creationMs: 0 });
    store.upsertPod(pod('odd', '10.0.0.10', undefined));
    assert.equal(describeOwner(store.lookupIp('10.0.0.10', 2e6)), 'pod:odd Pod/odd');
  });

  it('a deleted node keeps its address for earlier times only', () => {
    const { store, clock } = newStore();
    store.upsertNode({ uid: 'u-n', name: 'node-a', addresses: ['10.0.0.10'], creationMs: 0 });
    clock.set(2e6);
    store.deleteNode('u-n');
    assert.equal(describeOwner(store.lookupIp('10.0.0.10', 1.5e6)), 'node:node-a');
    assert.equal(store.lookupIp('10.0.0.10', 2.5e6), undefined);
  });

  it('a pod hands out its IPs as given: one IPv4 address (kept packed), dual-stack, none', () => {
    const { store } = newStore();
    store.upsertPod(pod('v4', '10.200.3.255', undefined));
    store.upsertPod(pod('dual', undefined, undefined, { ips: ['10.1.0.2', 'fd00::2'] }));
    store.upsertPod(pod('low', '0.0.0.1', undefined));
    store.upsertPod(pod('none', undefined, undefined));
    assert.deepEqual(
      ['u-v4', 'u-dual', 'u-low', 'u-none'].map((uid) => store.podByUid(uid)?.ips),
      [['10.200.3.255'], ['10.1.0.2', 'fd00::2'], ['0.0.0.1'], []],
    );
    store.upsertPod(pod('v4', '255.0.0.7', undefined));
    assert.deepEqual(store.podByUid('u-v4')?.ips, ['255.0.0.7']);
    assert.equal(describeOwner(store.lookupIp('255.0.0.7', 2e6)), 'pod:v4 Pod/v4');
    assert.equal(describeOwner(store.lookupIp('fd00::2', 2e6)), 'pod:dual Pod/dual');
  });

  it('IPv6 lookups accept any textual form', () => {
    const { store } = newStore();
    store.upsertPod(pod('v6', 'fd00::1:5', undefined));
    assert.equal(describeOwner(store.lookupIp('fd00::1:5', 2e6)), 'pod:v6 Pod/v6');
    assert.equal(describeOwner(store.lookupIp('FD00:0:0:0:0:0:1:5', 2e6)), 'pod:v6 Pod/v6');
    assert.equal(store.lookupIp('fd00::1:6', 2e6), undefined);
    assert.equal(store.lookupIp('not an ip', 2e6), undefined);
  });
});

describe('MetadataStore: Services and their backing workload', () => {
  function shop() {
    const s = newStore();
    webDeployment(s.store);
    s.store.upsertController(ctl('StatefulSet', 'db'));
    const rs = link('ReplicaSet', 'web-7d9f', 'u-web-7d9f');
    s.store.upsertPod(pod('web-a', '10.1.0.1', rs));
    s.store.upsertPod(pod('web-b', '10.1.0.2', rs));
    s.store.upsertPod(pod('db-0', '10.1.0.3', link('StatefulSet', 'db', 'u-db')));
    s.store.upsertService({
      uid: 'u-svc',
      name: 'web',
      namespace: 'shop',
      clusterIPs: ['10.96.0.10'],
      creationMs: 0,
    });
    return s;
  }

  it('ClusterIP -> Service, backed by the one workload behind its ready endpoints', () => {
    const { store } = shop();
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web -', 'no endpoints yet');
    store.upsertEndpointSlice(slice('es1', 'web', ['u-web-a']));
    store.upsertEndpointSlice(slice('es2', 'web', ['u-web-b']));
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web Deployment/web');
  });

  it('endpoints of two workloads: no backing; back to one: backing again', () => {
    const { store } = shop();
    store.upsertEndpointSlice(slice('es1', 'web', ['u-web-a', 'u-db-0']));
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web -');
    store.upsertEndpointSlice(slice('es1', 'web', ['u-web-a']));
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web Deployment/web');
    store.deleteEndpointSlice('es1');
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web -');
  });

  it('an endpoint whose pod is unknown gives no backing until the pod is known', () => {
    const { store } = shop();
    store.upsertEndpointSlice(slice('es1', 'web', ['u-web-a', 'u-web-c']));
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web -');
    store.upsertPod(pod('web-c', '10.1.0.4', link('ReplicaSet', 'web-7d9f', 'u-web-7d9f')));
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web Deployment/web');
  });

  it('endpoints without targetRef are resolved by address; a non-pod address means no backing', () => {
    const { store } = shop();
    store.upsertEndpointSlice(slice('es1', 'web', [], ['10.1.0.1', '10.1.0.2']));
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web Deployment/web');
    store.upsertEndpointSlice(slice('es1', 'web', [], ['10.1.0.1', '192.0.2.1']));
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web -');
  });

  it('a slice of another Service or without a Service label does not count', () => {
    const { store } = shop();
    store.upsertEndpointSlice(slice('es1', 'web', ['u-web-a']));
    store.upsertEndpointSlice(slice('es2', 'other', ['u-db-0']));
    store.upsertEndpointSlice(slice('es3', '', ['u-db-0']));
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web Deployment/web');
  });

  it('backing follows controller changes seen later', () => {
    const { store } = newStore();
    store.upsertPod(pod('web-a', '10.1.0.1', link('ReplicaSet', 'web-7d9f', 'u-web-7d9f')));
    store.upsertService({
      uid: 'u-svc',
      name: 'web',
      namespace: 'shop',
      clusterIPs: ['10.96.0.10'],
      creationMs: 0,
    });
    store.upsertEndpointSlice(slice('es1', 'web', ['u-web-a']));
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web ReplicaSet/web-7d9f');
    webDeployment(store);
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web Deployment/web');
  });

  it('a deleted Service keeps its ClusterIP for earlier times; a new Service on it owns later times', () => {
    const { store, clock } = shop();
    clock.set(3e6);
    store.deleteService('u-svc');
    clock.set(3.1e6);
    store.upsertService({
      uid: 'u-svc2',
      name: 'web2',
      namespace: 'shop',
      clusterIPs: ['10.96.0.10'],
      creationMs: 3e6,
    });
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 2e6)), 'service:web -');
    assert.equal(describeOwner(store.lookupIp('10.96.0.10', 3.05e6)), 'service:web2 -');
  });
});

describe('MetadataStore: hostile data', () => {
  it('ambiguous controllers and cycles never mis-attribute', () => {
    const { store } = newStore();
    store.upsertController(ctl('ReplicaSet', 'a', link('Deployment', 'b', 'u-b')));
    store.upsertController(ctl('Deployment', 'b', link('ReplicaSet', 'a', 'u-a')));
    store.upsertPod(pod('cyc', '10.1.0.1', link('ReplicaSet', 'a', 'u-a')));
    store.upsertPod(pod('amb', '10.1.0.2', 'ambiguous'));
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 2e6)), 'pod:cyc ReplicaSet/a');
    assert.equal(describeOwner(store.lookupIp('10.1.0.2', 2e6)), 'pod:amb Pod/amb');
  });

  it('a controller replaced under the same UID with another name is not confused with the old one', () => {
    const { store } = newStore();
    webDeployment(store);
    store.upsertPod(pod('p', '10.1.0.1', link('ReplicaSet', 'web-7d9f', 'u-web-7d9f')));
    store.upsertController({
      ...ctl('ReplicaSet', 'renamed', link('Deployment', 'evil', 'u-evil')),
      uid: 'u-web-7d9f',
    });
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 2e6)), 'pod:p ReplicaSet/web-7d9f');
  });

  it('long and unicode names are kept exactly', () => {
    const { store } = newStore();
    const long = 'a'.repeat(253);
    store.upsertController({
      kind: 'Deployment',
      name: long,
      uid: 'u-long',
      namespace: 'ñ-☕',
      controller: undefined,
    });
    store.upsertPod({
      ...pod('😀-pod', '10.1.0.1', link('Deployment', long, 'u-long')),
      namespace: 'ñ-☕',
    });
    const o = store.lookupIp('10.1.0.1', 2e6);
    assert.ok(o?.kind === 'pod');
    assert.deepEqual(o.pod.workload, { kind: 'Deployment', name: long, namespace: 'ñ-☕' });
    assert.equal(o.pod.name, '😀-pod');
  });

  it('two owners claiming one UID under different names are both followed by their own pods', () => {
    const { store } = newStore();
    store.upsertController(ctl('ReplicaSet', 'a'));
    store.upsertPod(pod('pa', '10.1.0.1', link('ReplicaSet', 'a', 'u-same')));
    store.upsertPod(pod('pb', '10.1.0.2', link('ReplicaSet', 'b', 'u-same')));
    store.upsertController({ ...ctl('ReplicaSet', 'a'), uid: 'u-same' });
    assert.equal(describeOwner(store.lookupIp('10.1.0.1', 2e6)), 'pod:pa ReplicaSet/a');
    // pb's owner reference names `b`, which the controller with that UID is not: it stops at `b`.
    assert.equal(describeOwner(store.lookupIp('10.1.0.2', 2e6)), 'pod:pb ReplicaSet/b');
  });

  it('deleting what was never added, twice, or out of order is harmless', () => {
    const { store } = newStore();
    store.deletePod('nope');
    store.deleteController('nope');
    store.deleteService('nope');
    store.deleteEndpointSlice('nope');
    store.deleteNode('nope');
    store.upsertPod(pod('p', '10.1.0.1', undefined));
    store.deletePod('u-p');
    store.deletePod('u-p');
    assert.deepEqual([store.stats().pods, store.stats().podTombstones], [0, 1]);
  });
});

describe('MetadataStore: live UIDs per kind (what a relist compares with)', () => {
  it('lists live objects of one kind only, without tombstones', () => {
    const { store } = newStore();
    store.upsertPod(pod('p1', '10.1.0.1', undefined));
    store.upsertPod(pod('p2', '10.1.0.2', undefined));
    store.deletePod('u-p2');
    store.upsertController(ctl('ReplicaSet', 'rs'));
    store.upsertController(ctl('Deployment', 'd1'));
    store.upsertController(ctl('Deployment', 'd2'));
    store.deleteController('u-d2');
    store.upsertService({
      uid: 'u-s',
      name: 's',
      namespace: 'shop',
      clusterIPs: ['10.96.0.1'],
      creationMs: 0,
    });
    store.upsertEndpointSlice(slice('u-es', 's', ['u-p1']));
    store.upsertEndpointSlice(slice('u-unlabelled', '', []));
    store.upsertNode({ uid: 'u-n', name: 'n', addresses: [], creationMs: 0 });
    assert.deepEqual(
      ['Pod', 'ReplicaSet', 'Deployment', 'Job', 'Service', 'EndpointSlice', 'Node'].map((k) =>
        store.liveUids(k),
      ),
      [['u-p1'], ['u-rs'], ['u-d1'], [], ['u-s'], ['u-es'], ['u-n']],
    );
  });
});
