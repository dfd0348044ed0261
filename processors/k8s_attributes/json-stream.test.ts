/**
 * JsonListParser against `JSON.parse` of the whole text (as `Response.text()`
 * decodes it): every document is fed split at every byte position, one byte
 * at a time, and in random chunks; valid lists must give the same items and
 * members, anything `JSON.parse` rejects (or that is not an object) must be
 * rejected too. Hand-written edge cases, then generated lists with hostile
 * strings, then byte mutations of them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ParsedList } from './json-stream.ts';
import { JsonListParser } from './json-stream.ts';
import { seededRandom } from '../../test/support/random.ts';

const encoder = new TextEncoder();

interface Outcome {
  ok: boolean;
  items?: unknown[];
  members?: Array<[string, unknown]>;
  error?: string;
}

/** Parses `bytes` in the given chunks. */
function parse(bytes: Uint8Array, cuts: readonly number[]): Outcome {
  const items: unknown[] = [];
  const parser = new JsonListParser((item, index) => {
    assert.equal(index, items.length, 'item indexes count up from 0');
    items.push(item);
  });
  let result: ParsedList;
  try {
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      // Copies: a chunk shares no memory with the next.
      if (cut > from) parser.write(bytes.slice(from, cut));
      from = cut;
    }
    result = parser.end();
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  assert.equal(result.bytes, bytes.length);
  const members = [...result.members];
  if (result.items !== undefined) {
    assert.equal(result.items, items.length);
    members.push(['items', items]);
  } else assert.equal(items.length, 0);
  return { ok: true, items: result.items === undefined ? undefined : items, members: sorted(members) };
}

function sorted(members: Array<[string, unknown]>): Array<[string, unknown]> {
  return members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** What `JSON.parse` of the decoded text says: the reference. */
function reference(bytes: Uint8Array): Outcome {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, error: 'not an object' };
  const members = Object.entries(value);
  const items = (value as { items?: unknown }).items;
  return { ok: true, items: Array.isArray(items) ? items : undefined, members: sorted(members) };
}

function same(bytes: Uint8Array, got: Outcome, want: Outcome, how: string): void {
  const doc = new TextDecoder().decode(bytes).slice(0, 300);
  assert.equal(got.ok, want.ok, `${how}: ${got.error ?? want.error ?? ''} for ${JSON.stringify(doc)}`);
  if (got.ok) assert.deepEqual(got, want, `${how} for ${JSON.stringify(doc)}`);
}

/** Whole, split at every position, one byte at a time, and in random chunks. */
function checkEverySplit(bytes: Uint8Array, want: Outcome, random: () => number, randomSplits = 20): void {
  same(bytes, parse(bytes, []), want, 'whole');
  for (let k = 0; k <= bytes.length; k++) same(bytes, parse(bytes, [k]), want, `split at ${k}`);
  same(
    bytes,
    parse(
      bytes,
      Array.from({ length: bytes.length }, (_, k) => k),
    ),
    want,
    'one byte at a time',
  );
  for (let r = 0; r < randomSplits; r++) {
    const cuts = Array.from({ length: 1 + Math.floor(random() * 6) }, () =>
      Math.floor(random() * (bytes.length + 1)),
    ).sort((a, b) => a - b);
    same(bytes, parse(bytes, cuts), want, `split at ${cuts.join(',')}`);
  }
}

const bytesOf = (text: string): Uint8Array => encoder.encode(text);
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

const VALID: readonly string[] = [
  '{"items":[]}',
  '{}',
  ' \t\r\n{ \t\r\n"items" \n:\r [ ] \t}\n\r\t ',
  '{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"abc"},"items":[{"a":1},{"b":[1,[2,[3]]]}]}',
  '{"items":[{"metadata":{"name":"x"}}],"metadata":{"resourceVersion":"7"}}',
  '{"items":[1,-2.5e+3,true,false,null,"s",[],{},[{}],{"":""}]}',
  '{"items":[0 , 1e9 ,\t-0.0e-0\n]}',
  '{"items":["\\"","\\\\","\\\\\\"","\\\\\\\\","a\\\\","\\"\\\\\\"\\\\"]}',
  '{"items":[{"k\\"}":"v\\"]"},{"]":"}","[":"{"}]}',
  '{"items":["\\u0022","\\u005c","\\ud83d\\ude00","\\/\\b\\f\\n\\r\\t"]}',
  '{"items":["é","日本語","😀 emoji","Ǆ","\u007f","\u0080\u07ff\u0800\uffff"]}',
  '{"items":[{"name":"' + 'n'.repeat(300) + '","labels":{"a/b":"' + '\\\\'.repeat(40) + '"}}]}',
  '{"\\u0069tems":[{"x":1}]}',
  '{"items":[{"x":1}],"\\u0069tems_not":2}',
  '{"metadata":{"resourceVersion":"1"},"items":[{"x":1}],"kind":"List"}',
  '{"items":null}',
  '{"items":{"a":[1]}}',
  '{"items":"[1,2]"}',
  '{"items":5}',
  '{"a":1,"a":2,"items":[]}',
  '{"__proto__":{"polluted":true},"constructor":1,"items":[{"__proto__":1}]}',
  '{"items":[{}]}',
  '{"items":[[],[[]],[[],[]]]}',
  '{"":"","items":[""]}',
  '{"n":123456789012345678901234567890,"items":[1.5e300,-1e-300]}',
];

const INVALID: readonly string[] = [
  '',
  ' ',
  '[]',
  '[{"items":[]}]',
  '"items"',
  '1',
  'null',
  '{',
  '{"items"',
  '{"items":',
  '{"items":[',
  '{"items":[{"a":1}',
  '{"items":[{"a":1},',
  '{"items":[{"a":1}]',
  '{"items":[{"a":"b\\"}]}',
  '{"items":[{"a":1}]}}',
  '{"items":[{"a":1}]} x',
  '{"items":[{"a":1}]}{}',
  '{"items":[,]}',
  '{"items":[1,]}',
  '{"items":[1 2]}',
  '{"items":[1}',
  '{"items":[{"a":1]]}',
  '{"items":[{"a":1}}]}',
  '{"items":[{"a" 1}]}',
  '{"items":[tru]}',
  '{"items":[nul]}',
  '{"items":[01]}',
  '{"items":[1.]}',
  '{"items":["a\nb"]}',
  '{"items":["\\x"]}',
  '{"items":["\\u12"]}',
  '{"items":[\'a\']}',
  '{items:[]}',
  '{"items":[],}',
  '{,"items":[]}',
  '{"items"[]}',
  '{"items"::[]}',
  '{"a":}',
  '{"a" "b"}',
  '{"a":1 "b":2}',
  '{"a":1,,"b":2}',
  '{"a":[}',
  '{"a":{]}',
  '{"a":"\\',
  '{"items":[]} ]',
  '\u00a0{"items":[]}',
  '{"items":[]}\u00a0',
];

describe('JsonListParser', () => {
  it('parses valid lists like JSON.parse, split at every byte', () => {
    const random = seededRandom(1);
    for (const doc of VALID) {
      const bytes = bytesOf(doc);
      const want = reference(bytes);
      assert.ok(want.ok, `fixture must be valid: ${doc}`);
      checkEverySplit(bytes, want, random);
    }
  });

  it('rejects what JSON.parse rejects, and JSON that is not an object, split at every byte', () => {
    const random = seededRandom(2);
    for (const doc of INVALID) {
      const bytes = bytesOf(doc);
      const want = reference(bytes);
      assert.equal(want.ok, false, `fixture must be invalid: ${doc}`);
      checkEverySplit(bytes, want, random);
    }
  });

  it('hands over each item as soon as its last byte has arrived', () => {
    const seen: unknown[] = [];
    const parser = new JsonListParser((item) => seen.push(item));
    parser.write(bytesOf('{"items":[{"a":"x'));
    assert.deepEqual(seen, []);
    parser.write(bytesOf('"}'));
    assert.deepEqual(seen, [{ a: 'x' }]);
    parser.write(bytesOf(',7'));
    assert.deepEqual(seen, [{ a: 'x' }], 'a number may go on in the next chunk');
    parser.write(bytesOf('8]'));
    assert.deepEqual(seen, [{ a: 'x' }, 78]);
    parser.write(bytesOf(',"metadata":{"resourceVersion":"9"}}'));
    const { members, items } = parser.end();
    assert.equal(items, 2);
    assert.deepEqual([...members], [['metadata', { resourceVersion: '9' }]]);
  });

  it('decodes UTF-8 as Response.text() does: characters split across chunks, invalid bytes replaced, a leading BOM dropped', async () => {
    const random = seededRandom(3);
    const cases: Uint8Array[] = [
      concat(Uint8Array.of(0xef, 0xbb, 0xbf), bytesOf('{"items":["bom"]}')),
      concat(
        bytesOf('{"items":["a'),
        Uint8Array.of(0xff, 0xfe, 0xc3),
        bytesOf('b", "'),
        Uint8Array.of(0xe2, 0x82),
        bytesOf('"]}'),
      ),
      concat(bytesOf('{"items":["'), Uint8Array.of(0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0x80), bytesOf('"]}')),
      concat(bytesOf('{"k'), Uint8Array.of(0xc0, 0xaf), bytesOf('":1,"items":[]}')),
    ];
    for (const bytes of cases) {
      const want = reference(bytes);
      assert.ok(want.ok);
      // The reference decodes as undici's Response.text() does.
      assert.deepEqual(
        JSON.parse(await new Response(bytes).text()) as unknown,
        JSON.parse(new TextDecoder().decode(bytes)),
      );
      checkEverySplit(bytes, want, random);
    }
    const broken: Uint8Array[] = [
      concat(Uint8Array.of(0xef, 0xbb), bytesOf('{"items":[]}')),
      concat(Uint8Array.of(0xef), bytesOf('{"items":[]}')),
      concat(Uint8Array.of(0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf), bytesOf('{"items":[]}')),
      concat(bytesOf(' '), Uint8Array.of(0xef, 0xbb, 0xbf), bytesOf('{"items":[]}')),
      concat(bytesOf('{"items":[]}'), Uint8Array.of(0xef, 0xbb, 0xbf)),
    ];
    for (const bytes of broken) {
      const want = reference(bytes);
      assert.equal(want.ok, false);
      checkEverySplit(bytes, want, random);
    }
  });

  it('rejects a second items array, whose first one was already handed over', () => {
    for (const doc of ['{"items":[1],"items":[2]}', '{"items":[],"items":null}']) {
      const bytes = bytesOf(doc);
      for (let k = 0; k <= bytes.length; k++) {
        const got = parse(bytes, [k]);
        assert.equal(got.ok, false, doc);
        assert.match(got.error ?? '', /^a second items member at byte \d+$/);
      }
    }
    // A non-array items member before the array is replaced by it, as JSON.parse does.
    const bytes = bytesOf('{"items":null,"items":[3]}');
    checkEverySplit(bytes, reference(bytes), seededRandom(4));
  });

  it('says where a truncated or broken answer failed', () => {
    assert.equal(
      parse(bytesOf('{"metadata":{},"items":[{"a":1},{"b"'), []).error,
      'the answer ends inside an item (truncated after 36 bytes)',
    );
    assert.equal(parse(bytesOf(''), []).error, 'the answer ends before the object (truncated after 0 bytes)');
    assert.equal(
      parse(bytesOf('{"items":[]}x'), []).error,
      "'x' at byte 12 after the end of the object: expected nothing",
    );
    assert.equal(
      parse(bytesOf('{"items":[1 2]}'), [12]).error,
      "'2' at byte 12 where ',' or ']' of items was expected: expected ',' or ']'",
    );
    assert.match(
      parse(bytesOf('{"items":[{"a":1},{"b":tru}]}'), [20]).error ?? '',
      /^item 1 at byte 18 is not valid JSON: /,
    );
    assert.equal(parse(bytesOf('\x00{}'), []).error, "byte 0x00 at byte 0 before the object: expected '{'");
  });

  it('stops at the first error an item callback throws', () => {
    const parser = new JsonListParser((item) => {
      if (item === 2) throw new Error('no 2');
    });
    parser.write(bytesOf('{"items":[1,'));
    assert.throws(() => parser.write(bytesOf('2,3]}')), /^Error: no 2$/);
  });

  it('agrees with JSON.parse on generated lists with hostile strings and on their byte mutations', () => {
    const random = seededRandom(5);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const atoms = [
      '\\',
      '"',
      '\\"',
      '\\\\',
      '/',
      '\n',
      '\u0000',
      '\u001f',
      'é',
      '😀',
      '\ud800',
      '{',
      '}',
      '[',
      ']',
      ',',
      ':',
      ' ',
      'a',
      '0',
      '\u2028',
    ];
    const str = (): string => Array.from({ length: Math.floor(random() * 8) }, () => pick(atoms)).join('');
    const value = (depth: number): unknown => {
      const r = random();
      if (depth > 3 || r < 0.3) return pick([str(), 0, -1.5e-7, 123456, true, false, null]);
      if (r < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      return Object.fromEntries(
        Array.from({ length: Math.floor(random() * 4) }, () => [str(), value(depth + 1)]),
      );
    };
    const ws = (): string => pick(['', '', ' ', '\n', '\t ', '\r\n  ']);
    /** JSON text with random whitespace between tokens. */
    const spaced = (v: unknown): string => {
      if (Array.isArray(v)) return `[${ws()}${v.map((x) => spaced(x)).join(`${ws()},${ws()}`)}${ws()}]`;
      if (typeof v === 'object' && v !== null)
        return `{${ws()}${Object.entries(v)
          .map(([k, x]) => `${JSON.stringify(k)}${ws()}:${ws()}${spaced(x)}`)
          .join(`${ws()},${ws()}`)}${ws()}}`;
      return JSON.stringify(v);
    };
    let valid = 0;
    let invalid = 0;
    for (let d = 0; d < 150; d++) {
      const list: Record<string, unknown> = {};
      const members = ['kind', 'apiVersion', 'metadata', 'items', str()].sort(() => random() - 0.5);
      for (const m of members) {
        list[m] =
          m === 'items'
            ? Array.from({ length: Math.floor(random() * 5) }, () => value(1))
            : m === 'metadata'
              ? { resourceVersion: String(d), continue: str() }
              : value(2);
      }
      const bytes = bytesOf(ws() + spaced(list) + ws());
      const want = reference(bytes);
      assert.ok(want.ok);
      checkEverySplit(bytes, want, random, 5);
      valid++;
      for (let m = 0; m < 20; m++) {
        const at = Math.floor(random() * bytes.length);
        const r = random();
        const mutated =
          r < 0.3
            ? bytes.slice(0, at)
            : r < 0.6
              ? concat(bytes.slice(0, at), bytes.slice(at + 1))
              : concat(
                  bytes.slice(0, at),
                  Uint8Array.of(
                    pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x20, 0x31, 0xff, 0xc3]),
                  ),
                  bytes.slice(at),
                );
        const expected = reference(mutated);
        if (expected.ok) valid++;
        else invalid++;
        same(mutated, parse(mutated, []), expected, 'mutated, whole');
        same(mutated, parse(mutated, [at]), expected, `mutated, split at ${at}`);
        same(
          mutated,
          parse(mutated, [Math.floor(random() * mutated.length)]),
          expected,
          'mutated, random split',
        );
      }
    }
    assert.ok(
      valid > 150 && invalid > 1000,
      `mutations cover both outcomes: ${valid} valid, ${invalid} invalid`,
    );
  });
});
