/**
 * Connection-rate load: drives the C tool `connblast` (bench/tools/connblast.c, built by
 * scripts/setup.d/10-net-tools.sh into /var/cache/loggerhead/bin/). Every request is a new TCP
 * connection carrying `sizeBytes` each way (64 by default); the result is connections per second.
 *
 * `connectionRate` builds its own namespaces (so it never touches the root namespace's sysctls or
 * ports), widens the client's ephemeral port range and enables `tcp_tw_reuse` inside them, runs one
 * server and one client for `seconds`, and tears everything down:
 * - `path: 'loopback'`: client and server in one namespace, over its `lo`;
 * - `path: 'veth'`: client and server in two namespaces joined by a veth pair.
 * An agent under test in the root namespace sees these sockets like any other (its hooks are global).
 *
 * @example
 * ```ts
 * import { connectionRate } from './tools/connblast.ts';
 * const r = await connectionRate({ path: 'veth', seconds: 5, concurrency: 32 });
 * // r.connectionsPerSecond ≈ 5000 on these machines; r.failed === 0; r.server.accepted >= r.connections
 * ```
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createTopology } from '../../test/support/netns.ts';
import type { NetnsHost } from '../../test/support/netns.ts';

/** Where scripts/setup.d/10-net-tools.sh puts the binary, with `connblast.sha256` beside it. */
export const CONNBLAST_PATH = '/var/cache/loggerhead/bin/connblast';
const SOURCE = new URL('./connblast.c', import.meta.url).pathname;

export interface ConnblastResult {
  /** Connections that completed the full exchange (request, response, server FIN). */
  connections: number;
  /** Connections that failed (refused, reset, short response...). */
  failed: number;
  seconds: number;
  connectionsPerSecond: number;
  bytesSent: number;
  bytesReceived: number;
  /** User + system CPU seconds the process used (getrusage). */
  cpuSeconds: number;
  /** The first failure, e.g. "connect: Connection refused"; '' when none. */
  firstError: string;
}

export interface ConnblastServerTotals {
  accepted: number;
  bytesIn: number;
  bytesOut: number;
  errors: number;
  /** User + system CPU seconds the server used (getrusage). */
  cpuSeconds: number;
}

export interface ConnectionRateOptions {
  path: 'loopback' | 'veth';
  /** Whole seconds of load. @default 5 */
  seconds?: number;
  /** Connections in flight at once. @default 32 */
  concurrency?: number;
  /** Bytes each way per connection. @default 64 */
  sizeBytes?: number;
  /** `taskset -c` CPU list for the client, e.g. '1'. @default no pinning */
  clientCpus?: string;
  /** `taskset -c` CPU list for the server, e.g. '0'. @default no pinning */
  serverCpus?: string;
  /** Namespace prefix. @default 'lht' */
  prefix?: string;
}

export interface ConnectionRateResult extends ConnblastResult {
  path: 'loopback' | 'veth';
  server: ConnblastServerTotals;
  /**
   * (client + server CPU seconds) / connections, in µs. Kernel work (eBPF programs included) mostly
   * runs in the context of these two processes, so this tracks an agent's per-connection cost and is
   * less disturbed than the rate by other load on the machine.
   */
  cpuMicrosPerConnection: number;
}

/** The connblast binary, after checking it was built from the current source. */
export function connblastPath(): string {
  const fix = 'run `bash scripts/setup.d/10-net-tools.sh --test` (as root)';
  if (!existsSync(CONNBLAST_PATH)) throw new Error(`connblast: ${CONNBLAST_PATH} is missing; ${fix}`);
  const stamp = existsSync(`${CONNBLAST_PATH}.sha256`)
    ? readFileSync(`${CONNBLAST_PATH}.sha256`, 'utf8')
    : '';
  const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex');
  if (stamp.split(' ')[0] !== hash) {
    throw new Error(`connblast: ${CONNBLAST_PATH} was built from another version of ${SOURCE}; ${fix}`);
  }
  return CONNBLAST_PATH;
}

function command(cpus: string | undefined, args: string[]): [string, string[]] {
  const bin = connblastPath();
  return cpus === undefined ? [bin, args] : ['taskset', ['-c', cpus, bin, ...args]];
}

/** Reads the JSON lines of a tool's stdout, failing with its stderr when it exits first. */
function lineReader(
  child: ReturnType<NetnsHost['spawn']>,
  what: string,
): () => Promise<Record<string, unknown>> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 8192) stderr += d.toString();
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return async () => {
    const { value, done } = await lines.next();
    if (done === true) {
      await closed;
      throw new Error(`${what} exited (${String(child.exitCode ?? child.signalCode)}): ${stderr.trim()}`);
    }
    return JSON.parse(value) as Record<string, unknown>;
  };
}

export interface ConnblastServer {
  readonly port: number;
  readonly pid: number;
  /** SIGTERM; resolves with the server's totals. */
  stop(): Promise<ConnblastServerTotals>;
}

/**
 * Starts `connblast server` inside `host`'s namespace.
 *
 * @example
 * ```ts
 * const server = await startConnblastServer(topo.host('server'), { bind: topo.host('server').addr4 });
 * const result = await runConnblastClient(topo.host('client'), { host: topo.host('server').addr4, port: server.port, seconds: 3 });
 * const totals = await server.stop();
 * ```
 */
export async function startConnblastServer(
  host: Pick<NetnsHost, 'spawn'>,
  options: { bind: string; sizeBytes?: number; cpus?: string },
): Promise<ConnblastServer> {
  const args = ['server', '--bind', options.bind, '--port', '0', '--size', String(options.sizeBytes ?? 64)];
  const [cmd, argv] = command(options.cpus, args);
  const child = host.spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const next = lineReader(child, 'connblast server');
  const first = await next();
  if (first.event !== 'listening') throw new Error(`connblast server said ${JSON.stringify(first)}`);
  return {
    port: Number(first.port),
    pid: Number(first.pid),
    async stop() {
      const totals = next();
      child.kill('SIGTERM');
      const line = await totals;
      if (child.exitCode === null) await once(child, 'close');
      return {
        accepted: Number(line.accepted),
        bytesIn: Number(line.bytesIn),
        bytesOut: Number(line.bytesOut),
        errors: Number(line.errors),
        cpuSeconds: Number(line.cpuSeconds),
      };
    },
  };
}

/** Runs `connblast client` inside `host`'s namespace and returns its result. */
export async function runConnblastClient(
  host: Pick<NetnsHost, 'spawn'>,
  options: {
    host: string;
    port: number;
    seconds?: number;
    concurrency?: number;
    sizeBytes?: number;
    cpus?: string;
  },
): Promise<ConnblastResult> {
  const args = [
    'client',
    '--host',
    options.host,
    '--port',
    String(options.port),
    '--seconds',
    String(options.seconds ?? 5),
    '--concurrency',
    String(options.concurrency ?? 32),
    '--size',
    String(options.sizeBytes ?? 64),
  ];
  const [cmd, argv] = command(options.cpus, args);
  const child = host.spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const line = await lineReader(child, 'connblast client')();
  if (child.exitCode === null) await once(child, 'close');
  return {
    connections: Number(line.connections),
    failed: Number(line.failed),
    seconds: Number(line.seconds),
    connectionsPerSecond: Number(line.connectionsPerSecond),
    bytesSent: Number(line.bytesSent),
    bytesReceived: Number(line.bytesReceived),
    cpuSeconds: Number(line.cpuSeconds),
    firstError: String(line.firstError),
  };
}

/** Sysctls, per namespace, that let one client open tens of thousands of connections a second. */
async function tuneForConnectionRate(host: NetnsHost): Promise<void> {
  await host.exec('sysctl', [
    '-q',
    '-w',
    'net.ipv4.ip_local_port_range=1024 65535',
    'net.ipv4.tcp_tw_reuse=1',
  ]);
}

/**
 * Builds the namespaces, runs connblast for `seconds`, tears down. Throws if no connection completed.
 *
 * @example
 * ```ts
 * const { connectionsPerSecond } = await connectionRate({ path: 'loopback', seconds: 3 });
 * ```
 */
export async function connectionRate(options: ConnectionRateOptions): Promise<ConnectionRateResult> {
  const prefix = options.prefix ?? 'lht';
  const topo =
    options.path === 'loopback'
      ? await createTopology({ prefix, hosts: ['lo'] })
      : await createTopology({ prefix, hosts: ['client', 'server'] });
  try {
    const clientHost = topo.hosts[0]!;
    const serverHost = topo.hosts[topo.hosts.length - 1]!;
    for (const h of topo.hosts) await tuneForConnectionRate(h);
    const addr = options.path === 'loopback' ? '127.0.0.1' : serverHost.addr4;
    const server = await startConnblastServer(serverHost, {
      bind: addr,
      sizeBytes: options.sizeBytes,
      cpus: options.serverCpus,
    });
    let result: ConnblastResult;
    try {
      result = await runConnblastClient(clientHost, {
        host: addr,
        port: server.port,
        seconds: options.seconds,
        concurrency: options.concurrency,
        sizeBytes: options.sizeBytes,
        cpus: options.clientCpus,
      });
    } catch (error) {
      await server.stop();
      throw error;
    }
    const totals = await server.stop();
    if (result.connections === 0) {
      throw new Error(`connblast: no connection completed over ${options.path}: ${result.firstError}`);
    }
    const cpuMicrosPerConnection = ((result.cpuSeconds + totals.cpuSeconds) / result.connections) * 1e6;
    return { path: options.path, ...result, server: totals, cpuMicrosPerConnection };
  } finally {
    await topo.destroy();
  }
}
