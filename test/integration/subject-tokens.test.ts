/**
 * Issue 22, item 2 (draft-ietf-oauth-transaction-tokens: subject tokens and their scopes), through the
 * RFC 8693 token endpoint of a running authjwt: a subject token of every strategy has its scopes
 * determined (or knowingly not), shown through CEL `subject.scopes` / `subject.scopesKnown` in minted
 * claims — a real OIDC provider (oidc-provider: JWT, introspection, userinfo), the FAKE GitHub and GitLab
 * (test/helpers/fake-github.ts, fake-gitlab.ts: their REST shapes), the FAKE Kubernetes API server, and
 * self-signed workload JWTs (`…:self_signed`, accepted and refused); refresh tokens and unconfigured
 * subject token types refused with RFC 8693 / RFC 6749 errors. Access tokens are minted here: Txn-Token
 * issuance is the other half of the issue.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startFakeGitLab, type FakeGitLab } from '../helpers/fake-gitlab.ts';
import { startFakeKubernetes, type FakeKubernetes, type ServiceAccount } from '../helpers/fake-kubernetes.ts';
import { INTROSPECTION_CLIENT, startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';
import { missingPrerequisite } from '../helpers/prerequisite.ts';
import { findRedisServer, REDIS_MISSING, startRedis, type RedisServer } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait-for.ts';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const SELF_SIGNED = 'urn:ietf:params:oauth:token-type:self_signed';
const REFRESH = 'urn:ietf:params:oauth:token-type:refresh_token';
const WORKLOAD = 'spiffe://cluster.local/ns/batch/sa/nightly';
const alice = USERS.alice!;
const payments: ServiceAccount = { namespace: 'team-payments', name: 'api', uid: '1a2b3c4d-0000-4000-8000-000000000001' };

/** What every provider mints: the subject token's scopes as policy sees them. */
const SCOPE_CLAIMS = { subject_scopes: 'subject.scopes', scopes_known: 'subject.scopesKnown' };

describe('subject tokens from every strategy, with their scopes (token endpoint)', () => {
  let op: OidcTestProvider;
  let gh: FakeGitHub;
  let gl: FakeGitLab;
  let k8s: FakeKubernetes;
  let svc: RunningAuthJwt;
  let workloadKey: CryptoKey;
  let strangerKey: CryptoKey;
  let workloadJwk: JWK;

  before(async () => {
    [op, gh, gl, k8s] = await Promise.all([
      startOidcProvider(),
      startFakeGitHub(),
      startFakeGitLab(),
      startFakeKubernetes({ issuer: 'https://kubernetes.default.svc.cluster.local' }),
    ]);
    const pair = await generateKeyPair('ES256', { extractable: true });
    workloadKey = pair.privateKey;
    workloadJwk = { ...(await exportJWK(pair.publicKey)), kid: 'nightly-1', alg: 'ES256', use: 'sig' };
    strangerKey = (await generateKeyPair('ES256')).privateKey;
    const kubernetes = { issuer: k8s.issuer, apiServer: k8s.apiServer, tokenFile: k8s.tokenFile, caFile: k8s.caFile };
    const oidc = { issuer: op.issuer, retries: 0, claims: SCOPE_CLAIMS };
    svc = await startAuthJwt({
      tokenEndpoint: { enabled: true },
      providers: [
        { id: 'kc-jwt', ...oidc, audiences: ['frontend'], strategy: 'jwt' },
        {
          id: 'kc-introspection',
          ...oidc,
          audiences: ['frontend'],
          strategy: 'introspection',
          clientId: INTROSPECTION_CLIENT.id,
          clientSecret: INTROSPECTION_CLIENT.secret,
        },
        { id: 'kc-userinfo', ...oidc, strategy: 'userinfo' },
        fakeGitHubProvider(gh, { retries: 0, claims: SCOPE_CLAIMS }),
        { id: 'gitlab', preset: 'gitlab', userApiUrl: `${gl.url}/api/v4/user`, retries: 0, claims: SCOPE_CLAIMS },
        { id: 'cluster', audiences: ['authjwt'], kubernetes, retries: 0, claims: SCOPE_CLAIMS },
        {
          id: 'cluster-scoped',
          audiences: ['authjwt'],
          kubernetes: { ...kubernetes, scopes: ['orders.read'] },
          retries: 0,
          claims: SCOPE_CLAIMS,
        },
        {
          id: 'workloads',
          selfSigned: {
            accessTokens: true,
            replayStore: 'memory',
            workloads: [{ id: WORKLOAD, jwks: { keys: [workloadJwk] }, scopes: ['orders.read', 'orders.write'], subjects: ['user:alice'] }],
          },
          claims: SCOPE_CLAIMS,
        },
        // Txn-Token requests only (the default): an access token from it is refused.
        { id: 'workloads-txn', selfSigned: { replayStore: 'memory', workloads: [{ id: WORKLOAD, jwks: { keys: [workloadJwk] } }] } },
      ],
    });
  });
  after(async () => {
    await svc?.stop();
    await Promise.all([op?.close(), gh?.close(), gl?.close(), k8s?.close()]);
  });

  const tokenUrl = () => `http://127.0.0.1:${svc.app.internalHttpPort}/token`;
  const post = (form: Record<string, string>) =>
    fetch(tokenUrl(), { method: 'POST', body: new URLSearchParams({ grant_type: EXCHANGE, ...form }) });
  /** Exchanges and returns the minted token's scope claims (verified against authjwt's JWKS). */
  const scopesOf = async (form: Record<string, string>) => {
    const res = await post(form);
    const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    const { payload } = await svc.verify(body.access_token!);
    return { scopes: payload.subject_scopes, known: payload.scopes_known, sub: payload.sub };
  };
  /** The OAuth error of a refused exchange: [HTTP status, error, catalogue code]. */
  const refusal = async (form: Record<string, string>): Promise<[number, string, string]> => {
    const res = await post(form);
    const body = (await res.json()) as { error: string; error_description: string };
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return [res.status, body.error, /\((ERR_AUTHJWT_[A-Z_]+)\)$/.exec(body.error_description)?.[1] ?? body.error_description];
  };
  const selfSigned = (claims: Record<string, unknown> = {}, key: CryptoKey = workloadKey, header: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: WORKLOAD, sub: WORKLOAD, aud: svc.config.issuer, iat: now, exp: now + 60, jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'nightly-1', typ: 'JWT', ...header } as never)
      .sign(key);
  };

  describe('scopes are determined per strategy', () => {
    it('OIDC jwt: the access token’s `scope`', async () => {
      const r = await scopesOf({ subject_token: await op.jwtToken(alice), subject_token_type: ACCESS, subject_issuer: 'kc-jwt' });
      assert.deepEqual([r.scopes, r.known], [['api'], true]);
    });
    it('OIDC introspection: the answer’s `scope`', async () => {
      const r = await scopesOf({
        subject_token: await op.opaqueToken(alice),
        subject_token_type: ACCESS,
        subject_issuer: 'kc-introspection',
      });
      assert.deepEqual([r.scopes, r.known], [['openid', 'email', 'profile'], true]);
    });
    it('OIDC userinfo with an opaque token: cannot be determined (userinfo names no scope)', async () => {
      const r = await scopesOf({ subject_token: await op.opaqueToken(alice), subject_token_type: ACCESS, subject_issuer: 'kc-userinfo' });
      assert.deepEqual([r.scopes, r.known], [[], false]);
    });
    it('GitHub OAuth app token: X-OAuth-Scopes; a fine-grained token: cannot be determined', async () => {
      gh.issue('gho_scoped', { id: 583231, login: 'octocat', name: null, email: null }, 'Iv1.app', { scopes: ['read:user', 'read:org'] });
      gh.issue('github_pat_fine', { id: 583231, login: 'octocat', name: null, email: null }, 'Iv1.app', { fineGrained: true });
      const scoped = await scopesOf({ subject_token: 'gho_scoped', subject_token_type: ACCESS, subject_issuer: 'github' });
      assert.deepEqual([scoped.scopes, scoped.known], [['read:user', 'read:org'], true]);
      const fine = await scopesOf({ subject_token: 'github_pat_fine', subject_token_type: ACCESS, subject_issuer: 'github' });
      assert.deepEqual([fine.scopes, fine.known], [[], false]);
    });
    it('GitLab OAuth token: /oauth/token/info `scope`; a personal access token: cannot be determined', async () => {
      const user = { id: 42, username: 'gl', name: 'G L', email: 'g@example.com' };
      gl.issue('glo_oauth', user, { scopes: ['read_user', 'read_api'] });
      gl.issue('glpat-personal', user, { scopes: ['read_user'], pat: true });
      const oauth = await scopesOf({ subject_token: 'glo_oauth', subject_token_type: ACCESS, subject_issuer: 'gitlab' });
      assert.deepEqual([oauth.scopes, oauth.known], [['read_user', 'read_api'], true]);
      const pat = await scopesOf({ subject_token: 'glpat-personal', subject_token_type: ACCESS, subject_issuer: 'gitlab' });
      assert.deepEqual([pat.scopes, pat.known], [[], false]);
    });
    it('Kubernetes service-account token: none of its own; kubernetes.scopes when configured', async () => {
      const token = (await k8s.issue(payments, { audiences: ['authjwt'] })).token;
      const plain = await scopesOf({ subject_token: token, subject_token_type: ACCESS, subject_issuer: 'cluster' });
      assert.deepEqual([plain.scopes, plain.known], [[], false]);
      const scoped = await scopesOf({ subject_token: token, subject_token_type: ACCESS, subject_issuer: 'cluster-scoped' });
      assert.deepEqual([scoped.scopes, scoped.known], [['orders.read'], true]);
    });
    it('self-signed workload JWT: its `scope` within the workload’s; without one, all of the workload’s', async () => {
      const narrow = await scopesOf({
        subject_token: await selfSigned({ scope: 'orders.read' }),
        subject_token_type: SELF_SIGNED,
        subject_issuer: 'workloads',
      });
      assert.deepEqual([narrow.scopes, narrow.known, narrow.sub], [['orders.read'], true, `workloads:${WORKLOAD}`]);
      const all = await scopesOf({
        subject_token: await selfSigned({ sub: 'user:alice' }),
        subject_token_type: SELF_SIGNED,
        subject_issuer: 'workloads',
      });
      assert.deepEqual([all.scopes, all.known, all.sub], [['orders.read', 'orders.write'], true, 'workloads:user:alice']);
    });
  });

  describe('subject token types refused (RFC 8693 §2.2.2 / RFC 6749 §5.2: 400 invalid_request)', () => {
    it('a refresh token, whatever it is', async () => {
      assert.deepEqual(await refusal({ subject_token: 'rt-opaque', subject_token_type: REFRESH, subject_issuer: 'kc-jwt' }), [
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_REFRESH_TOKEN_SUBJECT',
      ]);
    });
    for (const type of ['id_token', 'saml2', 'saml1', 'unsigned_json', 'txn_token'])
      it(`a type authjwt is not configured for: …:${type}`, async () => {
        assert.deepEqual(await refusal({ subject_token: 'x.y.z', subject_token_type: `urn:ietf:params:oauth:token-type:${type}` }), [
          400,
          'invalid_request',
          'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE',
        ]);
      });
    it('…:self_signed where no selfSigned provider is configured', async () => {
      const bare = await startAuthJwt({
        tokenEndpoint: { enabled: true },
        providers: [{ id: 'kc', issuer: op.issuer, audiences: ['frontend'] }],
      });
      try {
        const res = await fetch(`http://127.0.0.1:${bare.app.internalHttpPort}/token`, {
          method: 'POST',
          body: new URLSearchParams({ grant_type: EXCHANGE, subject_token: await selfSigned(), subject_token_type: SELF_SIGNED }),
        });
        const body = (await res.json()) as { error: string; error_description: string };
        assert.equal(res.status, 400);
        assert.equal(body.error, 'invalid_request');
        assert.match(body.error_description, /ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE/);
      } finally {
        await bare.stop();
      }
    });
  });

  describe('self-signed workload JWTs refused', () => {
    const as = (token: string, extra: Record<string, string> = {}) => ({
      subject_token: token,
      subject_token_type: SELF_SIGNED,
      subject_issuer: 'workloads',
      ...extra,
    });
    const cases: [string, () => Promise<Record<string, string>>, string][] = [
      [
        'wrong aud (another TTS)',
        async () => as(await selfSigned({ aud: 'https://other-tts.example' })),
        'ERR_AUTHJWT_UPSTREAM_WRONG_AUDIENCE',
      ],
      [
        'expired',
        async () => as(await selfSigned({ iat: Math.floor(Date.now() / 1000) - 300, exp: Math.floor(Date.now() / 1000) - 120 })),
        'ERR_AUTHJWT_UPSTREAM_EXPIRED',
      ],
      [
        'unknown workload',
        async () =>
          as(await selfSigned({ iss: 'spiffe://cluster.local/ns/x/sa/intruder', sub: 'spiffe://cluster.local/ns/x/sa/intruder' })),
        'ERR_AUTHJWT_UPSTREAM_UNKNOWN_WORKLOAD',
      ],
      [
        'alg none',
        async () => {
          const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
          const now = Math.floor(Date.now() / 1000);
          return as(
            `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: WORKLOAD, sub: WORKLOAD, aud: svc.config.issuer, iat: now, exp: now + 60, jti: randomUUID() })}.`,
          );
        },
        'ERR_AUTHJWT_UPSTREAM_INVALID_TOKEN',
      ],
      [
        'signed by a key the workload did not register',
        async () => as(await selfSigned({}, strangerKey)),
        'ERR_AUTHJWT_UPSTREAM_INVALID_TOKEN',
      ],
      [
        'a lifetime beyond 5 minutes',
        async () => as(await selfSigned({ exp: Math.floor(Date.now() / 1000) + 3600 })),
        'ERR_AUTHJWT_UPSTREAM_LIFETIME_TOO_LONG',
      ],
      [
        'an access-token typ (at+jwt)',
        async () => as(await selfSigned({}, workloadKey, { typ: 'at+jwt' })),
        'ERR_AUTHJWT_UPSTREAM_WRONG_TYPE',
      ],
      [
        'a subject the workload may not assert',
        async () => as(await selfSigned({ sub: 'user:mallory' })),
        'ERR_AUTHJWT_UPSTREAM_SUBJECT_NOT_ALLOWED',
      ],
      [
        'a scope the workload may not claim',
        async () => as(await selfSigned({ scope: 'orders.read admin' })),
        'ERR_AUTHJWT_UPSTREAM_SCOPE_NOT_ALLOWED',
      ],
      [
        'declared an access token (subject_issuer names the selfSigned provider)',
        async () => ({ ...as(await selfSigned()), subject_token_type: ACCESS }),
        'ERR_AUTHJWT_REQUEST_SELF_SIGNED_NOT_ACCEPTED',
      ],
      [
        'several selfSigned providers and no subject_issuer',
        async () => ({ subject_token: await selfSigned(), subject_token_type: SELF_SIGNED }),
        'ERR_AUTHJWT_REQUEST_SELF_SIGNED_NOT_ACCEPTED',
      ],
      [
        'an access token from a Txn-Token-only provider (selfSigned.accessTokens off)',
        async () => as(await selfSigned(), { subject_issuer: 'workloads-txn' }),
        'ERR_AUTHJWT_REQUEST_SELF_SIGNED_NOT_ACCEPTED',
      ],
      [
        '…:self_signed with subject_issuer naming an OIDC provider',
        async () => as(await selfSigned(), { subject_issuer: 'kc-jwt' }),
        'ERR_AUTHJWT_REQUEST_SELF_SIGNED_NOT_ACCEPTED',
      ],
    ];
    for (const [name, form, reason] of cases)
      it(`${name} → 400 invalid_request (${reason.replace('ERR_AUTHJWT_', '')})`, async () => {
        assert.deepEqual(await refusal(await form()), [400, 'invalid_request', reason]);
      });
    it('a replayed jti: the first exchange succeeds, the second is refused (UPSTREAM_REPLAYED)', async () => {
      const token = await selfSigned();
      assert.equal((await post(as(token))).status, 200);
      assert.deepEqual(await refusal(as(token)), [400, 'invalid_request', 'ERR_AUTHJWT_UPSTREAM_REPLAYED']);
    });
    it('GetJWT never takes a selfSigned provider (INVALID_ARGUMENT)', async () => {
      const r = await svc.getJwt({ provider: 'workloads', type: 'oauth', providerAccountId: WORKLOAD, accessToken: await selfSigned() });
      assert.equal(r.code, status.INVALID_ARGUMENT);
      assert.match(r.details ?? '', /self-signed/);
    });
    it('the logs never hold a self-signed JWT', async () => {
      const token = await selfSigned({ aud: 'https://other-tts.example' });
      await refusal(as(token));
      assert.ok(!svc.logs.some((l) => l.includes(token.split('.')[2]!)));
    });
  });
});

describe('self-signed JWTs bound to the requesting workload (policy: claims.iss == caller.subject)', () => {
  let svc: RunningAuthJwt;
  let nightlyKey: CryptoKey;
  let reportsKey: CryptoKey;
  const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

  before(async () => {
    const nightly = await generateKeyPair('ES256', { extractable: true });
    const reports = await generateKeyPair('ES256', { extractable: true });
    nightlyKey = nightly.privateKey;
    reportsKey = reports.privateKey;
    const jwk = async (key: CryptoKey, kid: string) => ({ ...(await exportJWK(key)), kid, alg: 'ES256', use: 'sig' });
    const nightlyJwk = await jwk(nightly.publicKey, 'nightly');
    const reportsJwk = await jwk(reports.publicKey, 'reports');
    svc = await startAuthJwt({
      tokenEndpoint: {
        enabled: true,
        clientAuthentication: {
          methods: ['private_key_jwt'],
          clients: [
            { id: 'nightly', privateKeyJwt: { jwks: { keys: [nightlyJwk] } } },
            { id: 'reports', privateKeyJwt: { jwks: { keys: [reportsJwk] } } },
          ],
          replayCache: { store: 'memory' },
        },
      },
      providers: [
        {
          id: 'workloads',
          selfSigned: {
            accessTokens: true,
            replayStore: 'memory',
            workloads: [
              // One key per purpose in production (docs/workload-identity.md); the same key here keeps the test short.
              { id: 'nightly', jwks: { keys: [nightlyJwk] }, scopes: ['reports.read'] },
              { id: 'reports', jwks: { keys: [reportsJwk] }, scopes: ['reports.read'] },
            ],
          },
          // The draft: the self-signed JWT's `iss` is the requesting workload.
          allow: [{ name: 'iss-is-requester', expression: 'claims.iss == caller.subject' }],
        },
      ],
    });
  });
  after(async () => svc?.stop());

  const jwt = (claims: Record<string, unknown>, key: CryptoKey, kid: string, typ = 'JWT') => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ aud: svc.config.issuer, iat: now, exp: now + 60, jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid, typ })
      .sign(key);
  };
  const exchange = async (subject: string, client: string, key: CryptoKey) =>
    fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: EXCHANGE,
        subject_token: subject,
        subject_token_type: SELF_SIGNED,
        client_assertion_type: JWT_BEARER,
        client_assertion: await jwt({ iss: client, sub: client }, key, client, 'client-authentication+jwt'),
      }),
    });

  it('the workload presenting its own self-signed JWT → minted', async () => {
    const res = await exchange(await jwt({ iss: 'nightly', sub: 'nightly' }, nightlyKey, 'nightly'), 'nightly', nightlyKey);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await svc.verify(((await res.json()) as { access_token: string }).access_token)).payload.sub, 'workloads:nightly');
  });
  it('another authenticated workload presenting it (a stolen self-signed JWT) → 400 invalid_request, POLICY_DENIED', async () => {
    const stolen = await jwt({ iss: 'nightly', sub: 'nightly' }, nightlyKey, 'nightly');
    const res = await exchange(stolen, 'reports', reportsKey);
    const body = (await res.json()) as { error: string; error_description: string };
    assert.equal(res.status, 400);
    assert.equal(body.error, 'invalid_request');
    assert.match(body.error_description, /ERR_AUTHJWT_POLICY_DENIED/);
  });
  it('a client assertion (typ client-authentication+jwt) presented as a self-signed JWT → UPSTREAM_WRONG_TYPE', async () => {
    const assertion = await jwt({ iss: 'nightly', sub: 'nightly' }, nightlyKey, 'nightly', 'client-authentication+jwt');
    const res = await exchange(assertion, 'nightly', nightlyKey);
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error_description: string }).error_description, /ERR_AUTHJWT_UPSTREAM_WRONG_TYPE/);
  });
});

const redisBinary = findRedisServer();

describe('self-signed JWTs single use across replicas (replayStore: redis, a REAL redis-server)', {
  skip: redisBinary ? false : missingPrerequisite('the self-signed replay-across-replicas tests', REDIS_MISSING),
}, () => {
  let redis: RedisServer;
  let a: RunningAuthJwt;
  let b: RunningAuthJwt;
  let key: CryptoKey;
  const ISSUER = 'https://authjwt.example';

  before(async () => {
    redis = await startRedis(redisBinary!);
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'nightly-1', alg: 'ES256', use: 'sig' };
    const replica = () =>
      startAuthJwt({
        issuer: ISSUER,
        tokenEndpoint: {
          enabled: true,
          clientAuthentication: { replayCache: { redis: { url: redis.url, commandTimeout: '300ms', connectTimeout: '500ms' } } },
        },
        providers: [
          {
            id: 'workloads',
            selfSigned: { accessTokens: true, replayStore: 'redis', workloads: [{ id: WORKLOAD, jwks: { keys: [jwk] } }] },
          },
        ],
      });
    [a, b] = await Promise.all([replica(), replica()]);
    for (const r of [a, b])
      await waitFor(() => r.logs.some((l) => l.includes('self-signed replay cache (redis) connected')), { what: 'redis' });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.close();
  });

  const token = () => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: WORKLOAD, sub: WORKLOAD, aud: ISSUER, iat: now, exp: now + 60, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'nightly-1', typ: 'JWT' })
      .sign(key);
  };
  const exchange = async (replica: RunningAuthJwt, subject: string) => {
    const res = await fetch(`http://127.0.0.1:${replica.app.internalHttpPort}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: EXCHANGE, subject_token: subject, subject_token_type: SELF_SIGNED }),
    });
    const body = (await res.json()) as { error?: string; error_description?: string };
    return [res.status, body.error ?? 'ok', /\((ERR_AUTHJWT_\w+)\)$/.exec(body.error_description ?? '')?.[1] ?? ''];
  };

  it('a self-signed JWT exchanged at replica A is refused as a replay at replica B (UPSTREAM_REPLAYED)', async () => {
    const jwt = await token();
    assert.deepEqual(await exchange(a, jwt), [200, 'ok', '']);
    assert.deepEqual(await exchange(b, jwt), [400, 'invalid_request', 'ERR_AUTHJWT_UPSTREAM_REPLAYED']);
    assert.deepEqual(await exchange(b, await token()), [200, 'ok', ''], 'a new one works at B');
  });
  it('Redis down → 503 temporarily_unavailable (PROVIDER_REPLAY_CACHE_UNAVAILABLE), never accepted; back up → accepted again', async () => {
    await redis.stop();
    try {
      for (const r of [a, b])
        assert.deepEqual(await exchange(r, await token()), [
          503,
          'temporarily_unavailable',
          'ERR_AUTHJWT_PROVIDER_REPLAY_CACHE_UNAVAILABLE',
        ]);
    } finally {
      await redis.start();
    }
    await waitFor(async () => (await exchange(a, await token()))[0] === 200, { what: 'replica A to reconnect', timeout: 15_000 });
    await waitFor(async () => (await exchange(b, await token()))[0] === 200, { what: 'replica B to reconnect', timeout: 15_000 });
  });
});
