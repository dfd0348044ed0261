/**
 * CPU of each poll of the process it is preloaded into, for benchmarks of
 * the whole agent (`node --import ./cpu-probe.mjs ...`, or in NODE_OPTIONS).
 *
 * A poll is a run of the callback of a `setInterval` timer whose period is
 * `LH_PROBE_POLL_MS` (the receiver's poll interval; 2000 by default): from
 * the callback's start, through the processor and the exporters (promise
 * continuations run before the event loop goes on), until the process is
 * quiet again: the first `QUIET_MS` slice after the callback's promise jobs
 * that used less than `QUIET_CPU_US` of CPU. `process.cpuUsage()` counts every
 * thread, V8's background GC threads too. Each poll is appended as one JSON
 * line to the file named by `LH_PROBE_OUT`: user and system CPU in ms, wall
 * ms, the garbage collections that ended during it (V8 kind and pause ms) and
 * the RSS and V8 heap after it. The first line is `{"pid":N,"argv":[...]}`.
 *
 * With `LH_PROBE_PROFILE=FILE` it also profiles the CPU from the second poll
 * to the exit, into FILE (`.cpuprofile`). Not with `--cpu-prof`: its signals
 * interrupt the BPF verifier, which gives up (EAGAIN), and the agent cannot
 * start.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate, setInterval, setTimeout } from 'node:timers';
import v8 from 'node:v8';
import koffi from 'koffi';

const OUT = process.env.LH_PROBE_OUT;
const POLL_MS = Number(process.env.LH_PROBE_POLL_MS ?? 2000);
const QUIET_MS = 5;
const QUIET_CPU_US = 500;
const GC_KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
};

if (OUT !== undefined && OUT !== '') {
  appendFileSync(OUT, `${JSON.stringify({ pid: process.pid, argv: process.execArgv })}\n`);
  let gcs = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcs.push({
        kind: GC_KINDS[e.detail?.kind] ?? String(e.detail?.kind),
        ms: Number(e.duration.toFixed(1)),
      });
    }
  }).observe({ entryTypes: ['gc'] });
  let polls = 0;
  let current;

  const finish = () => {
    const cpu = process.cpuUsage(current.cpu);
    const line = {
      userMs: Number((cpu.user / 1000).toFixed(1)),
      systemMs: Number((cpu.system / 1000).toFixed(1)),
      wallMs: Number((performance.now() - current.wall).toFixed(1)),
      gc: gcs.slice(current.gcStart),
      rssMiB: Number((process.memoryUsage.rss() / 2 ** 20).toFixed(1)),
      heap: heapMiB(),
    };
    appendFileSync(OUT, `${JSON.stringify(line)}\n`);
    current = undefined;
    gcs = [];
    if (++polls === 2) startProfile();
  };
  const untilQuiet = () => {
    const before = process.cpuUsage();
    setTimeout(() => {
      const used = process.cpuUsage(before);
      if (used.user + used.system < QUIET_CPU_US) finish();
      else untilQuiet();
    }, QUIET_MS);
  };

  const original = globalThis.setInterval;
  globalThis.setInterval = function probedSetInterval(callback, ms, ...args) {
    if (ms !== POLL_MS || typeof callback !== 'function') return original(callback, ms, ...args);
    return original(
      (...a) => {
        if (current === undefined) {
          current = { cpu: process.cpuUsage(), wall: performance.now(), gcStart: gcs.length };
          setImmediate(untilQuiet);
        }
        callback(...a);
      },
      ms,
      ...args,
    );
  };
  // GC entries between polls are not kept.
  setInterval(() => {
    if (current === undefined) gcs = [];
  }, 10_000).unref();
}

/**
 * The V8 heap after the poll, MiB: resident size of each space (new, old, code, large_object...),
 * what its live and dead objects use in all (`used`), the memory of ArrayBuffers and other
 * objects outside it (`external`), and the C heap (malloc) in use and free.
 */
function heapMiB() {
  const mib = (bytes) => Number((bytes / 2 ** 20).toFixed(1));
  const out = {};
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.physical_space_size > 0) {
      out[space.space_name.replace(/_space$/, '')] = mib(space.physical_space_size);
    }
  }
  const { heapUsed, external } = process.memoryUsage();
  const malloc = mallinfo();
  return {
    ...out,
    used: mib(heapUsed),
    external: mib(external),
    mallocInUse: mib(Number(malloc.uordblks) + Number(malloc.hblkhd)),
    mallocFree: mib(Number(malloc.fordblks)),
  };
}

/** glibc's `mallinfo2()` (koffi is the agent's own dependency): the C heap in use and free. */
const MallInfo = koffi.struct('lh_probe_mallinfo2', {
  arena: 'size_t',
  ordblks: 'size_t',
  smblks: 'size_t',
  hblks: 'size_t',
  hblkhd: 'size_t',
  usmblks: 'size_t',
  fsmblks: 'size_t',
  uordblks: 'size_t',
  fordblks: 'size_t',
  keepcost: 'size_t',
});
const mallinfo = koffi.load('libc.so.6').func('mallinfo2', MallInfo, []);

function startProfile() {
  const file = process.env.LH_PROBE_PROFILE;
  if (file === undefined || file === '') return;
  // Loaded only to profile: the probe adds as little as it can to the RSS of the agent it measures.
  const { Session } = process.getBuiltinModule('node:inspector');
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 250 });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (error === null) writeFileSync(file, JSON.stringify(result.profile));
    });
  });
}
