/**
 * tcpexact: a TCP client and server that move an exact, known number of bytes each way, so a test can
 * compare the agent's counters with what really crossed each socket, to the byte. Runs in-process (the
 * library functions below) or as a child process inside a namespace (the CLI, via the `spawn*` and
 * `runClient` helpers, which take a `NetnsHost` from `netns.ts` or `rootSpawner`).
 *
 * Protocol, per exchange: the client sends a 16-byte header (uint64 big-endian request size N, uint64
 * big-endian response size M), then N payload bytes; once the server has read the N bytes it answers
 * M bytes. A connection carries one or more exchanges; the client then shuts down its write side, the
 * server sees EOF and closes its side. So, per connection: client→server = 16 × exchanges + ΣN bytes,
 * server→client = ΣM bytes; SYNs and FINs carry no payload. `once` and `many` half-close right after
 * sending the request (so the client's FIN travels while the server answers); `hold` keeps the
 * connection open and idle between exchanges until told to close (FIN) or reset (RST).
 *
 * CLI (every line on stdout is one JSON object):
 * ```sh
 * node test/support/tcpexact.ts server [--host ::] [--port 0]
 *   # {"event":"listening","host":"::","port":41234,"pid":9}, then one {"event":"connection",...} per closed connection
 * node test/support/tcpexact.ts client once --host H --port P --send N --recv M [--bind ADDR]
 * node test/support/tcpexact.ts client many --host H --port P --connections K --max-send N --max-recv M
 *   [--seed S] [--concurrency C] [--bind ADDR]
 *   # {"mode":"once"|"many","pid":..,"bytesSent":..,"bytesReceived":..,"localPorts":[..],"connections":[..]}
 * node test/support/tcpexact.ts client hold --host H --port P --send N --recv M [--bind ADDR]
 *   # {"event":"open",...} once the first exchange is done; then reads stdin lines:
 *   #   "send N M" -> {"event":"exchanged",...}; "close" (FIN) or "reset" (RST) -> {"event":"closed",...}, exit
 * ```
 *
 * @example
 * ```ts
 * import { createTopology } from './netns.ts';
 * import { runClient, spawnServer } from './tcpexact.ts';
 *
 * const topo = await createTopology({ prefix: 'lhr', hosts: ['client', 'server'] });
 * const server = await spawnServer(topo.host('server'), { host: '::' });
 * const report = await runClient(topo.host('client'), {
 *   mode: 'once', host: topo.host('server').addr4, port: server.port, send: 1000, recv: 5000,
 * });
 * // report.bytesSent === 1016, report.bytesReceived === 5000, report.pid is the client's pid
 * const [conn] = await server.waitForConnections(1); // conn.bytesIn === 1016, conn.bytesOut === 5000
 * await server.stop();
 * await topo.destroy();
 * ```
 */
import { spawn as spawnChild } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { createServer, Socket } from 'node:net';
import type { Server } from 'node:net';
import { createInterface } from 'node:readline';
import { seededRandom } from './random.ts';

/** Bytes of the per-exchange header: request size and response size, uint64 big-endian each. */
export const HEADER_BYTES = 16;
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);
const DEFAULT_TIMEOUT_MS = 30_000;
const SCRIPT = new URL(import.meta.url).pathname;

// ---------------------------------------------------------------------------------------------------
// Reports

export interface Endpoint {
  address: string;
  port: number;
}

/** What the server saw on one connection, reported when it closed. */
export interface ServerConnectionReport {
  event: 'connection';
  /** The client's address as the server socket sees it (`::ffff:a.b.c.d` on a dual-stack listener). */
  peer: Endpoint;
  local: Endpoint;
  /** Bytes read from the client, headers included. */
  bytesIn: number;
  /** Bytes written to the client. */
  bytesOut: number;
  exchanges: number;
  /** Server process id. */
  pid: number;
  /** Set when the connection ended otherwise than by the client's FIN after whole exchanges. */
  error?: string;
}

/** One client connection's exact totals. */
export interface ClientConnectionReport {
  local: Endpoint;
  remote: Endpoint;
  /** Client→server bytes, headers included. */
  bytesSent: number;
  /** Server→client bytes. */
  bytesReceived: number;
  exchanges: number;
}

export interface ClientReport {
  mode: 'once' | 'many' | 'hold';
  /** Client process id. */
  pid: number;
  /** Sum over connections, headers included. */
  bytesSent: number;
  bytesReceived: number;
  /** Local ports in connection order. */
  localPorts: number[];
  connections: ClientConnectionReport[];
}

/** Reports of closed connections as they come, and waits for a number of them. */
class ConnectionReports {
  readonly list: ServerConnectionReport[] = [];
  private waiters: Array<() => void> = [];
  private ended = false;

  add(report: ServerConnectionReport): void {
    this.list.push(report);
    this.wake();
  }

  /** No report will come any more (the server's output ended): waiters fail now. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /**
   * Resolves with the reports once at least `count` have come; rejects when `exited()` holds or the
   * output ended first, or after `timeoutMs`.
   */
  waitFor(
    count: number,
    timeoutMs: number,
    exited = (): boolean => false,
  ): Promise<ServerConnectionReport[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.list.length >= count) {
          clearTimeout(timer);
          resolve([...this.list]);
        } else if (this.ended || exited()) {
          clearTimeout(timer);
          reject(new Error(`tcpexact: server exited after ${this.list.length} of ${count} connections`));
        } else this.waiters.push(check);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(
          new Error(`tcpexact: ${this.list.length} of ${count} connections closed within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      check();
    });
  }

  private wake(): void {
    const current = this.waiters;
    this.waiters = [];
    for (const w of current) w();
  }
}

// ---------------------------------------------------------------------------------------------------
// In-process server

export interface ServerOptions {
  /** Address to listen on; `::` is dual-stack (IPv4 clients appear as `::ffff:a.b.c.d`). @default '::' */
  host?: string;
  /** @default 0 (ephemeral) */
  port?: number;
  /** Called with each connection's report when it closes. */
  onConnection?: (report: ServerConnectionReport) => void;
}

/** What a tcpexact server, in this process or a child, reports of its connections. */
export interface ServerConnections {
  readonly port: number;
  /** Reports of every closed connection, in closing order. */
  readonly connections: readonly ServerConnectionReport[];
  /** Resolves with the reports once at least `count` connections have closed. */
  waitForConnections(count: number, timeoutMs?: number): Promise<ServerConnectionReport[]>;
}

export interface TcpExactServer extends ServerConnections {
  readonly host: string;
  /** Stops listening and destroys the open connections. */
  close(): Promise<void>;
}

/**
 * Starts a tcpexact server in this process.
 *
 * @example
 * ```ts
 * const server = await startServer({ host: '127.0.0.1' });
 * await runOnce({ host: '127.0.0.1', port: server.port, send: 10, recv: 20 });
 * const [conn] = await server.waitForConnections(1); // conn.bytesIn === 26, conn.bytesOut === 20
 * await server.close();
 * ```
 */
export async function startServer(options: ServerOptions = {}): Promise<TcpExactServer> {
  const host = options.host ?? '::';
  const reports = new ConnectionReports();
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    serveConnection(socket, (report) => {
      sockets.delete(socket);
      reports.add(report);
      options.onConnection?.(report);
    });
  });
  server.listen({ host, port: options.port ?? 0, ipv6Only: false });
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([e]: unknown[]) => {
      throw new Error(`tcpexact: cannot listen on [${host}]:${options.port ?? 0}: ${(e as Error).message}`, {
        cause: e,
      });
    }),
  ]);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tcpexact: server has no TCP address');
  return {
    host,
    port: address.port,
    connections: reports.list,
    waitForConnections: (count, timeoutMs = DEFAULT_TIMEOUT_MS) => reports.waitFor(count, timeoutMs),
    async close() {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function serveConnection(socket: Socket, done: (report: ServerConnectionReport) => void): void {
  const peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  const local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
  const header = Buffer.alloc(HEADER_BYTES);
  let headerFill = 0;
  let payloadLeft = 0;
  let responseSize = 0;
  let inPayload = false;
  let bytesIn = 0;
  let bytesOut = 0;
  let exchanges = 0;
  let error: string | undefined;
  // Responses are written one chunk at a time with backpressure, so memory stays bounded whatever M is.
  const owed: number[] = [];
  let writing = false;
  let peerEnded = false;

  const pump = (): void => {
    if (writing) return;
    while (owed.length > 0) {
      const left = owed[0]!;
      if (left === 0) {
        owed.shift();
        continue;
      }
      const n = Math.min(left, CHUNK.length);
      owed[0] = left - n;
      bytesOut += n;
      if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        writing = true;
        socket.once('drain', () => {
          writing = false;
          pump();
        });
        return;
      }
    }
    if (peerEnded) socket.end();
  };

  socket.on('data', (chunk: Buffer) => {
    bytesIn += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      if (!inPayload) {
        const n = Math.min(HEADER_BYTES - headerFill, chunk.length - offset);
        chunk.copy(header, headerFill, offset, offset + n);
        headerFill += n;
        offset += n;
        if (headerFill < HEADER_BYTES) break;
        payloadLeft = Number(header.readBigUInt64BE(0));
        responseSize = Number(header.readBigUInt64BE(8));
        inPayload = true;
      }
      const n = Math.min(payloadLeft, chunk.length - offset);
      payloadLeft -= n;
      offset += n;
      if (payloadLeft === 0) {
        inPayload = false;
        headerFill = 0;
        exchanges += 1;
        owed.push(responseSize);
        pump();
      }
    }
  });
  socket.on('end', () => {
    peerEnded = true;
    if (inPayload || headerFill > 0) error = 'client closed in the middle of an exchange';
    pump();
  });
  socket.on('error', (e) => {
    error = e.message;
  });
  socket.on('close', () => {
    const report: ServerConnectionReport = {
      event: 'connection',
      peer,
      local,
      bytesIn,
      bytesOut,
      exchanges,
      pid: process.pid,
    };
    if (error !== undefined) report.error = error;
    done(report);
  });
}

// ---------------------------------------------------------------------------------------------------
// In-process clients

export interface ConnectOptions {
  host: string;
  port: number;
  /** Local address to bind (picks the source address and so the family). */
  bind?: string;
  /** Longest silence allowed on a connection before it fails (not applied to `hold`). @default 30000 */
  timeoutMs?: number;
}

export interface OnceOptions extends ConnectOptions {
  /** Request payload bytes N (the header's 16 bytes come on top). */
  send: number;
  /** Response bytes M. */
  recv: number;
}

export interface ManyOptions extends ConnectOptions {
  /** Number of connections K, each one exchange of random sizes. */
  connections: number;
  /** Request sizes are uniform in 0..maxSend. */
  maxSend: number;
  /** Response sizes are uniform in 0..maxRecv. */
  maxRecv: number;
  /** Seed of the size generator (same seed, same sizes). @default 1 */
  seed?: number;
  /** Connections in flight at once. @default 1 (sequential) */
  concurrency?: number;
}

/**
 * One connection, one exchange of `send`/`recv` bytes, half-close after the request.
 *
 * @example
 * ```ts
 * const r = await runOnce({ host: '::1', port, send: 100, recv: 0 }); // r.bytesSent === 116
 * ```
 */
export async function runOnce(options: OnceOptions): Promise<ClientReport> {
  checkSize('send', options.send);
  checkSize('recv', options.recv);
  const conn = await openConnection(options);
  try {
    await conn.exchange(options.send, options.recv, true);
    await conn.finish();
  } finally {
    conn.destroy();
  }
  return summarize('once', [conn.report()]);
}

/**
 * K connections of seeded random sizes, `concurrency` at a time.
 *
 * @example
 * ```ts
 * const r = await runMany({ host: '127.0.0.1', port, connections: 100, maxSend: 4096, maxRecv: 4096, seed: 7 });
 * // r.connections[i] has the exact sizes of connection i; r.localPorts lists the ports used
 * ```
 */
export async function runMany(options: ManyOptions): Promise<ClientReport> {
  checkSize('connections', options.connections);
  checkSize('maxSend', options.maxSend);
  checkSize('maxRecv', options.maxRecv);
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`tcpexact: concurrency must be a positive integer, got ${String(concurrency)}`);
  }
  const random = seededRandom(options.seed ?? 1);
  const sizes = Array.from({ length: options.connections }, () => ({
    send: Math.floor(random() * (options.maxSend + 1)),
    recv: Math.floor(random() * (options.maxRecv + 1)),
  }));
  const reports: ClientConnectionReport[] = new Array<ClientConnectionReport>(sizes.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sizes.length) {
      const i = next++;
      const { send, recv } = sizes[i]!;
      const r = await runOnce({ ...options, send, recv });
      reports[i] = r.connections[0]!;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sizes.length) }, worker));
  return summarize('many', reports);
}

export interface HoldConnection {
  /** Totals so far. */
  report(): ClientConnectionReport;
  /** One more exchange on the open connection; resolves once all `recv` bytes arrived. */
  exchange(send: number, recv: number): Promise<ClientConnectionReport>;
  /** FIN, then waits for the server's FIN and the close. */
  close(): Promise<ClientConnectionReport>;
  /** Aborts with an RST. */
  reset(): Promise<ClientConnectionReport>;
}

/**
 * A long-lived connection: the first exchange done, then open and idle until told.
 *
 * @example
 * ```ts
 * const conn = await openHold({ host: '127.0.0.1', port, send: 10, recv: 10 });
 * await conn.exchange(1000, 2000); // conn.report().bytesSent === 16 + 10 + 16 + 1000
 * await conn.close();
 * ```
 */
export async function openHold(options: OnceOptions): Promise<HoldConnection> {
  checkSize('send', options.send);
  checkSize('recv', options.recv);
  const conn = await openConnection({ ...options, timeoutMs: 0 });
  await conn.exchange(options.send, options.recv, false);
  return {
    report: () => conn.report(),
    async exchange(send, recv) {
      checkSize('send', send);
      checkSize('recv', recv);
      await conn.exchange(send, recv, false);
      return conn.report();
    },
    async close() {
      conn.end();
      await conn.finish();
      return conn.report();
    },
    async reset() {
      await conn.reset();
      return conn.report();
    },
  };
}

interface OpenConnection {
  exchange(send: number, recv: number, endAfter: boolean): Promise<void>;
  end(): void;
  /** Resolves when the server's FIN arrived and the socket closed. */
  finish(): Promise<void>;
  reset(): Promise<void>;
  destroy(): void;
  report(): ClientConnectionReport;
}

async function openConnection(options: ConnectOptions): Promise<OpenConnection> {
  const where = `[${options.host}]:${options.port}`;
  const socket = new Socket({ allowHalfOpen: true });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let failure: Error | undefined;
  let bytesSent = 0;
  let bytesReceived = 0;
  let exchanges = 0;
  let expected = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitUntil = async (condition: () => boolean, what: string): Promise<void> => {
    while (!condition()) {
      if (failure !== undefined) throw failure;
      if (ended || socket.destroyed) {
        throw new Error(`tcpexact: connection to ${where} closed while waiting for ${what}`);
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  socket.on('data', (chunk: Buffer) => {
    bytesReceived += chunk.length;
    if (bytesReceived > expected) {
      failure = new Error(
        `tcpexact: ${where} sent ${bytesReceived} bytes, more than the ${expected} asked for`,
      );
      socket.destroy();
    }
    notify();
  });
  socket.on('end', () => {
    ended = true;
    notify();
  });
  socket.on('error', (e) => {
    failure = new Error(`tcpexact: connection to ${where} failed: ${e.message}`, { cause: e });
    notify();
  });
  socket.on('close', notify);
  if (timeoutMs > 0) {
    socket.setTimeout(timeoutMs, () => {
      failure = new Error(`tcpexact: connection to ${where} idle for ${timeoutMs} ms`);
      socket.destroy();
      notify();
    });
  }
  socket.connect({ host: options.host, port: options.port, localAddress: options.bind });
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  if (failure !== undefined || socket.destroyed) {
    throw failure ?? new Error(`tcpexact: connection to ${where} closed before it was established`);
  }
  const local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
  const remote = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };

  const write = async (buffer: Buffer): Promise<void> => {
    bytesSent += buffer.length;
    if (!socket.write(buffer)) {
      await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
      if (failure !== undefined) throw failure;
    }
  };
  return {
    async exchange(send, recv, endAfter) {
      const header = Buffer.alloc(HEADER_BYTES);
      header.writeBigUInt64BE(BigInt(send), 0);
      header.writeBigUInt64BE(BigInt(recv), 8);
      expected += recv;
      await write(header);
      for (let left = send; left > 0; left -= CHUNK.length) {
        await write(left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left));
      }
      if (endAfter) socket.end();
      await waitUntil(() => bytesReceived === expected, `${recv} response bytes`);
      exchanges += 1;
    },
    end: () => socket.end(),
    async finish() {
      await waitUntil(() => ended, "the server's FIN");
      if (!socket.closed) await once(socket, 'close');
    },
    async reset() {
      socket.resetAndDestroy();
      if (!socket.closed) await once(socket, 'close');
    },
    destroy: () => socket.destroy(),
    report: () => ({ local, remote, bytesSent, bytesReceived, exchanges }),
  };
}

function summarize(mode: ClientReport['mode'], connections: ClientConnectionReport[]): ClientReport {
  return {
    mode,
    pid: process.pid,
    bytesSent: connections.reduce((sum, c) => sum + c.bytesSent, 0),
    bytesReceived: connections.reduce((sum, c) => sum + c.bytesReceived, 0),
    localPorts: connections.map((c) => c.local.port),
    connections,
  };
}

function checkSize(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`tcpexact: ${name} must be a non-negative integer, got ${String(value)}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Child processes (inside a namespace, or in the root namespace with `rootSpawner`)

/** Anything that starts a process: a `NetnsHost` from netns.ts, or `rootSpawner`. */
export interface Spawner {
  spawn(cmd: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
}

/** Starts processes in this process's own network namespace. */
export const rootSpawner: Spawner = {
  spawn: (cmd, args, options = {}) => spawnChild(cmd, args, options),
};

export interface ServerProcess extends ServerConnections {
  readonly pid: number;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Runs `tcpexact server` as a child process through `spawner` (e.g. inside a namespace).
 *
 * @example
 * ```ts
 * const server = await spawnServer(topo.host('server'), { host: '::' });
 * // ... clients connect to topo.host('server').addr4 / addr6 : server.port
 * await server.stop();
 * ```
 */
export async function spawnServer(
  spawner: Spawner,
  options: { host?: string; port?: number } = {},
): Promise<ServerProcess> {
  const args = ['server', '--host', options.host ?? '::', '--port', String(options.port ?? 0)];
  const child = spawner.spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = jsonLines(child, 'server');
  const first = await lines.next();
  const listening = first as { event?: string; port?: number; pid?: number };
  if (listening.event !== 'listening' || listening.port === undefined || listening.pid === undefined) {
    throw new Error(`tcpexact: server said ${JSON.stringify(first)} instead of listening`);
  }
  const reports = new ConnectionReports();
  const collecting = (async () => {
    for (;;) {
      const line = (await lines.next().catch(() => null)) as ServerConnectionReport | null;
      if (line === null) break;
      reports.add(line);
    }
    reports.end();
  })();
  return {
    port: listening.port,
    pid: listening.pid,
    connections: reports.list,
    waitForConnections: (count, timeoutMs = DEFAULT_TIMEOUT_MS) =>
      reports.waitFor(count, timeoutMs, () => child.exitCode !== null || child.signalCode !== null),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'close');
      }
      await collecting;
    },
  };
}

export type ClientArgs = ({ mode: 'once' } & OnceOptions) | ({ mode: 'many' } & ManyOptions);

/**
 * Runs `tcpexact client once|many` as a child process through `spawner` and returns its report.
 *
 * @example
 * ```ts
 * const r = await runClient(topo.host('client'), { mode: 'many', host: addr, port, connections: 50,
 *   maxSend: 10_000, maxRecv: 10_000, seed: 3, concurrency: 4 });
 * ```
 */
export async function runClient(spawner: Spawner, options: ClientArgs): Promise<ClientReport> {
  const child = spawner.spawn(process.execPath, [SCRIPT, 'client', ...clientArgs(options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = jsonLines(child, `client ${options.mode}`);
  const report = (await lines.next()) as ClientReport;
  await lines.end();
  return report;
}

export interface HoldProcess {
  /** The client's pid and totals after the first exchange. */
  readonly opened: ClientReport;
  exchange(send: number, recv: number): Promise<ClientReport>;
  close(): Promise<ClientReport>;
  reset(): Promise<ClientReport>;
}

/**
 * Runs `tcpexact client hold` as a child process and drives it through its stdin.
 *
 * @example
 * ```ts
 * const hold = await spawnHold(topo.host('client'), { host: addr, port, send: 100, recv: 100 });
 * const after = await hold.exchange(5000, 0); // after.bytesSent === 16 + 100 + 16 + 5000
 * await hold.close();
 * ```
 */
export async function spawnHold(spawner: Spawner, options: OnceOptions): Promise<HoldProcess> {
  const child = spawner.spawn(
    process.execPath,
    [SCRIPT, 'client', ...clientArgs({ mode: 'hold', ...options })],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const lines = jsonLines(child, 'client hold');
  const opened = (await lines.next()) as ClientReport;
  const command = async (text: string): Promise<ClientReport> => {
    child.stdin!.write(`${text}\n`);
    return (await lines.next()) as ClientReport;
  };
  const finish = async (text: string): Promise<ClientReport> => {
    const report = await command(text);
    child.stdin!.end();
    await lines.end();
    return report;
  };
  return {
    opened,
    exchange: (send, recv) => command(`send ${send} ${recv}`),
    close: () => finish('close'),
    reset: () => finish('reset'),
  };
}

function clientArgs(options: ClientArgs | ({ mode: 'hold' } & OnceOptions)): string[] {
  const args = [options.mode, '--host', options.host, '--port', String(options.port)];
  if (options.bind !== undefined) args.push('--bind', options.bind);
  if (options.timeoutMs !== undefined) args.push('--timeout-ms', String(options.timeoutMs));
  if (options.mode === 'many') {
    args.push('--connections', String(options.connections), '--max-send', String(options.maxSend));
    args.push('--max-recv', String(options.maxRecv), '--seed', String(options.seed ?? 1));
    args.push('--concurrency', String(options.concurrency ?? 1));
  } else {
    args.push('--send', String(options.send), '--recv', String(options.recv));
  }
  return args;
}

/** Reads a child's stdout as JSON lines; `end()` waits for a clean exit and fails with its stderr otherwise. */
function jsonLines(child: ChildProcess, what: string): { next(): Promise<unknown>; end(): Promise<void> } {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 16_384) stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const failure = (): Error =>
    new Error(
      `tcpexact ${what} exited (${String(child.exitCode ?? child.signalCode)}) before answering: ${stderr.trim()}`,
    );
  const iterator = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async next() {
      const { value, done } = await iterator.next();
      if (done === true) {
        await exited;
        throw failure();
      }
      return JSON.parse(value) as unknown;
    },
    async end() {
      await exited;
      if (child.exitCode !== 0) throw failure();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// CLI

function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!;
    const value = argv[i + 1];
    if (!key.startsWith('--') || value === undefined) {
      throw new Error(
        `tcpexact: expected --flag value pairs, got ${JSON.stringify(argv.slice(i).join(' '))}`,
      );
    }
    flags.set(key.slice(2), value);
  }
  return flags;
}

function flagNumber(flags: Map<string, string>, name: string, fallback?: number): number {
  const text = flags.get(name);
  if (text === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`tcpexact: --${name} is required`);
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`tcpexact: --${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

function flagString(flags: Map<string, string>, name: string): string {
  const text = flags.get(name);
  if (text === undefined) throw new Error(`tcpexact: --${name} is required`);
  return text;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function main(argv: readonly string[]): Promise<void> {
  const [role, ...rest] = argv;
  if (role === 'server') {
    const flags = parseFlags(rest);
    const server = await startServer({
      host: flags.get('host') ?? '::',
      port: flagNumber(flags, 'port', 0),
      onConnection: print,
    });
    print({ event: 'listening', host: server.host, port: server.port, pid: process.pid });
    const stop = (): void => {
      void server.close().then(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return;
  }
  if (role !== 'client') {
    throw new Error(`tcpexact: first argument must be server or client, got ${JSON.stringify(role)}`);
  }
  const [mode, ...flagArgs] = rest;
  const flags = parseFlags(flagArgs);
  const connect: ConnectOptions = {
    host: flagString(flags, 'host'),
    port: flagNumber(flags, 'port'),
    timeoutMs: flagNumber(flags, 'timeout-ms', DEFAULT_TIMEOUT_MS),
  };
  const bind = flags.get('bind');
  if (bind !== undefined) connect.bind = bind;
  if (mode === 'once') {
    print(await runOnce({ ...connect, send: flagNumber(flags, 'send'), recv: flagNumber(flags, 'recv') }));
  } else if (mode === 'many') {
    print(
      await runMany({
        ...connect,
        connections: flagNumber(flags, 'connections'),
        maxSend: flagNumber(flags, 'max-send'),
        maxRecv: flagNumber(flags, 'max-recv'),
        seed: flagNumber(flags, 'seed', 1),
        concurrency: flagNumber(flags, 'concurrency', 1),
      }),
    );
  } else if (mode === 'hold') {
    const conn = await openHold({
      ...connect,
      send: flagNumber(flags, 'send'),
      recv: flagNumber(flags, 'recv'),
    });
    print({ event: 'open', ...summarize('hold', [conn.report()]) });
    for await (const line of createInterface({ input: process.stdin })) {
      const [verb, a, b] = line.trim().split(/\s+/);
      if (verb === 'send') {
        const send = Number(a);
        const recv = Number(b);
        print({ event: 'exchanged', ...summarize('hold', [await conn.exchange(send, recv)]) });
      } else if (verb === 'close' || verb === 'reset') {
        const report = verb === 'close' ? await conn.close() : await conn.reset();
        print({ event: 'closed', ...summarize('hold', [report]) });
        return;
      } else {
        throw new Error(
          `tcpexact: hold understands "send N M", "close" and "reset", got ${JSON.stringify(line)}`,
        );
      }
    }
    throw new Error('tcpexact: stdin closed before "close" or "reset"');
  } else {
    throw new Error(`tcpexact: client mode must be once, many or hold, got ${JSON.stringify(mode)}`);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
