/**
 * The data that flows between components. A pipeline is type-checked on these
 * signal names before anything starts: a receiver's output must equal the next
 * processor's input, and so on down to the exporters.
 *
 * Ownership: a batch and everything it references belong to the producer. A
 * consumer reads it during `consume()` and until the next batch arrives; it must
 * copy whatever it keeps for longer, and it never mutates a batch.
 */

/** Names of the signals a pipeline can carry. */
export type SignalType = 'sockets' | 'links';

/** Maps a signal name to the batch type that travels under it. */
export interface SignalBatches {
  sockets: SocketBatch;
  links: LinkBatch;
}

/** A consumer of one signal: the next stage of a pipeline. */
export interface Consumer<T> {
  /** Handles one batch. Rejects only if the batch could not be handled; the caller counts it. */
  consume(batch: T): Promise<void>;
}

export type Role = 'client' | 'server';
export type AddressFamily = 4 | 6;

/** TCP state names by the kernel's number (include/net/tcp_states.h): the `state` column holds the number. */
export const TCP_STATES: readonly string[] = [
  'UNKNOWN',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];

/** Values of the `role` column. */
export const ROLE_CLIENT = 1;
export const ROLE_SERVER = 2;

/**
 * One open TCP socket as the kernel saw it at poll time, as a plain object: a row of
 * `SocketColumns` (`socketRow` in `core/socket-columns.ts` reads one, `socketColumns` builds
 * columns from rows). Batches carry columns; rows are for tests and for the few sockets a consumer
 * keeps.
 *
 * Byte counters are exact and count only what was sent or received after the
 * agent started tracking the socket (pre-existing sockets have their baseline
 * subtracted already).
 */
export interface SocketSample {
  /** Kernel socket cookie: unique for the boot, never reused. */
  cookie: number;
  /** Wall-clock time the socket was opened (or adopted, for pre-existing ones), ms since the epoch. With `cookie` it names one socket incarnation. */
  openedAtMs: number;
  /** Inode number of the socket's network namespace. */
  netns: number;
  /** cgroup v2 id of the process that owns the socket; 0 when unknown. */
  cgroupId: number;
  /** Owning process id; 0 when unknown. */
  pid: number;
  /** Owning process command name (kernel `comm`, at most 15 characters); '' when unknown. */
  comm: string;
  family: AddressFamily;
  /** Textual address, v4-mapped IPv6 already normalised to dotted IPv4. */
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  /** Whether this socket is the connecting (client) or accepted (server) end. */
  role: Role;
  /** TCP state name as the kernel calls it, e.g. `ESTABLISHED`, `CLOSE_WAIT` (one of `TCP_STATES`). */
  state: string;
  /** Payload bytes sent by this socket since tracking began, retransmissions excluded. */
  txBytes: number;
  /** Payload bytes received by this socket since tracking began (the peer's FIN excluded). */
  rxBytes: number;
  /** Segments retransmitted by this socket since tracking began (below 2^32). */
  retransSegs: number;
  /** Smoothed round-trip time in microseconds; 0 when unknown. */
  srttUs: number;
  /** True when the socket existed before the agent started. */
  preexisting: boolean;
  /** For pre-existing sockets: the counters at adoption, already subtracted from txBytes/rxBytes. */
  baselineTxBytes: number;
  baselineRxBytes: number;
}

/**
 * Open sockets as columns: row `i` (0 <= i < `count`) of every array is one socket, with the
 * meaning of the `SocketSample` field of the same name. No object per socket: at 100k sockets a
 * row takes 92 bytes.
 *
 * Lifetime: the arrays and the string table belong to the producer, which reuses them from batch to
 * batch; they may be longer than `count` (rows beyond it mean nothing). A consumer reads them during
 * `consume()` and copies what it keeps (a number, a string out of `strings`, or a whole row with
 * `socketRow`); it never writes to them.
 *
 * Strings (addresses and command names) are ids into `strings`. Equal ids in one batch are equal
 * strings; equal strings may have different ids (copy the string to compare across batches). While
 * `strings` is the same array object from one batch to the next, an id keeps its string (the table
 * only grows); a producer that trims it hands out a new array.
 */
export interface SocketColumns {
  /** Rows in use. */
  readonly count: number;
  /** Kernel socket cookie (below 2^53). */
  readonly cookie: Float64Array;
  readonly openedAtMs: Float64Array;
  readonly netns: Uint32Array;
  readonly cgroupId: Float64Array;
  readonly pid: Uint32Array;
  /** Id of the command name in `strings`. */
  readonly comm: Uint32Array;
  /** 4 or 6. */
  readonly family: Uint8Array;
  /** Id of the local address text in `strings`. */
  readonly localAddr: Uint32Array;
  readonly localPort: Uint16Array;
  /** Id of the remote address text in `strings`. */
  readonly remoteAddr: Uint32Array;
  readonly remotePort: Uint16Array;
  /** `ROLE_CLIENT` or `ROLE_SERVER`. */
  readonly role: Uint8Array;
  /** TCP state number: its name is `TCP_STATES[state]`. */
  readonly state: Uint8Array;
  readonly txBytes: Float64Array;
  readonly rxBytes: Float64Array;
  readonly retransSegs: Uint32Array;
  readonly srttUs: Uint32Array;
  /** 1 for a pre-existing socket, else 0. */
  readonly preexisting: Uint8Array;
  readonly baselineTxBytes: Float64Array;
  readonly baselineRxBytes: Float64Array;
  /** The strings the id columns name. */
  readonly strings: readonly string[];
}

/**
 * Cumulative totals of every socket that closed since the receiver started,
 * folded in the kernel per link key. Values only grow for the life of the
 * receiver.
 */
export interface ClosedLinkTotals {
  family: AddressFamily;
  clientAddr: string;
  serverAddr: string;
  serverPort: number;
  /** Which end the observing sockets were. */
  observer: Role;
  /** Network namespace inode of the observing sockets. */
  netns: number;
  /** cgroup id of the process that owned the observing sockets; 0 when unknown. */
  cgroupId: number;
  /** Command name of the process that owned the observing sockets; '' when unknown. */
  comm: string;
  bytesClientToServer: number;
  bytesServerToClient: number;
  /** Connections that were established and have closed. */
  connectionsClosed: number;
  /** Connection attempts that never reached ESTABLISHED (client side: refused, timed out, reset). */
  connectionsFailed: number;
  /** Segments retransmitted by the observing sockets. */
  retransSegs: number;
}

/** What the socket receiver emits once per poll. */
export interface SocketBatch {
  /** Poll time, ms since the epoch. */
  timeMs: number;
  /** When the receiver started counting, ms since the epoch: the start time of every cumulative value. */
  startTimeMs: number;
  /**
   * Open sockets that are new, or whose counters or state changed, since the
   * previous batch. Sockets absent here and absent from `gone` are unchanged.
   */
  sockets: SocketColumns;
  /** Cookies of sockets reported in earlier batches that are no longer open; their final totals are in `closed`. */
  gone: readonly number[];
  /** Number of open sockets tracked, changed or not. */
  openSockets: number;
  /**
   * Cumulative totals of closed sockets, one entry per kernel link key (all of them, every batch).
   * A producer may hand the same object for a key at every batch, its counters updated (the
   * receiver does): like the columns, an entry is valid until the next batch.
   */
  closed: readonly ClosedLinkTotals[];
}

/**
 * Who is at one end of a link.
 *
 * `kind` is a Kubernetes kind (`Deployment`, `StatefulSet`, `DaemonSet`,
 * `CronJob`, `Job`, `ReplicaSet`, `Pod`, `Service`, `Node`) in Kubernetes mode;
 * `process` or `container` for local ends in host mode; `host` for the local
 * machine itself; `external` for anything unresolved.
 */
export interface Identity {
  /** Workload, Service, node, process or container name; DNS name or IP for externals. */
  name: string;
  kind: string;
  /** Kubernetes namespace; '' when the identity has none. */
  namespace: string;
  /**
   * For a Service: the one workload behind all of its endpoints, when there is
   * exactly one. Lets a map show `checkout -> catalog (Service) -> catalog (Deployment)`.
   */
  backing?: Identity;
}

/**
 * A link: (client identity, server identity, server port, transport) seen from
 * one observer socket side. Counters are cumulative from `startTimeMs`.
 */
export interface Link {
  /** Stable key of the link, unique within a batch. */
  id: string;
  client: Identity;
  server: Identity;
  serverPort: number;
  transport: 'tcp';
  networkType: 'ipv4' | 'ipv6';
  /** Which socket's counters this link sums: the client's or the server's. Same-host traffic is seen from both. */
  observer: Role;
  bytesClientToServer: number;
  bytesServerToClient: number;
  connectionsOpened: number;
  connectionsClosed: number;
  connectionsFailed: number;
  /** Open connections right now (a gauge). */
  activeConnections: number;
  retransSegs: number;
  /** Start of the cumulative counters, ms since the epoch. */
  startTimeMs: number;
  /** Last time any counter changed, ms since the epoch. */
  lastActivityMs: number;
}

/** What the link processor emits once per poll: every live link, cumulative. */
export interface LinkBatch {
  timeMs: number;
  /** Agent start, ms since the epoch. */
  startTimeMs: number;
  links: readonly Link[];
}
