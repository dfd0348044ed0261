/**
 * The service map page at scale, in headless Chromium: a 200-workload graph
 * (built from link batches, fed to the real exporter) is laid out with no two
 * boxes overlapping and fits the window; a refresh that only changes numbers
 * moves nothing; a new node does not reshuffle the others; the caps show a
 * "truncated" badge; a node's details list its edges. Needs chromium
 * (setup.d/60-browser.sh); fails with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { Document } from 'yaml';
import { validateConfig } from '../../core/config/validate.ts';
import type { Identity, Link, LinkBatch } from '../../core/signals.ts';
import type { ServiceMapExporter } from '../../exporters/servicemap/exporter.ts';
import { servicemapExporterFactory } from '../../exporters/servicemap/factory.ts';
import type { Browser } from '../support/browser.ts';
import { assertChromium, launchBrowser } from '../support/browser.ts';
import { testHost, testSettings } from '../support/settings.ts';
import { testLink } from '../support/links.ts';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const SHOPS = 33;

/** ingress -> frontend-i -> api-i -> {cart-i -> redis-i, catalog-i (Service), postgres-i}: 6 per shop + ingress + extra. */
function links(scale: number, extra: Identity[] = []): Link[] {
  const out: Link[] = [];
  const add = (client: Identity, server: Identity, port: number, bytes: number): void => {
    out.push(
      testLink({
        id: String(out.length),
        client,
        server,
        serverPort: port,
        bytesClientToServer: bytes * scale,
        bytesServerToClient: 5 * bytes * scale,
        connectionsOpened: 10 * scale,
        connectionsClosed: 10 * scale - 1,
        connectionsFailed: 0,
        retransSegs: 0,
        startTimeMs: T0,
        lastActivityMs: T0 + scale * 1000,
      }),
    );
  };
  const w = (name: string, ns: string, kind = 'Deployment'): Identity => ({ name, kind, namespace: ns });
  const ingress = w('ingress-nginx', 'ingress');
  for (let i = 0; i < SHOPS; i++) {
    const ns = `shop-${i}`;
    add(ingress, w(`frontend-${i}`, ns), 8080, 9000 + i);
    add(w(`frontend-${i}`, ns), w(`api-${i}`, ns), 9000, 7000);
    add(w(`api-${i}`, ns), w(`cart-${i}`, ns), 9000, 3000);
    add(w(`api-${i}`, ns), w(`catalog-${i}`, ns, 'Service'), 80, 2000);
    add(w(`api-${i}`, ns), w(`postgres-${i}`, ns, 'StatefulSet'), 5432, 20_000);
    add(w(`cart-${i}`, ns), w(`redis-${i}`, ns, 'StatefulSet'), 6379, 500);
  }
  for (const e of extra) add(w('api-0', 'shop-0'), e, 443, 100);
  return out;
}

const batch = (timeMs: number, scale: number, extra: Identity[] = []): LinkBatch => ({
  timeMs,
  startTimeMs: T0,
  links: links(scale, extra),
});

async function waitForTime(page: Page, timeMs: number): Promise<void> {
  await page.waitForSelector(`#status[data-time="${timeMs}"]`);
}

/** Node id -> its box on screen. */
async function boxes(page: Page): Promise<Map<string, { x: number; y: number; w: number; h: number }>> {
  const list = await page.$$eval('#nodes g.node', (gs) =>
    gs.map((g) => {
      const r = g.getBoundingClientRect();
      return [g.getAttribute('data-id') ?? '', { x: r.x, y: r.y, w: r.width, h: r.height }] as const;
    }),
  );
  return new Map(list);
}

describe('service map page at 200 nodes', { concurrency: false }, () => {
  let exporter: ServiceMapExporter;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assertChromium();
    const { value, issues } = validateConfig(
      new Document({ endpoint: '127.0.0.1:0', summary: 'never', refresh_interval: '300ms' }).contents,
      servicemapExporterFactory.configSchema,
      { path: 'exporters::servicemap' },
    );
    assert.deepEqual(issues, []);
    exporter = servicemapExporterFactory.create(
      testSettings('servicemap'),
      value as never,
    ) as ServiceMapExporter;
    await exporter.start(testHost());
    await exporter.consume(batch(T0 + 2000, 1));
    await exporter.consume(batch(T0 + 4000, 2));
    browser = await launchBrowser();
    page = browser.page;
    await page.goto(exporter.url as string);
    await waitForTime(page, T0 + 4000);
  });

  after(async () => {
    await browser?.close();
    await exporter?.shutdown();
  });

  it('draws every node without overlaps, inside the window after fitting', async () => {
    const shown = await boxes(page);
    assert.equal(shown.size, 1 + 6 * SHOPS);
    assert.equal(await page.locator('#edges g.edge').count(), 6 * SHOPS);
    const all = [...shown.values()];
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) {
        const a = all[i]!;
        const b = all[j]!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `boxes ${i} and ${j} overlap: ${JSON.stringify([a, b])}`);
      }
    }
    const stage = await page.locator('#map').boundingBox();
    assert.ok(stage);
    for (const [id, b] of shown) {
      assert.ok(b.x >= stage.x && b.x + b.w <= stage.x + stage.width, `${id} inside horizontally`);
      assert.ok(b.y >= stage.y && b.y + b.h <= stage.y + stage.height, `${id} inside vertically`);
    }
    // Clients left of servers: every edge goes from a box to a box further right.
    const edges = await page.$$eval('#edges g.edge', (gs) =>
      gs.map((g) => [g.getAttribute('data-source') ?? '', g.getAttribute('data-target') ?? '']),
    );
    for (const [s, t] of edges) assert.ok(shown.get(s)!.x < shown.get(t)!.x, `${s} left of ${t}`);
    // Zooming in makes the labels legible: 3 wheel steps in at least double the scale.
    const before = (await boxes(page)).get('Deployment/ingress/ingress-nginx')!.w;
    await page.mouse.move(stage.x + stage.width / 2, stage.y + stage.height / 2);
    for (let i = 0; i < 3; i++) await page.mouse.wheel(0, -300);
    const after = (await boxes(page)).get('Deployment/ingress/ingress-nginx')!.w;
    assert.ok(after > 2 * before, `zoomed from ${before} to ${after} px wide`);
    await page.click('#fit');
  });

  it('moves nothing when only numbers change, and keeps the order when a node appears', async () => {
    const first = await boxes(page);
    const label = (): Promise<string | null> =>
      page.textContent('#labels text[data-id="Deployment/shop-0/api-0->StatefulSet/shop-0/postgres-0:5432"]');
    const rateBefore = await label();
    await exporter.consume(batch(T0 + 6000, 4));
    await waitForTime(page, T0 + 6000);
    assert.deepEqual(await boxes(page), first, 'same structure, same positions');
    assert.notEqual(await label(), rateBefore, 'the numbers did change');
    await exporter.consume(
      batch(T0 + 8000, 5, [{ name: 'api.example.com', kind: 'external', namespace: '' }]),
    );
    await waitForTime(page, T0 + 8000);
    await page.click('#fit');
    const second = await boxes(page);
    assert.equal(second.size, first.size + 1);
    // Within each column, the nodes that were there keep their top-to-bottom order.
    const order = (m: Map<string, { x: number; y: number }>, ids: string[]): string[] =>
      [...ids].sort((a, b) => m.get(a)!.y - m.get(b)!.y);
    const columns = new Map<number, string[]>();
    for (const [id, b] of first) columns.set(Math.round(b.x), [...(columns.get(Math.round(b.x)) ?? []), id]);
    for (const ids of columns.values()) {
      const sameColumn = ids.filter((id) => Math.abs(second.get(id)!.x - second.get(ids[0]!)!.x) < 1);
      assert.deepEqual(order(second, sameColumn), order(first, sameColumn));
    }
  });

  it("shows a node's details with its calls", async () => {
    await page.click('#nodes g.node[data-name="api-3"]');
    await page.waitForSelector('#details[data-type="node"]:not([hidden])');
    assert.equal(await page.textContent('#details-title'), 'api-3');
    assert.equal(await page.textContent('#details-sub'), 'Deployment in shop-3');
    assert.equal(await page.locator('#details-extra a[data-edge]').count(), 4, '3 calls + 1 caller');
    assert.equal(
      await page.getAttribute('#details-body [data-field="bytesReceived"]', 'data-value'),
      String(7000 * 5 + 5 * 5 * (3000 + 2000 + 20_000)),
    );
    await page.click(
      '#details-extra a[data-edge="Deployment/shop-3/api-3->StatefulSet/shop-3/postgres-3:5432"]',
    );
    await page.waitForSelector('#details[data-type="edge"]:not([hidden])');
    assert.equal(
      await page.getAttribute('#details-body [data-field="bytesClientToServer"]', 'data-value'),
      String(20_000 * 5),
    );
    await page.keyboard.press('Escape');
    await page.waitForSelector('#details[hidden]', { state: 'attached' });
  });

  it('says when the caps truncate the graph', async () => {
    const { value } = validateConfig(
      new Document({ endpoint: '127.0.0.1:0', summary: 'never', max_edges: 50 }).contents,
      servicemapExporterFactory.configSchema,
      { path: 'exporters::servicemap' },
    );
    const capped = servicemapExporterFactory.create(
      testSettings('servicemap/capped'),
      value as never,
    ) as ServiceMapExporter;
    await capped.start(testHost());
    try {
      await capped.consume(batch(T0 + 2000, 1));
      await page.goto(capped.url as string);
      await waitForTime(page, T0 + 2000);
      assert.equal(await page.locator('#edges g.edge').count(), 50);
      assert.equal(await page.isVisible('#truncated'), true);
      assert.match(
        (await page.textContent('#truncated')) ?? '',
        /truncated: 198 edges match, the busiest are shown/,
      );
    } finally {
      await capped.shutdown();
    }
  });
});
