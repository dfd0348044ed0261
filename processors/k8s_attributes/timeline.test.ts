import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IpTimeline, ipv4Key, MAX_CLAIMS_PER_IP } from './timeline.ts';

const limits = { maxTombstones: 100, tombstoneTtlMs: 60_000 };
const A = { id: 'A' };
const B = { id: 'B' };
const C = { id: 'C' };

describe('ipv4Key', () => {
  const cases: Array<[string, number | undefined]> = [
    ['0.0.0.0', 0],
    ['10.0.0.1', 0x0a000001],
    ['127.0.0.1', 0x7f000001],
    ['255.255.255.255', -1],
    ['192.168.1.20', (192 << 24) | (168 << 16) | (1 << 8) | 20],
    ['10.0.0.01', undefined],
    ['10.0.0.256', undefined],
    ['10.0.0', undefined],
    ['10.0.0.1.', undefined],
    ['.10.0.0.1', undefined],
    ['10..0.1', undefined],
    ['1.2.3.4.5', undefined],
    ['fd00::1', undefined],
    ['10.0.0.1 ', undefined],
    ['1000.0.0.1', undefined],
  ];
  for (const [ip, key] of cases)
    it(`${JSON.stringify(ip)} -> ${String(key)}`, () => assert.equal(ipv4Key(ip), key));
  it('is one-to-one over dotted quads', () => {
    const seen = new Set<number>();
    for (const ip of ['1.2.3.4', '4.3.2.1', '1.2.34.0', '12.3.4.0', '128.0.0.0', '0.0.0.128']) {
      const k = ipv4Key(ip) as number;
      assert.ok(!seen.has(k), ip);
      seen.add(k);
    }
  });
});

describe('IpTimeline', () => {
  it('IPv4 and IPv6 addresses live side by side', () => {
    const t = new IpTimeline<string>(limits);
    t.claim('10.0.0.1', 'v4', A, 0, 0);
    t.claim('fd00::1', 'v6', B, 0, 0);
    assert.deepEqual([t.lookup('10.0.0.1', 1), t.lookup('fd00::1', 1), t.live], ['v4', 'v6', 2]);
    t.release('fd00::1', B, 5);
    t.prune(1e9);
    assert.deepEqual([t.lookup('fd00::1', 1), t.tombstones], [undefined, 0]);
  });

  it('a live claim answers from its start on, not before', () => {
    const t = new IpTimeline<string>(limits);
    t.claim('10.0.0.1', 'A', A, 1000, 5000);
    assert.equal(t.lookup('10.0.0.1', 999), undefined);
    assert.equal(t.lookup('10.0.0.1', 1000), 'A');
    assert.equal(t.lookup('10.0.0.1', 1e12), 'A');
    assert.equal(t.lookup('10.0.0.2', 1000), undefined);
    assert.equal(t.live, 1);
  });

  it('a released claim answers only for times before its end', () => {
    const t = new IpTimeline<string>(limits);
    t.claim('ip', 'A', A, 1000, 1000);
    t.release('ip', A, 2000);
    assert.equal(t.lookup('ip', 1999), 'A');
    assert.equal(t.lookup('ip', 2000), undefined);
    assert.equal(t.current('ip'), undefined);
    assert.deepEqual([t.live, t.tombstones], [0, 1]);
  });

  it('reuse: the new owner starts where the old one ended, even if it was created earlier', () => {
    const t = new IpTimeline<string>(limits);
    t.claim('ip', 'A', A, 1000, 1000);
    t.release('ip', A, 3000);
    t.claim('ip', 'B', B, 2500, 3100); // B was created while A still held the address
    assert.equal(t.lookup('ip', 2600), 'A');
    assert.equal(t.lookup('ip', 2999), 'A');
    assert.equal(t.lookup('ip', 3000), 'B');
    assert.equal(t.current('ip'), 'B');
  });

  it('reuse after a gap: nobody owns the gap', () => {
    const t = new IpTimeline<string>(limits);
    t.claim('ip', 'A', A, 1000, 1000);
    t.release('ip', A, 2000);
    t.claim('ip', 'B', B, 5000, 5000);
    assert.equal(t.lookup('ip', 1500), 'A');
    assert.equal(t.lookup('ip', 3000), undefined);
    assert.equal(t.lookup('ip', 5000), 'B');
  });

  it('a takeover (the old owner not yet released) ends the old claim now', () => {
    const t = new IpTimeline<string>(limits);
    t.claim('ip', 'A', A, 1000, 1000);
    t.claim('ip', 'B', B, 1500, 4000);
    assert.equal(t.lookup('ip', 3999), 'A');
    assert.equal(t.lookup('ip', 4000), 'B');
    t.release('ip', A, 5000); // late release of A changes nothing
    assert.equal(t.lookup('ip', 4500), 'B');
    assert.equal(t.current('ip'), 'B');
  });

  it('claiming again as the same live holder only updates the owner value', () => {
    const t = new IpTimeline<string>(limits);
    t.claim('ip', 'A1', A, 1000, 1000);
    t.claim('ip', 'A2', A, 9000, 9000);
    assert.equal(t.lookup('ip', 1000), 'A2');
    assert.deepEqual([t.live, t.tombstones], [1, 0]);
  });

  it('tombstones expire by age', () => {
    const t = new IpTimeline<string>(limits);
    t.claim('ip', 'A', A, 0, 0);
    t.release('ip', A, 1000);
    t.prune(1000 + limits.tombstoneTtlMs);
    assert.equal(t.lookup('ip', 500), 'A');
    t.prune(1001 + limits.tombstoneTtlMs);
    assert.equal(t.lookup('ip', 500), undefined);
    assert.equal(t.tombstones, 0);
  });

  it('tombstones are bounded in count, oldest dropped first; live claims are never dropped', () => {
    const t = new IpTimeline<string>({ maxTombstones: 2, tombstoneTtlMs: 1e9 });
    for (let i = 0; i < 5; i++) {
      const holder = { i };
      t.claim(`ip${i}`, `P${i}`, holder, i * 10, i * 10);
      t.release(`ip${i}`, holder, i * 10 + 5);
    }
    t.claim('ip-live', 'L', C, 0, 0);
    t.prune(100);
    assert.equal(t.tombstones, 2);
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((i) => t.lookup(`ip${i}`, i * 10)),
      [undefined, undefined, undefined, 'P3', 'P4'],
    );
    assert.equal(t.lookup('ip-live', 50), 'L');
  });

  it(`keeps at most ${MAX_CLAIMS_PER_IP} claims per address`, () => {
    const t = new IpTimeline<number>({ maxTombstones: 1000, tombstoneTtlMs: 1e9 });
    for (let i = 0; i < 20; i++) {
      const holder = { i };
      t.claim('ip', i, holder, i * 100, i * 100);
      t.release('ip', holder, i * 100 + 50);
    }
    assert.equal(t.tombstones, MAX_CLAIMS_PER_IP);
    assert.equal(t.lookup('ip', 1810), 18);
    assert.equal(t.lookup('ip', (20 - MAX_CLAIMS_PER_IP) * 100), 20 - MAX_CLAIMS_PER_IP);
    assert.equal(t.lookup('ip', (19 - MAX_CLAIMS_PER_IP) * 100), undefined);
    t.prune(1e6);
    assert.equal(t.tombstones, MAX_CLAIMS_PER_IP);
  });
});

describe('IpTimeline with owners that know their start (stored without a claim object)', () => {
  interface Owner {
    id: string;
    since: number;
  }
  const owner = (id: string, since: number): Owner => ({ id, since });
  const timeline = (l = limits) => new IpTimeline<Owner>(l, (o) => o.since);
  const at = (t: IpTimeline<Owner>, ip: string, timeMs: number) => t.lookup(ip, timeMs)?.id;

  it('an owner that is its own holder answers from its start on, IPv4 and IPv6', () => {
    const t = timeline();
    const a = owner('A', 1000);
    const b = owner('B', 1000);
    t.claim('10.0.0.1', a, a, 1000, 5000);
    t.claim('fd00::1', b, b, 1000, 5000);
    t.claim('10.0.0.1', a, a, 1000, 6000); // again: nothing changes
    assert.deepEqual(
      [at(t, '10.0.0.1', 999), at(t, '10.0.0.1', 1000), at(t, 'fd00::1', 1e12), t.current('fd00::1')?.id],
      [undefined, 'A', 'B', 'B'],
    );
    assert.equal(t.lookup('10.0.0.1', Infinity), undefined);
    assert.deepEqual([t.live, t.tombstones], [2, 0]);
  });

  it('release, reuse, takeover and a gap behave as with claim objects', () => {
    const t = timeline();
    const a = owner('A', 1000);
    const b = owner('B', 2500);
    const c = owner('C', 4000);
    t.claim('ip', a, a, 1000, 1000);
    t.release('ip', a, 3000);
    assert.deepEqual([t.current('ip'), t.live, t.tombstones], [undefined, 0, 1]);
    t.claim('ip', b, b, 2500, 3100); // created while A still held the address
    t.claim('ip', c, c, 4000, 4000); // takes over before B is released
    t.release('ip', b, 4500); // late: changes nothing
    assert.deepEqual(
      [999, 1000, 2999, 3000, 3999, 4000, 9000].map((ms) => at(t, 'ip', ms)),
      [undefined, 'A', 'A', 'B', 'B', 'C', 'C'],
    );
    const d = owner('D', 9000);
    t.claim('other', d, d, 9000, 9000);
    t.release('other', d, 9500);
    const e = owner('E', 12_000);
    t.claim('other', e, e, 12_000, 12_000);
    assert.deepEqual(
      [9000, 10_000, 12_000].map((ms) => at(t, 'other', ms)),
      ['D', undefined, 'E'],
    );
  });

  it('a claim from another time or by another holder is a claim object; tombstones still expire', () => {
    const t = timeline({ maxTombstones: 100, tombstoneTtlMs: 1000 });
    const late = owner('late', 1000);
    t.claim('ip', late, late, 2000, 2000); // from 2000, not from its own start
    assert.deepEqual([at(t, 'ip', 1500), at(t, 'ip', 2000)], [undefined, 'late']);
    const x = owner('X', 0);
    const holder = {};
    t.claim('ip2', x, holder, 0, 0);
    t.release('ip2', x, 100); // not its holder: still live
    assert.equal(at(t, 'ip2', 200), 'X');
    t.release('ip2', holder, 100);
    assert.equal(at(t, 'ip2', 200), undefined);
    const y = owner('Y', 0);
    t.claim('ip3', y, y, 0, 0);
    t.release('ip3', y, 500);
    t.prune(1500);
    assert.equal(at(t, 'ip3', 100), 'Y');
    t.prune(1501);
    assert.deepEqual([at(t, 'ip3', 100), t.tombstones, t.live], [undefined, 0, 1]);
  });
});
