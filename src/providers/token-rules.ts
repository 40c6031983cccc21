import { authJwtError } from '../errors.ts';
import { readPath } from '../exchange/claims.ts';
import type { ProofStrategy, VerifiedIdentity } from '../exchange/ports.ts';

/**
 * The rules every strategy applies to what a provider vouched for — the verified JWT payload, the
 * introspection answer, the claims of a JWT-shaped token sent to userinfo — so that a token refused
 * by one strategy is refused by all of them.
 */

/** Header `typ` values of access tokens (RFC 9068 §2.1, RFC 8725 §3.11); absent is accepted too. */
const ACCESS_TOKEN_HEADER_TYP = new Set(['jwt', 'at+jwt', 'application/at+jwt']);

/**
 * Values of `typ` (Keycloak: ID, Refresh, Offline, Logout), `token_use` (Cognito: id; Hydra:
 * refresh_token) or `token_type` (also RFC 8693 URNs such as urn:ietf:params:oauth:token-type:id_token)
 * that mark a token which is not an access token.
 */
const NOT_ACCESS = /^(id|id[_-]?token|refresh|refresh[_-]?token|offline|offline[_-]?token|logout|logout[_-]?token)$/i;
const lastUrnSegment = (value: string) => value.trim().split(':').pop()!;

/** The JWS header says this is an access token (or says nothing). */
export function checkHeaderType(header: { typ?: unknown }): void {
  if (header.typ !== undefined && (typeof header.typ !== 'string' || !ACCESS_TOKEN_HEADER_TYP.has(header.typ.toLowerCase()))) {
    throw authJwtError('UPSTREAM_WRONG_TYPE', { detail: `header typ ${String(header.typ).slice(0, 40)}` });
  }
}

/** Nothing in the claims marks an ID, refresh, offline or logout token. */
function checkTokenType(claims: Readonly<Record<string, unknown>>): void {
  for (const field of ['typ', 'token_use', 'token_type'] as const) {
    const value = claims[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || NOT_ACCESS.test(lastUrnSegment(value))) {
      throw authJwtError('UPSTREAM_WRONG_TYPE', { detail: `${field} ${String(value).slice(0, 40)}` });
    }
  }
}

/**
 * Binds the token to our clients. When the token names the client it was issued to (`azp`, OIDC;
 * `client_id`, RFC 9068 / RFC 7662), that client must be accepted: an `aud` listing ours is not
 * enough (a token of another app with our client added by an audience mapper). Otherwise one of
 * `aud` must be accepted. Without configured audiences nothing is checked (warned at start).
 */
function checkClientBinding(claims: Readonly<Record<string, unknown>>, audiences: readonly string[] | undefined): void {
  if (!audiences?.length) return;
  const reject = (detail: string) => {
    throw authJwtError('UPSTREAM_WRONG_AUDIENCE', { detail });
  };
  const named = (['azp', 'client_id'] as const).filter((f) => claims[f] !== undefined);
  for (const field of named) {
    const value = claims[field];
    if (typeof value !== 'string' || !audiences.includes(value))
      reject(`${field} ${JSON.stringify(value).slice(0, 80)} not in ${JSON.stringify(audiences)}`);
  }
  if (named.length) return;
  const aud = claims.aud;
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
  if (!auds.some((a) => audiences.includes(a)))
    reject(`aud ${JSON.stringify(auds.slice(0, 5)).slice(0, 200)} not in ${JSON.stringify(audiences)}`);
}

/** The client a token was issued to: azp, else client_id, else a single aud. */
export function issuedToClient(claims: Readonly<Record<string, unknown>>): string | undefined {
  if (typeof claims.azp === 'string') return claims.azp;
  if (typeof claims.client_id === 'string') return claims.client_id;
  return typeof claims.aud === 'string' ? claims.aud : undefined;
}

/** `iss`, when present, is exactly the configured issuer. The detail shows both (they are not secrets). */
export function checkIssuer(claims: Readonly<Record<string, unknown>>, issuer: string): void {
  if (claims.iss !== undefined && claims.iss !== issuer) {
    throw authJwtError('UPSTREAM_WRONG_ISSUER', {
      detail: `expected iss ${JSON.stringify(issuer)}, token has ${JSON.stringify(claims.iss).slice(0, 200)}`,
    });
  }
}

/**
 * `exp`, `nbf` and `iat` against the clock, with `toleranceMs` either way. `iat` in the future is
 * refused too (jose checks it only with maxTokenAge): a token "issued" later than now is forged or
 * comes from a clock that cannot be trusted. Non-numeric values are refused. (`jwt` requires `exp`
 * through jose; the remote strategies accept a token without one.)
 */
function checkTimes(claims: Readonly<Record<string, unknown>>, now: number, toleranceMs: number): void {
  const seconds = (field: 'exp' | 'nbf' | 'iat') => {
    const v = claims[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw authJwtError('UPSTREAM_INVALID_TOKEN', { detail: `${field} is not a number` });
    return v * 1000;
  };
  const exp = seconds('exp');
  const nbf = seconds('nbf');
  const iat = seconds('iat');
  if (exp !== undefined && exp + toleranceMs <= now) throw authJwtError('UPSTREAM_EXPIRED');
  if (nbf !== undefined && nbf - toleranceMs > now) throw authJwtError('UPSTREAM_NOT_YET_VALID');
  if (iat !== undefined && iat - toleranceMs > now) throw authJwtError('UPSTREAM_ISSUED_IN_FUTURE', { detail: `iat ${iat / 1000}` });
}

/**
 * Type, times and client binding: what every OIDC strategy checks on the claims a provider vouched for.
 * (`iss` is checked by each strategy where it is most useful: `jwt` before the signature.)
 */
export function checkAccessClaims(
  claims: Readonly<Record<string, unknown>>,
  settings: { audiences: readonly string[] | undefined; clockTolerance: number },
  now: number,
): void {
  checkTokenType(claims);
  checkTimes(claims, now, settings.clockTolerance);
  checkClientBinding(claims, settings.audiences);
}

/** The identity proven by claims a provider vouched for as a whole (a verified JWT payload, an introspection answer). */
export function identityFrom(claims: Readonly<Record<string, unknown>>, accountIdClaim: string, strategy: ProofStrategy): VerifiedIdentity {
  return {
    accountId: accountIdOf(claims, accountIdClaim),
    claims,
    expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
    clientId: issuedToClient(claims),
    strategy,
    scopes: scopesOfClaims(claims),
  };
}

/** Scopes kept per token; a token claiming more is treated as one whose scopes cannot be determined. */
export const MAX_SCOPES = 256;
const MAX_SCOPE_LENGTH = 256;
/** RFC 6749 §3.3 scope-token: `1*( %x21 / %x23-5B / %x5D-7E )`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * A scope value as a provider wrote it — an RFC 6749 §3.3 space-delimited string (`scope` of RFC 8693
 * §4.2, RFC 9068 §2.2.3, RFC 7662 §2.2), or an array of strings (Okta's `scp`, GitLab's token info
 * `scope`, GitHub's `scopes`) — as a deduplicated list in the provider's order. `undefined` when it is
 * neither, holds a value that is not a scope-token, or more than {@link MAX_SCOPES}: a TTS must then
 * refuse (never guess). An empty string or array is a token known to carry no scope (`[]`).
 */
export function parseScopes(value: unknown, separator: RegExp = / +/): readonly string[] | undefined {
  let items: unknown[];
  if (typeof value === 'string') items = value.split(separator).filter((s) => s !== '');
  else if (Array.isArray(value)) items = value;
  else return undefined;
  if (items.length > MAX_SCOPES) return undefined;
  const out = new Set<string>();
  for (const item of items) {
    if (typeof item !== 'string' || item.length > MAX_SCOPE_LENGTH || !SCOPE_TOKEN.test(item)) return undefined;
    out.add(item);
  }
  return Object.freeze([...out]);
}

/**
 * The scopes in verified token claims or an introspection answer: `scope` (the registered claim,
 * space-delimited string; an array is accepted too), else `scp` (Microsoft Entra ID: space-delimited
 * string; Okta: array). Neither present, or a malformed value: `undefined` (cannot be determined). When
 * both are present `scope` wins: it is the registered claim, `scp` a vendor's.
 */
export function scopesOfClaims(claims: Readonly<Record<string, unknown>>): readonly string[] | undefined {
  if (Object.hasOwn(claims, 'scope')) return parseScopes(claims.scope);
  if (Object.hasOwn(claims, 'scp')) return parseScopes(claims.scp);
  return undefined;
}

/** An account id as a string: strings as they are, integers in decimal; anything else is absent. */
export function accountIdOf(claims: unknown, path: string): string {
  const value = readPath(claims, path);
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw authJwtError('UPSTREAM_NO_ACCOUNT_ID', { detail: `no usable "${path}" in the verified data` });
}
