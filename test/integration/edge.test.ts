/**
 * The edge doors through their public surfaces, in-process: HTTP forward-auth on the internal
 * listener and Envoy's `envoy.service.auth.v3.Authorization/Check` on the gRPC port (called with a
 * grpc-js client built from Envoy's own protos), against a real OIDC provider implementation
 * (oidc-provider, tokens chosen by their `iss`) and a FAKE GitHub (chosen by the provider header):
 * the minted token replaces the provider token, each denial has its status and challenge, a provider
 * outage and a deadline answer 503 / fail the call, and the minted-token cache reuses tokens.
 * Real gateways in front of the same doors: test/interop/gateways.test.ts.
 */
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { loadExtAuthzPackage } from '../../src/grpc/proto.ts';
import type { ExchangeEvent } from '../../src/telemetry/exchange-events.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';
import { waitFor } from '../helpers/wait-for.ts';

const alice = USERS.alice!;
const octocat = { id: 583231, login: 'octocat', name: 'The Octocat', email: 'octocat@github.example' };

/** GET with repeated headers kept as sent (fetch joins them). */
function rawGet(
  url: string,
  headers: [string, string][],
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'GET', headers: [['host', new URL(url).host], ...headers].flat() as unknown as Record<string, string> },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

type Check = {
  status: { code: number; message: string };
  okResponse?: { headers: { header: { key: string; value: string }; appendAction: string }[]; headersToRemove: string[] };
  deniedResponse?: { status: { code: string }; headers: { header: { key: string; value: string }; appendAction: string }[]; body: string };
  httpResponse?: string;
};

function extAuthzClient(port: number) {
  const pkg = loadPackageDefinition(loadExtAuthzPackage({ defaults: true })) as any; // reads status.code 0, as Envoy does
  const client = new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, credentials.createInsecure());
  const check = (
    headers: Record<string, string>,
    o: { context?: Record<string, string>; deadlineMs?: number; path?: string } = {},
  ): Promise<{ err?: ServiceError; res?: Check }> =>
    new Promise((resolve) => {
      const req = {
        attributes: {
          request: { http: { method: 'GET', host: 'app.test', path: o.path ?? '/api/items?x=1', headers } },
          contextExtensions: o.context ?? {},
        },
      };
      client.Check(req, new Metadata(), { deadline: Date.now() + (o.deadlineMs ?? 10_000) }, (err: ServiceError | null, res: Check) =>
        resolve(err ? { err } : { res }),
      );
    });
  return { check, close: () => client.close() };
}

const headerOf = (list: { header: { key: string; value: string } }[] | undefined, key: string) =>
  list?.find((h) => h.header.key === key)?.header.value;

describe('edge doors: forward-auth and Envoy ext_authz', () => {
  let op: OidcTestProvider;
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  let fa: string;
  let ext: ReturnType<typeof extAuthzClient>;
  const events: ExchangeEvent[] = [];

  before(async () => {
    op = await startOidcProvider();
    gh = await startFakeGitHub();
    gh.issue('gho_edge_octocat', octocat, 'Iv1.edge');
    gh.issue('gho_edge_mallory', { id: 666, login: 'mallory', name: null, email: null }, 'Iv1.edge');
    svc = await startAuthJwt(
      {
        audience: ['internal-services', 'orders'],
        edge: {
          forwardAuth: { enabled: true, timeout: '1s' },
          extAuthz: { enabled: true },
          identityHeaders: { 'x-authjwt-sub': 'sub', 'x-authjwt-provider': 'provider', 'x-authjwt-email': 'email' },
        },
        providers: [
          { id: 'op', type: 'oidc', issuer: op.issuer, audiences: ['frontend'], verification: 'jwt' },
          fakeGitHubProvider(gh, { timeout: '2s', retries: 0, allow: [{ name: 'not-mallory', expression: 'claims.login != "mallory"' }] }),
        ],
      },
      { observer: { onExchange: (e) => void events.push(e) } },
    );
    assert.ok(svc.app.internalHttpPort, 'the internal listener is up when forward-auth is enabled');
    fa = `http://127.0.0.1:${svc.app.internalHttpPort}/forward-auth`;
    ext = extAuthzClient(svc.app.grpcPort);
  });
  after(async () => {
    ext?.close();
    await svc?.stop();
    await gh?.close();
    await op?.close();
  });

  describe('forward-auth', () => {
    it('a JWT of a configured issuer: 200 with the minted token (verified through discovery) and identity headers', async () => {
      const res = await fetch(fa, {
        headers: { authorization: `Bearer ${await op.jwtToken(alice)}`, 'x-original-uri': '/orders/1?secret=x' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const minted = /^Bearer (\S+)$/.exec(res.headers.get('authorization') ?? '')![1]!;
      const { payload } = await svc.verify(minted);
      assert.equal(payload.sub, `op:${alice.sub}`);
      assert.equal(res.headers.get('x-authjwt-sub'), `op:${alice.sub}`);
      assert.equal(res.headers.get('x-authjwt-provider'), 'op');
      // The claim is absent (not mapped from this token): Envoy HTTP ext_authz is told to remove the header.
      assert.equal(res.headers.get('x-authjwt-email'), null);
      assert.equal(res.headers.get('x-envoy-auth-headers-to-remove'), 'x-authjwt-email');
      const event = events.findLast((e) => e.door === 'forward_auth')!;
      assert.equal(event.outcome, 'ok');
      assert.equal(event.route, `GET 127.0.0.1:${svc.app.internalHttpPort}/orders/1`, 'route from X-Original-URI, without the query');
    });

    it('an opaque token with the provider header (GitHub): 200, profile claims into identity headers', async () => {
      const res = await fetch(fa, { headers: { authorization: 'bearer gho_edge_octocat', 'x-authjwt-provider': 'github' } });
      assert.equal(res.status, 200);
      const token = res.headers.get('authorization')!.slice('Bearer '.length);
      assert.equal(decodeJwt(token).sub, 'github:583231');
      assert.equal(res.headers.get('x-authjwt-email'), octocat.email);
      assert.equal(res.headers.get('x-envoy-auth-headers-to-remove'), null);
    });

    it('per route: ?provider= when nothing else names one, ?audience= downscopes', async () => {
      const res = await fetch(`${fa}?provider=github&audience=orders`, { headers: { authorization: 'Bearer gho_edge_octocat' } });
      assert.equal(res.status, 200);
      const claims = decodeJwt(res.headers.get('authorization')!.slice(7));
      assert.equal(claims.aud, 'orders');
      // Envoy HTTP ext_authz appends the original path to path_prefix: served below the endpoint too.
      const below = await fetch(`${fa}/api/items?provider=github`, { headers: { authorization: 'Bearer gho_edge_octocat' } });
      assert.equal(below.status, 200);
      assert.equal(events.findLast((e) => e.door === 'forward_auth')!.route?.endsWith('/api/items'), true);
    });

    const denials: [string, [string, string][], number, string | null, string][] = [
      ['no header', [], 401, 'Bearer', 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
      ['another scheme', [['authorization', 'Basic dXNlcjpwYXNz']], 401, 'Bearer', 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
      ['scheme without token', [['authorization', 'Bearer ']], 401, 'Bearer', 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
      [
        'two authorization headers',
        [
          ['authorization', 'Bearer gho_edge_octocat'],
          ['authorization', 'Bearer other'],
        ],
        401,
        'Bearer error="invalid_token"',
        'ERR_AUTHJWT_REQUEST_MULTIPLE_TOKENS',
      ],
      [
        'comma-joined tokens',
        [['authorization', 'Bearer a,Bearer b']],
        401,
        'Bearer error="invalid_token"',
        'ERR_AUTHJWT_REQUEST_MULTIPLE_TOKENS',
      ],
      [
        'an opaque token naming no provider',
        [['authorization', 'Bearer gho_edge_octocat']],
        401,
        'Bearer error="invalid_token"',
        'ERR_AUTHJWT_REQUEST_NO_PROVIDER',
      ],
      [
        'an unknown provider header',
        [
          ['authorization', 'Bearer gho_edge_octocat'],
          ['x-authjwt-provider', 'nope'],
        ],
        401,
        'Bearer error="invalid_token"',
        'ERR_AUTHJWT_REQUEST_UNKNOWN_PROVIDER',
      ],
      [
        'a token the provider rejects',
        [
          ['authorization', 'Bearer gho_unknown'],
          ['x-authjwt-provider', 'github'],
        ],
        401,
        'Bearer error="invalid_token"',
        'ERR_AUTHJWT_UPSTREAM_REJECTED_BY_PROVIDER',
      ],
    ];
    for (const [name, headers, code, challenge, reason] of denials) {
      it(`${name}: ${code} with WWW-Authenticate ${challenge}`, async () => {
        const res = await rawGet(fa, headers);
        assert.equal(res.status, code, res.body);
        assert.equal(String(res.headers['www-authenticate']).replace(/, error_description=.*$/, ''), challenge);
        assert.equal(res.headers['cache-control'], 'no-store');
        assert.equal(res.headers.authorization, undefined);
        const body = JSON.parse(res.body) as { error: string; error_description: string };
        assert.equal(body.error, 'invalid_token', 'a registered code in the body, also without a token (the challenge has none)');
        assert.ok(body.error_description.endsWith(`(${reason})`), body.error_description);
        assert.equal(events.findLast((e) => e.door === 'forward_auth')!.reason, reason);
      });
    }

    it('a JWT whose signature does not verify: 401 invalid_token (the provider is chosen by iss, the signature still decides)', async () => {
      const token = await op.jwtToken(alice);
      const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      const res = await fetch(fa, { headers: { authorization: `Bearer ${forged}` } });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate')!, /^Bearer error="invalid_token"/);
    });

    it('policy denial (a provider allow rule): 403, no challenge, the rule reported', async () => {
      const res = await fetch(fa, { headers: { authorization: 'Bearer gho_edge_mallory', 'x-authjwt-provider': 'github' } });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('www-authenticate'), null);
      assert.equal(res.headers.get('authorization'), null);
      const event = events.findLast((e) => e.door === 'forward_auth')!;
      assert.deepEqual([event.outcome, event.reason, event.rule], ['permission_denied', 'ERR_AUTHJWT_POLICY_DENIED', 'not-mallory']);
    });

    it('provider down: 503 with Retry-After; back up: 200 again', async () => {
      gh.mode = '500';
      try {
        const res = await fetch(fa, { headers: { authorization: 'Bearer gho_edge_octocat', 'x-authjwt-provider': 'github' } });
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '1');
        assert.equal(res.headers.get('www-authenticate'), null);
        assert.equal(events.findLast((e) => e.door === 'forward_auth')!.outcome, 'unavailable');
      } finally {
        gh.mode = 'ok';
      }
      const res = await fetch(fa, { headers: { authorization: 'Bearer gho_edge_octocat', 'x-authjwt-provider': 'github' } });
      assert.equal(res.status, 200);
    });

    it('a provider slower than edge.forwardAuth.timeout: 503 (ERR_AUTHJWT_DEADLINE)', async () => {
      gh.delayMs = 3_000;
      const before = gh.requests.length;
      try {
        const res = await fetch(fa, { headers: { authorization: 'Bearer gho_edge_octocat', 'x-authjwt-provider': 'github' } });
        assert.equal(res.status, 503);
        assert.equal(events.findLast((e) => e.door === 'forward_auth')!.reason, 'ERR_AUTHJWT_DEADLINE');
        assert.ok(gh.requests.length > before, 'the provider was asked');
      } finally {
        gh.delayMs = 0;
      }
    });

    it('minted-token cache: the same provider token gets the same minted token (reused), another token a new one', async () => {
      const headers = { authorization: 'Bearer gho_edge_octocat', 'x-authjwt-provider': 'github' };
      const first = (await fetch(`${fa}?audience=internal-services`, { headers })).headers.get('authorization');
      const second = await fetch(`${fa}?audience=internal-services`, { headers });
      assert.equal(second.headers.get('authorization'), first);
      assert.equal(events.findLast((e) => e.door === 'forward_auth')!.reused, true);
      // Each request still proves the token: the provider is asked again (cacheTtl 0), a revoked token is refused.
      const asked = gh.requests.length;
      gh.mode = '500';
      try {
        assert.equal((await fetch(`${fa}?audience=internal-services`, { headers })).status, 503);
      } finally {
        gh.mode = 'ok';
      }
      assert.ok(gh.requests.length > asked);
      const other = await fetch(fa, { headers: { authorization: `Bearer ${await op.jwtToken(alice)}` } });
      assert.notEqual(other.headers.get('authorization'), first);
    });

    it('GetJWT does not reuse minted tokens by default (a new jti per call)', async () => {
      const account = { provider: 'github', type: 'oauth', providerAccountId: '583231', accessToken: 'gho_edge_octocat' };
      const a = await svc.getJwt(account);
      const b = await svc.getJwt(account);
      assert.equal(a.code, status.OK);
      assert.notEqual(decodeJwt(a.token!).jti, decodeJwt(b.token!).jti);
    });

    it('is not served on the public listener, and the internal listener serves nothing else', async () => {
      assert.equal((await fetch(`${svc.httpUrl}/forward-auth`, { headers: { authorization: 'Bearer x' } })).status, 404);
      assert.equal((await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/.well-known/jwks.json`)).status, 404);
      assert.equal((await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/forward-authx`)).status, 404);
    });
  });

  describe('Envoy ext_authz (envoy.service.auth.v3.Authorization/Check)', () => {
    it('OK: the minted token replaces authorization (overwrite), identity headers set, absent ones removed', async () => {
      const { res, err } = await ext.check({ authorization: `Bearer ${await op.jwtToken(alice)}`, 'x-authjwt-email': 'forged@client' });
      assert.equal(err, undefined);
      assert.equal(res!.status.code, status.OK);
      assert.equal(res!.httpResponse, 'okResponse');
      const ok = res!.okResponse!;
      const minted = headerOf(ok.headers, 'authorization')!.slice('Bearer '.length);
      assert.equal((await svc.verify(minted)).payload.sub, `op:${alice.sub}`);
      assert.equal(headerOf(ok.headers, 'x-authjwt-sub'), `op:${alice.sub}`);
      assert.ok(ok.headers.every((h) => h.appendAction === 'OVERWRITE_IF_EXISTS_OR_ADD'));
      // authorization itself is overwritten, not removed; the client's x-authjwt-email is removed.
      assert.deepEqual(ok.headersToRemove, ['x-authjwt-email']);
      const event = events.findLast((e) => e.door === 'ext_authz')!;
      assert.deepEqual([event.outcome, event.provider, event.route], ['ok', 'op', 'GET app.test/api/items']);
    });

    it('per-route provider from context_extensions (Envoy check_settings); the provider header wins over it', async () => {
      const viaRoute = await ext.check({ authorization: 'Bearer gho_edge_octocat' }, { context: { provider: 'github' } });
      assert.equal(viaRoute.res!.status.code, status.OK);
      const viaHeader = await ext.check(
        { authorization: 'Bearer gho_edge_octocat', 'x-authjwt-provider': 'op' },
        { context: { provider: 'github' } },
      );
      assert.equal(viaHeader.res!.deniedResponse?.status.code, 'Unauthorized', 'the header named op, which cannot verify a GitHub token');
    });

    it('denied: 401 with the RFC 6750 challenge for a missing and an invalid token', async () => {
      const seen = events.length;
      const missing = await ext.check({});
      assert.equal(missing.res!.status.code, status.UNAUTHENTICATED);
      assert.equal(missing.res!.deniedResponse!.status.code, 'Unauthorized');
      assert.equal(headerOf(missing.res!.deniedResponse!.headers, 'www-authenticate'), 'Bearer');
      const invalid = await ext.check({ authorization: 'Bearer gho_unknown', 'x-authjwt-provider': 'github' });
      const denied = invalid.res!.deniedResponse!;
      assert.equal(denied.status.code, 'Unauthorized');
      assert.match(headerOf(denied.headers, 'www-authenticate')!, /^Bearer error="invalid_token", error_description="/);
      assert.equal(headerOf(denied.headers, 'content-type'), 'application/json');
      assert.equal(JSON.parse(denied.body).error, 'invalid_token');
      // Envoy joins repeated headers with ",": two credentials.
      const twice = await ext.check({ authorization: 'Bearer a,Bearer b' });
      assert.equal(twice.res!.status.code, status.INVALID_ARGUMENT);
      assert.equal(twice.res!.deniedResponse!.status.code, 'Unauthorized');
      // Refused before the exchange (no token, two tokens) vs. refused by it (the provider rejected the token).
      assert.deepEqual(
        events.slice(seen).map((e) => [e.door, e.outcome, e.refused]),
        [
          ['ext_authz', 'unauthenticated', 'no_token'],
          ['ext_authz', 'unauthenticated', undefined],
          ['ext_authz', 'invalid_argument', 'malformed'],
        ],
      );
      const metrics = await (await fetch(`${svc.httpUrl}/metrics`)).text();
      assert.match(metrics, /authjwt_requests_refused_total\{door="ext_authz",reason="no_token"\} [1-9]/);
      assert.match(metrics, /authjwt_requests_refused_total\{door="ext_authz",reason="malformed"\} [1-9]/);
    });

    it('policy denial: DeniedHttpResponse 403 (CheckResponse.status PERMISSION_DENIED), never a failed call', async () => {
      const { res, err } = await ext.check({ authorization: 'Bearer gho_edge_mallory', 'x-authjwt-provider': 'github' });
      assert.equal(err, undefined);
      assert.equal(res!.status.code, status.PERMISSION_DENIED);
      assert.equal(res!.deniedResponse!.status.code, 'Forbidden');
      assert.equal(headerOf(res!.deniedResponse!.headers, 'www-authenticate'), undefined);
    });

    it('provider down: the Check call fails with UNAVAILABLE (Envoy: an authorization-service error, failure_mode_allow applies)', async () => {
      gh.mode = '500';
      try {
        const { err, res } = await ext.check({ authorization: 'Bearer gho_edge_octocat', 'x-authjwt-provider': 'github' });
        assert.equal(res, undefined);
        assert.equal(err!.code, status.UNAVAILABLE);
        assert.match(err!.details, /ERR_AUTHJWT_PROVIDER_BAD_STATUS/);
      } finally {
        gh.mode = 'ok';
      }
    });

    it("Envoy's deadline (grpc-timeout): DEADLINE_EXCEEDED, reported with the provider", async () => {
      gh.delayMs = 3_000;
      try {
        const { err } = await ext.check({ authorization: 'Bearer gho_edge_octocat', 'x-authjwt-provider': 'github' }, { deadlineMs: 300 });
        assert.equal(err!.code, status.DEADLINE_EXCEEDED);
        const event = await waitFor(() => events.findLast((e) => e.door === 'ext_authz' && e.outcome === 'deadline_exceeded'), {
          what: 'the ext_authz deadline event',
        });
        assert.equal(event.provider, 'github');
      } finally {
        gh.delayMs = 0;
      }
    });

    it('gRPC health knows the ext_authz service (Envoy cluster health checks name it)', async () => {
      const pkg = loadPackageDefinition((await import('../../src/grpc/proto.ts')).loadHealthPackage()) as any;
      const client = new pkg.grpc.health.v1.Health(`127.0.0.1:${svc.app.grpcPort}`, credentials.createInsecure());
      const res = await new Promise<{ status: string }>((resolve, reject) =>
        client.Check({ service: 'envoy.service.auth.v3.Authorization' }, (e: Error | null, r: { status: string }) =>
          e ? reject(e) : resolve(r),
        ),
      );
      client.close();
      assert.equal(res.status, 'SERVING');
    });
  });
});

describe('edge: ext_authz onUnavailable=deny, minted tokens for GetJWT, forward-auth on the public listener', () => {
  let issuer: FakeOidcIssuer;
  let svc: RunningAuthJwt;
  before(async () => {
    issuer = await startFakeOidcIssuer();
    svc = await startAuthJwt({
      mintedTokens: { getJwt: true, refreshMargin: '30s' },
      edge: { extAuthz: { enabled: true, onUnavailable: 'deny' }, forwardAuth: { enabled: true, listener: 'public', path: '/auth/check' } },
      providers: [{ id: 'fake', type: 'oidc', issuer: issuer.issuer, verification: 'userinfo', timeout: '1s', retries: 0 }],
    });
  });
  after(async () => {
    await svc?.stop();
    await issuer?.close();
  });

  it('the internal listener is not started; forward-auth answers on the public listener at its configured path', async () => {
    assert.equal(svc.app.internalHttpPort, undefined);
    issuer.userinfo.set('opaque-1', { sub: 'u1' });
    const res = await fetch(`${svc.httpUrl}/auth/check`, { headers: { authorization: 'Bearer opaque-1', 'x-authjwt-provider': 'fake' } });
    assert.equal(res.status, 200);
    assert.ok(svc.logs.some((l) => l.includes('forward-auth is served on the public HTTP listener')));
  });

  it('GetJWT with mintedTokens.getJwt: the same token twice (shared jti)', async () => {
    issuer.userinfo.set('opaque-2', { sub: 'u2' });
    const account = { provider: 'fake', type: 'oidc', providerAccountId: 'u2', accessToken: 'opaque-2' };
    const a = await svc.getJwt(account);
    const b = await svc.getJwt(account);
    assert.equal(a.code, status.OK, a.details);
    assert.equal(a.token, b.token);
  });

  it("Envoy's deadline aborts the provider call in flight", async () => {
    issuer.latency.userinfo = 3_000;
    try {
      const { err } = await extAuthzClient(svc.app.grpcPort).check(
        { authorization: 'Bearer opaque-slow', 'x-authjwt-provider': 'fake' },
        { deadlineMs: 300 },
      );
      assert.equal(err!.code, status.DEADLINE_EXCEEDED);
      await waitFor(() => issuer.requests.some((r) => r.endpoint === 'userinfo' && r.token === 'opaque-slow' && r.aborted), {
        what: 'the userinfo request to be aborted',
      });
    } finally {
      issuer.latency.userinfo = 0;
    }
  });

  it('a provider outage is a DeniedHttpResponse 503 with Retry-After (CheckResponse.status UNAVAILABLE)', async () => {
    issuer.script('userinfo', () => ({ status: 502 }));
    try {
      const { res, err } = await extAuthzClient(svc.app.grpcPort).check({ authorization: 'Bearer opaque-3', 'x-authjwt-provider': 'fake' });
      assert.equal(err, undefined);
      assert.equal(res!.status.code, status.UNAVAILABLE);
      assert.equal(res!.deniedResponse!.status.code, 'ServiceUnavailable');
      assert.equal(headerOf(res!.deniedResponse!.headers, 'retry-after'), '1');
    } finally {
      issuer.script('userinfo', undefined);
    }
  });
});
