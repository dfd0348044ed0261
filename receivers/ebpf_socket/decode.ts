/**
 * Pure decoding of the tracker's raw buffers into signal types. No I/O: the
 * buffers come from `SocketTracker`, or from tests.
 */
import type { AddressFamily, ClosedLinkTotals, Role, SocketSample } from '../../core/signals.ts';
import {
  formatAddress,
  LINK_KEY,
  LINK_VALUE,
  readComm,
  RECORD,
  ROLE_CLIENT,
  SF_PREEXISTING,
  TCP_STATES,
  u64,
} from './layout.ts';

function role(value: number): Role {
  return value === ROLE_CLIENT ? 'client' : 'server';
}

function family(value: number): AddressFamily {
  return value === 6 ? 6 : 4;
}

/**
 * Decodes `count` socket records. `bootToEpochMs` converts the kernel's
 * monotonic nanoseconds to ms since the epoch.
 */
export function decodeSockets(records: Buffer, count: number, bootToEpochMs: number): SocketSample[] {
  const out: SocketSample[] = new Array<SocketSample>(count);
  for (let i = 0; i < count; i++) {
    const at = i * RECORD.size;
    const fam = family(records[at + RECORD.family]!);
    out[i] = {
      cookie: u64(records, at + RECORD.cookie),
      openedAtMs: Math.round(u64(records, at + RECORD.startNs) / 1e6 + bootToEpochMs),
      netns: records.readUInt32LE(at + RECORD.netns),
      cgroupId: u64(records, at + RECORD.cgroupId),
      pid: records.readUInt32LE(at + RECORD.pid),
      comm: readComm(records, at + RECORD.comm, RECORD.commLength),
      family: fam,
      localAddr: formatAddress(records, at + RECORD.localAddr, fam),
      localPort: records.readUInt16LE(at + RECORD.localPort),
      remoteAddr: formatAddress(records, at + RECORD.remoteAddr, fam),
      remotePort: records.readUInt16LE(at + RECORD.remotePort),
      role: role(records[at + RECORD.role]!),
      state: TCP_STATES[records[at + RECORD.state]!] ?? 'UNKNOWN',
      txBytes: u64(records, at + RECORD.tx),
      rxBytes: u64(records, at + RECORD.rx),
      retransSegs: records.readUInt32LE(at + RECORD.retrans),
      srttUs: records.readUInt32LE(at + RECORD.srttUs),
      preexisting: (records[at + RECORD.flags]! & SF_PREEXISTING) !== 0,
      baselineTxBytes: u64(records, at + RECORD.baseTx),
      baselineRxBytes: u64(records, at + RECORD.baseRx),
    };
  }
  return out;
}

/** Decodes `count` entries of the links table. */
export function decodeLinks(keys: Buffer, values: Buffer, count: number): ClosedLinkTotals[] {
  const out: ClosedLinkTotals[] = new Array<ClosedLinkTotals>(count);
  for (let i = 0; i < count; i++) {
    const k = i * LINK_KEY.size;
    const v = i * LINK_VALUE.size;
    const fam = family(keys[k + LINK_KEY.family]!);
    out[i] = {
      family: fam,
      clientAddr: formatAddress(keys, k + LINK_KEY.clientAddr, fam),
      serverAddr: formatAddress(keys, k + LINK_KEY.serverAddr, fam),
      serverPort: keys.readUInt16LE(k + LINK_KEY.serverPort),
      observer: role(keys[k + LINK_KEY.observer]!),
      netns: keys.readUInt32LE(k + LINK_KEY.netns),
      cgroupId: u64(keys, k + LINK_KEY.cgroupId),
      comm: readComm(keys, k + LINK_KEY.comm, LINK_KEY.commLength),
      bytesClientToServer: u64(values, v + LINK_VALUE.bytesC2s),
      bytesServerToClient: u64(values, v + LINK_VALUE.bytesS2c),
      connectionsClosed: u64(values, v + LINK_VALUE.closed),
      connectionsFailed: u64(values, v + LINK_VALUE.failed),
      retransSegs: u64(values, v + LINK_VALUE.retrans),
    };
  }
  return out;
}

/** Decodes `count` u64 cookies. */
export function decodeCookies(cookies: Buffer, count: number): number[] {
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = u64(cookies, i * 8);
  return out;
}
