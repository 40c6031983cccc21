import { LRUCache } from 'lru-cache';
import type { MintedClaims, MintedTokenCache } from './ports.ts';

type Entry = { token: string; kid: string; expiresAt: number; claims: MintedClaims };

/** What the cache reports (metrics): every lookup, and every entry it drops on its own. */
export interface MintedTokenCacheObserver {
  onMintedTokenLookup?(result: 'hit' | 'miss'): void;
  /** `capacity`: the least recently used entry made room; `expired`: within `refreshMargin` of its `exp` at a lookup. */
  onMintedTokenEviction?(reason: 'capacity' | 'expired'): void;
}

export interface LruMintedTokenCacheOptions {
  /** Entries kept; the least recently used is evicted beyond it. */
  maxEntries: number;
  /** ms: an entry is served until this long before its token expires. */
  refreshMargin: number;
  observer?: MintedTokenCacheObserver | undefined;
}

/**
 * The {@link MintedTokenCache} port as a bounded LRU. Keys are the SHA-256 digests the exchange
 * computes over (provider, subject token, subject, audience, client, claims): never a token. A token is
 * reused until `refreshMargin` before its `exp`, so a caller always gets at least that much lifetime
 * (an entry with less left is dropped at its next lookup).
 */
export class LruMintedTokenCache implements MintedTokenCache {
  readonly #cache: LRUCache<string, Entry>;
  readonly #margin: number;
  readonly #observer: MintedTokenCacheObserver;

  constructor(options: LruMintedTokenCacheOptions) {
    const observer = options.observer ?? {};
    this.#observer = observer;
    this.#cache = new LRUCache({
      max: options.maxEntries,
      // Only evictions for room: replacing (`set`) and our own `delete` of an expired entry are not.
      ...(observer.onMintedTokenEviction
        ? { dispose: (_v, _k, reason) => reason === 'evict' && observer.onMintedTokenEviction!('capacity') }
        : {}),
    });
    this.#margin = options.refreshMargin;
  }

  get size(): number {
    return this.#cache.size;
  }

  get(key: string, now: number): Entry | undefined {
    const entry = this.#cache.get(key);
    if (entry !== undefined && entry.expiresAt - this.#margin <= now) {
      this.#cache.delete(key);
      this.#observer.onMintedTokenEviction?.('expired');
    } else if (entry !== undefined) {
      this.#observer.onMintedTokenLookup?.('hit');
      return entry;
    }
    this.#observer.onMintedTokenLookup?.('miss');
    return undefined;
  }

  set(key: string, value: Entry): void {
    // Shared between callers from now on: nobody may change what another caller was given.
    this.#cache.set(key, Object.freeze({ ...value, claims: Object.freeze({ ...value.claims }) }));
  }
}
