/**
 * authjwt's edge doors behind REAL gateways (no mocks), each a test-owned process on loopback:
 * - nginx (Debian package) with auth_request, and Caddy (Go proxy build) with forward_auth +
 *   copy_headers, both running the deploy/ examples (deploy/nginx, deploy/caddy) with loopback
 *   addresses: a valid provider token reaches the upstream as authjwt's JWT (the upstream verifies it
 *   against authjwt's JWKS with jose), invalid → 401 with the RFC 6750 challenge, policy-denied (a
 *   provider `allow` rule) → 403,
 *   provider down → 503 with Retry-After; client-supplied X-Authjwt-* headers never reach the upstream;
 * - Envoy's ext_authz gRPC API through extauthz-check (Envoy's generated Go client from
 *   go-control-plane): OK with the header mutation, each denial, a deadline (no Envoy binary exists
 *   here: the Envoy example is validated structurally in test/integration/deploy.test.ts);
 * - oauth2-proxy validating bearer JWTs through authjwt's discovery (--skip-jwt-bearer-tokens,
 *   --extra-jwt-issuers): minted tokens accepted, tampered or foreign-audience ones refused.
 * Missing tools skip locally and FAIL when CI is set (test/helpers/interop-tools.ts).
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { ExchangeEvent } from '../../src/telemetry/exchange-events.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { renderExample, startCaddy, startNginx, startOauth2Proxy, type Gateway } from '../helpers/gateways.ts';
import { jsonResult, requireTool, runTool } from '../helpers/interop-tools.ts';
import { freePort, listenOnLoopback } from '../helpers/net.ts';
import { startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';
import { waitFor } from '../helpers/wait-for.ts';

const alice = USERS.alice!;
const octocat = { id: 583231, login: 'octocat', name: 'The Octocat', email: 'octocat@github.example' };
const GH_TOKEN = 'gho_gateway_octocat';
/** A GitHub user the provider proves but the policy (`allow`) refuses. */
const mallory = { id: 666, login: 'mallory', name: 'Mallory', email: null };
const MALLORY_TOKEN = 'gho_gateway_mallory';
/** Tampers with the signature (last characters of the third segment) of a compact JWS. */
const tamper = (jwt: string) => jwt.slice(0, -3) + (jwt.endsWith('AAA') ? 'BBB' : 'AAA');

/** What the upstream test server saw: the JWT it verified against authjwt's JWKS and the identity headers. */
interface Seen {
  verified: boolean;
  error?: string;
  payload?: JWTPayload;
  headers: IncomingHttpHeaders;
}

/** The upstream API: verifies `Authorization: Bearer <authjwt JWT>` with jose against the JWKS named by discovery. */
async function startUpstream(issuer: string) {
  const seen: Seen[] = [];
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const server: Server = createServer(async (req, res) => {
    const entry: Seen = { verified: false, headers: req.headers };
    seen.push(entry);
    try {
      if (!jwks) {
        const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
        jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
      }
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!m) throw new Error('no bearer token');
      entry.payload = (await jwtVerify(m[1]!, jwks, { issuer, audience: 'internal-services', typ: 'at+jwt' })).payload;
      entry.verified = true;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: entry.payload.sub }));
    } catch (e) {
      entry.error = (e as Error).message;
      res.writeHead(401, { 'content-type': 'text/plain' }).end('upstream: not an authjwt token');
    }
  });
  const { port, close } = await listenOnLoopback(server);
  return { port, seen, close };
}

describe('edge behind real gateways', () => {
  let op: OidcTestProvider;
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const events: ExchangeEvent[] = [];

  before(async () => {
    op = await startOidcProvider();
    gh = await startFakeGitHub();
    gh.issue(GH_TOKEN, octocat, 'Iv1.gateways');
    gh.issue(MALLORY_TOKEN, mallory, 'Iv1.gateways');
    svc = await startAuthJwt(
      {
        audience: ['internal-services', 'orders'],
        edge: {
          extAuthz: { enabled: true },
          forwardAuth: { enabled: true },
          identityHeaders: { 'x-authjwt-sub': 'sub', 'x-authjwt-provider': 'provider', 'x-authjwt-email': 'email' },
        },
        providers: [
          { id: 'op', type: 'oidc', issuer: op.issuer, audiences: ['frontend'], verification: 'jwt' },
          fakeGitHubProvider(gh, { timeout: '2s', retries: 0, allow: [{ name: 'not-mallory', expression: 'claims.login != "mallory"' }] }),
        ],
      },
      { observer: { onExchange: (e) => void events.push(e) } },
    );
    upstream = await startUpstream(svc.config.issuer);
  });
  after(async () => {
    await svc?.stop();
    await upstream?.close();
    await gh?.close();
    await op?.close();
  });

  /** The cases every forward-auth gateway must pass, through `gateway.url`. */
  async function forwardAuthCases(gateway: Gateway) {
    const api = `${gateway.url}/api/orders?page=2`;
    const diag = () => gateway.logs();

    // A GitHub token (opaque): the client names the provider; it also tries to inject an identity.
    let before = upstream.seen.length;
    const ok = await fetch(api, {
      headers: { authorization: `Bearer ${GH_TOKEN}`, 'x-authjwt-provider': 'github', 'x-authjwt-sub': 'github:1' },
    });
    assert.equal(ok.status, 200, `${await ok.text()} ${diag()}`);
    let seen = upstream.seen.at(-1)!;
    assert.equal(upstream.seen.length, before + 1);
    assert.equal(seen.verified, true, seen.error);
    assert.equal(seen.payload!.sub, 'github:583231');
    assert.equal(seen.headers['x-authjwt-sub'], 'github:583231', 'the client value was replaced');
    assert.equal(seen.headers['x-authjwt-provider'], 'github');
    assert.equal(seen.headers['x-authjwt-email'], octocat.email);
    assert.ok(!JSON.stringify(seen.headers).includes(GH_TOKEN), 'the provider token does not reach the upstream');
    // authjwt logs the route from the gateway's X-Original-URI / X-Forwarded-Uri, without the query.
    assert.match(events.findLast((e) => e.door === 'forward_auth')!.route!, /^GET 127\.0\.0\.1(:\d+)?\/api\/orders$/);

    // A JWT of a configured issuer: chosen by iss; a forged provider hint is neither used nor passed on,
    // and an identity header whose claim the token lacks (email) is removed, not left to the client.
    const ok2 = await fetch(api, {
      headers: {
        authorization: `Bearer ${await op.jwtToken(alice)}`,
        'x-authjwt-provider': 'github',
        'x-authjwt-email': 'admin@evil.example',
      },
    });
    assert.equal(ok2.status, 200, diag());
    seen = upstream.seen.at(-1)!;
    assert.equal(seen.payload!.sub, `op:${alice.sub}`);
    assert.equal(seen.payload!.email, undefined);
    assert.equal(seen.headers['x-authjwt-provider'], 'op');
    assert.equal(seen.headers['x-authjwt-email'], undefined);

    // The same provider token again: the minted-token cache answers (no signature), same token upstream.
    const again = await fetch(api, { headers: { authorization: `Bearer ${GH_TOKEN}`, 'x-authjwt-provider': 'github' } });
    assert.equal(again.status, 200);
    assert.equal(events.findLast((e) => e.door === 'forward_auth')!.reused, true);

    // Denials never reach the upstream.
    before = upstream.seen.length;
    const invalid = await fetch(api, { headers: { authorization: 'Bearer gho_not_issued', 'x-authjwt-provider': 'github' } });
    assert.equal(invalid.status, 401);
    assert.match(invalid.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);
    const missing = await fetch(api);
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
    const forged = await fetch(api, { headers: { authorization: `Bearer ${tamper(await op.jwtToken(alice))}` } });
    assert.equal(forged.status, 401);
    // A proven identity the policy refuses.
    const denied = await fetch(api, { headers: { authorization: `Bearer ${MALLORY_TOKEN}`, 'x-authjwt-provider': 'github' } });
    assert.equal(denied.status, 403, diag());
    assert.deepEqual(
      [events.findLast((e) => e.door === 'forward_auth')!.outcome, events.findLast((e) => e.door === 'forward_auth')!.rule],
      ['permission_denied', 'not-mallory'],
    );

    gh.mode = '500';
    try {
      const down = await fetch(api, { headers: { authorization: `Bearer ${GH_TOKEN}`, 'x-authjwt-provider': 'github' } });
      assert.equal(down.status, 503, diag());
      assert.equal(down.headers.get('retry-after'), '1');
    } finally {
      gh.mode = 'ok';
    }
    assert.equal(upstream.seen.length, before, 'no denied request reached the upstream');
  }

  it('nginx auth_request (deploy/nginx/authjwt-forward-auth.conf): exchange, 401, 403, 503, no header injection', async (t) => {
    const nginx = requireTool(t, 'nginx');
    if (!nginx) return;
    const port = await freePort();
    const server = renderExample('deploy/nginx/authjwt-forward-auth.conf', {
      'authjwt.auth.svc.cluster.local:8081': `127.0.0.1:${svc.app.internalHttpPort}`,
      'backend.default.svc.cluster.local:3000': `127.0.0.1:${upstream.port}`,
      'listen 8080;': `listen 127.0.0.1:${port};`,
    });
    const gateway = await startNginx(nginx, port, server);
    try {
      await forwardAuthCases(gateway);
    } finally {
      await gateway.stop();
    }
  });

  it('caddy forward_auth + copy_headers (deploy/caddy/Caddyfile): exchange, 401, 403, 503, no header injection', async (t) => {
    const caddy = requireTool(t, 'caddy');
    if (!caddy) return;
    const port = await freePort();
    const site = renderExample('deploy/caddy/Caddyfile', {
      'authjwt.auth.svc.cluster.local:8081': `127.0.0.1:${svc.app.internalHttpPort}`,
      'backend.default.svc.cluster.local:3000': `127.0.0.1:${upstream.port}`,
      'api.example.com {': `http://127.0.0.1:${port} {`,
    });
    const gateway = await startCaddy(caddy, port, site);
    try {
      await forwardAuthCases(gateway);
    } finally {
      await gateway.stop();
    }
  });

  describe('Envoy ext_authz gRPC (extauthz-check, go-control-plane client)', () => {
    const check = async (t: Parameters<typeof requireTool>[0], args: string[]) => {
      const bin = requireTool(t, 'extauthz-check');
      if (!bin) return undefined;
      const res = await runTool(bin, ['-addr', `127.0.0.1:${svc.app.grpcPort}`, '-path', '/api/orders?page=2', '-method', 'POST', ...args]);
      assert.equal(res.code, 0, res.stderr);
      return jsonResult<{
        code: number;
        message: string;
        check?: {
          status: { code: number };
          result: string;
          ok?: { headers: { key: string; value: string; append: boolean | null; appendAction: string }[]; headersToRemove: string[] };
          denied?: { httpStatus: number; body: string; headers: { key: string; value: string }[] };
        };
      }>(res);
    };

    it('OK: authorization overwritten with the minted token, identity headers (the provider hint replaced by the proven provider)', async (t) => {
      const out = await check(t, ['-header', `authorization=Bearer ${GH_TOKEN}`, '-header', 'x-authjwt-provider=github']);
      if (!out) return;
      assert.equal(out.code, status.OK, out.message);
      assert.equal(out.check!.result, 'ok');
      assert.equal(out.check!.status.code, status.OK);
      const headers = Object.fromEntries(out.check!.ok!.headers.map((h) => [h.key, h]));
      assert.deepEqual(Object.keys(headers), ['authorization', 'x-authjwt-sub', 'x-authjwt-provider', 'x-authjwt-email']);
      for (const h of Object.values(headers)) assert.deepEqual([h.append, h.appendAction], [null, 'OVERWRITE_IF_EXISTS_OR_ADD']);
      const { payload } = await svc.verify(headers.authorization!.value.replace(/^Bearer /, ''));
      assert.equal(payload.sub, 'github:583231');
      assert.equal(headers['x-authjwt-sub']!.value, 'github:583231');
      assert.equal(headers['x-authjwt-provider']!.value, 'github');
      assert.deepEqual(out.check!.ok!.headersToRemove, []);
      assert.equal(events.findLast((e) => e.door === 'ext_authz')!.route, 'POST app.test/api/orders');
    });

    it('per-route provider from context_extensions', async (t) => {
      const out = await check(t, ['-header', `authorization=Bearer ${GH_TOKEN}`, '-context', 'provider=github']);
      if (!out) return;
      assert.equal(out.check?.result, 'ok', JSON.stringify(out));
    });

    it('denied: 401 invalid_token, 401 without a token, each with its RFC 6750 challenge and a JSON body', async (t) => {
      const invalid = await check(t, ['-header', 'authorization=Bearer gho_not_issued', '-header', 'x-authjwt-provider=github']);
      if (!invalid) return;
      assert.equal(invalid.code, status.OK);
      assert.equal(invalid.check!.result, 'denied');
      assert.equal(invalid.check!.status.code, status.UNAUTHENTICATED);
      assert.equal(invalid.check!.denied!.httpStatus, 401);
      const challenge = invalid.check!.denied!.headers.find((h) => h.key === 'www-authenticate')!.value;
      assert.match(challenge, /^Bearer error="invalid_token", error_description="the provider rejected the access token"$/);
      assert.equal(JSON.parse(invalid.check!.denied!.body).error, 'invalid_token');
      const missing = await check(t, ['-header', 'cookie=session=1']);
      assert.equal(missing!.check!.denied!.httpStatus, 401);
      assert.equal(missing!.check!.denied!.headers.find((h) => h.key === 'www-authenticate')!.value, 'Bearer');
      const none = await check(t, ['-header', `authorization=Bearer ${GH_TOKEN}`]);
      assert.equal(none!.check!.denied!.httpStatus, 401, 'no provider named: denied');
    });

    it('policy denial: 403 without a challenge, CheckResponse.status PERMISSION_DENIED', async (t) => {
      const out = await check(t, ['-header', `authorization=Bearer ${MALLORY_TOKEN}`, '-header', 'x-authjwt-provider=github']);
      if (!out) return;
      assert.equal(out.check!.result, 'denied');
      assert.equal(out.check!.status.code, status.PERMISSION_DENIED);
      assert.equal(out.check!.denied!.httpStatus, 403);
      assert.equal(
        out.check!.denied!.headers.find((h) => h.key === 'www-authenticate'),
        undefined,
      );
      assert.equal(JSON.parse(out.check!.denied!.body).error_description, 'access denied by policy (ERR_AUTHJWT_POLICY_DENIED)');
    });

    it('provider down: the Check call fails with UNAVAILABLE, so Envoy applies failure_mode_allow / status_on_error', async (t) => {
      gh.mode = '500';
      try {
        const out = await check(t, ['-header', `authorization=Bearer ${GH_TOKEN}`, '-header', 'x-authjwt-provider=github']);
        if (!out) return;
        assert.equal(out.code, status.UNAVAILABLE, JSON.stringify(out));
        assert.equal(out.check, undefined);
      } finally {
        gh.mode = 'ok';
      }
    });

    it("under Envoy's deadline: DEADLINE_EXCEEDED at the client, the exchange reported as deadline_exceeded", async (t) => {
      gh.delayMs = 3_000;
      try {
        const out = await check(t, [
          '-header',
          'authorization=Bearer gho_slow',
          '-header',
          'x-authjwt-provider=github',
          '-timeout',
          '300ms',
        ]);
        if (!out) return;
        assert.equal(out.code, status.DEADLINE_EXCEEDED);
        await waitFor(() => events.some((e) => e.door === 'ext_authz' && e.outcome === 'deadline_exceeded'), {
          what: 'the deadline event',
        });
      } finally {
        gh.delayMs = 0;
      }
    });
  });

  describe('oauth2-proxy validating authjwt tokens through discovery', () => {
    let proxy: Gateway | undefined;
    const start = async (t: Parameters<typeof requireTool>[0]) => {
      const bin = requireTool(t, 'oauth2-proxy');
      if (!bin) return undefined;
      if (proxy) return proxy;
      const port = await freePort();
      const unused = 'http://127.0.0.1:9/unused';
      proxy = await startOauth2Proxy(bin, port, [
        `--upstream=http://127.0.0.1:${upstream.port}/`,
        // Its own login provider is never used here (bearer tokens only); discovery is skipped for it.
        '--provider=oidc',
        '--skip-oidc-discovery',
        `--oidc-issuer-url=${unused}`,
        `--login-url=${unused}/auth`,
        `--redeem-url=${unused}/token`,
        `--oidc-jwks-url=${unused}/jwks`,
        '--client-id=oauth2-proxy',
        '--client-secret=unused-secret',
        `--cookie-secret=${'0123456789abcdef0123456789abcdef'}`,
        '--cookie-secure=false',
        '--email-domain=*',
        // authjwt's tokens: verified against its discovery document and JWKS, audience internal-services.
        '--skip-jwt-bearer-tokens',
        `--extra-jwt-issuers=${svc.config.issuer}=internal-services`,
        '--bearer-token-login-fallback=false',
        '--pass-authorization-header',
        '--oidc-email-claim=sub',
        '--insecure-oidc-allow-unverified-email',
      ]);
      return proxy;
    };
    after(async () => {
      await proxy?.stop();
    });

    const mint = async (query = '') => {
      const res = await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/forward-auth${query}`, {
        headers: { authorization: `Bearer ${GH_TOKEN}`, 'x-authjwt-provider': 'github' },
      });
      assert.equal(res.status, 200);
      return res.headers.get('authorization')!.slice('Bearer '.length);
    };

    it('accepts a minted token (the upstream receives it and verifies it too)', async (t) => {
      const gateway = await start(t);
      if (!gateway) return;
      const token = await mint();
      const res = await fetch(`${gateway.url}/api`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, `${await res.text()} ${gateway.logs()}`);
      const seen = upstream.seen.at(-1)!;
      assert.equal(seen.payload!.sub, 'github:583231');
      assert.equal(seen.headers['x-forwarded-user'], 'github:583231');
    });

    it('refuses a tampered token, a token for another audience, and no token', async (t) => {
      const gateway = await start(t);
      if (!gateway) return;
      const before = upstream.seen.length;
      const tampered = await fetch(`${gateway.url}/api`, { headers: { authorization: `Bearer ${tamper(await mint())}` } });
      assert.equal(tampered.status, 403, gateway.logs());
      const orders = await fetch(`${gateway.url}/api`, { headers: { authorization: `Bearer ${await mint('?audience=orders')}` } });
      assert.equal(orders.status, 403, 'aud "orders" is not the audience oauth2-proxy accepts for this issuer');
      const none = await fetch(`${gateway.url}/api`, { redirect: 'manual' });
      assert.equal(none.status, 403, 'no login redirect (--bearer-token-login-fallback=false)');
      assert.equal(upstream.seen.length, before, 'nothing reached the upstream');
    });
  });
});
