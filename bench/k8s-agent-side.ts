/**
 * The agent side of `k8s-metadata.bench.ts --stage informers`, in a process of
 * its own started from plain JavaScript (the bench compiles this file and what
 * it imports into `.cache/bench/k8s-agent-side/`): what it measures is what an
 * agent holds (Node, `@kubernetes/client-node`, the informers and the store),
 * not the bench, the emulator's code or Node's TypeScript loader (about 30 MB
 * together in the bench process).
 *
 *   node [--expose-gc] .cache/bench/k8s-agent-side/bench/k8s-agent-side.js KUBECONFIG NODES PODS natural|forced
 *
 * Prints one JSON line: RSS sampled through the run (peak and last per phase,
 * one value a second) and the kernel's peak, memory at the end of the phases
 * (process and kernel views), sync time, the store's counts, how many of
 * 10,000 sampled pod IPs resolve, and the lookup time (`measureAgent`).
 */
import { readFileSync } from 'node:fs';
import { createLogger } from '../core/log.ts';
import { TelemetryRegistry } from '../core/telemetry-registry.ts';
import { createKubernetesMetadata } from '../processors/k8s_attributes/kubernetes.ts';
import type { SimulatedCluster } from './k8s-cluster-sim.ts';
import { podIp, shape } from './k8s-cluster-sim.ts';
import { lookupQueries, timeLookups } from './k8s-lookup.ts';

const MB = 1024 * 1024;
const round1 = (x: number) => Number(x.toFixed(1));

export function gc(): void {
  const gcFn = (globalThis as { gc?: () => void }).gc;
  if (gcFn === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) gcFn();
}

export function memory(): { rssMb: number; heapMb: number; heapTotalMb: number; externalMb: number } {
  const m = process.memoryUsage();
  return {
    rssMb: round1(m.rss / MB),
    heapMb: round1(m.heapUsed / MB),
    heapTotalMb: round1(m.heapTotal / MB),
    externalMb: round1(m.external / MB),
  };
}

/**
 * The kernel's view of this process's memory (/proc/self/smaps_rollup and /proc/self/smaps), MB:
 * resident, anonymous, lazily freed (released with MADV_FREE: still counted in RSS until the kernel
 * needs the memory), and where the resident memory sits: the malloc heap (the `[heap]` mapping:
 * native allocations of V8 and Node), anonymous mappings of at most 256 KiB (V8's regular heap
 * pages, including freed pages V8 keeps for reuse, which `heapTotal` does not count), and files
 * (the node binary and shared libraries).
 */
export function kernelMemory(): {
  rssMb: number;
  anonymousMb: number;
  lazyFreeMb: number;
  mallocHeapMb: number;
  v8PagesMb: number;
  filesMb: number;
} {
  const text = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024;
  let mallocHeap = 0;
  let v8Pages = 0;
  let files = 0;
  let kind: 'heap' | 'page' | 'file' | 'other' = 'other';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      const size = parseInt(head[2] as string, 16) - parseInt(head[1] as string, 16);
      const name = head[3] as string;
      kind =
        name === '[heap]'
          ? 'heap'
          : name.startsWith('/')
            ? 'file'
            : name === '' && size <= 256 * 1024
              ? 'page'
              : 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss === null) continue;
    const mb = Number(rss[1]) / 1024;
    if (kind === 'heap') mallocHeap += mb;
    else if (kind === 'page') v8Pages += mb;
    else if (kind === 'file') files += mb;
  }
  return {
    rssMb: round1(kb('Rss')),
    anonymousMb: round1(kb('Anonymous')),
    lazyFreeMb: round1(kb('LazyFree')),
    mallocHeapMb: round1(mallocHeap),
    v8PagesMb: round1(v8Pages),
    filesMb: round1(files),
  };
}

/** Peak and last RSS sampled during one phase of the run, MB. */
interface PhaseRss {
  peakMb: number;
  /** When the peak was seen, ms from the start of the informers. */
  peakAtMs: number;
  lastMb: number;
}

/**
 * Samples RSS every 100 ms into the current phase, and once a second into a
 * series for the whole run (from the start of the informers).
 */
function rssSampler(t0: number) {
  const phases: Record<string, PhaseRss> = {};
  const perSecondMb: number[] = [];
  let phase = 'sync';
  const sample = (): void => {
    const mb = process.memoryUsage.rss() / MB;
    const at = performance.now() - t0;
    const p = (phases[phase] ??= { peakMb: 0, peakAtMs: 0, lastMb: 0 });
    if (mb > p.peakMb) {
      p.peakMb = round1(mb);
      p.peakAtMs = Math.round(at);
    }
    p.lastMb = round1(mb);
    if (at >= perSecondMb.length * 1000) perSecondMb.push(Math.round(mb));
  };
  const timer = setInterval(sample, 100);
  return {
    enter(next: string): void {
      sample();
      phase = next;
      sample();
    },
    stop(): { phases: Record<string, PhaseRss>; perSecondMb: number[] } {
      sample();
      clearInterval(timer);
      return { phases, perSecondMb };
    },
  };
}

/** The kernel's peak RSS of this process (VmHWM), MB. */
function peakRssMb(): number {
  const text = readFileSync('/proc/self/status', 'utf8');
  return round1(Number(/^VmHWM:\s+(\d+) kB/m.exec(text)?.[1] ?? NaN) / 1024);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Syncs from the API at `kubeconfig` and reports (see the module comment).
 *
 * - `forcedGc` false (what an agent gets): no forced garbage collection at
 *   all; RSS is sampled through the sync, the 30 s after it and 30 s of
 *   steady idle, and the kernel's peak (VmHWM) is read at the end.
 * - `forcedGc` true (where the memory sits, without garbage): full GCs after
 *   sync and after 10 s idle, memory after each; RSS is sampled as well.
 *
 * Then, in both, 500,000 lookups of the cluster's addresses through the
 * agent's `lookupIp`, as a ratio to a bare `Map.get` of the same keys.
 */
export async function measureAgent(
  kubeconfig: string,
  cluster: SimulatedCluster,
  forcedGc: boolean,
): Promise<Record<string, unknown>> {
  if (forcedGc) gc();
  const before = memory();
  const registry = new TelemetryRegistry();
  const md = createKubernetesMetadata({
    kubeconfig,
    ownerDepth: 'workload',
    logger: createLogger({ level: 'warn' }),
    telemetry: registry.scoped({ 'component.id': 'k8s_attributes' }),
  });
  const t0 = performance.now();
  const rss = rssSampler(t0);
  await md.start();
  let peakHeapTotalMb = 0;
  while (!md.synced()) {
    await sleep(50);
    peakHeapTotalMb = Math.max(peakHeapTotalMb, process.memoryUsage().heapTotal / MB);
  }
  const syncMs = performance.now() - t0;
  const measured: Record<string, unknown> = {};
  if (forcedGc) {
    gc();
    measured.afterSync = memory();
    rss.enter('idle10s');
    // Idle for 10 s, as an agent between polls: V8 gives back heap it no longer needs.
    await sleep(10_000);
    gc();
    measured.afterIdle10s = memory();
    measured.kernelAfterIdle10s = kernelMemory();
  } else {
    rss.enter('after30s');
    await sleep(30_000);
    rss.enter('steady30s');
    await sleep(30_000);
    measured.atEnd = memory();
    measured.kernelAtEnd = kernelMemory();
  }
  const sampled = rss.stop();
  const peak = peakRssMb();
  const now = Date.now();
  let resolved = 0;
  for (let i = 2 * cluster.nodes; i < 2 * cluster.nodes + 10_000; i++)
    if (md.lookupIp(podIp(i), now) !== undefined) resolved++;
  const lookup = timeLookups(lookupQueries(cluster, 500_000), (ip, t) => md.lookupIp(ip, t), now);
  const stats = md.stats();
  const states = md.watchStates();
  await md.stop();
  return {
    nodeFlags: process.execArgv.join(' '),
    mallocEnv: Object.entries(process.env)
      .filter(([k]) => k.startsWith('MALLOC_'))
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
    gc: forcedGc ? 'forced' : 'natural',
    syncMs: Math.round(syncMs),
    stats,
    errors: states.reduce((a, s) => a + s.errors, 0),
    before,
    peakRssMb: peak,
    rssByPhase: sampled.phases,
    rssPerSecondMb: sampled.perSecondMb,
    peakHeapTotalMb: round1(peakHeapTotalMb),
    ...measured,
    sampleLookupsResolved: `${resolved}/10000`,
    lookup,
  };
}

if (process.argv[1] !== undefined && /k8s-agent-side\.[jt]s$/.test(process.argv[1])) {
  const [kubeconfig, nodes, pods, gcMode] = process.argv.slice(2);
  if (kubeconfig === undefined || nodes === undefined || pods === undefined || gcMode === undefined)
    throw new Error('usage: k8s-agent-side KUBECONFIG NODES PODS forced|natural');
  const cluster = shape(Number(nodes), Number(pods));
  process.stdout.write(JSON.stringify(await measureAgent(kubeconfig, cluster, gcMode === 'forced')) + '\n');
}
