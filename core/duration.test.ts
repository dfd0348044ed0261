import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from './duration.ts';

test('parseDuration reads Go-style durations to milliseconds', () => {
  const table: Array<[string, number]> = [
    ['0', 0],
    ['0s', 0],
    ['500ms', 500],
    ['5s', 5000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5s', 1500],
    ['.5s', 500],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['1000000ns', 1],
    ['10s500ms', 10_500],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration rejects what is not a duration', () => {
  for (const text of [
    '',
    '5',
    '5 s',
    '5 sec',
    's',
    '-5s',
    '+5s',
    '5S',
    '5d',
    '1m 30s',
    'five seconds',
    '5s ',
    ' 5s',
    '1e3s',
    '.s',
  ]) {
    assert.equal(parseDuration(text), undefined, JSON.stringify(text));
  }
});

test('formatDuration writes the shortest form parseDuration reads back', () => {
  const table: Array<[number, string]> = [
    [0, '0s'],
    [0.25, '250us'],
    [1, '1ms'],
    [500, '500ms'],
    [1500, '1.5s'],
    [5000, '5s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_723_004, '1h2m3.004s'],
  ];
  for (const [ms, text] of table) {
    assert.equal(formatDuration(ms), text, String(ms));
    assert.equal(parseDuration(text), ms, text);
  }
});
