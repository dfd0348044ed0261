import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { socketRows } from '../../core/socket-columns.ts';
import type { ClosedLinkTotals, SocketSample } from '../../core/signals.ts';
import { decodeCookies, LinkDecoder, SocketDecoder } from './decode.ts';
import { formatAddress, LINK_KEY, LINK_VALUE, RECORD } from './layout.ts';

function v4(text: string): Buffer {
  const b = Buffer.alloc(16);
  text.split('.').forEach((p, i) => (b[i] = Number(p)));
  return b;
}

function v6(groups: number[]): Buffer {
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
  return b;
}

interface RecordFields {
  cookie: number;
  startNs: number;
  tx: number;
  rx: number;
  family: number;
  local: Buffer;
  remote: Buffer;
  localPort: number;
  remotePort: number;
  role: number;
  state: number;
  flags: number;
  pid: number;
  comm: string;
}

function record(f: RecordFields): Buffer {
  const b = Buffer.alloc(RECORD.size);
  b.writeBigUInt64LE(BigInt(f.cookie), RECORD.cookie);
  b.writeBigUInt64LE(BigInt(f.startNs), RECORD.startNs);
  b.writeBigUInt64LE(BigInt(f.tx), RECORD.tx);
  b.writeBigUInt64LE(BigInt(f.rx), RECORD.rx);
  b.writeBigUInt64LE(7n, RECORD.baseTx);
  b.writeBigUInt64LE(9n, RECORD.baseRx);
  b.writeBigUInt64LE(4242n, RECORD.cgroupId);
  f.local.copy(b, RECORD.localAddr);
  f.remote.copy(b, RECORD.remoteAddr);
  b.writeUInt32LE(4026531840, RECORD.netns);
  b.writeUInt32LE(f.pid, RECORD.pid);
  b.writeUInt32LE(3, RECORD.retrans);
  b.writeUInt32LE(125, RECORD.srttUs);
  b.writeUInt16LE(f.localPort, RECORD.localPort);
  b.writeUInt16LE(f.remotePort, RECORD.remotePort);
  b[RECORD.family] = f.family;
  b[RECORD.role] = f.role;
  b[RECORD.state] = f.state;
  b[RECORD.flags] = f.flags;
  b.write(f.comm, RECORD.comm);
  return b;
}

const BASE: RecordFields = {
  cookie: 2 ** 40 + 5,
  startNs: 3_000_000_000,
  tx: 2 ** 33 + 1,
  rx: 17,
  family: 4,
  local: v4('10.201.0.2'),
  remote: v4('10.201.0.3'),
  localPort: 40000,
  remotePort: 8080,
  role: 1,
  state: 1,
  flags: 0,
  pid: 1234,
  comm: 'curl',
};

describe('formatAddress', () => {
  it('writes IPv4 and RFC 5952 IPv6', () => {
    assert.equal(formatAddress(v4('127.0.0.1'), 0, 4), '127.0.0.1');
    assert.equal(formatAddress(v6([0xfd00, 0x201, 0, 0, 0, 0, 0, 2]), 0, 6), 'fd00:201::2');
    assert.equal(formatAddress(v6([0, 0, 0, 0, 0, 0, 0, 1]), 0, 6), '::1');
    assert.equal(formatAddress(v6([0, 0, 0, 0, 0, 0, 0, 0]), 0, 6), '::');
    assert.equal(formatAddress(v6([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1]), 0, 6), '2001:db8:0:1::1');
    assert.equal(formatAddress(v6([0x2001, 0xdb8, 1, 2, 3, 4, 5, 6]), 0, 6), '2001:db8:1:2:3:4:5:6');
    assert.equal(formatAddress(v6([1, 0, 0, 2, 0, 0, 0, 3]), 0, 6), '1:0:0:2::3');
  });
});

/** `count` records decoded in one batch, as rows. */
function decodeAll(decoder: SocketDecoder, records: Buffer, count: number): SocketSample[] {
  decoder.begin();
  decoder.decode(records, count);
  return socketRows(decoder.table);
}

describe('SocketDecoder', () => {
  it('decodes every field of a record', () => {
    const out = decodeAll(new SocketDecoder(1_000_000), record({ ...BASE, flags: 1 }), 1);
    assert.deepEqual(out, [
      {
        cookie: 2 ** 40 + 5,
        openedAtMs: 1_003_000,
        netns: 4026531840,
        cgroupId: 4242,
        pid: 1234,
        comm: 'curl',
        family: 4,
        localAddr: '10.201.0.2',
        localPort: 40000,
        remoteAddr: '10.201.0.3',
        remotePort: 8080,
        role: 'client',
        state: 'ESTABLISHED',
        txBytes: 2 ** 33 + 1,
        rxBytes: 17,
        retransSegs: 3,
        srttUs: 125,
        preexisting: true,
        baselineTxBytes: 7,
        baselineRxBytes: 9,
      },
    ]);
  });

  it('decodes IPv6 servers and unknown states', () => {
    const local = v6([0xfd00, 0x201, 0, 0, 0, 0, 0, 3]);
    const remote = v6([0xfd00, 0x201, 0, 0, 0, 0, 0, 2]);
    const buf = record({ ...BASE, family: 6, local, remote, role: 2, state: 99, comm: '' });
    const decoder = new SocketDecoder(0);
    const out = decodeAll(decoder, buf, 1);
    assert.equal(decoder.table.state[0], 0, 'a state number the kernel does not define is 0 (UNKNOWN)');
    assert.deepEqual(
      [out[0]?.family, out[0]?.localAddr, out[0]?.remoteAddr, out[0]?.role, out[0]?.state, out[0]?.comm],
      [6, 'fd00:201::3', 'fd00:201::2', 'server', 'UNKNOWN', ''],
    );
  });

  it('decodes counters on both sides of 2^31 and 2^32 exactly', () => {
    const values = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 7, 2 ** 52 + 3];
    const buf = Buffer.concat(
      values.map((v, i) => record({ ...BASE, cookie: v + 1, tx: v, rx: values[values.length - 1 - i]! })),
    );
    const out = decodeAll(new SocketDecoder(0), buf, values.length);
    assert.deepEqual(
      out.map((s) => [s.cookie, s.txBytes, s.rxBytes]),
      values.map((v, i) => [v + 1, v, values[values.length - 1 - i]]),
    );
  });

  it('names every IPv6 address and command right while sharing repeated ones', () => {
    const fields: RecordFields[] = [];
    for (let i = 0; i < 3000; i++) {
      const n = i % 700;
      fields.push({
        ...BASE,
        cookie: i + 1,
        family: 6,
        local: v6([0xfd00, n >> 8, 0, 0, 0, 0, n & 0xff, 1]),
        remote: v6([0x2001, 0xdb8, 0, 0, 0, 0, n, i % 3]),
        comm: `c${i % 500}`,
      });
    }
    const decoder = new SocketDecoder(0);
    const out = decodeAll(decoder, Buffer.concat(fields.map(record)), fields.length);
    assert.deepEqual(
      out.map((s) => [s.localAddr, s.remoteAddr, s.comm]),
      fields.map((f) => [formatAddress(f.local, 0, 6), formatAddress(f.remote, 0, 6), f.comm]),
    );
    assert.equal(
      decoder.table.strings.length,
      700 + 2100 + 500,
      'one string per distinct address or command',
    );
  });

  /** One poll: `begin` then the records, as the receiver does; the batch's rows. */
  function poll(decoder: SocketDecoder, records: RecordFields[]): SocketSample[] {
    decoder.begin();
    decoder.decode(Buffer.concat(records.map(record)), records.length);
    return socketRows(decoder.table);
  }

  /** What a decoder that never saw anything makes of the same records. */
  function fresh(records: RecordFields[]): SocketSample[] {
    return poll(new SocketDecoder(0), records);
  }

  const other: RecordFields = {
    ...BASE,
    cookie: 77,
    startNs: 5_000_000_000,
    family: 6,
    local: v6([0xfd00, 0x201, 0, 0, 0, 0, 0, 3]),
    remote: v6([0xfd00, 0x201, 0, 0, 0, 0, 0, 2]),
    localPort: 8080,
    remotePort: 40000,
    role: 2,
    flags: 1,
    pid: 0,
    comm: '',
  };

  it('reuses the rows of the previous batches, rewriting every field for another socket', () => {
    const decoder = new SocketDecoder(0);
    poll(decoder, [BASE, other]);
    const strings = decoder.table.strings;
    // Same socket changed: new counters and state.
    const changed = { ...BASE, tx: 100, state: 8 };
    assert.deepEqual(poll(decoder, [changed]), fresh([changed]));
    // A new incarnation of the cookie, then the other socket, land on the rows of the last batches.
    const reincarnated = { ...BASE, startNs: 9_000_000_000, pid: 99, comm: 'wget' };
    const third = poll(decoder, [other, reincarnated]);
    assert.deepEqual(third, fresh([other, reincarnated]));
    assert.equal(third[1]?.openedAtMs, 9000);
    // The owner of a known socket, set after it was first reported.
    const owned = { ...other, pid: 4321, comm: 'nginx' };
    assert.deepEqual(poll(decoder, [owned]), fresh([owned]));
    assert.equal(decoder.table.strings, strings, 'the same string table, grown');
    assert.deepEqual(strings, [
      '10.201.0.2',
      '10.201.0.3',
      'curl',
      'fd00:201::3',
      'fd00:201::2',
      '',
      'wget',
      'nginx',
    ]);
  });

  it('starts a new string table past its limit, and no row of the old one passes for a socket seen again', () => {
    const decoder = new SocketDecoder(0, 4);
    const sockets = [BASE, other];
    poll(decoder, sockets);
    const strings = decoder.table.strings;
    assert.equal(strings.length, 6);
    // The same sockets on the same rows: every id must come from the new table.
    const second = poll(decoder, sockets);
    assert.notEqual(decoder.table.strings, strings);
    assert.deepEqual(second, fresh(sockets));
    assert.equal(decoder.table.strings.length, 6);
  });

  it('keeps rows for the largest batch of the last polls only', () => {
    const decoder = new SocketDecoder(0);
    poll(
      decoder,
      [1, 2, 3].map((cookie) => ({ ...BASE, cookie })),
    );
    assert.equal(decoder.size, 3);
    for (let i = 0; i < 30; i++) poll(decoder, [BASE]);
    assert.equal(decoder.size, 1);
    assert.deepEqual(poll(decoder, [BASE]), fresh([BASE]));
  });
});

describe('LinkDecoder and decodeCookies', () => {
  it('decodes link keys and values', () => {
    const keys = Buffer.alloc(LINK_KEY.size);
    const values = Buffer.alloc(LINK_VALUE.size);
    v4('10.201.0.2').copy(keys, LINK_KEY.clientAddr);
    v4('10.201.0.3').copy(keys, LINK_KEY.serverAddr);
    keys.writeBigUInt64LE(77n, LINK_KEY.cgroupId);
    keys.writeUInt32LE(4026532000, LINK_KEY.netns);
    keys.writeUInt16LE(443, LINK_KEY.serverPort);
    keys[LINK_KEY.family] = 4;
    keys[LINK_KEY.observer] = 2;
    keys.write('nginx', LINK_KEY.comm);
    values.writeBigUInt64LE(1000n, LINK_VALUE.bytesC2s);
    values.writeBigUInt64LE(2n ** 40n, LINK_VALUE.bytesS2c);
    values.writeBigUInt64LE(3n, LINK_VALUE.closed);
    values.writeBigUInt64LE(1n, LINK_VALUE.failed);
    values.writeBigUInt64LE(5n, LINK_VALUE.retrans);
    const out: ClosedLinkTotals[] = [];
    const links = new LinkDecoder();
    links.begin();
    links.decode(keys, values, 1, out);
    links.end();
    assert.deepEqual(out, [
      {
        family: 4,
        clientAddr: '10.201.0.2',
        serverAddr: '10.201.0.3',
        serverPort: 443,
        observer: 'server',
        netns: 4026532000,
        cgroupId: 77,
        comm: 'nginx',
        bytesClientToServer: 1000,
        bytesServerToClient: 2 ** 40,
        connectionsClosed: 3,
        connectionsFailed: 1,
        retransSegs: 5,
      },
    ]);
    const cookies = Buffer.alloc(16);
    cookies.writeBigUInt64LE(12n, 0);
    cookies.writeBigUInt64LE(2n ** 50n, 8);
    const gone: number[] = [];
    decodeCookies(cookies, 2, gone);
    assert.deepEqual(gone, [12, 2 ** 50]);
  });

  it('keeps one object per kernel key while the table holds it, its counters those of the last read', () => {
    const keyAt = (port: number): Buffer => {
      const key = Buffer.alloc(LINK_KEY.size);
      v4('10.201.0.2').copy(key, LINK_KEY.clientAddr);
      v4('10.201.0.3').copy(key, LINK_KEY.serverAddr);
      key.writeUInt16LE(port, LINK_KEY.serverPort);
      key[LINK_KEY.family] = 4;
      key[LINK_KEY.observer] = 1;
      key.write('curl', LINK_KEY.comm);
      return key;
    };
    const valueOf = (closed: number): Buffer => {
      const value = Buffer.alloc(LINK_VALUE.size);
      value.writeBigUInt64LE(BigInt(closed * 100), LINK_VALUE.bytesC2s);
      value.writeBigUInt64LE(BigInt(closed), LINK_VALUE.closed);
      return value;
    };
    const links = new LinkDecoder();
    /** One poll reading `entries` ([port, closed]) in two chunks, as the table is read. */
    const poll = (entries: Array<[number, number]>): ClosedLinkTotals[] => {
      const out: ClosedLinkTotals[] = [];
      links.begin();
      const half = Math.ceil(entries.length / 2);
      for (const chunk of [entries.slice(0, half), entries.slice(half)]) {
        links.decode(
          Buffer.concat(chunk.map(([port]) => keyAt(port))),
          Buffer.concat(chunk.map(([, closed]) => valueOf(closed))),
          chunk.length,
          out,
        );
      }
      links.end();
      return out;
    };
    const [a1, b1] = poll([
      [80, 1],
      [443, 2],
    ]);
    const [b2, a2] = poll([
      [443, 5],
      [80, 1],
    ]);
    assert.equal(a2, a1, 'the same object for the same key');
    assert.equal(b2, b1);
    assert.deepEqual(
      [a2!.serverPort, a2!.connectionsClosed, b2!.serverPort, b2!.connectionsClosed, b2!.bytesClientToServer],
      [80, 1, 443, 5, 500],
    );
    assert.equal(links.size, 2);
    const [b3] = poll([[443, 6]]);
    assert.equal(b3, b1);
    assert.equal(links.size, 1, 'a key the table no longer holds is forgotten');
    const [a4] = poll([
      [80, 7],
      [443, 6],
    ]);
    assert.notEqual(a4, a1, 'and is new when it comes back');
    assert.deepEqual([a4!.serverPort, a4!.connectionsClosed, a4!.clientAddr], [80, 7, '10.201.0.2']);
  });
});
