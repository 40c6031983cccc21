/**
 * Verification of a Txn-Token authjwt issued (the draft's "Txn-Token Validation", and a replacement
 * request's `subject_token`): signature against authjwt's own published keys, `typ`, `aud` = the
 * trust domain, `exp`/`iat`, an algorithm allow-list (RFC 8725 §3.1), and the claims the draft
 * requires, with their types.
 */
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWK, jwtVerify } from 'jose';
import { authJwtError, isAuthJwtError } from '../errors.ts';
import { TXN_TOKEN_ALGORITHMS, TXN_TOKEN_JWS_TYPE } from './constants.ts';
import type { JsonObject } from './context.ts';

/** The claims of a verified Txn-Token. */
export interface TxnTokenClaims {
  iss?: string | undefined;
  aud: string;
  iat: number;
  exp: number;
  txn: string;
  sub: string;
  scope: string;
  req_wl: string;
  tctx: JsonObject;
  rctx: JsonObject;
  jti?: string | undefined;
  [claim: string]: unknown;
}

export interface VerifyTxnTokenOptions {
  trustDomain: string;
  /**
   * authjwt's published keys (the JWKS of src/keys, e.g. `() => keyStore.jwks()`), read per call so
   * rotation applies at once; a key set is prepared once per returned object.
   */
  keys: () => { readonly keys: readonly Readonly<JWK>[] };
  /** ms since epoch. */
  clock?: () => number;
  /** When set, `iss` must equal it. */
  issuer?: string | undefined;
  /** Seconds of clock skew tolerated on `exp` and `iat`. Default 0: authjwt checks its own tokens on its own clock. */
  clockTolerance?: number;
}

const REQUIRED = ['iat', 'exp', 'aud', 'txn', 'sub', 'scope', 'req_wl'] as const;
/** Longest compact JWS considered (a Txn-Token travels in one HTTP header). */
const MAX_TOKEN_LENGTH = 16 * 1024;

const jwkSets = new WeakMap<object, ReturnType<typeof createLocalJWKSet>>();

/**
 * Verifies a Txn-Token; returns its claims. Throws `TXN_TOKEN_EXPIRED` for an expired token and
 * `TXN_TOKEN_INVALID` for anything else (the reason in `detail`, never the token).
 */
export async function verifyTxnToken(token: string, options: VerifyTxnTokenOptions): Promise<TxnTokenClaims> {
  const invalid = (detail: string, cause?: unknown) => authJwtError('TXN_TOKEN_INVALID', { detail, cause });
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalid('empty or oversized');
  const jwks = options.keys();
  let keySet = jwkSets.get(jwks);
  if (!keySet) {
    keySet = createLocalJWKSet({ keys: [...jwks.keys] } as JSONWebKeySet);
    jwkSets.set(jwks, keySet);
  }
  const now = (options.clock ?? Date.now)();
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, keySet, {
      algorithms: [...TXN_TOKEN_ALGORITHMS],
      typ: TXN_TOKEN_JWS_TYPE,
      audience: options.trustDomain,
      ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
      requiredClaims: [...REQUIRED],
      currentDate: new Date(now),
      clockTolerance: options.clockTolerance ?? 0,
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw authJwtError('TXN_TOKEN_EXPIRED', { cause: error });
    if (isAuthJwtError(error)) throw error;
    const code = error instanceof joseErrors.JOSEError ? error.code : 'ERR_UNKNOWN';
    throw invalid(code, error);
  }
  // The draft: `aud` identifies the one trust domain (a string; an array naming others is not ours).
  const shape = (ok: boolean, what: string) => {
    if (!ok) throw invalid(`claim ${what}`);
  };
  shape(typeof payload.aud === 'string', 'aud');
  for (const name of ['txn', 'sub', 'scope', 'req_wl'] as const) shape(typeof payload[name] === 'string' && payload[name] !== '', name);
  shape(
    Number.isSafeInteger(payload.iat) && Number.isSafeInteger(payload.exp) && (payload.exp as number) > (payload.iat as number),
    'iat/exp',
  );
  // A token from the future (iat) is not one authjwt issued on this clock.
  shape((payload.iat as number) <= Math.floor(now / 1000) + (options.clockTolerance ?? 0) + 1, 'iat');
  for (const name of ['tctx', 'rctx'] as const) {
    const v = payload[name];
    shape(v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v)), name);
  }
  return {
    ...payload,
    tctx: (payload.tctx as JsonObject | undefined) ?? {},
    rctx: (payload.rctx as JsonObject | undefined) ?? {},
  } as TxnTokenClaims;
}
