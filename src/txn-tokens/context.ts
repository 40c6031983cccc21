/**
 * `request_details` and `request_context` (the draft's Txn-Token Request parameters): untrusted JSON
 * objects, parsed with bounds, and the members a requester is allowed to set copied into `tctx` /
 * `rctx`. authjwt is authoritative for both claims: a member the requester may not set is refused,
 * never silently dropped, so that a misconfigured requester learns it at once.
 */
import { isDeepStrictEqual } from 'node:util';
import { authJwtError } from '../errors.ts';

/** Characters of one parameter. */
const MAX_PARAMETER_LENGTH = 8 * 1024;
/** Nesting depth of a member's value. */
const MAX_DEPTH = 8;
/** Members (at any depth) of one parameter. */
const MAX_NODES = 256;
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export type JsonObject = Record<string, unknown>;

/** Parses one parameter into a null-prototype object; throws `TXN_CONTEXT_MALFORMED` (naming the parameter in `detail`). */
export function parseContextParameter(text: string, parameter: 'request_details' | 'request_context'): JsonObject {
  const fail = (why: string) => authJwtError('TXN_CONTEXT_MALFORMED', { detail: `${parameter}: ${why}`, metadata: { parameter } });
  if (text.length > MAX_PARAMETER_LENGTH) throw fail('too long');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw fail('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('not a JSON object');
  let nodes = 0;
  const copy = (v: unknown, depth: number): unknown => {
    if (++nodes > MAX_NODES) throw fail('too many members');
    if (depth > MAX_DEPTH) throw fail('nested too deeply');
    if (Array.isArray(v)) return v.map((item) => copy(item, depth + 1));
    if (typeof v === 'object' && v !== null) {
      const out: JsonObject = Object.create(null);
      for (const [key, member] of Object.entries(v)) {
        if (FORBIDDEN_KEYS.has(key)) throw fail('reserved member name');
        out[key] = copy(member, depth + 1);
      }
      return out;
    }
    return v;
  };
  return copy(value, 0) as JsonObject;
}

/**
 * The members of `source` the requester may set, copied onto `base` (a copy). A member outside
 * `allowed` is refused (`TXN_CONTEXT_NOT_ALLOWED`); a member `base` already has must keep its value
 * exactly (`TXN_CONTEXT_MODIFIED`): asserted values are never modified, whoever asks.
 */
export function mergeAllowedMembers(
  base: Readonly<JsonObject>,
  source: Readonly<JsonObject> | undefined,
  allowed: ReadonlySet<string>,
  claim: 'tctx' | 'rctx',
): JsonObject {
  const out: JsonObject = Object.assign(Object.create(null), base);
  if (!source) return out;
  for (const [key, value] of Object.entries(source)) {
    if (!allowed.has(key)) throw authJwtError('TXN_CONTEXT_NOT_ALLOWED', { detail: `${claim}.${key.slice(0, 64)}`, metadata: { claim } });
    if (Object.hasOwn(out, key)) {
      if (!isDeepStrictEqual(plain(out[key]), plain(value)))
        throw authJwtError('TXN_CONTEXT_MODIFIED', { detail: `${claim}.${key.slice(0, 64)}`, metadata: { claim } });
      continue;
    }
    out[key] = value;
  }
  return out;
}

/** Whether `narrower` keeps every member of `wider` unchanged (it may add members). */
export function keepsMembers(wider: Readonly<JsonObject>, narrower: Readonly<JsonObject>): boolean {
  return Object.entries(wider).every(([k, v]) => Object.hasOwn(narrower, k) && isDeepStrictEqual(plain(narrower[k]), plain(v)));
}

/** A JSON value with ordinary prototypes (null-prototype objects compare unequal to parsed ones otherwise). */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
