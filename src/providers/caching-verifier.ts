import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { CallOptions, TokenVerifier, VerifiedIdentity } from '../exchange/ports.ts';

export interface CacheObserver {
  onCacheLookup?(provider: string, result: 'hit' | 'miss' | 'shared'): void;
}

export interface CachingVerifierOptions {
  /** Provider id (metric label). */
  provider: string;
  maxEntries: number;
  /** Upper bound (ms) for any entry. */
  maxTtl: number;
  /** Lifetime (ms) for results proven by a provider call (introspection, userinfo, user API). */
  remoteTtl: number;
  observer?: CacheObserver | undefined;
  clock?: () => number;
}

/** One verification shared by every caller presenting the same token at the same time. */
interface Flight {
  promise: Promise<VerifiedIdentity>;
  /** Aborted when the last waiting caller leaves: nobody wants the answer any more. */
  controller: AbortController;
  waiters: number;
}

/**
 * Decorates a verifier with a bounded verification cache and single-flight:
 * - entries are keyed by SHA-256 of the token (the token itself is never stored);
 * - an entry never outlives the upstream token's expiry, nor `maxTtl`; results of remote strategies
 *   live `remoteTtl` (default 0: revocation is seen at once);
 * - only successes are cached;
 * - concurrent verifications of the same token share one provider call, which runs until it settles
 *   or the *last* waiter leaves: each caller's deadline or cancellation aborts only that caller.
 */
export class CachingVerifier implements TokenVerifier {
  readonly #inner: TokenVerifier;
  readonly #options: CachingVerifierOptions;
  readonly #clock: () => number;
  readonly #cache: LRUCache<string, VerifiedIdentity> | undefined;
  readonly #inflight = new Map<string, Flight>();

  constructor(inner: TokenVerifier, options: CachingVerifierOptions) {
    this.#inner = inner;
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#cache = options.maxEntries > 0 ? new LRUCache({ max: options.maxEntries, ttlAutopurge: false, allowStale: false }) : undefined;
  }

  get size(): number {
    return this.#cache?.size ?? 0;
  }

  verify(token: string, options: CallOptions = {}): Promise<VerifiedIdentity> {
    const key = hash('sha256', token, 'base64url');
    const cached = this.#cache?.get(key);
    if (cached && (cached.expiresAt === undefined || cached.expiresAt > this.#clock())) {
      this.#options.observer?.onCacheLookup?.(this.#options.provider, 'hit');
      return Promise.resolve(cached);
    }
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    let flight = this.#inflight.get(key);
    this.#options.observer?.onCacheLookup?.(this.#options.provider, flight ? 'shared' : 'miss');
    if (!flight) flight = this.#start(key, token);
    return this.#wait(key, flight, options.signal);
  }

  #start(key: string, token: string): Flight {
    const controller = new AbortController();
    const flight: Flight = { controller, waiters: 0, promise: undefined as never };
    // A flight is in #inflight from its start until it settles or is abandoned.
    const forget = () => {
      if (this.#inflight.get(key) === flight) this.#inflight.delete(key);
    };
    flight.promise = this.#inner.verify(token, { signal: controller.signal }).then(
      (identity) => {
        forget();
        const ttl = this.#ttlFor(identity);
        if (this.#cache && ttl > 0) this.#cache.set(key, identity, { ttl });
        return identity;
      },
      (error: unknown) => {
        forget();
        throw error;
      },
    );
    // Nobody may be waiting when it fails (all left): never an unhandled rejection.
    flight.promise.catch(() => undefined);
    this.#inflight.set(key, flight);
    return flight;
  }

  #wait(key: string, flight: Flight, signal: AbortSignal | undefined): Promise<VerifiedIdentity> {
    flight.waiters++;
    return new Promise<VerifiedIdentity>((resolve, reject) => {
      let left = false;
      const leave = () => {
        if (left) return false;
        left = true;
        signal?.removeEventListener('abort', onAbort);
        flight.waiters--;
        return true;
      };
      const onAbort = () => {
        if (!leave()) return;
        reject(signal!.reason);
        if (flight.waiters === 0 && this.#inflight.get(key) === flight) {
          // The last interested caller left a call still running: stop it and let the next caller start afresh.
          this.#inflight.delete(key);
          flight.controller.abort(signal!.reason);
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (identity) => leave() && resolve(identity),
        (error: unknown) => leave() && reject(error),
      );
    });
  }

  #ttlFor(identity: VerifiedIdentity): number {
    const base = identity.strategy === 'jwt' ? this.#options.maxTtl : Math.min(this.#options.remoteTtl, this.#options.maxTtl);
    const untilExpiry = identity.expiresAt === undefined ? Number.POSITIVE_INFINITY : identity.expiresAt - this.#clock();
    return Math.floor(Math.min(base, untilExpiry));
  }
}
