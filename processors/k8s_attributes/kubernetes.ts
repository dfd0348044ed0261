/**
 * The Kubernetes side of `k8s_attributes`: `@kubernetes/client-node` informers
 * (list + watch with resourceVersion) on Pods, Services, EndpointSlices, Nodes,
 * ReplicaSets, Deployments, StatefulSets, DaemonSets, Jobs and CronJobs, fed
 * into the pure `MetadataStore`.
 *
 * - Minimal records only. Each informer is client-node's own `ListWatch` (what
 *   `makeInformer` builds) given a `Watch` that reduces every event's object to
 *   its metadata plus the store's minimal input before the informer caches it,
 *   and a list function that pages (`limit`/`continue`) through client-node's
 *   generated API and reduces each page's JSON the same way (in a response
 *   middleware, before the client would build model objects), so no whole
 *   object outlives its page or event.
 * - client-node reconnects by itself after a server-side close, a client
 *   inactivity timeout and a 410 (relisting for the latter), but after any other
 *   error (5xx, list failure, connection refused) its informer stops. Here it is
 *   restarted with exponential backoff and jitter, bounded by `maxDelayMs`; the
 *   attempt counter resets once data flows again.
 * - `start()` resolves at once: informers run in the background, `synced()`
 *   turns true when every resource has been listed once. Nothing here throws
 *   after start; failures are counted and logged once per state change.
 */
import { homedir } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesListObject, KubernetesObject, RequestContext } from '@kubernetes/client-node';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  ListWatch,
  Observable,
  ResponseContext,
  VersionApi,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from '../../core/logger.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import type { ClusterMetadata, IpOwner, PodRecord, WatchState } from './metadata.ts';
import type { ControllerKind, Extracted } from './objects.ts';
import { controllerInput, endpointSliceInput, nodeInput, podInput, serviceInput } from './objects.ts';
import type { OwnerDepth } from './owners.ts';
import type { StoreStats } from './store.ts';
import { MetadataStore } from './store.ts';

export interface KubernetesMetadataOptions {
  /** Path of a kubeconfig. When absent: in-cluster config if `KUBERNETES_SERVICE_HOST` is set, else the default kubeconfig. */
  kubeconfig?: string;
  ownerDepth: OwnerDepth;
  logger: Logger;
  telemetry: Telemetry;
  /** Restart backoff after an informer error. @default { initialDelayMs: 1000, maxDelayMs: 60000 } */
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Items per list page. @default 500 */
  listPageSize?: number;
  /** A list request that has not answered by then is aborted (and retried). @default 60000 */
  listTimeoutMs?: number;
  /** See `StoreOptions`. */
  maxTombstones?: number;
  tombstoneTtlMs?: number;
  /** Clock for the store. @default Date.now */
  now?: () => number;
  /** Environment (for in-cluster detection). @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** `ClusterMetadata` plus the store's counts. */
export interface KubernetesMetadata extends ClusterMetadata {
  stats(): StoreStats;
}

/** What an informer's cache keeps per object: its key and version, and (until applied) its minimal input. */
interface Cached extends KubernetesObject {
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string };
  input: Extracted<unknown> | undefined;
}

type ListPage = { items: unknown[]; metadata?: { resourceVersion?: string; _continue?: string } };
type ListFn = (params: { limit: number; _continue?: string }, options: ListOptions) => Promise<ListPage>;
type ListOptions = {
  middleware: Array<{
    pre(c: RequestContext): Observable<RequestContext>;
    post(c: ResponseContext): Observable<ResponseContext>;
  }>;
  middlewareMergeStrategy: 'append';
};

interface ResourceSpec {
  /** Plural resource name, used in telemetry and logs. */
  resource: string;
  path: string;
  list(apis: Apis): ListFn;
  extract(obj: unknown): Extracted<unknown>;
  apply(store: MetadataStore, input: unknown): void;
  remove(store: MetadataStore, uid: string): void;
}

interface Apis {
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  discovery: DiscoveryV1Api;
}

function controllerSpec(
  resource: string,
  path: string,
  kind: ControllerKind,
  list: (a: Apis) => ListFn,
): ResourceSpec {
  return {
    resource,
    path,
    list,
    extract: (obj) => controllerInput(kind, obj),
    apply: (store, input) =>
      store.upsertController(input as Parameters<MetadataStore['upsertController']>[0]),
    remove: (store, uid) => store.deleteController(uid),
  };
}

/** Every resource watched, in the order informers start (owners before pods). */
const SPECS: readonly ResourceSpec[] = [
  {
    resource: 'nodes',
    path: '/api/v1/nodes',
    list: (a) => (p, o) => a.core.listNode(p, o as never),
    extract: nodeInput,
    apply: (store, input) => store.upsertNode(input as Parameters<MetadataStore['upsertNode']>[0]),
    remove: (store, uid) => store.deleteNode(uid),
  },
  controllerSpec(
    'deployments',
    '/apis/apps/v1/deployments',
    'Deployment',
    (a) => (p, o) => a.apps.listDeploymentForAllNamespaces(p, o as never),
  ),
  controllerSpec(
    'replicasets',
    '/apis/apps/v1/replicasets',
    'ReplicaSet',
    (a) => (p, o) => a.apps.listReplicaSetForAllNamespaces(p, o as never),
  ),
  controllerSpec(
    'statefulsets',
    '/apis/apps/v1/statefulsets',
    'StatefulSet',
    (a) => (p, o) => a.apps.listStatefulSetForAllNamespaces(p, o as never),
  ),
  controllerSpec(
    'daemonsets',
    '/apis/apps/v1/daemonsets',
    'DaemonSet',
    (a) => (p, o) => a.apps.listDaemonSetForAllNamespaces(p, o as never),
  ),
  controllerSpec(
    'cronjobs',
    '/apis/batch/v1/cronjobs',
    'CronJob',
    (a) => (p, o) => a.batch.listCronJobForAllNamespaces(p, o as never),
  ),
  controllerSpec(
    'jobs',
    '/apis/batch/v1/jobs',
    'Job',
    (a) => (p, o) => a.batch.listJobForAllNamespaces(p, o as never),
  ),
  {
    resource: 'pods',
    path: '/api/v1/pods',
    list: (a) => (p, o) => a.core.listPodForAllNamespaces(p, o as never),
    extract: podInput,
    apply: (store, input) => store.upsertPod(input as Parameters<MetadataStore['upsertPod']>[0]),
    remove: (store, uid) => store.deletePod(uid),
  },
  {
    resource: 'services',
    path: '/api/v1/services',
    list: (a) => (p, o) => a.core.listServiceForAllNamespaces(p, o as never),
    extract: serviceInput,
    apply: (store, input) => store.upsertService(input as Parameters<MetadataStore['upsertService']>[0]),
    remove: (store, uid) => store.deleteService(uid),
  },
  {
    resource: 'endpointslices',
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    list: (a) => (p, o) => a.discovery.listEndpointSliceForAllNamespaces(p, o as never),
    extract: endpointSliceInput,
    apply: (store, input) =>
      store.upsertEndpointSlice(input as Parameters<MetadataStore['upsertEndpointSlice']>[0]),
    remove: (store, uid) => store.deleteEndpointSlice(uid),
  },
];

/** The resources watched, in start order. */
export const WATCHED_RESOURCES: readonly string[] = SPECS.map((s) => s.resource);

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Namespace strings shared by every cached object of a namespace. */
const namespaces = new Map<string, string>();
function sharedNamespace(ns: string): string {
  const found = namespaces.get(ns);
  if (found !== undefined) return found;
  if (namespaces.size >= 65536) namespaces.clear();
  namespaces.set(ns, ns);
  return ns;
}

function reduce(spec: ResourceSpec, obj: unknown): Cached {
  const meta = (
    typeof obj === 'object' && obj !== null ? (obj as { metadata?: unknown }).metadata : undefined
  ) as Record<string, unknown> | undefined;
  return {
    metadata: {
      name: str(meta?.name),
      namespace: sharedNamespace(str(meta?.namespace)),
      resourceVersion: str(meta?.resourceVersion),
      uid: str(meta?.uid),
    },
    input: spec.extract(obj),
  };
}

/** client-node's Watch, with each object reduced before the informer sees it. */
class ReducingWatch extends Watch {
  private readonly spec: ResourceSpec;
  constructor(kc: KubeConfig, spec: ResourceSpec) {
    super(kc);
    this.spec = spec;
  }
  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      queryParams,
      (phase, obj) => {
        const reduced =
          phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? reduce(this.spec, obj) : obj;
        callback(phase, reduced);
      },
      done,
    );
  }
}

/** A short description of an error for logs: status code and message, no stack. */
function describe(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown; cause?: unknown };
  const status =
    typeof e.statusCode === 'number' ? e.statusCode : typeof e.code === 'number' ? e.code : undefined;
  let message = typeof e.message === 'string' ? e.message.split('\n')[0] : String(err);
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause !== undefined && typeof cause.code === 'string') message += ` (${cause.code})`;
  return status === undefined ? (message as string) : `HTTP ${status}: ${message}`;
}

function timeoutMiddleware(ms: number): ListOptions {
  return {
    middleware: [
      {
        pre: (c) => {
          c.setSignal(AbortSignal.timeout(ms));
          return new Observable(Promise.resolve(c));
        },
        post: (c) => new Observable(Promise.resolve(c)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/**
 * List options that abort after `ms`, and reduce a successful page's items
 * straight from its JSON, handing each to `onItem`: the client is handed the
 * page without items, so it never builds model objects for them (at 150,000
 * pods that halves what a full list allocates).
 */
function reducingListOptions(spec: ResourceSpec, ms: number, onItem: (c: Cached) => void): ListOptions {
  return {
    middleware: [
      {
        pre: (c) => {
          c.setSignal(AbortSignal.timeout(ms));
          return new Observable(Promise.resolve(c));
        },
        post: (r) =>
          new Observable(
            (async () => {
              if (r.httpStatusCode !== 200) return r;
              const page = JSON.parse(await r.body.text()) as { items?: unknown } & Record<string, unknown>;
              if (Array.isArray(page.items)) for (const item of page.items) onItem(reduce(spec, item));
              const rest = JSON.stringify({ ...page, items: [] });
              return new ResponseContext(r.httpStatusCode, r.headers, {
                text: async () => rest,
                binary: async () => Buffer.from(rest),
                stream: () => null,
              });
            })(),
          ),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** Loads the kubeconfig the options ask for; throws an error naming the source on failure. */
export function loadKubeConfig(
  kubeconfig: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
    else if (env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '')
      kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (e) {
    const source = kubeconfig !== undefined ? `kubeconfig ${kubeconfig}` : 'the default kubeconfig';
    throw new Error(`cannot load ${source}: ${describe(e)}`, { cause: e });
  }
  if (kc.getCurrentCluster() === null) {
    const source = kubeconfig !== undefined ? `kubeconfig ${kubeconfig}` : 'the default kubeconfig';
    throw new Error(`${source} has no current cluster (check current-context)`);
  }
  return kc;
}

const STATES: readonly WatchState['state'][] = ['listing', 'watching', 'backoff', 'stopped'];

interface Informer {
  spec: ResourceSpec;
  listWatch: ListWatch<Cached>;
  state: WatchState['state'];
  relists: number;
  errors: number;
  lists: number;
  synced: boolean;
  /** Consecutive failed attempts, for the backoff. */
  attempt: number;
  /** Errors since the last healthy state, for the recovery log line. */
  failing: number;
  failedThisAttempt: boolean;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Creates the Kubernetes metadata source. Loads the kubeconfig now (throwing a
 * clear error when it cannot); contacts the API only after `start()`.
 *
 * @example
 * const md = createKubernetesMetadata({ ownerDepth: 'workload', logger, telemetry });
 * await md.start(); // returns at once
 * md.lookupIp('10.1.2.3', Date.now()); // undefined until synced
 */
export function createKubernetesMetadata(options: KubernetesMetadataOptions): KubernetesMetadata {
  const kc = loadKubeConfig(options.kubeconfig, options.env);
  const initialDelayMs = options.retry?.initialDelayMs ?? 1000;
  const maxDelayMs = options.retry?.maxDelayMs ?? 60_000;
  const pageSize = options.listPageSize ?? 500;
  const listTimeoutMs = options.listTimeoutMs ?? 60_000;
  if (!(initialDelayMs > 0)) throw new Error(`retry.initialDelayMs must be > 0, got ${initialDelayMs}`);
  if (!(maxDelayMs >= initialDelayMs)) {
    throw new Error(`retry.maxDelayMs must be >= initialDelayMs (${initialDelayMs}), got ${maxDelayMs}`);
  }
  if (!(pageSize >= 1)) throw new Error(`listPageSize must be >= 1, got ${pageSize}`);

  const store = new MetadataStore({
    ownerDepth: options.ownerDepth,
    ...(options.now !== undefined ? { now: options.now } : {}),
    ...(options.maxTombstones !== undefined ? { maxTombstones: options.maxTombstones } : {}),
    ...(options.tombstoneTtlMs !== undefined ? { tombstoneTtlMs: options.tombstoneTtlMs } : {}),
  });
  const log = options.logger.child({ subsystem: 'kubernetes' });
  const t = options.telemetry;
  const relistCounter = t.counter('loggerhead.k8s.relists', {
    description: 'Full lists of a resource after its first one (410 Gone, restart after an error)',
    unit: '1',
  });
  const errorCounter = t.counter('loggerhead.k8s.watch.errors', {
    description: 'List or watch failures of an informer (each is retried with backoff)',
    unit: '1',
  });
  const rejectedCounter = t.counter('loggerhead.k8s.objects.rejected', {
    description: 'Objects ignored because a field the store needs was missing or invalid',
    unit: '1',
  });
  const apis: Apis = {
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    batch: kc.makeApiClient(BatchV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
  };
  let stopped = false;
  let started = false;
  let syncedLogged = false;

  const setState = (inf: Informer, state: WatchState['state']): void => {
    if (inf.state === state) return;
    const previous = inf.state;
    inf.state = state;
    if (state === 'watching' && previous === 'backoff') {
      log.info('kubernetes informer recovered', { resource: inf.spec.resource, errors: inf.failing });
      inf.failing = 0;
    }
  };

  const consume = (inf: Informer, obj: Cached): void => {
    const input = obj.input;
    if (input === undefined) return;
    obj.input = undefined;
    if (input.ok) {
      inf.spec.apply(store, input.value);
    } else {
      rejectedCounter.add(1, { resource: inf.spec.resource, reason: input.reason });
      if (obj.metadata.uid !== '') inf.spec.remove(store, obj.metadata.uid);
    }
  };

  const markHealthy = (inf: Informer): void => {
    inf.attempt = 0;
    setState(inf, 'watching');
  };

  const checkSynced = (): void => {
    if (syncedLogged || !informers.every((i) => i.synced)) return;
    syncedLogged = true;
    log.info('kubernetes metadata synced', { ...store.stats() });
  };

  const onError = (inf: Informer, err: unknown): void => {
    if (stopped) return;
    inf.failedThisAttempt = true;
    inf.errors++;
    inf.failing++;
    errorCounter.add(1, { resource: inf.spec.resource });
    if (inf.timer !== undefined) return;
    if (inf.state !== 'backoff') {
      log.warn('kubernetes informer failed; retrying with backoff', {
        resource: inf.spec.resource,
        error: describe(err),
      });
    }
    setState(inf, 'backoff');
    const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(inf.attempt, 30));
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    inf.attempt++;
    inf.timer = setTimeout(() => {
      inf.timer = undefined;
      run(inf);
    }, delay);
    inf.timer.unref();
  };

  const run = (inf: Informer): void => {
    if (stopped) return;
    inf.failedThisAttempt = false;
    inf.listWatch.start().then(
      () => {
        if (!inf.failedThisAttempt && !stopped) markHealthy(inf);
      },
      (err: unknown) => onError(inf, err),
    );
  };

  const informers: Informer[] = SPECS.map((spec) => {
    const list = spec.list(apis);
    const inf: Informer = {
      spec,
      listWatch: undefined as unknown as ListWatch<Cached>,
      state: 'listing',
      relists: 0,
      errors: 0,
      lists: 0,
      synced: false,
      attempt: 0,
      failing: 0,
      failedThisAttempt: false,
      timer: undefined,
    };
    const listFn = async (): Promise<KubernetesListObject<Cached>> => {
      if (inf.lists > 0) {
        inf.relists++;
        relistCounter.add(1, { resource: spec.resource });
      }
      inf.lists++;
      if (inf.state !== 'backoff') setState(inf, 'listing');
      const items: Cached[] = [];
      // While the informer's cache is empty (nothing listed yet), the list can only add: each page is
      // applied to the store as it arrives, and the minimal inputs become garbage page by page instead
      // of all being held until the list ends (at 150,000 pods, a second copy of the store at the peak).
      // A relist keeps client-node's order: deletes of vanished objects first, then adds and updates.
      const early = inf.listWatch.list().length === 0;
      const onItem = early
        ? (c: Cached) => {
            consume(inf, c);
            items.push(c);
          }
        : (c: Cached) => items.push(c);
      let resourceVersion = '';
      let next: string | undefined;
      try {
        do {
          const params: { limit: number; _continue?: string } = { limit: pageSize };
          if (next !== undefined) params._continue = next;
          const page = await list(params, reducingListOptions(spec, listTimeoutMs, onItem));
          if (resourceVersion === '') resourceVersion = page.metadata?.resourceVersion ?? '';
          const token = page.metadata?._continue;
          next = token !== undefined && token !== '' ? token : undefined;
        } while (next !== undefined);
      } catch (e) {
        // An early-applied list that failed part-way: its objects never reach the informer's cache, so
        // nothing would delete them if they vanish before the next list. Take them out of the store.
        if (early) for (const c of items) if (c.metadata.uid !== '') spec.remove(store, c.metadata.uid);
        throw e;
      }
      if (!inf.synced) {
        inf.synced = true;
        queueMicrotask(checkSynced);
      }
      // A relist client-node did by itself (after a 410) is followed at once by its watch. After an
      // error, `run` decides once the restarted informer is up.
      if (inf.state === 'listing') setState(inf, 'watching');
      return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion }, items };
    };
    inf.listWatch = new ListWatch<Cached>(spec.path, new ReducingWatch(kc, spec), listFn, false);
    inf.listWatch.on('add', (obj) => {
      consume(inf, obj);
      if (inf.state === 'backoff' && !inf.failedThisAttempt) markHealthy(inf);
    });
    inf.listWatch.on('update', (obj) => consume(inf, obj));
    inf.listWatch.on('delete', (obj) => {
      if (obj.metadata.uid !== '') spec.remove(store, obj.metadata.uid);
    });
    inf.listWatch.on('error', (err) => onError(inf, err));
    return inf;
  });

  t.observeGauge(
    'loggerhead.k8s.watch.state',
    { description: 'Informer state per resource: 1 for the current state, 0 for the others', unit: '1' },
    () =>
      informers.flatMap((inf) =>
        STATES.map((state) => ({
          value: inf.state === state ? 1 : 0,
          attributes: { resource: inf.spec.resource, state },
        })),
      ),
  );
  t.observeGauge(
    'loggerhead.k8s.objects',
    { description: 'Objects held by the metadata store, by kind', unit: '1' },
    () => {
      const s = store.stats();
      return [
        { value: s.pods, attributes: { kind: 'Pod' } },
        { value: s.services, attributes: { kind: 'Service' } },
        { value: s.endpointSlices, attributes: { kind: 'EndpointSlice' } },
        { value: s.nodes, attributes: { kind: 'Node' } },
        ...Object.entries(s.controllersByKind).map(([kind, value]) => ({ value, attributes: { kind } })),
      ];
    },
  );
  t.observeGauge(
    'loggerhead.k8s.ip_tombstones',
    { description: 'Ended IP claims kept to name connections opened before a pod was deleted', unit: '1' },
    () => [{ value: store.stats().ipTombstones }],
  );

  return {
    lookupIp: (ip: string, timeMs: number): IpOwner | undefined => store.lookupIp(ip, timeMs),
    podByUid: (uid: string): PodRecord | undefined => store.podByUid(uid),
    synced: () => informers.every((i) => i.synced),
    watchStates: () =>
      informers.map((i) => ({
        resource: i.spec.resource,
        state: i.state,
        relists: i.relists,
        errors: i.errors,
      })),
    stats: () => store.stats(),
    start: async () => {
      if (started || stopped) return;
      started = true;
      log.info('starting kubernetes informers', {
        server: kc.getCurrentCluster()?.server ?? '',
        resources: WATCHED_RESOURCES.length,
      });
      for (const inf of informers) run(inf);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      for (const inf of informers) {
        if (inf.timer !== undefined) clearTimeout(inf.timer);
        inf.timer = undefined;
        inf.state = 'stopped';
      }
      await Promise.all(informers.map((i) => i.listWatch.stop()));
    },
  };
}

export type ClusterDetection =
  { found: true; source: 'in-cluster' | 'kubeconfig'; server: string } | { found: false; reason: string };

/**
 * Whether a Kubernetes API is available, for `mode: auto`: in-cluster
 * (`KUBERNETES_SERVICE_HOST` set and no kubeconfig given), or a kubeconfig
 * (`kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`) whose server
 * answers `GET /version` within `timeoutMs` (any HTTP answer counts, even 401:
 * the cluster is there, and informer errors will say what is wrong). Never throws.
 */
export async function detectCluster(
  options: { kubeconfig?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ClusterDetection> {
  const env = options.env ?? process.env;
  const host = env.KUBERNETES_SERVICE_HOST;
  if (options.kubeconfig === undefined && host !== undefined && host !== '') {
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    return {
      found: true,
      source: 'in-cluster',
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    };
  }
  const path =
    options.kubeconfig ??
    (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '' ? env.KUBECONFIG.split(':')[0] : undefined) ??
    join(env.HOME ?? homedir(), '.kube', 'config');
  if (!existsSync(path as string)) return { found: false, reason: `no kubeconfig at ${path}` };
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(path);
  } catch (e) {
    return { found: false, reason: describe(e) };
  }
  const server = kc.getCurrentCluster()?.server ?? '';
  try {
    await kc.makeApiClient(VersionApi).getCode({}, timeoutMiddleware(options.timeoutMs ?? 2000) as never);
    return { found: true, source: 'kubeconfig', server };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return { found: true, source: 'kubeconfig', server };
    return { found: false, reason: `${server} did not answer: ${describe(e)}` };
  }
}
