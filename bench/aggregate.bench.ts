/**
 * Link aggregation cost per batch (issue 4 target: 100k socket samples into links in <= 20 ms).
 *
 *   npx node bench/aggregate.bench.ts [--sockets 100000] [--batches 30]
 *
 * Scenarios, each timed per `Aggregator.apply` call (median and p95 over the batches, after warm-up),
 * in wall time and in process CPU time (the machines these run on are shared: CPU time is what the
 * work costs, wall time includes waiting for a core):
 * - steady: 100k open sockets, every one changed in every batch (the usual poll of a busy node);
 * - churn: 100k new sockets per batch, the previous 100k gone (resolution of every socket, host mode,
 *   with the learning pass the processor runs);
 * - closed: 10k kernel keys of closed totals, all changed per batch, no open sockets.
 * Sockets come from 250 local addresses, 50 processes and 200 servers on 20 ports, as on a busy node.
 * Printed against a baseline measured in the same run: a bare loop folding the same samples into a Map
 * of per-cookie counters (the least any aggregation must do), so the ratio holds on a noisy machine.
 */
import { parseArgs } from 'node:util';
import type { ClosedLinkTotals, SocketBatch, SocketSample } from '../core/signals.ts';
import { Aggregator } from '../processors/k8s_attributes/aggregate.ts';
import type { FlowEnds } from '../processors/k8s_attributes/aggregate.ts';
import { CidrTable } from '../processors/k8s_attributes/cidr.ts';
import { LocalPeers, resolveEnds } from '../processors/k8s_attributes/resolve.ts';
import type { ResolveContext } from '../processors/k8s_attributes/resolve.ts';

const { values } = parseArgs({
  options: { sockets: { type: 'string', default: '100000' }, batches: { type: 'string', default: '30' } },
});
const SOCKETS = Number(values.sockets);
const BATCHES = Number(values.batches);
const WARMUP = 5;
const T0 = 1_700_000_000_000;

function sampleAt(i: number, cookieBase: number, bytes: number): SocketSample {
  const client = i % 2 === 0;
  return {
    cookie: cookieBase + i,
    openedAtMs: T0 + cookieBase,
    netns: 4026531840 + (i % 4),
    cgroupId: 100 + (i % 50),
    pid: 1000 + (i % 50),
    comm: `proc${i % 50}`,
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
  return {
    family: 4,
    clientAddr: `10.1.${(i >> 8) & 255}.${i & 255}`,
    serverAddr: `10.2.${(i >> 12) & 15}.${i % 200}`,
    serverPort: 8000 + (i % 20),
    observer: i % 2 === 0 ? 'client' : 'server',
    netns: 4026531840,
    cgroupId: 100 + (i % 50),
    comm: `proc${i % 50}`,
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
    host: { cgroupPath: (id) => `/system.slice/app${id}.service`, commOf: () => undefined },
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

function batchOf(i: number, over: Partial<SocketBatch>): SocketBatch {
  return {
    timeMs: T0 + i * 5000,
    startTimeMs: T0,
    sockets: [],
    gone: [],
    openSockets: 0,
    closed: [],
    ...over,
  };
}

const total = BATCHES + WARMUP;

// Steady: one set of sample objects whose counters grow between batches (the aggregator keeps none).
const steadySockets: SocketSample[] = [];
for (let i = 0; i < SOCKETS; i++) steadySockets.push(sampleAt(i, 0, 1000));
const grow = (i: number): SocketBatch => {
  for (const s of steadySockets) {
    s.txBytes += 1000;
    s.rxBytes += 500;
  }
  return batchOf(i + 1, { sockets: steadySockets, openSockets: SOCKETS });
};

// Baseline: per-cookie counter fold of the same steady samples.
const bare = new Map<number, { tx: number; rx: number; c2s: number }>();
const baseline = time(total, grow, (b) => {
  for (const s of b.sockets) {
    let e = bare.get(s.cookie);
    if (e === undefined) {
      e = { tx: 0, rx: 0, c2s: 0 };
      bare.set(s.cookie, e);
    }
    e.c2s += s.txBytes - e.tx;
    e.tx = s.txBytes;
    e.rx = s.rxBytes;
  }
});

const ctx = context();
const learn = (ends: FlowEnds): void => {
  const local = ends.observer === 'client' ? ends.clientAddr : ends.serverAddr;
  ctx.peers.learnAddress(ends.netns, local);
  const proc = { cgroupId: ends.cgroupId, pid: ends.pid, comm: ends.comm };
  if (ends.observer === 'server') ctx.peers.learnServer(ends.netns, ends.serverPort, proc);
  else
    ctx.peers.learnClient(
      ends.netns,
      ends.clientPort,
      ends.clientAddr,
      ends.serverAddr,
      ends.serverPort,
      proc,
    );
};
const resolve = (ends: FlowEnds) => resolveEnds(ends, ctx);

const steadyAgg = new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 100_000 });
steadyAgg.apply(batchOf(0, { sockets: steadySockets, openSockets: SOCKETS }), resolve, learn);
const steady = time(total, grow, (b) => steadyAgg.apply(b, resolve, learn));
const steadyLinks = steadyAgg.linkCount;

const churnAgg = new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 100_000 });
const churn = time(
  total,
  (b) => {
    const sockets: SocketSample[] = [];
    for (let i = 0; i < SOCKETS; i++) sockets.push(sampleAt(i, (b + 1) * 1_000_000, 500));
    const gone: number[] = [];
    if (b > 0) for (let i = 0; i < SOCKETS; i++) gone.push(b * 1_000_000 + i);
    return batchOf(b, { sockets, gone, openSockets: SOCKETS });
  },
  (b) => churnAgg.apply(b, resolve, learn),
);
const churnLinks = churnAgg.linkCount;

const KEYS = Math.max(1, Math.floor(SOCKETS / 10));
const closedAgg = new Aggregator({ linkIdleTimeoutMs: 600_000, maxLinks: 100_000 });
const closed = time(
  total,
  (b) => {
    const totals: ClosedLinkTotals[] = [];
    for (let i = 0; i < KEYS; i++) totals.push(closedAt(i, b + 1));
    return batchOf(b, { closed: totals });
  },
  (b) => closedAgg.apply(b, resolve, learn),
);

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
console.log(`closed  (${KEYS} changed kernel keys): ${fmt(closed)}  ${ratio(closed)}`);
console.log(
  `target 100k samples <= 20 ms per batch (steady, CPU median): ${steady.cpuMedianMs <= 20 ? 'met' : 'NOT met'}`,
);
