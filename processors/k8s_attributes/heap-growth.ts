/**
 * Keeps the memory of large Kubernetes lists from staying resident while they
 * run: `limitHeapGrowth`. After them, `kubernetes.ts` gives it back with
 * `collectGarbage` and `trimNativeHeap` (core/memory.ts).
 */

import { setFlagsFromString } from 'node:v8';

/** Holders of `limitHeapGrowth`, and whether the flag was set on the command line (then it is left alone). */
let growthHolds = 0;
const growthSetByUser = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) =>
  /heap[-_]growing[-_]percent/.test(a),
);

/**
 * How much V8 lets its old generation grow past what the last major
 * collection left, while `limitHeapGrowth` holds: 25 %.
 *
 * Why: V8 sets the next major collection's trigger at up to 4 times the heap
 * that survived the last one when collections are fast. During a first list
 * of 150,000 pods the heap that survived was 44 MB early on, and the next
 * major collection came only when the store was built: promoted garbage and
 * dead response chunks (ArrayBuffers, freed with their promoted wrappers)
 * were resident at the peak (275 MB, 216-226 MB with the limit;
 * bench/k8s-metadata.bench.ts, processors/k8s_attributes/README.md). The
 * collections it brings on are V8's own, incremental and concurrent; sync
 * time did not grow beyond noise.
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
