/**
 * Overhead of the `ebpf_socket` receiver on the workloads it watches, as
 * ratios against a baseline measured in the same run (bench/harness.ts runs
 * `no agent` and `agent` alternately):
 * - new-connection rate (bench/tools/connblast: 64 B each way, one connection
 *   per request) over a veth pair and over loopback, with the CPU µs per
 *   connection of the client and server processes, where the eBPF programs
 *   run (less disturbed by other load than the rate);
 * - bulk throughput (iperf3) across a veth pair.
 *
 *   npm run build && npx node bench/ebpf_socket/overhead.ts [--rounds N] [--warmup N] [--json PATH|-]
 *
 * Needs root and bench/tools' programs (scripts/setup.d/10-net-tools.sh); the
 * agent side runs from dist/, as in production (hence `npm run build`).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Candidate } from '../harness.ts';
import { runBench } from '../harness.ts';
import { connectionRate } from '../tools/connblast.ts';
import { bulkThroughput } from '../tools/iperf.ts';

const AGENT = new URL('./agent.mjs', import.meta.url).pathname;
let agent: { child: ChildProcess; lines: AsyncIterator<string> } | undefined;

/** The agent in its own process, default settings, started before and stopped after each measurement. */
const withAgent: Candidate = {
  name: 'agent',
  async setup() {
    const child = spawn(process.execPath, [AGENT], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const ready = await lines.next();
    if (ready.done === true) throw new Error('agent exited before it was ready');
    agent = { child, lines };
    // Let start-up work (adoption, JIT) finish before the load starts.
    await new Promise((done) => setTimeout(done, 500));
  },
  async teardown() {
    if (agent === undefined) return;
    agent.child.stdin!.end();
    const stopped = await agent.lines.next();
    agent = undefined;
    if (stopped.done !== true) {
      const report = JSON.parse(stopped.value) as { errors: string[] };
      if (report.errors.length > 0) throw new Error(`agent reported errors: ${report.errors.join('; ')}`);
    }
  },
};

await runBench({
  title: 'ebpf_socket: new-connection rate (64 B each way, one connection per request)',
  metrics: [
    { name: 'veth', unit: 'connections/s over veth', higherIsBetter: true },
    { name: 'vethCpu', unit: 'µs CPU/connection over veth', higherIsBetter: false },
    { name: 'loopback', unit: 'connections/s over loopback', higherIsBetter: true },
    { name: 'loopbackCpu', unit: 'µs CPU/connection over loopback', higherIsBetter: false },
  ],
  rounds: 7,
  baseline: { name: 'no agent' },
  candidates: [withAgent],
  workload: async () => {
    const veth = await connectionRate({ path: 'veth', seconds: 3 });
    const loopback = await connectionRate({ path: 'loopback', seconds: 3 });
    if (veth.failed > 0 || loopback.failed > 0) {
      throw new Error(`connections failed: ${veth.firstError || loopback.firstError}`);
    }
    return {
      veth: veth.connectionsPerSecond,
      vethCpu: veth.cpuMicrosPerConnection,
      loopback: loopback.connectionsPerSecond,
      loopbackCpu: loopback.cpuMicrosPerConnection,
    };
  },
});

await runBench({
  title: 'ebpf_socket: bulk throughput across a veth pair (iperf3, 1 stream)',
  metrics: [{ name: 'throughput', unit: 'Gbit/s', higherIsBetter: true }],
  rounds: 7,
  baseline: { name: 'no agent' },
  candidates: [withAgent],
  workload: async () => {
    const r = await bulkThroughput({ seconds: 3 });
    return { throughput: r.bitsPerSecond / 1e9 };
  },
});
