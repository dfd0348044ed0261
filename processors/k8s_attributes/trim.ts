/**
 * Keeps the memory of large Kubernetes lists from staying resident:
 * `limitHeapGrowth` while they run, `collectGarbage` and `trimNativeHeap`
 * after them.
 *
 * `trimNativeHeap` gives the native heap's free memory back to the system: glibc's
 * `malloc_trim(0)`, called through koffi (already loaded by the eBPF receiver).
 *
 * Why: a full list of a large cluster moves hundreds of MB of JSON through the
 * process. The response chunks and V8's own bookkeeping are malloc'd and freed
 * by the thousand, and glibc keeps freed memory in holes of its heap, returning
 * it only from the top. At 150,000 pods that was 80-100 MB resident after the
 * sync, none of it in use; `malloc_trim(0)` releases the free pages wherever
 * they are (bench/k8s-metadata.bench.ts measures it).
 *
 * Where the C library has no `malloc_trim` (musl), or koffi cannot load it,
 * this does nothing: the memory is still free for the process to reuse.
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let trim: (() => number) | null | undefined;
let fullGc: (() => void) | undefined;
/** Holders of `limitHeapGrowth`, and whether the flag was set on the command line (then it is left alone). */
let growthHolds = 0;
const growthSetByUser = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) =>
  /heap[-_]growing[-_]percent/.test(a),
);

async function load(): Promise<(() => number) | null> {
  try {
    const koffi = (await import('koffi')).default;
    const fn = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
    return () => fn(0) as number;
  } catch {
    return null;
  }
}

/**
 * Returns free native heap pages to the system: true when the C library
 * released some, false when there was nothing to release, `undefined` when
 * this C library cannot do it.
 */
export async function trimNativeHeap(): Promise<boolean | undefined> {
  if (trim === undefined) trim = await load();
  return trim === null ? undefined : trim() === 1;
}

/**
 * A full garbage collection, now. V8 collects the old generation when its
 * heuristics say so, and in an idle process that can take a long time: after
 * the list of a large cluster, the dead pages and the malloc'd response text
 * they point to (tens of MB) stay resident until then. V8's `gc` function is
 * made once, in a context of its own (`--expose-gc` set at run time: the
 * process's global object gets no `gc`).
 */
export function collectGarbage(): void {
  if (fullGc === undefined) {
    setFlagsFromString('--expose-gc');
    fullGc = runInNewContext('gc') as () => void;
  }
  fullGc();
}

/**
 * How much V8 lets its old generation grow past what the last major
 * collection left, while `limitHeapGrowth` holds: 25 %.
 *
 * Why: V8 sets the next major collection's trigger at up to 4 times the heap
 * that survived the last one when collections are fast. During a first list
 * of 150,000 pods the heap that survived was 44 MB early on, and the next
 * major collection came only when the store was built: 40 MB of promoted
 * garbage and 30 MB of dead response chunks (ArrayBuffers, freed with their
 * promoted wrappers) were resident at the peak (276 MB, 221 MB with the
 * limit; bench/k8s-metadata.bench.ts). The collections it brings on are
 * V8's own, incremental and concurrent; sync time did not grow beyond noise.
 */
const LIST_HEAP_GROWING_PERCENT = 25;

/**
 * Caps V8's old-generation growth (`--heap-growing-percent`, set at run time)
 * until the returned release is called; holds nest, the default heuristics
 * come back when the last one is released. Does nothing when the flag was
 * given to node (command line or `NODE_OPTIONS`): the user's value stands.
 *
 * @example
 * const release = limitHeapGrowth();
 * try { await listEverything(); } finally { release(); }
 */
export function limitHeapGrowth(): () => void {
  if (growthSetByUser) return () => undefined;
  if (growthHolds++ === 0) setFlagsFromString(`--heap-growing-percent=${LIST_HEAP_GROWING_PERCENT}`);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--growthHolds === 0) setFlagsFromString('--heap-growing-percent=0');
  };
}
