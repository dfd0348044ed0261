/**
 * Kubernetes metadata for a simulated 5,000-node, 150,000-pod cluster
 * (issue 4 targets: agent memory <= 256 MB, a lookup <= 1 µs).
 *
 *   npx node --expose-gc [node flags] bench/k8s-metadata.bench.ts [--nodes 5000] [--pods 150000] [--stage all|store|informers] [--gc natural|forced]
 *   npx node --max-semi-space-size=4 bench/k8s-metadata.bench.ts --stage informers   (what a user gets)
 *
 * Each stage runs in its own process (so one stage's garbage does not count
 * against the other) and prints one JSON line; `all` runs both and a summary,
 * `informers` a summary on stderr.
 *
 * - store: every object of the cluster (bench/k8s-cluster-sim.ts, ~3 KB pods)
 *   is generated, reduced by the same extractors the informers use, and fed to
 *   a `MetadataStore`. Memory: RSS and heap after GC, against the same process
 *   measured after GC just before. Lookups (bench/k8s-lookup.ts): 500k
 *   addresses (80 % pod IPs, 10 % ClusterIPs, 5 % node IPs, 5 % unknown) at the
 *   current time, and 100k lookups at a past time for IPs reused by new pods
 *   (answered from tombstones); ns per lookup, as a ratio to a baseline
 *   measured in the same run: a bare `Map.get` over the same keys (the least
 *   any lookup must do), both on freshly decoded strings each round, as
 *   addresses arrive per poll.
 * - informers: the whole agent side, `createKubernetesMetadata` with the real
 *   informers, syncing from the API emulator, which serves the cluster from a
 *   child process. The agent side runs in a child of its own from plain
 *   JavaScript (`k8s-agent-side.ts`, compiled here), with the node flags given
 *   to this bench and its environment: only what an agent holds is measured.
 *   `--gc natural` (default: as an agent runs) forces no garbage collection;
 *   RSS is sampled every 100 ms through the sync, the 30 s after it and 30 s
 *   of steady idle (peak and last per phase, one value a second), and the
 *   kernel's peak (VmHWM) is read at the end. `--gc forced` collects after
 *   sync and after 10 s idle (where the live memory sits). Then the same
 *   lookups as the store stage, through the agent's `lookupIp`, against a bare
 *   `Map.get` in the same process. Also measured: RSS of a bare node process,
 *   of one that imported `@kubernetes/client-node` whole and of one that
 *   imported what the agent loads of it (`processFloor`).
 *
 * Measured, --max-semi-space-size=4 (as `loggerhead run` and the image),
 * no forced GC, before and after interleaved, 2 runs each, load 0.5-2.3 (RSS MB):
 *
 *                       sync peak (VmHWM)   after sync   steady (60-70 s)   sync           agent before lists
 *   before (f5d2a8b)    296, 290            221, 215     201-213            13.5, 10.3 s   119-120
 *   now                 219, 217            204, 203     182-188            10.9, 10.8 s   79
 *
 * Now: list pages streamed (processors/k8s_attributes/json-stream.ts: one
 * item parsed at a time, the page never whole), client-node loaded without
 * its generated models (client-node.ts; processFloor: 81 MB instead of 114,
 * bare node 42), V8 old-generation growth capped at 25 % while lists run
 * (heap-growth.ts limitHeapGrowth: before, 40 MB of promoted garbage and 30 MB of
 * dead response chunks waited for V8's next major collection at the peak).
 * Lookup through the agent: 691-881 ns CPU best, 1.60-1.91x a bare Map.get
 * (before 811-893 ns, 1.73-1.74x).
 *
 * Measured earlier (forced GC, after sync + 10 s idle, RSS MB; runs
 * interleaved on 2 shared cores, load 2.6-5.2):
 *
 *   node flags                 before (d9ec279)   then (cee01b0)
 *   (none)                     505                333
 *   --max-semi-space-size=16                      252
 *   --max-semi-space-size=8    416                228
 *   --max-semi-space-size=4                       216
 *   --max-semi-space-size=2    457                301 (sync 23 s, not 11-14)
 *
 * Where it sat then, without flags: node alone 42, after importing
 * client-node whole 120 (now loaded without its models: see above), V8 heap used 121 (28 of
 * it client-node's code), V8 pages 222 (the young generation grows to about
 * 100 MB while 450 MB of JSON are parsed, and V8 keeps those pages until a
 * memory-reducing GC, which an idle process does not trigger: the semi-space
 * flag caps it), malloc heap 10 (trimmed after lists, see
 * processors/k8s_attributes/kubernetes.ts and core/memory.ts), files 54. Store alone: 83 MB heap,
 * 583 B/pod.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
import { objects, podIp, shape } from './k8s-cluster-sim.ts';
import { lookupQueries, timeLookups } from './k8s-lookup.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5000' },
    pods: { type: 'string', default: '150000' },
    stage: { type: 'string', default: 'all' },
    serve: { type: 'boolean', default: false },
    gc: { type: 'string', default: 'natural' },
  },
});
if (values.gc !== 'natural' && values.gc !== 'forced')
  throw new Error(`--gc must be natural or forced, got ${values.gc}`);
const GC = values.gc;
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

  const QUERIES = 500_000;
  const queries = lookupQueries(cluster, QUERIES);
  const current = timeLookups(queries, (ip, t) => store.lookupIp(ip, t), now);

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
  const pastTimes = timeLookups(pastQueries, (ip, t) => store.lookupIp(ip, t), past);
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
    lookup: current,
    pastLookup: {
      reusedIps: reused.length,
      oldOwnerAtPastTime: oldRight,
      newOwnerNow: newRight,
      ...pastTimes,
    },
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
 * RSS of a fresh node process after GC, MB: bare, after importing
 * `@kubernetes/client-node` whole, and after importing what the agent loads of
 * it (`clientNode`: the compiled processors/k8s_attributes/client-node.ts,
 * without the generated models): what a Kubernetes-mode agent pays before it
 * holds a single object. Each in its own child, plain JavaScript, with this
 * process's node flags.
 */
async function processFloor(
  clientNode: string,
): Promise<{ bareNodeRssMb: number; clientNodeImportedRssMb: number; clientNodeAsLoadedRssMb: number }> {
  const rssAfter = async (code: string): Promise<number> => {
    const script = `${code}; for (let i = 0; i < 3; i++) gc(); console.log(process.memoryUsage().rss);`;
    const flags = process.execArgv.filter((f) => f !== '--expose-gc');
    const child = spawn(process.execPath, ['--expose-gc', ...flags, '--input-type=module', '-e', script], {
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
    clientNodeAsLoadedRssMb: await rssAfter(
      `await import(${JSON.stringify(pathToFileURL(clientNode).href)})`,
    ),
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
  const agentSide = compileAgentSide();
  const floor = await processFloor(
    join(dirname(agentSide), '..', 'processors', 'k8s_attributes', 'client-node.js'),
  );
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
    const agent = spawn(
      process.execPath,
      [
        ...(GC === 'forced' ? ['--expose-gc'] : []),
        ...flags,
        agentSide,
        kubeconfig,
        String(NODES),
        String(PODS),
        GC,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
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

/** The informers stage in words: RSS peak per phase, what is left, lookups through the agent. */
function agentLines(r: Record<string, unknown>): string[] {
  const phases = r.rssByPhase as Record<string, { peakMb: number; peakAtMs: number; lastMb: number }>;
  const lookup = r.lookup as ReturnType<typeof timeLookups>;
  const gcNote = r.gc === 'forced' ? 'forced GCs after sync and 10 s later' : 'no forced GC';
  return [
    `agent (${r.nodeFlags === '' ? 'no node flags' : String(r.nodeFlags)}, ${gcNote}): sync ${String(r.syncMs)} ms, peak RSS ${String(r.peakRssMb)} MB (kernel VmHWM; target <= 256 MB)`,
    ...Object.entries(phases).map(
      ([name, p]) =>
        `  ${name}: peak ${p.peakMb} MB at ${(p.peakAtMs / 1000).toFixed(1)} s, last ${p.lastMb} MB`,
    ),
    r.gc === 'forced'
      ? `  after sync: ${JSON.stringify(r.afterSync)}; after 10 s idle: ${JSON.stringify(r.afterIdle10s)}, kernel: ${JSON.stringify(r.kernelAfterIdle10s)}`
      : `  at the end: ${JSON.stringify(r.atEnd)}, kernel: ${JSON.stringify(r.kernelAtEnd)}`,
    `  lookup through the agent: ${lookup.bestCpuNs} ns CPU best, ${lookup.medianCpuNs} median, ${lookup.medianWallNs} wall (target <= 1000 ns); ${lookup.ratio}x a bare Map.get (${lookup.baselineBestCpuNs} ns), hit rate ${lookup.hitRate}`,
  ];
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
      '--gc',
      GC,
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
  const informers = await informersStage();
  process.stdout.write(JSON.stringify(informers) + '\n');
  process.stderr.write(agentLines(informers).join('\n') + '\n');
} else if (values.stage === 'all') {
  gc();
  const store = await runChild('store');
  const informers = await runChild('informers');
  type Summary = ReturnType<typeof timeLookups>;
  const lookup = store.lookup as Summary;
  const pastLookup = store.pastLookup as Summary;
  console.log(
    [
      `cluster: ${NODES} nodes, ${cluster.pods} pods`,
      `lookup: ${lookup.bestCpuNs} ns CPU best, ${lookup.medianCpuNs} median, ${lookup.medianWallNs} wall (target <= 1000 ns); ${lookup.ratio}x a bare Map.get (${lookup.baselineBestCpuNs} ns)`,
      `past-time lookup through tombstones: ${pastLookup.bestCpuNs} ns CPU best, ${pastLookup.ratio}x a bare Map.get`,
      `store alone: ${store.storeHeapMb} MB heap (${store.bytesPerPod} B/pod), process RSS ${store.rssMb} MB`,
      ...agentLines(informers),
    ].join('\n'),
  );
} else {
  throw new Error(`--stage must be all, store or informers, got ${values.stage}`);
}
