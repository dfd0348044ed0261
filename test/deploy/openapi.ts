/**
 * Validates Kubernetes objects against the API server's own OpenAPI v3
 * schemas (the `api/openapi-spec/v3` files of the k8s.io/kubernetes module)
 * and against CRD `openAPIV3Schema`s (PodMonitor, ServiceMonitor), the way the
 * API server's strict field validation does: unknown fields, wrong types,
 * missing required fields, enums, number formats, string and list bounds, and
 * duplicate keys in `x-kubernetes-list-type: map|set` lists.
 *
 * Not checked: CEL rules (`x-kubernetes-validations`) and semantic validation
 * that lives in Go code rather than in the schema.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface Schema {
  $ref?: string;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  type?: string;
  format?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-group-version-kind'?: Array<{ group: string; version: string; kind: string }>;
}

/** `apps/v1/DaemonSet`, `v1/Service` (core group has no prefix). */
function gvkKey(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

const REF_PREFIX = '#/components/schemas/';

export class SchemaSet {
  private readonly named = new Map<string, Schema>();
  private readonly byKind = new Map<string, Schema>();

  /** Loads every `*_openapi.json` file of a Kubernetes `api/openapi-spec/v3` directory. */
  static fromKubernetesSpecDir(dir: string): SchemaSet {
    const set = new SchemaSet();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('_openapi.json'))) {
      const doc = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
        components?: { schemas?: Record<string, Schema> };
      };
      for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
        set.named.set(name, schema);
        for (const gvk of schema['x-kubernetes-group-version-kind'] ?? []) {
          const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
          set.byKind.set(gvkKey(apiVersion, gvk.kind), schema);
        }
      }
    }
    if (set.byKind.size === 0) throw new Error(`no Kubernetes OpenAPI v3 schemas in ${dir}`);
    return set;
  }

  /** Adds the served versions of every CustomResourceDefinition in a YAML file. */
  addCrdFile(file: string): void {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const crd = doc.toJS() as {
        kind?: string;
        spec?: {
          group: string;
          names: { kind: string };
          versions: Array<{ name: string; served: boolean; schema?: { openAPIV3Schema: Schema } }>;
        };
      } | null;
      if (crd?.kind !== 'CustomResourceDefinition' || crd.spec === undefined) continue;
      for (const v of crd.spec.versions) {
        if (!v.served || v.schema === undefined) continue;
        // Every object has apiVersion, kind and ObjectMeta, whatever the CRD's schema says of them.
        const root: Schema = {
          ...v.schema.openAPIV3Schema,
          properties: {
            ...v.schema.openAPIV3Schema.properties,
            metadata: { $ref: `${REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta` },
          },
        };
        this.byKind.set(gvkKey(`${crd.spec.group}/${v.name}`, crd.spec.names.kind), root);
      }
    }
  }

  /** Every problem with one object, each as `path: message`; empty when valid. */
  validate(object: unknown): string[] {
    if (!isRecord(object)) return ['<root>: not an object'];
    const { apiVersion, kind } = object;
    if (typeof apiVersion !== 'string' || typeof kind !== 'string')
      return ['<root>: apiVersion and kind are required'];
    const schema = this.byKind.get(gvkKey(apiVersion, kind));
    if (schema === undefined) return [`<root>: no schema for ${apiVersion} ${kind}`];
    const errors: string[] = [];
    this.check(schema, object, '', errors);
    return errors;
  }

  private resolve(schema: Schema): Schema {
    if (schema.$ref === undefined) return schema;
    if (!schema.$ref.startsWith(REF_PREFIX)) throw new Error(`unsupported $ref ${schema.$ref}`);
    const target = this.named.get(schema.$ref.slice(REF_PREFIX.length));
    if (target === undefined) throw new Error(`dangling $ref ${schema.$ref}`);
    return target;
  }

  private check(raw: Schema, value: unknown, path: string, errors: string[]): void {
    const schema = this.resolve(raw);
    const at = path === '' ? '<root>' : path;
    for (const part of schema.allOf ?? []) this.check(part, value, path, errors);
    if (value === null) {
      if (schema.nullable !== true) errors.push(`${at}: null is not allowed`);
      return;
    }
    const alternatives = schema.oneOf ?? schema.anyOf;
    if (alternatives !== undefined) {
      const passes = alternatives.filter((alt) => {
        const sub: string[] = [];
        this.check(alt, value, path, sub);
        return sub.length === 0;
      });
      if (passes.length === 0) errors.push(`${at}: ${describe(value)} matches none of the allowed forms`);
    }
    if (schema['x-kubernetes-int-or-string'] === true) {
      if (!(typeof value === 'string' || Number.isInteger(value))) {
        errors.push(`${at}: expected an integer or a string, got ${describe(value)}`);
      }
      return;
    }
    if (schema.enum !== undefined && !schema.enum.some((e) => e === value)) {
      errors.push(
        `${at}: ${JSON.stringify(value)} is not one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`,
      );
    }
    switch (schema.type) {
      case undefined:
        break;
      case 'object':
        this.checkObject(schema, value, path, errors);
        break;
      case 'array':
        this.checkArray(schema, value, path, errors);
        break;
      case 'string':
        if (typeof value !== 'string') errors.push(`${at}: expected a string, got ${describe(value)}`);
        else checkString(schema, value, at, errors);
        break;
      case 'integer':
        if (!Number.isInteger(value)) errors.push(`${at}: expected an integer, got ${describe(value)}`);
        else checkNumber(schema, value as number, at, errors);
        break;
      case 'number':
        if (typeof value !== 'number') errors.push(`${at}: expected a number, got ${describe(value)}`);
        else checkNumber(schema, value, at, errors);
        break;
      case 'boolean':
        if (typeof value !== 'boolean') errors.push(`${at}: expected a boolean, got ${describe(value)}`);
        break;
      default:
        throw new Error(`unsupported schema type ${schema.type} at ${at}`);
    }
  }

  private checkObject(schema: Schema, value: unknown, path: string, errors: string[]): void {
    const at = path === '' ? '<root>' : path;
    if (!isRecord(value)) {
      errors.push(`${at}: expected an object, got ${describe(value)}`);
      return;
    }
    for (const key of schema.required ?? []) {
      if (!(key in value)) errors.push(`${at}: missing required field "${key}"`);
    }
    const embedded = schema['x-kubernetes-embedded-resource'] === true;
    for (const [key, child] of Object.entries(value)) {
      const childPath = path === '' ? key : `${path}.${key}`;
      const known = schema.properties?.[key];
      if (known !== undefined) this.check(known, child, childPath, errors);
      else if (typeof schema.additionalProperties === 'object') {
        this.check(schema.additionalProperties, child, childPath, errors);
      } else if (
        schema['x-kubernetes-preserve-unknown-fields'] !== true &&
        schema.additionalProperties !== true &&
        !(embedded && (key === 'apiVersion' || key === 'kind' || key === 'metadata'))
      ) {
        errors.push(`${childPath}: unknown field`);
      }
    }
  }

  private checkArray(schema: Schema, value: unknown, path: string, errors: string[]): void {
    if (!Array.isArray(value)) {
      errors.push(`${path}: expected a list, got ${describe(value)}`);
      return;
    }
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      errors.push(`${path}: at least ${schema.minItems} items required, got ${value.length}`);
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      errors.push(`${path}: at most ${schema.maxItems} items allowed, got ${value.length}`);
    }
    value.forEach((item, i) => {
      if (schema.items !== undefined) this.check(schema.items, item, `${path}[${i}]`, errors);
    });
    const listType = schema['x-kubernetes-list-type'];
    if (listType === 'map' || listType === 'set') {
      const keys = schema['x-kubernetes-list-map-keys'];
      const seen = new Set<string>();
      for (const item of value) {
        const id =
          listType === 'map' && keys !== undefined && isRecord(item)
            ? JSON.stringify(keys.map((k) => item[k] ?? null))
            : JSON.stringify(item);
        if (seen.has(id)) errors.push(`${path}: duplicate entry ${id}`);
        seen.add(id);
      }
    }
  }
}

function checkString(schema: Schema, value: string, at: string, errors: string[]): void {
  if (schema.minLength !== undefined && value.length < schema.minLength) {
    errors.push(`${at}: shorter than ${schema.minLength} characters`);
  }
  if (schema.maxLength !== undefined && value.length > schema.maxLength) {
    errors.push(`${at}: longer than ${schema.maxLength} characters`);
  }
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
    errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
}

function checkNumber(schema: Schema, value: number, at: string, errors: string[]): void {
  if (schema.format === 'int32' && (value < -(2 ** 31) || value >= 2 ** 31)) {
    errors.push(`${at}: ${value} does not fit in int32`);
  }
  if (schema.minimum !== undefined && value < schema.minimum)
    errors.push(`${at}: ${value} < ${schema.minimum}`);
  if (schema.maximum !== undefined && value > schema.maximum)
    errors.push(`${at}: ${value} > ${schema.maximum}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `${typeof v} ${JSON.stringify(v)?.slice(0, 40) ?? ''}`;
}
