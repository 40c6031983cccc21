import { createLocalJWKSet, createRemoteJWKSet, customFetch as joseCustomFetch, type JWTVerifyGetKey } from 'jose';
import * as oidc from 'openid-client';
import { authJwtError, type AuthJwtError } from '../../errors.ts';
import { classifyProviderError } from '../classify-error.ts';
import { ASYMMETRIC_JWS_ALGORITHMS } from '../../config/schema.ts';
import type { FetchFn } from '../http/provider-fetch.ts';

/** Every asymmetric JWS algorithm jose verifies; symmetric ones and `none` are never accepted (RFC 8725 §2.1). */
const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set(ASYMMETRIC_JWS_ALGORITHMS);
/** After a failed discovery, further attempts wait this long (calls fail fast with UNAVAILABLE meanwhile). */
const DISCOVERY_RETRY_MS = 2_000;
/** The provider's JWKS are refetched in the background after this age; the last good copy keeps serving. */
const JWKS_MAX_AGE_MS = 600_000;

export interface DiscoveryOptions {
  issuer: string;
  clientId: string | undefined;
  clientSecret: string | undefined;
  /** Configured algorithm allow-list; undefined: what the provider advertises. */
  algorithms: readonly string[] | undefined;
  /** Minimum ms between JWKS refetches and rediscoveries a token can trigger. */
  jwksCooldown: number;
  timeout: number;
  /** The provider's fetch (timeouts, retries, breaker, body cap). */
  fetch: FetchFn;
  clock?: () => number;
  /**
   * Where the discovery document is read when it is not served at the issuer (a Kubernetes API server
   * serves its service-account issuer's document at its own URL). The document's `issuer` must still be
   * exactly `issuer`. Default: `{issuer}/.well-known/openid-configuration`.
   */
  discoveryUrl?: string | undefined;
  /** Chooses the JWKS URL from the discovered metadata. Default: its `jwks_uri`. */
  jwksUriOf?: ((metadata: oidc.ServerMetadata) => string | undefined) | undefined;
}

export interface DiscoveredProvider {
  configuration: oidc.Configuration;
  metadata: oidc.ServerMetadata;
  /** Key resolver over the provider's JWKS with fallback to the last good copy; undefined without jwks_uri. */
  keys: JWTVerifyGetKey | undefined;
  /** Accepted JWS algorithms: configured, else advertised, asymmetric only. */
  algorithms: readonly string[];
}

type RemoteJwks = ReturnType<typeof createRemoteJWKSet>;

/**
 * OIDC discovery for one provider (openid-client) and its JWKS (jose): discovered once and shared by
 * every strategy; retried at most every 2 s after a failure; rediscovered — rate-limited — when a token
 * uses an algorithm the provider did not advertise. A rediscovery replaces nothing until it succeeds,
 * and keeps the same JWKS cache when the jwks_uri is unchanged, so a forged token cannot make the
 * service drop the keys it needs for genuine ones.
 */
export class OidcDiscovery {
  readonly #options: DiscoveryOptions;
  readonly #clock: () => number;
  #current: Promise<DiscoveredProvider> | undefined;
  #settled: DiscoveredProvider | undefined;
  #remote: { uri: string; jwks: RemoteJwks } | undefined;
  #lastFailure: { at: number; error: AuthJwtError } | undefined;
  #lastRediscovery = Number.NEGATIVE_INFINITY;

  constructor(options: DiscoveryOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** True once discovery succeeded. */
  get discovered(): boolean {
    return this.#settled !== undefined;
  }

  /** Endpoint URLs as last discovered (metric labels). */
  get metadata(): oidc.ServerMetadata | undefined {
    return this.#settled?.metadata;
  }

  /** The discovered provider: the settled result, or one shared attempt (failures retried at most every 2 s). */
  current(): Promise<DiscoveredProvider> {
    if (this.#current) return this.#current;
    const failure = this.#lastFailure;
    if (failure && this.#clock() - failure.at < DISCOVERY_RETRY_MS) return Promise.reject(failure.error);
    const attempt = this.#discover();
    this.#current = attempt;
    attempt.then(
      (d) => {
        this.#settled = d;
        this.#lastFailure = undefined;
      },
      (error: AuthJwtError) => {
        // Forget the failed attempt so a later call retries (rate-limited above).
        if (this.#current === attempt) this.#current = undefined;
        this.#lastFailure = { at: this.#clock(), error };
      },
    );
    return attempt;
  }

  /**
   * A token used `alg`, which the discovered provider does not accept: rediscover (the provider may
   * have rotated to another key type) at most once per cooldown. Returns the new state when it now
   * accepts `alg`; keeps the current state on any failure.
   */
  async rediscoverFor(alg: string | undefined): Promise<DiscoveredProvider | undefined> {
    const now = this.#clock();
    if (!alg || !ASYMMETRIC_ALGORITHMS.has(alg) || this.#options.algorithms || now - this.#lastRediscovery < this.#options.jwksCooldown)
      return undefined;
    this.#lastRediscovery = now;
    let fresh: DiscoveredProvider;
    try {
      fresh = await this.#discover();
    } catch {
      return undefined;
    }
    this.#settled = fresh;
    this.#current = Promise.resolve(fresh);
    return fresh.algorithms.includes(alg) ? fresh : undefined;
  }

  /** True when the provider's last fetched JWKS has no RSA/EC/OKP signing key. */
  jwksUnusable(): boolean {
    const keys = (this.#remote?.jwks.jwks()?.keys ?? []) as { kty?: string; use?: string }[];
    return !keys.some((k) => (k.use === undefined || k.use === 'sig') && ['RSA', 'EC', 'OKP'].includes(k.kty ?? ''));
  }

  async #discover(): Promise<DiscoveredProvider> {
    const o = this.#options;
    // A URL naming /.well-known/ is read as it is (openid-client then leaves the issuer check to us, below).
    const issuer = new URL(o.discoveryUrl ?? o.issuer);
    const auth = o.clientSecret ? oidc.ClientSecretBasic(o.clientSecret) : oidc.None();
    let configuration: oidc.Configuration;
    try {
      configuration = await oidc.discovery(issuer, o.clientId ?? 'authjwt', undefined, auth, {
        [oidc.customFetch]: o.fetch as oidc.CustomFetch,
        execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
      });
      if (o.discoveryUrl !== undefined && configuration.serverMetadata().issuer !== o.issuer) {
        throw new Error(
          `the discovery document names issuer ${JSON.stringify(configuration.serverMetadata().issuer).slice(0, 200)}, configured ${JSON.stringify(o.issuer)}`,
        );
      }
    } catch (error) {
      const classified = classifyProviderError(error, { endpoint: 'discovery' });
      if (
        classified.kind === 'unavailable' &&
        classified.code !== 'ERR_AUTHJWT_PROVIDER_BAD_RESPONSE' &&
        classified.code !== 'ERR_AUTHJWT_PROVIDER_CLIENT_AUTH_FAILED'
      )
        throw classified;
      throw authJwtError('PROVIDER_DISCOVERY_FAILED', { cause: error, detail: (error as Error).message?.slice(0, 300) });
    }
    const metadata = configuration.serverMetadata();
    for (const field of ['jwks_uri', 'introspection_endpoint', 'userinfo_endpoint'] as const) {
      const value = metadata[field];
      if (value !== undefined && new URL(value).origin !== issuer.origin && new URL(value).protocol !== 'https:') {
        throw authJwtError('PROVIDER_DISCOVERY_INSECURE', { detail: `${field} must be https when on another origin` });
      }
    }
    const advertised = metadata.id_token_signing_alg_values_supported ?? [];
    const candidates = o.algorithms ?? (advertised.length ? advertised : [...ASYMMETRIC_ALGORITHMS]);
    // An HS256 token "signed" with the provider's public key would otherwise verify (RFC 8725 §2.1).
    const algorithms = candidates.filter((a) => ASYMMETRIC_ALGORITHMS.has(a));
    if (algorithms.length === 0) throw authJwtError('PROVIDER_NO_ALGORITHMS');
    return { configuration, metadata, keys: this.#keysFor(o.jwksUriOf ? o.jwksUriOf(metadata) : metadata.jwks_uri), algorithms };
  }

  /** One jose remote JWKS per jwks_uri, kept across rediscoveries, with fallback to its last good copy. */
  #keysFor(uri: string | undefined): JWTVerifyGetKey | undefined {
    if (!uri) return undefined;
    if (this.#remote?.uri !== uri) {
      this.#remote = {
        uri,
        jwks: createRemoteJWKSet(new URL(uri), {
          [joseCustomFetch]: this.#options.fetch as never,
          cooldownDuration: this.#options.jwksCooldown,
          cacheMaxAge: JWKS_MAX_AGE_MS,
          timeoutDuration: this.#options.timeout,
        }),
      };
    }
    const remote = this.#remote.jwks;
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        // The provider cannot be reached (or answers garbage): keep verifying with the keys we had.
        const lastGood = remote.jwks();
        if (!lastGood || isVerdictAboutToken(error)) throw error;
        try {
          return await createLocalJWKSet(lastGood)(header, token);
        } catch {
          throw error;
        }
      }
    };
  }
}

/** jose errors that judge the token (as opposed to the JWKS fetch failing). */
function isVerdictAboutToken(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (
    code === 'ERR_JWKS_NO_MATCHING_KEY' ||
    code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' ||
    code === 'ERR_JOSE_NOT_SUPPORTED' ||
    code === 'ERR_JWS_INVALID'
  );
}
