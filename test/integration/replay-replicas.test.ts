/**
 * private_key_jwt single use ACROSS replicas (issue 21): two authjwt PROCESSES, started as the image
 * starts them, share one REAL redis-server (Debian's, from .ci/tools.sh). An assertion accepted by
 * replica A is refused by replica B; with Redis stopped, assertions are refused
 * (503 temporarily_unavailable) — never accepted — and accepted again once it is back. For contrast,
 * `replayCache.store: memory` is per replica: the same replay succeeds once at the other replica,
 * which is what its start-up warning says.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startAuthJwtProcess, type AuthJwtProcess } from '../helpers/authjwt-process.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { freePort } from '../helpers/net.ts';
import { missingPrerequisite } from '../helpers/prerequisite.ts';
import { findRedisServer, REDIS_MISSING, startRedis, type RedisServer } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait-for.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ISSUER = 'https://authjwt.example';
const redisBinary = findRedisServer();

interface Replica {
  proc: AuthJwtProcess;
  token: string;
  metrics: string;
}

async function startReplica(fake: FakeOidcIssuer, clientJwk: JWK, replayCache: string): Promise<Replica> {
  const [grpc, http, internal] = [await freePort(), await freePort(), await freePort()];
  const proc = startAuthJwtProcess(`issuer: ${ISSUER}
audience: internal-services
keys: { ephemeral: true }
grpc: { listen: 127.0.0.1:${grpc} }
http: { listen: 127.0.0.1:${http} }
internalHttp: { listen: 127.0.0.1:${internal} }
logging: { level: info }
tokenEndpoint:
  enabled: true
  clientAuthentication:
    methods: [private_key_jwt]
    clients:
      - id: reports
        privateKeyJwt: { jwks: { keys: [${JSON.stringify(clientJwk)}] } }
    replayCache: ${replayCache}
providers:
  - { id: kc, issuer: ${fake.issuer}, strategy: jwt, audiences: [frontend] }
`);
  await proc.waitFor(/authjwt started/);
  return { proc, token: `http://127.0.0.1:${internal}/token`, metrics: `http://127.0.0.1:${http}/metrics` };
}

describe('private_key_jwt replay across two authjwt processes', {
  skip: redisBinary ? false : missingPrerequisite('the replay-across-replicas tests', REDIS_MISSING),
}, () => {
  let redis: RedisServer;
  let fake: FakeOidcIssuer;
  let key: CryptoKey;
  let jwk: JWK;
  let a: Replica;
  let b: Replica;

  before(async () => {
    redis = await startRedis(redisBinary!);
    fake = await startFakeOidcIssuer();
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey;
    jwk = { ...(await exportJWK(pair.publicKey)), kid: 'reports-1', alg: 'ES256' };
    const shared = `{ store: redis, redis: { url: "${redis.url}", commandTimeout: 300ms, connectTimeout: 500ms } }`;
    [a, b] = await Promise.all([startReplica(fake, jwk, shared), startReplica(fake, jwk, shared)]);
    for (const r of [a, b]) await r.proc.waitFor(/replay cache \(redis\) connected/);
  });
  after(async () => {
    await Promise.all([a?.proc.stop(), b?.proc.stop()]);
    await redis?.close();
    await fake?.close();
  });

  const assertion = (jti = crypto.randomUUID()) =>
    new SignJWT({ iss: 'reports', sub: 'reports', aud: ISSUER, jti })
      .setProtectedHeader({ alg: 'ES256', kid: 'reports-1', typ: 'client-authentication+jwt' })
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(key);
  const subject = () => {
    const now = Math.floor(Date.now() / 1000);
    return fake.sign({ iss: fake.issuer, sub: 'alice', azp: 'frontend', iat: now, exp: now + 300 });
  };
  const exchange = async (replica: Replica, clientAssertion: string) => {
    const res = await fetch(replica.token, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: GRANT,
        subject_token: await subject(),
        subject_token_type: ACCESS,
        client_assertion_type: JWT_BEARER,
        client_assertion: clientAssertion,
      }),
    });
    const body = (await res.json()) as { error?: string; error_description?: string };
    return [res.status, body.error ?? 'ok', /\((ERR_AUTHJWT_\w+)\)$/.exec(body.error_description ?? '')?.[1] ?? ''];
  };

  it('an assertion accepted by replica A is refused as a replay by replica B (and by A)', async () => {
    const jwt = await assertion();
    assert.deepEqual(await exchange(a, jwt), [200, 'ok', '']);
    assert.deepEqual(await exchange(b, jwt), [401, 'invalid_client', 'ERR_AUTHJWT_CLIENT_AUTH_ASSERTION_REPLAYED']);
    assert.deepEqual(await exchange(a, jwt), [401, 'invalid_client', 'ERR_AUTHJWT_CLIENT_AUTH_ASSERTION_REPLAYED']);
    assert.deepEqual(await exchange(b, await assertion()), [200, 'ok', ''], 'a new assertion works at B');
  });

  it('Redis down → refused with 503 temporarily_unavailable at both replicas, never accepted; back up → accepted again', async () => {
    await redis.stop();
    try {
      for (const r of [a, b]) {
        const jwt = await assertion();
        assert.deepEqual(await exchange(r, jwt), [503, 'temporarily_unavailable', 'ERR_AUTHJWT_CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE']);
      }
      await waitFor(async () => /authjwt_replay_cache_up\{store="redis"\} 0/.test(await (await fetch(a.metrics)).text()), {
        what: 'the gauge to drop',
      });
    } finally {
      await redis.start();
    }
    await waitFor(async () => (await exchange(a, await assertion()))[0] === 200, { what: 'replica A to reconnect', timeout: 15_000 });
    await waitFor(async () => (await exchange(b, await assertion()))[0] === 200, { what: 'replica B to reconnect', timeout: 15_000 });
    assert.match(a.proc.stdout(), /replay cache \(redis\) unavailable: private_key_jwt assertions are refused/);
  });

  it('Redis silent (SIGSTOP): refused within the command timeout, never accepted', async () => {
    redis.pause();
    try {
      const started = performance.now();
      assert.deepEqual(await exchange(a, await assertion()), [
        503,
        'temporarily_unavailable',
        'ERR_AUTHJWT_CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE',
      ]);
      assert.ok(performance.now() - started < 5_000);
    } finally {
      redis.resume();
    }
  });

  it('for contrast, store: memory is per replica: the replay succeeds once at the other replica (the start-up warning says so)', async () => {
    const [m1, m2] = await Promise.all([startReplica(fake, jwk, '{ store: memory }'), startReplica(fake, jwk, '{ store: memory }')]);
    try {
      assert.match(m1.proc.stdout(), /replayCache\.store is memory: .* replayed once to every other replica/);
      const jwt = await assertion();
      assert.deepEqual(await exchange(m1, jwt), [200, 'ok', '']);
      assert.deepEqual(await exchange(m1, jwt), [401, 'invalid_client', 'ERR_AUTHJWT_CLIENT_AUTH_ASSERTION_REPLAYED']);
      assert.deepEqual(await exchange(m2, jwt), [200, 'ok', ''], 'the other replica never saw it');
    } finally {
      await Promise.all([m1.proc.stop(), m2.proc.stop()]);
    }
  });
});
