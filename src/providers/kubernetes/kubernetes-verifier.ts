import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { authJwtError, isAuthJwtError, type AuthJwtError } from '../../errors.ts';
import type { CallOptions, TokenVerifier, VerifiedIdentity } from '../../exchange/ports.ts';
import { classifyProviderError } from '../classify-error.ts';
import type { FetchFn, ProviderCallObserver } from '../http/provider-fetch.ts';
import { OidcDiscovery } from '../oidc/discovery.ts';
import { isJwtShaped } from '../oidc/jwt-verifier.ts';
import { checkHeaderType, checkIssuer } from '../token-rules.ts';
import { createApiServerFetch } from './api-server-fetch.ts';
import type { ClusterKeys } from './cluster-keys.ts';
import { kubernetesIdentityOf, renderSubject, type KubernetesIdentity } from './identity.ts';
import { JwksFileKeys } from './jwks-file.ts';
import { reviewToken, TOKEN_REVIEW_PATH } from './token-review.ts';

/** The path every API server serves its service-account issuer's keys at (pkg/serviceaccount/openidmetadata.go `JWKSPath`). */
const API_SERVER_JWKS_PATH = '/openid/v1/jwks';
const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** Options of {@link createKubernetesTokenVerifier}. Durations are milliseconds. */
export interface KubernetesVerifierOptions {
  /** Provider id: the metric label of its API server calls. */
  provider: string;
  /** The cluster's service-account issuer: the exact `iss` of its tokens. */
  issuer: string;
  /** Accepted audiences (at least one must be in `aud`). Never one of `apiAudiences`. */
  audiences: readonly string[];
  /** Audiences of tokens for the API server (the issuer included): a token naming one is refused. */
  apiAudiences: readonly string[];
  /** The API server: discovery, JWKS and TokenReview, with authjwt's service-account token and the cluster CA. */
  apiServer: string;
  tokenFile: string;
  caFile: string;
  /** Static JWKS file instead of discovery from the API server. */
  jwksFile?: string | undefined;
  /** Account-id template: `{namespace}`, `{name}`, `{uid}`. Default `system:serviceaccount:{namespace}:{name}`. */
  subject?: string | undefined;
  /** Accept the namespace's `default` service account. Default false. */
  allowDefaultServiceAccount?: boolean | undefined;
  /** Longest accepted `exp` − `iat` (or up to `warnafter`). Default 24 h. */
  maxTokenLifetime?: number | undefined;
  /** Ask the API server (TokenReview) on every verification. Default false. */
  tokenReview?: boolean | undefined;
  /** Accepted JWS algorithms; default: what discovery advertises, or every asymmetric one for a file. */
  algorithms?: readonly string[] | undefined;
  /** Minimum ms between key refetches an unknown `kid` can trigger. Default 5 s. */
  jwksCooldown?: number | undefined;
  /**
   * Scopes every verified token is taken to carry (`kubernetes.scopes`): a projected token has none of
   * its own. Undefined: its scopes cannot be determined ({@link VerifiedIdentity.scopes}).
   */
  scopes?: readonly string[] | undefined;
  /** Tolerated clock skew on exp/nbf/iat. Default 30 s. */
  clockTolerance?: number | undefined;
  /** Per API-server call. Default 5 s. */
  timeout?: number | undefined;
  /** Retries of GET calls (discovery, JWKS) after network errors, timeouts and 5xx. Default 1. */
  retries?: number | undefined;
  circuitBreaker?: { enabled: boolean; errorRatio: number; minimumCalls: number; openFor: number; window: number } | undefined;
  observer?: ProviderCallObserver | undefined;
  /** The fetch under the API-server client (tests); it receives the CA-pinned dispatcher. */
  fetch?: FetchFn | undefined;
  readFile?: ((path: string) => Promise<Buffer>) | undefined;
  clock?: (() => number) | undefined;
}

/** A Kubernetes verifier: the TokenVerifier port, plus warm-up and shutdown of its API-server client. */
export interface KubernetesTokenVerifier extends TokenVerifier {
  /** Fetches discovery and keys ahead of the first token (never rejects). */
  warmUp(): Promise<void>;
  /** True once the keys were loaded at least once. */
  readonly ready: boolean;
  close(): Promise<void>;
}

/**
 * Verifies Kubernetes projected service-account tokens locally against the cluster issuer's keys —
 * discovered from the API server with authjwt's own service-account token and the cluster CA, or read
 * from a static JWKS file — with the rules of docs/workload-identity.md: exact `iss`; an asymmetric
 * algorithm the issuer uses; `exp` required and honoured (and `kubernetes.io.warnafter`, the real
 * expiry of an extended token); a lifetime bound; one of `audiences` in `aud` and none of the API
 * server's; a well-formed `kubernetes.io` claim whose service account `sub` names; the `default`
 * service account refused unless allowed; optionally a TokenReview. The verified payload is the
 * identity's `claims` (policy reads `claims['kubernetes.io']`); the account id is `subject` rendered.
 *
 * Reusable as it is for other doors (e.g. client assertions of the token endpoint): give it that
 * door's audiences. Wrap it in a CachingVerifier for a verification cache.
 */
export function createKubernetesTokenVerifier(options: KubernetesVerifierOptions): KubernetesTokenVerifier {
  return new KubernetesJwtVerifier(options);
}

class KubernetesJwtVerifier implements KubernetesTokenVerifier {
  readonly #o: KubernetesVerifierOptions;
  readonly #clock: () => number;
  readonly #keys: ClusterKeys;
  readonly #apiServerFetch: (FetchFn & { close(): Promise<void> }) | undefined;
  #ready = false;

  constructor(options: KubernetesVerifierOptions) {
    if (!options.audiences.length) throw new TypeError('a Kubernetes verifier needs at least one audience');
    const api = new Set(options.apiAudiences);
    if (!api.has(options.issuer)) throw new TypeError('apiAudiences must include the issuer');
    if (options.audiences.some((a) => api.has(a))) throw new TypeError('an accepted audience is an API-server audience');
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    const cooldown = options.jwksCooldown ?? 5_000;
    const timeout = options.timeout ?? 5_000;
    if (options.jwksFile === undefined || options.tokenReview) {
      const apiServer = new URL(options.apiServer);
      this.#apiServerFetch = createApiServerFetch({
        apiServer: options.apiServer,
        tokenFile: options.tokenFile,
        caFile: options.caFile,
        fetch: options.fetch,
        readFile: options.readFile,
        clock: options.clock,
        transport: {
          provider: options.provider,
          timeoutMs: timeout,
          retries: options.retries ?? 1,
          circuitBreaker: options.circuitBreaker,
          observer: options.observer,
          endpointOf: (url) =>
            url.pathname.endsWith(DISCOVERY_PATH)
              ? 'discovery'
              : url.pathname === TOKEN_REVIEW_PATH
                ? 'token_review'
                : url.pathname === API_SERVER_JWKS_PATH
                  ? 'jwks'
                  : 'other',
        },
      });
      this.#keys =
        options.jwksFile !== undefined
          ? new JwksFileKeys({ path: options.jwksFile, algorithms: options.algorithms, cooldown, clock: options.clock })
          : new OidcDiscovery({
              issuer: options.issuer,
              discoveryUrl: new URL(DISCOVERY_PATH, apiServer).href,
              // The discovery document's jwks_uri is the API server's external address (or a public bucket):
              // keys are read where the token may go, the API server's own JWKS path, unless jwks_uri is there.
              jwksUriOf: (metadata) =>
                metadata.jwks_uri && new URL(metadata.jwks_uri).origin === apiServer.origin
                  ? metadata.jwks_uri
                  : new URL(API_SERVER_JWKS_PATH, apiServer).href,
              clientId: undefined,
              clientSecret: undefined,
              algorithms: options.algorithms,
              jwksCooldown: cooldown,
              timeout,
              fetch: this.#apiServerFetch,
              clock: options.clock,
            });
    } else {
      this.#apiServerFetch = undefined;
      this.#keys = new JwksFileKeys({ path: options.jwksFile, algorithms: options.algorithms, cooldown, clock: options.clock });
    }
  }

  get ready(): boolean {
    return this.#ready;
  }

  async warmUp(): Promise<void> {
    try {
      await this.#keys.current();
      this.#ready = true;
    } catch {
      // Reported by the first verification (UNAVAILABLE) and by authjwt_provider_up.
    }
  }

  async close(): Promise<void> {
    await this.#apiServerFetch?.close();
  }

  async verify(token: string, options: CallOptions = {}): Promise<VerifiedIdentity> {
    try {
      const keys = await this.#keys.current();
      this.#ready = true;
      if (!isJwtShaped(token)) throw authJwtError('UPSTREAM_MALFORMED');
      const header = decodeProtectedHeader(token);
      checkHeaderType(header);
      // Before the signature: a useful log when the configured issuer is not the cluster's (not secrets).
      checkIssuer(decodeJwt(token), this.#o.issuer);
      let payload: JWTPayload;
      try {
        payload = await this.#verifySignature(token, keys);
      } catch (error) {
        const refreshed = error instanceof joseErrors.JOSEAlgNotAllowed ? await this.#keys.rediscoverFor(header.alg) : undefined;
        if (!refreshed) throw error;
        payload = await this.#verifySignature(token, refreshed);
      }
      const identity = this.#checkClaims(payload);
      const expiresAt = Math.min(
        payload.exp! * 1000,
        identity.warnAfter === undefined ? Number.POSITIVE_INFINITY : identity.warnAfter * 1000,
      );
      if (this.#o.tokenReview) {
        const review = await reviewToken(this.#apiServerFetch!, this.#o.apiServer, token, this.#o.audiences, options.signal);
        if (review.username !== identity.username)
          throw authJwtError('UPSTREAM_TOKEN_REVIEW_REJECTED', { detail: 'TokenReview names another user than the token' });
      }
      return {
        accountId: renderSubject(this.#o.subject ?? 'system:serviceaccount:{namespace}:{name}', identity),
        claims: payload,
        expiresAt,
        clientId: undefined,
        strategy: this.#o.tokenReview ? 'token-review' : 'jwt',
        scopes: this.#o.scopes ? Object.freeze([...this.#o.scopes]) : undefined,
      };
    } catch (error) {
      throw classifyKubernetesError(error, () => this.#keys.jwksUnusable());
    }
  }

  async #verifySignature(token: string, keys: Awaited<ReturnType<ClusterKeys['current']>>): Promise<JWTPayload> {
    if (!keys.keys) throw authJwtError('PROVIDER_NO_JWKS');
    const { payload } = await jwtVerify(token, keys.keys, {
      issuer: this.#o.issuer,
      algorithms: [...keys.algorithms],
      clockTolerance: Math.round((this.#o.clockTolerance ?? 30_000) / 1000),
      // Kubernetes puts all of them in every projected token (pkg/serviceaccount/claims.go); a legacy
      // Secret-based token has no exp and is refused here.
      requiredClaims: ['exp', 'iat', 'sub', 'aud'],
      currentDate: new Date(this.#clock()),
    });
    return payload;
  }

  /** Audience, lifetime, iat, the `kubernetes.io` claim and the default service account. */
  #checkClaims(payload: JWTPayload): KubernetesIdentity {
    const o = this.#o;
    const now = this.#clock();
    const tolerance = o.clockTolerance ?? 30_000;
    const auds = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
    const api = auds.find((a) => o.apiAudiences.includes(a));
    // A token the API server would accept is never accepted here, whatever else it names.
    if (api !== undefined)
      throw authJwtError('UPSTREAM_WRONG_AUDIENCE', { detail: `aud names the API server (${JSON.stringify(api).slice(0, 100)})` });
    if (!auds.some((a) => o.audiences.includes(a)))
      throw authJwtError('UPSTREAM_WRONG_AUDIENCE', {
        detail: `aud ${JSON.stringify(auds.slice(0, 5)).slice(0, 200)} not in ${JSON.stringify(o.audiences)}`,
      });
    const iat = payload.iat!;
    if (iat * 1000 - tolerance > now) throw authJwtError('UPSTREAM_ISSUED_IN_FUTURE', { detail: `iat ${iat}` });
    const identity = kubernetesIdentityOf(payload);
    // An extended token (kube-apiserver --service-account-extend-token-expiration) is really valid until warnafter.
    const end = Math.min(payload.exp!, identity.warnAfter ?? Number.POSITIVE_INFINITY);
    if (identity.warnAfter !== undefined && identity.warnAfter * 1000 + tolerance <= now)
      throw authJwtError('UPSTREAM_EXPIRED', { detail: 'past kubernetes.io.warnafter (an extended token)' });
    const lifetime = (end - iat) * 1000;
    const max = o.maxTokenLifetime ?? 86_400_000;
    if (lifetime > max)
      throw authJwtError('UPSTREAM_LIFETIME_TOO_LONG', { detail: `${Math.round(lifetime / 1000)} s, at most ${max / 1000} s` });
    if (identity.serviceAccount.name === 'default' && !o.allowDefaultServiceAccount)
      throw authJwtError('POLICY_DEFAULT_SERVICE_ACCOUNT', { detail: `namespace ${identity.namespace}` });
    return identity;
  }
}

/**
 * The catalogue entry for a failure: an error of ours anywhere in a library's cause chain wins (the
 * API-server fetch's FORBIDDEN or CREDENTIALS_UNREADABLE inside openid-client's or jose's own), else
 * the shared classifier.
 */
function classifyKubernetesError(error: unknown, jwksUnusable: () => boolean): AuthJwtError {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (
      isAuthJwtError(e) &&
      (e.code === 'ERR_AUTHJWT_PROVIDER_KUBERNETES_FORBIDDEN' || e.code === 'ERR_AUTHJWT_PROVIDER_CREDENTIALS_UNREADABLE')
    )
      return e;
  }
  return classifyProviderError(error, { endpoint: 'jwt', jwksUnusable });
}
