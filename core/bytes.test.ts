import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBytes } from './bytes.ts';

test('parseBytes reads plain byte counts and binary and decimal units', () => {
  const table: Array<[string, number]> = [
    ['0', 0],
    ['4096', 4096],
    ['1B', 1],
    ['64KiB', 65_536],
    ['16MiB', 16_777_216],
    ['1GiB', 1_073_741_824],
    ['2TiB', 2_199_023_255_552],
    ['1.5KiB', 1536],
    ['1kB', 1000],
    ['1KB', 1000],
    ['16MB', 16_000_000],
    ['1GB', 1_000_000_000],
    ['16 MiB', 16_777_216],
  ];
  for (const [text, bytes] of table) assert.equal(parseBytes(text), bytes, text);
});

test('parseBytes rejects unknown units, fractions of a byte and unsafe sizes', () => {
  for (const text of [
    '',
    'MiB',
    '16mb',
    '16mib',
    '16M',
    '-1',
    '1.5',
    '1.3B',
    '0.1KiB',
    '16  MiB',
    '1e3',
    '9999999TiB',
  ]) {
    assert.equal(parseBytes(text), undefined, JSON.stringify(text));
  }
});
