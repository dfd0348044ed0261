/**
 * The service map page end to end, in a real browser: three network
 * namespaces (prefix lhp, 10.204.0.0/16) run a small application — a client
 * calling an HTTP front that fetches every answer from a key-value server —
 * while the real agent runs: the `ebpf_socket` receiver (eBPF on this kernel),
 * `k8s_attributes` in host mode, and the `servicemap` exporter. Headless
 * Debian Chromium driven by playwright-core loads the page and checks that it
 * shows exactly the three processes and two edges with the bytes both ends of
 * the application counted, that a name filter hides the client, and that
 * clicking an edge shows its exact numbers. The screenshot is kept in
 * test-results/servicemap.png. Needs root and chromium (setup.d/60-browser.sh);
 * fails with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { GraphView } from '../../exporters/servicemap/graph.ts';
import { formatBytes } from '../../exporters/servicemap/graph.ts';
import type { ServiceMapExporter } from '../../exporters/servicemap/exporter.ts';
import { servicemapExporterFactory } from '../../exporters/servicemap/factory.ts';
import type { Page } from 'playwright-core';
import type { Browser } from '../support/browser.ts';
import { assertChromium, launchBrowser } from '../support/browser.ts';
import type { ExchangeReport, TierProcess } from '../support/multitier.ts';
import { runMultitierClient, spawnFront, spawnKv } from '../support/multitier.ts';
import type { Topology } from '../support/netns.ts';
import { randomTopology, startPipeline } from '../support/pipeline.ts';
import type { Pipeline } from '../support/pipeline.ts';

const REQUESTS = 12;
const CLIENT = 'lhpclient';
const FRONT = 'lhpfront';
const KV = 'lhpkv';
const ID = (name: string): string => `process//${name}`;

interface ExpectedEdge {
  source: string;
  target: string;
  serverPort: number;
  bytesClientToServer: number;
  bytesServerToClient: number;
}

/** Waits until `selector` matches `count` elements (the page's CSP forbids evaluated strings). */
async function waitForCount(page: Page, selector: string, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await page.locator(selector).count()) !== count) {
    assert.ok(Date.now() < deadline, `${selector}: not ${count} elements within 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sum = (reports: readonly ExchangeReport[], key: keyof ExchangeReport): number =>
  reports.reduce((total, r) => total + (r[key] as number), 0);

describe('service map page in headless Chromium over a real three-tier app', { concurrency: false }, () => {
  let topo: Topology;
  let kv: TierProcess;
  let front: TierProcess;
  let pipeline: Pipeline<ServiceMapExporter>;
  let exporter: ServiceMapExporter;
  let browser: Browser | undefined;
  let client: ExchangeReport;
  let frontReports: ExchangeReport[];
  let kvReports: ExchangeReport[];

  before(async () => {
    assertChromium();
    topo = await randomTopology('lhp', ['client', 'front', 'kv'], 204);
    kv = await spawnKv(topo.host('kv'), KV);
    front = await spawnFront(topo.host('front'), FRONT, topo.host('kv').addr4, kv.port);
    pipeline = await startPipeline<ServiceMapExporter>({
      topology: topo,
      pollInterval: '1h',
      exporter: {
        factory: servicemapExporterFactory,
        id: 'servicemap',
        config: { endpoint: '127.0.0.1:0', summary: 'never', refresh_interval: '500ms' },
      },
    });
    exporter = pipeline.exporter;
    // A first batch before the traffic, so the next one has a rate over a real interval.
    await pipeline.poll();
    for (const h of ['client', 'front']) {
      const route = await topo.host(h).exec('ip', ['route', 'get', topo.host('kv').addr4]);
      assert.match(route.stdout, /dev eth0/, `${h} reaches the app's addresses through its own veth`);
    }
    client = await runMultitierClient(
      topo.host('client'),
      CLIENT,
      topo.host('front').addr4,
      front.port,
      REQUESTS,
    );
    frontReports = await front.waitFor(REQUESTS);
    kvReports = await kv.waitFor(REQUESTS);
    await new Promise((r) => setTimeout(r, 300));
  });

  after(async () => {
    await browser?.close();
    await pipeline?.shutdown();
    await front?.stop();
    await kv?.stop();
    await topo?.destroy();
  });

  /** The two edges the app makes, with the numbers both of its ends counted. */
  function expected(): ExpectedEdge[] {
    // Both ends agree before anything is compared with the agent.
    assert.equal(client.calledOut, sum(frontReports, 'servedIn'), 'client sent = front received');
    assert.equal(client.calledIn, sum(frontReports, 'servedOut'), 'front sent = client received');
    assert.equal(sum(frontReports, 'calledOut'), sum(kvReports, 'servedIn'), 'front sent = kv received');
    assert.equal(sum(frontReports, 'calledIn'), sum(kvReports, 'servedOut'), 'kv sent = front received');
    return [
      {
        source: ID(CLIENT),
        target: ID(FRONT),
        serverPort: front.port,
        bytesClientToServer: client.calledOut,
        bytesServerToClient: client.calledIn,
      },
      {
        source: ID(FRONT),
        target: ID(KV),
        serverPort: kv.port,
        bytesClientToServer: sum(frontReports, 'calledOut'),
        bytesServerToClient: sum(frontReports, 'calledIn'),
      },
    ];
  }

  const exact = (view: GraphView | undefined): boolean =>
    view !== undefined &&
    view.edges.length === 2 &&
    expected().every((want) => {
      const e = view.edges.find((x) => x.source === want.source && x.target === want.target);
      return (
        e !== undefined &&
        e.serverPort === want.serverPort &&
        e.observers.length === 2 &&
        e.bytesClientToServer === want.bytesClientToServer &&
        e.bytesServerToClient === want.bytesServerToClient &&
        e.connectionsClosed === REQUESTS
      );
    });

  it('the agent folds the app into three process nodes and two edges with exact bytes', async () => {
    await pipeline.pollUntil(
      () => exact(exporter.view({})),
      () => JSON.stringify(exporter.view({})?.edges),
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    const view = exporter.view({}) as GraphView;
    assert.deepEqual(
      view.nodes.map((n) => [n.name, n.kind, n.namespace]),
      [
        [CLIENT, 'process', ''],
        [FRONT, 'process', ''],
        [KV, 'process', ''],
      ],
    );
    for (const e of view.edges) {
      assert.equal(e.observer, 'client', 'the client observer is shown when both ends saw the edge');
      assert.equal(e.connectionsOpened, REQUESTS);
      assert.equal(e.connectionsFailed, 0);
      assert.equal(e.connectionsActive, 0);
      assert.ok(
        e.bytesPerSecond !== null && e.bytesPerSecond > 0,
        'a rate over the interval since the baseline poll',
      );
    }
  });

  it('the page shows exactly those nodes and edges, a filter hides the client, a click shows the numbers', async () => {
    const view = exporter.view({}) as GraphView;
    browser = await launchBrowser();
    const { page } = browser;
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(exporter.url as string);
    await page.waitForSelector(`#status[data-time="${view.timeMs}"]`);
    const nodes = await page.$$eval('#nodes g.node', (gs) => gs.map((g) => g.getAttribute('data-name')));
    assert.deepEqual(nodes.sort(), [CLIENT, FRONT, KV]);
    const edges = await page.$$eval('#edges g.edge', (gs) =>
      gs.map((g) => [g.getAttribute('data-source'), g.getAttribute('data-target')]),
    );
    assert.deepEqual(edges.sort(), [
      [ID(CLIENT), ID(FRONT)],
      [ID(FRONT), ID(KV)],
    ]);
    for (const want of expected()) {
      const id = `${want.source}->${want.target}:${want.serverPort}`;
      const label = await page.textContent(`#labels text[data-id="${id}"]`);
      const total = want.bytesClientToServer + want.bytesServerToClient;
      assert.ok(label?.includes(`:${want.serverPort}`), `${label} names the port`);
      assert.ok(
        label?.includes(`${formatBytes(total)} · ${REQUESTS} conns`),
        `${label} shows total and connections`,
      );
    }

    // A click on the client -> front edge opens its details with the exact numbers.
    const [first] = expected();
    assert.ok(first);
    const firstId = `${first.source}->${first.target}:${first.serverPort}`;
    await page.click(`#labels text[data-id="${firstId}"]`);
    await page.waitForSelector(`#details[data-id="${firstId}"]:not([hidden])`);
    assert.equal(await page.textContent('#details-title'), `${CLIENT} → ${FRONT}`);
    const field = (name: string): Promise<string | null> =>
      page.getAttribute(`#details-body [data-field="${name}"]`, 'data-value');
    assert.equal(await field('bytesClientToServer'), String(first.bytesClientToServer));
    assert.equal(await field('bytesServerToClient'), String(first.bytesServerToClient));
    assert.equal(await field('bytesTotal'), String(first.bytesClientToServer + first.bytesServerToClient));
    assert.equal(await field('connectionsOpened'), String(REQUESTS));
    assert.equal(await field('connectionsClosed'), String(REQUESTS));
    assert.equal(await field('connectionsFailed'), '0');
    assert.match(
      (await page.textContent(`#details-body [data-field="bytesClientToServer"]`)) ?? '',
      new RegExp(`^${first.bytesClientToServer.toLocaleString('en-US')} B`),
    );
    await page.click('#fit');
    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/servicemap.png' });

    // The name filter keeps the edges with an end named like "lhpkv": the front and the kv server.
    await page.click('#details-close');
    await page.fill('#filter-name', KV);
    await waitForCount(page, '#nodes g.node', 2);
    const filtered = await page.$$eval('#nodes g.node', (gs) => gs.map((g) => g.getAttribute('data-name')));
    assert.deepEqual(filtered.sort(), [FRONT, KV]);
    assert.equal(await page.locator('#edges g.edge').count(), 1);
    assert.equal(await page.getAttribute('#edges g.edge', 'data-source'), ID(FRONT));
    await page.fill('#filter-name', '');
    await waitForCount(page, '#nodes g.node', 3);
    assert.deepEqual(errors, [], 'no errors in the page');
  });

  it('answers the Grafana Node Graph API data request for the same graph', async () => {
    const res = await fetch(`${exporter.url}api/graph/data?name=${KV}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      nodes: Array<Record<string, unknown>>;
      edges: Array<Record<string, unknown>>;
    };
    assert.deepEqual(body.nodes.map((n) => n.title).sort(), [FRONT, KV]);
    assert.equal(body.edges.length, 1);
    const [edge] = body.edges;
    const [, want] = expected();
    assert.equal(edge?.source, ID(FRONT));
    assert.equal(edge?.target, ID(KV));
    assert.equal(edge?.detail__bytes_client_to_server, want?.bytesClientToServer);
    assert.equal(edge?.detail__bytes_server_to_client, want?.bytesServerToClient);
    assert.equal(edge?.detail__connections_opened, REQUESTS);
  });
});
