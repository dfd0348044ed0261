/**
 * Kubernetes metadata for a simulated 5,000-node, 150,000-pod cluster
 * (issue 4 targets: agent memory <= 256 MB, a lookup <= 1 µs).
 *
 *   npx node --expose-gc [node flags] bench/k8s-metadata.bench.ts [--nodes 5000] [--pods 150000] [--stage all|store|informers]
 *
 * Each stage runs in its own process (so one stage's garbage does not count
 * against the other) and prints one JSON line; `all` runs both and a summary.
 *
 * - store: every object of the cluster (bench/k8s-cluster-sim.ts, ~3 KB pods)
 *   is generated, reduced by the same extractors the informers use, and fed to
 *   a `MetadataStore`. Memory: RSS and heap after GC, against the same process
 *   measured after GC just before. Lookups: 500k addresses (80 % pod IPs, 10 %
 *   ClusterIPs, 5 % node IPs, 5 % unknown) at the current time, and 100k
 *   lookups at a past time for IPs reused by new pods (answered from
 *   tombstones); ns per lookup, as a ratio to a baseline measured in the same
 *   run: a bare `Map.get` over the same keys (the least any lookup must do),
 *   both on freshly decoded strings each round, as addresses arrive per poll.
 * - informers: the whole agent side, `createKubernetesMetadata` with the real
 *   informers, syncing from the API emulator, which serves the cluster from a
 *   child process. The agent side runs in a child of its own from plain
 *   JavaScript (`k8s-agent-side.ts`, compiled here), with the node flags given
 *   to this bench and its environment: only what an agent holds is measured.
 *   Also measured: RSS of a bare node process and of one that only imported
 *   `@kubernetes/client-node` (`processFloor`).
 *
 * Measured (agent side after sync + 10 s idle, RSS MB; runs interleaved on
 * 2 shared cores, load 2.6-5.2):
 *
 *   node flags                 before (d9ec279)   now
 *   (none)                     505                333
 *   --max-semi-space-size=16                      252
 *   --max-semi-space-size=8    416                228
 *   --max-semi-space-size=4                       216
 *   --max-semi-space-size=2    457                301 (sync 23 s, not 11-14)
 *
 * Where it sits now, without flags: node alone 42, after importing
 * client-node 120 (the floor of any agent using it), V8 heap used 121 (28 of
 * it client-node's code), V8 pages 222 (the young generation grows to about
 * 100 MB while 450 MB of JSON are parsed, and V8 keeps those pages until a
 * memory-reducing GC, which an idle process does not trigger: the semi-space
 * flag caps it), malloc heap 10 (trimmed after each list, see
 * processors/k8s_attributes/trim.ts), files 54. Store alone: 83 MB heap,
 * 583 B/pod. Lookup: ~830 ns CPU best on a loaded machine, 1.8-2.0x a bare
 * `Map.get`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import type { ControllerKind } from '../processors/k8s_attributes/objects.ts';
import {
  controllerInput,
  endpointSliceInput,
  nodeInput,
  podInput,
  serviceInput,
} from '../processors/k8s_attributes/objects.ts';
import { MetadataStore } from '../processors/k8s_attributes/store.ts';
import { KubeApiEmulator } from '../test/support/k8s-emulator.ts';
import type { ResourceName } from '../test/support/k8s-emulator.ts';
import { gc, memory } from './k8s-agent-side.ts';
import { nodeIp, objects, podIp, serviceIp, shape } from './k8s-cluster-sim.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5000' },
    pods: { type: 'string', default: '150000' },
    stage: { type: 'string', default: 'all' },
    serve: { type: 'boolean', default: false },
  },
});
const NODES = Number(values.nodes);
const PODS = Number(values.pods);
const cluster = shape(NODES, PODS);
const MB = 1024 * 1024;

const round1 = (x: number) => Number(x.toFixed(1));

const CONTROLLER_KINDS: Partial<Record<ResourceName, ControllerKind>> = {
  replicasets: 'ReplicaSet',
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
  jobs: 'Job',
  cronjobs: 'CronJob',
};

function feed(store: MetadataStore, resource: ResourceName, obj: unknown): void {
  const kind = CONTROLLER_KINDS[resource];
  if (kind !== undefined) {
    const r = controllerInput(kind, obj);
    if (r.ok) store.upsertController(r.value);
    return;
  }
  if (resource === 'pods') {
    const r = podInput(obj);
    if (r.ok) store.upsertPod(r.value);
  } else if (resource === 'nodes') {
    const r = nodeInput(obj);
    if (r.ok) store.upsertNode(r.value);
  } else if (resource === 'services') {
    const r = serviceInput(obj);
    if (r.ok) store.upsertService(r.value);
  } else if (resource === 'endpointslices') {
    const r = endpointSliceInput(obj);
    if (r.ok) store.upsertEndpointSlice(r.value);
  }
}

/** Deterministic pseudo-random numbers (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

interface Timing {
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
function abTime(
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
function summary(t: { subject: Timing; baseline: Timing }) {
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

function storeStage(): Record<string, unknown> {
  gc();
  const before = memory();
  const now = Date.now();
  const store = new MetadataStore({ ownerDepth: 'workload' });
  const t0 = performance.now();
  let count = 0;
  for (const { resource, object } of objects(cluster)) {
    // Through JSON, as from the wire: flat strings, not the generator's concatenations.
    feed(store, resource, JSON.parse(JSON.stringify(object)));
    count++;
  }
  const buildMs = performance.now() - t0;
  gc();
  const after = memory();
  const stats = store.stats();

  // Query mix over the addresses the cluster really has.
  const random = rng(42);
  const services = cluster.deployments + cluster.statefulSets;
  const firstOwnedPod = 2 * NODES;
  const QUERIES = 500_000;
  const queries: string[] = new Array<string>(QUERIES);
  for (let q = 0; q < QUERIES; q++) {
    const r = random();
    if (r < 0.8) {
      let i = firstOwnedPod + Math.floor(random() * (cluster.pods - firstOwnedPod));
      if (i >= 3 * NODES + 4000 && i < 3 * NODES + 5000) i += 1000; // skip the finished CronJob pods
      queries[q] = podIp(i);
    } else if (r < 0.9) queries[q] = serviceIp(Math.floor(random() * services));
    else if (r < 0.95) queries[q] = nodeIp(Math.floor(random() * NODES));
    else queries[q] = `192.0.2.${Math.floor(random() * 256)}`;
    // Flat strings, as decoded from the wire or a kernel sample, not concatenations.
    queries[q] = JSON.parse(JSON.stringify(queries[q])) as string;
  }
  const baseline = new Map<string, object>();
  for (const ip of queries) baseline.set(ip, { ip });
  let hits = 0;
  for (const ip of queries) if (store.lookupIp(ip, now) !== undefined) hits++;
  let sink = 0;
  const current = abTime(
    9,
    queries,
    (qs) => {
      for (const ip of qs) if (store.lookupIp(ip, now) !== undefined) sink++;
      return qs.length;
    },
    (qs) => {
      for (const ip of qs) if (baseline.get(ip) !== undefined) sink++;
      return qs.length;
    },
  );

  // Churn: 10,000 Deployment pods deleted, their IPs reused by new pods; old times answered from tombstones.
  const REUSED = 10_000;
  const firstDeployPod = 3 * NODES + 4000 + 1000;
  const reused: string[] = [];
  const past = now - 1000;
  for (let k = 0; k < REUSED; k++) {
    const i = firstDeployPod + k * Math.max(1, Math.floor((cluster.pods - firstDeployPod) / REUSED));
    const ip = podIp(i);
    const owner = store.lookupIp(ip, now);
    if (owner?.kind !== 'pod') continue;
    store.deletePod(owner.pod.uid);
    store.upsertPod({
      uid: `new-${k}`,
      name: `${owner.pod.name}-new`,
      namespace: owner.pod.namespace,
      nodeName: owner.pod.nodeName,
      hostNetwork: false,
      ips: [ip],
      terminated: false,
      creationMs: now - 500,
      controller: undefined,
    });
    reused.push(ip);
  }
  let oldRight = 0;
  let newRight = 0;
  for (const ip of reused) {
    const old = store.lookupIp(ip, past);
    if (old?.kind === 'pod' && !old.pod.uid.startsWith('new-')) oldRight++;
    const fresh = store.lookupIp(ip, Date.now() + 1000);
    if (fresh?.kind === 'pod' && fresh.pod.uid.startsWith('new-')) newRight++;
  }
  const pastQueries = Array.from(
    { length: 100_000 },
    (_, q) => JSON.parse(JSON.stringify(reused[q % reused.length])) as string,
  );
  const pastTimes = abTime(
    9,
    pastQueries,
    (qs) => {
      for (const ip of qs) if (store.lookupIp(ip, past) !== undefined) sink++;
      return qs.length;
    },
    (qs) => {
      for (const ip of qs) if (baseline.get(ip) !== undefined) sink++;
      return qs.length;
    },
  );
  return {
    stage: 'store',
    cluster,
    objects: count,
    stats,
    buildMs: Math.round(buildMs),
    usPerObject: Number(((buildMs * 1000) / count).toFixed(2)),
    rssMb: Number(after.rssMb.toFixed(1)),
    rssGrowthMb: Number((after.rssMb - before.rssMb).toFixed(1)),
    heapMb: Number(after.heapMb.toFixed(1)),
    storeHeapMb: Number((after.heapMb - before.heapMb).toFixed(1)),
    bytesPerPod: Math.round(((after.heapMb - before.heapMb) * MB) / cluster.pods),
    lookup: { hitRate: Number((hits / QUERIES).toFixed(3)), ...summary(current) },
    pastLookup: {
      reusedIps: reused.length,
      oldOwnerAtPastTime: oldRight,
      newOwnerNow: newRight,
      ...summary(pastTimes),
    },
    sink,
  };
}

/** Child process: an emulator serving the cluster; prints its kubeconfig path, serves until stdin closes. */
async function serve(): Promise<void> {
  const emu = await KubeApiEmulator.start({ historyLimit: 0 });
  for (const { resource, object } of objects(cluster)) emu.create(resource, object);
  process.stdout.write(JSON.stringify({ kubeconfig: emu.writeKubeconfig() }) + '\n');
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.on('end', () => resolve()));
  await emu.stop();
}

/**
 * RSS of a fresh node process after GC, MB: bare, and after importing
 * `@kubernetes/client-node` (what any Kubernetes-mode agent pays before it
 * holds a single object). Each in its own child, plain JavaScript.
 */
async function processFloor(): Promise<{ bareNodeRssMb: number; clientNodeImportedRssMb: number }> {
  const rssAfter = async (code: string): Promise<number> => {
    const script = `${code}; for (let i = 0; i < 3; i++) gc(); console.log(process.memoryUsage().rss);`;
    const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exit = await new Promise<number | null>((r) => child.once('exit', r));
    if (exit !== 0) throw new Error(`memory probe child exited with ${exit}`);
    return round1(Number(out.trim()) / MB);
  };
  return {
    bareNodeRssMb: await rssAfter('0'),
    clientNodeImportedRssMb: await rssAfter("await import('@kubernetes/client-node')"),
  };
}

/**
 * Compiles `k8s-agent-side.ts` and every module it imports (relative `.ts`
 * imports, followed) to plain JavaScript under `.cache/bench/k8s-agent-side/`;
 * returns the compiled entry.
 */
function compileAgentSide(): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const out = join(root, '.cache', 'bench', 'k8s-agent-side');
  const queue = [join(root, 'bench', 'k8s-agent-side.ts')];
  const done = new Set<string>();
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (done.has(file)) continue;
    done.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+\.ts)'/g))
      queue.push(resolve(dirname(file), m[1] as string));
    const js = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2023,
        rewriteRelativeImportExtensions: true,
        verbatimModuleSyntax: true,
      },
    }).outputText;
    const target = join(out, relative(root, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
  }
  return join(out, 'bench', 'k8s-agent-side.js');
}

/**
 * The emulator serves the cluster from one child process; the agent side
 * (`k8s-agent-side.ts`, compiled to JavaScript) syncs from it in another, with
 * this process's node flags (e.g. `--max-semi-space-size`) and environment
 * (e.g. `MALLOC_ARENA_MAX`).
 */
async function informersStage(): Promise<Record<string, unknown>> {
  const floor = await processFloor();
  const agentSide = compileAgentSide();
  const emulator = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--serve', '--nodes', String(NODES), '--pods', String(PODS)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  try {
    const lines = createInterface({ input: emulator.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      emulator.once('exit', (code) => reject(new Error(`emulator child exited with ${code}`)));
    });
    const { kubeconfig } = JSON.parse(first) as { kubeconfig: string };
    const flags = process.execArgv.filter((f) => f !== '--expose-gc');
    const agent = spawn(process.execPath, ['--expose-gc', ...flags, agentSide, kubeconfig, String(NODES)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => agent.once('exit', r));
    if (code !== 0) throw new Error(`agent side exited with ${code}`);
    const measured = JSON.parse(out.trim()) as Record<string, unknown>;
    return { stage: 'informers', cluster, processFloor: floor, ...measured };
  } finally {
    emulator.stdin.end();
    await new Promise((r) => emulator.once('exit', r));
  }
}

async function runChild(stage: string): Promise<Record<string, unknown>> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      ...process.execArgv.filter((f) => f !== '--expose-gc'),
      fileURLToPath(import.meta.url),
      '--stage',
      stage,
      '--nodes',
      String(NODES),
      '--pods',
      String(PODS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`stage ${stage} exited with ${code}`);
  process.stdout.write(out);
  return JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
}

if (values.serve) {
  await serve();
} else if (values.stage === 'store') {
  process.stdout.write(JSON.stringify(storeStage()) + '\n');
} else if (values.stage === 'informers') {
  process.stdout.write(JSON.stringify(await informersStage()) + '\n');
} else if (values.stage === 'all') {
  gc();
  const store = await runChild('store');
  const informers = await runChild('informers');
  type Summary = ReturnType<typeof summary>;
  const lookup = store.lookup as Summary;
  const pastLookup = store.pastLookup as Summary;
  console.log(
    [
      `cluster: ${NODES} nodes, ${cluster.pods} pods`,
      `lookup: ${lookup.bestCpuNs} ns CPU best, ${lookup.medianCpuNs} median, ${lookup.medianWallNs} wall (target <= 1000 ns); ${lookup.ratio}x a bare Map.get (${lookup.baselineBestCpuNs} ns)`,
      `past-time lookup through tombstones: ${pastLookup.bestCpuNs} ns CPU best, ${pastLookup.ratio}x a bare Map.get`,
      `store alone: ${store.storeHeapMb} MB heap (${store.bytesPerPod} B/pod), process RSS ${store.rssMb} MB`,
      `agent with informers after sync (${informers.syncMs} ms): ${JSON.stringify(informers.afterSync)}; after 10 s idle: ${JSON.stringify(informers.afterIdle10s)}, kernel: ${JSON.stringify(informers.kernelAfterIdle10s)} (target <= 256 MB)`,
    ].join('\n'),
  );
} else {
  throw new Error(`--stage must be all, store or informers, got ${values.stage}`);
}
