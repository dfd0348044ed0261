/**
 * IP lookups against the Kubernetes metadata, timed as a ratio to a bare
 * `Map.get` of the same keys in the same process (used by the store stage of
 * `k8s-metadata.bench.ts` and by the agent side, `k8s-agent-side.ts`).
 */
import type { SimulatedCluster } from './k8s-cluster-sim.ts';
import { nodeIp, podIp, serviceIp } from './k8s-cluster-sim.ts';
import { seededRandom } from '../test/support/random.ts';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export interface Timing {
  /** Wall ns per operation, per round. */
  wall: number[];
  /** CPU (user + system) ns per operation, per round: what counts on a shared machine. */
  cpu: number[];
}

/**
 * Runs `subject` and `baseline` in alternating rounds (so both see the same
 * machine load) and times each round. Each body gets its own fresh copy of the
 * queries (made untimed): addresses arrive as new strings every poll, whose
 * hash nobody has computed yet. Each body returns its operation count.
 */
export function abTime(
  rounds: number,
  queries: readonly string[],
  subject: (fresh: readonly string[]) => number,
  baseline: (fresh: readonly string[]) => number,
): { subject: Timing; baseline: Timing } {
  const result = {
    subject: { wall: [] as number[], cpu: [] as number[] },
    baseline: { wall: [] as number[], cpu: [] as number[] },
  };
  for (let r = 0; r < rounds; r++) {
    for (const [body, into] of [
      [subject, result.subject],
      [baseline, result.baseline],
    ] as const) {
      const fresh = queries.map((q) => JSON.parse(JSON.stringify(q)) as string);
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const ops = body(fresh);
      into.wall.push(Number(process.hrtime.bigint() - t0) / ops);
      const c = process.cpuUsage(c0);
      into.cpu.push(((c.user + c.system) * 1000) / ops);
    }
  }
  return result;
}

/** Best (least disturbed) and median CPU ns per operation, and the ratio of the bests. */
export function summary(t: { subject: Timing; baseline: Timing }) {
  const best = (xs: number[]) => Math.min(...xs);
  return {
    bestCpuNs: Number(best(t.subject.cpu).toFixed(1)),
    medianCpuNs: Number(median(t.subject.cpu).toFixed(1)),
    medianWallNs: Number(median(t.subject.wall).toFixed(1)),
    baselineBestCpuNs: Number(best(t.baseline.cpu).toFixed(1)),
    baselineMedianCpuNs: Number(median(t.baseline.cpu).toFixed(1)),
    ratio: Number((best(t.subject.cpu) / best(t.baseline.cpu)).toFixed(2)),
  };
}

/**
 * `count` addresses the simulated cluster really has, as flat strings (as
 * decoded from the wire or a kernel sample): 80 % pod IPs (not the finished
 * CronJob pods), 10 % ClusterIPs, 5 % node IPs, 5 % unknown.
 */
export function lookupQueries(cluster: SimulatedCluster, count: number): string[] {
  const random = seededRandom(42);
  const nodes = cluster.nodes;
  const services = cluster.deployments + cluster.statefulSets;
  const firstOwnedPod = 2 * nodes;
  const queries: string[] = new Array<string>(count);
  for (let q = 0; q < count; q++) {
    const r = random();
    let ip: string;
    if (r < 0.8) {
      let i = firstOwnedPod + Math.floor(random() * (cluster.pods - firstOwnedPod));
      if (i >= 3 * nodes + 4000 && i < 3 * nodes + 5000) i += 1000; // skip the finished CronJob pods
      ip = podIp(i);
    } else if (r < 0.9) ip = serviceIp(Math.floor(random() * services));
    else if (r < 0.95) ip = nodeIp(Math.floor(random() * nodes));
    else ip = `192.0.2.${Math.floor(random() * 256)}`;
    queries[q] = JSON.parse(JSON.stringify(ip)) as string;
  }
  return queries;
}

/**
 * Times `lookup` over `queries` at time `now` against a bare `Map.get` over
 * the same keys, in `rounds` alternating rounds; the hit rate and `summary`.
 */
export function timeLookups(
  queries: readonly string[],
  lookup: (ip: string, timeMs: number) => unknown,
  now: number,
  rounds = 9,
): { hitRate: number } & ReturnType<typeof summary> {
  const baseline = new Map<string, object>();
  for (const ip of queries) baseline.set(ip, { ip });
  let hits = 0;
  for (const ip of queries) if (lookup(ip, now) !== undefined) hits++;
  let sink = 0;
  const timing = abTime(
    rounds,
    queries,
    (qs) => {
      for (const ip of qs) if (lookup(ip, now) !== undefined) sink++;
      return qs.length;
    },
    (qs) => {
      for (const ip of qs) if (baseline.get(ip) !== undefined) sink++;
      return qs.length;
    },
  );
  if (sink < 0) throw new Error('unreachable');
  return { hitRate: Number((hits / queries.length).toFixed(3)), ...summary(timing) };
}
