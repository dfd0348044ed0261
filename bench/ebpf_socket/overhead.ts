/**
 * Overhead of the `ebpf_socket` receiver on the workloads it watches, printed
 * as ratios against a baseline measured in the same run: issue 3 asks for a
 * new-connection rate >= 0.95x and a bulk throughput over veth >= 0.99x of the
 * rate without the agent. The last lines printed are the final ratios.
 *
 *   npm run build && npx node bench/ebpf_socket/overhead.ts [--pairs 15] [--seconds 2] [--warmup 1]
 *     [--only loopback,veth,bulk] [--control] [--table 65536] [--pin CPUS] [--json PATH|-]
 *
 * Method (the machine is 2 vCPUs shared with other jobs, so wall-clock rates
 * swing by +-30 % between runs; the cost is read from CPU samples instead):
 * - `--pairs` rounds of `no agent` / `agent` back to back (bench/harness.ts
 *   alternates them), each a fresh agent process with the receiver's default
 *   settings (read from its config schema: 5 s polls, a socket table of 65536
 *   entries...), started before and stopped after its measurement;
 *   `--control` adds a second `no agent`, the noise floor;
 * - `--table N` sizes the agent's socket table instead: the agent adopts every
 *   socket of the machine, and where other jobs hold many (a poll bench holds
 *   100k), a default table fills up, the agent drops this bench's sockets
 *   and the run is reported invalid (`AGENT TABLE FULL`); 262144 leaves room
 *   for them. The size does not change the hooks' cost per connection (a
 *   socket's entry is the one its cookie names), but a poll walks the whole
 *   table: the agent's own CPU grows with it;
 * - per measurement: connblast new connections (64 B each way, one connection
 *   per request) over loopback and over a veth pair, and one iperf3 stream over
 *   a veth pair, `--seconds` each, while `perf record` samples every CPU
 *   (cpu-clock, kernel call chains);
 * - the headline, `kernel hooks`: the share of the load's samples (connblast
 *   or iperf3, and ksoftirqd) with a BPF tracepoint frame on the stack (the
 *   programs and their dispatch; an interrupt taken inside a hook is not
 *   counted), with the agent minus without it (other jobs' programs on the
 *   same tracepoints are in both runs of a pair). The load is CPU-bound, so the
 *   rate ratio is 1 - that difference; `kernel hooks + agent CPU` also divides
 *   by 1 + the agent process's CPU in the window (/proc schedstat) as a share
 *   of the load's (its polls, whose cost does not depend on the rate);
 * - cross-checks: CPU per operation (getrusage of the load processes, which
 *   this kernel charges with the softirq work done in their context, plus the
 *   ksoftirqd threads and the agent) and the wall-clock rate or throughput;
 * - every ratio is per pair (the agent's value over the baseline of the same
 *   pair, measured seconds apart, so slow drifts cancel), reported as the
 *   median with the min and max over the pairs;
 * - `--pin CPUS` runs client and server with `taskset -c CPUS` (e.g. `1`: both
 *   on one vCPU, so no idle wake-ups between them); default unpinned.
 *
 * Needs root, perf (Debian linux-perf), connblast (scripts/setup.d/10-net-tools.sh
 * --test) and iperf3; the agent side runs from dist/, as in production (hence
 * `npm run build`).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Candidate, CompareResult, Metric } from '../harness.ts';
import { compare, formatTable, median } from '../harness.ts';
import { validateConfig } from '../../core/config/validate.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import type { EbpfSocketConfig } from '../../receivers/ebpf_socket/factory.ts';
import { connectionRate } from '../tools/connblast.ts';
import { bulkThroughput } from '../tools/iperf.ts';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '15' },
    seconds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '1' },
    pin: { type: 'string' },
    only: { type: 'string', default: 'loopback,veth,bulk' },
    control: { type: 'boolean', default: false },
    table: { type: 'string' },
    json: { type: 'string' },
  },
});
const PAIRS = Number(args.pairs);
const SECONDS = Number(args.seconds);
const PIN = args.pin;
const ONLY = new Set(args.only.split(','));
for (const w of ONLY) {
  if (!['loopback', 'veth', 'bulk'].includes(w))
    throw new Error(`--only: unknown workload ${JSON.stringify(w)}`);
}
if (!Number.isInteger(PAIRS) || PAIRS < 1) throw new Error(`--pairs must be a whole number >= 1`);
if (!Number.isInteger(SECONDS) || SECONDS < 1) throw new Error(`--seconds must be a whole number >= 1`);

const AGENT = new URL('./agent.mjs', import.meta.url).pathname;
let fullDrops = 0;
let agent: { child: ChildProcess; lines: AsyncIterator<string>; pid: number } | undefined;

/** CPU nanoseconds a process's threads have run (/proc/PID/task/TID/schedstat: exact, not tick-sampled). */
function processCpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread exited between the listing and the read: its time is gone with it.
    }
  }
  return total;
}

const KSOFTIRQD = readdirSync('/proc')
  .filter((p) => /^\d+$/.test(p))
  .filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('ksoftirqd/');
    } catch {
      return false;
    }
  })
  .map(Number);

/** CPU nanoseconds of the ksoftirqd threads (softirq work the kernel deferred, ours and other jobs'). */
function softirqThreadsNs(): number {
  return KSOFTIRQD.reduce((sum, pid) => sum + processCpuNs(pid), 0);
}

/** The agent's CPU ns so far (0 without the agent). */
function agentNs(): number {
  return agent === undefined ? 0 : processCpuNs(agent.pid);
}

/** The receiver's defaults, as a user gets them: what the agent runs with, but for `--table`. */
const defaults = validateConfig(undefined, ebpfSocketReceiverFactory.configSchema);
if (defaults.issues.length > 0) throw new Error(`ebpf_socket defaults: ${JSON.stringify(defaults.issues)}`);
const RECEIVER_DEFAULTS = defaults.value as unknown as EbpfSocketConfig;
// agent.mjs sets these itself: they must still be the defaults.
const AGENT_FIXED = { max_links: 16384, network_namespaces: ['all'], include_loopback: true };
for (const [key, value] of Object.entries(AGENT_FIXED)) {
  if (JSON.stringify(RECEIVER_DEFAULTS[key as keyof EbpfSocketConfig]) !== JSON.stringify(value)) {
    throw new Error(
      `bench/ebpf_socket/agent.mjs runs ${key} ${JSON.stringify(value)}, no longer the default`,
    );
  }
}
const TABLE_SIZE = args.table === undefined ? RECEIVER_DEFAULTS.max_sockets : Number(args.table);
if (!Number.isInteger(TABLE_SIZE) || TABLE_SIZE < 1) throw new Error('--table must be a whole number >= 1');

const PERF_FREQUENCY = 2999;
/** Kernel frames of a tracepoint's BPF dispatch and programs: a sample under one is hook time. */
const HOOK_FRAME = /^(bpf_prog_|bpf_trace_run\d|__bpf_trace_|__traceiter_|__bpf_prog_(enter|exit))/;
/** Interrupt entry frames: a sample with one nearer the leaf than the hook frame is interrupt work. */
const INTERRUPT_FRAME =
  /^(handle_softirqs|__do_softirq|do_softirq|__irq_exit_rcu|irq_exit_rcu|asm_sysvec_|sysvec_|__sysvec_|asm_common_interrupt|common_interrupt)/;

/** `perf record` of every CPU (cpu-clock sampling, kernel call chains) until the returned stop is called. */
function startPerf(): () => Promise<{ loadSamples: number; hookSamples: number }> {
  const file = `/tmp/lh-overhead-${process.pid}.perf`;
  const child = spawn(
    'perf',
    ['record', '-q', '-e', 'cpu-clock', '-F', String(PERF_FREQUENCY), '-a', '-g', '-o', file],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'close');
  return async () => {
    child.kill('SIGINT');
    // perf re-raises the SIGINT it stopped on once the data is written.
    const [code, signal] = (await exited) as [number | null, string | null];
    if (code !== 0 && signal !== 'SIGINT') {
      throw new Error(`perf record failed (${String(code ?? signal)}): ${stderr.trim()}`);
    }
    try {
      return await hookShare(file);
    } finally {
      rmSync(file, { force: true });
    }
  };
}

/**
 * Counts the samples of the load (the processes named by LOAD_COMMS and ksoftirqd) and, among them,
 * those with a BPF tracepoint frame on the stack.
 */
async function hookShare(file: string): Promise<{ loadSamples: number; hookSamples: number }> {
  const child = spawn('perf', ['script', '-i', file, '-F', 'comm,ip,sym'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let loadSamples = 0;
  let hookSamples = 0;
  let inLoad = false;
  let hooked = false;
  let interrupted = false;
  const end = (): void => {
    if (inLoad) {
      loadSamples++;
      if (hooked) hookSamples++;
    }
    inLoad = false;
    hooked = false;
    interrupted = false;
  };
  for await (const line of createInterface({ input: child.stdout! })) {
    if (line.length === 0) end();
    else if (line.startsWith('\t')) {
      // Frames come leaf first: an interrupt taken while a hook ran is not the hook's cost.
      if (!inLoad || hooked || interrupted) continue;
      const frame = line.trim().split(/\s+/)[1] ?? '';
      interrupted = INTERRUPT_FRAME.test(frame);
      hooked = !interrupted && HOOK_FRAME.test(frame);
    } else {
      end();
      const comm = line.trim();
      inLoad = LOAD_COMMS.has(comm) || comm.startsWith('ksoftirqd/');
    }
  }
  end();
  return { loadSamples, hookSamples };
}

const LOAD_COMMS = new Set(['connblast', 'iperf3']);

/** The agent in its own process, default settings, started before and stopped after each measurement. */
const withAgent: Candidate = {
  name: 'agent',
  async setup() {
    const settings = [
      ...['--poll-interval', String(RECEIVER_DEFAULTS.poll_interval)],
      ...['--max-sockets', String(TABLE_SIZE)],
    ];
    const child = spawn(process.execPath, [AGENT, ...settings], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const ready = await lines.next();
    if (ready.done === true) throw new Error('agent exited before it was ready');
    agent = { child, lines, pid: (JSON.parse(ready.value) as { pid: number }).pid };
    // Let start-up work (adoption, JIT) finish before the load starts.
    await new Promise((done) => setTimeout(done, 500));
  },
  async teardown() {
    if (agent === undefined) return;
    const { child, lines } = agent;
    agent = undefined;
    child.stdin!.end();
    const stopped = await lines.next();
    if (stopped.done !== true) {
      const report = JSON.parse(stopped.value) as { errors: string[]; fullDrops: number };
      if (report.errors.length > 0) throw new Error(`agent reported errors: ${report.errors.join('; ')}`);
      fullDrops += report.fullDrops;
    }
  },
};

/** One connblast run; the CPU it cost per connection, the agent's and ksoftirqd's included. */
async function connections(
  path: 'loopback' | 'veth',
): Promise<{ rate: number; cpuUs: number; hookShare: number; agentShare: number }> {
  const agent0 = agentNs();
  const soft0 = softirqThreadsNs();
  const perf = startPerf();
  const r = await connectionRate({ path, seconds: SECONDS, clientCpus: PIN, serverCpus: PIN });
  const samples = await perf();
  const agentCpuNs = agentNs() - agent0;
  const cpuNs = r.cpuMicrosPerConnection * 1e3 * r.connections + (softirqThreadsNs() - soft0);
  if (r.failed > 0) throw new Error(`connections failed over ${path}: ${r.firstError}`);
  return {
    rate: r.connectionsPerSecond,
    cpuUs: (cpuNs + agentCpuNs) / 1e3 / r.connections,
    hookShare: samples.hookSamples / samples.loadSamples,
    agentShare: agentCpuNs / cpuNs,
  };
}

/** One iperf3 run; the CPU it cost per GB received (both iperf3 processes, agent and ksoftirqd). */
async function bulk(): Promise<{ gbits: number; cpuMsPerGB: number; hookShare: number; agentShare: number }> {
  const agent0 = agentNs();
  const soft0 = softirqThreadsNs();
  const perf = startPerf();
  const r = await bulkThroughput({ seconds: SECONDS, clientCpus: PIN, serverCpus: PIN });
  const samples = await perf();
  const agentCpuNs = agentNs() - agent0;
  const cpuNs = r.cpuSeconds * 1e9 + (softirqThreadsNs() - soft0);
  return {
    gbits: r.bitsPerSecond / 1e9,
    cpuMsPerGB: (cpuNs + agentCpuNs) / 1e6 / (r.bytesReceived / 1e9),
    hookShare: samples.hookSamples / samples.loadSamples,
    agentShare: agentCpuNs / cpuNs,
  };
}

interface Workload {
  key: 'loopback' | 'veth' | 'bulk';
  label: string;
  /** Unit of the CPU metric and of the rate metric. */
  cpuUnit: string;
  rateUnit: string;
  target: number;
}

const WORKLOADS: readonly Workload[] = (
  [
    {
      key: 'loopback',
      label: 'new connections, loopback',
      cpuUnit: 'µs CPU/connection',
      rateUnit: 'connections/s',
      target: 0.95,
    },
    {
      key: 'veth',
      label: 'new connections, veth',
      cpuUnit: 'µs CPU/connection',
      rateUnit: 'connections/s',
      target: 0.95,
    },
    { key: 'bulk', label: 'bulk over veth (iperf3)', cpuUnit: 'ms CPU/GB', rateUnit: 'Gbit/s', target: 0.99 },
  ] as const
).filter((w) => ONLY.has(w.key));

const METRICS: Metric[] = WORKLOADS.flatMap((w) => [
  {
    name: `${w.key}Hooks`,
    unit: `% of the load's CPU under BPF tracepoints, ${w.key}`,
    higherIsBetter: false,
  },
  { name: `${w.key}Agent`, unit: `load + agent CPU in % of the load's, ${w.key}`, higherIsBetter: false },
  { name: `${w.key}Cpu`, unit: `${w.cpuUnit}, ${w.key}`, higherIsBetter: false },
  { name: `${w.key}Rate`, unit: `${w.rateUnit}, ${w.key}`, higherIsBetter: true },
]);

/** A second baseline, identical to the first: its ratios are the noise floor of the run. */
const control: Candidate = { name: 'no agent (control)' };

const result = await compare({
  title: 'ebpf_socket overhead',
  metrics: METRICS,
  rounds: PAIRS,
  warmupRounds: Number(args.warmup),
  baseline: { name: 'no agent' },
  candidates: args.control ? [withAgent, control] : [withAgent],
  workload: async () => {
    const out: Record<string, number> = {};
    for (const w of WORKLOADS) {
      const r =
        w.key === 'bulk'
          ? await bulk().then((b) => ({ ...b, cpu: b.cpuMsPerGB, rate: b.gbits }))
          : await connections(w.key).then((c) => ({ ...c, cpu: c.cpuUs }));
      out[`${w.key}Hooks`] = r.hookShare * 100;
      out[`${w.key}Agent`] = 100 + r.agentShare * 100;
      out[`${w.key}Cpu`] = r.cpu;
      out[`${w.key}Rate`] = r.rate;
    }
    return out;
  },
});

function values(r: CompareResult, metric: string, candidate: number): { base: number[]; cand: number[] } {
  const m = r.metrics.find((x) => x.name === metric)!;
  return { base: m.baseline.values, cand: m.candidates[candidate]!.values };
}

/**
 * Rate ratios per pair (> 1: faster than the baseline):
 * - `hooks`: from the samples, 1 - (hook share with - hook share without): the load's CPU without our
 *   programs (other jobs' BPF programs on the same tracepoints are in both runs of a pair);
 * - `withAgent`: the same over 1 + the agent's own CPU (its polls) as a share of the load's;
 * - `cpu`: CPU per operation without / with;
 * - `rate`: the wall-clock rate with / without.
 */
function pairRatios(
  r: CompareResult,
  w: Workload,
  candidate: number,
): Record<'hooks' | 'withAgent' | 'cpu' | 'rate' | 'others', number[]> {
  const hooks = values(r, `${w.key}Hooks`, candidate);
  const agentShare = values(r, `${w.key}Agent`, candidate).cand;
  const cpu = values(r, `${w.key}Cpu`, candidate);
  const rate = values(r, `${w.key}Rate`, candidate);
  const kernel = hooks.cand.map((h, i) => 1 - (h - hooks.base[i]!) / 100);
  return {
    hooks: kernel,
    withAgent: kernel.map((k, i) => k / (agentShare[i]! / 100)),
    cpu: cpu.cand.map((c, i) => cpu.base[i]! / c),
    rate: rate.cand.map((x, i) => x / rate.base[i]!),
    others: hooks.base,
  };
}

function summary(r: CompareResult): string {
  const cell = (ratios: number[]): string =>
    `${median(ratios).toFixed(3)}  (pairs min ${Math.min(...ratios).toFixed(3)} .. max ${Math.max(...ratios).toFixed(3)})`;
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    `ebpf_socket overhead, ${r.rounds} pairs of ${SECONDS} s runs (+${r.warmupRounds} warm-up)` +
      `${PIN === undefined ? '' : `, load pinned to CPU ${PIN}`}, agent polls every ${RECEIVER_DEFAULTS.poll_interval} ms, ` +
      `table ${TABLE_SIZE} entries${TABLE_SIZE === RECEIVER_DEFAULTS.max_sockets ? ' (the default)' : ` (default ${RECEIVER_DEFAULTS.max_sockets})`}` +
      `${fullDrops > 0 ? `, AGENT TABLE FULL ${fullDrops} times: results invalid` : ''}.`,
    'Rate ratios with / without the agent, median over pairs:',
  ];
  for (const w of WORKLOADS) {
    const ratios = pairRatios(r, w, 0);
    lines.push(`${w.label} (target >= ${w.target})`);
    lines.push(`  kernel hooks (perf samples)     ${cell(ratios.hooks)}`);
    lines.push(`  kernel hooks + agent CPU        ${cell(ratios.withAgent)}`);
    lines.push(`  CPU per operation               ${cell(ratios.cpu)}`);
    lines.push(`  wall clock                      ${cell(ratios.rate)}`);
    lines.push(
      `  (other jobs' BPF programs on these hooks took ${median(ratios.others).toFixed(1)} % of the load's CPU without the agent, median)`,
    );
    if (args.control) {
      const noise = pairRatios(r, w, 1);
      lines.push(
        `  control (no agent twice): hooks ${cell(noise.hooks)}, CPU ${cell(noise.cpu)}, wall clock ${cell(noise.rate)}`,
      );
    }
  }
  lines.push(
    `load average ${load(r.machine.loadavgBefore)} before, ${load(r.machine.loadavgAfter)} after, ` +
      `${r.durationSeconds.toFixed(0)} s`,
  );
  return lines.join('\n');
}

process.stdout.write(`${formatTable(result)}\n\n${summary(result)}\n`);
if (args.json === '-') process.stdout.write(`${JSON.stringify(result)}\n`);
else if (args.json !== undefined) writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
