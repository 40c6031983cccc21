/**
 * Issue 14: what a frontend on Auth.js (v5) or next-auth (v4) meets at GetJWT, through the real gRPC
 * server: both account shapes, options that do not apply, the exp cap, and diagnostics that explain
 * a failure in the log (expected vs presented issuer, the provider's own error) without a token.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { buildConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';

const SUB = 'alice-7d1c';
const nowS = () => Math.floor(Date.now() / 1000);

describe('Auth.js accounts and diagnostics', () => {
  let fake: FakeOidcIssuer;
  let svc: RunningAuthJwt;
  before(async () => {
    fake = await startFakeOidcIssuer();
    svc = await startAuthJwt({
      providers: [
        { id: 'keycloak', type: 'oidc', issuer: fake.issuer, strategy: 'jwt', audiences: ['frontend'] },
        { id: 'kc-capped', type: 'oidc', issuer: fake.issuer, strategy: 'jwt', audiences: ['frontend'], capToUpstreamExpiry: true },
        {
          id: 'kc-intro',
          type: 'oidc',
          issuer: fake.issuer,
          strategy: 'introspection',
          audiences: ['frontend'],
          clientId: fake.client.id,
          clientSecret: fake.client.secret,
        },
        { id: 'kc-userinfo', type: 'oidc', issuer: fake.issuer, strategy: 'userinfo' },
        { id: 'kc-v5-only', type: 'oidc', issuer: fake.issuer, strategy: 'jwt', audiences: ['frontend'], accountTypes: ['oidc'] },
      ],
    });
  });
  after(async () => {
    await svc?.stop();
    await fake?.close();
  });

  const accessToken = (claims: Record<string, unknown> = {}) =>
    fake.sign({ iss: fake.issuer, sub: SUB, azp: 'frontend', aud: 'account', exp: nowS() + 300, iat: nowS(), typ: 'Bearer', ...claims });
  const logsSince = (from: number) => svc.logs.slice(from).join('');

  it('Auth.js v5 account (type "oidc") and next-auth v4 account (type "oauth") for the same Keycloak provider both mint', async () => {
    const token = await accessToken();
    // The shapes the jwt callback receives (v4: account.type "oauth" for every provider), mapped to the proto's field names.
    const v5 = { provider: 'keycloak', type: 'oidc', providerAccountId: SUB, access_token: token };
    const v4 = { provider: 'keycloak', type: 'oauth', providerAccountId: SUB, access_token: token };
    for (const account of [v5, v4]) {
      const res = await svc.getJwt({
        provider: account.provider,
        type: account.type,
        providerAccountId: account.providerAccountId,
        accessToken: account.access_token,
      });
      assert.equal(res.code, status.OK, `${account.type}: ${res.details}`);
    }
    const strict = await svc.getJwt({ provider: 'kc-v5-only', type: 'oauth', providerAccountId: SUB, accessToken: token });
    assert.equal(strict.code, status.INVALID_ARGUMENT);
    assert.match(strict.details!, /ERR_AUTHJWT_REQUEST_TYPE_MISMATCH/);
  });

  it('the Auth.js account passed as-is (access_token, not accessToken) gets a hint naming both field names', async () => {
    const res = await svc.getJwt({ provider: 'keycloak', type: 'oidc', providerAccountId: SUB } as never);
    assert.equal(res.code, status.INVALID_ARGUMENT);
    assert.match(res.details!, /accessToken.*access_token/);
    assert.match(res.details!, /ERR_AUTHJWT_REQUEST_MISSING_ACCESS_TOKEN/);
  });

  it('capToUpstreamExpiry: the minted exp is the provider token exp when that is sooner than tokenTtl', async () => {
    const exp = nowS() + 120;
    const token = await accessToken({ exp });
    const capped = await svc.getJwt({ provider: 'kc-capped', type: 'oidc', providerAccountId: SUB, accessToken: token });
    assert.equal(capped.code, status.OK, capped.details);
    assert.equal(decodeJwt(capped.token!).exp, exp);
    const uncapped = await svc.getJwt({ provider: 'keycloak', type: 'oidc', providerAccountId: SUB, accessToken: token });
    assert.ok(decodeJwt(uncapped.token!).exp! >= nowS() + 890, 'without the cap: tokenTtl (15 min)');
  });

  it('wrong issuer (in-cluster vs public hostname): the log shows expected and presented issuer, never the token', async () => {
    const token = await fake.sign({ iss: 'https://sso.public.example/realms/main', sub: SUB, azp: 'frontend', exp: nowS() + 300 });
    const from = svc.logs.length;
    const res = await svc.getJwt({ provider: 'keycloak', type: 'oidc', providerAccountId: SUB, accessToken: token });
    assert.equal(res.code, status.UNAUTHENTICATED);
    assert.match(res.details!, /ERR_AUTHJWT_UPSTREAM_WRONG_ISSUER/);
    assert.ok(!res.details!.includes('sso.public.example'), 'the caller gets the fixed message only');
    const logged = logsSince(from);
    assert.ok(logged.includes(`expected iss \\"${fake.issuer}\\"`) && logged.includes('sso.public.example'), logged);
    assert.ok(!logged.includes(token) && !logged.includes(token.split('.')[2]!), 'no token in the log');
  });

  it('introspection active=false: the log names the likely Keycloak cause (introspecting client not in the audience)', async () => {
    const token = fake.opaque(); // unknown to the fake: inactive
    const from = svc.logs.length;
    const res = await svc.getJwt({ provider: 'kc-intro', type: 'oidc', providerAccountId: SUB, accessToken: token });
    assert.equal(res.code, status.UNAUTHENTICATED);
    assert.match(res.details!, /ERR_AUTHJWT_UPSTREAM_INACTIVE/);
    const logged = logsSince(from);
    assert.match(logged, /audience mapper/);
    assert.ok(!logged.includes(token));
  });

  it("userinfo refusal: the provider's own error code and description reach the log, not the caller; no token", async () => {
    const token = fake.opaque();
    fake.script('userinfo', () => ({
      status: 401,
      headers: { 'www-authenticate': 'Bearer error="invalid_token", error_description="Token verification failed"' },
    }));
    try {
      const from = svc.logs.length;
      const res = await svc.getJwt({ provider: 'kc-userinfo', type: 'oidc', providerAccountId: SUB, accessToken: token });
      assert.equal(res.code, status.UNAUTHENTICATED);
      assert.ok(!res.details!.includes('verification failed'));
      const logged = logsSince(from);
      assert.match(logged, /provider error: invalid_token: Token verification failed/);
      assert.ok(!logged.includes(token));
    } finally {
      fake.script('userinfo', undefined);
    }
  });

  it('Keycloak lightweight access token (no sub): jwt refuses it with NO_ACCOUNT_ID, pointing at introspection', async () => {
    const token = await fake.sign({ iss: fake.issuer, azp: 'frontend', exp: nowS() + 300, typ: 'Bearer' });
    const res = await svc.getJwt({ provider: 'keycloak', type: 'oidc', providerAccountId: SUB, accessToken: token });
    assert.equal(res.code, status.UNAUTHENTICATED);
    assert.match(res.details!, /ERR_AUTHJWT_UPSTREAM_NO_ACCOUNT_ID/);
  });
});

describe('options that do not apply to a strategy are configuration errors', () => {
  it('audiences on a user-API provider (a token issued to another client was silently accepted before)', () => {
    assert.throws(
      () =>
        buildConfig({
          issuer: 'https://a.example',
          audience: 'x',
          keys: { ephemeral: true },
          providers: [{ id: 'github', preset: 'github', audiences: ['my-app'] }],
        }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.issues.some((i) => i.path === 'providers[0].audiences' && /does not apply to user-API providers/.test(i.message)),
    );
  });
});
