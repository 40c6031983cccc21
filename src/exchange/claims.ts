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
 * Names configuration cannot map or compute: the registered claims (RFC 7519 §4.1), the ones
 * authjwt sets itself, and claims with a protocol meaning (RFC 9068 `scope`, RFC 7800 `cnf`, `typ`).
 */
export const RESERVED_CLAIM_NAMES: ReadonlySet<string> = new Set([...MINTED_CLAIMS, 'scope', 'cnf', 'typ']);

/** Reads a dotted path (`user.id`) from untrusted JSON without touching prototype properties. */
export function readPath(source: unknown, path: string): unknown {
  let current: unknown = source;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** Only plain strings, booleans, finite numbers and short string arrays are copied into our tokens. */
export function sanitizeClaimValue(value: unknown): unknown {
  if (typeof value === 'string') return value.length <= 1024 ? value : undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (Array.isArray(value)) {
    const strings = value.filter((v): v is string => typeof v === 'string' && v.length <= 256).slice(0, 100);
    return strings.length === value.length ? strings : undefined;
  }
  return undefined;
}
