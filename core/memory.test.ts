import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { collectGarbage, trimNativeHeap } from './memory.ts';

/** Resident size of the malloc heap (the `[heap]` mapping), KiB. */
function mallocHeapKib(): number {
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.indexOf('[heap]');
  if (at < 0) return 0;
  return Number(/\nRss:\s+(\d+) kB/.exec(smaps.slice(at))?.[1] ?? 0);
}

describe('trimNativeHeap', () => {
  it('on glibc, gives back freed holes of the malloc heap', async () => {
    const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header
      .glibcVersionRuntime;
    assert.ok(glibc !== undefined, 'this test needs glibc (Debian): the agent image runs on it');
    // 64 KiB blocks come from the malloc heap (below the mmap threshold); every other one stays
    // allocated, so the freed ones are holes glibc cannot return from the top of its heap.
    const blocks = Array.from({ length: 800 }, () => Buffer.alloc(64 * 1024, 1));
    const kept = blocks.filter((_, i) => i % 2 === 1);
    blocks.length = 0;
    await new Promise((r) => setImmediate(r));
    const freedHoles = async (): Promise<number> => {
      // Buffers are freed when V8 collects them: allocate until a few collections happened.
      for (let i = 0; i < 50; i++) new Array(100_000).fill({ i });
      await new Promise((r) => setTimeout(r, 10));
      return mallocHeapKib();
    };
    const before = await freedHoles();
    assert.equal(trimNativeHeap(), true);
    const after = mallocHeapKib();
    assert.ok(
      before - after > 10 * 1024,
      `malloc heap ${before} KiB -> ${after} KiB: less than 10 MiB returned`,
    );
    assert.equal(kept.length, 400);
    assert.equal(kept[399]?.[0], 1);
  });
});

describe('collectGarbage', () => {
  it('collects unreachable objects now, without a gc on the global object', () => {
    assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'run this test without --expose-gc');
    collectGarbage();
    const base = process.memoryUsage().heapUsed;
    // About 40 MB of objects, then dropped: only a full collection frees what was promoted.
    let garbage: Array<{ i: number; s: string }> | undefined = Array.from({ length: 500_000 }, (_, i) => ({
      i,
      s: `item-${i}`,
    }));
    assert.equal(garbage.length, 500_000);
    garbage = undefined;
    const before = process.memoryUsage().heapUsed;
    collectGarbage();
    const after = process.memoryUsage().heapUsed;
    assert.ok(before - base > 20 * 1024 * 1024, `only ${before - base} bytes allocated`);
    assert.ok(after - base < 5 * 1024 * 1024, `heap used ${base} -> ${before} -> ${after} bytes`);
    assert.equal((globalThis as { gc?: unknown }).gc, undefined);
  });
});
