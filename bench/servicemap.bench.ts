/**
 * The servicemap exporter's cost per batch and per page refresh, against the cheapest thing an
 * exporter could do with the same batch (`JSON.stringify` of the links themselves), at 10k links
 * (2,000 workloads, 5,000 edges seen from both ends):
 * - `fold`: summing the batch's links per edge (once per batch, in `consume`), the previous batch's
 *   fold at hand as in the exporter;
 * - `graph`: the nodes, edges and rates of the folded batch (once per batch, on the first request);
 * - `view+json`: what one `/api/graph` request costs (view, no filter, serialised);
 * - `view+json name=`: the same with a name filter.
 *
 * @example
 * ```sh
 * npx node bench/servicemap.bench.ts --rounds 7
 * ```
 */
import type { Identity, Link, LinkBatch } from '../core/signals.ts';
import type { LinkFold, ServiceGraph } from '../exporters/servicemap/graph.ts';
import { foldLinks, graphOf, viewGraph } from '../exporters/servicemap/graph.ts';
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
const previous: LinkFold = foldLinks(first);
const folded: LinkFold = foldLinks(second, previous);
const graph: ServiceGraph = graphOf(folded, previous);
const caps = { maxNodes: 500, maxEdges: 2000 };
const ITERATIONS = 20;

const operations: Record<string, () => unknown> = {
  'json(batch)': () => JSON.stringify(second.links),
  fold: () => foldLinks(second, previous),
  graph: () => graphOf(folded, previous),
  'view+json': () => JSON.stringify(viewGraph(graph, {}, caps)),
  'view+json name=': () => JSON.stringify(viewGraph(graph, { name: 'workload-17' }, caps)),
};

await runBench({
  title: `servicemap: ${second.links.length.toLocaleString('en-US')} links, ${WORKLOADS} workloads, ${EDGES} edges`,
  metrics: [{ name: 'cpu', unit: 'ms CPU per operation', higherIsBetter: false }],
  baseline: { name: 'json(batch)' },
  candidates: [{ name: 'fold' }, { name: 'graph' }, { name: 'view+json' }, { name: 'view+json name=' }],
  workload: async (candidate) => {
    const op = operations[candidate.name]!;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < ITERATIONS; i++) op();
    const cpu = process.cpuUsage(cpu0);
    return { cpu: (cpu.user + cpu.system) / 1000 / ITERATIONS };
  },
});
