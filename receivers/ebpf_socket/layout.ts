/**
 * Byte layouts shared with `bpf/socket_tracker.h`. Sizes are checked against
 * the object's BTF when it is loaded (`SocketTracker.open`); offsets follow
 * the header's explicit padding. Change both sides together.
 */

import { formatIp } from '../../core/ip.ts';

/** Struct names and sizes, as `_Static_assert`ed in the C header. */
export const STRUCT_SIZES: Readonly<Record<string, number>> = {
  tracker_config: 16,
  out_state: 16,
  sock_state: 80,
  sock_record: 128,
  link_key: 64,
  link_value: 40,
  tracker_stats: 128,
};

export const ROLE_CLIENT = 1;
export const ROLE_SERVER = 2;

export const SF_PREEXISTING = 0x1;

/** `struct tracker_config`, the object's `.rodata`. */
export const CONFIG = { size: 16, tableSize: 0, outCapacity: 4, filterNetns: 8, includeLoopback: 9 } as const;

/** `struct sock_record`: one open socket written by the table iterator. */
export const RECORD = {
  size: 128,
  cookie: 0,
  startNs: 8,
  tx: 16,
  rx: 24,
  baseTx: 32,
  baseRx: 40,
  cgroupId: 48,
  localAddr: 56,
  remoteAddr: 72,
  netns: 88,
  pid: 92,
  retrans: 96,
  srttUs: 100,
  localPort: 104,
  remotePort: 106,
  family: 108,
  role: 109,
  state: 110,
  flags: 111,
  comm: 112,
  commLength: 16,
} as const;

/** `struct link_key` and `struct link_value`: totals of closed sockets per link. */
export const LINK_KEY = {
  size: 64,
  clientAddr: 0,
  serverAddr: 16,
  cgroupId: 32,
  netns: 40,
  serverPort: 44,
  family: 46,
  observer: 47,
  comm: 48,
  commLength: 16,
} as const;
export const LINK_VALUE = {
  size: 40,
  bytesC2s: 0,
  bytesS2c: 8,
  closed: 16,
  failed: 24,
  retrans: 32,
} as const;

/** Indexes into `struct tracker_stats` (enum tracker_stat). */
export const STAT = {
  created: 0,
  adopted: 1,
  closed: 2,
  socketsFull: 3,
  staleReads: 4,
  linksFull: 5,
  lostBytes: 6,
  goneFull: 7,
  hitState: 8,
  hitRecv: 9,
  hitDestroy: 10,
  hitDestroyFold: 11,
  reclaimed: 12,
  reclaimedLost: 13,
} as const;
export const STAT_COUNT = 14;
export const STATS_SIZE = 128;

export type StatName = keyof typeof STAT;

/** Reads a u64 as a number (exact below 2^53, which byte counters and cookies stay under). */
export function u64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * 0x1_0000_0000;
}

/** Formats a 16-byte address field: family 4 uses the first 4 bytes (text as in `core/ip.ts`). */
export function formatAddress(buf: Buffer, offset: number, family: number): string {
  return formatIp(buf, offset, family === 4 ? 4 : 6);
}

/** Reads a NUL-padded kernel `comm`. */
export function readComm(buf: Buffer, offset: number, length: number): string {
  let end = offset;
  const limit = offset + length;
  while (end < limit && buf[end] !== 0) end++;
  return buf.toString('utf8', offset, end);
}
