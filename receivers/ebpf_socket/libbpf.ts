/**
 * The typed loader: the only module that calls libbpf (`libbpf.so.1`, through
 * koffi) and the only one that holds pointers. Everything it returns is plain
 * data or a Buffer in the layouts of `layout.ts`.
 *
 * libbpf's messages, verifier logs included, go to the logger of the tracker
 * that is calling libbpf at the time.
 */
import fs from 'node:fs';
import koffi from 'koffi';
import type { Logger } from '../../core/logger.ts';
import { CONFIG, LINK_KEY, LINK_VALUE, RECORD, STAT_COUNT, STATS_SIZE, STRUCT_SIZES } from './layout.ts';

/** A libbpf or system call failed; `errno` is the positive error number. */
export class BpfError extends Error {
  readonly errno: number;
  constructor(message: string, errno: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BpfError';
    this.errno = errno;
  }
}

type Pointer = bigint;

interface Libbpf {
  openFile(path: string, opts: null): Pointer | null;
  objectClose(obj: Pointer): void;
  objectLoad(obj: Pointer): number;
  objectBtf(obj: Pointer): Pointer | null;
  btfFindByNameKind(btf: Pointer, name: string, kind: number): number;
  btfResolveSize(btf: Pointer, id: number): number;
  findMap(obj: Pointer, name: string): Pointer | null;
  findProgram(obj: Pointer, name: string): Pointer | null;
  mapSetMaxEntries(map: Pointer, n: number): number;
  mapSetInitialValue(map: Pointer, data: Buffer, size: number): number;
  mapValueSize(map: Pointer): number;
  mapKeySize(map: Pointer): number;
  mapFd(map: Pointer): number;
  programSetAutoload(prog: Pointer, on: boolean): number;
  programFd(prog: Pointer): number;
  programAttach(prog: Pointer): Pointer | null;
  programAttachIter(prog: Pointer, opts: IterAttachOpts | null): Pointer | null;
  linkFd(link: Pointer): number;
  linkDestroy(link: Pointer): number;
  iterCreate(linkFd: number): number;
  lookupBatch(
    fd: number,
    inBatch: Buffer | null,
    outBatch: Buffer,
    keys: Buffer,
    values: Buffer,
    count: Buffer,
    opts: null,
  ): number;
  lookupAndDeleteBatch(
    fd: number,
    inBatch: Buffer | null,
    outBatch: Buffer,
    keys: Buffer,
    values: Buffer,
    count: Buffer,
    opts: null,
  ): number;
  lookupElem(fd: number, key: Buffer, value: Buffer): number;
  updateElem(fd: number, key: Buffer, value: Buffer, flags: bigint): number;
  numPossibleCpus(): number;
  setns(fd: number, nstype: number): number;
  mmap(addr: null, length: number, prot: number, flags: number, fd: number, offset: number): Pointer | null;
  munmap(addr: Pointer, length: number): number;
}

interface IterAttachOpts {
  sz: number;
  link_info: { map_fd: number; pad: number[] };
  link_info_len: number;
}

const BTF_KIND_STRUCT = 4;
const CLONE_NEWNET = 0x40000000;
const ENOENT = 2;
const PROT_READ = 1;
const MAP_SHARED = 1;
const MAP_FAILED = 2n ** 64n - 1n;
const PAGE_SIZE = 4096;
/** Entries per batch syscall when reading hash maps. */
const BATCH_CHUNK = 1024;

let loaded: Libbpf | undefined;
/** Logger of the tracker calling into libbpf right now; libbpf prints only from the calling thread. */
let printTarget: { logger: Logger; warnings: string[] } | undefined;

function libbpf(): Libbpf {
  if (loaded !== undefined) return loaded;
  const lib = koffi.load('libbpf.so.1');
  const libc = koffi.load('libc.so.6');
  koffi.opaque('bpf_object');
  koffi.opaque('bpf_map');
  koffi.opaque('bpf_program');
  koffi.opaque('bpf_link');
  koffi.opaque('btf');
  const linkInfo = koffi.struct('lh_bpf_iter_link_info', {
    map_fd: 'uint32_t',
    pad: koffi.array('uint8_t', 12),
  });
  koffi.struct('lh_bpf_iter_attach_opts', {
    sz: 'size_t',
    link_info: koffi.pointer(linkInfo),
    link_info_len: 'uint32_t',
  });
  const vsnprintf = libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t n, const char *fmt, void *ap)');
  const printProto = koffi.proto('int lh_libbpf_print_fn(int level, const char *fmt, void *ap)');
  const line = Buffer.alloc(1 << 18);
  const print = koffi.register((level: number, fmt: string, ap: unknown) => {
    const n = vsnprintf(line, line.length, fmt, ap) as number;
    const text = line.toString('utf8', 0, Math.max(0, Math.min(n, line.length - 1))).trimEnd();
    const target = printTarget;
    if (target === undefined || text === '') return 0;
    if (level === 0) {
      target.warnings.push(text);
      target.logger.warn('libbpf', { message: text });
    } else if (level === 1) target.logger.info('libbpf', { message: text });
    else target.logger.debug('libbpf', { message: text });
    return 0;
  }, koffi.pointer(printProto));
  lib.func('void *libbpf_set_print(lh_libbpf_print_fn *fn)')(print);

  loaded = {
    openFile: lib.func('bpf_object *bpf_object__open_file(const char *path, void *opts)'),
    objectClose: lib.func('void bpf_object__close(bpf_object *obj)'),
    objectLoad: lib.func('int bpf_object__load(bpf_object *obj)'),
    objectBtf: lib.func('btf *bpf_object__btf(bpf_object *obj)'),
    btfFindByNameKind: lib.func('int btf__find_by_name_kind(btf *btf, const char *name, uint32_t kind)'),
    btfResolveSize: lib.func('int64_t btf__resolve_size(btf *btf, uint32_t id)'),
    findMap: lib.func('bpf_map *bpf_object__find_map_by_name(bpf_object *obj, const char *name)'),
    findProgram: lib.func('bpf_program *bpf_object__find_program_by_name(bpf_object *obj, const char *name)'),
    mapSetMaxEntries: lib.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t n)'),
    mapSetInitialValue: lib.func(
      'int bpf_map__set_initial_value(bpf_map *map, const void *data, size_t size)',
    ),
    mapValueSize: lib.func('uint32_t bpf_map__value_size(bpf_map *map)'),
    mapKeySize: lib.func('uint32_t bpf_map__key_size(bpf_map *map)'),
    mapFd: lib.func('int bpf_map__fd(bpf_map *map)'),
    programSetAutoload: lib.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
    programFd: lib.func('int bpf_program__fd(bpf_program *prog)'),
    programAttach: lib.func('bpf_link *bpf_program__attach(bpf_program *prog)'),
    programAttachIter: lib.func(
      'bpf_link *bpf_program__attach_iter(bpf_program *prog, const lh_bpf_iter_attach_opts *opts)',
    ),
    linkFd: lib.func('int bpf_link__fd(bpf_link *link)'),
    linkDestroy: lib.func('int bpf_link__destroy(bpf_link *link)'),
    iterCreate: lib.func('int bpf_iter_create(int link_fd)'),
    lookupBatch: lib.func(
      'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)',
    ),
    lookupAndDeleteBatch: lib.func(
      'int bpf_map_lookup_and_delete_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)',
    ),
    lookupElem: lib.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    updateElem: lib.func(
      'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
    ),
    numPossibleCpus: lib.func('int libbpf_num_possible_cpus()'),
    setns: libc.func('int setns(int fd, int nstype)'),
    mmap: libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t offset)'),
    munmap: libc.func('int munmap(void *addr, size_t len)'),
  };
  return loaded;
}

/** Runs `fn` with libbpf's messages going to `logger`; returns what libbpf warned about too. */
function withLog<T>(logger: Logger, fn: () => T): T {
  const previous = printTarget;
  printTarget = { logger, warnings: [] };
  try {
    return fn();
  } finally {
    printTarget = previous;
  }
}

function lastWarnings(): string {
  const w = printTarget?.warnings ?? [];
  return w.slice(-3).join(' | ');
}

/** Negative-errno return of a libbpf 1.x call turned into a BpfError. */
function check(ret: number, what: string): number {
  if (ret < 0) {
    const detail = lastWarnings();
    throw new BpfError(`${what} failed: errno ${-ret}${detail === '' ? '' : ` (libbpf: ${detail})`}`, -ret);
  }
  return ret;
}

function checkPointer(ptr: Pointer | null, what: string): Pointer {
  if (ptr === null) {
    const errno = koffi.errno();
    const detail = lastWarnings();
    throw new BpfError(`${what} failed: errno ${errno}${detail === '' ? '' : ` (libbpf: ${detail})`}`, errno);
  }
  return ptr;
}

export interface TrackerOptions {
  maxSockets: number;
  maxLinks: number;
  /** Records the iterator's output array holds; more changed sockets take more passes. */
  outCapacity: number;
  /** Network namespace inodes to track; null tracks every namespace. */
  netnsFilter: readonly number[] | null;
  includeLoopback: boolean;
  /** Tracepoint programs to load and attach (names of programs in the object). */
  tracepoints: readonly string[];
}

/** Every tracepoint program in the object, by program name, with its tracepoint. */
export const TRACEPOINT_PROGRAMS: Readonly<Record<string, string>> = {
  on_state: 'inet_sock_set_state',
  on_recv: 'sock_recv_length',
  on_destroy: 'tcp_destroy_sock',
};

/** A chunk of a batch read: `count` keys and values, valid only during the callback. */
export type ChunkHandler = (keys: Buffer, values: Buffer, count: number) => void;

/**
 * The loaded socket tracker object: maps, attached programs, iterators.
 *
 * @example
 * const t = SocketTracker.open('bpf/socket_tracker.bpf.o', options, logger);
 * t.attach();
 * t.adopt('/proc/1/ns/net');
 * t.readSockets((records, count) => decode(records, count)); // RECORD.size bytes each
 * t.close();
 */
export class SocketTracker {
  private readonly lib: Libbpf;
  private readonly logger: Logger;
  private obj: Pointer | null;
  private readonly links: Pointer[] = [];
  private readonly fds: {
    links: number;
    gone: number;
    stats: number;
    socks: number;
    out: number;
    outLen: number;
  };
  private readonly mapFds: number[];
  private readonly cpus: number;
  private adoptLinkFd = -1;
  private dumpLinkFd = -1;
  private readonly tracepoints: readonly string[];
  private readonly outCapacity: number;
  private outMapping: { address: Pointer; length: number } | undefined;
  /** The `out` array, mapped read-only into this process. */
  private readonly outRecords: Buffer;
  private readonly linkKeys = Buffer.alloc(BATCH_CHUNK * LINK_KEY.size);
  private readonly linkValues = Buffer.alloc(BATCH_CHUNK * LINK_VALUE.size);
  private readonly goneKeys = Buffer.alloc(BATCH_CHUNK * 8);
  private readonly goneValues = Buffer.alloc(BATCH_CHUNK * 8);
  private readonly batchIn = Buffer.alloc(8);
  private readonly batchOut = Buffer.alloc(8);
  private readonly batchCount = Buffer.alloc(4);
  private readonly statsValue: Buffer;
  private readonly zeroKey = Buffer.alloc(4);
  private readonly outState = Buffer.alloc(16);
  /** Poll generation written to out_state.gen, 1..255 (0 is the value of fresh socket state). */
  private generation = 0;
  private readonly drainBuffer = Buffer.allocUnsafe(1 << 12);
  private readonly ticks: Buffer;

  private constructor(lib: Libbpf, obj: Pointer, logger: Logger, options: TrackerOptions) {
    this.lib = lib;
    this.obj = obj;
    this.logger = logger;
    this.tracepoints = options.tracepoints;
    this.outCapacity = options.outCapacity;
    this.cpus = lib.numPossibleCpus();
    const fd = (name: string): number => check(lib.mapFd(this.map(name)), `bpf_map__fd(${name})`);
    this.fds = {
      links: fd('links'),
      gone: fd('gone'),
      stats: fd('stats'),
      socks: fd('socks'),
      out: fd('out'),
      outLen: fd('out_len'),
    };
    this.mapFds = [
      ...Object.values(this.fds),
      fd('netns_filter'),
      fd('zero_backlog_ports'),
      fd('zero_backlog_listeners'),
      fd('recv_done'),
    ];
    this.statsValue = Buffer.alloc(STATS_SIZE * this.cpus);
    const length = Math.ceil((options.outCapacity * RECORD.size) / PAGE_SIZE) * PAGE_SIZE;
    const address = lib.mmap(null, length, PROT_READ, MAP_SHARED, this.fds.out, 0);
    if (address === null || address === MAP_FAILED) {
      throw new BpfError(`mmap of the out array failed: errno ${koffi.errno()}`, koffi.errno());
    }
    this.outMapping = { address, length };
    this.outRecords = Buffer.from(koffi.view(address, length));
    this.ticks = Buffer.allocUnsafe(2 * options.outCapacity);
  }

  /**
   * Opens the object, sizes its maps, writes its load-time configuration,
   * checks the shared struct sizes against the object's BTF and loads it.
   * Throws a BpfError naming the step and libbpf's last warnings.
   */
  static open(objectPath: string, options: TrackerOptions, logger: Logger): SocketTracker {
    const lib = libbpf();
    return withLog(logger, () => {
      const obj = checkPointer(lib.openFile(objectPath, null), `bpf_object__open_file(${objectPath})`);
      try {
        checkLayout(lib, obj);
        const map = (name: string) => checkPointer(lib.findMap(obj, name), `find map ${name}`);
        check(lib.mapSetMaxEntries(map('links'), options.maxLinks), 'set links max_entries');
        check(lib.mapSetMaxEntries(map('socks'), options.maxSockets), 'set socks max_entries');
        check(lib.mapSetMaxEntries(map('gone'), options.maxSockets), 'set gone max_entries');
        check(lib.mapSetMaxEntries(map('out'), options.outCapacity), 'set out max_entries');
        const rodata = map('.rodata');
        const size = lib.mapValueSize(rodata);
        if (size !== CONFIG.size) {
          throw new BpfError(`.rodata is ${size} bytes, expected struct tracker_config (${CONFIG.size})`, 0);
        }
        const config = Buffer.alloc(CONFIG.size);
        config.writeUInt32LE(options.maxSockets, CONFIG.tableSize);
        config.writeUInt32LE(options.outCapacity, CONFIG.outCapacity);
        config[CONFIG.filterNetns] = options.netnsFilter === null ? 0 : 1;
        config[CONFIG.includeLoopback] = options.includeLoopback ? 1 : 0;
        check(lib.mapSetInitialValue(rodata, config, config.length), 'set .rodata');
        for (const name of Object.keys(TRACEPOINT_PROGRAMS)) {
          const prog = checkPointer(lib.findProgram(obj, name), `find program ${name}`);
          check(lib.programSetAutoload(prog, options.tracepoints.includes(name)), `autoload ${name}`);
        }
        check(lib.objectLoad(obj), 'bpf_object__load');
        const tracker = new SocketTracker(lib, obj, logger, options);
        if (options.netnsFilter !== null) {
          const key = Buffer.alloc(4);
          const one = Buffer.from([1]);
          for (const inode of options.netnsFilter) {
            key.writeUInt32LE(inode);
            check(lib.updateElem(tracker.fdOf('netns_filter'), key, one, 0n), 'fill netns_filter');
          }
        }
        return tracker;
      } catch (error) {
        lib.objectClose(obj);
        throw error;
      }
    });
  }

  private map(name: string): Pointer {
    if (this.obj === null) throw new BpfError('socket tracker is closed', 0);
    return checkPointer(this.lib.findMap(this.obj, name), `find map ${name}`);
  }

  private fdOf(name: string): number {
    return check(this.lib.mapFd(this.map(name)), `bpf_map__fd(${name})`);
  }

  private program(name: string): Pointer {
    if (this.obj === null) throw new BpfError('socket tracker is closed', 0);
    return checkPointer(this.lib.findProgram(this.obj, name), `find program ${name}`);
  }

  /** Attaches the tracepoint programs and creates the two iterator links. */
  attach(): void {
    withLog(this.logger, () => {
      for (const name of this.tracepoints) {
        this.links.push(checkPointer(this.lib.programAttach(this.program(name)), `attach ${name}`));
      }
      const adoptLink = checkPointer(
        this.lib.programAttachIter(this.program('adopt'), null),
        'attach iter/tcp',
      );
      this.links.push(adoptLink);
      this.adoptLinkFd = check(this.lib.linkFd(adoptLink), 'bpf_link__fd(adopt)');
      const dumpLink = checkPointer(
        this.lib.programAttachIter(this.program('dump'), {
          sz: 24,
          link_info: { map_fd: this.fds.socks, pad: new Array<number>(12).fill(0) },
          link_info_len: 16,
        }),
        'attach iter/bpf_map_elem',
      );
      this.links.push(dumpLink);
      this.dumpLinkFd = check(this.lib.linkFd(dumpLink), 'bpf_link__fd(dump)');
    });
  }

  /**
   * Adopts the sockets open in the network namespace at `netnsPath`
   * (`/proc/PID/ns/net`, `/run/netns/NAME`): the calling thread enters it
   * only to create the iterator, then returns to its own namespace.
   */
  adopt(netnsPath: string): void {
    const target = fs.openSync(netnsPath, 'r');
    const home = fs.openSync('/proc/thread-self/ns/net', 'r');
    let iterFd = -1;
    try {
      if (this.lib.setns(target, CLONE_NEWNET) !== 0) {
        throw new BpfError(`setns(${netnsPath}) failed: errno ${koffi.errno()}`, koffi.errno());
      }
      iterFd = this.lib.iterCreate(this.adoptLinkFd);
      if (this.lib.setns(home, CLONE_NEWNET) !== 0) {
        // The thread would stay in another namespace: nothing this process did after would be right.
        throw new Error(`setns back to the agent's network namespace failed: errno ${koffi.errno()}`);
      }
      check(iterFd, `bpf_iter_create(iter/tcp in ${netnsPath})`);
      this.runIterator(iterFd);
    } finally {
      if (iterFd >= 0) fs.closeSync(iterFd);
      fs.closeSync(home);
      fs.closeSync(target);
    }
  }

  /** Reads an iterator to its end; the programs write to maps, not to the iterator. */
  private runIterator(fd: number): void {
    while (fs.readSync(fd, this.drainBuffer, 0, this.drainBuffer.length, null) > 0);
  }

  /**
   * Runs the table iterator until every tracked socket that is new or
   * changed since the previous call was handed to `onRecords`, at most
   * `outCapacity` records (`RECORD.size` bytes each) at a time. The buffer is
   * the kernel's array, valid only during the callback. Returns the number of
   * sockets tracked.
   */
  readSockets(onRecords: (records: Buffer, count: number) => void): number {
    let live = 0;
    this.generation = (this.generation % 255) + 1;
    for (;;) {
      this.writeOut(0, 0);
      const fd = check(this.lib.iterCreate(this.dumpLinkFd), 'bpf_iter_create(iter/bpf_map_elem)');
      let more = 0;
      try {
        // The program writes 2 bytes per record: a read of 2 x outCapacity returns when `out` is full.
        for (;;) {
          const n = fs.readSync(fd, this.ticks, 0, this.ticks.length, null);
          check(this.lib.lookupElem(this.fds.outLen, this.zeroKey, this.outState), 'read out_len');
          const count = Math.min(this.outState.readUInt32LE(0), this.outCapacity);
          more = this.outState.readUInt32LE(4);
          if (count > 0) onRecords(this.outRecords, count);
          if (n === 0) break;
          this.writeOut(more, this.outState.readUInt32LE(12));
        }
      } finally {
        fs.closeSync(fd);
      }
      live += this.outState.readUInt32LE(12);
      if (more === 0) return live;
    }
  }

  /** Sets out_state: no records, the poll generation, and the flags and count carried over. */
  private writeOut(more: number, live: number): void {
    this.outState.writeUInt32LE(0, 0);
    this.outState.writeUInt32LE(more, 4);
    this.outState.writeUInt32LE(this.generation, 8);
    this.outState.writeUInt32LE(live, 12);
    check(this.lib.updateElem(this.fds.outLen, this.zeroKey, this.outState, 0n), 'reset out_len');
  }

  /** Reads the whole links table by batch (`LINK_KEY.size` / `LINK_VALUE.size` bytes per entry). */
  readLinks(onChunk: ChunkHandler): void {
    this.batch(this.lib.lookupBatch, this.fds.links, this.linkKeys, this.linkValues, onChunk);
  }

  /** Takes (reads and deletes) the cookies (u64) of reported sockets that closed since the last call. */
  takeGone(onChunk: ChunkHandler): void {
    this.batch(this.lib.lookupAndDeleteBatch, this.fds.gone, this.goneKeys, this.goneValues, onChunk);
  }

  private batch(
    op: Libbpf['lookupBatch'],
    fd: number,
    keys: Buffer,
    values: Buffer,
    onChunk: ChunkHandler,
  ): void {
    let first = true;
    let inBatch = this.batchIn;
    let outBatch = this.batchOut;
    for (;;) {
      this.batchCount.writeUInt32LE(BATCH_CHUNK);
      const ret = op(fd, first ? null : inBatch, outBatch, keys, values, this.batchCount, null);
      if (ret < 0 && ret !== -ENOENT) check(ret, 'bpf_map_lookup_batch');
      const count = this.batchCount.readUInt32LE();
      if (count > 0) onChunk(keys, values, count);
      if (ret === -ENOENT) return;
      first = false;
      [inBatch, outBatch] = [outBatch, inBatch];
    }
  }

  /** The per-CPU statistics summed over CPUs, indexed by `STAT`. */
  readStats(): number[] {
    check(this.lib.lookupElem(this.fds.stats, this.zeroKey, this.statsValue), 'read stats');
    const sums = new Array<number>(STAT_COUNT).fill(0);
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      for (let i = 0; i < STAT_COUNT; i++) {
        const at = cpu * STATS_SIZE + i * 8;
        sums[i]! += this.statsValue.readUInt32LE(at) + this.statsValue.readUInt32LE(at + 4) * 0x1_0000_0000;
      }
    }
    return sums;
  }

  /**
   * Runs of the tracepoint programs the kernel skipped because the same
   * program was already running on that CPU (a softirq interrupting it):
   * `recursion_misses` in /proc/self/fdinfo. Each is a state change not seen.
   */
  skippedRuns(): number {
    let total = 0;
    for (const name of this.tracepoints) {
      const fd = check(this.lib.programFd(this.program(name)), `bpf_program__fd(${name})`);
      const m = /^recursion_misses:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (m !== null) total += Number(m[1]);
    }
    return total;
  }

  /** Kernel memory charged to the maps (`memlock` in /proc/self/fdinfo): all of the tracker's memory. */
  mapMemoryBytes(): number {
    let total = 0;
    for (const fd of this.mapFds) {
      const m = /^memlock:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (m !== null) total += Number(m[1]);
    }
    return total;
  }

  /** Detaches every program and frees every map. Safe to call twice. */
  close(): void {
    withLog(this.logger, () => {
      for (const link of this.links.splice(0)) this.lib.linkDestroy(link);
      if (this.outMapping !== undefined) this.lib.munmap(this.outMapping.address, this.outMapping.length);
      this.outMapping = undefined;
      if (this.obj !== null) this.lib.objectClose(this.obj);
      this.obj = null;
    });
  }
}

/** Compares the shared struct sizes with the object's BTF. */
function checkLayout(lib: Libbpf, obj: Pointer): void {
  const btf = checkPointer(lib.objectBtf(obj), 'bpf_object__btf');
  for (const [name, size] of Object.entries(STRUCT_SIZES)) {
    const id = lib.btfFindByNameKind(btf, name, BTF_KIND_STRUCT);
    if (id < 0) throw new BpfError(`struct ${name} is missing from the object's BTF`, -id);
    const actual = Number(lib.btfResolveSize(btf, id));
    if (actual !== size) {
      throw new BpfError(
        `struct ${name} is ${actual} bytes in the object but ${size} in layout.ts: rebuild both from bpf/socket_tracker.h`,
        0,
      );
    }
  }
}
