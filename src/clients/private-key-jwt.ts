import { createHash } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { authJwtError, isAuthJwtError } from '../errors.ts';
import type { JwkSetSource } from './jwk-set.ts';
import type { ReplayCache } from './ports.ts';

/** RFC 7523 client assertion `typ` values accepted: absent, `JWT`, and draft-ietf-oauth-rfc7523bis' explicit type. */
const ASSERTION_TYP = new Set(['jwt', 'client-authentication+jwt', 'application/client-authentication+jwt']);
const MAX_JTI_LENGTH = 256;

export interface PrivateKeyJwtSettings {
  /** Accepted `aud` values: authjwt's issuer (RFC 7523bis) and the token endpoint URL. */
  audiences: readonly string[];
  algorithms: readonly string[];
  /** ms: longest exp − iat (and exp − now): also how long a `jti` is remembered. */
  maxLifetime: number;
  /** ms tolerated on exp/nbf/iat. */
  clockTolerance: number;
  replay: ReplayCache;
  clock?: (() => number) | undefined;
}

const invalid = (detail: string, cause?: unknown) => authJwtError('CLIENT_AUTH_INVALID_ASSERTION', { detail, cause });

/**
 * Verifies a `private_key_jwt` client assertion (RFC 7523 §3) of `clientId` with its registered keys:
 * signature with an allowed asymmetric algorithm, `typ`, `iss` = `sub` = the client id, an accepted `aud`,
 * `exp` required and within `maxLifetime`, `nbf`/`iat` not in the future, a `jti` — and then single use:
 * the `jti` is recorded in the replay cache until the assertion expires. The signature is checked before
 * the `jti` is recorded, so a forged assertion cannot burn a genuine one's `jti`.
 */
export async function verifyPrivateKeyJwt(
  assertion: string,
  clientId: string,
  keys: JwkSetSource,
  settings: PrivateKeyJwtSettings,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<void> {
  const now = (settings.clock ?? Date.now)();
  let payload: JWTPayload;
  try {
    const header = decodeProtectedHeader(assertion);
    if (header.typ !== undefined && (typeof header.typ !== 'string' || !ASSERTION_TYP.has(header.typ.toLowerCase())))
      throw invalid(`typ ${String(header.typ).slice(0, 40)} is not a client assertion type`);
    ({ payload } = await jwtVerify(assertion, keys.getKey, {
      algorithms: [...settings.algorithms],
      issuer: clientId,
      subject: clientId,
      audience: [...settings.audiences],
      requiredClaims: ['exp', 'jti'],
      clockTolerance: Math.round(settings.clockTolerance / 1000),
      currentDate: new Date(now),
    }));
  } catch (error) {
    if (isAuthJwtError(error)) throw error;
    if (error instanceof joseErrors.JWKSNoMatchingKey) throw invalid('no registered key of the client matches (kid, alg)', error);
    if (error instanceof joseErrors.JWTClaimValidationFailed) throw invalid(`${error.claim}: ${error.reason}`, error);
    if (error instanceof joseErrors.JOSEError) throw invalid(error.code, error);
    throw invalid('not a JWS', error);
  }
  const exp = (payload.exp as number) * 1000;
  const iat = typeof payload.iat === 'number' ? payload.iat * 1000 : undefined;
  if (iat !== undefined && exp - iat > settings.maxLifetime)
    throw invalid(`lifetime exp − iat ${Math.round((exp - iat) / 1000)} s is beyond the bound of ${settings.maxLifetime / 1000} s`);
  if (exp - now > settings.maxLifetime + settings.clockTolerance)
    throw invalid(`expires ${Math.round((exp - now) / 1000)} s from now, beyond the bound of ${settings.maxLifetime / 1000} s`);
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH)
    throw invalid('jti is not a string of 1 to 256 characters');
  // Remembered until no clock within the tolerance would still accept the assertion.
  const key = createHash('sha256').update(clientId).update('\0').update(jti).digest('base64url');
  const first = await settings.replay.remember(key, exp + settings.clockTolerance, options);
  if (!first) throw authJwtError('CLIENT_AUTH_ASSERTION_REPLAYED', { detail: `client ${clientId}` });
}
