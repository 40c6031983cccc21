import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { TokenVerifier, VerifiedIdentity, VerifyOptions } from './types.ts';

export interface CacheObserver {
  onCacheLookup?(provider: string, result: 'hit' | 'miss' | 'shared'): void;
}

export interface CachingVerifierOptions {
  maxEntries: number;
  /** Upper bound (ms) for any entry. */
  maxTtl: number;
  /** Lifetime (ms) for results proven by a provider call (introspection, userinfo, user API). */
  remoteTtl: number;
  observer?: CacheObserver | undefined;
  clock?: () => number;
}

/**
 * Decorates a verifier with a bounded verification cache and single-flight:
 * - entries are keyed by SHA-256 of the token (the token itself is never stored);
 * - an entry never outlives the upstream token's expiry, nor `maxTtl`; results of remote strategies
 *   live `remoteTtl` (default 0: revocation is seen at once);
 * - only successes are cached; concurrent verifications of the same token share one provider call.
 */
export class CachingVerifier implements TokenVerifier {
  readonly providerId: string;
  readonly #inner: TokenVerifier;
  readonly #options: CachingVerifierOptions;
  readonly #clock: () => number;
  readonly #cache: LRUCache<string, VerifiedIdentity> | undefined;
  readonly #inflight = new Map<string, Promise<VerifiedIdentity>>();

  constructor(inner: TokenVerifier, options: CachingVerifierOptions) {
    this.providerId = inner.providerId;
    this.#inner = inner;
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#cache = options.maxEntries > 0 ? new LRUCache({ max: options.maxEntries, ttlAutopurge: false, allowStale: false }) : undefined;
  }

  get size(): number {
    return this.#cache?.size ?? 0;
  }

  verify(token: string, options?: VerifyOptions): Promise<VerifiedIdentity> {
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.#cache?.get(key);
    if (cached && (cached.expiresAt === undefined || cached.expiresAt > this.#clock())) {
      this.#options.observer?.onCacheLookup?.(this.providerId, 'hit');
      return Promise.resolve(cached);
    }
    const pending = this.#inflight.get(key);
    if (pending) {
      this.#options.observer?.onCacheLookup?.(this.providerId, 'shared');
      return pending;
    }
    this.#options.observer?.onCacheLookup?.(this.providerId, 'miss');
    const call = this.#inner.verify(token, options).then((identity) => {
      const ttl = this.#ttlFor(identity);
      if (this.#cache && ttl > 0) this.#cache.set(key, identity, { ttl });
      return identity;
    });
    this.#inflight.set(key, call);
    const cleanup = () => this.#inflight.delete(key);
    call.then(cleanup, cleanup);
    return call;
  }

  #ttlFor(identity: VerifiedIdentity): number {
    const base = identity.strategy === 'jwt' ? this.#options.maxTtl : Math.min(this.#options.remoteTtl, this.#options.maxTtl);
    const untilExpiry = identity.expiresAt === undefined ? Number.POSITIVE_INFINITY : identity.expiresAt - this.#clock();
    return Math.floor(Math.min(base, untilExpiry));
  }
}
