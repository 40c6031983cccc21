/**
 * The replay caches of private_key_jwt assertions: in memory (one replica) and in a REAL redis-server
 * (every replica): first use recorded, a replay refused — by another client instance of the same Redis,
 * as another replica would —, entries forgotten when they expire, and Redis stopped or silent → refused
 * (CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE), never accepted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryReplayCache, RedisReplayCache } from '../../../src/clients/replay-cache.ts';
import type { AuthJwtError } from '../../../src/errors.ts';
import { missingPrerequisite } from '../../helpers/prerequisite.ts';
import { findRedisServer, REDIS_MISSING, startRedis, type RedisServer } from '../../helpers/redis.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const code = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    return await promise;
  } catch (e) {
    return (e as AuthJwtError).code;
  }
};

describe('MemoryReplayCache', () => {
  it('records a key once; a replay is refused until the entry expires', async () => {
    let now = 1_000_000;
    const cache = new MemoryReplayCache({ maxEntries: 100, clock: () => now });
    assert.equal(await cache.remember('a', now + 60_000), true);
    assert.equal(await cache.remember('a', now + 60_000), false);
    now += 60_001;
    assert.equal(await cache.remember('a', now + 60_000), true, 'expired: a new use');
  });

  it('full of live entries: refuses (fail closed) instead of evicting one; expired entries make room', async () => {
    let now = 2_000_000;
    const cache = new MemoryReplayCache({ maxEntries: 100, clock: () => now });
    for (let i = 0; i < 100; i++) assert.equal(await cache.remember(`k${i}`, now + 10_000), true);
    assert.equal(await code(cache.remember('new', now + 10_000)), 'ERR_AUTHJWT_CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE');
    assert.equal(await cache.remember('k0', now + 10_000), false, 'the oldest live entry was not evicted');
    now += 10_001;
    assert.equal(await cache.remember('new', now + 10_000), true);
  });
});

const redisBinary = findRedisServer();

describe('RedisReplayCache against a real redis-server', {
  skip: redisBinary ? false : missingPrerequisite('the Redis replay-cache tests', REDIS_MISSING),
}, () => {
  let redis: RedisServer | undefined;
  const caches: RedisReplayCache[] = [];
  const events: string[] = [];
  const replica = async (commandTimeout = 300) => {
    const cache = new RedisReplayCache({
      url: redis!.url,
      keyPrefix: 'test:jti:',
      connectTimeout: 1_000,
      commandTimeout,
      onEvent: (e) => events.push(e.kind),
    });
    caches.push(cache);
    cache.start();
    await waitFor(() => cache.up(), { what: 'redis connected' });
    return cache;
  };

  before(async () => {
    redis = await startRedis(redisBinary!);
  });
  after(async () => {
    for (const c of caches) await c.close();
    await redis?.close();
  });

  it('one replica records a jti; another replica (its own connection) refuses the replay', async () => {
    assert.ok(redis);
    const a = await replica();
    const b = await replica();
    const expiresAt = Date.now() + 60_000;
    assert.equal(await a.remember('jti-1', expiresAt), true);
    assert.equal(await b.remember('jti-1', expiresAt), false);
    assert.equal(await a.remember('jti-1', expiresAt), false);
    assert.equal(await b.remember('jti-2', expiresAt), true);
    const ttl = Number(await redis.command('PTTL test:jti:jti-1').then((r) => r.replace(/^:/, '')));
    assert.ok(ttl > 55_000 && ttl <= 60_000, `the key expires with the assertion (PTTL ${ttl})`);
  });

  it('an entry is forgotten when the assertion expires', async () => {
    assert.ok(redis);
    const a = await replica();
    assert.equal(await a.remember('short', Date.now() + 150), true);
    await waitFor(async () => (await redis!.command('EXISTS test:jti:short')) === ':0', { what: 'the key to expire' });
    assert.equal(await a.remember('short', Date.now() + 150), true);
  });

  it('Redis down → refused (REPLAY_CACHE_UNAVAILABLE) at once, never accepted; back up → checks resume', async () => {
    assert.ok(redis);
    const a = await replica();
    assert.equal(await a.remember('before-outage', Date.now() + 60_000), true);
    await redis.stop();
    await waitFor(() => !a.up(), { what: 'the client to notice' });
    const started = performance.now();
    assert.equal(await code(a.remember('during-outage', Date.now() + 60_000)), 'ERR_AUTHJWT_CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE');
    assert.ok(performance.now() - started < 100, 'refused without waiting (no offline queue)');
    assert.equal(a.up(), false);
    await redis.start();
    await waitFor(() => a.up(), { what: 'the client to reconnect', timeout: 10_000 });
    assert.equal(await a.remember('after-outage', Date.now() + 60_000), true);
    assert.ok(events.includes('error') || events.includes('reconnecting'), 'the outage was reported');
  });

  it('Redis silent (SIGSTOP): the command times out → refused within commandTimeout, never accepted', async () => {
    assert.ok(redis);
    const a = await replica(200);
    redis.pause();
    try {
      const started = performance.now();
      assert.equal(await code(a.remember('silent', Date.now() + 60_000)), 'ERR_AUTHJWT_CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE');
      const took = performance.now() - started;
      assert.ok(took >= 150 && took < 2_000, `refused after the command timeout (${Math.round(took)} ms)`);
    } finally {
      redis.resume();
    }
  });

  it('closed: refused', async () => {
    assert.ok(redis);
    const a = await replica();
    await a.close();
    assert.equal(await code(a.remember('x', Date.now() + 1_000)), 'ERR_AUTHJWT_CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE');
  });
});
