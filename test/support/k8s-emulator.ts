/**
 * An EMULATOR of the Kubernetes API server, for tests. No real API server (nor
 * kind, k3s, kwok, envtest) can be installed on these machines, so the real
 * `@kubernetes/client-node` informers are tested against this instead. It is
 * a `node:http` server on 127.0.0.1 (or `node:https` with a certificate the
 * test made, as a real API server is only reached over TLS) speaking the wire
 * protocol the real client uses, with an in-memory object store and an
 * etcd-like global resourceVersion.
 *
 * Behaviours reproduced (each one was observed from a real client, see
 * shared notes "test-infrastructure" section 4):
 * - Resources: core/v1 `pods`, `services`, `nodes`; discovery.k8s.io/v1
 *   `endpointslices`; apps/v1 `replicasets`, `deployments`, `statefulsets`,
 *   `daemonsets`; batch/v1 `jobs`, `cronjobs`. Cluster-wide lists
 *   (`/api/v1/pods`), namespaced lists (`/api/v1/namespaces/{ns}/pods`) and
 *   single GETs (`.../pods/{name}`); `nodes` are cluster-scoped.
 * - LIST: `200`, `Content-Type: application/json`, `{kind: PodList, apiVersion,
 *   metadata: {resourceVersion}, items}` with items sorted by namespace/name,
 *   `limit` + `continue` paging over a consistent snapshot (`remainingItemCount`),
 *   and `410 Expired` for a continue token older than the last compaction.
 * - WATCH (`?watch=true&resourceVersion=N`): headers flushed at once, chunked,
 *   one JSON event per line (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`,
 *   `ERROR`); replay of every event after N; `resourceVersion` empty or `0`
 *   starts with synthetic ADDED events for the current state; `timeoutSeconds`
 *   ends the stream.
 * - BOOKMARK events on demand (`bookmark()`), sent to watches that asked with
 *   `allowWatchBookmarks=true`, or to every watch when forced.
 * - 410 Gone when a watch starts from a resourceVersion older than the last
 *   compaction, or older than the bounded event window kept per resource
 *   (like the API server's watch cache), either as an HTTP 410 Status or as an
 *   in-stream `ERROR` event (code 410, reason Expired) followed by the end of
 *   the stream.
 * - Bearer-token authentication on every request (401 `Status` otherwise, as
 *   a real API server answers), the token each request presented recorded;
 *   `/version`.
 * - TLS (`tls` option): HTTPS with the given server certificate; handshakes
 *   the client gives up on (a certificate it does not trust) are recorded.
 * - Faults: HTTP errors (5xx or any status) on chosen requests, server-side
 *   close of open watches, in-stream 410 on open watches, and unavailability:
 *   the listener is closed (connection refused) and later reopened on the same
 *   port.
 *
 * Not reproduced: label and field selectors, server-side apply and writes over
 * HTTP (tests change objects through this class's methods), admission and
 * validation (hostile objects are served as given, on purpose), client
 * certificates, discovery documents.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ResourceName =
  | 'pods'
  | 'services'
  | 'nodes'
  | 'endpointslices'
  | 'replicasets'
  | 'deployments'
  | 'statefulsets'
  | 'daemonsets'
  | 'jobs'
  | 'cronjobs';

interface ResourceInfo {
  group: string;
  kind: string;
  namespaced: boolean;
}

export const RESOURCES: Readonly<Record<ResourceName, ResourceInfo>> = {
  pods: { group: '', kind: 'Pod', namespaced: true },
  services: { group: '', kind: 'Service', namespaced: true },
  nodes: { group: '', kind: 'Node', namespaced: false },
  endpointslices: { group: 'discovery.k8s.io', kind: 'EndpointSlice', namespaced: true },
  replicasets: { group: 'apps', kind: 'ReplicaSet', namespaced: true },
  deployments: { group: 'apps', kind: 'Deployment', namespaced: true },
  statefulsets: { group: 'apps', kind: 'StatefulSet', namespaced: true },
  daemonsets: { group: 'apps', kind: 'DaemonSet', namespaced: true },
  jobs: { group: 'batch', kind: 'Job', namespaced: true },
  cronjobs: { group: 'batch', kind: 'CronJob', namespaced: true },
};

export const RESOURCE_NAMES = Object.keys(RESOURCES) as ResourceName[];

/** `v1` or `group/v1`. */
export function apiVersionOf(resource: ResourceName): string {
  const group = RESOURCES[resource].group;
  return group === '' ? 'v1' : `${group}/v1`;
}

/** The cluster-wide collection path, e.g. `/apis/apps/v1/replicasets`. */
export function collectionPath(resource: ResourceName): string {
  const group = RESOURCES[resource].group;
  return group === '' ? `/api/v1/${resource}` : `/apis/${group}/v1/${resource}`;
}

/** A Kubernetes object as JSON. The emulator validates nothing beyond metadata.name. */
export type KubeObject = Record<string, unknown> & {
  metadata?: Record<string, unknown>;
};

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface StoredEvent {
  rv: number;
  type: EventType;
  namespace: string;
  object: KubeObject;
}

export type Verb = 'list' | 'watch' | 'get' | 'other';

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  resource: ResourceName | undefined;
  namespace: string | undefined;
  verb: Verb;
  status: number;
  timeMs: number;
  /** The bearer token of the `Authorization` header, undefined without one. */
  token: string | undefined;
}

export interface FaultRule {
  /** Matches every resource when absent. */
  resource?: ResourceName;
  /** Matches every verb when absent. */
  verb?: Verb;
  /** HTTP status to answer, e.g. 500, 503, 429. */
  status: number;
  /** How many matching requests fail; then the rule is spent. @default 1 */
  times?: number;
}

interface Watcher {
  resource: ResourceName;
  namespace: string | undefined;
  res: ServerResponse;
  bookmarks: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** PEM files of the HTTPS mode. */
export interface EmulatorTls {
  /** Server certificate: it must name 127.0.0.1 (IP SAN) for a client to verify it. */
  certFile: string;
  keyFile: string;
  /** The CA that signed `certFile`, written into `kubeconfig()` (else it skips verification). */
  caFile?: string;
}

export interface EmulatorOptions {
  /** Bearer token the API expects. @default 'emulator-token' */
  token?: string;
  /** Serve HTTPS with this certificate instead of plain HTTP. @default plain HTTP */
  tls?: EmulatorTls;
  /** How a watch from a compacted resourceVersion is refused. @default 'event' */
  expiredWatchForm?: 'status' | 'event';
  /** Clock used for creationTimestamp. @default Date.now */
  now?: () => number;
  /** Start without listening (the API is unreachable until `resume()`). @default false */
  startPaused?: boolean;
  /**
   * Events kept per resource for watch replay (at least; trimmed in chunks); older ones are
   * dropped as by compaction. @default 10000
   */
  historyLimit?: number;
}

function status(code: number, reason: string, message: string): KubeObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function reasonFor(code: number): string {
  switch (code) {
    case 401:
      return 'Unauthorized';
    case 404:
      return 'NotFound';
    case 410:
      return 'Expired';
    case 429:
      return 'TooManyRequests';
    case 503:
      return 'ServiceUnavailable';
    default:
      return code >= 500 ? 'InternalError' : 'BadRequest';
  }
}

function metaOf(obj: KubeObject): Record<string, unknown> {
  if (typeof obj.metadata !== 'object' || obj.metadata === null) obj.metadata = {};
  return obj.metadata;
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Formats a time as the API does: RFC 3339, whole seconds, UTC. */
export function apiTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The Kubernetes API emulator. See the module comment. */
export class KubeApiEmulator {
  readonly token: string;
  /** Every request received, in order. */
  readonly requests: RequestRecord[] = [];
  /** HTTPS mode: why each failed TLS handshake failed (e.g. the client did not trust the certificate), in order. */
  readonly tlsErrors: string[] = [];
  readonly tls: EmulatorTls | undefined;
  expiredWatchForm: 'status' | 'event';

  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly now: () => number;
  private portNumber = 0;
  private listening = false;
  private rv = 1000;
  private compactedRv = 0;
  private readonly historyLimit: number;
  /** Per resource: watches from a version older than this get 410 (events dropped from the window). */
  private readonly floorRv = new Map<ResourceName, number>();
  private readonly objects = new Map<ResourceName, Map<string, KubeObject>>();
  private readonly history = new Map<ResourceName, StoredEvent[]>();
  private readonly watchers = new Set<Watcher>();
  private faults: Array<{
    resource: ResourceName | undefined;
    verb: Verb | undefined;
    status: number;
    times: number;
  }> = [];
  private readonly snapshots = new Map<string, { rv: number; items: KubeObject[] }>();
  private kubeconfigDir: string | undefined;

  private constructor(options: EmulatorOptions) {
    this.token = options.token ?? 'emulator-token';
    this.expiredWatchForm = options.expiredWatchForm ?? 'event';
    this.now = options.now ?? Date.now;
    this.historyLimit = options.historyLimit ?? 10_000;
    this.tls = options.tls;
    for (const r of RESOURCE_NAMES) {
      this.objects.set(r, new Map());
      this.history.set(r, []);
    }
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    if (this.tls === undefined) this.server = createServer(handler);
    else {
      this.server = createHttpsServer(
        { cert: readFileSync(this.tls.certFile), key: readFileSync(this.tls.keyFile) },
        handler,
      );
      this.server.on('tlsClientError', (e: Error) => this.tlsErrors.push(e.message));
    }
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Starts an emulator on an ephemeral port of 127.0.0.1. */
  static async start(options: EmulatorOptions = {}): Promise<KubeApiEmulator> {
    const emulator = new KubeApiEmulator(options);
    await emulator.listen(0);
    if (options.startPaused === true) await emulator.pause();
    return emulator;
  }

  get port(): number {
    return this.portNumber;
  }

  /** `http://127.0.0.1:PORT`, or `https://` in HTTPS mode. */
  get url(): string {
    return `${this.tls === undefined ? 'http' : 'https'}://127.0.0.1:${this.portNumber}`;
  }

  /** The latest resourceVersion handed out. */
  get resourceVersion(): number {
    return this.rv;
  }

  /** Open watch streams, optionally for one resource. */
  openWatches(resource?: ResourceName): number {
    let n = 0;
    for (const w of this.watchers) if (resource === undefined || w.resource === resource) n++;
    return n;
  }

  /** Requests received for a resource and verb. */
  count(resource: ResourceName | undefined, verb: Verb): number {
    return this.requests.filter((r) => (resource === undefined || r.resource === resource) && r.verb === verb)
      .length;
  }

  // ---- objects ----

  /** Current objects of a resource (copies). */
  list(resource: ResourceName): KubeObject[] {
    return [...(this.objects.get(resource) as Map<string, KubeObject>).values()].map((o) =>
      structuredClone(o),
    );
  }

  get(resource: ResourceName, namespace: string, name: string): KubeObject | undefined {
    const found = (this.objects.get(resource) as Map<string, KubeObject>).get(keyOf(namespace, name));
    return found === undefined ? undefined : structuredClone(found);
  }

  /**
   * Creates an object (ADDED). Fills in kind, apiVersion, uid and
   * creationTimestamp when absent (an explicit `null` stays), sets
   * resourceVersion; keeps whatever else it is given, however odd.
   */
  create(resource: ResourceName, object: KubeObject): KubeObject {
    const obj = structuredClone(object);
    const meta = metaOf(obj);
    const namespace = this.namespaceOf(resource, meta);
    const name = String(meta.name ?? '');
    const store = this.objects.get(resource) as Map<string, KubeObject>;
    if (store.has(keyOf(namespace, name))) {
      throw new Error(`${resource} ${keyOf(namespace, name)} already exists`);
    }
    if (!('kind' in obj)) obj.kind = RESOURCES[resource].kind;
    if (!('apiVersion' in obj)) obj.apiVersion = apiVersionOf(resource);
    if (!('uid' in meta)) meta.uid = randomUUID();
    if (!('creationTimestamp' in meta)) meta.creationTimestamp = apiTime(this.now());
    this.commit(resource, 'ADDED', namespace, name, obj);
    return structuredClone(obj);
  }

  /** Replaces an existing object (MODIFIED). */
  replace(resource: ResourceName, object: KubeObject): KubeObject {
    const obj = structuredClone(object);
    const meta = metaOf(obj);
    const namespace = this.namespaceOf(resource, meta);
    const name = String(meta.name ?? '');
    const old = (this.objects.get(resource) as Map<string, KubeObject>).get(keyOf(namespace, name));
    if (old === undefined) throw new Error(`${resource} ${keyOf(namespace, name)} does not exist`);
    const oldMeta = metaOf(old);
    obj.kind ??= old.kind;
    obj.apiVersion ??= old.apiVersion;
    meta.uid ??= oldMeta.uid;
    meta.creationTimestamp ??= oldMeta.creationTimestamp;
    this.commit(resource, 'MODIFIED', namespace, name, obj);
    return structuredClone(obj);
  }

  /** Changes an existing object in place through `mutate` (MODIFIED). */
  modify(
    resource: ResourceName,
    namespace: string,
    name: string,
    mutate: (obj: KubeObject) => void,
  ): KubeObject {
    const current = this.get(resource, namespace, name);
    if (current === undefined) throw new Error(`${resource} ${keyOf(namespace, name)} does not exist`);
    mutate(current);
    return this.replace(resource, current);
  }

  /** Deletes an object (DELETED, carrying its last state at a new resourceVersion). */
  delete(resource: ResourceName, namespace: string, name: string): void {
    const store = this.objects.get(resource) as Map<string, KubeObject>;
    const ns = RESOURCES[resource].namespaced ? namespace : '';
    const old = store.get(keyOf(ns, name));
    if (old === undefined) throw new Error(`${resource} ${keyOf(ns, name)} does not exist`);
    this.commit(resource, 'DELETED', ns, name, structuredClone(old));
  }

  /**
   * Forgets history up to the current resourceVersion, as etcd compaction
   * does: later watches from an older version, and continue tokens taken
   * before, get 410 Gone.
   */
  compact(): void {
    this.compactedRv = this.rv;
    for (const events of this.history.values()) events.length = 0;
    for (const [token, snap] of this.snapshots) if (snap.rv < this.compactedRv) this.snapshots.delete(token);
  }

  // ---- faults and stream control ----

  /** The next matching requests are answered with an error Status. */
  fail(rule: FaultRule): void {
    this.faults.push({
      resource: rule.resource,
      verb: rule.verb,
      status: rule.status,
      times: rule.times ?? 1,
    });
  }

  /** Drops every pending fault rule. */
  clearFaults(): void {
    this.faults = [];
  }

  /** Ends open watch streams (server-side close), optionally of one resource. */
  closeWatches(resource?: ResourceName): number {
    let n = 0;
    for (const w of [...this.watchers]) {
      if (resource !== undefined && w.resource !== resource) continue;
      this.endWatch(w);
      n++;
    }
    return n;
  }

  /** Sends an in-stream `ERROR` 410 Expired to open watches, then ends them. */
  expireWatches(resource?: ResourceName): number {
    let n = 0;
    for (const w of [...this.watchers]) {
      if (resource !== undefined && w.resource !== resource) continue;
      this.write(w, { type: 'ERROR', object: status(410, 'Expired', 'too old resource version') });
      this.endWatch(w);
      n++;
    }
    return n;
  }

  /**
   * Sends a BOOKMARK at the current resourceVersion to open watches that asked
   * for bookmarks (`allowWatchBookmarks=true`), or to all of them with `force`.
   */
  bookmark(resource?: ResourceName, options: { force?: boolean } = {}): number {
    let n = 0;
    for (const w of this.watchers) {
      if (resource !== undefined && w.resource !== resource) continue;
      if (!w.bookmarks && options.force !== true) continue;
      this.write(w, {
        type: 'BOOKMARK',
        object: {
          kind: RESOURCES[w.resource].kind,
          apiVersion: apiVersionOf(w.resource),
          metadata: { resourceVersion: String(this.rv) },
        },
      });
      n++;
    }
    return n;
  }

  /** Makes the API unreachable: the listener closes and every connection is cut (connection refused). */
  async pause(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    for (const w of [...this.watchers]) this.endWatch(w);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Reopens the listener on the same port. */
  async resume(): Promise<void> {
    if (this.listening) return;
    await this.listen(this.portNumber);
  }

  /**
   * Writes a kubeconfig for this emulator and returns its path: the CA of
   * the HTTPS mode when given, else `insecure-skip-tls-verify` (which plain
   * http needs).
   */
  writeKubeconfig(): string {
    this.kubeconfigDir ??= mkdtempSync(join(tmpdir(), 'lh-k8s-emulator-'));
    const path = join(this.kubeconfigDir, 'kubeconfig.yaml');
    writeFileSync(path, this.kubeconfig());
    return path;
  }

  /** The kubeconfig text for this emulator. */
  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '  - name: emulator',
      '    cluster:',
      `      server: ${JSON.stringify(this.url)}`,
      this.tls?.caFile !== undefined
        ? `      certificate-authority: ${JSON.stringify(this.tls.caFile)}`
        : '      insecure-skip-tls-verify: true',
      'users:',
      '  - name: tester',
      '    user:',
      `      token: ${JSON.stringify(this.token)}`,
      'contexts:',
      '  - name: emulator',
      '    context: { cluster: emulator, user: tester }',
      'current-context: emulator',
      '',
    ].join('\n');
  }

  /** Closes everything and removes the kubeconfig. */
  async stop(): Promise<void> {
    await this.pause();
    if (this.kubeconfigDir !== undefined) rmSync(this.kubeconfigDir, { recursive: true, force: true });
    this.kubeconfigDir = undefined;
  }

  // ---- internals ----

  private async listen(port: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          const onError = (e: Error): void => reject(e);
          this.server.once('error', onError);
          this.server.listen(port, '127.0.0.1', () => {
            this.server.off('error', onError);
            resolve();
          });
        });
        break;
      } catch (e) {
        // The port of a paused emulator can be briefly held by a closing socket.
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('emulator has no TCP address');
    this.portNumber = address.port;
    this.listening = true;
  }

  private namespaceOf(resource: ResourceName, meta: Record<string, unknown>): string {
    if (!RESOURCES[resource].namespaced) {
      delete meta.namespace;
      return '';
    }
    if (typeof meta.namespace !== 'string' || meta.namespace === '') meta.namespace = 'default';
    return meta.namespace as string;
  }

  private commit(
    resource: ResourceName,
    type: EventType,
    namespace: string,
    name: string,
    obj: KubeObject,
  ): void {
    this.rv++;
    metaOf(obj).resourceVersion = String(this.rv);
    const store = this.objects.get(resource) as Map<string, KubeObject>;
    if (type === 'DELETED') store.delete(keyOf(namespace, name));
    else store.set(keyOf(namespace, name), obj);
    const event: StoredEvent = {
      rv: this.rv,
      type,
      namespace,
      object: type === 'DELETED' ? obj : structuredClone(obj),
    };
    const history = this.history.get(resource) as StoredEvent[];
    history.push(event);
    // Trimmed in chunks so a long run of writes does not shift the window on every event.
    if (history.length > this.historyLimit + Math.max(64, this.historyLimit >> 3)) {
      const dropped = history.splice(0, history.length - this.historyLimit);
      this.floorRv.set(resource, (dropped[dropped.length - 1] as StoredEvent).rv);
    }
    for (const w of this.watchers) {
      if (w.resource !== resource) continue;
      if (w.namespace !== undefined && w.namespace !== namespace) continue;
      this.write(w, { type, object: event.object });
    }
  }

  private write(w: Watcher, event: { type: string; object: unknown }): void {
    if (!w.res.writableEnded) w.res.write(JSON.stringify(event) + '\n');
  }

  private endWatch(w: Watcher): void {
    this.watchers.delete(w);
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (!w.res.writableEnded) w.res.end();
  }

  private send(res: ServerResponse, record: RequestRecord, code: number, body: unknown): void {
    record.status = code;
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private route(pathname: string): { resource: ResourceName; namespace?: string; name?: string } | undefined {
    const parts = pathname.split('/').filter((p) => p !== '');
    let rest: string[];
    if (parts[0] === 'api' && parts[1] === 'v1') rest = parts.slice(2);
    else if (parts[0] === 'apis' && parts[2] === 'v1') rest = parts.slice(3);
    else return undefined;
    const group = parts[0] === 'api' ? '' : (parts[1] as string);
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = decodeURIComponent(rest[1] as string);
      rest = rest.slice(2);
    }
    const resource = rest[0] as ResourceName | undefined;
    if (resource === undefined || !(resource in RESOURCES) || RESOURCES[resource].group !== group)
      return undefined;
    if (rest.length > 2) return undefined;
    if (namespace !== undefined && !RESOURCES[resource].namespaced) return undefined;
    const out: { resource: ResourceName; namespace?: string; name?: string } = { resource };
    if (namespace !== undefined) out.namespace = namespace;
    if (rest[1] !== undefined) out.name = decodeURIComponent(rest[1]);
    return out;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const query = Object.fromEntries(url.searchParams);
    const route = this.route(url.pathname);
    const verb: Verb =
      route === undefined
        ? 'other'
        : route.name !== undefined
          ? 'get'
          : query.watch === 'true'
            ? 'watch'
            : 'list';
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      resource: route?.resource,
      namespace: route?.namespace,
      verb,
      status: 0,
      timeMs: Date.now(),
      token: /^Bearer (.*)$/.exec(req.headers.authorization ?? '')?.[1],
    };
    this.requests.push(record);
    if (record.token !== this.token) {
      this.send(res, record, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (req.method !== 'GET') {
      this.send(res, record, 405, status(405, 'MethodNotAllowed', 'the emulator serves GET only'));
      return;
    }
    if (url.pathname === '/version') {
      this.send(res, record, 200, {
        major: '1',
        minor: '32',
        gitVersion: 'v1.32.0-loggerhead-emulator',
        platform: 'linux/amd64',
      });
      return;
    }
    if (route === undefined) {
      this.send(res, record, 404, status(404, 'NotFound', `the server could not find ${url.pathname}`));
      return;
    }
    const fault = this.faults.find(
      (f) =>
        (f.resource === undefined || f.resource === route.resource) &&
        (f.verb === undefined || f.verb === verb),
    );
    if (fault !== undefined) {
      if (--fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
      this.send(res, record, fault.status, status(fault.status, reasonFor(fault.status), 'injected fault'));
      return;
    }
    if (verb === 'get')
      this.serveGet(res, record, route.resource, route.namespace ?? '', route.name as string);
    else if (verb === 'watch') this.serveWatch(req, res, record, route.resource, route.namespace, query);
    else this.serveList(res, record, route.resource, route.namespace, query);
  }

  private serveGet(
    res: ServerResponse,
    record: RequestRecord,
    resource: ResourceName,
    ns: string,
    name: string,
  ) {
    const obj = (this.objects.get(resource) as Map<string, KubeObject>).get(keyOf(ns, name));
    if (obj === undefined) {
      this.send(res, record, 404, status(404, 'NotFound', `${resource} "${name}" not found`));
      return;
    }
    this.send(res, record, 200, obj);
  }

  private serveList(
    res: ServerResponse,
    record: RequestRecord,
    resource: ResourceName,
    namespace: string | undefined,
    query: Record<string, string>,
  ): void {
    let snap: { rv: number; items: KubeObject[] };
    let offset = 0;
    if (query.continue !== undefined && query.continue !== '') {
      let token: { id?: unknown; offset?: unknown } = {};
      try {
        token = JSON.parse(Buffer.from(query.continue, 'base64url').toString()) as typeof token;
      } catch {
        this.send(res, record, 400, status(400, 'BadRequest', 'continue key is not valid'));
        return;
      }
      const found = this.snapshots.get(String(token.id));
      if (found === undefined) {
        this.send(res, record, 410, status(410, 'Expired', 'The provided continue parameter is too old'));
        return;
      }
      snap = found;
      offset = Number(token.offset);
    } else {
      const items = [...(this.objects.get(resource) as Map<string, KubeObject>).entries()]
        .filter(([, o]) => namespace === undefined || metaOf(o).namespace === namespace)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, o]) => o);
      snap = { rv: this.rv, items };
    }
    const limit = query.limit !== undefined ? Number(query.limit) : 0;
    const end = limit > 0 ? Math.min(snap.items.length, offset + limit) : snap.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snap.rv) };
    if (end < snap.items.length) {
      const id = randomUUID();
      this.snapshots.set(id, snap);
      if (this.snapshots.size > 256) this.snapshots.delete(this.snapshots.keys().next().value as string);
      metadata.continue = Buffer.from(JSON.stringify({ id, offset: end })).toString('base64url');
      metadata.remainingItemCount = snap.items.length - end;
    }
    const items = snap.items.slice(offset, end).map((o) => {
      const { kind: _kind, apiVersion: _apiVersion, ...rest } = o;
      return rest;
    });
    this.send(res, record, 200, {
      kind: `${RESOURCES[resource].kind}List`,
      apiVersion: apiVersionOf(resource),
      metadata,
      items,
    });
  }

  private serveWatch(
    req: IncomingMessage,
    res: ServerResponse,
    record: RequestRecord,
    resource: ResourceName,
    namespace: string | undefined,
    query: Record<string, string>,
  ): void {
    const from = query.resourceVersion ?? '';
    const fromRv = from === '' || from === '0' ? undefined : Number(from);
    const floor = Math.max(this.compactedRv, this.floorRv.get(resource) ?? 0);
    if (fromRv !== undefined && (!Number.isFinite(fromRv) || fromRv < floor)) {
      const expired = status(410, 'Expired', `too old resource version: ${from} (${floor})`);
      if (this.expiredWatchForm === 'status') {
        this.send(res, record, 410, expired);
        return;
      }
      record.status = 200;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      res.end(JSON.stringify({ type: 'ERROR', object: expired }) + '\n');
      return;
    }
    record.status = 200;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const watcher: Watcher = {
      resource,
      namespace,
      res,
      bookmarks: query.allowWatchBookmarks === 'true',
      timer: undefined,
    };
    if (fromRv === undefined) {
      for (const o of (this.objects.get(resource) as Map<string, KubeObject>).values()) {
        if (namespace === undefined || metaOf(o).namespace === namespace)
          this.write(watcher, { type: 'ADDED', object: o });
      }
    } else {
      for (const e of this.history.get(resource) as StoredEvent[]) {
        if (e.rv > fromRv && (namespace === undefined || e.namespace === namespace)) {
          this.write(watcher, { type: e.type, object: e.object });
        }
      }
    }
    const timeoutSeconds = Number(query.timeoutSeconds ?? '0');
    if (timeoutSeconds > 0) watcher.timer = setTimeout(() => this.endWatch(watcher), timeoutSeconds * 1000);
    this.watchers.add(watcher);
    req.on('close', () => {
      this.watchers.delete(watcher);
      if (watcher.timer !== undefined) clearTimeout(watcher.timer);
    });
  }
}
