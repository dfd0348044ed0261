/**
 * The receiver alone, for benchmarks: starts `ebpf_socket` with the default
 * config (or `--poll-interval MS`, `--max-sockets N`), prints
 * `{"event":"ready",...}` once started, polls on its timer and, on SIGTERM or
 * when stdin closes, prints `{"event":"stopped",...}` with its poll count and
 * CPU, then exits.
 *
 *   node bench/ebpf_socket/agent.ts [--poll-interval 1000] [--max-sockets 65536]
 */
import { parseArgs } from 'node:util';
import type { SocketBatch } from '../../core/signals.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';

const { values } = parseArgs({
  options: {
    'poll-interval': { type: 'string', default: '5000' },
    'max-sockets': { type: 'string', default: '65536' },
  },
});

let polls = 0;
let samples = 0;
const settings = testSettings('ebpf_socket');
const host = testHost();
const receiver = ebpfSocketReceiverFactory.create(
  settings,
  {
    poll_interval: Number(values['poll-interval']),
    max_sockets: Number(values['max-sockets']),
    max_links: 16384,
    network_namespaces: ['all'],
    include_loopback: true,
  },
  {
    consume: async (batch: SocketBatch) => {
      polls++;
      samples += batch.sockets.length;
    },
  },
);
const cpu0 = process.cpuUsage();
await receiver.start(host);
process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await receiver.shutdown();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `${JSON.stringify({
      event: 'stopped',
      polls,
      samples,
      cpuMs: (cpu.user + cpu.system) / 1000,
      errors: host.errors.map((e) => e.message),
    })}\n`,
  );
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
setInterval(() => {}, 1 << 30);
