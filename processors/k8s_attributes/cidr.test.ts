import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIp } from '../../core/ip.ts';
import { CidrTable } from './cidr.ts';

describe('CidrTable', () => {
  const table = new CidrTable({
    '10.0.0.0/8': 'corp',
    '10.9.0.0/16': 'lab',
    '10.9.8.7': 'printer',
    '0.0.0.0/0': 'internet-v4',
    '2001:db8::/32': 'doc-v6',
    '2001:db8:abcd::/48': 'doc-v6-site',
    '192.168.1.77/20': 'home',
  });
  const cases: Array<[string, string | undefined]> = [
    ['10.1.1.1', 'corp'],
    ['10.9.1.1', 'lab'],
    ['10.9.8.7', 'printer'],
    ['10.9.8.8', 'lab'],
    ['::ffff:10.9.8.7', 'printer'],
    ['8.8.8.8', 'internet-v4'],
    ['192.168.15.1', 'home'],
    ['192.168.16.1', 'internet-v4'],
    ['2001:db8:abcd:1::5', 'doc-v6-site'],
    ['2001:db8:1::5', 'doc-v6'],
    ['2001:db9::1', undefined],
  ];
  for (const [addr, name] of cases) {
    it(`${addr} -> ${String(name)} (longest prefix wins)`, () => {
      const ip = parseIp(addr);
      assert.ok(ip);
      assert.equal(table.lookup(ip), name);
    });
  }

  it('rejects bad keys, naming them', () => {
    assert.throws(
      () => new CidrTable({ '10.0.0.0/33': 'x' }),
      /"10.0.0.0\/33" has prefix length 33, expected 0..32/,
    );
    assert.throws(() => new CidrTable({ 'corp/8': 'x' }), /"corp\/8" is not an IP prefix/);
    assert.throws(() => new CidrTable({ '10.0.0.0/-1': 'x' }), /prefix length -1/);
    assert.throws(() => new CidrTable({ '10.0.0.0/8': '' }), /has an empty name/);
    assert.throws(
      () => new CidrTable({ '10.0.0.0/8': 'a', '10.1.0.0/8': 'b' }),
      /"10.1.0.0\/8" and "10.0.0.0\/8" are the same prefix/,
    );
  });
});
