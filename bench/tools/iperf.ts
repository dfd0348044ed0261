/**
 * Bulk throughput over a veth pair between two namespaces, measured by `iperf3` (Debian package,
 * installed by scripts/setup.d/10-net-tools.sh) with its JSON output parsed.
 *
 * `bulkThroughput` builds a fresh client/server namespace pair, starts `iperf3 -s -1` in the server
 * namespace (port 5201 is free there: the namespace is ours), runs `iperf3 -c ... -J` for `seconds`,
 * and tears everything down.
 *
 * @example
 * ```ts
 * import { bulkThroughput } from './tools/iperf.ts';
 * const r = await bulkThroughput({ seconds: 3 });
 * // r.bitsPerSecond ≈ 1.7e10 on these machines; r.bytesReceived is what the server got
 * ```
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createTopology } from '../../test/support/netns.ts';
import type { NetnsHost } from '../../test/support/netns.ts';

const IPERF_PORT = 5201;

export interface BulkThroughputOptions {
  /** Whole seconds of transfer. @default 5 */
  seconds?: number;
  /** Parallel streams (`-P`). @default 1 */
  streams?: number;
  /** Server sends, client receives (`-R`). @default false */
  reverse?: boolean;
  /** IPv6 rather than IPv4 addresses. @default false */
  ipv6?: boolean;
  /** `taskset -c` CPU list for the client. */
  clientCpus?: string;
  /** `taskset -c` CPU list for the server. */
  serverCpus?: string;
  /** Namespace prefix. @default 'lht' */
  prefix?: string;
}

export interface BulkThroughputResult {
  /** Receiver-side throughput (`end.sum_received.bits_per_second`). */
  bitsPerSecond: number;
  /** Bytes the sender wrote (`end.sum_sent.bytes`). */
  bytesSent: number;
  /** Bytes the receiver read (`end.sum_received.bytes`). */
  bytesReceived: number;
  /** TCP retransmissions of the sender (`end.sum_sent.retransmits`). */
  retransmits: number;
  seconds: number;
  /**
   * User + system CPU seconds of both iperf3 processes over the test (their
   * `cpu_utilization_percent` host and remote totals, from getrusage, times the duration).
   */
  cpuSeconds: number;
}

interface IperfJson {
  error?: string;
  end?: {
    sum_sent?: { bytes: number; retransmits?: number; seconds: number };
    sum_received?: { bytes: number; bits_per_second: number; seconds: number };
    cpu_utilization_percent?: { host_total: number; remote_total: number };
  };
}

function iperfCommand(cpus: string | undefined, args: string[]): [string, string[]] {
  return cpus === undefined ? ['iperf3', args] : ['taskset', ['-c', cpus, 'iperf3', ...args]];
}

function assertIperf(): void {
  try {
    execFileSync('iperf3', ['--version'], { stdio: 'pipe' });
  } catch (cause) {
    throw new Error('iperf: iperf3 is missing; run `bash scripts/setup.d/10-net-tools.sh --test` (as root)', {
      cause,
    });
  }
}

/** Starts `iperf3 -s -1` in `host` and resolves once it listens. */
async function startIperfServer(
  host: NetnsHost,
  bind: string,
  cpus: string | undefined,
): Promise<() => Promise<void>> {
  const [cmd, args] = iperfCommand(cpus, ['-s', '-1', '--forceflush', '-B', bind, '-p', String(IPERF_PORT)]);
  const child = host.spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (output.includes('Server listening')) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.once('close', (code) =>
      reject(new Error(`iperf3 server exited (${String(code)}): ${output.trim()}`)),
    );
    setTimeout(
      () => reject(new Error(`iperf3 server not listening after 10 s: ${output.trim()}`)),
      10_000,
    ).unref();
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  child.stdout?.resume();
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'close');
    }
  };
}

/**
 * One iperf3 run over a fresh veth pair.
 *
 * @example
 * ```ts
 * const { bitsPerSecond, retransmits } = await bulkThroughput({ seconds: 5, streams: 2 });
 * ```
 */
export async function bulkThroughput(options: BulkThroughputOptions = {}): Promise<BulkThroughputResult> {
  assertIperf();
  const seconds = options.seconds ?? 5;
  const topo = await createTopology({ prefix: options.prefix ?? 'lht', hosts: ['client', 'server'] });
  try {
    const server = topo.host('server');
    const addr = options.ipv6 === true ? server.addr6 : server.addr4;
    const stop = await startIperfServer(server, addr, options.serverCpus);
    try {
      const args = ['-c', addr, '-p', String(IPERF_PORT), '-t', String(seconds), '-J'];
      args.push('-P', String(options.streams ?? 1));
      if (options.reverse === true) args.push('-R');
      const [cmd, argv] = iperfCommand(options.clientCpus, args);
      const { stdout } = await topo
        .host('client')
        .exec(cmd, argv, { timeoutMs: (seconds + 30) * 1000, allowFailure: true });
      let json: IperfJson;
      try {
        json = JSON.parse(stdout) as IperfJson;
      } catch (cause) {
        throw new Error(`iperf: iperf3 printed no JSON: ${stdout.slice(0, 500)}`, { cause });
      }
      if (json.error !== undefined) throw new Error(`iperf: iperf3 failed: ${json.error}`);
      const sent = json.end?.sum_sent;
      const received = json.end?.sum_received;
      if (sent === undefined || received === undefined) {
        throw new Error(`iperf: iperf3 JSON has no end.sum_sent / end.sum_received: ${stdout.slice(0, 500)}`);
      }
      const cpu = json.end?.cpu_utilization_percent;
      if (cpu === undefined) {
        throw new Error(`iperf: iperf3 JSON has no end.cpu_utilization_percent: ${stdout.slice(0, 500)}`);
      }
      return {
        bitsPerSecond: received.bits_per_second,
        bytesSent: sent.bytes,
        bytesReceived: received.bytes,
        retransmits: sent.retransmits ?? 0,
        seconds: received.seconds,
        cpuSeconds: ((cpu.host_total + cpu.remote_total) / 100) * sent.seconds,
      };
    } finally {
      await stop();
    }
  } finally {
    await topo.destroy();
  }
}
