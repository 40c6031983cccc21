/**
 * Trust sources of federated client assertions (`federated_jwt`, RFC 7523 §2.2 with a workload token):
 * each kind is one factory returning the exchange's {@link TokenVerifier} port, so a new kind arrives as
 * one registration line in {@link TRUST_SOURCE_KINDS} (or, for a provider kind, in
 * {@link providerAssertionVerifier}). The verifier proves signature, issuer, audience and expiry; the
 * lifetime bound, the audience (again) and the client lookup are src/clients/federated.ts's.
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { JWT_SVID_ALGORITHMS } from '../config/client-auth-schema.ts';
import type { ProviderConfig } from '../config/types.ts';
import { authJwtError } from '../errors.ts';
import type { CallOptions, TokenVerifier, VerifiedIdentity } from '../exchange/ports.ts';
import { classifyProviderError } from '../providers/classify-error.ts';
import { createProviderFetch, type FetchFn } from '../providers/http/provider-fetch.ts';
import { OidcDiscovery } from '../providers/oidc/discovery.ts';
import { kubernetesVerifierFor } from '../providers/kubernetes/from-config.ts';
import { isJwtShaped } from '../providers/oidc/jwt-verifier.ts';
import { fileJwkSet, type JwkSetSource } from './jwk-set.ts';

/** What every kind's verifier is built with. */
export interface AssertionVerifierOptions {
  /** Accepted `aud` (one must be present). */
  audiences: readonly string[];
  /** ms tolerated on exp/nbf/iat. */
  clockTolerance: number;
  clock?: (() => number) | undefined;
  fetch?: FetchFn | undefined;
  /** A bundle file re-read, or failing to be re-read (logged by the composition root). */
  onReload?: ((event: { path: string; ok: boolean; keys?: number; error?: string }) => void) | undefined;
}

/** A configured trust source, ready to verify. */
export interface TrustSource {
  id: string;
  kind: string;
  /** Whether an assertion (its unverified `iss` and `sub`) belongs to this source: at most one source does (checked at load). */
  routes(claims: { iss?: unknown; sub?: unknown }): boolean;
  verifier: TokenVerifier;
  audiences: readonly string[];
  /** ms: longest accepted exp − iat (bearer-style tokens are reusable; their lifetime is bounded instead). */
  maxLifetime: number;
  close(): void;
}

/** JWT-SVID headers (JWT-SVID §2): any other header MUST NOT be present. */
const JWT_SVID_HEADERS = new Set(['alg', 'kid', 'typ']);

/**
 * SPIFFE JWT-SVIDs (JWT-SVID §2–4) against a trust domain's bundle: `alg` from the JWT-SVID list,
 * `typ` absent or `JWT`/`JOSE`, no other header, `aud` and `exp` required, `sub` a SPIFFE ID of the
 * trust domain; `iss` only when configured (SPIRE sets one with `jwt_issuer`).
 */
class SpiffeJwtSvidVerifier implements TokenVerifier {
  readonly #keys: JwkSetSource;
  readonly #trustDomain: string;
  readonly #issuer: string | undefined;
  readonly #options: AssertionVerifierOptions;

  constructor(keys: JwkSetSource, settings: { trustDomain: string; issuer: string | undefined }, options: AssertionVerifierOptions) {
    this.#keys = keys;
    this.#trustDomain = settings.trustDomain;
    this.#issuer = settings.issuer;
    this.#options = options;
  }

  async verify(token: string, _options: CallOptions = {}): Promise<VerifiedIdentity> {
    try {
      if (!isJwtShaped(token)) throw authJwtError('UPSTREAM_MALFORMED');
      const header = decodeProtectedHeader(token);
      const extra = Object.keys(header).filter((h) => !JWT_SVID_HEADERS.has(h));
      if (extra.length) throw authJwtError('UPSTREAM_INVALID_TOKEN', { detail: `JWT-SVID header ${extra[0]!.slice(0, 20)} not allowed` });
      if (header.typ !== undefined && header.typ !== 'JWT' && header.typ !== 'JOSE')
        throw authJwtError('UPSTREAM_WRONG_TYPE', { detail: `JWT-SVID typ ${String(header.typ).slice(0, 40)}` });
      const { payload } = await jwtVerify(token, this.#keys.getKey, {
        algorithms: [...JWT_SVID_ALGORITHMS],
        audience: [...this.#options.audiences],
        ...(this.#issuer !== undefined ? { issuer: this.#issuer } : {}),
        requiredClaims: ['exp', 'aud', 'sub'],
        clockTolerance: Math.round(this.#options.clockTolerance / 1000),
        currentDate: new Date((this.#options.clock ?? Date.now)()),
      });
      const sub = payload.sub!;
      if (!sub.startsWith(`spiffe://${this.#trustDomain}/`))
        throw authJwtError('UPSTREAM_INVALID_TOKEN', { detail: `sub is not a SPIFFE ID of trust domain ${this.#trustDomain}` });
      return identityOf(payload, sub);
    } catch (error) {
      throw classifyProviderError(error, { endpoint: 'jwt' });
    }
  }
}

/**
 * JWTs of an OIDC issuer, against its discovered JWKS (the providers' discovery and JWKS machinery: timeouts,
 * body caps, cooldown-limited refetch on an unknown kid, last good keys while the issuer is down): exact
 * `iss`, accepted `aud`, `exp` and `sub` required, asymmetric algorithms the issuer advertises or the
 * configured ones. Unlike a provider's access-token verifier it does not bind `azp`/`client_id` to
 * audiences: a workload token names no OAuth client, its audience is this endpoint.
 */
class OidcAssertionVerifier implements TokenVerifier {
  readonly #discovery: OidcDiscovery;
  readonly #issuer: string;
  readonly #options: AssertionVerifierOptions;

  constructor(discovery: OidcDiscovery, issuer: string, options: AssertionVerifierOptions) {
    this.#discovery = discovery;
    this.#issuer = issuer;
    this.#options = options;
  }

  async verify(token: string, _options: CallOptions = {}): Promise<VerifiedIdentity> {
    try {
      if (!isJwtShaped(token)) throw authJwtError('UPSTREAM_MALFORMED');
      let provider = await this.#discovery.current();
      const header = decodeProtectedHeader(token);
      let payload: JWTPayload;
      try {
        payload = await this.#verify(token, provider.keys, provider.algorithms);
      } catch (error) {
        const refreshed = error instanceof joseErrors.JOSEAlgNotAllowed ? await this.#discovery.rediscoverFor(header.alg) : undefined;
        if (!refreshed) throw error;
        provider = refreshed;
        payload = await this.#verify(token, provider.keys, provider.algorithms);
      }
      return identityOf(payload, payload.sub!);
    } catch (error) {
      throw classifyProviderError(error, { endpoint: 'jwt', jwksUnusable: () => this.#discovery.jwksUnusable() });
    }
  }

  async #verify(token: string, keys: Awaited<ReturnType<OidcDiscovery['current']>>['keys'], algorithms: readonly string[]) {
    if (!keys) throw authJwtError('PROVIDER_NO_JWKS');
    const { payload } = await jwtVerify(token, keys, {
      issuer: this.#issuer,
      audience: [...this.#options.audiences],
      algorithms: [...algorithms],
      requiredClaims: ['exp', 'sub'],
      clockTolerance: Math.round(this.#options.clockTolerance / 1000),
      currentDate: new Date((this.#options.clock ?? Date.now)()),
    });
    return payload;
  }
}

function identityOf(payload: JWTPayload, sub: string): VerifiedIdentity {
  return {
    accountId: sub,
    claims: payload,
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
    clientId: undefined,
    strategy: 'jwt',
  };
}

interface OidcIssuerSettings {
  id: string;
  issuer: string;
  algorithms: readonly string[] | undefined;
  timeout: number;
  jwksCooldown: number;
}

function oidcAssertionVerifier(settings: OidcIssuerSettings, options: AssertionVerifierOptions): TokenVerifier {
  const fetch = createProviderFetch({
    // A trust source is not a provider: no provider metrics; its failures reach the token endpoint's log line.
    provider: `trust-source:${settings.id}`,
    timeoutMs: settings.timeout,
    retries: 1,
    endpointOf: () => 'other',
    fetch: options.fetch,
  });
  const discovery = new OidcDiscovery({
    issuer: settings.issuer,
    clientId: undefined,
    clientSecret: undefined,
    algorithms: settings.algorithms,
    jwksCooldown: settings.jwksCooldown,
    timeout: settings.timeout,
    fetch,
    clock: options.clock,
  });
  return new OidcAssertionVerifier(discovery, settings.issuer, options);
}

/**
 * The assertion verifier of a configured provider (trust source kind `provider`): its keys and issuer,
 * this endpoint as the audience. A `kubernetes` provider lends its whole verifier (keys from the API
 * server with authjwt's own token, API-server audiences refused, the default service account refused
 * unless allowed, its lifetime bound; src/providers/kubernetes/), with this endpoint's audiences.
 */
function providerAssertionVerifier(
  provider: ProviderConfig,
  options: AssertionVerifierOptions,
): { verifier: TokenVerifier; issuer: string; close(): void } {
  if (provider.oidc)
    return {
      verifier: oidcAssertionVerifier(
        {
          id: provider.id,
          issuer: provider.oidc.issuer,
          algorithms: provider.oidc.algorithms,
          timeout: provider.timeout,
          jwksCooldown: provider.oidc.jwksCooldown,
        },
        options,
      ),
      issuer: provider.oidc.issuer,
      close: () => {},
    };
  if (provider.kubernetes) {
    const verifier = kubernetesVerifierFor(
      provider,
      { clockTolerance: options.clockTolerance },
      // A trust source is not a provider: no provider metrics (as for the oidc kind).
      { fetch: options.fetch, clock: options.clock, audiences: options.audiences, metricLabel: `trust-source:${provider.id}` },
    );
    return { verifier, issuer: provider.kubernetes.issuer, close: () => void verifier.close() };
  }
  throw new TypeError(`provider ${provider.id} cannot verify JWT assertions`);
}

/** A trust source as configured (tokenEndpoint.clientAuthentication.trustSources[]). */
export type TrustSourceConfig =
  | {
      id: string;
      kind: 'spiffe';
      trustDomain: string;
      bundleFile: string;
      reloadInterval: number;
      issuer?: string | undefined;
      maxLifetime: number;
      audiences?: readonly string[] | undefined;
    }
  | {
      id: string;
      kind: 'oidc';
      issuer: string;
      algorithms?: readonly string[] | undefined;
      timeout: number;
      jwksCooldown: number;
      maxLifetime: number;
      audiences?: readonly string[] | undefined;
    }
  | { id: string; kind: 'provider'; provider: string; maxLifetime: number; audiences?: readonly string[] | undefined };

type Factory<K extends TrustSourceConfig['kind']> = (
  source: Extract<TrustSourceConfig, { kind: K }>,
  options: AssertionVerifierOptions,
  providers: ReadonlyMap<string, ProviderConfig>,
) => { verifier: TokenVerifier; routes: TrustSource['routes']; close(): void };

const issuedBy = (issuer: string) => (claims: { iss?: unknown }) => claims.iss === issuer;

/** One factory per trust source kind: how its verifier is built and which assertions it takes. */
const TRUST_SOURCE_KINDS: { [K in TrustSourceConfig['kind']]: Factory<K> } = {
  spiffe: (source, options) => {
    const keys = fileJwkSet(source.bundleFile, 'jwt-svid', source.reloadInterval, options.onReload);
    const prefix = `spiffe://${source.trustDomain}/`;
    return {
      verifier: new SpiffeJwtSvidVerifier(keys, { trustDomain: source.trustDomain, issuer: source.issuer }, options),
      routes: (claims) => typeof claims.sub === 'string' && claims.sub.startsWith(prefix),
      close: () => keys.close(),
    };
  },
  oidc: (source, options) => ({
    verifier: oidcAssertionVerifier(
      { id: source.id, issuer: source.issuer, algorithms: source.algorithms, timeout: source.timeout, jwksCooldown: source.jwksCooldown },
      options,
    ),
    routes: issuedBy(source.issuer),
    close: () => {},
  }),
  provider: (source, options, providers) => {
    const { verifier, issuer, close } = providerAssertionVerifier(providers.get(source.provider)!, options);
    return { verifier, routes: issuedBy(issuer), close };
  },
};

export function createTrustSource(
  source: TrustSourceConfig,
  options: Omit<AssertionVerifierOptions, 'audiences'> & { defaultAudiences: readonly string[] },
  providers: ReadonlyMap<string, ProviderConfig>,
): TrustSource {
  const audiences = source.audiences ?? options.defaultAudiences;
  const factory = TRUST_SOURCE_KINDS[source.kind] as Factory<TrustSourceConfig['kind']>;
  const built = factory(source, { ...options, audiences }, providers);
  return { id: source.id, kind: source.kind, audiences, maxLifetime: source.maxLifetime, ...built };
}

/** Maps a verifier's verdict on an assertion to client authentication: a rejected token is invalid_client; an unreachable issuer stays unavailable. */
export function assertionFailure(error: unknown, sourceId: string): unknown {
  const e = classifyProviderError(error, { endpoint: 'jwt' });
  // permission_denied: an identity the verifier refuses by configuration (a Kubernetes `default` service account).
  if (e.kind === 'unauthenticated' || e.kind === 'invalid_argument' || e.kind === 'permission_denied')
    return authJwtError('CLIENT_AUTH_INVALID_ASSERTION', {
      cause: e,
      detail: `trust source ${sourceId}: ${e.code}${e.detail ? ` (${e.detail})` : ''}`,
    });
  return e.withMetadata({ trustSource: sourceId });
}
