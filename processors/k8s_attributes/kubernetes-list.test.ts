/**
 * The informers' paged lists read as streams, through the real client-node
 * fetch, against a bare HTTP server that sends list answers byte by byte,
 * cut off, stalled or broken (what the API emulator does not do): items are
 * applied as they arrive, and every broken answer is a failed list, retried.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { testSettings } from '../../test/support/settings.ts';
import { until } from '../../test/support/wait.ts';
import type { KubernetesMetadata } from './kubernetes.ts';
import { createKubernetesMetadata } from './kubernetes.ts';

/** How the server answers the n-th list of pods (0-based); other lists are empty, watches stay open and silent. */
type PodList = (n: number, res: ServerResponse) => Promise<void>;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function pod(i: number): Record<string, unknown> {
  return {
    metadata: {
      name: `web-${i}`,
      namespace: 'shop',
      uid: `uid-${i}`,
      creationTimestamp: '2026-11-01T10:00:00Z',
      resourceVersion: String(10 + i),
      labels: { note: 'ünïcødé ✓ {"[\\' },
    },
    spec: { nodeName: 'node-a', containers: [{ name: 'c', args: ['--a', '[', ']', '{'] }] },
    status: { phase: 'Running', podIP: `10.9.0.${i}`, podIPs: [{ ip: `10.9.0.${i}` }] },
  };
}

function podList(pods: number[]): string {
  return JSON.stringify({
    kind: 'PodList',
    apiVersion: 'v1',
    metadata: { resourceVersion: '100' },
    items: pods.map(pod),
  });
}

const tick = () => new Promise((r) => setImmediate(r));

/** Writes `text` a few bytes at a time, yielding between writes. */
async function trickle(res: ServerResponse, text: string, step = 7): Promise<void> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += step) {
    res.write(bytes.subarray(i, i + step));
    await tick();
  }
}

async function server(pods: PodList): Promise<{ kubeconfig: string; podLists: () => number }> {
  let lists = 0;
  const open = new Set<ServerResponse>();
  const srv: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      open.add(res);
      return;
    }
    if (url.pathname !== '/api/v1/pods') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ metadata: { resourceVersion: '100' }, items: [] }));
      return;
    }
    open.add(res);
    pods(lists++, res).catch((e: unknown) => res.destroy(e as Error));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'lh-k8s-list-'));
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  const { port } = srv.address() as AddressInfo;
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]`,
      'users: [{ name: u, user: { token: t } }]',
      'contexts: [{ name: x, context: { cluster: c, user: u } }]',
      'current-context: x',
    ].join('\n'),
  );
  cleanups.push(async () => {
    for (const res of open) res.destroy();
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  return { kubeconfig, podLists: () => lists };
}

function start(kubeconfig: string, listTimeoutMs = 60_000): KubernetesMetadata {
  const settings = testSettings('k8s_attributes');
  const md = createKubernetesMetadata({
    kubeconfig,
    ownerDepth: 'pod',
    logger: settings.logger,
    telemetry: settings.telemetry,
    retry: { initialDelayMs: 20, maxDelayMs: 40 },
    listTimeoutMs,
  });
  cleanups.push(() => md.stop());
  return md;
}

const podName = (md: KubernetesMetadata, ip: string): string | undefined => {
  const owner = md.lookupIp(ip, Date.now());
  return owner?.kind === 'pod' ? owner.pod.name : undefined;
};

describe('list pages read as streams', () => {
  it('applies each item as soon as it has arrived, before the page has ended', async () => {
    let release: (() => void) | undefined;
    const text = podList([1, 2, 3]);
    const afterFirst = text.indexOf('},{"metadata"') + 2;
    const { kubeconfig } = await server(async (_n, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      await trickle(res, text.slice(0, afterFirst));
      await new Promise<void>((r) => (release = r));
      await trickle(res, text.slice(afterFirst));
      res.end();
    });
    const md = start(kubeconfig);
    await md.start();
    await until(() => podName(md, '10.9.0.1') === 'web-1', 'the first pod');
    assert.equal(podName(md, '10.9.0.2'), undefined, 'the second pod has not arrived');
    assert.equal(md.synced(), false);
    release?.();
    await until(() => md.synced(), 'sync');
    assert.deepEqual(
      ['10.9.0.1', '10.9.0.2', '10.9.0.3'].map((ip) => podName(md, ip)),
      ['web-1', 'web-2', 'web-3'],
    );
    assert.equal(md.watchStates().find((s) => s.resource === 'pods')?.errors, 0);
  });

  it('a page cut off, stalled past listTimeoutMs, broken or answered with a Status fails the list, which is retried', async () => {
    const text = podList([1, 2]);
    const answers: PodList[] = [
      // Cut off inside the second item: the connection closes mid-body.
      async (_n, res) => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(text)),
        });
        await trickle(res, text.slice(0, text.indexOf('web-2')));
        res.destroy();
      },
      // Stalls after half the page, past the list timeout.
      async (_n, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        await trickle(res, text.slice(0, text.length >> 1));
      },
      // Complete, but not JSON in the middle of an item.
      async (_n, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        await trickle(res, text.replace('"phase":"Running"', '"phase":Running'));
        res.end();
      },
      // A list whose items member is missing.
      async (_n, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"kind":"PodList","metadata":{"resourceVersion":"100"}}');
      },
      async (_n, res) => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', status: 'Failure', message: 'etcd is busy', code: 503 }));
      },
      async (_n, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        await trickle(res, text, 3);
        res.end();
      },
    ];
    const { kubeconfig, podLists } = await server((n, res) => {
      const answer = answers[n];
      assert.ok(answer !== undefined, `list ${n} of pods: only ${answers.length} expected`);
      return answer(n, res);
    });
    const md = start(kubeconfig, 500);
    await md.start();
    await until(() => md.synced(), 'sync', 15_000);
    assert.equal(podLists(), answers.length);
    assert.equal(md.watchStates().find((s) => s.resource === 'pods')?.errors, answers.length - 1);
    assert.deepEqual(
      ['10.9.0.1', '10.9.0.2'].map((ip) => podName(md, ip)),
      ['web-1', 'web-2'],
    );
  });
});
