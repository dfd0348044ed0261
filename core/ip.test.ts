import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIp, isLoopback, isUnspecified, parseIp } from './ip.ts';

/** Eight 16-bit groups as the 16 bytes of an IPv6 address. */
function v6Bytes(groups: readonly number[]): Uint8Array {
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

describe('parseIp', () => {
  const cases: Array<[string, 4 | 6 | undefined, string?]> = [
    ['10.1.2.3', 4, '10.1.2.3'],
    ['0.0.0.0', 4, '0.0.0.0'],
    ['255.255.255.255', 4, '255.255.255.255'],
    ['::ffff:10.1.2.3', 4, '10.1.2.3'],
    ['::FFFF:1.2.3.4', 4, '1.2.3.4'],
    ['::FFFF:0a01:0203', 4, '10.1.2.3'],
    ['0:0:0:0:0:ffff:102:304', 4, '1.2.3.4'],
    ['::0:ffff:1.2.3.4', 4, '1.2.3.4'],
    ['::ffff:1.2.3.4%eth0', 4, '1.2.3.4'],
    ['2001:DB8:0:0:0:0:0:1', 6, '2001:db8::1'],
    ['2001:db8::1', 6, '2001:db8::1'],
    ['2001:0db8::0001', 6, '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', 6, '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', 6, '2001:db8:0:1:1:1:1:1'],
    ['2001:DB8::A', 6, '2001:db8::a'],
    ['fe80::1%eth0', 6, 'fe80::1'],
    ['fe80::', 6, 'fe80::'],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
    ['1::', 6, '1::'],
    ['1:2:3:4:5:6:7::', 6, '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', 6, '0:2:3:4:5:6:7:8'],
    ['1:0:0:2:0:0:0:3', 6, '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', 6, '1::2:0:0:3:4'],
    ['2001:db8:0:1:0:0:1:1', 6, '2001:db8:0:1::1:1'],
    ['2001:0:0:1:0:0:0:1', 6, '2001:0:0:1::1'],
    ['64:ff9b::192.0.2.1', 6, '64:ff9b::c000:201'],
    ['::1.2.3.4', 6, '::102:304'],
    ['1:2:3:4:5:6:1.2.3.4', 6, '1:2:3:4:5:6:102:304'],
    ['::1:ffff:1.2.3.4', 6, '::1:ffff:102:304'],
    ['256.1.1.1', undefined],
    ['01.1.1.1', undefined],
    ['1.2.3.04', undefined],
    ['1.1.1', undefined],
    ['1.1.1.1.1', undefined],
    [' 1.2.3.4', undefined],
    ['1.2.3.4:80', undefined],
    ['1:2:3:4:5:6:7:1.2.3.4', undefined],
    ['::ffff:1.2.3', undefined],
    ['::ffff:999.1.1.1', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1::2::3', undefined],
    [':::', undefined],
    [':1::', undefined],
    ['12345::', undefined],
    ['g::1', undefined],
    ['fe80::1%', undefined],
    ['fe80::1%eth0%x', undefined],
    ['', undefined],
    [':', undefined],
    ['None', undefined],
    ['a'.repeat(1000), undefined],
    ['10.0.0.1\n', undefined],
    ['１０.0.0.1', undefined],
    ['<script>', undefined],
  ];
  for (const [input, family, text] of cases) {
    it(`${JSON.stringify(input.slice(0, 40))} -> ${family === undefined ? 'invalid' : text}`, () => {
      const ip = parseIp(input);
      if (family === undefined) {
        assert.equal(ip, undefined);
        return;
      }
      assert.ok(ip && text !== undefined);
      assert.equal(ip.family, family);
      assert.equal(ip.text, text);
      assert.equal(ip.bytes.length, family === 4 ? 4 : 16);
      assert.equal(formatIp(ip.bytes, 0, ip.family), text, 'formatting the parsed bytes gives the same text');
      assert.deepEqual(parseIp(text), { ...ip, text }, 'the canonical text parses to the same address');
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

describe('formatIp', () => {
  const cases: Array<[number[], string]> = [
    [[0xfd00, 0x201, 0, 0, 0, 0, 0, 2], 'fd00:201::2'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[1, 0, 0, 0, 0, 0, 0, 0], '1::'],
    [[0x2001, 0xdb8, 0, 1, 0, 0, 0, 1], '2001:db8:0:1::1'],
    [[0x2001, 0xdb8, 1, 2, 3, 4, 5, 6], '2001:db8:1:2:3:4:5:6'],
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'],
    [[1, 0, 0, 2, 0, 0, 0, 3], '1:0:0:2::3'],
    [[1, 0, 0, 2, 0, 0, 3, 4], '1::2:0:0:3:4'],
    [[0xabcd, 0xef, 0, 0, 0, 0, 0, 0], 'abcd:ef::'],
    [[0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001], '10.0.0.1'],
    [[0, 0, 0, 0, 1, 0xffff, 0x0a00, 0x0001], '::1:ffff:a00:1'],
  ];
  for (const [groups, text] of cases) {
    it(`${groups.map((g) => g.toString(16)).join(':')} -> ${text}`, () => {
      assert.equal(formatIp(v6Bytes(groups), 0, 6), text);
    });
  }

  it('reads at an offset and uses only the first 4 bytes for IPv4', () => {
    const buf = new Uint8Array(24);
    buf.set([10, 1, 2, 3, 0xff, 0xff], 4);
    assert.equal(formatIp(buf, 4, 4), '10.1.2.3');
    buf.set(v6Bytes([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7]), 8);
    assert.equal(formatIp(buf, 8, 6), '2001:db8::7');
  });
});
