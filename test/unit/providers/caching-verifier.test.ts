import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { CallOptions, ProofStrategy, TokenVerifier, VerifiedIdentity } from '../../../src/exchange/ports.ts';
import { CachingVerifier } from '../../../src/providers/caching-verifier.ts';

const identity = (strategy: ProofStrategy, expiresAt: number | undefined): VerifiedIdentity => ({
  accountId: 'alice',
  claims: { sub: 'alice' },
  expiresAt,
  clientId: undefined,
  strategy,
});

interface PendingCall {
  token: string;
  signal: AbortSignal | undefined;
  resolve: (i: VerifiedIdentity) => void;
  reject: (e: unknown) => void;
}

/** An inner verifier whose calls stay pending until the test settles them. */
function scriptedVerifier() {
  const calls: PendingCall[] = [];
  const verifier: TokenVerifier = {
    verify: (token: string, options: CallOptions = {}) =>
      new Promise<VerifiedIdentity>((resolve, reject) => {
        calls.push({ token, signal: options.signal, resolve, reject });
      }),
  };
  return { verifier, calls };
}

function cachingOver(inner: TokenVerifier, clock: { now: number }, options: { maxTtl?: number; remoteTtl?: number } = {}) {
  const lookups: string[] = [];
  const cache = new CachingVerifier(inner, {
    provider: 'p',
    maxEntries: 100,
    maxTtl: options.maxTtl ?? 300_000,
    remoteTtl: options.remoteTtl ?? 0,
    observer: { onCacheLookup: (_provider, result) => lookups.push(result) },
    clock: () => clock.now,
  });
  return { cache, lookups };
}

describe('CachingVerifier single-flight', () => {
  it('concurrent verifications of one token share one provider call; another token gets its own', async () => {
    const { verifier, calls } = scriptedVerifier();
    const { cache, lookups } = cachingOver(verifier, { now: 1_000 });
    const a = cache.verify('t1');
    const b = cache.verify('t1');
    const c = cache.verify('t2');
    assert.equal(calls.length, 2);
    assert.deepEqual(lookups, ['miss', 'shared', 'miss']);
    calls[0]!.resolve(identity('introspection', undefined));
    calls[1]!.resolve(identity('introspection', undefined));
    assert.equal(await a, await b);
    await c;
  });

  it('one waiter leaving does not abort the shared call; the last one leaving aborts it, and the next caller starts afresh', async () => {
    const { verifier, calls } = scriptedVerifier();
    const { cache } = cachingOver(verifier, { now: 1_000 });
    const first = new AbortController();
    const second = new AbortController();
    const a = cache.verify('t', { signal: first.signal });
    const b = cache.verify('t', { signal: second.signal });
    first.abort(new Error('first gave up'));
    await assert.rejects(a, /first gave up/);
    assert.equal(calls[0]!.signal!.aborted, false, 'the other waiter still wants the answer');
    second.abort(new Error('second gave up'));
    await assert.rejects(b, /second gave up/);
    assert.equal(calls[0]!.signal!.aborted, true, 'nobody waits: the provider call is aborted');

    const c = cache.verify('t');
    assert.equal(calls.length, 2, 'a new call, not the abandoned one');
    calls[1]!.resolve(identity('introspection', undefined));
    assert.equal((await c).accountId, 'alice');
  });

  it('a caller leaving after the call settled changes nothing; a caller already aborted is refused without a provider call', async () => {
    const { verifier, calls } = scriptedVerifier();
    const { cache } = cachingOver(verifier, { now: 1_000 });
    const leaving = new AbortController();
    const a = cache.verify('t', { signal: leaving.signal });
    calls[0]!.resolve(identity('introspection', undefined));
    await a;
    leaving.abort(new Error('late'));
    assert.equal(calls[0]!.signal!.aborted, false);
    await assert.rejects(cache.verify('u', { signal: AbortSignal.abort(new Error('already gone')) }), /already gone/);
    assert.equal(calls.length, 1);
  });

  it('failures are shared by the waiters and never cached', async () => {
    const { verifier, calls } = scriptedVerifier();
    const { cache } = cachingOver(verifier, { now: 1_000 });
    const a = cache.verify('t');
    const b = cache.verify('t');
    calls[0]!.reject(new Error('rejected by provider'));
    await assert.rejects(a, /rejected by provider/);
    await assert.rejects(b, /rejected by provider/);
    const c = cache.verify('t');
    assert.equal(calls.length, 2);
    calls[1]!.resolve(identity('jwt', undefined));
    await c;
    assert.equal(cache.size, 1);
  });
});

describe('CachingVerifier lifetimes', () => {
  it('a jwt result is reused until the upstream token expires, never after', async () => {
    const { verifier, calls } = scriptedVerifier();
    const clock = { now: 1_000_000 };
    const { cache, lookups } = cachingOver(verifier, clock);
    const first = cache.verify('t');
    calls[0]!.resolve(identity('jwt', clock.now + 60_000));
    await first;
    clock.now += 59_000;
    await cache.verify('t');
    assert.equal(calls.length, 1);
    clock.now += 1_000;
    const again = cache.verify('t');
    assert.equal(calls.length, 2, 'expired upstream token: verified again');
    assert.deepEqual(lookups, ['miss', 'hit', 'miss']);
    calls[1]!.resolve(identity('jwt', clock.now + 60_000));
    await again;
  });

  it('an upstream token that expired while it was verified is not cached', async () => {
    const { verifier, calls } = scriptedVerifier();
    const clock = { now: 1_000_000 };
    const { cache } = cachingOver(verifier, clock);
    const first = cache.verify('t');
    clock.now += 10_000;
    calls[0]!.resolve(identity('jwt', clock.now - 1));
    await first;
    assert.equal(cache.size, 0);
  });

  it('no entry outlives cache.maxTtl, whatever the upstream expiry', async () => {
    const { verifier, calls } = scriptedVerifier();
    const { cache } = cachingOver(verifier, { now: 1_000_000 }, { maxTtl: 40 });
    const first = cache.verify('t');
    calls[0]!.resolve(identity('jwt', undefined));
    await first;
    void cache.verify('t');
    assert.equal(calls.length, 1, 'within maxTtl: a hit');
    await sleep(80);
    void cache.verify('t');
    assert.equal(calls.length, 2, 'past maxTtl: verified again');
    calls[1]!.resolve(identity('jwt', undefined));
  });

  it('remote results are not cached with cacheTtl 0, and are with cacheTtl > 0', async () => {
    for (const [remoteTtl, expectedCalls] of [
      [0, 2],
      [60_000, 1],
    ] as const) {
      const { verifier, calls } = scriptedVerifier();
      const { cache } = cachingOver(verifier, { now: 1_000_000 }, { remoteTtl });
      const first = cache.verify('t');
      calls[0]!.resolve(identity('userinfo', undefined));
      await first;
      void cache.verify('t');
      assert.equal(calls.length, expectedCalls, `remoteTtl ${remoteTtl}`);
      calls[1]?.resolve(identity('userinfo', undefined));
    }
  });
});
