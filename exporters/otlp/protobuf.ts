/**
 * A minimal protobuf writer for OTLP requests: varints, fixed 64-bit values and
 * length-delimited fields, written into a buffer whose size was computed first
 * (no copies, no growth).
 */

/** Wire types. */
export const VARINT = 0;
export const FIXED64 = 1;
export const LEN = 2;

/** Bytes a varint of `value` (a non-negative integer below 2^53) takes. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Bytes of a length-delimited field with a one-byte tag holding `length` bytes. */
export function lenFieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

const TWO_32 = 4294967296;

/** Writes into a preallocated buffer. */
export class Writer {
  readonly buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** A one-byte tag (field numbers 1..15). */
  tag(field: number, wireType: number): void {
    this.buf[this.pos++] = (field << 3) | wireType;
  }

  varint(value: number): void {
    while (value >= 128) {
      this.buf[this.pos++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
  }

  /** A non-negative integer below 2^53 as a little-endian 64-bit value (fixed64 / sfixed64). */
  uint64(value: number): void {
    this.buf.writeUInt32LE(value % TWO_32, this.pos);
    this.buf.writeUInt32LE(Math.floor(value / TWO_32), this.pos + 4);
    this.pos += 8;
  }

  double(value: number): void {
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** Exactly 8 bytes (a fixed64 already encoded); cheaper than `set` for so few. */
  bytes8(value: Uint8Array): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = value[0]!;
    b[p + 1] = value[1]!;
    b[p + 2] = value[2]!;
    b[p + 3] = value[3]!;
    b[p + 4] = value[4]!;
    b[p + 5] = value[5]!;
    b[p + 6] = value[6]!;
    b[p + 7] = value[7]!;
    this.pos = p + 8;
  }

  bytes(value: Uint8Array): void {
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** A length-delimited field from bytes already encoded. */
  lenField(field: number, value: Uint8Array): void {
    this.tag(field, LEN);
    this.varint(value.length);
    this.bytes(value);
  }

  /** Checks the size computed beforehand was exact. */
  finish(): Buffer {
    if (this.pos !== this.buf.length) {
      throw new Error(`protobuf writer: wrote ${this.pos} bytes into a buffer of ${this.buf.length}`);
    }
    return this.buf;
  }
}

/**
 * Small messages built by concatenation, for the parts encoded once (resource,
 * scope, attribute sets) or rarely (self-telemetry).
 */
export function stringField(field: number, value: string): Buffer {
  return lenFieldBytes(field, Buffer.from(value, 'utf8'));
}

export function lenFieldBytes(field: number, value: Uint8Array): Buffer {
  const w = new Writer(lenFieldSize(value.length));
  w.lenField(field, value);
  return w.finish();
}

export function varintField(field: number, value: number): Buffer {
  const w = new Writer(1 + varintSize(value));
  w.tag(field, VARINT);
  w.varint(value);
  return w.finish();
}

export function fixed64Field(field: number, bytes8: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = (field << 3) | FIXED64;
  out.set(bytes8, 1);
  return out;
}

export function doubleField(field: number, value: number): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = (field << 3) | FIXED64;
  out.writeDoubleLE(value, 1);
  return out;
}

/** Milliseconds since the epoch as the 8 little-endian bytes of nanoseconds since the epoch. */
export function msToNanosBytes(ms: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64LE(BigInt(Math.round(ms * 1000)) * 1000n);
  return out;
}

/** Reads fields of one message: calls `onField` with each field's number, wire type and value. */
export function readFields(
  data: Uint8Array,
  onField: (field: number, wireType: number, value: number | Uint8Array) => void,
): void {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (pos >= data.length) throw new Error('protobuf: truncated varint');
      const b = data[pos++] as number;
      result += (b & 127) * scale;
      if (b < 128) return result;
      scale *= 128;
    }
  };
  while (pos < data.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (wireType === VARINT) onField(field, wireType, varint());
    else if (wireType === LEN) {
      const length = varint();
      if (pos + length > data.length) throw new Error('protobuf: truncated field');
      onField(field, wireType, data.subarray(pos, pos + length));
      pos += length;
    } else if (wireType === FIXED64) pos += 8;
    else if (wireType === 5) pos += 4;
    else throw new Error(`protobuf: unsupported wire type ${wireType}`);
  }
}

/** What an ExportMetricsServiceResponse says about points the backend refused. */
export interface PartialSuccess {
  rejectedDataPoints: number;
  errorMessage: string;
}

/** Decodes ExportMetricsServiceResponse.partial_success (field 1: rejected_data_points = 1, error_message = 2). */
export function readPartialSuccess(response: Uint8Array): PartialSuccess {
  const out: PartialSuccess = { rejectedDataPoints: 0, errorMessage: '' };
  readFields(response, (field, wireType, value) => {
    if (field !== 1 || wireType !== LEN || typeof value === 'number') return;
    readFields(value, (f, w, v) => {
      if (f === 1 && w === VARINT && typeof v === 'number') out.rejectedDataPoints = v;
      if (f === 2 && w === LEN && typeof v !== 'number') out.errorMessage = Buffer.from(v).toString('utf8');
    });
  });
  return out;
}
