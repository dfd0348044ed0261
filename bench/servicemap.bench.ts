/**
 * The servicemap exporter's cost per batch and per page refresh, against the cheapest thing an
 * exporter could do with the same batch (`JSON.stringify` of the links themselves), at 10k links
 * (2,000 workloads, 5,000 edges seen from both ends):
 * - `build`: folding the batch into the graph with rates (once per batch, in `consume`);
 * - `view+json`: what one `/api/graph` request costs (view, no filter, serialised);
 * - `view+json name=`: the same with a name filter.
 *
 * @example
 * ```sh
 * npx node bench/servicemap.bench.ts --rounds 7
 * ```
 */
import type { Identity, Link, LinkBatch } from '../core/signals.ts';
import type { PreviousTotals, ServiceGraph } from '../exporters/servicemap/graph.ts';
import { buildGraph, viewGraph } from '../exporters/servicemap/graph.ts';
import { runBench } from './harness.ts';

const WORKLOADS = 2000;
const EDGES = 5000;
const T0 = Date.parse('2026-11-26T12:00:00Z');

function batch(timeMs: number, scale: number): LinkBatch {
  const id = (i: number): Identity => ({
    name: `workload-${i}`,
    kind: 'Deployment',
    namespace: `ns-${i % 40}`,
  });
  const links: Link[] = [];
  for (let e = 0; e < EDGES; e++) {
    for (const observer of ['client', 'server'] as const) {
      links.push({
        id: `${e}/${observer}`,
        client: id(e % WORKLOADS),
        server: id((e * 7 + 1) % WORKLOADS),
        serverPort: 8000 + (e % 50),
        transport: 'tcp',
        networkType: 'ipv4',
        observer,
        bytesClientToServer: 1000 * scale + e,
        bytesServerToClient: 9000 * scale + e,
        connectionsOpened: 10 * scale,
        connectionsClosed: 10 * scale - 1,
        connectionsFailed: 0,
        activeConnections: 1,
        retransSegs: 0,
        startTimeMs: T0,
        lastActivityMs: timeMs,
      });
    }
  }
  return { timeMs, startTimeMs: T0, links };
}

const first = batch(T0 + 5000, 1);
const second = batch(T0 + 10_000, 2);
const previous: PreviousTotals = buildGraph(first, undefined).next;
const graph: ServiceGraph = buildGraph(second, previous).graph;
const caps = { maxNodes: 500, maxEdges: 2000 };
const ITERATIONS = 20;

const operations: Record<string, () => unknown> = {
  'json(batch)': () => JSON.stringify(second.links),
  build: () => buildGraph(second, previous),
  'view+json': () => JSON.stringify(viewGraph(graph, {}, caps)),
  'view+json name=': () => JSON.stringify(viewGraph(graph, { name: 'workload-17' }, caps)),
};

await runBench({
  title: `servicemap: ${second.links.length.toLocaleString('en-US')} links, ${WORKLOADS} workloads, ${EDGES} edges`,
  metrics: [{ name: 'cpu', unit: 'ms CPU per operation', higherIsBetter: false }],
  baseline: { name: 'json(batch)' },
  candidates: [{ name: 'build' }, { name: 'view+json' }, { name: 'view+json name=' }],
  workload: async (candidate) => {
    const op = operations[candidate.name]!;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < ITERATIONS; i++) op();
    const cpu = process.cpuUsage(cpu0);
    return { cpu: (cpu.user + cpu.system) / 1000 / ITERATIONS };
  },
});
