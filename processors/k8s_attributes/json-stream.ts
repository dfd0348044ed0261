/**
 * An incremental parser for the answer of a Kubernetes list: a JSON object
 * whose `items` member is an array. The answer arrives in chunks of bytes;
 * each element of `items` is handed over as soon as its last byte has
 * arrived, parsed on its own (`JSON.parse` of its text), and every other
 * member is kept, parsed. A page of 500 pods (about 1.5 MB) thus never exists
 * as one string or one tree: at most one item's text and object are alive,
 * plus the chunk being read.
 *
 * The scan is over bytes. In UTF-8, the bytes JSON structure is made of
 * (`"`, `\`, brackets, `,`, `:`, whitespace) never occur inside a multi-byte
 * sequence, so a chunk may end anywhere: inside a string, an escape or a
 * character. Every byte is checked: the structure of the outer object and of
 * the `items` array here, the text of each member and item by `JSON.parse`.
 * Text is decoded as `Response.text()` decodes it (UTF-8, invalid sequences
 * replaced, a leading byte order mark dropped).
 *
 * Unlike `JSON.parse`, a second `items` member is an error (the first one's
 * items have been handed over already); for other members the last one wins,
 * as with `JSON.parse`.
 *
 * @example
 * const parser = new JsonListParser((item) => console.log(item));
 * for await (const chunk of response.body) parser.write(chunk);
 * const { members, items } = parser.end(); // members.get('metadata'), items = how many
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const BOM = [0xef, 0xbb, 0xbf] as const;

/** Where the parser is. `IN_*` states collect the text of one value. */
const BEFORE_OBJECT = 0;
const FIRST_KEY = 1;
const KEY = 2;
const IN_KEY = 3;
const BEFORE_COLON = 4;
const MEMBER = 5;
const IN_MEMBER = 6;
const AFTER_MEMBER = 7;
const FIRST_ITEM = 8;
const ITEM = 9;
const IN_ITEM = 10;
const AFTER_ITEM = 11;
const DONE = 12;

const WHERE: readonly string[] = [
  'before the object',
  'after the opening brace',
  'where a member name was expected',
  'inside a member name',
  "where ':' was expected",
  'where a member value was expected',
  'inside a member value',
  "where ',' or '}' was expected",
  'after the opening bracket of items',
  'where an item was expected',
  'inside an item',
  "where ',' or ']' of items was expected",
  'after the end of the object',
];

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** A byte for error messages: the character when printable ASCII, else its hex value. */
function shown(c: number): string {
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/** What the parsed answer held besides its items. */
export interface ParsedList {
  /** Every member of the object but an array `items`, parsed (last one wins). */
  members: Map<string, unknown>;
  /** How many items were handed over; `undefined` when there was no `items` array. */
  items: number | undefined;
  /** Bytes of the answer read. */
  bytes: number;
}

export class JsonListParser {
  private readonly onItem: (item: unknown, index: number) => void;
  private state = BEFORE_OBJECT;
  /** Bytes consumed before the current chunk, for positions in errors. */
  private offset = 0;
  /** Of the value being collected: its parts from earlier chunks. */
  private parts: Uint8Array[] = [];
  /** Open brackets and braces of the value being collected. */
  private depth = 0;
  private inString = false;
  /** The previous chunk ended on the backslash of an escape, inside a string. */
  private escaped = false;
  /** The value being collected is a number or literal: it ends before a delimiter. */
  private scalar = false;
  private key = '';
  /** Bytes of a leading byte order mark seen so far. */
  private bomBytes = 0;
  private itemCount: number | undefined;
  private readonly members = new Map<string, unknown>();

  /** `onItem` gets each parsed element of `items` (and its index); what it throws ends the parse. */
  constructor(onItem: (item: unknown, index: number) => void) {
    this.onItem = onItem;
  }

  /** Parses the next chunk of the answer; throws on the first byte that breaks the expected shape. */
  write(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case IN_KEY:
        case IN_MEMBER:
        case IN_ITEM: {
          const start = i;
          const end = this.scan(chunk, i);
          if (end < 0) {
            this.parts.push(chunk.subarray(start, n));
            i = n;
          } else {
            this.complete(chunk.subarray(start, end), end);
            i = end;
          }
          break;
        }
        default: {
          const c = chunk[i] as number;
          if (
            this.state === BEFORE_OBJECT &&
            this.bomBytes < BOM.length &&
            this.offset + i === this.bomBytes
          ) {
            if (c === BOM[this.bomBytes]) {
              this.bomBytes++;
              i++;
              break;
            }
            if (this.bomBytes > 0) this.fail(c, i, 'the rest of a byte order mark');
          }
          if (isWhitespace(c)) i++;
          else if (this.structural(c, i)) i++;
        }
      }
    }
    this.offset += n;
  }

  /** Checks that the answer ended where it may: after the closing brace. */
  end(): ParsedList {
    if (this.state !== DONE) {
      throw new Error(`the answer ends ${WHERE[this.state] ?? ''} (truncated after ${this.offset} bytes)`);
    }
    return { members: this.members, items: this.itemCount, bytes: this.offset };
  }

  /**
   * A byte outside any collected value: the outer object's and the items
   * array's structure. False when the byte starts a value to collect (it is
   * scanned as part of it), true when it was consumed here.
   */
  private structural(c: number, i: number): boolean {
    switch (this.state) {
      case BEFORE_OBJECT:
        if (c !== OPEN_BRACE) this.fail(c, i, "'{'");
        this.state = FIRST_KEY;
        return true;
      case FIRST_KEY:
        if (c === CLOSE_BRACE) {
          this.state = DONE;
          return true;
        }
        if (c !== QUOTE) this.fail(c, i, "a member name or '}'");
        return this.begin(c, IN_KEY);
      case KEY:
        if (c !== QUOTE) this.fail(c, i, 'a member name');
        return this.begin(c, IN_KEY);
      case BEFORE_COLON:
        if (c !== COLON) this.fail(c, i, "':'");
        this.state = MEMBER;
        return true;
      case MEMBER:
        if (this.key !== 'items') return this.begin(c, IN_MEMBER);
        if (this.itemCount !== undefined) throw new Error(`a second items member at byte ${this.offset + i}`);
        if (c !== OPEN_BRACKET) return this.begin(c, IN_MEMBER);
        this.itemCount = 0;
        this.members.delete('items');
        this.state = FIRST_ITEM;
        return true;
      case AFTER_MEMBER:
        if (c === COMMA) this.state = KEY;
        else if (c === CLOSE_BRACE) this.state = DONE;
        else this.fail(c, i, "',' or '}'");
        return true;
      case FIRST_ITEM:
        if (c !== CLOSE_BRACKET) return this.begin(c, IN_ITEM);
        this.state = AFTER_MEMBER;
        return true;
      case ITEM:
        return this.begin(c, IN_ITEM);
      case AFTER_ITEM:
        if (c === COMMA) this.state = ITEM;
        else if (c === CLOSE_BRACKET) this.state = AFTER_MEMBER;
        else this.fail(c, i, "',' or ']'");
        return true;
      default:
        return this.fail(c, i, 'nothing');
    }
  }

  /** Starts collecting a value whose first byte is `c` (not consumed: it is scanned as part of the value). */
  private begin(c: number, state: number): false {
    this.state = state;
    this.parts = [];
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.scalar = c !== QUOTE && c !== OPEN_BRACE && c !== OPEN_BRACKET;
    return false;
  }

  /**
   * Scans the value being collected from `chunk[from]`: the index just past
   * its last byte, or -1 when it goes on past the chunk. A string ends at its
   * closing quote, an object or array at its closing bracket, a number or
   * literal before the next delimiter (whitespace, `,`, `}` or `]`).
   */
  private scan(chunk: Uint8Array, from: number): number {
    const n = chunk.length;
    let i = from;
    if (this.scalar) {
      for (; i < n; i++) {
        const c = chunk[i] as number;
        if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isWhitespace(c)) return i;
      }
      return -1;
    }
    let depth = this.depth;
    let inString = this.inString;
    if (this.escaped) {
      // The byte after a backslash that ended the previous chunk.
      this.escaped = false;
      i++;
    }
    // A byte at a time: faster here than indexOf, strings in Kubernetes objects being short.
    scan: for (;;) {
      if (inString) {
        for (;;) {
          if (i === n) break scan;
          const c = chunk[i++] as number;
          if (c === QUOTE) break;
          if (c === BACKSLASH) {
            if (i === n) {
              this.escaped = true;
              break scan;
            }
            i++;
          }
        }
        inString = false;
        if (depth === 0) return i;
      }
      for (;;) {
        if (i === n) break scan;
        const c = chunk[i++] as number;
        if (c === QUOTE) break;
        if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
        else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth <= 0) return i;
      }
      inString = true;
    }
    this.depth = depth;
    this.inString = inString;
    return -1;
  }

  /** The value being collected ended with `last` (its bytes in the current chunk), at chunk index `end`. */
  private complete(last: Uint8Array, end: number): void {
    const bytes = this.parts.length === 0 ? last : Buffer.concat([...this.parts, last]);
    this.parts = [];
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    const at = this.offset + end - bytes.byteLength;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      const what =
        this.state === IN_ITEM
          ? `item ${this.itemCount ?? 0}`
          : this.state === IN_KEY
            ? 'a member name'
            : `member ${this.key}`;
      throw new Error(`${what} at byte ${at} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    if (this.state === IN_KEY) {
      this.key = value as string;
      this.state = BEFORE_COLON;
    } else if (this.state === IN_MEMBER) {
      this.members.set(this.key, value);
      this.state = AFTER_MEMBER;
    } else {
      const index = this.itemCount ?? 0;
      this.itemCount = index + 1;
      this.state = AFTER_ITEM;
      this.onItem(value, index);
    }
  }

  private fail(c: number, i: number, expected: string): never {
    throw new Error(
      `${shown(c)} at byte ${this.offset + i} ${WHERE[this.state] ?? ''}: expected ${expected}`,
    );
  }
}
