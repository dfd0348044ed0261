/**
 * The loader (`receivers/ebpf_socket/libbpf.ts`) on the real kernel with
 * objects that must be refused: libbpf's messages and the verifier's log go
 * into our logs and into the error, and a struct whose size differs from
 * `layout.ts` stops the load. The faulty objects are built here from a copy of
 * `bpf/` with one change each, with the same compiler as `make -C bpf`.
 *
 * Needs root and clang-14 with libbpf-dev (scripts/setup.d/20-bpf.sh --test);
 * fails with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BpfError, SocketTracker } from '../../receivers/ebpf_socket/libbpf.ts';
import type { TrackerOptions } from '../../receivers/ebpf_socket/libbpf.ts';
import { testSettings } from '../support/settings.ts';

const BPF_DIR = new URL('../../bpf/', import.meta.url).pathname;
const OPTIONS: TrackerOptions = {
  maxSockets: 1024,
  maxLinks: 1024,
  outCapacity: 1024,
  netnsFilter: null,
  includeLoopback: true,
  tracepoints: ['on_state'],
};

let work: string;

before(() => {
  for (const need of ['/usr/bin/clang-14', '/usr/include/bpf/bpf_helpers.h']) {
    if (!existsSync(need)) throw new Error(`${need} is missing: run scripts/setup.d/20-bpf.sh --test`);
  }
  work = mkdtempSync(join(tmpdir(), 'lhC-bpf-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

/** Builds bpf/ in a copy where `file` has `from` replaced by `to`; returns the object's path. */
function buildVariant(name: string, file: string, from: string, to: string): string {
  const dir = join(work, name);
  cpSync(BPF_DIR, dir, { recursive: true });
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.includes(from), `${file} contains ${JSON.stringify(from)}`);
  writeFileSync(path, text.replace(from, to));
  execFileSync('make', ['-s', '-B', '-C', dir], { stdio: 'pipe' });
  return join(dir, 'socket_tracker.bpf.o');
}

describe('ebpf_socket loader', () => {
  it('puts libbpf messages into the logs and the error: a file that is not an object', () => {
    const settings = testSettings('ebpf_socket');
    const path = join(work, 'not-an-object.o');
    writeFileSync(path, 'not an ELF file\n');
    assert.throws(
      () => SocketTracker.open(path, OPTIONS, settings.logger),
      (e: unknown) =>
        e instanceof BpfError &&
        e.message.startsWith(`bpf_object__open_file(${path}) failed: errno `) &&
        e.message.includes('(libbpf: '),
    );
    const libbpf = settings.logs.filter((l) => l.msg === 'libbpf');
    assert.ok(libbpf.length > 0, 'libbpf messages are logged');
    assert.ok(
      libbpf.some((l) => l.level === 'warn' && String(l.message).includes('not-an-object.o')),
      JSON.stringify(libbpf),
    );
  });

  it('puts the verifier log into the logs and the error when the kernel rejects a program', () => {
    // The table iterator without its NULL check: the verifier refuses the dereference.
    const object = buildVariant(
      'no-null-check',
      'socket_tracker.bpf.c',
      '\tif (!st)\n\t\treturn 0;\n\tcookie = st->cookie;',
      '\tcookie = st->cookie;',
    );
    const settings = testSettings('ebpf_socket');
    assert.throws(
      () => SocketTracker.open(object, OPTIONS, settings.logger),
      (e: unknown) =>
        e instanceof BpfError && /^bpf_object__load failed: errno \d+ \(libbpf: .+\)$/s.test(e.message),
    );
    const log = settings.logs
      .filter((l) => l.msg === 'libbpf' && l.level === 'warn')
      .map((l) => String(l.message))
      .join('');
    assert.match(log, /-- BEGIN PROG LOAD LOG --/);
    assert.match(log, /invalid mem access 'buf_or_null'/);
    assert.match(log, /prog 'dump': failed to load: -13/);
  });

  it('refuses an object whose shared struct sizes differ from layout.ts', () => {
    const object = buildVariant(
      'bigger-state',
      'socket_tracker.h',
      '\t__u8 pad[6];\n\tchar comm[16];\n};\n_Static_assert(sizeof(struct sock_state) == 80, "sock_state size");',
      '\t__u8 pad[14];\n\tchar comm[16];\n};\n_Static_assert(sizeof(struct sock_state) == 88, "sock_state size");',
    );
    const settings = testSettings('ebpf_socket');
    assert.throws(
      () => SocketTracker.open(object, OPTIONS, settings.logger),
      /^BpfError: struct sock_state is 88 bytes in the object but 80 in layout\.ts: rebuild both from bpf\/socket_tracker\.h$/,
    );
  });

  it('loads the committed object, whose sizes match layout.ts', () => {
    const settings = testSettings('ebpf_socket');
    const tracker = SocketTracker.open(join(BPF_DIR, 'socket_tracker.bpf.o'), OPTIONS, settings.logger);
    tracker.close();
    assert.deepEqual(
      settings.logs.filter((l) => l.level === 'warn' || l.level === 'error'),
      [],
    );
  });
});
