import { hash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { JwkSetSource } from '../../clients/jwk-set.ts';
import type { ReplayCache } from '../../clients/ports.ts';
import { authJwtError, isAuthJwtError } from '../../errors.ts';
import type { CallOptions, TokenVerifier, VerifiedIdentity } from '../../exchange/ports.ts';
import { classifyProviderError } from '../classify-error.ts';
import { isJwtShaped } from '../oidc/jwt-verifier.ts';
import { parseScopes } from '../token-rules.ts';

/**
 * Header `typ` values of a self-signed JWT: absent or `JWT`. Every explicitly typed JWT of another kind
 * (an access token `at+jwt`, a Txn-Token `txntoken+jwt`, an RFC 7523bis client assertion, a logout token…)
 * is refused, so a JWT made for another purpose cannot be presented as one (RFC 8725 §3.11).
 */
const SELF_SIGNED_TYP = new Set(['jwt', 'application/jwt']);
const MAX_JTI_LENGTH = 256;

/** One registered workload: its id (the `iss` of its tokens), keys, and what it may assert. */
export interface RegisteredWorkload {
  id: string;
  keys: JwkSetSource;
  /** `sub` values allowed besides `id`; `*`: any. */
  subjects: readonly string[];
  /** Scopes it may claim; undefined: its tokens' scopes cannot be determined. */
  scopes: readonly string[] | undefined;
}

export interface SelfSignedVerifierOptions {
  /** The `aud` a token must name: authjwt's own identifier (its issuer, unless configured). */
  audience: string;
  algorithms: readonly string[];
  /** ms: longest `exp` − `iat` and `exp` − now. */
  maxTokenLifetime: number;
  /** ms tolerated on exp/nbf/iat. */
  clockTolerance: number;
  workloads: readonly RegisteredWorkload[];
  /** Single use by `jti`; undefined: replay protection off. */
  replay: ReplayCache | undefined;
  clock?: (() => number) | undefined;
}

/**
 * Strategy `self-signed` (draft-ietf-oauth-transaction-tokens, "Self-Signed Subject Token Type"): a JWT
 * a registered workload signed itself, presented as `subject_token_type=urn:ietf:params:oauth:token-type:self_signed`.
 * Checked, in order: JWT shape, header `typ` (absent or `JWT`), `iss` names a registered workload, the
 * signature with that workload's keys and an allowed asymmetric algorithm (RFC 8725 §2.1), `aud` names
 * authjwt, `iss`/`sub`/`aud`/`iat`/`exp` present, times within the clock tolerance, lifetime bounded both
 * as `exp` − `iat` and `exp` − now, `sub` the workload itself or one of its allowed subjects, `scope`
 * within the workload's scopes — and last, after everything else, the `jti` recorded as used (a forged
 * token cannot burn a genuine one's `jti`). Its results are never cached (a cache hit would skip the `jti`
 * check): the registry does not wrap it in the verification cache.
 */
export class SelfSignedVerifier implements TokenVerifier {
  readonly #o: SelfSignedVerifierOptions;
  readonly #workloads: ReadonlyMap<string, RegisteredWorkload>;
  readonly #clock: () => number;

  constructor(options: SelfSignedVerifierOptions) {
    this.#o = options;
    // Keys only from configuration; lookups by an attacker-chosen `iss` use Map.get (no prototype walk).
    this.#workloads = new Map(options.workloads.map((w) => [w.id, w]));
    this.#clock = options.clock ?? Date.now;
  }

  async verify(token: string, options: CallOptions = {}): Promise<VerifiedIdentity> {
    try {
      if (!isJwtShaped(token)) throw authJwtError('UPSTREAM_MALFORMED');
      const header = decodeProtectedHeader(token);
      if (header.typ !== undefined && (typeof header.typ !== 'string' || !SELF_SIGNED_TYP.has(header.typ.toLowerCase())))
        throw authJwtError('UPSTREAM_WRONG_TYPE', { detail: `header typ ${String(header.typ).slice(0, 40)} is not a self-signed JWT` });
      const iss = decodeJwt(token).iss;
      const workload = typeof iss === 'string' ? this.#workloads.get(iss) : undefined;
      // The presented iss is not echoed: it is not a configured value.
      if (!workload) throw authJwtError('UPSTREAM_UNKNOWN_WORKLOAD');
      const now = this.#clock();
      const tolerance = this.#o.clockTolerance;
      const { payload } = await jwtVerify(token, workload.keys.getKey, {
        issuer: workload.id,
        audience: this.#o.audience,
        algorithms: [...this.#o.algorithms],
        requiredClaims: ['iss', 'sub', 'aud', 'iat', 'exp'],
        clockTolerance: Math.round(tolerance / 1000),
        currentDate: new Date(now),
      }).catch((error: unknown) => {
        // A claim the draft requires is absent: the token is malformed, whichever claim it is.
        if (error instanceof joseErrors.JWTClaimValidationFailed && error.reason === 'missing')
          throw authJwtError('UPSTREAM_INVALID_TOKEN', { cause: error, detail: `missing ${error.claim}` });
        throw error;
      });
      this.#checkLifetime(payload, now);
      const sub = payload.sub!;
      if (sub !== workload.id && !workload.subjects.includes(sub) && !workload.subjects.includes('*'))
        throw authJwtError('UPSTREAM_SUBJECT_NOT_ALLOWED', { detail: `workload ${workload.id}` });
      const scopes = scopesOf(payload, workload);
      if (this.#o.replay) await this.#useOnce(payload, workload, options);
      return {
        accountId: sub,
        claims: payload,
        expiresAt: payload.exp! * 1000,
        // The workload that signed: it is the client of this subject token.
        clientId: workload.id,
        strategy: 'self-signed',
        scopes,
        // A workload's own word on delegation is not taken: `act` / `may_act` of a self-signed JWT are ignored.
        delegation: { act: undefined, mayAct: undefined },
      };
    } catch (error) {
      throw classifyProviderError(error, { endpoint: 'jwt' });
    }
  }

  /** `exp` − `iat` and `exp` − now within `maxTokenLifetime` (plus the tolerance for clock skew), `iat` not in the future. */
  #checkLifetime(payload: JWTPayload, now: number): void {
    const max = this.#o.maxTokenLifetime;
    const tolerance = this.#o.clockTolerance;
    const exp = payload.exp! * 1000;
    const iat = payload.iat! * 1000;
    if (iat - tolerance > now) throw authJwtError('UPSTREAM_ISSUED_IN_FUTURE', { detail: `iat ${payload.iat}` });
    if (exp - iat > max)
      throw authJwtError('UPSTREAM_LIFETIME_TOO_LONG', {
        detail: `exp − iat ${Math.round((exp - iat) / 1000)} s, at most ${max / 1000} s`,
      });
    if (exp - now > max + tolerance)
      throw authJwtError('UPSTREAM_LIFETIME_TOO_LONG', {
        detail: `expires in ${Math.round((exp - now) / 1000)} s, at most ${max / 1000} s`,
      });
  }

  /** Records the `jti` until no clock within the tolerance would accept the token; a second use is refused. */
  async #useOnce(payload: JWTPayload, workload: RegisteredWorkload, options: CallOptions): Promise<void> {
    const jti = payload.jti;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH)
      throw authJwtError('UPSTREAM_REPLAYED', { detail: 'no jti of 1 to 256 characters (single use needs one)' });
    const key = hash('sha256', `self_signed\0${workload.id}\0${jti}`, 'base64url');
    let first: boolean;
    try {
      first = await this.#o.replay!.remember(key, payload.exp! * 1000 + this.#o.clockTolerance, options);
    } catch (error) {
      // The cache cannot tell (Redis down or slow, memory full): refused, never accepted unchecked.
      if (isAuthJwtError(error) && error.code === 'ERR_AUTHJWT_CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE')
        throw authJwtError('PROVIDER_REPLAY_CACHE_UNAVAILABLE', { cause: error, detail: error.detail });
      throw error;
    }
    if (!first) throw authJwtError('UPSTREAM_REPLAYED', { detail: `workload ${workload.id}` });
  }
}

/**
 * The scopes of a verified self-signed JWT: its `scope` (space-delimited) when it has one, each value one
 * the workload may claim (else refused); without `scope`, all of the workload's. A workload without
 * configured scopes: undefined — its own word on scope is bounded by nothing.
 */
function scopesOf(payload: JWTPayload, workload: RegisteredWorkload): readonly string[] | undefined {
  if (!Object.hasOwn(payload, 'scope')) return workload.scopes ? Object.freeze([...workload.scopes]) : undefined;
  // RFC 8693 §4.2: a space-delimited string.
  const claimed = typeof payload.scope === 'string' ? parseScopes(payload.scope) : undefined;
  if (claimed === undefined) throw authJwtError('UPSTREAM_SCOPE_NOT_ALLOWED', { detail: 'scope is not an RFC 6749 scope string' });
  if (workload.scopes === undefined) return undefined;
  if (!claimed.every((s) => workload.scopes!.includes(s)))
    throw authJwtError('UPSTREAM_SCOPE_NOT_ALLOWED', { detail: `workload ${workload.id}` });
  return claimed;
}
