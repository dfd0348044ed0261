import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandEnv, isWholeReference } from './env.ts';

const env = { HOST: '10.0.0.1', PORT: '9464', EMPTY: '' };

test('expandEnv replaces references, keeps other text and unescapes $$', () => {
  const table: Array<[string, string]> = [
    ['plain', 'plain'],
    ['${env:HOST}', '10.0.0.1'],
    ['${env:HOST}:${env:PORT}', '10.0.0.1:9464'],
    ['http://${env:HOST}/x', 'http://10.0.0.1/x'],
    ['${env:EMPTY}', ''],
    ['${env:MISSING:-fallback}', 'fallback'],
    ['${env:MISSING:-}', ''],
    ['${env:HOST:-fallback}', '10.0.0.1'],
    ['$$', '$'],
    ['$${env:HOST}', '${env:HOST}'],
    ['cost $5', 'cost $5'],
    ['trailing $', 'trailing $'],
  ];
  for (const [text, value] of table) assert.deepEqual(expandEnv(text, env), { value, errors: [] }, text);
});

test('expandEnv names each bad or unset reference', () => {
  assert.deepEqual(expandEnv('${env:NOPE}:${env:ALSO_NOPE}', env).errors, [
    'environment variable "NOPE" is not set (referenced as "${env:NOPE}")',
    'environment variable "ALSO_NOPE" is not set (referenced as "${env:ALSO_NOPE}")',
  ]);
  assert.deepEqual(expandEnv('${HOST}', env).errors, [
    'unsupported reference "${HOST}": only ${env:NAME} is supported (write $$ for a literal $)',
  ]);
  assert.deepEqual(expandEnv('${env:1BAD}', env).errors, [
    'invalid environment variable name "1BAD" in "${env:1BAD}"',
  ]);
  assert.deepEqual(expandEnv('x${env:HOST', env).errors, [
    'unterminated reference "${env:HOST": missing "}"',
  ]);
});

test('isWholeReference is true only for a value that is exactly one reference', () => {
  assert.equal(isWholeReference('${env:PORT}'), true);
  assert.equal(isWholeReference('${env:PORT:-9464}'), true);
  assert.equal(isWholeReference('${env:PORT}x'), false);
  assert.equal(isWholeReference(' ${env:PORT}'), false);
  assert.equal(isWholeReference('${env:A}${env:B}'), false);
});
