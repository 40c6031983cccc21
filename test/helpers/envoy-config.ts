/**
 * Structural validation of an Envoy configuration against Envoy's own API protos (the data-plane API
 * that @grpc/grpc-js-xds ships under deps/, the same files authjwt's ext_authz service is built from),
 * since no Envoy binary can be installed here (`envoy --mode validate` is the real check).
 *
 * What it checks, recursively from `envoy.config.bootstrap.v3.Bootstrap`: every field exists (proto
 * or JSON name), has the right shape (message, list, map, enum value, scalar, Duration), oneofs hold one
 * member (and one when `(validate.required)`), `(validate.rules)` message.required / string.min_len /
 * repeated.min_items / enum.defined_only hold, `google.protobuf.Any` names a type (`@type`) whose
 * package is loaded on demand and validated in turn, and no deprecated field is used. What it does not
 * check: cross-references (a route naming a cluster), which the tests check themselves.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { ENVOY_PROTO_INCLUDE_DIRS } from '../../src/grpc/proto.ts';

const ANY_PREFIX = 'type.googleapis.com/';

function findProto(target: string): string | undefined {
  for (const dir of ENVOY_PROTO_INCLUDE_DIRS) {
    const file = join(dir, target);
    if (existsSync(file)) return file;
  }
  return undefined;
}

export class EnvoyConfigValidator {
  readonly #root = new protobuf.Root();
  readonly #loadedDirs = new Set<string>();

  constructor() {
    this.#root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : (findProto(target) ?? target));
    this.#load('envoy/config/bootstrap/v3/bootstrap.proto');
  }

  #load(...files: string[]): void {
    this.#root.loadSync(files, { keepCase: true });
    this.#root.resolveAll();
  }

  /** Loads every .proto of the package directory a type lives in (e.g. an Any's `@type`). */
  #type(fullName: string): protobuf.Type | undefined {
    const lookup = () => {
      try {
        return this.#root.lookupType(fullName);
      } catch {
        return undefined;
      }
    };
    const found = lookup();
    if (found) return found;
    const dir = fullName.split('.').slice(0, -1).join('/');
    if (this.#loadedDirs.has(dir)) return undefined;
    this.#loadedDirs.add(dir);
    for (const base of ENVOY_PROTO_INCLUDE_DIRS) {
      if (!existsSync(join(base, dir))) continue;
      const files = readdirSync(join(base, dir)).filter((f) => f.endsWith('.proto'));
      if (files.length) this.#load(...files.map((f) => `${dir}/${f}`));
    }
    return lookup();
  }

  /** Issues (path: problem) of `value` as a `typeName` message; empty when valid. */
  validate(value: unknown, typeName = 'envoy.config.bootstrap.v3.Bootstrap'): string[] {
    const issues: string[] = [];
    const type = this.#type(typeName);
    if (!type) return [`(root): unknown type ${typeName}`];
    this.#message(type, value, '', issues);
    return issues;
  }

  #message(type: protobuf.Type, value: unknown, path: string, issues: string[]): void {
    const at = path || '(root)';
    switch (type.fullName) {
      case '.google.protobuf.Duration':
        if (typeof value !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(value)) issues.push(`${at}: a Duration is a string like "1.5s"`);
        return;
      case '.google.protobuf.Timestamp':
      case '.google.protobuf.FieldMask':
        if (typeof value !== 'string') issues.push(`${at}: expected a string`);
        return;
      case '.google.protobuf.Struct':
        if (!isObject(value)) issues.push(`${at}: expected an object`);
        return;
      case '.google.protobuf.Value':
        return;
      case '.google.protobuf.ListValue':
        if (!Array.isArray(value)) issues.push(`${at}: expected a list`);
        return;
      case '.google.protobuf.BoolValue':
        if (typeof value !== 'boolean') issues.push(`${at}: expected a boolean`);
        return;
      case '.google.protobuf.StringValue':
      case '.google.protobuf.BytesValue':
        if (typeof value !== 'string') issues.push(`${at}: expected a string`);
        return;
      case '.google.protobuf.UInt32Value':
      case '.google.protobuf.UInt64Value':
      case '.google.protobuf.Int32Value':
      case '.google.protobuf.Int64Value':
      case '.google.protobuf.DoubleValue':
      case '.google.protobuf.FloatValue':
        if (typeof value !== 'number' && !(typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)))
          issues.push(`${at}: expected a number`);
        return;
      case '.google.protobuf.Any': {
        if (!isObject(value) || typeof value['@type'] !== 'string' || !value['@type'].startsWith(ANY_PREFIX)) {
          issues.push(`${at}: an Any needs "@type": "${ANY_PREFIX}<message>"`);
          return;
        }
        const inner = this.#type(value['@type'].slice(ANY_PREFIX.length));
        if (!inner) {
          issues.push(`${at}: unknown @type ${value['@type']}`);
          return;
        }
        const { '@type': _, ...rest } = value;
        this.#message(inner, rest, path, issues);
        return;
      }
    }
    if (!isObject(value)) {
      issues.push(`${at}: expected a ${type.name} object`);
      return;
    }
    const byName = new Map<string, protobuf.Field>();
    for (const field of type.fieldsArray) {
      byName.set(field.name, field);
      byName.set(camel(field.name), field);
    }
    const seen = new Set<protobuf.Field>();
    for (const [key, v] of Object.entries(value)) {
      const field = byName.get(key);
      const fieldPath = path ? `${path}.${key}` : key;
      if (!field) {
        issues.push(`${fieldPath}: no such field in ${type.fullName.slice(1)}`);
        continue;
      }
      seen.add(field);
      if (field.options?.deprecated) issues.push(`${fieldPath}: deprecated field`);
      this.#field(field, v, fieldPath, issues);
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => seen.has(f));
      if (set.length > 1) issues.push(`${at}: ${set.map((f) => f.name).join(' and ')} are alternatives (oneof ${oneof.name})`);
      if (set.length === 0 && oneof.options?.['(validate.required)'])
        issues.push(`${at}: one of ${oneof.fieldsArray.map((f) => f.name).join(', ')} is required`);
    }
    for (const field of type.fieldsArray) {
      // Inside a oneof, "required" applies to the member when it is the one chosen.
      if (!seen.has(field) && !field.partOf && field.options?.['(validate.rules).message.required'])
        issues.push(`${path ? `${path}.` : ''}${field.name}: required`);
    }
  }

  #field(field: protobuf.Field, value: unknown, path: string, issues: string[]): void {
    const options = field.options ?? {};
    if (field instanceof protobuf.MapField) {
      if (!isObject(value)) {
        issues.push(`${path}: expected a map`);
        return;
      }
      for (const [k, v] of Object.entries(value)) this.#single(field, v, `${path}.${k}`, issues);
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        issues.push(`${path}: expected a list`);
        return;
      }
      const min = options['(validate.rules).repeated.min_items'];
      if (typeof min === 'number' && value.length < min) issues.push(`${path}: at least ${min} item(s)`);
      value.forEach((v, i) => {
        this.#single(field, v, `${path}[${i}]`, issues);
      });
      return;
    }
    this.#single(field, value, path, issues);
  }

  #single(field: protobuf.Field, value: unknown, path: string, issues: string[]): void {
    const options = field.options ?? {};
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      this.#message(resolved, value, path, issues);
      return;
    }
    if (resolved instanceof protobuf.Enum) {
      const ok = typeof value === 'string' ? value in resolved.values : typeof value === 'number' && Number.isInteger(value);
      if (!ok) issues.push(`${path}: not a value of ${resolved.fullName.slice(1)} (${Object.keys(resolved.values).join(', ')})`);
      else if (
        options['(validate.rules).enum.defined_only'] &&
        typeof value === 'number' &&
        !Object.values(resolved.values).includes(value)
      )
        issues.push(`${path}: undefined enum number`);
      return;
    }
    switch (field.type) {
      case 'string':
      case 'bytes': {
        if (typeof value !== 'string') {
          issues.push(`${path}: expected a string`);
          return;
        }
        const min = options['(validate.rules).string.min_len'];
        if (typeof min === 'number' && value.length < min) issues.push(`${path}: at least ${min} character(s)`);
        return;
      }
      case 'bool':
        if (typeof value !== 'boolean') issues.push(`${path}: expected a boolean`);
        return;
      case 'double':
      case 'float':
        if (typeof value !== 'number') issues.push(`${path}: expected a number`);
        return;
      default:
        // (u)int32/64, (s)fixed: a JSON number or a decimal string
        if (!(typeof value === 'number' && Number.isInteger(value)) && !(typeof value === 'string' && /^-?\d+$/.test(value)))
          issues.push(`${path}: expected an integer`);
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
