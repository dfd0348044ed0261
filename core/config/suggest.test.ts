import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closest, editDistance } from './suggest.ts';

test('editDistance counts insertions, deletions, substitutions and adjacent swaps', () => {
  const table: Array<[string, string, number]> = [
    ['', '', 0],
    ['abc', '', 3],
    ['', 'abc', 3],
    ['verbosty', 'verbosity', 1],
    ['verbsoity', 'verbosity', 1],
    ['pol_interval', 'poll_interval', 1],
    ['kitten', 'sitting', 3],
    ['debug', 'debug', 0],
  ];
  for (const [a, b, d] of table) assert.equal(editDistance(a, b), d, `${a} -> ${b}`);
});

test('closest suggests a near candidate only', () => {
  assert.equal(closest('ebpf_sockt', ['debug', 'ebpf_socket']), 'ebpf_socket');
  assert.equal(closest('verbosty', ['verbosity']), 'verbosity');
  assert.equal(closest('Verbosity', ['verbosity']), 'verbosity');
  assert.equal(closest('dbug', ['debug', 'otlp']), 'debug');
  assert.equal(closest('zzz', ['debug', 'otlp']), undefined);
  assert.equal(closest('prometheus', ['otlp', 'debug']), undefined);
  assert.equal(closest('ab', ['ac', 'ab2']), 'ab2', 'ties go to the first in sort order');
  assert.equal(closest('x', []), undefined);
});
