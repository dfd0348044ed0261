import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SocketTable, socketColumns, socketRow, socketRows } from './socket-columns.ts';
import type { SocketSample } from './signals.ts';

function row(over: Partial<SocketSample> & Pick<SocketSample, 'cookie'>): SocketSample {
  return {
    openedAtMs: 1_700_000_000_123,
    netns: 4026531840,
    cgroupId: 2 ** 40 + 3,
    pid: 4321,
    comm: 'curl',
    family: 4,
    localAddr: '10.0.0.1',
    localPort: 40000,
    remoteAddr: '10.0.0.2',
    remotePort: 443,
    role: 'client',
    state: 'ESTABLISHED',
    txBytes: 2 ** 33 + 1,
    rxBytes: 17,
    retransSegs: 2 ** 32 - 1,
    srttUs: 125,
    preexisting: false,
    baselineTxBytes: 0,
    baselineRxBytes: 0,
    ...over,
  };
}

describe('socketColumns and socketRows', () => {
  it('give back every field of every row, with one string per distinct value', () => {
    const rows = [
      row({ cookie: 1 }),
      row({
        cookie: 2 ** 50,
        family: 6,
        localAddr: 'fd00::1',
        remoteAddr: 'fd00::2',
        role: 'server',
        state: 'CLOSE_WAIT',
        comm: '',
        preexisting: true,
        baselineTxBytes: 7,
        baselineRxBytes: 9,
      }),
      row({ cookie: 3, remoteAddr: '10.0.0.1', localAddr: '10.0.0.2' }),
    ];
    const columns = socketColumns(rows);
    assert.equal(columns.count, 3);
    assert.deepEqual(socketRows(columns), rows);
    assert.deepEqual(columns.strings, ['curl', '10.0.0.1', '10.0.0.2', '', 'fd00::1', 'fd00::2']);
    assert.equal(columns.localAddr[0], columns.remoteAddr[2], 'equal strings share an id');
  });

  it('reject what columns cannot hold, naming it', () => {
    assert.throws(
      () => socketColumns([row({ cookie: 5, state: 'OPEN' })]),
      /socket 5: unknown TCP state "OPEN"/,
    );
    assert.throws(() => socketRow(socketColumns([row({ cookie: 1 })]), 1), /row 1 out of range: 1 rows/);
  });
});

describe('SocketTable', () => {
  it('grows by half at least and keeps the rows in use when resized', () => {
    const table = new SocketTable();
    table.reserve(10);
    assert.equal(table.capacity, 10);
    table.reserve(11);
    assert.equal(table.capacity, 15);
    for (let i = 0; i < 4; i++) {
      table.cookie[i] = 100 + i;
      table.txBytes[i] = 2 ** 40 + i;
    }
    table.count = 4;
    table.resize(4);
    assert.equal(table.capacity, 4);
    assert.deepEqual([...table.cookie], [100, 101, 102, 103]);
    assert.deepEqual([...table.txBytes], [2 ** 40, 2 ** 40 + 1, 2 ** 40 + 2, 2 ** 40 + 3]);
    assert.throws(() => table.resize(3), /cannot resize to 3 rows: 4 in use/);
  });
});
