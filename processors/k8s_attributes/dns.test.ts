import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PtrServer } from '../../test/support/ptr-dns.ts';
import { startPtrServer } from '../../test/support/ptr-dns.ts';
import { ReverseDns, reverseName } from './dns.ts';

describe('reverseName', () => {
  it('builds in-addr.arpa and ip6.arpa names', () => {
    assert.equal(reverseName('192.0.2.7'), '7.2.0.192.in-addr.arpa');
    assert.equal(reverseName('not an ip'), undefined);
    assert.equal(
      reverseName('2001:db8::1'),
      '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
    );
  });
});

describe('ReverseDns against a real DNS server on 127.0.0.1', () => {
  let server: PtrServer;
  before(async () => {
    server = await startPtrServer({
      '192.0.2.7': 'db.example.test.',
      '2001:db8::1': 'v6.example.test',
      '192.0.2.8': 'UPPER.Example.TEST',
    });
  });
  after(async () => {
    await server.close();
  });

  function dns(over: Partial<ConstructorParameters<typeof ReverseDns>[0]> = {}): ReverseDns {
    return new ReverseDns({
      ttlMs: 60_000,
      maxEntries: 100,
      timeoutMs: 500,
      maxQueue: 100,
      servers: [server.address],
      ...over,
    });
  }

  it('answers from the cache at once: the IP first, the name once resolved', async () => {
    const d = dns();
    assert.deepEqual(d.lookup('192.0.2.7'), { name: undefined, pending: true });
    assert.equal(d.stats().inFlight + d.stats().queueDepth, 1);
    assert.equal(d.version, 0, 'asking changes no answer');
    await d.idle();
    assert.equal(d.version, 1, 'an answer came in');
    assert.deepEqual(d.lookup('192.0.2.7'), { name: 'db.example.test', pending: false });
    assert.equal(d.version, 1, 'a cached answer read');
    assert.deepEqual(d.lookup('192.0.2.8'), { name: undefined, pending: true });
    d.lookup('2001:db8::1');
    await d.idle();
    assert.equal(d.lookup('192.0.2.8').name, 'upper.example.test');
    assert.equal(d.lookup('2001:db8::1').name, 'v6.example.test');
    assert.equal(d.stats().resolved, 3);
    d.close();
  });

  it('caches "no such name" for the TTL and asks again after it', async () => {
    let now = 1000;
    const d = dns({ ttlMs: 5000, now: () => now });
    d.lookup('192.0.2.99');
    await d.idle();
    assert.deepEqual(d.lookup('192.0.2.99'), { name: undefined, pending: false });
    assert.equal(server.queryCount('192.0.2.99'), 1);
    now += 6000;
    server.set('192.0.2.99', 'late.example.test');
    assert.deepEqual(d.lookup('192.0.2.99'), { name: undefined, pending: true });
    await d.idle();
    assert.equal(d.lookup('192.0.2.99').name, 'late.example.test');
    assert.equal(server.queryCount('192.0.2.99'), 2);
    assert.equal(d.stats().notFound, 1);
    d.close();
  });

  it('serves a stale name while refreshing it', async () => {
    let now = 1000;
    const d = dns({ ttlMs: 5000, now: () => now });
    d.lookup('192.0.2.7');
    await d.idle();
    now += 6000;
    assert.deepEqual(d.lookup('192.0.2.7'), { name: 'db.example.test', pending: false });
    await d.idle();
    assert.equal(d.stats().queries, 2);
    d.close();
  });

  it('times out a silent server without blocking, counts the error, keeps the IP', async () => {
    server.silence('192.0.2.66');
    const d = dns({ timeoutMs: 200 });
    const started = performance.now();
    assert.deepEqual(d.lookup('192.0.2.66'), { name: undefined, pending: true });
    assert.ok(performance.now() - started < 50, 'lookup returns at once');
    await d.idle();
    assert.equal(d.stats().errors, 1);
    assert.deepEqual(d.lookup('192.0.2.66'), { name: undefined, pending: false });
    d.close();
  });

  it('bounds the queue and the cache, and counts what it drops', async () => {
    const d = dns({ maxQueue: 3, concurrency: 1, maxEntries: 2 });
    for (let i = 1; i <= 10; i++) d.lookup(`198.51.100.${i}`);
    const s = d.stats();
    assert.equal(s.inFlight, 1);
    assert.equal(s.queueDepth, 3);
    assert.equal(s.dropped, 6);
    await d.idle();
    assert.equal(d.stats().queries, 4);
    assert.equal(d.stats().cacheSize, 2);
    d.close();
  });

  it('sends queued queries no faster than max queries per second, and loses none (fake clock)', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const addresses = Array.from({ length: 8 }, (_, i) => `198.51.100.${20 + i}`);
    for (const a of addresses) server.set(a, `rate-${a.split('.')[3]}.example.test`);
    const d = dns({ maxQueriesPerSecond: 10, concurrency: addresses.length, now: () => now });
    for (const a of addresses) assert.deepEqual(d.lookup(a), { name: undefined, pending: true });
    assert.equal(d.stats().queries, 1, 'one query at once, the others wait for a token');
    assert.equal(d.stats().queueDepth, 7);
    for (let sent = 2; sent <= addresses.length; sent++) {
      now += 99;
      t.mock.timers.tick(99);
      assert.equal(d.stats().queries, sent - 1, `query ${sent} waits its 100 ms`);
      now += 1;
      t.mock.timers.tick(1);
      assert.equal(d.stats().queries, sent, `query ${sent} goes out at ${now} ms`);
    }
    assert.equal(d.stats().queueDepth, 0);
    await d.idle();
    const s = d.stats();
    assert.equal(s.dropped, 0);
    assert.equal(s.resolved, addresses.length);
    for (const a of addresses) {
      assert.equal(server.queryCount(a), 1);
      assert.equal(d.lookup(a).name, `rate-${a.split('.')[3]}.example.test`);
    }
    d.close();
  });

  it('spaces queries by the rate cap on the real clock', async () => {
    const addresses = Array.from({ length: 6 }, (_, i) => `198.51.100.${40 + i}`);
    const d = dns({ maxQueriesPerSecond: 20 });
    const started = Date.now();
    for (const a of addresses) d.lookup(a);
    await d.idle();
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 5 * 50 - 2, `6 queries at 20/s take at least 250 ms, took ${elapsed} ms`);
    assert.equal(d.stats().queries, 6);
    assert.equal(d.stats().notFound, 6);
    d.close();
  });

  it('sends no waiting query after close', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const d = dns({ maxQueriesPerSecond: 1, now: () => now });
    d.lookup('198.51.100.50');
    d.lookup('198.51.100.51');
    assert.equal(d.stats().queueDepth, 1);
    d.close();
    now += 2000;
    t.mock.timers.tick(2000);
    await d.idle();
    assert.equal(d.stats().queries, 1, 'the waiting address is not sent');
    assert.equal(server.queryCount('198.51.100.51'), 0);
  });

  it('asks once for an address looked up many times while pending', async () => {
    const d = dns();
    for (let i = 0; i < 50; i++) d.lookup('203.0.113.5');
    await d.idle();
    assert.equal(server.queryCount('203.0.113.5'), 1);
    d.close();
  });

  it('close cancels queries in flight and is safe twice', async () => {
    server.silence('192.0.2.67');
    const d = dns({ timeoutMs: 5000 });
    d.lookup('192.0.2.67');
    d.close();
    d.close();
    await d.idle();
    assert.deepEqual(d.lookup('192.0.2.68'), { name: undefined, pending: false });
  });

  it('rejects invalid options, naming the field', () => {
    assert.throws(() => dns({ maxQueue: 0 }), /dns maxQueue must be greater than 0, got 0/);
    assert.throws(
      () => dns({ maxQueriesPerSecond: 0 }),
      /dns maxQueriesPerSecond must be greater than 0, got 0/,
    );
    assert.throws(() => dns({ servers: ['1.2.3'] }), /dns servers \["1.2.3"\]: .*1\.2\.3/);
  });
});
