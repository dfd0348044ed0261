/**
 * Declarative config schemas. Every factory describes its config with one; the
 * loader validates user YAML against it (reporting every problem with its path
 * and file position), merges defaults under user values, and `loggerhead
 * components` prints it.
 *
 * Validated values: `duration` fields become milliseconds (number); `bytes`
 * fields become a number of bytes; everything else keeps its YAML type. Keys
 * keep their YAML spelling (snake_case).
 */

interface FieldBase {
  /** One line for docs and `loggerhead components`. */
  description: string;
}

export interface StringField extends FieldBase {
  type: 'string';
  default?: string;
  /** Allowed values. */
  enum?: readonly string[];
  /** Must match (whole string). */
  pattern?: RegExp;
  /** Human description of the pattern for error messages, e.g. `host:port`. */
  patternName?: string;
}

export interface IntegerField extends FieldBase {
  type: 'integer';
  default?: number;
  min?: number;
  max?: number;
}

export interface NumberField extends FieldBase {
  type: 'number';
  default?: number;
  min?: number;
  max?: number;
}

export interface BooleanField extends FieldBase {
  type: 'boolean';
  default?: boolean;
}

/** A duration written as a string (`500ms`, `5s`, `1m30s`, `2h`); validated to milliseconds. */
export interface DurationField extends FieldBase {
  type: 'duration';
  /** Default as written in YAML, e.g. `5s`. */
  default?: string;
  /** Minimum in milliseconds. */
  minMs?: number;
  maxMs?: number;
}

/** A size written as `64KiB`, `16MiB`, or a plain integer of bytes; validated to bytes. */
export interface BytesField extends FieldBase {
  type: 'bytes';
  default?: string | number;
  min?: number;
  max?: number;
}

export interface ListField extends FieldBase {
  type: 'list';
  items: FieldSchema;
  default?: readonly unknown[];
}

/** A map with free keys and values of one schema (headers, CIDR names...). */
export interface MapField extends FieldBase {
  type: 'map';
  values: FieldSchema;
  default?: Readonly<Record<string, unknown>>;
}

/** An object with known keys; unknown keys are errors. */
export interface ObjectSchema extends FieldBase {
  type: 'object';
  fields: Readonly<Record<string, FieldSchema>>;
  /** Keys that must be present after defaults are merged. */
  required?: readonly string[];
}

export type FieldSchema =
  | StringField
  | IntegerField
  | NumberField
  | BooleanField
  | DurationField
  | BytesField
  | ListField
  | MapField
  | ObjectSchema;
