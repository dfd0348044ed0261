/**
 * Tests of the bench harness: the statistics and alternation with scripted workloads (pure), and the
 * example bench end to end (real namespaces and connblast; needs root and scripts/setup.d/10-net-tools.sh).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { compare, formatTable, median, parseBenchArgs, processCpuSeconds } from './harness.ts';
import type { CompareOptions, CompareResult } from './harness.ts';

const run = promisify(execFile);
const rate = { name: 'rate', unit: 'ops/s', higherIsBetter: true };
const cost = { name: 'cost', unit: 'µs/op', higherIsBetter: false };

void test('median of odd and even lists', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), /median of no values/);
});

void test('candidates alternate round by round, warm-up discarded, setup and teardown around each run', async () => {
  const events: string[] = [];
  const scripted: Record<string, number[]> = {
    a: [0, 100, 110, 90],
    b: [0, 80, 85, 70],
    c: [0, 100, 120, 80],
  };
  const candidate = (name: string): CompareOptions['baseline'] => ({
    name,
    setup: async () => void events.push(`setup ${name}`),
    teardown: async () => void events.push(`teardown ${name}`),
  });
  const result = await compare({
    title: 'scripted',
    metrics: [rate, cost],
    baseline: candidate('a'),
    candidates: [candidate('b'), candidate('c')],
    rounds: 3,
    warmupRounds: 1,
    progress: () => {},
    workload: async (c, round) => {
      events.push(`run ${c.name} ${round}`);
      const v = scripted[c.name]![round]!;
      return { rate: v, cost: 1000 / (v || 1) };
    },
  });
  assert.deepEqual(events.slice(0, 6), [
    'setup a',
    'run a 0',
    'teardown a',
    'setup b',
    'run b 0',
    'teardown b',
  ]);
  assert.deepEqual(
    events.filter((e) => e.startsWith('run')),
    [
      'run a 0',
      'run b 0',
      'run c 0',
      'run a 1',
      'run b 1',
      'run c 1',
      'run a 2',
      'run b 2',
      'run c 2',
    ].concat(['run a 3', 'run b 3', 'run c 3']),
  );
  assert.deepEqual(result.order, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  const [r] = result.metrics;
  assert.deepEqual(r!.baseline.values, [100, 110, 90]);
  assert.equal(r!.baseline.median, 100);
  const b = r!.candidates[0]!;
  assert.equal(b.median, 80);
  assert.equal(b.ratio, 0.8);
  assert.deepEqual(
    b.roundRatios.map((x) => x.toFixed(4)),
    ['0.8000', '0.7727', '0.7778'],
  );
  assert.equal(b.ratioMin, 85 / 110);
  assert.equal(b.ratioMax, 0.8);
  const c = r!.candidates[1]!;
  assert.equal(c.ratio, 1);
  assert.equal(c.ratioMax, 120 / 110);
  const table = formatTable(result);
  assert.match(table, /rate \(ops\/s, higher is better\)/);
  assert.match(table, /\nb +80 +70 \.\. 85 +0\.800 +0\.773 \.\. 0\.800 +worse in every round\n/);
  assert.match(table, /\nc +100 +80 \.\. 120 +1\.000 +0\.889 \.\. 1\.091 +within noise\n/);
  assert.match(table, /cost \(µs\/op, lower is better\)[^]*\nb +12\.5 .* +worse in every round\n/);
});

void test('a lower-is-better metric that went down in every round is better', async () => {
  let i = 0;
  const result: CompareResult = await compare({
    title: 't',
    metrics: [cost],
    baseline: { name: 'old' },
    candidates: [{ name: 'new' }],
    rounds: 2,
    warmupRounds: 0,
    progress: () => {},
    workload: async () => ({ cost: [10, 5, 12, 6][i++]! }),
  });
  assert.match(
    formatTable(result),
    /\nnew +5\.5 +5 \.\. 6 +0\.500 +0\.500 \.\. 0\.500 +better in every round\n/,
  );
});

void test('teardown runs when the workload fails, and the error names the candidate and round', async () => {
  let tornDown = false;
  await assert.rejects(
    compare({
      title: 't',
      metrics: [rate],
      baseline: { name: 'a', teardown: async () => void (tornDown = true) },
      candidates: [],
      warmupRounds: 0,
      progress: () => {},
      workload: async () => {
        throw new Error('load failed');
      },
    }),
    /load failed/,
  );
  assert.ok(tornDown);
  await assert.rejects(
    compare({
      title: 't',
      metrics: [rate],
      baseline: { name: 'a' },
      candidates: [],
      warmupRounds: 0,
      progress: () => {},
      workload: async () => ({ other: 1 }),
    }),
    /workload returned rate = undefined for a in round 1\/5/,
  );
  await assert.rejects(
    compare({
      title: 't',
      metrics: [rate],
      baseline: { name: 'a' },
      candidates: [{ name: 'a' }],
      workload: async () => ({ rate: 1 }),
    }),
    /candidate name "a" appears twice/,
  );
});

void test('command line arguments', () => {
  assert.deepEqual(parseBenchArgs(['--rounds', '7', '--warmup', '0', '--json', '-']), {
    rounds: 7,
    warmupRounds: 0,
    json: '-',
  });
  assert.throws(() => parseBenchArgs(['--rounds', '0']), /--rounds must be a whole number, got "0"/);
  assert.throws(() => parseBenchArgs(['--fast', '1']), /unknown argument "--fast"/);
  assert.throws(() => parseBenchArgs(['--json']), /--json needs a value/);
});

void test('processCpuSeconds grows while this process works', () => {
  const before = processCpuSeconds(process.pid);
  const end = Date.now() + 200;
  while (Date.now() < end);
  const used = processCpuSeconds(process.pid) - before;
  assert.ok(used > 0.05 && used < 5, `used ${used} s`);
});

void test('the example bench runs end to end and prints its table and JSON (needs root)', async () => {
  const script = new URL('./example.bench.ts', import.meta.url).pathname;
  const { stdout } = await run(process.execPath, [script, '--rounds', '1', '--warmup', '0', '--json', '-'], {
    timeout: 120_000,
  });
  assert.match(stdout, /rate \(connections\/s, higher is better\)\ncandidate +median/);
  const json = JSON.parse(stdout.trim().split('\n').at(-1)!) as CompareResult;
  assert.deepEqual(json.order, ['plain', 'same', 'hog-25%']);
  assert.deepEqual(
    json.metrics.map((m) => m.name),
    ['rate', 'cpu'],
  );
  for (const m of json.metrics) {
    for (const c of [m.baseline, ...m.candidates]) assert.ok(c.median > 0, `${m.name} ${c.name} ${c.median}`);
  }
});
