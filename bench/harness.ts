/**
 * Bench harness: measures a baseline and one or more candidates ALTERNATELY (A B C, A B C, ...) for N
 * rounds around the same workload, and reports per candidate the median, the ratio of its median to the
 * baseline's, and the spread of the per-round ratios (each candidate value divided by the baseline
 * value of the same round, measured seconds apart, so slow drifts of the machine cancel out).
 *
 * A candidate is a setup/teardown pair around the workload (start the agent / stop it; load a program /
 * unload it). The workload returns one number per metric per run (e.g. connections/s and CPU µs per
 * connection); each metric gets its own table.
 *
 * The machines are 2 shared, noisy cores: read a ratio together with its spread. If the per-round
 * ratios straddle 1.0 the difference is within the noise; the `same` candidate of
 * bench/example.bench.ts (identical to its baseline) shows that noise floor. See bench/README.md.
 *
 * Command line of every bench using `runBench`: `--rounds N` (default 5), `--warmup N` (default 1,
 * runs of each candidate discarded before round 1), `--json PATH` (also write the result as JSON;
 * `-` for stdout).
 *
 * @example
 * ```ts
 * import { runBench } from './harness.ts';
 * import { connectionRate } from './tools/connblast.ts';
 *
 * await runBench({
 *   title: 'connection rate with the agent',
 *   metrics: [
 *     { name: 'rate', unit: 'connections/s', higherIsBetter: true },
 *     { name: 'cpu', unit: 'µs CPU/connection', higherIsBetter: false },
 *   ],
 *   baseline: { name: 'no agent' },
 *   candidates: [{ name: 'agent', setup: startAgent, teardown: stopAgent }],
 *   workload: async () => {
 *     const r = await connectionRate({ path: 'veth', seconds: 5 });
 *     return { rate: r.connectionsPerSecond, cpu: r.cpuMicrosPerConnection };
 *   },
 * });
 * ```
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';

export interface Candidate {
  /** Short name shown in the table. */
  name: string;
  /** Runs before each measurement of this candidate (not timed by the harness). */
  setup?: () => Promise<void>;
  /** Runs after each measurement, also when the workload failed. */
  teardown?: () => Promise<void>;
}

export interface Metric {
  /** Key in the workload's result, e.g. 'rate'. */
  name: string;
  /** e.g. 'connections/s', 'Gbit/s', 'µs CPU/connection'. */
  unit: string;
  /** Whether a larger number is better (throughput) or worse (latency, CPU time). */
  higherIsBetter: boolean;
}

export interface CompareOptions {
  title: string;
  /** What the workload measures; the first one is the headline. */
  metrics: readonly Metric[];
  baseline: Candidate;
  candidates: readonly Candidate[];
  /** One measurement, one number per metric; called between the candidate's setup and teardown. */
  workload: (candidate: Candidate, round: number) => Promise<Record<string, number>>;
  /** @default 5 */
  rounds?: number;
  /** Discarded runs of each candidate (in the same alternation) before round 1. @default 1 */
  warmupRounds?: number;
  /** Progress lines. @default writes to stderr */
  progress?: (line: string) => void;
}

export interface CandidateResult {
  name: string;
  /** One value per round, in round order. */
  values: number[];
  median: number;
  min: number;
  max: number;
  /** median / baseline median (1 for the baseline itself). */
  ratio: number;
  /** value / baseline value of the same round. */
  roundRatios: number[];
  ratioMin: number;
  ratioMax: number;
}

export interface MetricResult extends Metric {
  baseline: CandidateResult;
  candidates: CandidateResult[];
}

export interface CompareResult {
  title: string;
  rounds: number;
  warmupRounds: number;
  /** The order the measurements ran in, e.g. ['base', 'agent', 'base', 'agent', ...] (warm-up excluded). */
  order: string[];
  startedAt: string;
  durationSeconds: number;
  machine: { cpus: number; kernel: string; loadavgBefore: number[]; loadavgAfter: number[] };
  metrics: MetricResult[];
}

/** Median of a non-empty list (mean of the two middle values for an even length). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('harness: median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs the alternation and computes the statistics.
 *
 * @example
 * ```ts
 * const result = await compare({
 *   title: 't', metrics: [{ name: 'ops', unit: 'ops/s', higherIsBetter: true }], rounds: 3,
 *   baseline: { name: 'a' }, candidates: [{ name: 'b' }], workload: async () => ({ ops: 1 }),
 * });
 * // result.metrics[0].candidates[0].ratio === 1
 * ```
 */
export async function compare(options: CompareOptions): Promise<CompareResult> {
  const rounds = options.rounds ?? 5;
  const warmupRounds = options.warmupRounds ?? 1;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`harness: rounds must be >= 1, got ${rounds}`);
  if (!Number.isInteger(warmupRounds) || warmupRounds < 0) {
    throw new Error(`harness: warmupRounds must be >= 0, got ${warmupRounds}`);
  }
  if (options.metrics.length === 0) throw new Error('harness: metrics must name at least one metric');
  const all = [options.baseline, ...options.candidates];
  const names = all.map((c) => c.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined)
    throw new Error(`harness: candidate name ${JSON.stringify(duplicate)} appears twice`);
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));

  const started = Date.now();
  const loadavgBefore = loadavg();
  // values[metric][candidate] = one number per round
  const values = options.metrics.map(() => all.map(() => [] as number[]));
  const order: string[] = [];
  for (let round = 1 - warmupRounds; round <= rounds; round++) {
    for (const [i, candidate] of all.entries()) {
      const measured = await measure(candidate, round, options.workload);
      const label =
        round < 1 ? `warm-up ${round + warmupRounds}/${warmupRounds}` : `round ${round}/${rounds}`;
      const shown: string[] = [];
      for (const [m, metric] of options.metrics.entries()) {
        const value = measured[metric.name];
        if (value === undefined || !Number.isFinite(value)) {
          throw new Error(
            `harness: workload returned ${metric.name} = ${String(value)} for ${candidate.name} in ${label}`,
          );
        }
        shown.push(`${formatNumber(value)} ${metric.unit}`);
        if (round >= 1) values[m]![i]!.push(value);
      }
      progress(`${options.title}: ${label} ${candidate.name}: ${shown.join(', ')}`);
      if (round >= 1) order.push(candidate.name);
    }
  }
  const metrics = options.metrics.map((metric, m): MetricResult => {
    const baseValues = values[m]![0]!;
    const baseMedian = median(baseValues);
    const results = all.map((candidate, i): CandidateResult => {
      const v = values[m]![i]!;
      const roundRatios = v.map((x, r) => x / baseValues[r]!);
      return {
        name: candidate.name,
        values: v,
        median: median(v),
        min: Math.min(...v),
        max: Math.max(...v),
        ratio: median(v) / baseMedian,
        roundRatios,
        ratioMin: Math.min(...roundRatios),
        ratioMax: Math.max(...roundRatios),
      };
    });
    return { ...metric, baseline: results[0]!, candidates: results.slice(1) };
  });
  return {
    title: options.title,
    rounds,
    warmupRounds,
    order,
    startedAt: new Date(started).toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    machine: { cpus: cpus().length, kernel: release(), loadavgBefore, loadavgAfter: loadavg() },
    metrics,
  };
}

async function measure(
  candidate: Candidate,
  round: number,
  workload: CompareOptions['workload'],
): Promise<Record<string, number>> {
  await candidate.setup?.();
  try {
    return await workload(candidate, round);
  } finally {
    await candidate.teardown?.();
  }
}

function formatNumber(value: number): string {
  if (value !== 0 && Math.abs(value) < 0.01) return value.toExponential(2);
  return value.toLocaleString('en-US', { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : 3 });
}

/** A verdict from the per-round ratios: only a spread that stays on one side of 1.0 is called a difference. */
export function verdict(metric: Metric, candidate: CandidateResult): string {
  if (candidate.ratioMin <= 1 && candidate.ratioMax >= 1) return 'within noise';
  const better = candidate.ratioMin > 1 === metric.higherIsBetter;
  return better ? 'better in every round' : 'worse in every round';
}

/**
 * The result as text: one table per metric.
 *
 * @example
 * ```ts
 * console.log(formatTable(await compare(options)));
 * // rate (connections/s, higher is better)
 * // candidate  median  min .. max      ratio  round ratios min .. max  verdict
 * // plain      6,512   6,100 .. 6,900  1.000  1.000 .. 1.000           -
 * // agent      5,600   5,300 .. 5,800  0.860  0.820 .. 0.910           worse in every round
 * ```
 */
export function formatTable(result: CompareResult): string {
  const header = ['candidate', 'median', 'min .. max', 'ratio', 'round ratios min .. max', 'verdict'];
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  const out = [
    `${result.title}: ${result.rounds} rounds (+${result.warmupRounds} warm-up), alternating ` +
      `${result.metrics[0]!.baseline.name} / ${result.metrics[0]!.candidates.map((c) => c.name).join(' / ')}`,
  ];
  for (const metric of result.metrics) {
    const rows = [metric.baseline, ...metric.candidates].map((c, i) => [
      c.name,
      formatNumber(c.median),
      `${formatNumber(c.min)} .. ${formatNumber(c.max)}`,
      c.ratio.toFixed(3),
      `${c.ratioMin.toFixed(3)} .. ${c.ratioMax.toFixed(3)}`,
      i === 0 ? '-' : verdict(metric, c),
    ]);
    const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => r[col]!.length)));
    const line = (cells: string[]): string =>
      cells
        .map((cell, col) => cell.padEnd(widths[col]!))
        .join('  ')
        .trimEnd();
    out.push('', `${metric.name} (${metric.unit}, ${metric.higherIsBetter ? 'higher' : 'lower'} is better)`);
    out.push(line(header), ...rows.map(line));
  }
  out.push(
    '',
    `${result.machine.cpus} CPUs, kernel ${result.machine.kernel}, load average ${load(result.machine.loadavgBefore)} ` +
      `before, ${load(result.machine.loadavgAfter)} after, ${result.durationSeconds.toFixed(1)} s`,
  );
  return out.join('\n');
}

/**
 * User + system CPU seconds a process has used so far (/proc/PID/stat utime + stime, in clock ticks of
 * 1/100 s). Read it before and after a run to charge an agent's own CPU to a candidate: the load's
 * `cpuMicrosPerConnection` only covers the work done in the load processes' context.
 *
 * @example
 * ```ts
 * const before = processCpuSeconds(agent.pid);
 * const r = await connectionRate({ path: 'veth', seconds: 5 });
 * const agentMicrosPerConnection = ((processCpuSeconds(agent.pid) - before) / r.connections) * 1e6;
 * ```
 */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** USER_HZ: the unit of /proc/PID/stat times; 100 on every Linux architecture this runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface BenchArgs {
  rounds?: number;
  warmupRounds?: number;
  /** Path to write the JSON result to; '-' for stdout. */
  json?: string;
}

/** Parses `--rounds N`, `--warmup N` and `--json PATH`; anything else is an error naming it. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`bench: ${flag} needs a value`);
    if (flag === '--rounds' || flag === '--warmup') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (flag === '--rounds' ? 1 : 0)) {
        throw new Error(`bench: ${flag} must be a whole number, got ${JSON.stringify(value)}`);
      }
      if (flag === '--rounds') args.rounds = n;
      else args.warmupRounds = n;
    } else if (flag === '--json') {
      args.json = value;
    } else {
      throw new Error(
        `bench: unknown argument ${JSON.stringify(flag)} (known: --rounds N, --warmup N, --json PATH)`,
      );
    }
  }
  return args;
}

/**
 * `compare` with the command line applied (`--rounds`, `--warmup`, `--json`), the table printed to
 * stdout and the JSON written where `--json` says.
 */
export async function runBench(
  options: CompareOptions,
  argv: readonly string[] = process.argv.slice(2),
): Promise<CompareResult> {
  const args = parseBenchArgs(argv);
  const result = await compare({
    ...options,
    rounds: args.rounds ?? options.rounds,
    warmupRounds: args.warmupRounds ?? options.warmupRounds,
  });
  process.stdout.write(`${formatTable(result)}\n`);
  if (args.json === '-') process.stdout.write(`${JSON.stringify(result)}\n`);
  else if (args.json !== undefined) writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
