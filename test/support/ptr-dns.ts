/**
 * A real DNS server for tests: UDP on 127.0.0.1, answering PTR queries from a
 * table (RFC 1035 wire format, name compression in answers), NXDOMAIN for
 * names it does not know, and silence for addresses told to time out.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { reverseName as ptrName } from '../../processors/k8s_attributes/dns.ts';

function reverseName(address: string): string {
  const name = ptrName(address);
  if (name === undefined) throw new Error(`ptr-dns: ${JSON.stringify(address)} is not an IP address`);
  return name;
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((p) => p !== '');
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([Buffer.byteLength(p)]), Buffer.from(p)])),
    Buffer.from([0]),
  ]);
}

function readQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  let off = 12;
  const labels: string[] = [];
  while (off < msg.length) {
    const len = msg[off] as number;
    if (len === 0) {
      off++;
      break;
    }
    if (len > 63 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString('latin1'));
    off += 1 + len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), end: off + 4 };
}

export interface PtrServer {
  /** `127.0.0.1:port`, for `Resolver.setServers`. */
  address: string;
  /** Queries received for the reverse name of `address`. */
  queryCount(address: string): number;
  /** Sets (or replaces) the PTR answer of an address. */
  set(address: string, name: string): void;
  /** Never answer queries for this address (the client times out). */
  silence(address: string): void;
  close(): Promise<void>;
}

/** Starts a PTR server on 127.0.0.1 (ephemeral port) answering from `table` (address -> name). */
export async function startPtrServer(table: Record<string, string> = {}): Promise<PtrServer> {
  const names = new Map<string, string>();
  const silent = new Set<string>();
  const queries = new Map<string, number>();
  for (const [addr, name] of Object.entries(table)) names.set(reverseName(addr), name);
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const q = readQuestion(msg);
    if (q === undefined) return;
    queries.set(q.name, (queries.get(q.name) ?? 0) + 1);
    if (silent.has(q.name)) return;
    const answer = q.type === 12 ? names.get(q.name) : undefined;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    // QR=1, opcode copied, AA=1, RD copied, RA=1; RCODE 0 or 3 (NXDOMAIN).
    const rd = (msg[2] as number) & 0x01;
    header.writeUInt16BE(0x8400 | (rd << 8) | 0x80 | (answer === undefined ? 3 : 0), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answer === undefined ? 0 : 1, 6);
    const question = msg.subarray(12, q.end);
    const parts: Buffer[] = [header, question];
    if (answer !== undefined) {
      const rdata = encodeName(answer);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(12, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(rdata.length, 10);
      parts.push(rr, rdata);
    }
    socket.send(Buffer.concat(parts), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  socket.unref();
  return {
    address: `127.0.0.1:${socket.address().port}`,
    queryCount: (address) => queries.get(reverseName(address)) ?? 0,
    set: (address, name) => names.set(reverseName(address), name),
    silence: (address) => silent.add(reverseName(address)),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
