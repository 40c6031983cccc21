import { createLocalJWKSet, createRemoteJWKSet, customFetch as joseCustomFetch, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import * as oidc from 'openid-client';
import type { OidcStrategyConfig, ProviderConfig } from '../config/load.ts';
import { ASYMMETRIC_JWS_ALGORITHMS } from '../config/schema.ts';
import { AuthJwtError, isAuthJwtError, providerUnavailable, tokenRejected } from '../errors.ts';
import { accountIdOf, assertAudience, issuedToClient, readPath } from './claims.ts';
import { createProviderFetch, isTransportError, type FetchFn } from './provider-fetch.ts';
import type { ProviderCallObserver, TokenVerifier, VerifiedIdentity, VerifyOptions } from './types.ts';

const ASYMMETRIC = new Set<string>(ASYMMETRIC_JWS_ALGORITHMS);
/** Access-token `typ` header values accepted (RFC 9068 §2.1, RFC 8725 §3.11); absent is accepted too. */
const ACCEPTED_TYP = new Set(['jwt', 'at+jwt', 'application/at+jwt']);
/** Payload `typ` values (Keycloak) that mark a token which is not an access token. */
const REJECTED_PAYLOAD_TYP = new Set(['id', 'refresh', 'offline', 'logout']);
/** After a failed discovery, further attempts wait this long (fail fast with UNAVAILABLE meanwhile). */
const DISCOVERY_RETRY_MS = 2_000;

export interface OidcVerifierOptions {
  clockTolerance: number;
  observer?: ProviderCallObserver | undefined;
  fetch?: FetchFn | undefined;
  clock?: () => number;
  /** JWKS are refetched in the background after this age; the last good copy keeps serving. */
  jwksMaxAge?: number;
}

interface Discovered {
  configuration: oidc.Configuration;
  metadata: oidc.ServerMetadata;
  jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  algorithms: string[];
}

/**
 * OIDC provider verifier: discovery (openid-client), then one of the strategies
 * - `jwt`: local verification of a JWT access token against the provider's JWKS (jose);
 * - `introspection`: RFC 7662 with client authentication;
 * - `userinfo`: the OIDC userinfo endpoint;
 * - `auto`: jwt for JWT-shaped tokens when the provider has a JWKS, else introspection when client
 *   credentials are configured, else userinfo.
 */
export class OidcVerifier implements TokenVerifier {
  readonly providerId: string;
  readonly #provider: ProviderConfig;
  readonly #strategy: OidcStrategyConfig;
  readonly #options: OidcVerifierOptions;
  readonly #fetch: FetchFn;
  readonly #clock: () => number;
  #discovered: Promise<Discovered> | undefined;
  #metadata: oidc.ServerMetadata | undefined;
  #jwksLastGood: (() => { keys: { kty?: string; use?: string }[] } | undefined) | undefined;
  #lastDiscoveryFailure: { at: number; error: AuthJwtError } | undefined;
  #ready = false;
  #lastRediscovery = 0;

  constructor(provider: ProviderConfig, options: OidcVerifierOptions) {
    if (provider.strategy.kind !== 'oidc') throw new TypeError('OidcVerifier needs an oidc provider');
    this.providerId = provider.id;
    this.#provider = provider;
    this.#strategy = provider.strategy;
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#fetch = createProviderFetch({
      provider: provider.id,
      timeoutMs: provider.timeout,
      retries: provider.retries,
      circuitBreaker: provider.circuitBreaker,
      observer: options.observer,
      fetch: options.fetch,
      endpointOf: (url) => this.#endpointOf(url),
    });
  }

  /** True once discovery succeeded. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Starts discovery without waiting (warm-up at start); failures are retried on demand. */
  warmUp(): Promise<void> {
    return this.#discover().then(
      () => undefined,
      () => undefined,
    );
  }

  async verify(token: string, options: VerifyOptions = {}): Promise<VerifiedIdentity> {
    const d = await this.#discover();
    const looksLikeJwt = isJwtShaped(token);
    const configured = this.#strategy.verification;
    let strategy: 'jwt' | 'introspection' | 'userinfo';
    if (configured !== 'auto') strategy = configured;
    else if (looksLikeJwt && d.jwks) strategy = 'jwt';
    else if (this.#provider.clientSecret && d.metadata.introspection_endpoint) strategy = 'introspection';
    else strategy = 'userinfo';
    try {
      switch (strategy) {
        case 'jwt':
          try {
            return await this.#verifyJwt(token, d);
          } catch (error) {
            // The provider may have started signing with an algorithm it did not advertise when we
            // discovered it (key rotation to another key type): rediscover once, rate-limited.
            const refreshed = error instanceof joseErrors.JOSEAlgNotAllowed ? await this.#rediscover(token) : undefined;
            if (!refreshed) throw error;
            return await this.#verifyJwt(token, refreshed);
          }
        case 'introspection':
          return await this.#introspect(token, d, options);
        case 'userinfo':
          return await this.#userinfo(token, d, options);
      }
    } catch (error) {
      throw this.#classify(error);
    }
  }

  async #verifyJwt(token: string, d: Discovered): Promise<VerifiedIdentity> {
    if (!d.jwks) throw providerUnavailable('NO_JWKS', `provider ${this.providerId} publishes no jwks_uri`);
    if (!isJwtShaped(token)) throw tokenRejected('MALFORMED', 'access token is not a JWT');
    const header = decodeProtectedHeader(token);
    if (typeof header.typ === 'string' && !ACCEPTED_TYP.has(header.typ.toLowerCase())) {
      throw tokenRejected('WRONG_TYPE', 'token is not an access token', { detail: `typ ${header.typ}` });
    }
    const { payload } = await jwtVerify(token, this.#keyResolver(d.jwks), {
      issuer: this.#strategy.issuer,
      algorithms: d.algorithms,
      clockTolerance: Math.round(this.#options.clockTolerance / 1000),
      requiredClaims: ['exp'],
      currentDate: new Date(this.#clock()),
    });
    if (typeof payload.typ === 'string' && REJECTED_PAYLOAD_TYP.has(payload.typ.toLowerCase())) {
      throw tokenRejected('WRONG_TYPE', 'token is not an access token', { detail: `payload typ ${payload.typ}` });
    }
    return this.#identity(payload, 'jwt', payload.exp);
  }

  /** Remote JWKS with fallback to the last good copy when the provider cannot be reached. */
  #keyResolver(remote: NonNullable<Discovered['jwks']>): JWTVerifyGetKey {
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        const lastGood = remote.jwks();
        if (!lastGood || isTokenError(error)) throw error;
        try {
          return await createLocalJWKSet(lastGood)(header, token);
        } catch {
          throw error;
        }
      }
    };
  }

  async #introspect(token: string, d: Discovered, options: VerifyOptions): Promise<VerifiedIdentity> {
    if (!d.metadata.introspection_endpoint) throw providerUnavailable('NO_INTROSPECTION', `provider ${this.providerId} has no introspection endpoint`);
    if (!this.#provider.clientSecret) throw providerUnavailable('NO_CLIENT_CREDENTIALS', `provider ${this.providerId} has no client credentials for introspection`);
    options.signal?.throwIfAborted();
    const answer = (await oidc.tokenIntrospection(d.configuration, token, { token_type_hint: 'access_token' })) as Record<string, unknown>;
    if (answer.active !== true) throw tokenRejected('INACTIVE', 'access token is not active');
    if (answer.iss !== undefined && answer.iss !== this.#strategy.issuer) throw tokenRejected('WRONG_ISSUER', 'access token has another issuer');
    const exp = typeof answer.exp === 'number' ? answer.exp : undefined;
    if (exp !== undefined && exp * 1000 + this.#options.clockTolerance < this.#clock()) throw tokenRejected('EXPIRED', 'access token expired');
    if (typeof answer.token_type === 'string' && /^(refresh|id)/i.test(answer.token_type)) throw tokenRejected('WRONG_TYPE', 'token is not an access token');
    return this.#identity(answer, 'introspection', exp);
  }

  async #userinfo(token: string, d: Discovered, options: VerifyOptions): Promise<VerifiedIdentity> {
    if (!d.metadata.userinfo_endpoint) throw providerUnavailable('NO_USERINFO', `provider ${this.providerId} has no userinfo endpoint`);
    // The userinfo endpoint says nothing about the client a token was issued to. For JWT access tokens
    // the provider's acceptance vouches for the payload, so aud/azp/exp are read from it; an opaque
    // token cannot be bound to our audiences and is refused when audiences are configured.
    let tokenClaims: JWTPayload | undefined;
    if (isJwtShaped(token)) {
      try {
        tokenClaims = decodeJwt(token);
      } catch {
        tokenClaims = undefined;
      }
    }
    if (this.#provider.audiences?.length && !tokenClaims) {
      throw tokenRejected('AUDIENCE_UNVERIFIABLE', 'opaque access token cannot be bound to the accepted audiences with the userinfo strategy');
    }
    options.signal?.throwIfAborted();
    const info = (await oidc.fetchUserInfo(d.configuration, token, oidc.skipSubjectCheck)) as Record<string, unknown>;
    if (tokenClaims) {
      if (tokenClaims.iss !== undefined && tokenClaims.iss !== this.#strategy.issuer) throw tokenRejected('WRONG_ISSUER', 'access token has another issuer');
      if (tokenClaims.sub !== undefined && info.sub !== tokenClaims.sub) throw tokenRejected('SUBJECT_MISMATCH', 'userinfo subject differs from the token subject');
      if (typeof tokenClaims.exp === 'number' && tokenClaims.exp * 1000 + this.#options.clockTolerance < this.#clock()) throw tokenRejected('EXPIRED', 'access token expired');
      assertAudience(this.providerId, tokenClaims, this.#provider.audiences);
    }
    // The audience was checked on the token's own claims above; the userinfo answer has none.
    const identity = this.#identity(info, 'userinfo', tokenClaims?.exp, true);
    return { ...identity, clientId: tokenClaims ? issuedToClient(tokenClaims) : undefined };
  }

  #identity(claims: Record<string, unknown>, strategy: VerifiedIdentity['strategy'], exp: number | undefined, skipAudience = false): VerifiedIdentity {
    if (!skipAudience) assertAudience(this.providerId, claims, this.#provider.audiences);
    const accountId = accountIdOf(readPath(claims, this.#strategy.accountIdClaim));
    if (accountId === undefined) throw tokenRejected('NO_ACCOUNT_ID', `provider ${this.providerId} did not return an account id (${this.#strategy.accountIdClaim})`);
    return { accountId, profile: claims, expiresAt: exp !== undefined ? exp * 1000 : undefined, clientId: issuedToClient(claims), strategy };
  }

  async #rediscover(token: string): Promise<Discovered | undefined> {
    const alg = decodeProtectedHeader(token).alg;
    const now = this.#clock();
    if (!alg || !ASYMMETRIC.has(alg) || this.#strategy.algorithms || now - this.#lastRediscovery < this.#strategy.jwksCooldown) return undefined;
    this.#lastRediscovery = now;
    const fresh = await this.#runDiscovery();
    this.#discovered = Promise.resolve(fresh);
    return fresh.algorithms.includes(alg) ? fresh : undefined;
  }

  #discover(): Promise<Discovered> {
    if (this.#discovered) return this.#discovered;
    const failure = this.#lastDiscoveryFailure;
    if (failure && this.#clock() - failure.at < DISCOVERY_RETRY_MS) return Promise.reject(failure.error);
    const attempt = this.#runDiscovery();
    this.#discovered = attempt;
    attempt.then(
      () => {
        this.#ready = true;
        this.#lastDiscoveryFailure = undefined;
      },
      (error) => {
        // Forget the failed attempt so a later call retries (rate-limited above).
        if (this.#discovered === attempt) this.#discovered = undefined;
        this.#lastDiscoveryFailure = { at: this.#clock(), error };
      },
    );
    return attempt;
  }

  async #runDiscovery(): Promise<Discovered> {
    const p = this.#provider;
    const issuer = new URL(this.#strategy.issuer);
    const auth = p.clientSecret ? oidc.ClientSecretBasic(p.clientSecret.reveal()) : oidc.None();
    let configuration: oidc.Configuration;
    try {
      configuration = await oidc.discovery(issuer, p.clientId ?? 'authjwt', undefined, auth, {
        [oidc.customFetch]: this.#fetch as oidc.CustomFetch,
        execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
      });
    } catch (error) {
      throw providerUnavailable('DISCOVERY_FAILED', `provider ${this.providerId}: OIDC discovery failed`, { cause: error, detail: (error as Error).message });
    }
    const metadata = configuration.serverMetadata();
    this.#metadata = metadata;
    for (const field of ['jwks_uri', 'introspection_endpoint', 'userinfo_endpoint'] as const) {
      const value = metadata[field];
      if (value !== undefined && new URL(value).origin !== issuer.origin && new URL(value).protocol !== 'https:') {
        throw providerUnavailable('DISCOVERY_INSECURE', `provider ${this.providerId}: ${field} must be https when on another origin`);
      }
    }
    const advertised = metadata.id_token_signing_alg_values_supported ?? [];
    const configured = this.#strategy.algorithms ?? (advertised.length ? advertised : [...ASYMMETRIC]);
    // Symmetric algorithms and `none` are never accepted: an HS256 token "signed" with the provider's
    // public key would otherwise verify (RFC 8725 §2.1).
    const algorithms = configured.filter((a) => ASYMMETRIC.has(a));
    if (algorithms.length === 0) throw providerUnavailable('NO_ALGORITHMS', `provider ${this.providerId}: no asymmetric signing algorithm in common`);
    const jwks = metadata.jwks_uri
      ? createRemoteJWKSet(new URL(metadata.jwks_uri), {
          [joseCustomFetch]: this.#fetch as never,
          cooldownDuration: this.#strategy.jwksCooldown,
          cacheMaxAge: this.#options.jwksMaxAge ?? 600_000,
          timeoutDuration: p.timeout,
        })
      : undefined;
    this.#jwksLastGood = jwks ? () => jwks.jwks() : undefined;
    return { configuration, metadata, jwks, algorithms };
  }

  #endpointOf(url: URL): string {
    if (url.pathname.endsWith('/.well-known/openid-configuration')) return 'discovery';
    const meta = this.#metadata;
    if (meta) {
      const href = url.href;
      if (href === meta.jwks_uri) return 'jwks';
      if (href === meta.introspection_endpoint) return 'introspection';
      if (href === meta.userinfo_endpoint) return 'userinfo';
    }
    return 'other';
  }

  /** Maps library and transport errors to the taxonomy. */
  #classify(error: unknown): AuthJwtError {
    if (isAuthJwtError(error)) return error;
    if (isTokenError(error)) {
      const e = error as joseErrors.JOSEError;
      const code = e.code === 'ERR_JWT_EXPIRED' ? 'EXPIRED' : e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' ? `CLAIM_${String((e as joseErrors.JWTClaimValidationFailed).claim).toUpperCase()}` : 'INVALID_TOKEN';
      return tokenRejected(code, code === 'EXPIRED' ? 'access token expired' : 'access token rejected', { cause: error, detail: `${e.code}: ${e.message}` });
    }
    if (error instanceof joseErrors.JWKSNoMatchingKey) {
      if (this.#jwksHasNoUsableKey()) return providerUnavailable('JWKS_UNUSABLE', `provider ${this.providerId} publishes no usable signing key`, { cause: error });
      return tokenRejected('UNKNOWN_KEY', 'access token signed with an unknown key', { cause: error });
    }
    if (error instanceof oidc.WWWAuthenticateChallengeError || (error instanceof oidc.ResponseBodyError && (error.status === 401 || error.status === 403) && !this.#isIntrospectionAuthFailure(error))) {
      return tokenRejected('REJECTED_BY_PROVIDER', `provider ${this.providerId} rejected the access token`, { cause: error, detail: (error as Error).message });
    }
    if (error instanceof oidc.ResponseBodyError && error.status >= 400 && error.status < 500 && error.status !== 429 && !this.#isIntrospectionAuthFailure(error)) {
      return tokenRejected('REJECTED_BY_PROVIDER', `provider ${this.providerId} rejected the access token`, { cause: error, detail: (error as Error).message });
    }
    if (isTransportError(error)) return providerUnavailable('UNREACHABLE', `provider ${this.providerId} is unreachable`, { cause: error, detail: (error as Error).message });
    return providerUnavailable('BAD_RESPONSE', `provider ${this.providerId} gave an unusable answer`, { cause: error, detail: (error as Error).message });
  }

  #jwksHasNoUsableKey(): boolean {
    const keys = this.#jwksLastGood?.()?.keys ?? [];
    return !keys.some((k) => (k.use === undefined || k.use === 'sig') && ['RSA', 'EC', 'OKP'].includes(k.kty ?? ''));
  }

  #isIntrospectionAuthFailure(error: oidc.ResponseBodyError): boolean {
    return error.error === 'invalid_client' || error.error === 'unauthorized_client';
  }
}

/** Errors that say the token itself is bad (as opposed to the provider being unreachable). */
function isTokenError(error: unknown): boolean {
  return (
    error instanceof joseErrors.JWTExpired ||
    error instanceof joseErrors.JWTClaimValidationFailed ||
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWTInvalid ||
    error instanceof joseErrors.JOSENotSupported ||
    error instanceof joseErrors.JWKSMultipleMatchingKeys
  );
}

/** Three base64url segments whose header decodes: worth verifying as a JWT. */
export function isJwtShaped(token: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p)) || !parts[0]) return false;
  try {
    decodeProtectedHeader(token);
    return true;
  } catch {
    return false;
  }
}
