/**
 * The Kubernetes side of `k8s_attributes`: informers through
 * `@kubernetes/client-node` on Pods, Services, EndpointSlices, Nodes,
 * ReplicaSets, Deployments, StatefulSets, DaemonSets, Jobs and CronJobs, fed
 * into the pure `MetadataStore`. Minimal records, never whole objects.
 *
 * - Each informer is a list+watch loop on client-node's `KubeConfig` (kubeconfig
 *   or in-cluster config, authentication, TLS) and `Watch` (the event stream);
 *   the list pages (`limit`/`continue`) through client-node's own fetch
 *   (`IsomorphicFetchHttpLibrary` with a `RequestContext` the `KubeConfig`
 *   authenticated). client-node's `ListWatch`/`makeInformer` is not used: its
 *   cache would hold a copy of every object's key and version beside the store.
 *   Here the store is the only state: each list item and watch event is reduced
 *   to the store's minimal input and applied at once, so no object outlives its
 *   page or event. A list page is read as a stream (`JsonListParser`): items
 *   are parsed one at a time as their bytes arrive, never the page whole.
 *   client-node is loaded without its generated API models (`client-node.ts`).
 * - A loop: list (first time, or after a 410) from which it keeps the
 *   resourceVersion, then watch from it with bookmarks (which move the
 *   resourceVersion on). A watch the server closes, or that the client ends
 *   after 30 s without data, is resumed from the resourceVersion; a 410 Gone (as
 *   an HTTP status or an in-stream `ERROR` event) relists. After a relist, the
 *   objects of that resource the store holds and the list did not return are
 *   deleted.
 * - Any other failure (5xx, refused connection, list timeout, a bad answer) is
 *   retried with exponential backoff and jitter, bounded by `maxDelayMs`,
 *   resuming the watch from its resourceVersion when it has one; the attempt
 *   counter resets once a watch is open again.
 * - `start()` resolves at once: informers run in the background, `synced()`
 *   turns true when every resource has been listed once. Nothing here throws
 *   after start; failures are counted and logged once per state change.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import type { Logger } from '../../core/logger.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import type { ResponseContext } from './client-node.ts';
import { HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, RequestContext, Watch } from './client-node.ts';
import { clusterSource } from './cluster-source.ts';
import { JsonListParser } from './json-stream.ts';
import type { ParsedList } from './json-stream.ts';
import type { ClusterMetadata, IpOwner, PodRecord, WatchState } from './metadata.ts';
import type { ControllerKind, Extracted } from './objects.ts';
import { controllerInput, endpointSliceInput, nodeInput, podInput, serviceInput } from './objects.ts';
import type { OwnerDepth } from './owners.ts';
import type { StoreStats } from './store.ts';
import { MetadataStore } from './store.ts';
import { collectGarbage, trimNativeHeap } from '../../core/memory.ts';
import { limitHeapGrowth } from './heap-growth.ts';

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
  /** A list page that has not fully arrived by then is aborted (and the list retried). @default 60000 */
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

interface ResourceSpec {
  /** Plural resource name, used in telemetry and logs. */
  resource: string;
  /** Kind, as the store counts it (`MetadataStore.liveUids`). */
  kind: string;
  path: string;
  extract(obj: unknown): Extracted<unknown>;
  apply(store: MetadataStore, input: unknown): void;
  remove(store: MetadataStore, uid: string): void;
}

function controllerSpec(resource: string, path: string, kind: ControllerKind): ResourceSpec {
  return {
    resource,
    kind,
    path,
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
    kind: 'Node',
    path: '/api/v1/nodes',
    extract: nodeInput,
    apply: (store, input) => store.upsertNode(input as Parameters<MetadataStore['upsertNode']>[0]),
    remove: (store, uid) => store.deleteNode(uid),
  },
  controllerSpec('deployments', '/apis/apps/v1/deployments', 'Deployment'),
  controllerSpec('replicasets', '/apis/apps/v1/replicasets', 'ReplicaSet'),
  controllerSpec('statefulsets', '/apis/apps/v1/statefulsets', 'StatefulSet'),
  controllerSpec('daemonsets', '/apis/apps/v1/daemonsets', 'DaemonSet'),
  controllerSpec('cronjobs', '/apis/batch/v1/cronjobs', 'CronJob'),
  controllerSpec('jobs', '/apis/batch/v1/jobs', 'Job'),
  {
    resource: 'pods',
    kind: 'Pod',
    path: '/api/v1/pods',
    extract: podInput,
    apply: (store, input) => store.upsertPod(input as Parameters<MetadataStore['upsertPod']>[0]),
    remove: (store, uid) => store.deletePod(uid),
  },
  {
    resource: 'services',
    kind: 'Service',
    path: '/api/v1/services',
    extract: serviceInput,
    apply: (store, input) => store.upsertService(input as Parameters<MetadataStore['upsertService']>[0]),
    remove: (store, uid) => store.deleteService(uid),
  },
  {
    resource: 'endpointslices',
    kind: 'EndpointSlice',
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    extract: endpointSliceInput,
    apply: (store, input) =>
      store.upsertEndpointSlice(input as Parameters<MetadataStore['upsertEndpointSlice']>[0]),
    remove: (store, uid) => store.deleteEndpointSlice(uid),
  },
];

/** The resources watched, in start order. */
export const WATCHED_RESOURCES: readonly string[] = SPECS.map((s) => s.resource);

type Json = Record<string, unknown>;

function isJson(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `metadata[key]` when it is a non-empty string, else ''. */
function metaString(obj: unknown, key: string): string {
  const meta = isJson(obj) ? obj.metadata : undefined;
  const v = isJson(meta) ? meta[key] : undefined;
  return typeof v === 'string' ? v : '';
}

/** An error answer of the API: its status code and the message of its `Status` body. */
class ApiError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
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

const http = new IsomorphicFetchHttpLibrary();

/**
 * GET `url` with the kubeconfig's authentication and TLS (a `RequestContext`
 * from `authenticated`, or a fresh one), aborted by `signal` (while the body
 * is read too); the answer, its body not read yet.
 */
async function send(
  kc: KubeConfig,
  url: string,
  signal: AbortSignal,
  authenticated?: RequestContext,
): Promise<ResponseContext> {
  const ctx = new RequestContext(url, HttpMethod.GET);
  if (authenticated === undefined) {
    await kc.applySecurityAuthentication(ctx);
  } else {
    for (const [name, value] of Object.entries(authenticated.getHeaders())) ctx.setHeaderParam(name, value);
    const dispatcher = authenticated.getDispatcher();
    if (dispatcher !== undefined) ctx.setDispatcher(dispatcher);
  }
  ctx.setHeaderParam('Accept', 'application/json');
  ctx.setSignal(signal);
  return http.send(ctx).toPromise();
}

/**
 * Reads a list answer as it arrives (`JsonListParser`): `onItem` gets each
 * item at once, never the page whole; returns the list's other members.
 * Errors name the path.
 */
async function readList(
  path: string,
  response: ResponseContext,
  onItem: (item: unknown) => void,
): Promise<ParsedList> {
  const parser = new JsonListParser(onItem);
  const body = response.body.stream();
  try {
    // Leaving the loop (an error, an abort) cancels the body, which closes the connection.
    if (body !== null) {
      for await (const chunk of body) parser.write(chunk);
    }
    return parser.end();
  } catch (e) {
    if (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError')) throw e;
    throw new Error(`list ${path}: ${describe(e)}`, { cause: e });
  }
}

/** The error for a non-200 answer, with the `Status` message when the body has one. */
function apiError(status: number, text: string): ApiError {
  let message = '';
  try {
    const body = JSON.parse(text) as unknown;
    if (isJson(body) && typeof body.message === 'string') message = body.message;
  } catch {
    // Not JSON: the status says enough.
  }
  return new ApiError(status, message === '' ? text.slice(0, 200) : message);
}

/** Where a pod finds its service account (the kubelet mounts it; client-node and client-go read the same). */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Loads the config the options ask for: the kubeconfig given; else, in a pod
 * (`KUBERNETES_SERVICE_HOST` set in `env`), the in-cluster config: the server
 * `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` (from `env`, as
 * `clusterSource` says), verified with the service account's `ca.crt`,
 * authenticated by its `token` (read again once the copy held is a minute
 * old: bound tokens rotate); else the default kubeconfig. Throws an error naming the source,
 * and the file, on failure.
 */
export function loadKubeConfig(
  kubeconfig: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): KubeConfig {
  const kc = new KubeConfig();
  const where = clusterSource(kubeconfig, env);
  if (where.kind === 'in-cluster') {
    const token = `${SERVICE_ACCOUNT_DIR}/token`;
    const caFile = `${SERVICE_ACCOUNT_DIR}/ca.crt`;
    for (const [file, what] of [
      [token, 'service account token'],
      [caFile, 'cluster CA certificate'],
    ] as const) {
      try {
        accessSync(file, constants.R_OK);
      } catch (e) {
        throw new Error(
          `cannot load the in-cluster config (KUBERNETES_SERVICE_HOST is set, server ${where.server}): ` +
            `the ${what} ${file} is not readable (${(e as NodeJS.ErrnoException).code}): ` +
            'mount the service account (automountServiceAccountToken: true), or give a kubeconfig',
          { cause: e },
        );
      }
    }
    // client-node's loadFromCluster reads process.env, not `env`: the same config, from `env`.
    kc.loadFromOptions({
      clusters: [{ name: 'in-cluster', server: where.server, caFile, skipTLSVerify: false }],
      users: [{ name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: token } } }],
      contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'service-account' }],
      currentContext: 'in-cluster',
    });
    return kc;
  }
  const source = kubeconfig !== undefined ? `kubeconfig ${kubeconfig}` : 'the default kubeconfig';
  try {
    if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new Error(`cannot load ${source}: ${describe(e)}`, { cause: e });
  }
  if (kc.getCurrentCluster() === null) {
    throw new Error(`${source} has no current cluster (check current-context)`);
  }
  return kc;
}

const STATES: readonly WatchState['state'][] = ['listing', 'watching', 'backoff', 'stopped'];

/**
 * How a watch ended without an error: `resume` (closed by the server, or by
 * the client after 30 s without data: watch again from the resourceVersion),
 * `empty` (closed at once with nothing in it: the same, after a backoff delay),
 * `expired` (410 Gone: relist) or `stopped`.
 */
type WatchEnd = 'resume' | 'empty' | 'expired' | 'stopped';

/**
 * Bytes of list answers read by all lists, beyond which the native heap is
 * trimmed between pages, and a full garbage collection runs once no list is in
 * progress.
 */
const TRIM_EVERY_LIST_BYTES = 16 * 1024 * 1024;
const COLLECT_AFTER_LIST_BYTES = 16 * 1024 * 1024;

/** How long after a list garbage collections are followed by a trim of the native heap, and how often at most. */
const TRIM_WINDOW_MS = 120_000;
const TRIM_INTERVAL_MS = 5000;

/** A watch closed by the server before this, with no event, counts as `empty`. */
const SHORT_WATCH_MS = 1000;

interface Informer {
  spec: ResourceSpec;
  state: WatchState['state'];
  relists: number;
  errors: number;
  lists: number;
  synced: boolean;
  /** Where the next watch starts; `undefined` when a (re)list is needed. */
  resourceVersion: string | undefined;
  /** Consecutive failed attempts (or short empty watches), for the backoff. */
  attempt: number;
  /** Errors since the last healthy state, for the recovery log line. */
  failing: number;
  /** Aborts the list or watch in flight. */
  abort: AbortController | undefined;
  /** Ends the backoff wait in progress. */
  wake: (() => void) | undefined;
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
  const server = (kc.getCurrentCluster()?.server ?? '').replace(/\/+$/, '');
  const initialDelayMs = options.retry?.initialDelayMs ?? 1000;
  const maxDelayMs = options.retry?.maxDelayMs ?? 60_000;
  const pageSize = options.listPageSize ?? 500;
  const listTimeoutMs = options.listTimeoutMs ?? 60_000;
  if (!(initialDelayMs > 0)) throw new Error(`retry.initialDelayMs must be > 0, got ${initialDelayMs}`);
  if (!(maxDelayMs >= initialDelayMs)) {
    throw new Error(`retry.maxDelayMs must be >= initialDelayMs (${initialDelayMs}), got ${maxDelayMs}`);
  }
  if (!(pageSize >= 1)) throw new Error(`listPageSize must be >= 1, got ${pageSize}`);
  if (!(listTimeoutMs > 0)) throw new Error(`listTimeoutMs must be > 0, got ${listTimeoutMs}`);

  const store = new MetadataStore({
    ownerDepth: options.ownerDepth,
    ...(options.now !== undefined ? { now: options.now } : {}),
    ...(options.maxTombstones !== undefined ? { maxTombstones: options.maxTombstones } : {}),
    ...(options.tombstoneTtlMs !== undefined ? { tombstoneTtlMs: options.tombstoneTtlMs } : {}),
  });
  const log = options.logger.child({ subsystem: 'kubernetes' });
  const t = options.telemetry;
  const relistCounter = t.counter('loggerhead.k8s.relists', {
    description: 'Full lists of a resource after its first one (after a 410 Gone, or retrying a failed list)',
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
  const watcher = new Watch(kc);
  let stopped = false;
  let started = false;
  /** Store writes and syncs so far: `ClusterMetadata.version`. */
  let changes = 0;
  let syncedLogged = false;
  let trimWindowEndMs = 0;
  /** Lists in progress, and list bytes read since the last trim and the last full collection. */
  let listing = 0;
  let bytesSinceTrim = 0;
  let bytesSinceCollect = 0;
  let lastTrimMs = 0;
  let gcWatch: PerformanceObserver | undefined;
  let trimTimer: NodeJS.Timeout | undefined;

  const trim = (): void => {
    trimTimer = undefined;
    lastTrimMs = Date.now();
    trimNativeHeap();
  };

  /** A trim now, or when `TRIM_INTERVAL_MS` have passed since the last one. */
  const trimSoon = (): void => {
    if (trimTimer !== undefined) return;
    trimTimer = setTimeout(trim, Math.max(0, lastTrimMs + TRIM_INTERVAL_MS - Date.now()));
    trimTimer.unref();
  };

  /**
   * Gives the memory lists used back once the last list in progress ends: a
   * full garbage collection when they read more than
   * `COLLECT_AFTER_LIST_BYTES` (else their dead items and response chunks, tens
   * of MB, stay resident until V8's next major collection, which an idle agent
   * may not run for minutes; not while other lists run, whose items it would
   * only promote), then the native heap's free memory at once, and again after
   * the garbage collections of the next 2 minutes (at most every 5 s), which
   * free the rest of what the lists used.
   */
  const releaseAfterList = (): void => {
    if (listing > 0) return;
    if (bytesSinceCollect > COLLECT_AFTER_LIST_BYTES) {
      bytesSinceCollect = 0;
      collectGarbage();
    }
    lastTrimMs = Date.now();
    trimNativeHeap();
    if (stopped) return;
    trimWindowEndMs = Date.now() + TRIM_WINDOW_MS;
    trimSoon();
    if (gcWatch !== undefined) return;
    gcWatch = new PerformanceObserver(() => {
      if (Date.now() <= trimWindowEndMs) {
        trimSoon();
        return;
      }
      gcWatch?.disconnect();
      gcWatch = undefined;
    });
    gcWatch.observe({ entryTypes: ['gc'] });
  };

  const setState = (inf: Informer, state: WatchState['state']): void => {
    if (inf.state === state) return;
    const previous = inf.state;
    inf.state = state;
    if (state === 'watching' && previous === 'backoff') {
      log.info('kubernetes informer recovered', { resource: inf.spec.resource, errors: inf.failing });
      inf.failing = 0;
    }
  };

  /** Reduces an added or modified object to its minimal input and applies it; its UID when applied. */
  const apply = (inf: Informer, obj: unknown): string | undefined => {
    changes++;
    const input = inf.spec.extract(obj);
    if (input.ok) {
      inf.spec.apply(store, input.value);
      return (input.value as { uid: string }).uid;
    }
    rejectedCounter.add(1, { resource: inf.spec.resource, reason: input.reason });
    // An object that was usable and no longer is must not keep its old record.
    const uid = metaString(obj, 'uid');
    if (uid !== '') inf.spec.remove(store, uid);
    return undefined;
  };

  const checkSynced = (): void => {
    if (syncedLogged || !informers.every((i) => i.synced)) return;
    syncedLogged = true;
    log.info('kubernetes metadata synced', { ...store.stats() });
  };

  /**
   * A full paged list: reads each page as it arrives and applies each item at
   * once (a page never exists whole, as text or objects), then, after the last
   * page, deletes what vanished. A list that fails part-way (a broken or
   * truncated page included) keeps what it applied: the retried list deletes
   * what it no longer has. V8's heap growth is capped while lists run
   * (`limitHeapGrowth`).
   */
  const list = async (inf: Informer, signal: AbortSignal): Promise<void> => {
    const { spec } = inf;
    if (inf.lists > 0) {
      inf.relists++;
      relistCounter.add(1, { resource: spec.resource });
    }
    inf.lists++;
    if (inf.state !== 'backoff') setState(inf, 'listing');
    const authenticated = new RequestContext(server + spec.path, HttpMethod.GET);
    await kc.applySecurityAuthentication(authenticated);
    const seen = new Set<string>();
    let resourceVersion = '';
    let next: string | undefined;
    // V8's heap growth is capped while any list runs (holds nest).
    const releaseHeapGrowth = limitHeapGrowth();
    listing++;
    try {
      do {
        const url = new URL(server + spec.path);
        url.searchParams.set('limit', String(pageSize));
        if (next !== undefined) url.searchParams.set('continue', next);
        const pageSignal = AbortSignal.any([signal, AbortSignal.timeout(listTimeoutMs)]);
        const response = await send(kc, url.toString(), pageSignal, authenticated);
        const status = response.httpStatusCode;
        if (status !== 200) throw apiError(status, await response.body.text());
        const { members, items, bytes } = await readList(spec.path, response, (item) => {
          const uid = apply(inf, item);
          if (uid !== undefined) seen.add(uid);
        });
        bytesSinceCollect += bytes;
        bytesSinceTrim += bytes;
        // The response chunks of earlier pages are free by now: malloc keeps them resident until trimmed.
        if (bytesSinceTrim > TRIM_EVERY_LIST_BYTES) {
          bytesSinceTrim = 0;
          trimNativeHeap();
        }
        const metadata = members.get('metadata');
        const meta = isJson(metadata) ? metadata : {};
        if (items === undefined || typeof meta.resourceVersion !== 'string') {
          throw new Error(`list ${spec.path}: the answer is not a list with a resourceVersion`);
        }
        if (resourceVersion === '') resourceVersion = meta.resourceVersion;
        next = typeof meta.continue === 'string' && meta.continue !== '' ? meta.continue : undefined;
      } while (next !== undefined);
    } finally {
      listing--;
      releaseHeapGrowth();
      // A TLS dispatcher made for this list; closing it can only fail if it is already closed.
      await authenticated
        .getDispatcher()
        ?.close()
        .catch(() => undefined);
    }
    for (const uid of store.liveUids(spec.kind)) if (!seen.has(uid)) spec.remove(store, uid);
    changes++;
    inf.resourceVersion = resourceVersion;
    if (!inf.synced) {
      inf.synced = true;
      queueMicrotask(checkSynced);
    }
    releaseAfterList();
  };

  /** One watch from `inf.resourceVersion`; resolves with what to do next when the stream ends without an error. */
  const watch = (inf: Informer, abort: AbortController): Promise<WatchEnd> =>
    new Promise<WatchEnd>((resolve, reject) => {
      const { spec } = inf;
      const openedMs = Date.now();
      let events = 0;
      let expired = false;
      let failure: ApiError | undefined;
      let request: AbortController | undefined;
      let ended = false;
      const finish = (end: WatchEnd | Error): void => {
        if (ended) return;
        ended = true;
        request?.abort();
        if (end instanceof Error) reject(end);
        else resolve(end);
      };
      abort.signal.addEventListener('abort', () => finish('stopped'), { once: true });
      const onEvent = (type: string, obj: unknown): void => {
        if (ended) return;
        if (type === 'ERROR') {
          const code = isJson(obj) ? obj.code : undefined;
          if (code === 410) expired = true;
          else {
            const message = isJson(obj) && typeof obj.message === 'string' ? obj.message : 'ERROR event';
            failure = new ApiError(typeof code === 'number' ? code : 500, `watch ${spec.path}: ${message}`);
          }
          return;
        }
        events++;
        if (type === 'ADDED' || type === 'MODIFIED') apply(inf, obj);
        else if (type === 'DELETED') {
          const uid = metaString(obj, 'uid');
          if (uid !== '') spec.remove(store, uid);
          changes++;
        }
        const version = metaString(obj, 'resourceVersion');
        if (version !== '') inf.resourceVersion = version;
      };
      const done = (err: unknown): void => {
        const status = isJson(err) ? (err.statusCode ?? err.code) : undefined;
        if (status === 410 || expired) finish('expired');
        else if (failure !== undefined) finish(failure);
        else if (isJson(err) && err.name === 'TimeoutError') finish('resume');
        else if (err !== null && err !== undefined)
          finish(err instanceof Error ? err : new Error(describe(err)));
        else finish(events === 0 && Date.now() - openedMs < SHORT_WATCH_MS ? 'empty' : 'resume');
      };
      const query = { resourceVersion: inf.resourceVersion, allowWatchBookmarks: true };
      watcher.watch(spec.path, query, onEvent, done).then(
        (opened) => {
          if (ended) {
            opened.abort();
            return;
          }
          request = opened;
          inf.attempt = 0;
          setState(inf, 'watching');
        },
        (err: unknown) => done(err ?? new Error(`watch ${spec.path} failed`)),
      );
    });

  const sleep = (inf: Informer, ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        inf.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      inf.wake = () => {
        clearTimeout(timer);
        inf.wake = undefined;
        resolve();
      };
    });

  /** The next backoff delay: a ceiling doubling per attempt up to `maxDelayMs`, jittered in [ceiling/2, ceiling]. */
  const backoff = (inf: Informer): number => {
    const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(inf.attempt, 30));
    inf.attempt++;
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  };

  const failed = (inf: Informer, err: unknown): void => {
    inf.errors++;
    inf.failing++;
    errorCounter.add(1, { resource: inf.spec.resource });
    if (inf.state !== 'backoff') {
      log.warn('kubernetes informer failed; retrying with backoff', {
        resource: inf.spec.resource,
        error: describe(err),
      });
    }
    setState(inf, 'backoff');
  };

  /** The informer's loop: never rejects, ends on stop. */
  const run = async (inf: Informer): Promise<void> => {
    while (!stopped) {
      const abort = new AbortController();
      inf.abort = abort;
      try {
        if (inf.resourceVersion === undefined) await list(inf, abort.signal);
        if (stopped) break;
        const end = await watch(inf, abort);
        if (end === 'expired') inf.resourceVersion = undefined;
        else if (end === 'empty') await sleep(inf, backoff(inf));
      } catch (err) {
        if (stopped) break;
        failed(inf, err);
        await sleep(inf, backoff(inf));
      } finally {
        inf.abort = undefined;
      }
    }
  };

  const informers: Informer[] = SPECS.map((spec) => ({
    spec,
    state: 'listing',
    relists: 0,
    errors: 0,
    lists: 0,
    synced: false,
    resourceVersion: undefined,
    attempt: 0,
    failing: 0,
    abort: undefined,
    wake: undefined,
  }));
  const loops: Array<Promise<void>> = [];

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
    get version() {
      return changes;
    },
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
      log.info('starting kubernetes informers', { server, resources: WATCHED_RESOURCES.length });
      for (const inf of informers) loops.push(run(inf));
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      gcWatch?.disconnect();
      gcWatch = undefined;
      clearTimeout(trimTimer);
      for (const inf of informers) {
        inf.state = 'stopped';
        inf.abort?.abort();
        inf.wake?.();
      }
      await Promise.all(loops);
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
  const source = clusterSource(options.kubeconfig, options.env ?? process.env);
  if (source.kind === 'in-cluster') return { found: true, source: 'in-cluster', server: source.server };
  const path = source.path;
  if (!existsSync(path)) return { found: false, reason: `no kubeconfig at ${path}` };
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(path);
  } catch (e) {
    return { found: false, reason: describe(e) };
  }
  const server = kc.getCurrentCluster()?.server ?? '';
  try {
    const signal = AbortSignal.timeout(options.timeoutMs ?? 2000);
    const response = await send(kc, `${server.replace(/\/+$/, '')}/version`, signal);
    await response.body.text();
    return { found: true, source: 'kubeconfig', server };
  } catch (e) {
    return { found: false, reason: `${server} did not answer: ${describe(e)}` };
  }
}
