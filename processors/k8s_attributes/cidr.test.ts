import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CidrTable, isLoopback, isUnspecified, parseIp } from './cidr.ts';

describe('parseIp', () => {
  const cases: Array<[string, 4 | 6 | undefined, string?]> = [
    ['10.1.2.3', 4, '10.1.2.3'],
    ['0.0.0.0', 4, '0.0.0.0'],
    ['255.255.255.255', 4, '255.255.255.255'],
    ['::ffff:10.1.2.3', 4, '10.1.2.3'],
    ['::FFFF:0a01:0203', 4, '10.1.2.3'],
    ['2001:DB8:0:0:0:0:0:1', 6, '2001:db8::1'],
    ['2001:db8::1', 6, '2001:db8::1'],
    ['fe80::1%eth0', 6, 'fe80::1'],
    ['fe80::1%', 6, 'fe80::1'],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
    ['1::', 6, '1::'],
    ['2001:db8:0:1:0:0:1:1', 6, '2001:db8:0:1::1:1'],
    ['2001:0:0:1:0:0:0:1', 6, '2001:0:0:1::1'],
    ['64:ff9b::192.0.2.1', 6, '64:ff9b::c000:201'],
    ['256.1.1.1', undefined],
    ['01.1.1.1', undefined],
    ['1.1.1', undefined],
    ['1.1.1.1.1', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1::2::3', undefined],
    [':::', undefined],
    ['12345::', undefined],
    ['', undefined],
    ['a'.repeat(1000), undefined],
    ['10.0.0.1\n', undefined],
    ['１０.0.0.1', undefined],
    ['::ffff:999.1.1.1', undefined],
    ['<script>', undefined],
  ];
  for (const [input, family, text] of cases) {
    it(`${JSON.stringify(input.slice(0, 40))} -> ${family === undefined ? 'invalid' : text}`, () => {
      const ip = parseIp(input);
      if (family === undefined) {
        assert.equal(ip, undefined);
        return;
      }
      assert.ok(ip);
      assert.equal(ip.family, family);
      assert.equal(ip.text, text);
      assert.equal(ip.bytes.length, family === 4 ? 4 : 16);
    });
  }

  it('classifies loopback and unspecified addresses', () => {
    const check = (s: string): [boolean, boolean] => {
      const ip = parseIp(s);
      assert.ok(ip, s);
      return [isLoopback(ip), isUnspecified(ip)];
    };
    assert.deepEqual(check('127.0.0.1'), [true, false]);
    assert.deepEqual(check('127.255.0.9'), [true, false]);
    assert.deepEqual(check('::1'), [true, false]);
    assert.deepEqual(check('::ffff:127.0.0.1'), [true, false]);
    assert.deepEqual(check('0.0.0.0'), [false, true]);
    assert.deepEqual(check('::'), [false, true]);
    assert.deepEqual(check('10.0.0.1'), [false, false]);
    assert.deepEqual(check('::2'), [false, false]);
  });
});

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
