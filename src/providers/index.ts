import type { Config, ProviderConfig } from '../config/load.ts';
import { CachingVerifier, type CacheObserver } from './caching-verifier.ts';
import { OidcVerifier } from './oidc-verifier.ts';
import type { FetchFn } from './provider-fetch.ts';
import type { ProviderCallObserver, TokenVerifier } from './types.ts';
import { UserApiVerifier } from './user-api-verifier.ts';

export type { TokenVerifier, VerifiedIdentity, Strategy } from './types.ts';

export interface RegisteredProvider {
  config: ProviderConfig;
  verifier: TokenVerifier;
  /** Provider reachability as last observed: OIDC discovery succeeded and the last call did not fail (timeout, network, 5xx). */
  ready(): boolean;
  /** Entries in its verification cache. */
  cacheSize(): number;
}

export interface ProviderRegistry {
  get(id: string): RegisteredProvider | undefined;
  all(): readonly RegisteredProvider[];
  /** Starts OIDC discovery in the background so the first calls are fast. */
  warmUp(): Promise<void>;
}

export interface ProviderRegistryOptions {
  observer?: (ProviderCallObserver & CacheObserver) | undefined;
  fetch?: FetchFn | undefined;
}

/** Builds one verifier per configured provider, each behind a verification cache. */
export function createProviderRegistry(config: Pick<Config, 'providers' | 'cache' | 'clockTolerance'>, options: ProviderRegistryOptions = {}): ProviderRegistry {
  const entries = new Map<string, RegisteredProvider>();
  // Last observed call result per provider: reported as provider state, never gates readiness.
  const lastCallFailed = new Map<string, boolean>();
  const observer: ProviderRegistryOptions['observer'] = {
    ...options.observer,
    onProviderCall(event) {
      lastCallFailed.set(event.provider, event.result === 'timeout' || event.result === 'error' || event.result === '5xx');
      options.observer?.onProviderCall?.(event);
    },
  };
  const oidcVerifiers: OidcVerifier[] = [];
  for (const p of config.providers) {
    let inner: TokenVerifier;
    let ready: () => boolean;
    if (p.strategy.kind === 'oidc') {
      const v = new OidcVerifier(p, { clockTolerance: config.clockTolerance, observer, fetch: options.fetch });
      oidcVerifiers.push(v);
      inner = v;
      ready = () => v.ready && !lastCallFailed.get(p.id);
    } else {
      inner = new UserApiVerifier(p, { observer, fetch: options.fetch });
      ready = () => !lastCallFailed.get(p.id);
    }
    const verifier = new CachingVerifier(inner, {
      maxEntries: config.cache.maxEntries,
      maxTtl: config.cache.maxTtl,
      remoteTtl: p.cacheTtl,
      observer,
    });
    // Map keys come only from config; lookups with attacker-chosen ids use Map.get (no prototype walk).
    entries.set(p.id, { config: p, verifier, ready, cacheSize: () => verifier.size });
  }
  return {
    get: (id) => entries.get(id),
    all: () => [...entries.values()],
    warmUp: async () => {
      await Promise.all(oidcVerifiers.map((v) => v.warmUp()));
    },
  };
}
