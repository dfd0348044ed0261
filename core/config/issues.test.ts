import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, formatIssue, sortIssues } from './issues.ts';

test('formatIssue writes file:line:col: path: message, leaving out what is absent', () => {
  assert.equal(
    formatIssue('p.yaml', { path: 'exporters::debug', message: 'boom', position: { line: 3, col: 5 } }),
    'p.yaml:3:5: exporters::debug: boom',
  );
  assert.equal(
    formatIssue('p.yaml', { path: '', message: 'empty', position: { line: 1, col: 1 } }),
    'p.yaml:1:1: empty',
  );
  assert.equal(formatIssue('p.yaml', { path: 'a', message: 'no place' }), 'p.yaml: a: no place');
});

test('sortIssues orders by line, column, then path; issues without a position go last', () => {
  const sorted = sortIssues([
    { path: 'z', message: '1' },
    { path: 'b', message: '2', position: { line: 2, col: 1 } },
    { path: 'a', message: '3', position: { line: 2, col: 1 } },
    { path: 'c', message: '4', position: { line: 1, col: 9 } },
    { path: 'd', message: '5', position: { line: 2, col: 7 } },
  ]);
  assert.deepEqual(
    sorted.map((i) => i.message),
    ['4', '3', '2', '5', '1'],
  );
});

test('ConfigError carries the sorted issues and one line per issue as its message', () => {
  const error = new ConfigError('p.yaml', [
    { path: 'b', message: 'second', position: { line: 9, col: 1 } },
    { path: 'a', message: 'first', position: { line: 2, col: 3 } },
  ]);
  assert.equal(error.message, 'p.yaml:2:3: a: first\np.yaml:9:1: b: second');
  assert.deepEqual(
    error.issues.map((i) => i.path),
    ['a', 'b'],
  );
});
