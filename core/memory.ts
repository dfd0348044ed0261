/**
 * Handing memory back to the system after a burst of allocation: what the allocators keep for
 * themselves once a large batch has gone through the pipeline.
 *
 * Measured (whole agent, 100k sockets, `bench/ebpf_socket/poll.ts --agent-only --smaps`): after the
 * first poll, whose 100k new sockets make most of the garbage the agent ever makes at once, V8 had
 * shrunk its spaces to 21 MB but kept 29 MB more of its 256 KiB pages resident outside them (a
 * regular full collection frees the objects, not the pages: only a last-resort collection gives
 * the pages back), and glibc held 11-13 MB free in its arenas (compiler threads' zones, decoded
 * text). And typed arrays that grow (columns of a batch, socket slots) left their old blocks as
 * free space in glibc's heap: glibc serves a large block with its own mapping only until the first
 * such block is freed, then raises the threshold and serves the next ones from its heap.
 */
import koffi from 'koffi';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** `mallopt` parameter (malloc.h). */
const M_MMAP_THRESHOLD = -3;
/** glibc's initial threshold, kept for good. */
export const MMAP_THRESHOLD_BYTES = 128 * 1024;

interface Libc {
  mallopt: (param: number, value: number) => number;
  mallocTrim: (pad: number) => number;
}

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const lib = koffi.load('libc.so.6');
    libc = {
      mallopt: lib.func('int mallopt(int param, int value)') as Libc['mallopt'],
      mallocTrim: lib.func('int malloc_trim(size_t pad)') as Libc['mallocTrim'],
    };
  } catch {
    libc = null;
  }
  return libc;
}

let thresholdFixed: boolean | undefined;

/**
 * Fixes glibc's mmap threshold at `MMAP_THRESHOLD_BYTES` for the whole process: every block of
 * that size or more (a column of 100k sockets is 0.4-0.8 MB) gets a mapping of its own, unmapped
 * when freed, and only its written pages are resident. Returns whether it could: false on a C
 * library without `mallopt` (musl), where nothing changes.
 */
export function fixMmapThreshold(): boolean {
  if (thresholdFixed === undefined) {
    const c = loadLibc();
    thresholdFixed = c !== null && c.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1;
  }
  return thresholdFixed;
}

let lastResortGc: (() => void) | undefined;

/**
 * A last-resort garbage collection (V8 collects everything it can and gives its free pages back),
 * then glibc's free pages (`malloc_trim(0)`, where the C library has it). Costs a few full
 * collections: call it after a burst, not per poll. V8's `gc` is made once, in a context of its
 * own (`--expose-gc` set at run time: the process's global object gets no `gc`).
 */
export function releaseMemory(): void {
  if (lastResortGc === undefined) {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options: object) => void;
    lastResortGc = () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  }
  lastResortGc();
  trimNativeHeap();
}

/**
 * Gives glibc's free pages back (`malloc_trim(0)`: wherever they are, not only at the top of its
 * heaps); nothing where the C library has no `malloc_trim`. V8's compiler and garbage collector
 * threads work in blocks they malloc and free, in arenas of their own: after the first large
 * batches (new code paths compiled) those held 7-8 MB free at 100k sockets. At most 0.5 ms in the
 * agent at 100k sockets (the receiver calls it at every poll).
 */
export function trimNativeHeap(): void {
  loadLibc()?.mallocTrim(0);
}
