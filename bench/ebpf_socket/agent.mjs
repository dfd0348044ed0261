/**
 * The receiver alone, as the agent runs it in production (compiled, from
 * dist/: run `npm run build` first), for benchmarks. Starts `ebpf_socket`
 * with the default config (or `--poll-interval MS`, `--max-sockets N`),
 * prints `{"event":"ready",...}` once started, polls on its timer and, on
 * SIGTERM or when stdin closes, prints `{"event":"stopped",...}` with its poll
 * count, CPU, RSS and the kernel table drops its polls counted, then exits.
 *
 *   node bench/ebpf_socket/agent.mjs [--poll-interval 1000] [--max-sockets 65536]
 */
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { createLogger } from '../../dist/core/log.js';
import { TelemetryRegistry } from '../../dist/core/telemetry-registry.js';
import { ebpfSocketReceiverFactory } from '../../dist/receivers/ebpf_socket/factory.js';

const { values } = parseArgs({
  options: {
    'poll-interval': { type: 'string', default: '5000' },
    'max-sockets': { type: 'string', default: '65536' },
  },
});

let polls = 0;
let samples = 0;
const errors = [];
const registry = new TelemetryRegistry();
const receiver = ebpfSocketReceiverFactory.create(
  {
    id: { type: 'ebpf_socket', name: '' },
    logger: createLogger({ level: 'warn' }),
    telemetry: registry.scoped({ 'component.id': 'ebpf_socket' }),
  },
  {
    poll_interval: Number(values['poll-interval']),
    max_sockets: Number(values['max-sockets']),
    max_links: 16384,
    network_namespaces: ['all'],
    include_loopback: true,
  },
  {
    consume: async (batch) => {
      polls++;
      samples += batch.sockets.count;
    },
  },
);
const cpu0 = process.cpuUsage();
await receiver.start({ reportError: (error) => errors.push(error.message) });
process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid })}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  const memory = process.memoryUsage();
  const rss = memory.rss;
  await receiver.shutdown();
  const cpu = process.cpuUsage(cpu0);
  const telemetry = registry.collect();
  const pollCpu = telemetry.find((m) => m.name === 'loggerhead.receiver.poll.cpu')?.points[0]?.histogram;
  const fullDrops = (
    telemetry.find((m) => m.name === 'loggerhead.receiver.map.full_drops')?.points ?? []
  ).reduce((sum, p) => sum + p.value, 0);
  process.stdout.write(
    `${JSON.stringify({
      event: 'stopped',
      polls,
      samples,
      cpuMs: (cpu.user + cpu.system) / 1000,
      pollCpuMsMean: pollCpu === undefined ? undefined : pollCpu.sum / pollCpu.count,
      fullDrops,
      rssMiB: Number((rss / 2 ** 20).toFixed(1)),
      maxRssMiB: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
      heapUsedMiB: Number((memory.heapUsed / 2 ** 20).toFixed(1)),
      heapTotalMiB: Number((memory.heapTotal / 2 ** 20).toFixed(1)),
      externalMiB: Number((memory.external / 2 ** 20).toFixed(1)),
      heapSpacesMiB: Object.fromEntries(
        v8
          .getHeapSpaceStatistics()
          .filter((s) => s.space_size > 0)
          .map((s) => [s.space_name, Number((s.space_size / 2 ** 20).toFixed(1))]),
      ),
      errors,
    })}\n`,
  );
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
