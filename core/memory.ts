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
const MMAP_THRESHOLD_BYTES = 128 * 1024;

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

let gc: ((options?: object) => void) | undefined;

/** V8's `gc`, made once in a context of its own (`--expose-gc` set at run time: the process's global object gets no `gc`). */
function v8Gc(): (options?: object) => void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as (options?: object) => void;
  }
  return gc;
}

/**
 * A full garbage collection, now. V8 collects the old generation when its heuristics say so, and in
 * an idle process that can take a long time: after a burst (a Kubernetes list of a large cluster),
 * the dead objects and the malloc'd memory they point to (tens of MB) stay resident until then.
 */
export function collectGarbage(): void {
  v8Gc()();
}

/**
 * A last-resort garbage collection (V8 collects everything it can and gives its free pages back),
 * then glibc's free pages (`trimNativeHeap`). Costs a few full collections: call it after a burst,
 * not per poll.
 */
export function releaseMemory(): void {
  v8Gc()({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  trimNativeHeap();
}

/**
 * Gives glibc's free pages back (`malloc_trim(0)`: wherever they are, not only at the top of its
 * heaps): true when it released some, false when there was nothing to release, `undefined` where
 * the C library has no `malloc_trim` (musl) or koffi cannot load it. V8's compiler and garbage
 * collector threads work in blocks they malloc and free: after the first large batches (new code
 * paths compiled) those held 7-8 MB free at 100k sockets; the response chunks of a large Kubernetes
 * list, malloc'd and freed by the thousand, left 80-100 MB in holes of the heap at 150,000 pods.
 * At most 0.5 ms in the agent at 100k sockets (the receiver calls it at every poll).
 */
export function trimNativeHeap(): boolean | undefined {
  const c = loadLibc();
  return c === null ? undefined : c.mallocTrim(0) === 1;
}
