/**
 * Overhead of the `ebpf_socket` receiver on the workloads it watches, as ratios
 * against a baseline measured in the same run: runs alternate (baseline,
 * agent, baseline, agent, ...) so that the noise of a shared machine hits
 * both sides alike; the result is the median of the per-round ratios.
 *
 * - conn_rate: new TCP connections per second (64 B each way, one connection
 *   per request), `connrate.c`, client and server on `lo` of a private
 *   namespace.
 * - bulk: iperf3 throughput across a veth pair between two namespaces.
 *
 *   npx node bench/ebpf_socket/overhead.ts [--rounds 7] [--seconds 4] [--only conn_rate|bulk]
 *
 * Needs root, gcc and iperf3 (scripts/setup.d/20-bpf.sh), and `npm run build` first: the agent side
 * runs from dist/, as in production.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createTopology } from '../../test/support/netns.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    seconds: { type: 'string', default: '4' },
    only: { type: 'string' },
    'poll-interval': { type: 'string', default: '5000' },
  },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const HERE = new URL('.', import.meta.url).pathname;
const TOOL_DIR = new URL('../../.cache/bench/', import.meta.url).pathname;

function build(name: string): string {
  mkdirSync(TOOL_DIR, { recursive: true });
  const out = `${TOOL_DIR}${name}`;
  execFileSync('gcc', ['-O2', '-Wall', '-o', out, `${HERE}${name}.c`]);
  return out;
}

async function startAgent(): Promise<{ child: ChildProcess; stop: () => Promise<Record<string, unknown>> }> {
  const child = spawn(
    process.execPath,
    [`${HERE}agent.mjs`, '--poll-interval', String(values['poll-interval'])],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ready = await lines.next();
  if (ready.done === true) throw new Error('agent exited before it was ready');
  return {
    child,
    stop: async () => {
      child.stdin!.end();
      const stopped = await lines.next();
      return stopped.done === true ? {} : (JSON.parse(stopped.value) as Record<string, unknown>);
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function spread(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${s[0]!.toFixed(3)} max ${s[s.length - 1]!.toFixed(3)}`;
}

/** One measurement: the headline value (higher is better) and, optionally, a CPU cost (lower is better). */
interface Sample {
  value: number;
  cpuCost?: number;
}

async function alternate(name: string, unit: string, run: () => Promise<Sample>): Promise<void> {
  const base: number[] = [];
  const withAgent: number[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate which side goes first, so a drift in the machine's load favours neither.
    const order = i % 2 === 0 ? ['base', 'agent'] : ['agent', 'base'];
    let b: Sample = { value: 0 };
    let a: Sample = { value: 0 };
    for (const side of order) {
      if (side === 'base') {
        b = await run();
      } else {
        const agent = await startAgent();
        await new Promise((done) => setTimeout(done, 500));
        try {
          a = await run();
        } finally {
          await agent.stop();
        }
      }
    }
    base.push(b.value);
    withAgent.push(a.value);
    ratios.push(a.value / b.value);
    const cpu = b.cpuCost !== undefined && a.cpuCost !== undefined ? b.cpuCost / a.cpuCost : undefined;
    if (cpu !== undefined) cpuRatios.push(cpu);
    process.stdout.write(
      `${name} round ${i + 1}: base ${b.value.toFixed(1)} ${unit}, agent ${a.value.toFixed(1)} ${unit}, ratio ${(a.value / b.value).toFixed(3)}` +
        (cpu === undefined
          ? ''
          : `, work per CPU second ratio ${cpu.toFixed(3)} (${b.cpuCost!.toFixed(1)} vs ${a.cpuCost!.toFixed(1)} us)`) +
        '\n',
    );
  }
  const cv = (xs: number[]) => {
    const m = xs.reduce((x, y) => x + y, 0) / xs.length;
    return Math.sqrt(xs.reduce((x, y) => x + (y - m) ** 2, 0) / xs.length) / m;
  };
  process.stdout.write(
    `${JSON.stringify({
      bench: name,
      rounds: ROUNDS,
      baseMedian: median(base),
      agentMedian: median(withAgent),
      ratioMedian: Number(median(ratios).toFixed(3)),
      ratioSpread: spread(ratios),
      baseNoiseCv: Number(cv(base).toFixed(3)),
      ...(cpuRatios.length > 0
        ? {
            perCpuSecondRatioMedian: Number(median(cpuRatios).toFixed(3)),
            perCpuSecondRatioSpread: spread(cpuRatios),
          }
        : {}),
      unit,
    })}\n`,
  );
}

const topo = await createTopology({
  prefix: 'lhr',
  hosts: ['a', 'b'],
  subnet4: '10.201.250.0/24',
  subnet6: 'fd00:201::fa00/120',
});
try {
  if (values.only === undefined || values.only === 'conn_rate') {
    const connrate = build('connrate');
    let port = 20000;
    await alternate('conn_rate', 'conn/s', async () => {
      port += 1;
      const out = await topo.host('a').exec(connrate, ['127.0.0.1', String(port), String(SECONDS)]);
      const r = JSON.parse(out.stdout) as { rate: number; cpuUsPerConn: number };
      return { value: r.rate, cpuCost: r.cpuUsPerConn };
    });
  }
  if (values.only === undefined || values.only === 'bulk') {
    const a = topo.host('a');
    const b = topo.host('b');
    let port = 25000;
    await alternate('bulk_veth', 'Gbit/s', async () => {
      port += 1;
      const server = b.spawn('iperf3', ['-s', '-1', '-B', b.addr4, '-p', String(port)], { stdio: 'ignore' });
      await new Promise((done) => setTimeout(done, 300));
      const out = await a.exec('iperf3', ['-c', b.addr4, '-p', String(port), '-t', String(SECONDS), '-J'], {
        timeoutMs: (SECONDS + 20) * 1000,
      });
      server.kill();
      const report = JSON.parse(out.stdout) as { end: { sum_received: { bits_per_second: number } } };
      return { value: report.end.sum_received.bits_per_second / 1e9 };
    });
  }
} finally {
  await topo.destroy();
}
