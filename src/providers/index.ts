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
  /** Provider reachability as last observed (OIDC: discovery succeeded); user-API providers: true. */
  ready(): boolean;
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
  const oidcVerifiers: OidcVerifier[] = [];
  for (const p of config.providers) {
    let inner: TokenVerifier;
    let ready: () => boolean;
    if (p.strategy.kind === 'oidc') {
      const v = new OidcVerifier(p, { clockTolerance: config.clockTolerance, observer: options.observer, fetch: options.fetch });
      oidcVerifiers.push(v);
      inner = v;
      ready = () => v.ready;
    } else {
      inner = new UserApiVerifier(p, { observer: options.observer, fetch: options.fetch });
      ready = () => true;
    }
    const verifier = new CachingVerifier(inner, {
      maxEntries: config.cache.maxEntries,
      maxTtl: config.cache.maxTtl,
      remoteTtl: p.cacheTtl,
      observer: options.observer,
    });
    // Map keys come only from config; lookups with attacker-chosen ids use Map.get (no prototype walk).
    entries.set(p.id, { config: p, verifier, ready });
  }
  return {
    get: (id) => entries.get(id),
    all: () => [...entries.values()],
    warmUp: async () => {
      await Promise.all(oidcVerifiers.map((v) => v.warmUp()));
    },
  };
}
