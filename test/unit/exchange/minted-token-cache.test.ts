/** The minted-token cache: bounded, served until refreshMargin before exp, entries frozen. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LruMintedTokenCache } from '../../../src/exchange/minted-token-cache.ts';
import type { MintedClaims } from '../../../src/exchange/ports.ts';

const claims = (jti: string): MintedClaims => ({ iss: 'https://authjwt.test', sub: 's', exp: 2_000, iat: 1_000, jti });
const entry = (jti: string, expiresAt = 2_000_000) => ({ token: `t-${jti}`, kid: 'k', expiresAt, claims: claims(jti) });

describe('LruMintedTokenCache', () => {
  it('serves an entry until refreshMargin before it expires, then drops it', () => {
    const cache = new LruMintedTokenCache({ maxEntries: 10, refreshMargin: 60_000 });
    cache.set('k1', entry('1', 1_000_000));
    assert.equal(cache.get('k1', 0)?.token, 't-1');
    assert.equal(cache.get('k1', 1_000_000 - 60_001)?.token, 't-1');
    assert.equal(cache.get('k1', 1_000_000 - 60_000), undefined, 'at the margin: a new token is minted');
    assert.equal(cache.size, 0, 'the stale entry is gone');
    assert.equal(cache.get('nope', 0), undefined);
  });

  it('is bounded: the least recently used entry goes first', () => {
    const cache = new LruMintedTokenCache({ maxEntries: 2, refreshMargin: 1_000 });
    cache.set('a', entry('a'));
    cache.set('b', entry('b'));
    cache.get('a', 0);
    cache.set('c', entry('c'));
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b', 0), undefined);
    assert.equal(cache.get('a', 0)?.token, 't-a');
    assert.equal(cache.get('c', 0)?.token, 't-c');
  });

  it('entries are shared between callers, so they are frozen (claims too) and independent of the stored object', () => {
    const cache = new LruMintedTokenCache({ maxEntries: 2, refreshMargin: 1_000 });
    const original = entry('x');
    cache.set('x', original);
    original.claims.sub = 'changed';
    const hit = cache.get('x', 0)!;
    assert.equal(hit.claims.sub, 's');
    assert.ok(Object.isFrozen(hit) && Object.isFrozen(hit.claims));
    assert.throws(() => {
      (hit.claims as { sub: string }).sub = 'mutated';
    }, TypeError);
  });

  it('reports every lookup (hit, miss) and every entry it drops itself (capacity, expired), not replacements', () => {
    const seen: string[] = [];
    const cache = new LruMintedTokenCache({
      maxEntries: 2,
      refreshMargin: 1_000,
      observer: { onMintedTokenLookup: (r) => void seen.push(r), onMintedTokenEviction: (r) => void seen.push(`evicted ${r}`) },
    });
    cache.set('a', entry('a', 10_000));
    cache.set('a', entry('a2', 10_000)); // replaced: not an eviction
    cache.set('b', entry('b'));
    assert.equal(cache.get('a', 0)?.token, 't-a2');
    cache.set('c', entry('c')); // b is the least recently used
    assert.equal(cache.get('b', 0), undefined);
    assert.equal(cache.get('a', 9_000), undefined, 'within refreshMargin of exp');
    assert.deepEqual(seen, ['hit', 'evicted capacity', 'miss', 'evicted expired', 'miss']);
  });
});
