/** Wire-level checks of the API emulator, plain HTTP and HTTPS (the client-node tests are in processors/k8s_attributes). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { collectionPath, KubeApiEmulator, RESOURCE_NAMES } from './k8s-emulator.ts';
import { makeTestPki } from './tls.ts';
import type { TestPki } from './tls.ts';
import { until } from './wait.ts';

let emu: KubeApiEmulator;
const auth = (): Record<string, string> => ({ Authorization: `Bearer ${emu.token}` });

async function get(
  path: string,
): Promise<{ status: number; type: string | null; body: Record<string, unknown> }> {
  const res = await fetch(emu.url + path, { headers: auth() });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

interface WatchStream {
  status: number;
  /** Events received so far. */
  events: Array<{ type: string; object: Record<string, unknown> }>;
  ended: Promise<void>;
  next(count: number): Promise<void>;
  close(): void;
}

/** Opens a watch and resolves as soon as the response headers arrive. */
function watch(path: string): Promise<WatchStream> {
  return new Promise((resolve, reject) => {
    const req = request(emu.url + path, { headers: auth() }, (res) => {
      const events: WatchStream['events'] = [];
      const waiters: Array<() => void> = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buffer.slice(0, nl)) as WatchStream['events'][number]);
          buffer = buffer.slice(nl + 1);
        }
        for (const w of waiters.splice(0)) w();
      });
      const ended = new Promise<void>((r) => res.on('close', () => r()));
      resolve({
        status: res.statusCode ?? 0,
        events,
        ended,
        next: async (count) => {
          while (events.length < count) await new Promise<void>((r) => waiters.push(r));
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function pod(name: string, namespace = 'shop'): Record<string, unknown> {
  return { metadata: { name, namespace }, spec: { nodeName: 'n1' }, status: { podIP: '10.212.9.1' } };
}

before(async () => {
  emu = await KubeApiEmulator.start();
});
after(async () => {
  await emu.stop();
});

describe('KubeApiEmulator', () => {
  it('serves every resource as a typed JSON list with a resourceVersion', async () => {
    for (const r of RESOURCE_NAMES) {
      const res = await get(collectionPath(r));
      assert.equal(res.status, 200, r);
      assert.equal(res.type, 'application/json');
      assert.match(String(res.body.kind), /List$/);
      assert.match(String((res.body.metadata as Record<string, unknown>).resourceVersion), /^\d+$/);
      assert.deepEqual(res.body.items, []);
    }
  });

  it('refuses requests without the bearer token', async () => {
    const res = await fetch(emu.url + '/api/v1/pods');
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { reason: string }).reason, 'Unauthorized');
  });

  it('lists cluster-wide and per namespace, sorted, items without kind; single GET; 404s', async () => {
    emu.create('pods', pod('b'));
    emu.create('pods', pod('a'));
    emu.create('pods', pod('c', 'other'));
    const all = await get('/api/v1/pods');
    const names = (all.body.items as Array<{ metadata: { name: string }; kind?: string }>).map(
      (i) => i.metadata.name,
    );
    assert.deepEqual(names, ['c', 'a', 'b'], 'sorted by namespace/name: other/c, shop/a, shop/b');
    assert.equal((all.body.items as Array<{ kind?: string }>)[0]?.kind, undefined);
    const shop = await get('/api/v1/namespaces/shop/pods');
    assert.equal((shop.body.items as unknown[]).length, 2);
    const one = await get('/api/v1/namespaces/shop/pods/a');
    assert.equal(one.body.kind, 'Pod');
    assert.equal((await get('/api/v1/namespaces/shop/pods/zzz')).status, 404);
    assert.equal((await get('/api/v1/namespaces/shop/nodes')).status, 404);
    assert.equal((await get('/apis/apps/v1/pods')).status, 404);
  });

  it('pages with limit/continue over a consistent snapshot', async () => {
    for (let i = 0; i < 5; i++) emu.create('jobs', { metadata: { name: `j${i}`, namespace: 'batch' } });
    const first = await get('/apis/batch/v1/jobs?limit=2');
    const meta = first.body.metadata as {
      continue: string;
      remainingItemCount: number;
      resourceVersion: string;
    };
    assert.equal((first.body.items as unknown[]).length, 2);
    assert.equal(meta.remainingItemCount, 3);
    emu.create('jobs', { metadata: { name: 'j-late', namespace: 'batch' } });
    const names: string[] = [];
    let token: string | undefined = meta.continue;
    while (token !== undefined) {
      const page = await get(`/apis/batch/v1/jobs?limit=2&continue=${token}`);
      const m = page.body.metadata as { continue?: string; resourceVersion: string };
      assert.equal(m.resourceVersion, meta.resourceVersion, 'every page is from the first snapshot');
      names.push(...(page.body.items as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name));
      token = m.continue;
    }
    assert.deepEqual(names, ['j2', 'j3', 'j4']);
    emu.compact();
    const expired = await get(`/apis/batch/v1/jobs?limit=2&continue=${meta.continue}`);
    assert.equal(expired.status, 410);
  });

  it('watch: headers at once, replay after N, live events, one JSON object per line', async () => {
    const rv = emu.resourceVersion;
    emu.create('services', { metadata: { name: 's1', namespace: 'shop' } });
    const w = await watch(`/api/v1/services?watch=true&resourceVersion=${rv}`);
    assert.equal(w.status, 200);
    await w.next(1);
    assert.equal(w.events[0]?.type, 'ADDED');
    emu.modify(
      'services',
      'shop',
      's1',
      (o) => ((o.metadata as Record<string, unknown>).labels = { a: 'b' }),
    );
    emu.delete('services', 'shop', 's1');
    await w.next(3);
    assert.deepEqual(
      w.events.map((e) => e.type),
      ['ADDED', 'MODIFIED', 'DELETED'],
    );
    const rvs = w.events.map((e) =>
      Number((e.object.metadata as { resourceVersion: string }).resourceVersion),
    );
    assert.ok(rvs[0]! < rvs[1]! && rvs[1]! < rvs[2]!, `increasing resourceVersions ${rvs.join(',')}`);
    w.close();
  });

  it('watch from resourceVersion 0 starts with the current objects', async () => {
    const w = await watch('/api/v1/namespaces/shop/pods?watch=true&resourceVersion=0');
    await w.next(2);
    assert.deepEqual(
      w.events.map((e) => `${e.type} ${(e.object.metadata as { name: string }).name}`).sort(),
      ['ADDED a', 'ADDED b'],
    );
    w.close();
  });

  it('bookmarks go to watches that asked for them, or to all when forced', async () => {
    const asked = await watch(
      `/api/v1/nodes?watch=true&resourceVersion=${emu.resourceVersion}&allowWatchBookmarks=true`,
    );
    const plain = await watch(`/api/v1/nodes?watch=true&resourceVersion=${emu.resourceVersion}`);
    assert.equal(emu.bookmark('nodes'), 1);
    await asked.next(1);
    assert.equal(asked.events[0]?.type, 'BOOKMARK');
    assert.equal(
      (asked.events[0]?.object.metadata as { resourceVersion: string }).resourceVersion,
      String(emu.resourceVersion),
    );
    assert.equal(emu.bookmark('nodes', { force: true }), 2);
    await plain.next(1);
    assert.equal(plain.events[0]?.type, 'BOOKMARK');
    asked.close();
    plain.close();
  });

  it('410 for a compacted resourceVersion, in-stream or as a status', async () => {
    const old = emu.resourceVersion;
    emu.create('nodes', { metadata: { name: 'n-410' } });
    emu.compact();
    const inStream = await watch(`/api/v1/nodes?watch=true&resourceVersion=${old}`);
    await inStream.ended;
    assert.equal(inStream.status, 200);
    assert.equal(inStream.events[0]?.type, 'ERROR');
    assert.equal(inStream.events[0]?.object.code, 410);
    emu.expiredWatchForm = 'status';
    const asStatus = await get(`/api/v1/nodes?watch=true&resourceVersion=${old}`);
    assert.equal(asStatus.status, 410);
    assert.equal(asStatus.body.reason, 'Expired');
    emu.expiredWatchForm = 'event';
  });

  it('expireWatches sends ERROR 410 in-stream and ends the stream; closeWatches just ends it', async () => {
    const w1 = await watch(`/api/v1/pods?watch=true&resourceVersion=${emu.resourceVersion}`);
    assert.equal(emu.expireWatches('pods'), 1);
    await w1.ended;
    assert.equal(w1.events[0]?.object.reason, 'Expired');
    const w2 = await watch(`/api/v1/pods?watch=true&resourceVersion=${emu.resourceVersion}`);
    assert.equal(emu.closeWatches('pods'), 1);
    await w2.ended;
    assert.equal(w2.events.length, 0);
  });

  it('injected faults answer a Status with the chosen code, a given number of times', async () => {
    emu.fail({ resource: 'deployments', verb: 'list', status: 500, times: 2 });
    assert.equal((await get('/apis/apps/v1/deployments')).status, 500);
    assert.equal((await get('/api/v1/pods')).status, 200, 'other resources unaffected');
    const second = await get('/apis/apps/v1/deployments');
    assert.deepEqual([second.status, second.body.reason], [500, 'InternalError']);
    assert.equal((await get('/apis/apps/v1/deployments')).status, 200);
    assert.ok(emu.count('deployments', 'list') >= 3);
  });

  it('pause refuses connections; resume listens again on the same port', async () => {
    const port = emu.port;
    await emu.pause();
    const refused = await new Promise<string>((resolve) => {
      const req = request(`${emu.url}/version`, { agent: false, headers: auth() }, () => resolve('answered'));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.end();
    });
    assert.equal(refused, 'ECONNREFUSED');
    await emu.resume();
    assert.equal(emu.port, port);
    assert.equal((await get('/version')).status, 200);
  });

  it('writes a kubeconfig for http with insecure-skip-tls-verify and the token', () => {
    const text = emu.kubeconfig();
    assert.match(text, /insecure-skip-tls-verify: true/);
    assert.ok(text.includes(emu.url));
    assert.ok(text.includes(emu.token));
  });
});

describe('KubeApiEmulator over HTTPS', () => {
  let pki: TestPki;
  let tlsEmu: KubeApiEmulator;

  /** GET over TLS trusting `caFile`; the status and body, or the client's error code. */
  const httpsGet = (
    path: string,
    caFile: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown> } | { error: string }> =>
    new Promise((resolve) => {
      const req = httpsRequest(
        tlsEmu.url + path,
        { ca: readFileSync(caFile), headers, agent: false },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
          );
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
      req.end();
    });

  before(async () => {
    pki = makeTestPki();
    tlsEmu = await KubeApiEmulator.start({
      token: 'sa-token',
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caCert },
    });
  });
  after(async () => {
    await tlsEmu?.stop();
    pki?.remove();
  });

  it('serves the API over TLS to a client that trusts its CA, recording the bearer token', async () => {
    assert.match(tlsEmu.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    tlsEmu.create('nodes', { metadata: { name: 'n-tls' } });
    const res = await httpsGet('/api/v1/nodes', pki.caCert, { Authorization: 'Bearer sa-token' });
    assert.ok('status' in res, JSON.stringify(res));
    assert.equal(res.status, 200);
    assert.deepEqual(
      (res.body.items as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name),
      ['n-tls'],
    );
    const last = tlsEmu.requests.at(-1);
    assert.deepEqual([last?.path, last?.status, last?.token], ['/api/v1/nodes', 200, 'sa-token']);
  });

  it('answers 401 with a Status body, as an API server does, to no token or another one', async () => {
    const unauthorized = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    };
    assert.deepEqual(await httpsGet('/api/v1/pods', pki.caCert), { status: 401, body: unauthorized });
    assert.equal(tlsEmu.requests.at(-1)?.token, undefined);
    const wrong = await httpsGet('/api/v1/pods', pki.caCert, { Authorization: 'Bearer stolen' });
    assert.deepEqual(wrong, { status: 401, body: unauthorized });
    assert.deepEqual([tlsEmu.requests.at(-1)?.status, tlsEmu.requests.at(-1)?.token], [401, 'stolen']);
  });

  it('a client that does not trust its certificate fails the handshake: no request, the failure recorded', async () => {
    const before = tlsEmu.requests.length;
    const failures = tlsEmu.tlsErrors.length;
    const res = await httpsGet('/version', pki.otherCaCert, { Authorization: 'Bearer sa-token' });
    assert.deepEqual(res, { error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    assert.equal(tlsEmu.requests.length, before);
    await until(() => tlsEmu.tlsErrors.length === failures + 1, 'the failed handshake recorded');
  });

  it('pause and resume keep HTTPS on the same port', async () => {
    const port = tlsEmu.port;
    await tlsEmu.pause();
    assert.deepEqual(await httpsGet('/version', pki.caCert), { error: 'ECONNREFUSED' });
    await tlsEmu.resume();
    assert.equal(tlsEmu.port, port);
    const res = await httpsGet('/version', pki.caCert, { Authorization: 'Bearer sa-token' });
    assert.ok('status' in res && res.status === 200, JSON.stringify(res));
  });

  it('writes a kubeconfig naming the https server and its CA, without skipping verification', () => {
    const text = tlsEmu.kubeconfig();
    assert.ok(text.includes(`server: "${tlsEmu.url}"`), text);
    assert.ok(text.includes(`certificate-authority: ${JSON.stringify(pki.caCert)}`), text);
    assert.doesNotMatch(text, /insecure-skip-tls-verify/);
  });
});
