/**
 * Values crossing the policy boundary: untrusted provider JSON converted into CEL values on the way in
 * (CEL results are sanitized on the way out by the exchange's `sanitizeClaimValue`, src/exchange/claims.ts).
 */

/** Bounds applied to provider data before it reaches CEL. */
export interface InputLimits {
  /** Items in one list, and entries in one object. */
  readonly maxListItems: number;
  /** Characters (UTF-16 code units) in one string. */
  readonly maxStringLength: number;
  /** Nesting depth of objects and lists. */
  readonly maxDepth: number;
  /** Values converted for one evaluation, all keys together. */
  readonly maxNodes: number;
}

/**
 * Thrown while converting input; `kind` is what an evaluation reports as its `detail`:
 * `input_limit` (a list, string, depth or size bound was exceeded) or `input_invalid` (not JSON data).
 */
export class InputError extends Error {
  readonly kind: 'input_limit' | 'input_invalid';
  constructor(kind: 'input_limit' | 'input_invalid') {
    super(kind);
    this.kind = kind;
  }
}

/**
 * Converts JSON data into CEL values: objects become `Map`s (so `__proto__`, `constructor` and the like are
 * plain keys, and no object prototype is ever consulted), arrays are copied, numbers stay doubles as in CEL's
 * JSON mapping. Anything that is not JSON data (bigint, NaN, ±Infinity, functions, class instances, an
 * object's accessor property — refused, never run —, a sparse array) fails the conversion; an object key whose
 * value is `undefined` is skipped, as JSON.stringify would.
 */
export class JsonToCel {
  readonly #limits: InputLimits;
  #nodes = 0;

  constructor(limits: InputLimits) {
    this.#limits = limits;
  }

  /** The `claims` variable: all keys, or only those the policy's expressions name. */
  claims(source: unknown, keys: ReadonlySet<string> | 'all'): Map<string, unknown> {
    if (!isPlainObject(source)) throw new InputError('input_invalid');
    const names = keys === 'all' ? Object.keys(source) : keys;
    if (keys === 'all' && (names as string[]).length > this.#limits.maxListItems) throw new InputError('input_limit');
    const out = new Map<string, unknown>();
    for (const key of names) {
      if (!Object.hasOwn(source, key)) continue;
      const value = ownValue(source, key);
      if (value !== undefined) out.set(key, this.value(value, 1));
    }
    return out;
  }

  /** A provider lookup (GitHub orgs, GitLab groups...): a list of strings. */
  stringList(source: unknown): string[] {
    if (!Array.isArray(source)) throw new InputError('input_invalid');
    if (source.length > this.#limits.maxListItems) throw new InputError('input_limit');
    const out: string[] = [];
    for (let i = 0; i < source.length; i++) {
      const item: unknown = source[i];
      if (typeof item !== 'string') throw new InputError('input_invalid');
      out.push(this.#string(item));
    }
    this.#count(out.length);
    return out;
  }

  /** A short identifier string (account provider and id). */
  string(source: unknown): string {
    if (typeof source !== 'string') throw new InputError('input_invalid');
    return this.#string(source);
  }

  value(value: unknown, depth: number): unknown {
    this.#count(1);
    switch (typeof value) {
      case 'string':
        return this.#string(value);
      case 'boolean':
        return value;
      case 'number':
        if (!Number.isFinite(value)) throw new InputError('input_invalid');
        return value;
      case 'object':
        break;
      default:
        throw new InputError('input_invalid');
    }
    if (value === null) return null;
    if (depth >= this.#limits.maxDepth) throw new InputError('input_limit');
    if (Array.isArray(value)) {
      if (value.length > this.#limits.maxListItems) throw new InputError('input_limit');
      const out: unknown[] = [];
      for (let i = 0; i < value.length; i++) {
        // A hole would read through to Array.prototype.
        if (!Object.hasOwn(value, i)) throw new InputError('input_invalid');
        out.push(this.value(value[i], depth + 1));
      }
      return out;
    }
    if (!isPlainObject(value)) throw new InputError('input_invalid');
    const keys = Object.keys(value);
    if (keys.length > this.#limits.maxListItems) throw new InputError('input_limit');
    const out = new Map<string, unknown>();
    for (const key of keys) {
      const item = ownValue(value, key);
      if (item !== undefined) out.set(key, this.value(item, depth + 1));
    }
    return out;
  }

  #string(value: string): string {
    if (value.length > this.#limits.maxStringLength) throw new InputError('input_limit');
    return value;
  }

  #count(n: number): void {
    this.#nodes += n;
    if (this.#nodes > this.#limits.maxNodes) throw new InputError('input_limit');
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** An own data property's value; accessors (getters) are refused rather than run. */
function ownValue(source: object, key: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(source, key);
  if (descriptor === undefined) return undefined;
  if (!('value' in descriptor)) throw new InputError('input_invalid');
  return descriptor.value;
}
