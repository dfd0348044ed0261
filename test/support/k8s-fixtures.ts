/**
 * Builds Kubernetes objects shaped like the real ones (ownerReferences with
 * UIDs, pod-template-hash names, EndpointSlices labelled with their Service,
 * node addresses, pod phases) for the API emulator, and a realistic cluster
 * made of them.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { KubeApiEmulator, KubeObject, ResourceName } from './k8s-emulator.ts';
import { apiVersionOf, RESOURCES } from './k8s-emulator.ts';

export interface BuiltObject {
  resource: ResourceName;
  object: KubeObject;
}

/** What an IP should resolve to, as a test expects it. */
export interface ExpectedOwner {
  kind: 'pod' | 'service' | 'node';
  /** Pod, Service or node name. */
  name: string;
  namespace: string;
  /** The pod's workload, or the Service's backing workload ('' when none). */
  workload: string;
}

function suffix(seed: string, length: number): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const digest = createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[(digest[i] as number) % alphabet.length];
  return out;
}

function ownerRef(owner: KubeObject, resource: ResourceName): Record<string, unknown> {
  const meta = owner.metadata as Record<string, unknown>;
  return {
    apiVersion: apiVersionOf(resource),
    kind: RESOURCES[resource].kind,
    name: meta.name,
    uid: meta.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export interface PodOptions {
  ip?: string;
  node?: string;
  hostNetwork?: boolean;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  owner?: { object: KubeObject; resource: ResourceName };
  labels?: Record<string, string>;
}

/** Accumulates objects; `loadInto` creates them in an emulator in dependency order. */
export class ClusterBuilder {
  readonly objects: BuiltObject[] = [];

  private add(resource: ResourceName, object: KubeObject): KubeObject {
    this.objects.push({ resource, object });
    return object;
  }

  private meta(name: string, namespace: string | undefined, extra: Record<string, unknown> = {}) {
    const m: Record<string, unknown> = { name, uid: randomUUID(), ...extra };
    if (namespace !== undefined) m.namespace = namespace;
    return m;
  }

  node(name: string, addresses: { internalIP: string; externalIP?: string }): KubeObject {
    const list: Array<{ type: string; address: string }> = [
      { type: 'InternalIP', address: addresses.internalIP },
      { type: 'Hostname', address: name },
    ];
    if (addresses.externalIP !== undefined) list.push({ type: 'ExternalIP', address: addresses.externalIP });
    return this.add('nodes', {
      metadata: this.meta(name, undefined, { labels: { 'kubernetes.io/hostname': name } }),
      spec: { podCIDR: '10.212.0.0/24' },
      status: { addresses: list, conditions: [{ type: 'Ready', status: 'True' }] },
    });
  }

  pod(namespace: string, name: string, options: PodOptions = {}): KubeObject {
    const extra: Record<string, unknown> = { labels: options.labels ?? { app: name } };
    if (options.owner !== undefined)
      extra.ownerReferences = [ownerRef(options.owner.object, options.owner.resource)];
    const status: Record<string, unknown> = { phase: options.phase ?? 'Running' };
    if (options.ip !== undefined) {
      status.podIP = options.ip;
      status.podIPs = [{ ip: options.ip }];
    }
    return this.add('pods', {
      metadata: this.meta(name, namespace, extra),
      spec: {
        nodeName: options.node ?? 'node-a',
        hostNetwork: options.hostNetwork === true ? true : undefined,
        containers: [{ name: 'main', image: `registry.example/${name}:1.0` }],
      },
      status,
    });
  }

  /** A Deployment, its current ReplicaSet and one pod per IP (plus `oldReplicaSets` scaled to zero). */
  deployment(
    namespace: string,
    name: string,
    ips: readonly string[],
    options: { node?: string; oldReplicaSets?: number } = {},
  ): { deployment: KubeObject; replicaSet: KubeObject; pods: KubeObject[] } {
    const labels = { app: name };
    const deployment = this.add('deployments', {
      metadata: this.meta(name, namespace, { labels }),
      spec: { replicas: ips.length, selector: { matchLabels: labels } },
      status: { replicas: ips.length, readyReplicas: ips.length },
    });
    for (let i = 0; i < (options.oldReplicaSets ?? 0); i++) {
      this.add('replicasets', {
        metadata: this.meta(`${name}-${suffix(`${namespace}/${name}/old${i}`, 10)}`, namespace, {
          labels,
          ownerReferences: [ownerRef(deployment, 'deployments')],
        }),
        spec: { replicas: 0 },
        status: { replicas: 0 },
      });
    }
    const hash = suffix(`${namespace}/${name}`, 10);
    const replicaSet = this.add('replicasets', {
      metadata: this.meta(`${name}-${hash}`, namespace, {
        labels: { ...labels, 'pod-template-hash': hash },
        ownerReferences: [ownerRef(deployment, 'deployments')],
      }),
      spec: { replicas: ips.length },
      status: { replicas: ips.length },
    });
    const pods = ips.map((ip) => {
      const podOptions: PodOptions = {
        ip,
        owner: { object: replicaSet, resource: 'replicasets' },
        labels: { ...labels, 'pod-template-hash': hash },
      };
      if (options.node !== undefined) podOptions.node = options.node;
      return this.pod(namespace, `${name}-${hash}-${suffix(`${namespace}/${name}/${ip}`, 5)}`, podOptions);
    });
    return { deployment, replicaSet, pods };
  }

  statefulSet(
    namespace: string,
    name: string,
    ips: readonly string[],
  ): { statefulSet: KubeObject; pods: KubeObject[] } {
    const statefulSet = this.add('statefulsets', {
      metadata: this.meta(name, namespace, { labels: { app: name } }),
      spec: { replicas: ips.length, serviceName: name },
    });
    const pods = ips.map((ip, i) =>
      this.pod(namespace, `${name}-${i}`, { ip, owner: { object: statefulSet, resource: 'statefulsets' } }),
    );
    return { statefulSet, pods };
  }

  /** A DaemonSet with one pod per `{node, ip}`; `hostNetwork` pods carry their node's IP. */
  daemonSet(
    namespace: string,
    name: string,
    placements: ReadonlyArray<{ node: string; ip: string }>,
    options: { hostNetwork?: boolean } = {},
  ): { daemonSet: KubeObject; pods: KubeObject[] } {
    const daemonSet = this.add('daemonsets', {
      metadata: this.meta(name, namespace, { labels: { app: name } }),
      spec: { template: { spec: { hostNetwork: options.hostNetwork === true } } },
    });
    const pods = placements.map((p) =>
      this.pod(namespace, `${name}-${suffix(`${namespace}/${name}/${p.node}`, 5)}`, {
        ip: p.ip,
        node: p.node,
        hostNetwork: options.hostNetwork === true,
        owner: { object: daemonSet, resource: 'daemonsets' },
      }),
    );
    return { daemonSet, pods };
  }

  /** CronJob -> Job -> Pod. */
  cronJob(
    namespace: string,
    name: string,
    ip: string,
  ): { cronJob: KubeObject; job: KubeObject; pod: KubeObject } {
    const cronJob = this.add('cronjobs', {
      metadata: this.meta(name, namespace),
      spec: { schedule: '*/5 * * * *' },
    });
    const jobName = `${name}-29000000`;
    const job = this.add('jobs', {
      metadata: this.meta(jobName, namespace, { ownerReferences: [ownerRef(cronJob, 'cronjobs')] }),
      spec: { completions: 1 },
    });
    const pod = this.pod(namespace, `${jobName}-${suffix(`${namespace}/${jobName}`, 5)}`, {
      ip,
      owner: { object: job, resource: 'jobs' },
    });
    return { cronJob, job, pod };
  }

  /**
   * A Service with one EndpointSlice whose endpoints are `backends` (ready
   * unless listed in `notReady`). `clusterIP` 'None' makes it headless.
   */
  service(
    namespace: string,
    name: string,
    clusterIP: string,
    backends: readonly KubeObject[],
    options: { port?: number; notReady?: readonly KubeObject[] } = {},
  ): { service: KubeObject; slice: KubeObject } {
    const port = options.port ?? 8080;
    const service = this.add('services', {
      metadata: this.meta(name, namespace),
      spec: {
        type: 'ClusterIP',
        clusterIP,
        clusterIPs: [clusterIP],
        ports: [{ name: 'http', port, targetPort: port, protocol: 'TCP' }],
      },
    });
    const endpoint = (pod: KubeObject, ready: boolean): Record<string, unknown> => {
      const meta = pod.metadata as Record<string, unknown>;
      const status = pod.status as Record<string, unknown>;
      return {
        addresses: [status.podIP],
        conditions: { ready, serving: ready, terminating: false },
        nodeName: (pod.spec as Record<string, unknown>).nodeName,
        targetRef: { kind: 'Pod', namespace, name: meta.name, uid: meta.uid },
      };
    };
    const slice = this.add('endpointslices', {
      metadata: this.meta(`${name}-${suffix(`${namespace}/${name}`, 5)}`, namespace, {
        labels: {
          'kubernetes.io/service-name': name,
          'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
        },
        ownerReferences: [{ ...ownerRef(service, 'services'), blockOwnerDeletion: true }],
      }),
      addressType: 'IPv4',
      endpoints: [
        ...backends.map((p) => endpoint(p, true)),
        ...(options.notReady ?? []).map((p) => endpoint(p, false)),
      ],
      ports: [{ name: 'http', port, protocol: 'TCP' }],
    });
    return { service, slice };
  }

  /** Creates every object in the emulator, controllers and nodes before the pods that point at them. */
  loadInto(emulator: KubeApiEmulator): void {
    const order: ResourceName[] = [
      'nodes',
      'cronjobs',
      'jobs',
      'deployments',
      'replicasets',
      'statefulsets',
      'daemonsets',
      'pods',
      'services',
      'endpointslices',
    ];
    for (const resource of order) {
      for (const o of this.objects) if (o.resource === resource) emulator.create(resource, o.object);
    }
  }
}

/** A realistic small cluster and, for each of its IPs, what it must resolve to. */
export interface RealisticCluster {
  builder: ClusterBuilder;
  expected: ReadonlyMap<string, ExpectedOwner>;
  /** UID of the hostNetwork pod (kube-proxy on node-a) and its expected workload. */
  hostNetworkPod: { uid: string; name: string; workload: string };
}

function nameOf(o: KubeObject): string {
  return String((o.metadata as Record<string, unknown>).name);
}

/**
 * Two nodes; in `shop` the Deployments `checkout` and `catalog` (with an old
 * ReplicaSet scaled to zero), the StatefulSet `db`, Services `checkout`,
 * `catalog`, headless `db` and `frontdoor` (endpoints of two workloads, so no
 * single backing); in `kube-system` the DaemonSet `node-agent` and the
 * hostNetwork DaemonSet `kube-proxy`; in `batch` a CronJob -> Job -> Pod chain;
 * a bare pod `debug` in `default`. Addresses are all in 10.212.0.0/16.
 */
export function realisticCluster(): RealisticCluster {
  const b = new ClusterBuilder();
  const expected = new Map<string, ExpectedOwner>();
  b.node('node-a', { internalIP: '10.212.0.10', externalIP: '10.212.0.110' });
  b.node('node-b', { internalIP: '10.212.0.11' });
  expected.set('10.212.0.10', { kind: 'node', name: 'node-a', namespace: '', workload: '' });
  expected.set('10.212.0.110', { kind: 'node', name: 'node-a', namespace: '', workload: '' });
  expected.set('10.212.0.11', { kind: 'node', name: 'node-b', namespace: '', workload: '' });

  const expectPods = (pods: readonly KubeObject[], namespace: string, workload: string): void => {
    for (const p of pods) {
      const ip = String((p.status as Record<string, unknown>).podIP);
      expected.set(ip, { kind: 'pod', name: nameOf(p), namespace, workload });
    }
  };
  const checkout = b.deployment('shop', 'checkout', ['10.212.1.10', '10.212.1.11']);
  expectPods(checkout.pods, 'shop', 'Deployment/checkout');
  const catalog = b.deployment('shop', 'catalog', ['10.212.1.20', '10.212.1.21'], {
    node: 'node-b',
    oldReplicaSets: 2,
  });
  expectPods(catalog.pods, 'shop', 'Deployment/catalog');
  const db = b.statefulSet('shop', 'db', ['10.212.1.30', '10.212.1.31']);
  expectPods(db.pods, 'shop', 'StatefulSet/db');
  const agent = b.daemonSet('kube-system', 'node-agent', [
    { node: 'node-a', ip: '10.212.2.10' },
    { node: 'node-b', ip: '10.212.2.11' },
  ]);
  expectPods(agent.pods, 'kube-system', 'DaemonSet/node-agent');
  const proxy = b.daemonSet('kube-system', 'kube-proxy', [{ node: 'node-a', ip: '10.212.0.10' }], {
    hostNetwork: true,
  });
  const report = b.cronJob('batch', 'report', '10.212.3.10');
  expectPods([report.pod], 'batch', 'CronJob/report');
  const debug = b.pod('default', 'debug', { ip: '10.212.4.10', node: 'node-b' });
  expectPods([debug], 'default', 'Pod/debug');

  b.service('shop', 'checkout', '10.212.100.10', checkout.pods);
  expected.set('10.212.100.10', {
    kind: 'service',
    name: 'checkout',
    namespace: 'shop',
    workload: 'Deployment/checkout',
  });
  b.service('shop', 'catalog', '10.212.100.20', catalog.pods, { port: 3550 });
  expected.set('10.212.100.20', {
    kind: 'service',
    name: 'catalog',
    namespace: 'shop',
    workload: 'Deployment/catalog',
  });
  b.service('shop', 'db', 'None', db.pods, { port: 5432 });
  b.service('shop', 'frontdoor', '10.212.100.30', [...checkout.pods, ...catalog.pods]);
  expected.set('10.212.100.30', { kind: 'service', name: 'frontdoor', namespace: 'shop', workload: '' });

  const proxyPod = proxy.pods[0] as KubeObject;
  return {
    builder: b,
    expected,
    hostNetworkPod: {
      uid: String((proxyPod.metadata as Record<string, unknown>).uid),
      name: nameOf(proxyPod),
      workload: 'DaemonSet/kube-proxy',
    },
  };
}
