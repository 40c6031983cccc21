/**
 * The claims of minted tokens, in one place: what every token carries (discovery's
 * `claims_supported` is built from it), which names configuration cannot set, and how values
 * copied from a provider are bounded.
 */

/** Claims every minted token carries (`client_id` when known); see {@link TokenExchange.mint}. */
export const MINTED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'provider', 'client_id'] as const;

/** Profile claims mapped by default (OIDC providers); listed in discovery. */
export const DEFAULT_PROFILE_CLAIMS = ['email', 'email_verified', 'name', 'preferred_username', 'groups'] as const;

/**
 * Names configuration cannot map or compute (claim paths and policy claims alike): the registered
 * claims (RFC 7519 §4.1), the ones authjwt sets itself, claims with a protocol meaning (RFC 9068
 * `scope`, RFC 7800 `cnf`, `typ`, RFC 8693 `act` and `may_act`: a computed `act` would forge a
 * delegation), and names that reach an object's prototype.
 */
export const RESERVED_CLAIM_NAMES: ReadonlySet<string> = new Set([
  ...MINTED_CLAIMS,
  'scope',
  'cnf',
  'typ',
  'act',
  'may_act',
  '__proto__',
  'constructor',
  'prototype',
]);

/** Reads a dotted path (`user.id`) from untrusted JSON without touching prototype properties. */
export function readPath(source: unknown, path: string): unknown {
  let current: unknown = source;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** Bounds of a claim value copied or computed into a minted token. */
const CLAIM_VALUE_LIMITS = { maxStringLength: 1024, maxListItems: 100, maxListStringLength: 256 } as const;

/**
 * A value as it may enter a minted token, whether copied from a provider (claim paths) or computed by
 * a policy: strings of at most 1024 characters, booleans, finite numbers (CEL ints when they are safe
 * integers), and lists of at most 100 strings of at most 256 characters each. Anything else (objects,
 * maps, null, optionals, bytes, timestamps, oversized values) is `undefined`: omitted.
 */
export function sanitizeClaimValue(value: unknown): string | boolean | number | string[] | undefined {
  switch (typeof value) {
    case 'string':
      return value.length <= CLAIM_VALUE_LIMITS.maxStringLength ? value : undefined;
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : undefined;
    case 'bigint': {
      const n = Number(value);
      return Number.isSafeInteger(n) && BigInt(n) === value ? n : undefined;
    }
    case 'object': {
      if (!Array.isArray(value) || value.length > CLAIM_VALUE_LIMITS.maxListItems) return undefined;
      const out: string[] = [];
      for (const item of value as unknown[]) {
        if (typeof item !== 'string' || item.length > CLAIM_VALUE_LIMITS.maxListStringLength) return undefined;
        out.push(item);
      }
      return out;
    }
    default:
      return undefined;
  }
}
