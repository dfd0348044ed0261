/**
 * Link aggregation cost per batch (issue 4 target: 100k socket samples into links in <= 20 ms).
 *
 *   npx node --expose-gc bench/aggregate.bench.ts [--sockets 100000] [--batches 30]
 *
 * Scenarios, each timed per `Aggregator.apply` call (median and p95 over the batches, after warm-up),
 * in wall time and in process CPU time (the machines these run on are shared: CPU time is what the
 * work costs, wall time includes waiting for a core):
 * - steady: 100k open sockets, every one changed in every batch (the usual poll of a busy node);
 * - churn: 100k new sockets per batch, the previous 100k gone (resolution of every socket, host mode,
 *   with the learning pass the processor runs);
 * - adopted: 100k open sockets found at start-up (pre-existing, no comm nor pid: host mode names them
 *   provisionally), every one changed in every batch, nothing new learned;
 * - closed: 10k kernel keys of closed totals, all changed per batch, no open sockets (an object per
 *   key kept across batches, as the receiver hands them).
 * Then memory (with --expose-gc): heap and array buffers held by an aggregator tracking the steady sockets, and by the
 * local peers learned from them, per socket.
 * Sockets come from 250 local addresses and 50 client processes, to 200 servers on 20 ports (one server
 * process per port and network namespace), as on a busy node.
 * Printed against a baseline measured in the same run: a bare loop folding the same samples into a Map
 * of per-cookie counters (the least any aggregation must do), so the ratio holds on a noisy machine.
 */
import { parseArgs } from 'node:util';
import { socketColumns } from '../core/socket-columns.ts';
import type { ClosedLinkTotals, SocketBatch, SocketColumns, SocketSample } from '../core/signals.ts';
import { Aggregator, rowEnds } from '../processors/k8s_attributes/aggregate.ts';
import type { FlowEnds } from '../processors/k8s_attributes/aggregate.ts';
import { CidrTable } from '../processors/k8s_attributes/cidr.ts';
import { inputsVersion, LocalPeers, resolveEnds } from '../processors/k8s_attributes/resolve.ts';
import type { ResolveContext } from '../processors/k8s_attributes/resolve.ts';

const { values } = parseArgs({
  options: { sockets: { type: 'string', default: '100000' }, batches: { type: 'string', default: '30' } },
});
const SOCKETS = Number(values.sockets);
const BATCHES = Number(values.batches);
const WARMUP = 5;
const T0 = 1_700_000_000_000;

/** The process of a socket: a client's any of 50, a server's the one serving its port (20 of them). */
function processOf(i: number, client: boolean): number {
  return client ? i % 50 : 50 + (i % 20);
}

function sampleAt(i: number, cookieBase: number, bytes: number): SocketSample {
  const client = i % 2 === 0;
  const proc = processOf(i, client);
  return {
    cookie: cookieBase + i,
    openedAtMs: T0 + cookieBase,
    netns: 4026531840 + (i % 4),
    cgroupId: 100 + proc,
    pid: 1000 + proc,
    comm: `proc${proc}`,
    family: 4,
    localAddr: `10.1.0.${i % 250}`,
    localPort: client ? 30000 + (i % 30000) : 8000 + (i % 20),
    remoteAddr: `10.2.${(i >> 12) & 15}.${i % 200}`,
    remotePort: client ? 8000 + (i % 20) : 30000 + (i % 30000),
    role: client ? 'client' : 'server',
    state: 'ESTABLISHED',
    txBytes: bytes * (1 + (i % 7)),
    rxBytes: bytes * (1 + (i % 3)),
    retransSegs: 0,
    srttUs: 100,
    preexisting: false,
    baselineTxBytes: 0,
    baselineRxBytes: 0,
  };
}

function closedAt(i: number, n: number): ClosedLinkTotals {
  const proc = processOf(i, i % 2 === 0);
  return {
    family: 4,
    clientAddr: `10.1.${(i >> 8) & 255}.${i & 255}`,
    serverAddr: `10.2.${(i >> 12) & 15}.${i % 200}`,
    serverPort: 8000 + (i % 20),
    observer: i % 2 === 0 ? 'client' : 'server',
    netns: 4026531840,
    cgroupId: 100 + proc,
    comm: `proc${proc}`,
    bytesClientToServer: 1000 * n,
    bytesServerToClient: 3000 * n,
    connectionsClosed: n,
    connectionsFailed: 0,
    retransSegs: 0,
  };
}

function context(): ResolveContext {
  return {
    mode: 'host',
    cluster: undefined,
    host: { cgroupPath: (id) => `/system.slice/app${id}.service`, commOf: () => undefined, version: 0 },
    peers: new LocalPeers(),
    cidr: new CidrTable({ '10.2.0.0/16': 'backend-net' }),
    dns: undefined,
    hostName: 'bench',
    nowMs: T0,
    informerGraceMs: 30_000,
  };
}

interface Timing {
  medianMs: number;
  p95Ms: number;
  cpuMedianMs: number;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function time(batches: number, prepare: (i: number) => SocketBatch, run: (b: SocketBatch) => void): Timing {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < batches; i++) {
    const b = prepare(i);
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    run(b);
    const ms = performance.now() - t;
    const used = process.cpuUsage(cpu0);
    if (i >= WARMUP) {
      wall.push(ms);
      cpu.push((used.user + used.system) / 1000);
    }
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return { medianMs: quantile(wall, 0.5), p95Ms: quantile(wall, 0.95), cpuMedianMs: quantile(cpu, 0.5) };
}

const NO_SOCKETS = socketColumns([]);

function batchOf(i: number, over: Partial<SocketBatch>): SocketBatch {
  return {
    timeMs: T0 + i * 5000,
    startTimeMs: T0,
    sockets: NO_SOCKETS,
    gone: [],
    openSockets: 0,
    closed: [],
    ...over,
  };
}

const total = BATCHES + WARMUP;

/** Columns of `rows` the bench writes to, as the receiver does from poll to poll. */
const writable = (rows: SocketSample[]): SocketColumns => socketColumns(rows);

// Steady: one set of columns whose counters grow between batches (the aggregator keeps none).
const steadyRows: SocketSample[] = [];
for (let i = 0; i < SOCKETS; i++) steadyRows.push(sampleAt(i, 0, 1000));
const steadySockets = writable(steadyRows);
const grow = (i: number): SocketBatch => {
  for (let r = 0; r < steadySockets.count; r++) {
    steadySockets.txBytes[r]! += 1000;
    steadySockets.rxBytes[r]! += 500;
  }
  return batchOf(i + 1, { sockets: steadySockets, openSockets: SOCKETS });
};

// Baseline: per-cookie counter fold of the same steady samples.
const bare = new Map<number, { tx: number; rx: number; c2s: number }>();
const baseline = time(total, grow, (b) => {
  const c = b.sockets;
  for (let r = 0; r < c.count; r++) {
    const cookie = c.cookie[r]!;
    let e = bare.get(cookie);
    if (e === undefined) {
      e = { tx: 0, rx: 0, c2s: 0 };
      bare.set(cookie, e);
    }
    e.c2s += c.txBytes[r]! - e.tx;
    e.tx = c.txBytes[r]!;
    e.rx = c.rxBytes[r]!;
  }
});

// As the processor runs it: learning from new sockets, the inputs version of the same context.
const ctx = context();
const learn = (ends: FlowEnds): void => ctx.peers.learn(ends);
const resolve = (ends: FlowEnds) => resolveEnds(ends, ctx);
const version = (inputs?: number): number => inputsVersion(ctx, inputs);

const steadyAgg = new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 100_000 });
steadyAgg.apply(batchOf(0, { sockets: steadySockets, openSockets: SOCKETS }), resolve, learn, version);
const steady = time(total, grow, (b) => steadyAgg.apply(b, resolve, learn, version));
const steadyLinks = steadyAgg.linkCount;

// Adopted: the sockets of a node found open at start-up, in a context of their own.
const adoptedCtx = context();
const adoptedSockets = writable(steadyRows.map((s) => ({ ...s, comm: '', pid: 0, preexisting: true })));
const adoptedAgg = new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 100_000 });
const adoptedResolve = (ends: FlowEnds) => resolveEnds(ends, adoptedCtx);
const adoptedLearn = (ends: FlowEnds): void => adoptedCtx.peers.learn(ends);
const adoptedVersion = (inputs?: number): number => inputsVersion(adoptedCtx, inputs);
adoptedAgg.apply(
  batchOf(0, { sockets: adoptedSockets, openSockets: SOCKETS }),
  adoptedResolve,
  adoptedLearn,
  adoptedVersion,
);
const adopted = time(
  total,
  (i) => {
    for (let r = 0; r < adoptedSockets.count; r++) adoptedSockets.txBytes[r]! += 1000;
    return batchOf(i + 1, { sockets: adoptedSockets, openSockets: SOCKETS });
  },
  (b) => adoptedAgg.apply(b, adoptedResolve, adoptedLearn, adoptedVersion),
);

const churnAgg = new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 100_000 });
const churn = time(
  total,
  (b) => {
    const sockets: SocketSample[] = [];
    for (let i = 0; i < SOCKETS; i++) sockets.push(sampleAt(i, (b + 1) * 1_000_000, 500));
    const gone: number[] = [];
    if (b > 0) for (let i = 0; i < SOCKETS; i++) gone.push(b * 1_000_000 + i);
    return batchOf(b, { sockets: socketColumns(sockets), gone, openSockets: SOCKETS });
  },
  (b) => churnAgg.apply(b, resolve, learn, version),
);
const churnLinks = churnAgg.linkCount;

const KEYS = Math.max(1, Math.floor(SOCKETS / 10));
const closedAgg = new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 100_000 });
const closedTotals: ClosedLinkTotals[] = [];
const closed = time(
  total,
  (b) => {
    // The same object per key at every batch, its counters moved, as the receiver hands them.
    for (let i = 0; i < KEYS; i++) {
      const next = closedAt(i, b + 1);
      const t = (closedTotals[i] ??= next);
      t.bytesClientToServer = next.bytesClientToServer;
      t.bytesServerToClient = next.bytesServerToClient;
      t.connectionsClosed = next.connectionsClosed;
    }
    return batchOf(b, { closed: closedTotals });
  },
  (b) => closedAgg.apply(b, resolve, learn, version),
);

/** Heap and array buffers held by what `build` returns, after full garbage collections (needs --expose-gc). */
function heldBytes(build: () => unknown): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return undefined;
  gc();
  gc();
  const held = (): number => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const before = held();
  const kept = build();
  gc();
  gc();
  const after = held();
  if (kept === undefined) throw new Error('nothing kept');
  return after - before;
}
const memCtx = context();
const aggBytes = heldBytes(() => {
  const a = new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 100_000 });
  a.apply(batchOf(0, { sockets: steadySockets, openSockets: SOCKETS }), (e) => resolveEnds(e, memCtx));
  return a;
});
const peersBytes = heldBytes(() => {
  const peers = new LocalPeers();
  for (let r = 0; r < steadySockets.count; r++) peers.learn(rowEnds(steadySockets, r));
  return peers;
});

const fmt = (t: Timing): string =>
  `wall median ${t.medianMs.toFixed(2)} ms, p95 ${t.p95Ms.toFixed(2)} ms; CPU median ${t.cpuMedianMs.toFixed(2)} ms`;
const ratio = (t: Timing): string => `${(t.cpuMedianMs / baseline.cpuMedianMs).toFixed(1)}x baseline CPU`;
console.log(
  `node ${process.version}, ${SOCKETS} samples per batch, ${BATCHES} timed batches after ${WARMUP} warm-up`,
);
console.log(`baseline (bare per-cookie fold): ${fmt(baseline)}`);
console.log(
  `steady  (${SOCKETS} changed open sockets, ${steadyLinks} links): ${fmt(steady)}  ${ratio(steady)}`,
);
console.log(
  `churn   (${SOCKETS} new + ${SOCKETS} gone, resolved, ${churnLinks} links): ${fmt(churn)}  ${ratio(churn)}`,
);
console.log(
  `adopted (${SOCKETS} changed pre-existing sockets, provisional): ${fmt(adopted)}  ${ratio(adopted)}`,
);
console.log(`closed  (${KEYS} changed kernel keys): ${fmt(closed)}  ${ratio(closed)}`);
const mib = (bytes: number): string =>
  `${(bytes / 1048576).toFixed(1)} MiB (${Math.round(bytes / SOCKETS)} B/socket)`;
console.log(
  aggBytes === undefined || peersBytes === undefined
    ? 'memory: run with --expose-gc'
    : `memory (heapUsed + arrayBuffers, ${SOCKETS} open sockets): aggregator ${mib(aggBytes)}, learned local peers ${mib(peersBytes)}`,
);
console.log(
  `target 100k samples <= 20 ms per batch (steady, CPU median): ${steady.cpuMedianMs <= 20 ? 'met' : 'NOT met'}`,
);
