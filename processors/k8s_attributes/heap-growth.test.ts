import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('limitHeapGrowth', () => {
  /**
   * Major collections in a child process (node flags `flags`) that builds a
   * 40 MB live heap while it promotes about 4 times as much garbage, with or
   * without `limitHeapGrowth` held; and its heap used at the end.
   */
  const run = (hold: boolean, flags: string[] = []): { majors: number; heapMb: number } => {
    const script = `
      import { PerformanceObserver, constants } from 'node:perf_hooks';
      import { limitHeapGrowth } from ${JSON.stringify(new URL('./heap-growth.ts', import.meta.url).href)};
      let majors = 0;
      const obs = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
      });
      obs.observe({ entryTypes: ['gc'] });
      const release = ${hold} ? limitHeapGrowth() : () => undefined;
      const live = [];
      let young = [];
      for (let round = 0; round < 400; round++) {
        const batch = Array.from({ length: 5000 }, (_, i) => ({ round, i, s: 'x' + i }));
        if (round % 2 === 0) live.push(batch);
        young.push(batch);
        if (young.length > 8) young = [];
        await new Promise((r) => setImmediate(r));
      }
      release();
      await new Promise((r) => setTimeout(r, 50));
      obs.disconnect();
      console.log(JSON.stringify({ majors, heapMb: process.memoryUsage().heapUsed / 1048576, live: live.length }));`;
    const out = execFileSync(
      process.execPath,
      ['--max-semi-space-size=4', ...flags, '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    return JSON.parse(out) as { majors: number; heapMb: number };
  };

  it('brings major collections on sooner while held, so less garbage stays', () => {
    const free = run(false);
    const held = run(true);
    assert.ok(held.majors >= free.majors + 2, `major GCs: ${free.majors} free, ${held.majors} held`);
    assert.ok(held.heapMb < free.heapMb, `heap used at the end: ${free.heapMb} MB free, ${held.heapMb} held`);
  });

  it('leaves a --heap-growing-percent given to node alone', () => {
    const user = run(true, ['--heap-growing-percent=300']);
    const free = run(false, ['--heap-growing-percent=300']);
    assert.ok(user.majors <= free.majors + 1, `major GCs: ${free.majors} without, ${user.majors} held`);
  });
});
