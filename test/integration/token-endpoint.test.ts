/**
 * The RFC 8693 token endpoint end to end: a real authjwt with a real OIDC provider (oidc-provider,
 * JWT access tokens) and a FAKE GitHub, called with openid-client's `genericGrantRequest` (an
 * independent OAuth client found through discovery) and with plain fetch. The second client library
 * (Python Authlib) runs in test/interop/interop.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { buildConfig } from '../../src/config/load.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const alice = USERS.alice!;

describe('token endpoint with openid-client (discovery + genericGrantRequest)', () => {
  let op: OidcTestProvider;
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  let config: client.Configuration;

  before(async () => {
    op = await startOidcProvider();
    gh = await startFakeGitHub();
    gh.issue('gho_octocat', { id: 583231, login: 'octocat', name: 'The Octocat', email: null }, 'Iv1.app');
    svc = await startAuthJwt({
      tokenEndpoint: { enabled: true },
      providers: [
        { id: 'kc', type: 'oidc', issuer: op.issuer, audiences: ['frontend'], strategy: 'jwt', audience: ['internal-services', 'orders'] },
        fakeGitHubProvider(gh, { timeout: '2s', retries: 0 }),
      ],
    });
    config = await client.discovery(new URL(svc.config.issuer), 'gateway', undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
  });
  after(async () => {
    await svc?.stop();
    await op?.close();
    await gh?.close();
  });

  const exchange = (subjectToken: string, extra: Record<string, string> = {}, c = config) =>
    client.genericGrantRequest(c, GRANT, { subject_token: subjectToken, subject_token_type: ACCESS, ...extra });
  /** The OAuth error openid-client reports: [HTTP status, error]. */
  const failure = async (request: Promise<unknown>): Promise<[number, string]> => {
    try {
      await request;
    } catch (e) {
      if (e instanceof client.ResponseBodyError) return [e.status, e.error];
      // 5xx: openid-client does not read the body as an OAuth error, it hands over the Response.
      const cause = (e as { cause?: unknown }).cause;
      if (cause instanceof Response) return [cause.status, ((await cause.json()) as { error: string }).error];
      // A 401 with a challenge: openid-client reports the (lower-cased) scheme.
      if (e instanceof client.WWWAuthenticateChallengeError) return [e.status, e.cause[0]!.scheme];
      throw e;
    }
    throw new Error('the request succeeded');
  };

  it('discovery advertises the token endpoint, its grant type and client authentication none; no authorization endpoint', () => {
    const m = config.serverMetadata();
    assert.equal(m.token_endpoint, `http://127.0.0.1:${svc.app.internalHttpPort}/token`);
    assert.deepEqual(m.grant_types_supported, [GRANT]);
    assert.deepEqual(m.token_endpoint_auth_methods_supported, ['none']);
    assert.deepEqual(m.response_types_supported, []);
    assert.equal(m.authorization_endpoint, undefined);
  });

  it('a JWT access token of the OIDC provider (chosen by its iss) → a minted RFC 9068 token', async () => {
    const res = await exchange(await op.jwtToken(alice));
    assert.equal(res.token_type, 'bearer');
    assert.equal(res.issued_token_type, ACCESS);
    assert.ok(res.expires_in! > 890 && res.expires_in! <= 900, String(res.expires_in));
    const { payload, protectedHeader } = await svc.verify(res.access_token);
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, `kc:${alice.sub}`);
    assert.deepEqual(payload.aud, ['internal-services', 'orders']);
    assert.equal(payload.client_id, 'frontend', 'the client the upstream token was issued to');
  });

  it('audience downscopes within the provider audience', async () => {
    const res = await exchange(await op.jwtToken(alice), { audience: 'orders' });
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri as string));
    const { payload } = await jwtVerify(res.access_token, jwks, { issuer: svc.config.issuer, audience: 'orders', typ: 'at+jwt' });
    assert.equal(payload.aud, 'orders');
    await assert.rejects(svc.verify(res.access_token), /unexpected "aud" claim value/, 'no longer for internal-services');
  });

  it('an opaque GitHub token with subject_issuer = the provider id', async () => {
    const res = await exchange('gho_octocat', { subject_issuer: 'github' });
    const { payload } = await svc.verify(res.access_token);
    assert.equal(payload.sub, 'github:583231');
    assert.equal(payload.client_id, 'github', 'no upstream client and no clientId: the provider id');
  });

  it('subject_issuer = the OIDC issuer URL selects that provider', async () => {
    const res = await exchange(await op.jwtToken(alice), { subject_issuer: op.issuer });
    assert.equal((await svc.verify(res.access_token)).payload.provider, 'kc');
  });

  it('errors as openid-client reports them: invalid_target, invalid_request, unsupported_grant_type, invalid_client, temporarily_unavailable', async () => {
    assert.deepEqual(await failure(exchange(await op.jwtToken(alice), { audience: 'payments' })), [400, 'invalid_target']);
    assert.deepEqual(await failure(exchange('gho_revoked', { subject_issuer: 'github' })), [400, 'invalid_request']);
    assert.deepEqual(await failure(exchange(await op.jwtToken(alice, { clientId: 'other-app' }))), [400, 'invalid_request']);
    assert.deepEqual(await failure(exchange('gho_octocat', { subject_issuer: 'gitlab' })), [400, 'invalid_request']);
    assert.deepEqual(await failure(client.genericGrantRequest(config, 'client_credentials', {})), [400, 'unsupported_grant_type']);
    const withSecret = await client.discovery(new URL(svc.config.issuer), 'gateway', undefined, client.ClientSecretBasic('s3cret'), {
      execute: [client.allowInsecureRequests],
    });
    assert.deepEqual(await failure(exchange('gho_octocat', { subject_issuer: 'github' }, withSecret)), [401, 'basic']);
    gh.mode = '500';
    try {
      assert.deepEqual(await failure(exchange('gho_octocat', { subject_issuer: 'github' })), [503, 'temporarily_unavailable']);
    } finally {
      gh.mode = 'ok';
    }
  });

  it('counts exchanges at door token_endpoint; no subject token reaches the logs', async () => {
    const metrics = await (await fetch(`${svc.httpUrl}/metrics`)).text();
    // Refused before the exchange: an unknown subject_issuer, client_credentials, client authentication (earlier test).
    assert.match(metrics, /authjwt_requests_refused_total\{door="token_endpoint",reason="malformed"\} [3-9]/);
    assert.match(metrics, /authjwt_requests_refused_total\{door="token_endpoint",reason="overloaded"\} 0/);
    assert.match(metrics, /authjwt_exchange_duration_seconds_count\{door="token_endpoint",provider="kc",outcome="ok"\} [1-9]/);
    assert.match(metrics, /authjwt_exchange_requests_total\{door="token_endpoint",provider="kc",outcome="ok",reused="false"\} [1-9]/);
    assert.match(
      metrics,
      /authjwt_exchange_requests_total\{door="token_endpoint",provider="github",outcome="unauthenticated",reused="false"\} [1-9]/,
    );
    assert.ok(!svc.logs.join('').includes('gho_octocat'));
    assert.ok(!svc.logs.join('').includes('gho_revoked'));
  });

  it('the endpoint is not on the public listener', async () => {
    const res = await fetch(`${svc.httpUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: GRANT, subject_token: 'gho_octocat', subject_token_type: ACCESS, subject_issuer: 'github' }),
    });
    assert.equal(res.status, 404);
  });
});

describe('token endpoint configuration', () => {
  const github = [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: 'http://127.0.0.1:9/user' }];

  it('disabled (the default): no internal listener, discovery lists no grant type and no token endpoint', async () => {
    const svc = await startAuthJwt({ providers: github });
    try {
      assert.equal(svc.app.internalHttpPort, undefined);
      const d = (await (await fetch(`${svc.httpUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(d).sort(), [
        'claims_supported',
        'grant_types_supported',
        'id_token_signing_alg_values_supported',
        'issuer',
        'jwks_uri',
        'response_types_supported',
        'subject_types_supported',
      ]);
      assert.deepEqual([d.grant_types_supported, d.response_types_supported], [[], []]);
    } finally {
      await svc.stop();
    }
  });

  it('tokenEndpoint.url and path: advertised as configured; defaultProvider serves requests without subject_issuer', async () => {
    const gh = await startFakeGitHub();
    gh.issue('gho_default', { id: 7, login: 'seven', name: null, email: null }, 'app');
    const svc = await startAuthJwt({
      tokenEndpoint: { enabled: true, path: '/oauth2/token', url: 'http://authjwt.auth.svc:8081/oauth2/token', defaultProvider: 'github' },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` }],
    });
    try {
      const d = (await (await fetch(`${svc.httpUrl}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
      assert.equal(d.token_endpoint, 'http://authjwt.auth.svc:8081/oauth2/token');
      const res = await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: GRANT, subject_token: 'gho_default', subject_token_type: ACCESS }),
      });
      assert.equal(res.status, 200);
      assert.equal((await svc.verify(((await res.json()) as { access_token: string }).access_token)).payload.sub, 'github:7');
    } finally {
      await svc.stop();
      await gh.close();
    }
  });

  it('a non-loopback internal listener without tokenEndpoint.url: not advertised, with a warning; an unknown defaultProvider is refused', () => {
    const base = { issuer: 'https://authjwt.example', audience: 'internal-services', keys: { ephemeral: true }, providers: github };
    const warned = buildConfig({ ...base, internalHttp: { listen: '0.0.0.0:8081' }, tokenEndpoint: { enabled: true } }).warnings;
    assert.ok(warned.some((w) => /tokenEndpoint\.url is not set/.test(w)));
    const quiet = buildConfig({ ...base, tokenEndpoint: { enabled: true, url: 'http://authjwt.auth.svc:8081/token' } }).warnings;
    assert.ok(!quiet.some((w) => /tokenEndpoint\.url/.test(w)));
    assert.throws(
      () => buildConfig({ ...base, tokenEndpoint: { enabled: true, defaultProvider: 'gitlab' } }),
      /tokenEndpoint\.defaultProvider: "gitlab" is not a configured provider id/,
    );
  });
});
