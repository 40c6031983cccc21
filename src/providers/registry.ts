import type { Config, ProviderConfig } from '../config/types.ts';
import type { AccessPolicy, ExchangeProvider, LookupName, ProviderDirectory, TokenVerifier } from '../exchange/ports.ts';
import { CachingVerifier, type CacheObserver } from './caching-verifier.ts';
import { createProviderFetch, type FetchFn, type ProviderCallObserver } from './http/provider-fetch.ts';
import { kubernetesVerifierFor } from './kubernetes/from-config.ts';
import { selfSignedVerifierFor } from './self-signed/from-config.ts';
import type { KubernetesTokenVerifier } from './kubernetes/kubernetes-verifier.ts';
import { AutoVerifier } from './oidc/auto-verifier.ts';
import { OidcDiscovery } from './oidc/discovery.ts';
import { IntrospectionVerifier } from './oidc/introspection-verifier.ts';
import { OidcJwtVerifier, type OidcTokenSettings } from './oidc/jwt-verifier.ts';
import { UserinfoVerifier } from './oidc/userinfo-verifier.ts';
import { lookupsFor } from './user-api/lookups.ts';
import { UserApiVerifier, type UserApiSettings } from './user-api/user-api-verifier.ts';

/**
 * A provider's reachability as last observed. `reachable`: its last call got an answer (any HTTP status:
 * a 4xx is the provider answering) and, for OIDC, discovery has succeeded. `unreachable`: its last call
 * ended in a timeout, a network error or a 5xx. `unknown`: nothing observed yet — a user-API provider
 * (GitHub, GitLab) before its first call, an OIDC provider before discovery has finished.
 */
export type ProviderReachability = 'reachable' | 'unreachable' | 'unknown';

interface RegisteredProvider {
  id: string;
  /** What the exchange use case sees. */
  exchange: ExchangeProvider;
  /** Reachability as last observed (see ProviderReachability). Reported, never gates readiness. */
  reachability(): ProviderReachability;
  /** Entries in its verification cache. */
  cacheSize(): number;
}

export interface ProviderRegistry extends ProviderDirectory {
  all(): readonly RegisteredProvider[];
  /** Starts OIDC discovery (and Kubernetes key discovery) in the background so the first calls are fast. */
  warmUp(): Promise<void>;
  /** Releases outbound connections (the Kubernetes API-server clients). */
  close(): Promise<void>;
}

export interface ProviderRegistryOptions {
  observer?: (ProviderCallObserver & CacheObserver) | undefined;
  fetch?: FetchFn | undefined;
  /** Compiled access policies by provider id (src/policy); a provider without one mints for any proven account. */
  policies?: ReadonlyMap<string, AccessPolicy> | undefined;
  /** Wraps each provider's verifier (tracing). */
  wrapVerifier?: ((verifier: TokenVerifier, providerId: string) => TokenVerifier) | undefined;
  /** Hears each re-read of a selfSigned provider's workload JWK Set file: a change, or a failure (the last good keys stay). */
  onWorkloadKeysReload?: ((event: { provider: string; path: string; ok: boolean; keys?: number; error?: string }) => void) | undefined;
  /** Connection changes of a selfSigned provider's Redis replay cache (`replayStore: redis`). */
  onWorkloadReplayCacheEvent?:
    | ((event: { provider: string; kind: 'ready' | 'error' | 'reconnecting'; error?: string }) => void)
    | undefined;
  clock?: () => number;
}

/** Lookups a provider can offer for policies (GitHub orgs and teams, GitLab groups). */
export function availableLookups(provider: ProviderConfig): LookupName[] {
  return provider.userApi ? [...lookupsFor(provider.userApi.preset, lookupBase(provider)).keys()] : [];
}

/**
 * Builds one verifier per configured provider — discovery shared by its strategies, behind a
 * verification cache — and answers the exchange's provider lookups.
 */
export function createProviderRegistry(
  config: Pick<Config, 'providers' | 'cache' | 'clockTolerance' | 'audience' | 'tokenTtl' | 'capToUpstreamExpiry' | 'issuer'> &
    Partial<Pick<Config, 'tokenEndpoint' | 'clientAuthSecrets'>>,
  options: ProviderRegistryOptions = {},
): ProviderRegistry {
  const entries = new Map<string, RegisteredProvider>();
  const byIssuer = new Map<string, RegisteredProvider>();
  const discoveries: OidcDiscovery[] = [];
  const kubernetesVerifiers: KubernetesTokenVerifier[] = [];
  const closers: (() => Promise<void>)[] = [];
  // Last observed call result per provider: reported as provider state, never gates readiness. A call
  // the caller abandoned (`aborted`) says nothing about the provider.
  const lastCallFailed = new Map<string, boolean>();
  const observer: ProviderCallObserver & CacheObserver = {
    ...options.observer,
    onProviderCall(event) {
      if (event.result !== 'aborted')
        lastCallFailed.set(event.provider, event.result === 'timeout' || event.result === 'error' || event.result === '5xx');
      options.observer?.onProviderCall?.(event);
    },
  };

  for (const p of config.providers) {
    const policy = options.policies?.get(p.id);
    let discovery: OidcDiscovery | undefined;
    let kubernetes: KubernetesTokenVerifier | undefined;
    // A kubernetes provider builds its own (its API-server client): see src/providers/kubernetes/.
    const providerFetch = () =>
      createProviderFetch({
        provider: p.id,
        timeoutMs: p.timeout,
        retries: p.retries,
        circuitBreaker: p.circuitBreaker,
        observer,
        fetch: options.fetch,
        endpointOf: (url) => (discovery ? oidcEndpointOf(url, discovery) : userApiEndpointOf(url)),
      });
    let inner: TokenVerifier;
    let cacheable = true;
    if (p.selfSigned) {
      const built = selfSignedVerifierFor(p, config, {
        clock: options.clock,
        onKeysReload: (event) => options.onWorkloadKeysReload?.({ provider: p.id, ...event }),
        onReplayCacheEvent: (event) => options.onWorkloadReplayCacheEvent?.({ provider: p.id, ...event }),
      });
      inner = built.verifier;
      closers.push(built.close);
      // Never cached nor shared in flight: a cache hit or a shared verification would skip the jti check.
      cacheable = false;
    } else if (p.oidc) {
      discovery = new OidcDiscovery({
        issuer: p.oidc.issuer,
        clientId: p.clientId,
        clientSecret: p.clientSecret?.reveal(),
        algorithms: p.oidc.algorithms,
        jwksCooldown: p.oidc.jwksCooldown,
        timeout: p.timeout,
        fetch: providerFetch(),
        clock: options.clock,
      });
      discoveries.push(discovery);
      inner = oidcVerifier(p, discovery, {
        issuer: p.oidc.issuer,
        audiences: p.audiences,
        accountIdClaim: p.accountIdClaim,
        clockTolerance: config.clockTolerance,
        clock: options.clock,
      });
    } else if (p.kubernetes) {
      inner = kubernetes = kubernetesVerifierFor(p, config, { observer, fetch: options.fetch, clock: options.clock });
      kubernetesVerifiers.push(kubernetes);
    } else {
      const userApi = p.userApi!;
      const offered = lookupsFor(userApi.preset, lookupBase(p));
      inner = new UserApiVerifier({
        url: userApi.url,
        headers: userApi.headers,
        accountIdClaim: p.accountIdClaim,
        githubApp:
          userApi.preset === 'github' && p.clientId && p.clientSecret && userApi.apiBaseUrl
            ? { apiBaseUrl: userApi.apiBaseUrl, clientId: p.clientId, clientSecret: p.clientSecret.reveal() }
            : undefined,
        // Only what some expression needs is fetched (each lookup is a provider call per verification).
        lookups: [...(policy?.needs ?? [])].filter((n) => offered.has(n)).map((name) => ({ name, url: offered.get(name)! })),
        scopes: userApiScopeSource(p),
        fetch: providerFetch(),
      });
    }
    const cached = cacheable
      ? new CachingVerifier(inner, {
          provider: p.id,
          maxEntries: config.cache.maxEntries,
          maxTtl: config.cache.maxTtl,
          remoteTtl: p.cacheTtl,
          observer,
          clock: options.clock,
        })
      : undefined;
    const verifier = options.wrapVerifier ? options.wrapVerifier(cached ?? inner, p.id) : (cached ?? inner);
    const d = discovery;
    const k = kubernetes;
    const jwtIssuer = p.oidc?.issuer ?? p.kubernetes?.issuer;
    const entry: RegisteredProvider = {
      id: p.id,
      exchange: {
        id: p.id,
        accountTypes: p.accountTypes,
        issuer: jwtIssuer,
        verifier,
        policy,
        claimPaths: p.claims,
        audience: p.audience ?? config.audience,
        tokenTtl: p.tokenTtl ?? config.tokenTtl,
        capToUpstreamExpiry: p.capToUpstreamExpiry ?? config.capToUpstreamExpiry,
        defaultClientId: p.clientId ?? p.id,
        ...(p.selfSigned ? { selfSigned: true } : {}),
      },
      reachability: () => {
        const failed = lastCallFailed.get(p.id);
        if (failed) return 'unreachable';
        if (d) return d.discovered ? 'reachable' : 'unknown';
        if (k) return k.ready ? 'reachable' : 'unknown';
        // Nothing to reach: the workloads' keys are configuration.
        if (p.selfSigned) return 'reachable';
        return failed === false ? 'reachable' : 'unknown';
      },
      cacheSize: () => cached?.size ?? 0,
    };
    // Map keys come only from config; lookups with attacker-chosen ids use Map.get (no prototype walk).
    entries.set(p.id, entry);
    if (jwtIssuer !== undefined && !byIssuer.has(jwtIssuer)) byIssuer.set(jwtIssuer, entry);
  }
  return {
    get: (id) => entries.get(id)?.exchange,
    byIssuer: (issuer) => byIssuer.get(issuer)?.exchange,
    all: () => [...entries.values()],
    warmUp: async () => {
      await Promise.all([
        ...discoveries.map((d) =>
          d.current().then(
            () => undefined,
            () => undefined,
          ),
        ),
        ...kubernetesVerifiers.map((v) => v.warmUp()),
      ]);
    },
    close: async () => {
      await Promise.all([...kubernetesVerifiers.map((v) => v.close()), ...closers.map((c) => c())]);
    },
  };
}

function oidcVerifier(p: ProviderConfig, discovery: OidcDiscovery, settings: OidcTokenSettings): TokenVerifier {
  const jwt = () => new OidcJwtVerifier(discovery, settings);
  const introspection = () =>
    new IntrospectionVerifier(discovery, { ...settings, hasClientCredentials: Boolean(p.clientId && p.clientSecret) });
  const userinfo = () => new UserinfoVerifier(discovery, settings);
  switch (p.strategy) {
    case 'jwt':
      return jwt();
    case 'introspection':
      return introspection();
    case 'userinfo':
      return userinfo();
    default:
      return new AutoVerifier(discovery, { jwt: jwt(), introspection: p.clientSecret ? introspection() : undefined, userinfo: userinfo() });
  }
}

/**
 * Where a user-API provider's token scopes are read: GitHub's `X-OAuth-Scopes`; GitLab's
 * `/oauth/token/info` (the instance root: the user API URL without `/api/v4/user`). Other user APIs: none.
 */
function userApiScopeSource(p: ProviderConfig): UserApiSettings['scopes'] {
  const api = p.userApi!;
  if (api.preset === 'github') return { source: 'github' };
  if (api.preset === 'gitlab' && api.url.endsWith('/api/v4/user'))
    return { source: 'gitlab', tokenInfoUrl: `${api.url.slice(0, -'/api/v4/user'.length)}/oauth/token/info` };
  return undefined;
}

/** REST API base for lookups: the configured/preset apiBaseUrl, else (GitLab) the user API URL without `/user`. */
function lookupBase(p: ProviderConfig): string | undefined {
  const api = p.userApi;
  if (!api) return undefined;
  return api.apiBaseUrl ?? (api.url.endsWith('/user') ? api.url.slice(0, -'/user'.length) : undefined);
}

function oidcEndpointOf(url: URL, discovery: OidcDiscovery): string {
  if (url.pathname.endsWith('/.well-known/openid-configuration')) return 'discovery';
  const meta = discovery.metadata;
  if (meta) {
    const href = url.href;
    if (href === meta.jwks_uri) return 'jwks';
    if (href === meta.introspection_endpoint) return 'introspection';
    if (href === meta.userinfo_endpoint) return 'userinfo';
  }
  return 'other';
}

function userApiEndpointOf(url: URL): string {
  if (url.pathname.includes('/applications/')) return 'token_binding';
  if (url.pathname.endsWith('/oauth/token/info')) return 'token_info';
  if (/\/(user\/orgs|user\/teams|groups)$/.test(url.pathname)) return 'lookup';
  return 'user_api';
}
