/**
 * A simulated large cluster for benchmarks: Kubernetes objects shaped and
 * sized like real ones (a pod is about 3 KB of JSON with managedFields,
 * containers, conditions), generated one at a time so the generator itself
 * holds nothing.
 *
 * Composition for `nodes` N and `pods` P (defaults 5,000 and 150,000):
 * 3 DaemonSets on every node (two hostNetwork), 500 StatefulSets of 8 pods,
 * 200 CronJobs with 5 Jobs each (4 of them Succeeded), and the rest of the pods
 * in Deployments of 10 pods, each with its current ReplicaSet and two old ones
 * scaled to zero; one Service with one EndpointSlice per Deployment and
 * StatefulSet; 500 namespaces.
 */
import type { ResourceName } from '../test/support/k8s-emulator.ts';

export interface SimulatedCluster {
  nodes: number;
  pods: number;
  deployments: number;
  statefulSets: number;
  cronJobs: number;
  /** Pods that own their IP (not hostNetwork, not finished). */
  podIpsOwned: number;
}

const NAMESPACES = 500;
const STS = 500;
const STS_PODS = 8;
const CRONJOBS = 200;
const JOBS_PER_CRONJOB = 5;
const DEPLOY_PODS = 10;
const T = '2026-11-01T10:00:00Z';

export function shape(nodes: number, pods: number): SimulatedCluster {
  const fixed = 3 * nodes + STS * STS_PODS + CRONJOBS * JOBS_PER_CRONJOB;
  if (pods < fixed + DEPLOY_PODS)
    throw new Error(`pods must be at least ${fixed + DEPLOY_PODS} for ${nodes} nodes`);
  const deployments = Math.floor((pods - fixed) / DEPLOY_PODS);
  const total = fixed + deployments * DEPLOY_PODS;
  return {
    nodes,
    pods: total,
    deployments,
    statefulSets: STS,
    cronJobs: CRONJOBS,
    podIpsOwned: nodes + STS * STS_PODS + CRONJOBS + deployments * DEPLOY_PODS,
  };
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function uid(kind: number, i: number): string {
  return `${hex(kind, 8)}-${hex((i >>> 16) & 0xffff, 4)}-4${hex(i & 0xfff, 3)}-8${hex(i % 4096, 3)}-${hex((i * 2654435761) >>> 0, 12)}`;
}

/** Pod IPs 10.64.0.0/10, node IPs 172.20.0.0/14, ClusterIPs 10.96.0.0/12. */
export function podIp(i: number): string {
  return `10.${64 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`;
}
export function nodeIp(i: number): string {
  return `172.${20 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`;
}
export function serviceIp(i: number): string {
  return `10.${96 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`;
}

function ns(i: number): string {
  return `team-${i % NAMESPACES}`;
}

function ref(apiVersion: string, kind: string, name: string, id: string) {
  return [{ apiVersion, kind, name, uid: id, controller: true, blockOwnerDeletion: true }];
}

function managedFields(manager: string) {
  return [
    {
      manager,
      operation: 'Update',
      apiVersion: 'v1',
      time: T,
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': {
          'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} },
          'f:ownerReferences': {},
        },
        'f:spec': { 'f:containers': { 'k:{"name":"main"}': { '.': {}, 'f:image': {}, 'f:ports': {} } } },
      },
    },
    {
      manager: 'kubelet',
      operation: 'Update',
      apiVersion: 'v1',
      time: T,
      fieldsType: 'FieldsV1',
      subresource: 'status',
      fieldsV1: {
        'f:status': { 'f:conditions': {}, 'f:containerStatuses': {}, 'f:podIP': {}, 'f:podIPs': {} },
      },
    },
  ];
}

interface PodSpec {
  name: string;
  namespace: string;
  owner: ReturnType<typeof ref>;
  node: number;
  ip: string | undefined;
  hostNetwork: boolean;
  phase: string;
  id: string;
}

function pod(p: PodSpec): Record<string, unknown> {
  const app = p.name.replace(/-[a-z0-9]{5}$/, '');
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: p.id,
      resourceVersion: '1',
      creationTimestamp: T,
      labels: { app, 'pod-template-hash': '7d9f8c6b5d' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': T },
      ownerReferences: p.owner,
      managedFields: managedFields('kube-controller-manager'),
    },
    spec: {
      nodeName: `node-${p.node}`,
      hostNetwork: p.hostNetwork || undefined,
      serviceAccountName: 'default',
      containers: [
        {
          name: 'main',
          image: `registry.example.com/${app}:v1.2.3`,
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          env: [
            { name: 'LOG_LEVEL', value: 'info' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          ],
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          volumeMounts: [
            { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
          ],
        },
      ],
      volumes: [
        { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
      ],
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }],
    },
    status: {
      phase: p.phase,
      hostIP: nodeIp(p.node),
      podIP: p.ip,
      podIPs: p.ip === undefined ? undefined : [{ ip: p.ip }],
      startTime: T,
      conditions: [
        'PodReadyToStartContainers',
        'Initialized',
        'Ready',
        'ContainersReady',
        'PodScheduled',
      ].map((type) => ({ type, status: 'True', lastTransitionTime: T })),
      containerStatuses: [
        {
          name: 'main',
          ready: true,
          restartCount: 0,
          image: `registry.example.com/${app}:v1.2.3`,
          imageID: `registry.example.com/${app}@sha256:${'ab'.repeat(32)}`,
          containerID: `containerd://${'cd'.repeat(32)}`,
          started: true,
          state: { running: { startedAt: T } },
        },
      ],
      qosClass: 'Burstable',
    },
  };
}

function simple(
  name: string,
  namespace: string | undefined,
  id: string,
  extra: Record<string, unknown> = {},
) {
  const metadata: Record<string, unknown> = {
    name,
    uid: id,
    resourceVersion: '1',
    creationTimestamp: T,
    ...extra,
  };
  if (namespace !== undefined) metadata.namespace = namespace;
  return { metadata, spec: {}, status: {} };
}

/** Every object of the cluster, owners first, one at a time. */
export function* objects(
  shapeOf: SimulatedCluster,
): Generator<{ resource: ResourceName; object: Record<string, unknown> }> {
  const { nodes, deployments } = shapeOf;
  for (let n = 0; n < nodes; n++) {
    const addresses = [
      { type: 'InternalIP', address: nodeIp(n) },
      { type: 'Hostname', address: `node-${n}` },
    ];
    if (n % 5 === 0) addresses.push({ type: 'ExternalIP', address: `198.18.${(n >>> 8) & 255}.${n & 255}` });
    yield {
      resource: 'nodes',
      object: { ...simple(`node-${n}`, undefined, uid(1, n)), status: { addresses } },
    };
  }
  let podIndex = 0;
  const daemonSets = [
    { name: 'kube-proxy', hostNetwork: true },
    { name: 'node-exporter', hostNetwork: true },
    { name: 'cni-agent', hostNetwork: false },
  ];
  for (const [d, ds] of daemonSets.entries()) {
    const id = uid(2, d);
    yield { resource: 'daemonsets', object: simple(ds.name, 'kube-system', id) };
    const owner = ref('apps/v1', 'DaemonSet', ds.name, id);
    for (let n = 0; n < nodes; n++) {
      const i = podIndex++;
      yield {
        resource: 'pods',
        object: pod({
          name: `${ds.name}-${hex(n, 5)}`,
          namespace: 'kube-system',
          owner,
          node: n,
          ip: ds.hostNetwork ? nodeIp(n) : podIp(i),
          hostNetwork: ds.hostNetwork,
          phase: 'Running',
          id: uid(3, i),
        }),
      };
    }
  }
  for (let s = 0; s < STS; s++) {
    const id = uid(4, s);
    const name = `store-${s}`;
    yield { resource: 'statefulsets', object: simple(name, ns(s), id) };
    const owner = ref('apps/v1', 'StatefulSet', name, id);
    for (let k = 0; k < STS_PODS; k++) {
      const i = podIndex++;
      yield {
        resource: 'pods',
        object: pod({
          name: `${name}-${k}`,
          namespace: ns(s),
          owner,
          node: i % nodes,
          ip: podIp(i),
          hostNetwork: false,
          phase: 'Running',
          id: uid(3, i),
        }),
      };
    }
  }
  for (let c = 0; c < CRONJOBS; c++) {
    const id = uid(5, c);
    const name = `report-${c}`;
    yield { resource: 'cronjobs', object: simple(name, ns(c), id) };
    for (let j = 0; j < JOBS_PER_CRONJOB; j++) {
      const jobId = uid(6, c * JOBS_PER_CRONJOB + j);
      const jobName = `${name}-${29000000 + j}`;
      yield {
        resource: 'jobs',
        object: simple(jobName, ns(c), jobId, { ownerReferences: ref('batch/v1', 'CronJob', name, id) }),
      };
      const i = podIndex++;
      yield {
        resource: 'pods',
        object: pod({
          name: `${jobName}-${hex(i & 0xfffff, 5)}`,
          namespace: ns(c),
          owner: ref('batch/v1', 'Job', jobName, jobId),
          node: i % nodes,
          ip: podIp(i),
          hostNetwork: false,
          phase: j < JOBS_PER_CRONJOB - 1 ? 'Succeeded' : 'Running',
          id: uid(3, i),
        }),
      };
    }
  }
  for (let d = 0; d < deployments; d++) {
    const id = uid(7, d);
    const name = `svc-${d}-api`;
    const namespace = ns(d);
    yield { resource: 'deployments', object: simple(name, namespace, id) };
    const owner = ref('apps/v1', 'Deployment', name, id);
    for (let old = 1; old <= 2; old++) {
      yield {
        resource: 'replicasets',
        object: simple(`${name}-${hex(d * 3 + old, 10)}`, namespace, uid(8, d * 3 + old), {
          ownerReferences: owner,
        }),
      };
    }
    const rsName = `${name}-${hex(d * 3, 10)}`;
    const rsId = uid(8, d * 3);
    yield { resource: 'replicasets', object: simple(rsName, namespace, rsId, { ownerReferences: owner }) };
    const rsRef = ref('apps/v1', 'ReplicaSet', rsName, rsId);
    for (let k = 0; k < DEPLOY_PODS; k++) {
      const i = podIndex++;
      yield {
        resource: 'pods',
        object: pod({
          name: `${rsName}-${hex(k * 7919 + d, 5).slice(-5)}`,
          namespace,
          owner: rsRef,
          node: i % nodes,
          ip: podIp(i),
          hostNetwork: false,
          phase: 'Running',
          id: uid(3, i),
        }),
      };
    }
  }
  // Services and slices last: they name pods already generated, by index.
  const stsFirstPod = 3 * nodes;
  const deployFirstPod = stsFirstPod + STS * STS_PODS + CRONJOBS * JOBS_PER_CRONJOB;
  const services: Array<{ name: string; namespace: string; first: number; count: number }> = [];
  for (let s = 0; s < STS; s++)
    services.push({
      name: `store-${s}`,
      namespace: ns(s),
      first: stsFirstPod + s * STS_PODS,
      count: STS_PODS,
    });
  for (let d = 0; d < deployments; d++) {
    services.push({
      name: `svc-${d}-api`,
      namespace: ns(d),
      first: deployFirstPod + d * DEPLOY_PODS,
      count: DEPLOY_PODS,
    });
  }
  for (const [k, s] of services.entries()) {
    const id = uid(9, k);
    const ip = serviceIp(k);
    yield {
      resource: 'services',
      object: {
        ...simple(s.name, s.namespace, id),
        spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ports: [{ port: 80, targetPort: 8080 }] },
      },
    };
    const endpoints = [];
    for (let e = 0; e < s.count; e++) {
      const i = s.first + e;
      endpoints.push({
        addresses: [podIp(i)],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: `node-${i % shapeOf.nodes}`,
        targetRef: { kind: 'Pod', namespace: s.namespace, name: `p${i}`, uid: uid(3, i) },
      });
    }
    yield {
      resource: 'endpointslices',
      object: {
        ...simple(`${s.name}-${hex(k, 5)}`, s.namespace, uid(10, k), {
          labels: { 'kubernetes.io/service-name': s.name },
        }),
        addressType: 'IPv4',
        endpoints,
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    };
  }
}
