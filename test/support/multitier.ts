/**
 * A small three-tier application with byte counts known exactly, for
 * end-to-end tests of the service map: a `client` calls an HTTP/1.1 `front`,
 * which fetches each answer from a key-value server `kv` over its own line
 * protocol. Every process runs as a child (e.g. inside a network namespace)
 * with its `process.title`, and so the kernel `comm` the agent names it by,
 * set before it opens a socket.
 *
 * Wire format (all on fresh TCP connections, one request each, then closed):
 * - client -> front: `GET /item/<i> HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n`
 * - front -> kv: `GET item-<i>\n`; kv -> front: `VALUE <n>\n` + n bytes (n = valueSize(i))
 * - front -> client: an HTTP/1.1 200 head with Content-Length: n, then the value.
 *
 * Each process reports on stdout, one JSON line per finished exchange, the
 * payload bytes its sockets wrote and read (`socket.bytesWritten` /
 * `bytesRead`), so a test checks the agent's counts against both ends.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Spawner } from './tcpexact.ts';

const SCRIPT = new URL(import.meta.url).pathname;

/** Size of the value stored under key `item-<i>`: deterministic, 1.5 kB to ~60 kB. */
export function valueSize(i: number): number {
  return 1500 + ((i * 7919) % 58_000);
}

function valueBytes(i: number): Buffer {
  const out = Buffer.alloc(valueSize(i));
  for (let j = 0; j < out.length; j++) out[j] = 97 + ((i + j) % 26);
  return out;
}

/** What one tier reports per exchange. */
export interface ExchangeReport {
  role: 'kv' | 'front' | 'client';
  /** Bytes the process wrote and read on the connection where it is the server (kv, front). */
  servedIn: number;
  servedOut: number;
  /** Bytes written and read on the connection where it is the client (front -> kv, client -> front). */
  calledOut: number;
  calledIn: number;
}

export interface TierProcess {
  readonly port: number;
  readonly reports: readonly ExchangeReport[];
  /** Resolves once `count` exchanges were reported. */
  waitFor(count: number, timeoutMs?: number): Promise<ExchangeReport[]>;
  stop(): Promise<void>;
}

function lines(child: ChildProcess, what: string): AsyncIterator<string> & { stderr: () => string } {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 16_384) stderr += d.toString();
  });
  const it = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return Object.assign(it, { stderr: () => `${what}: ${stderr.trim()}` });
}

async function start(spawner: Spawner, args: string[], what: string): Promise<TierProcess> {
  const child = spawner.spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const it = lines(child, what);
  const first = await it.next();
  if (first.done === true) throw new Error(`multitier ${what} exited before listening: ${it.stderr()}`);
  const hello = JSON.parse(first.value) as { event?: string; port?: number };
  if (hello.event !== 'listening' || hello.port === undefined) {
    throw new Error(`multitier ${what} said ${first.value} instead of listening`);
  }
  const reports: ExchangeReport[] = [];
  let wake: () => void = () => {};
  const reading = (async () => {
    for (;;) {
      const next = await it.next();
      if (next.done === true) break;
      reports.push(JSON.parse(next.value) as ExchangeReport);
      wake();
    }
    wake();
  })();
  return {
    port: hello.port,
    reports,
    async waitFor(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (reports.length < count) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`multitier ${what} exited after ${reports.length} of ${count}: ${it.stderr()}`);
        }
        if (Date.now() > deadline) {
          throw new Error(
            `multitier ${what}: ${reports.length} of ${count} exchanges within ${timeoutMs} ms`,
          );
        }
        await Promise.race([
          new Promise<void>((r) => (wake = r)),
          new Promise((r) => setTimeout(r, 200).unref()),
        ]);
      }
      return [...reports];
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'close');
      }
      await reading;
    },
  };
}

/** Starts the key-value server (title `title`) on every address, port 0. */
export function spawnKv(spawner: Spawner, title: string): Promise<TierProcess> {
  return start(spawner, ['kv', title], 'kv');
}

/** Starts the HTTP front (title `title`) that calls the kv server at `kvHost`:`kvPort`. */
export function spawnFront(
  spawner: Spawner,
  title: string,
  kvHost: string,
  kvPort: number,
): Promise<TierProcess> {
  return start(spawner, ['front', title, kvHost, String(kvPort)], 'front');
}

/** Runs the client (title `title`): `requests` sequential requests to the front; resolves with its totals. */
export async function runMultitierClient(
  spawner: Spawner,
  title: string,
  frontHost: string,
  frontPort: number,
  requests: number,
): Promise<ExchangeReport> {
  const child = spawner.spawn(
    process.execPath,
    [SCRIPT, 'client', title, frontHost, String(frontPort), String(requests)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const it = lines(child, 'client');
  const first = await it.next();
  await once(child, 'close').catch(() => undefined);
  if (first.done === true || child.exitCode !== 0) {
    throw new Error(`multitier client failed (${String(child.exitCode)}): ${it.stderr()}`);
  }
  return JSON.parse(first.value) as ExchangeReport;
}

// ---------------------------------------------------------------------------------------------------
// The tiers (child processes)

/** Reads from `socket` until `done(buffer)` is true or the peer ends; returns what was read. */
function readUntil(socket: net.Socket, done: (data: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const stop = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', reject);
      socket.pause();
      resolve(data);
    };
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      if (done(data)) stop();
    };
    const onEnd = (): void => stop();
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', reject);
  });
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Ends our side and waits for the peer's end and the close, so the counters are final. */
async function finish(socket: net.Socket): Promise<void> {
  socket.end();
  socket.resume();
  if (!socket.destroyed) await once(socket, 'close');
}

function report(r: ExchangeReport): void {
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

function listen(handler: (socket: net.Socket) => Promise<void>): void {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    handler(socket).catch((error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    });
  });
  server.listen({ host: '::', port: 0 }, () => {
    const { port } = server.address() as net.AddressInfo;
    process.stdout.write(`${JSON.stringify({ event: 'listening', port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

async function fetchValue(
  host: string,
  port: number,
  i: number,
): Promise<{ value: Buffer; out: number; in: number }> {
  const socket = await connect(host, port);
  socket.write(`GET item-${i}\n`);
  const data = await readUntil(socket, (d) => {
    const nl = d.indexOf(10);
    return nl >= 0 && d.length >= nl + 1 + Number(d.subarray(6, nl).toString());
  });
  const nl = data.indexOf(10);
  const value = data.subarray(nl + 1);
  await finish(socket);
  return { value, out: socket.bytesWritten, in: socket.bytesRead };
}

async function main(argv: readonly string[]): Promise<void> {
  const [role, title, ...rest] = argv;
  process.title = title ?? 'multitier';
  if (role === 'kv') {
    listen(async (socket) => {
      const request = await readUntil(socket, (d) => d.includes(10));
      const match = /^GET item-(\d+)\n$/.exec(request.toString());
      if (match === null) throw new Error(`kv: bad request ${JSON.stringify(request.toString())}`);
      const value = valueBytes(Number(match[1]));
      socket.write(`VALUE ${value.length}\n`);
      socket.write(value);
      await finish(socket);
      report({
        role: 'kv',
        servedIn: socket.bytesRead,
        servedOut: socket.bytesWritten,
        calledOut: 0,
        calledIn: 0,
      });
    });
  } else if (role === 'front') {
    const [kvHost, kvPort] = rest;
    listen(async (socket) => {
      const head = await readUntil(socket, (d) => d.includes('\r\n\r\n'));
      const match = /^GET \/item\/(\d+) HTTP\/1\.1\r\n/.exec(head.toString());
      if (match === null)
        throw new Error(`front: bad request ${JSON.stringify(head.toString().slice(0, 80))}`);
      const kv = await fetchValue(kvHost!, Number(kvPort), Number(match[1]));
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${kv.value.length}\r\nConnection: close\r\n\r\n`,
      );
      socket.write(kv.value);
      await finish(socket);
      report({
        role: 'front',
        servedIn: socket.bytesRead,
        servedOut: socket.bytesWritten,
        calledOut: kv.out,
        calledIn: kv.in,
      });
    });
  } else if (role === 'client') {
    const [host, port, count] = rest;
    let out = 0;
    let inBytes = 0;
    for (let i = 0; i < Number(count); i++) {
      const socket = await connect(host!, Number(port));
      socket.write(`GET /item/${i} HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n`);
      const data = await readUntil(socket, () => false);
      const body = data.subarray(data.indexOf('\r\n\r\n') + 4);
      if (body.length !== valueSize(i))
        throw new Error(`client: item ${i}: ${body.length} bytes, expected ${valueSize(i)}`);
      await finish(socket);
      out += socket.bytesWritten;
      inBytes += socket.bytesRead;
    }
    report({ role: 'client', servedIn: 0, servedOut: 0, calledOut: out, calledIn: inBytes });
  } else {
    throw new Error(`multitier: role must be kv, front or client, got ${JSON.stringify(role)}`);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
