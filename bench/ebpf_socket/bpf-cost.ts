/**
 * Kernel CPU the receiver's eBPF programs add to each new connection,
 * measured directly with the kernel's BPF run-time statistics rather than
 * through a rate (which this shared machine makes noisy): the agent runs with
 * default settings (polls disabled during the window), `kernel.bpf_stats_enabled`
 * is switched on for the window (and restored), and connblast makes new
 * connections over loopback. Per program: ns per run and runs per connection
 * (other traffic on the machine also runs the hooks, so the per-connection
 * cost uses the runs a connblast connection makes: 10 state changes, 3 receives (request, response, end),
 * 2 destroys). The baseline is the CPU µs per connection of connblast itself.
 *
 *   npm run build && npx node bench/ebpf_socket/bpf-cost.ts [--repeat 3]
 *
 * The agent's table has 262144 entries (see TABLE_SIZE).
 *
 * Needs root, bpftool (scripts/setup.d/20-bpf.sh) and connblast
 * (scripts/setup.d/10-net-tools.sh). Statistics are global while enabled:
 * they slightly slow every BPF program on the machine for the few seconds.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connectionRate } from '../tools/connblast.ts';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '3' } } });
const RUNS_PER_CONNECTION: Readonly<Record<string, number>> = { on_state: 10, on_recv: 3, on_destroy: 2 };
const STATS = '/proc/sys/kernel/bpf_stats_enabled';

interface ProgStats {
  name: string;
  runTimeNs: number;
  runCount: number;
}

function agentPrograms(pid: number): ProgStats[] {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    if (m !== null) ids.add(Number(m[1]));
  }
  return [...ids].map((id) => {
    const info = JSON.parse(
      execFileSync('bpftool', ['prog', 'show', 'id', String(id), '--json'], { encoding: 'utf8' }),
    ) as {
      name: string;
      run_time_ns?: number;
      run_cnt?: number;
    };
    return { name: info.name, runTimeNs: info.run_time_ns ?? 0, runCount: info.run_cnt ?? 0 };
  });
}

/**
 * The agent's socket table, 4 times the default setting: the agent adopts every socket of the machine and
 * other jobs come and go with many (a poll bench holds 100k); a full table would skip this bench's
 * sockets, and the bench measure the drop path. A socket's entry is the one its cookie names, beside the
 * previous socket's whatever the size, so the size does not change the cost of a connection.
 */
const TABLE_SIZE = 262_144;

const before = readFileSync(STATS, 'utf8').trim();
for (let i = 0; i < Number(values.repeat); i++) {
  const child = spawn(
    process.execPath,
    [
      new URL('./agent.mjs', import.meta.url).pathname,
      '--poll-interval',
      '3600000',
      '--max-sockets',
      String(TABLE_SIZE),
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  try {
    const ready = await lines.next();
    if (ready.done === true) throw new Error('agent exited before it was ready');
    const pid = (JSON.parse(ready.value) as { pid: number }).pid;
    writeFileSync(STATS, '1');
    let load;
    try {
      load = await connectionRate({ path: 'loopback', seconds: 4 });
    } finally {
      writeFileSync(STATS, before);
    }
    let perConnectionNs = 0;
    const rows = agentPrograms(pid)
      .filter((p) => RUNS_PER_CONNECTION[p.name] !== undefined)
      .map((p) => {
        const nsPerRun = p.runCount === 0 ? 0 : p.runTimeNs / p.runCount;
        perConnectionNs += nsPerRun * RUNS_PER_CONNECTION[p.name]!;
        return {
          program: p.name,
          nsPerRun: Math.round(nsPerRun),
          runsPerConnection: p.runCount / load.connections,
        };
      });
    process.stdout.write(
      `${JSON.stringify({
        round: i + 1,
        programs: rows,
        addedNsPerConnection: Math.round(perConnectionNs),
        connblastCpuUsPerConnection: Number(load.cpuMicrosPerConnection.toFixed(1)),
        estimatedRateRatio: Number(
          (load.cpuMicrosPerConnection / (load.cpuMicrosPerConnection + perConnectionNs / 1000)).toFixed(3),
        ),
      })}\n`,
    );
  } finally {
    child.stdin!.end();
    await lines.next();
  }
}
