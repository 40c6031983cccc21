/**
 * One deny contract for the three doors that answer over HTTP (issue 19): Envoy ext_authz (its
 * DeniedHttpResponse), HTTP forward-auth and the RFC 8693 token endpoint. Every denial path reachable
 * through the real app, each answered with an explicit status and a JSON body whose `error` is a
 * registered code — never null — and whose `error_description` ends with the catalogue code; 503s
 * carry Retry-After, 401s at the edge an RFC 6750 challenge (without an error code when no token was
 * sent). ext_authz denials also carry `dynamic_metadata` (reason, provider, rule). The map itself is
 * checked over every catalogue code in test/unit/http/http-errors.test.ts.
 */
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey } from 'jose';
import { loadExtAuthzPackage } from '../../src/grpc/proto.ts';
import { OAUTH_ERROR_CODES } from '../../src/http/http-errors.ts';
import type { ExchangeEvent } from '../../src/telemetry/exchange-events.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { freePort } from '../helpers/net.ts';
import { startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';

const alice = USERS.alice!;
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
  /** ext_authz only: the CheckResponse's dynamic_metadata, flattened. */
  metadata?: Record<string, string | boolean>;
}

/** An HTTP request with headers kept as sent (repeated names stay two lines; fetch would join them). */
function raw(url: string, o: { method?: string; headers?: [string, string][]; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = [['host', new URL(url).host], ...(o.headers ?? [])];
    if (o.body !== undefined) headers.push(['content-length', String(Buffer.byteLength(o.body))]);
    const req = httpRequest(url, { method: o.method ?? 'GET', headers: headers.flat() as unknown as Record<string, string> }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        const flat: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode!, headers: flat, body });
      });
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

type Denied = {
  status: { code: number };
  deniedResponse?: { status: { code: string }; headers: { header: { key: string; value: string } }[]; body: string };
  dynamicMetadata?: { fields: Record<string, { stringValue?: string; boolValue?: boolean; kind?: string }> };
};

describe('deny contract: ext_authz, forward-auth and the token endpoint', () => {
  let op: OidcTestProvider;
  let gh: FakeGitHub;
  let fake: FakeOidcIssuer;
  let svc: RunningAuthJwt;
  /** A token of a configured issuer naming an actor that may act for alice (`may_act`), sent without an actor. */
  let mayAct: string;
  let check: (headers: Record<string, string>, context?: Record<string, string>) => Promise<Answer>;
  let closeClient: () => void;
  const events: ExchangeEvent[] = [];
  let expired: string;

  before(async () => {
    op = await startOidcProvider();
    gh = await startFakeGitHub();
    fake = await startFakeOidcIssuer();
    gh.issue('gho_deny_octocat', { id: 583231, login: 'octocat', name: null, email: null }, 'Iv1.deny');
    gh.issue('gho_deny_mallory', { id: 666, login: 'mallory', name: null, email: null }, 'Iv1.deny');
    svc = await startAuthJwt(
      {
        audience: ['internal-services'],
        edge: {
          // An outage as a denial with a body (with `error`, the Check call fails and Envoy answers).
          extAuthz: { enabled: true, onUnavailable: 'deny' },
          forwardAuth: { enabled: true, timeout: '1s', maxConcurrent: 1 },
        },
        tokenEndpoint: { enabled: true, deadline: '1s', maxConcurrentRequests: 1, defaultProvider: 'github' },
        providers: [
          { id: 'op', type: 'oidc', issuer: op.issuer, audiences: ['frontend'], verification: 'jwt' },
          { id: 'fake', type: 'oidc', issuer: fake.issuer, audiences: ['frontend'], strategy: 'jwt' },
          fakeGitHubProvider(gh, { timeout: '3s', retries: 0, allow: [{ name: 'not-mallory', expression: 'claims.login != "mallory"' }] }),
        ],
      },
      { observer: { onExchange: (e) => void events.push(e) } },
    );
    // A token of the configured issuer, signed by its key, expired an hour ago.
    const valid = await op.jwtToken(alice);
    const key = op.signingKeys[0]!;
    expired = await new SignJWT({ ...decodeJwt(valid), exp: Math.floor(Date.now() / 1000) - 3600 })
      .setProtectedHeader(decodeProtectedHeader(valid) as { alg: string })
      .sign(await importJWK(key, key.alg));

    const now = Math.floor(Date.now() / 1000);
    mayAct = await fake.sign({ iss: fake.issuer, sub: 'alice', azp: 'frontend', iat: now, exp: now + 600, may_act: { sub: 'svc-orders' } });

    const pkg = loadPackageDefinition(loadExtAuthzPackage({ defaults: true })) as any;
    const client = new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${svc.app.grpcPort}`, credentials.createInsecure());
    closeClient = () => client.close();
    check = (headers, context = {}) =>
      new Promise((resolve, reject) => {
        const req = {
          attributes: { request: { http: { method: 'GET', host: 'app.test', path: '/api', headers } }, contextExtensions: context },
        };
        client.Check(req, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: Denied) => {
          if (err) return reject(new Error(`the Check call failed (${status[err.code]}): a denial must be a DeniedHttpResponse here`));
          if (!res.deniedResponse) return reject(new Error(`allowed, not denied: ${JSON.stringify(res)}`));
          const metadata: Record<string, string | boolean> = {};
          for (const [k, v] of Object.entries(res.dynamicMetadata?.fields ?? {})) metadata[k] = v.stringValue ?? v.boolValue!;
          resolve({
            status: httpCode(res),
            headers: Object.fromEntries(res.deniedResponse.headers.map((h) => [h.header.key, h.header.value])),
            body: res.deniedResponse.body,
            metadata,
          });
        });
      });
  });
  after(async () => {
    closeClient?.();
    await svc?.stop();
    await gh?.close();
    await fake?.close();
    await op?.close();
  });

  /** `envoy.type.v3.StatusCode` as proto-loader decodes it with enums as strings. */
  function httpCode(res: Denied): number {
    const names: Record<string, number> = { Unauthorized: 401, Forbidden: 403, ServiceUnavailable: 503, InternalServerError: 500 };
    return names[res.deniedResponse!.status.code] ?? Number.NaN;
  }

  /** The contract every denial satisfies, whatever the door. */
  function assertContract(a: Answer, expected: { status: number; error: string; reason: string; challenge?: 'none' | 'code' }) {
    const what = `${a.status} ${a.body}`;
    assert.equal(a.status, expected.status, what);
    assert.match(a.headers['content-type'] ?? '', /^application\/json/, what);
    const body = JSON.parse(a.body) as { error: unknown; error_description: unknown };
    assert.equal(body.error, expected.error, what);
    assert.ok(OAUTH_ERROR_CODES.includes(body.error as never), `${what}: a registered code`);
    assert.equal(typeof body.error_description, 'string');
    assert.ok((body.error_description as string).endsWith(`(${expected.reason})`), what);
    assert.equal(a.headers['retry-after'], expected.status === 503 || expected.status === 429 ? '1' : undefined, what);
    if (expected.challenge === 'none') assert.equal(a.headers['www-authenticate'], 'Bearer', what);
    else if (expected.challenge === 'code')
      assert.match(a.headers['www-authenticate'] ?? '', /^Bearer error="invalid_token", error_description="/, what);
    else if (a.status !== 401) assert.equal(a.headers['www-authenticate'], undefined, what);
  }

  const bearer = (token: string, provider?: string): [string, string][] => [
    ['authorization', `Bearer ${token}`],
    ...(provider ? ([['x-authjwt-provider', provider]] as [string, string][]) : []),
  ];

  /** The edge denials, for ext_authz and forward-auth alike: [name, headers, route query, status, error, reason, challenge]. */
  const edgeDenials = (): [string, [string, string][], Record<string, string>, number, string, string, 'none' | 'code' | undefined][] => [
    ['no token', [], {}, 401, 'invalid_token', 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN', 'none'],
    [
      'another scheme (Basic)',
      [['authorization', 'Basic dXNlcjpwYXNz']],
      {},
      401,
      'invalid_token',
      'ERR_AUTHJWT_REQUEST_MISSING_TOKEN',
      'none',
    ],
    [
      'two Authorization headers',
      [
        ['authorization', 'Bearer gho_deny_octocat'],
        ['authorization', 'Bearer other'],
      ],
      {},
      401,
      'invalid_token',
      'ERR_AUTHJWT_REQUEST_MULTIPLE_TOKENS',
      'code',
    ],
    ['an opaque token naming no provider', bearer('gho_deny_octocat'), {}, 401, 'invalid_token', 'ERR_AUTHJWT_REQUEST_NO_PROVIDER', 'code'],
    ['an unknown provider', bearer('gho_deny_octocat', 'nope'), {}, 401, 'invalid_token', 'ERR_AUTHJWT_REQUEST_UNKNOWN_PROVIDER', 'code'],
    [
      'a token the provider rejects',
      bearer('gho_unknown', 'github'),
      {},
      401,
      'invalid_token',
      'ERR_AUTHJWT_UPSTREAM_REJECTED_BY_PROVIDER',
      'code',
    ],
    ['an expired JWT', [], {}, 401, 'invalid_token', 'ERR_AUTHJWT_UPSTREAM_EXPIRED', 'code'], // token set below
    [
      'an oversized token',
      bearer('x'.repeat(9000), 'github'),
      {},
      401,
      'invalid_token',
      'ERR_AUTHJWT_REQUEST_ACCESS_TOKEN_TOO_LONG',
      'code',
    ],
    [
      'an audience the provider does not issue for',
      bearer('gho_deny_octocat', 'github'),
      { audience: 'nope' },
      401,
      'invalid_token',
      'ERR_AUTHJWT_REQUEST_INVALID_AUDIENCE',
      'code',
    ],
    ['a policy denial', bearer('gho_deny_mallory', 'github'), {}, 403, 'access_denied', 'ERR_AUTHJWT_POLICY_DENIED', undefined],
    ['may_act without an actor (RFC 8693 delegation)', [], {}, 403, 'access_denied', 'ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED', undefined], // token set below
  ];
  /** The tokens only known once the providers run. */
  const withExpired = (name: string, headers: [string, string][]) =>
    name === 'an expired JWT' ? bearer(expired) : name.startsWith('may_act') ? bearer(mayAct) : headers;

  describe('ext_authz (DeniedHttpResponse, edge.extAuthz.onUnavailable: deny)', () => {
    for (const [name, headers, route, code, error, reason, challenge] of edgeDenials()) {
      it(`${name}: ${code} ${error}`, async () => {
        const h = withExpired(name, headers);
        // Envoy joins repeated headers with "," in CheckRequest.attributes.request.http.headers.
        const joined: Record<string, string> = {};
        for (const [k, v] of h) joined[k] = joined[k] === undefined ? v : `${joined[k]},${v}`;
        const a = await check(joined, route);
        assertContract(a, { status: code, error, reason, challenge });
        assert.equal(a.metadata!.reason, reason);
        assert.equal(a.metadata!.outcome, events.at(-1)!.outcome);
        assert.equal(a.metadata!.rule, name === 'a policy denial' ? 'not-mallory' : undefined);
        assert.ok(!JSON.stringify(a.metadata).includes('gho_'), 'never a token in the metadata');
      });
    }

    it('provider down: 503 temporarily_unavailable with Retry-After', async () => {
      gh.mode = '500';
      try {
        const a = await check({ authorization: 'Bearer gho_deny_octocat', 'x-authjwt-provider': 'github' });
        assertContract(a, { status: 503, error: 'temporarily_unavailable', reason: events.at(-1)!.reason! });
        assert.equal(a.metadata!.outcome, 'unavailable');
        assert.equal(a.metadata!.provider, 'github');
      } finally {
        gh.mode = 'ok';
      }
    });
  });

  describe('forward-auth', () => {
    const fa = (query = '') => `http://127.0.0.1:${svc.app.internalHttpPort}/forward-auth${query}`;
    for (const [name, headers, route, code, error, reason, challenge] of edgeDenials()) {
      it(`${name}: ${code} ${error}`, async () => {
        const query = route.audience ? `?audience=${route.audience}` : '';
        assertContract(await raw(fa(query), { headers: withExpired(name, headers) }), { status: code, error, reason, challenge });
      });
    }

    it('provider down: 503 temporarily_unavailable with Retry-After', async () => {
      gh.mode = '500';
      try {
        const a = await raw(fa(), { headers: bearer('gho_deny_octocat', 'github') });
        assertContract(a, { status: 503, error: 'temporarily_unavailable', reason: events.at(-1)!.reason! });
      } finally {
        gh.mode = 'ok';
      }
    });

    it('slower than edge.forwardAuth.timeout: 503 temporarily_unavailable (ERR_AUTHJWT_DEADLINE)', async () => {
      gh.delayMs = 2_000;
      try {
        const a = await raw(fa(), { headers: bearer('gho_deny_slow', 'github') });
        assertContract(a, { status: 503, error: 'temporarily_unavailable', reason: 'ERR_AUTHJWT_DEADLINE' });
      } finally {
        gh.delayMs = 0;
      }
    });

    it('over edge.forwardAuth.maxConcurrent: 503 temporarily_unavailable (ERR_AUTHJWT_OVERLOADED)', async () => {
      gh.delayMs = 600;
      try {
        const slow = raw(fa(), { headers: bearer('gho_deny_octocat', 'github') });
        await new Promise((r) => setTimeout(r, 150));
        assertContract(await raw(fa(), { headers: bearer('gho_deny_octocat', 'github') }), {
          status: 503,
          error: 'temporarily_unavailable',
          reason: 'ERR_AUTHJWT_OVERLOADED',
        });
        assert.equal((await slow).status, 200);
      } finally {
        gh.delayMs = 0;
      }
    });
  });

  describe('token endpoint (RFC 8693 §2.2.2: the OAuth codes, never null)', () => {
    const url = () => `http://127.0.0.1:${svc.app.internalHttpPort}/token`;
    const form = (params: Record<string, string | string[]>) => {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) p.append(k, one);
      return p.toString();
    };
    const post = (body: string, headers: [string, string][] = [['content-type', 'application/x-www-form-urlencoded']], path = '') =>
      raw(`${url()}${path}`, { method: 'POST', headers, body });
    const exchange = (token: string, extra: Record<string, string | string[]> = {}) =>
      post(form({ grant_type: GRANT, subject_token: token, subject_token_type: ACCESS, ...extra }));

    const cases: [string, () => Promise<Answer>, number, string, string][] = [
      [
        'a JSON body',
        () => post('{}', [['content-type', 'application/json']]),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_MALFORMED',
      ],
      [
        'parameters in the URL',
        () => post('', undefined, '?subject_token=x'),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_MALFORMED',
      ],
      [
        'a body over 64 KiB',
        () => exchange('x', { audience: 'a'.repeat(70_000) }),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_MALFORMED',
      ],
      [
        'no subject_token',
        () => post(form({ grant_type: GRANT, subject_token_type: ACCESS })),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_MISSING_PARAMETER',
      ],
      [
        'a repeated parameter',
        () => exchange('gho_deny_octocat', { subject_token_type: [ACCESS, ACCESS] }),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_REPEATED_PARAMETER',
      ],
      [
        'another grant type',
        () => post(form({ grant_type: 'client_credentials' })),
        400,
        'unsupported_grant_type',
        'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_GRANT_TYPE',
      ],
      [
        'an unsupported token type',
        () => exchange('gho_deny_octocat', { subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE',
      ],
      [
        'a scope',
        () => exchange('gho_deny_octocat', { scope: 'read' }),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_PARAMETER',
      ],
      [
        'actor_token_type without actor_token',
        () => exchange('gho_deny_octocat', { actor_token_type: ACCESS }),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_PARAMETER',
      ],
      [
        'actor_token without actor_token_type',
        () => exchange('gho_deny_octocat', { actor_token: 'gho_deny_octocat' }),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_MISSING_PARAMETER',
      ],
      [
        'an actor token the provider rejects',
        () => exchange('gho_deny_octocat', { actor_token: 'gho_unknown', actor_token_type: ACCESS }),
        400,
        'invalid_request',
        'ERR_AUTHJWT_UPSTREAM_REJECTED_BY_PROVIDER',
      ],
      ['may_act without an actor', () => exchange(mayAct), 400, 'invalid_request', 'ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED'],
      [
        'an unknown subject_issuer',
        () => exchange('gho_deny_octocat', { subject_issuer: 'https://nope.example' }),
        400,
        'invalid_request',
        'ERR_AUTHJWT_TOKEN_REQUEST_UNKNOWN_ISSUER',
      ],
      [
        'client credentials it would not verify',
        () => exchange('gho_deny_octocat', { client_secret: 's' }),
        401,
        'invalid_client',
        'ERR_AUTHJWT_TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED',
      ],
      [
        'an audience it does not issue for',
        () => exchange('gho_deny_octocat', { audience: 'nope' }),
        400,
        'invalid_target',
        'ERR_AUTHJWT_REQUEST_INVALID_AUDIENCE',
      ],
      ['a token the provider rejects', () => exchange('gho_unknown'), 400, 'invalid_request', 'ERR_AUTHJWT_UPSTREAM_REJECTED_BY_PROVIDER'],
      ['an expired JWT', () => exchange(expired), 400, 'invalid_request', 'ERR_AUTHJWT_UPSTREAM_EXPIRED'],
      ['a policy denial', () => exchange('gho_deny_mallory'), 400, 'invalid_request', 'ERR_AUTHJWT_POLICY_DENIED'],
    ];
    for (const [name, send, code, error, reason] of cases) {
      it(`${name}: ${code} ${error}`, async () => {
        const a = await send();
        assertContract(a, { status: code, error, reason });
        assert.equal(a.headers['cache-control'], 'no-store');
      });
    }

    it('provider down: 503 temporarily_unavailable with Retry-After', async () => {
      gh.mode = '500';
      try {
        assertContract(await exchange('gho_deny_octocat'), {
          status: 503,
          error: 'temporarily_unavailable',
          reason: events.at(-1)!.reason!,
        });
      } finally {
        gh.mode = 'ok';
      }
    });

    it('past tokenEndpoint.deadline: 503 temporarily_unavailable (ERR_AUTHJWT_DEADLINE)', async () => {
      gh.delayMs = 2_000;
      try {
        assertContract(await exchange('gho_deny_slow'), { status: 503, error: 'temporarily_unavailable', reason: 'ERR_AUTHJWT_DEADLINE' });
      } finally {
        gh.delayMs = 0;
      }
    });

    it('over tokenEndpoint.maxConcurrentRequests: 429 temporarily_unavailable (ERR_AUTHJWT_OVERLOADED)', async () => {
      gh.delayMs = 600;
      try {
        const slow = exchange('gho_deny_octocat');
        await new Promise((r) => setTimeout(r, 150));
        assertContract(await exchange('gho_deny_octocat'), {
          status: 429,
          error: 'temporarily_unavailable',
          reason: 'ERR_AUTHJWT_OVERLOADED',
        });
        assert.equal((await slow).status, 200);
      } finally {
        gh.delayMs = 0;
      }
    });
  });
  describe('token endpoint with client authentication (private_key_jwt): 401 invalid_client', () => {
    let authn: RunningAuthJwt;
    let clientKey: CryptoKey;
    let url: string;
    before(async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      clientKey = pair.privateKey;
      const httpPort = await freePort();
      authn = await startAuthJwt({
        issuer: `http://127.0.0.1:${httpPort}`,
        http: { listen: `127.0.0.1:${httpPort}` },
        tokenEndpoint: {
          enabled: true,
          defaultProvider: 'github',
          clientAuthentication: {
            methods: ['private_key_jwt'],
            clients: [
              { id: 'orders', privateKeyJwt: { jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'o1', alg: 'ES256' }] } } },
            ],
            replayCache: { store: 'memory' },
          },
        },
        providers: [fakeGitHubProvider(gh, { timeout: '3s', retries: 0 })],
      });
      url = `http://127.0.0.1:${authn.app.internalHttpPort}/token`;
    });
    after(async () => {
      await authn?.stop();
    });

    const assertion = (claims: Record<string, unknown> = {}) =>
      new SignJWT({ iss: 'orders', sub: 'orders', aud: authn.config.issuer, jti: crypto.randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'o1' })
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(clientKey);
    const send = (form: Record<string, string>, headers: [string, string][] = []) =>
      raw(url, {
        method: 'POST',
        headers: [['content-type', 'application/x-www-form-urlencoded'], ...headers],
        body: new URLSearchParams({ grant_type: GRANT, subject_token: 'gho_deny_octocat', subject_token_type: ACCESS, ...form }).toString(),
      });

    it('an assertion that works, for reference: 200', async () => {
      assert.equal((await send({ client_assertion_type: JWT_BEARER, client_assertion: await assertion() })).status, 200);
    });

    const cases: [string, () => Promise<Answer>, string][] = [
      ['no client authentication', () => send({}), 'ERR_AUTHJWT_CLIENT_AUTH_REQUIRED'],
      [
        'an assertion that is not a JWT',
        () => send({ client_assertion_type: JWT_BEARER, client_assertion: 'not-a-jwt' }),
        'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION',
      ],
      [
        'an assertion of an unknown client',
        async () => send({ client_assertion_type: JWT_BEARER, client_assertion: await assertion({ iss: 'billing', sub: 'billing' }) }),
        'ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT',
      ],
      [
        "a client_id that is not the assertion's client",
        async () => send({ client_id: 'billing', client_assertion_type: JWT_BEARER, client_assertion: await assertion() }),
        'ERR_AUTHJWT_CLIENT_AUTH_CLIENT_ID_MISMATCH',
      ],
      [
        'an assertion used twice',
        async () => {
          const once = await assertion();
          await send({ client_assertion_type: JWT_BEARER, client_assertion: once });
          return send({ client_assertion_type: JWT_BEARER, client_assertion: once });
        },
        'ERR_AUTHJWT_CLIENT_AUTH_ASSERTION_REPLAYED',
      ],
    ];
    for (const [name, attempt, reason] of cases) {
      it(`${name}: 401 invalid_client`, async () => {
        const a = await attempt();
        assertContract(a, { status: 401, error: 'invalid_client', reason });
        assert.equal(a.headers['cache-control'], 'no-store');
      });
    }
  });

  describe('Txn-Token modes at ext_authz and forward-auth (issue 22): 401 invalid_token with a challenge', () => {
    let txn: RunningAuthJwt;
    let txnCheck: (headers: Record<string, string>, context: Record<string, string>) => Promise<Answer>;
    let closeTxnClient: () => void;
    const tokens: Record<string, string> = {};
    before(async () => {
      const gateway = await generateKeyPair('ES256', { extractable: true });
      const own = await generateKeyPair('ES256', { extractable: true });
      const ownJwk = { ...(await exportJWK(own.privateKey)), kid: 'deny-txn', alg: 'ES256' };
      const { mkdtempSync, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const dir = mkdtempSync(join(tmpdir(), 'authjwt-deny-txn-'));
      writeFileSync(join(dir, 'key.json'), JSON.stringify(ownJwk));
      txn = await startAuthJwt({
        keys: { dir, publishLeadTime: '0s' },
        edge: { extAuthz: { enabled: true }, forwardAuth: { enabled: true }, txnToken: { mode: 'verify', requester: 'gateway' } },
        tokenEndpoint: {
          enabled: true,
          clientAuthentication: {
            methods: ['private_key_jwt'],
            replayCache: { store: 'memory' },
            clients: [
              { id: 'gateway', privateKeyJwt: { jwks: { keys: [{ ...(await exportJWK(gateway.publicKey)), kid: 'g', alg: 'ES256' }] } } },
            ],
          },
        },
        txnTokens: { trustDomain: 'trust-domain.example', requesters: [{ client: 'gateway' }] },
        providers: [{ id: 'op', type: 'oidc', issuer: op.issuer, audiences: ['frontend'], verification: 'jwt' }],
      });
      const minted = await raw(`http://127.0.0.1:${txn.app.internalHttpPort}/forward-auth?txn_token=mint`, {
        headers: bearer(await op.jwtToken(alice)),
      });
      assert.equal(minted.status, 200, minted.body);
      const valid = minted.headers['txn-token']!;
      const header = decodeProtectedHeader(valid);
      const claims = decodeJwt(valid);
      const now = Math.floor(Date.now() / 1000);
      const sign = (c: Record<string, unknown>, key: CryptoKey, typ = 'txntoken+jwt') =>
        new SignJWT(c).setProtectedHeader({ alg: 'ES256', kid: header.kid!, typ }).sign(key);
      tokens.forged = await sign(claims, gateway.privateKey);
      tokens.expired = await sign({ ...claims, iat: now - 600, exp: now - 300 }, own.privateKey);
      tokens.otherTrustDomain = await sign({ ...claims, aud: 'other.example' }, own.privateKey);
      tokens.wrongTyp = await sign(claims, own.privateKey, 'JWT');
      const pkg = loadPackageDefinition(loadExtAuthzPackage({ defaults: true })) as any;
      const client = new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${txn.app.grpcPort}`, credentials.createInsecure());
      closeTxnClient = () => client.close();
      txnCheck = (headers, context) =>
        new Promise((resolve, reject) => {
          const req = {
            attributes: { request: { http: { method: 'GET', host: 'app.test', path: '/api', headers } }, contextExtensions: context },
          };
          client.Check(req, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: Denied) => {
            if (err) return reject(err);
            if (!res.deniedResponse) return reject(new Error(`allowed, not denied: ${JSON.stringify(res)}`));
            const metadata: Record<string, string | boolean> = {};
            for (const [k, v] of Object.entries(res.dynamicMetadata?.fields ?? {})) metadata[k] = v.stringValue ?? v.boolValue!;
            resolve({
              status: httpCode(res),
              headers: Object.fromEntries(res.deniedResponse.headers.map((h) => [h.header.key, h.header.value])),
              body: res.deniedResponse.body,
              metadata,
            });
          });
        });
    });
    after(async () => {
      closeTxnClient?.();
      await txn?.stop();
    });

    const cases: [string, () => [string, string][], string][] = [
      ['no Txn-Token', () => [], 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MISSING'],
      ['a forged Txn-Token', () => [['txn-token', tokens.forged!]], 'ERR_AUTHJWT_TXN_TOKEN_INVALID'],
      ['an expired Txn-Token', () => [['txn-token', tokens.expired!]], 'ERR_AUTHJWT_TXN_TOKEN_EXPIRED'],
      ["another trust domain's Txn-Token", () => [['txn-token', tokens.otherTrustDomain!]], 'ERR_AUTHJWT_TXN_TOKEN_INVALID'],
      ['a token of typ JWT', () => [['txn-token', tokens.wrongTyp!]], 'ERR_AUTHJWT_TXN_TOKEN_INVALID'],
      [
        'two Txn-Tokens',
        () => [
          ['txn-token', tokens.forged!],
          ['txn-token', tokens.expired!],
        ],
        'ERR_AUTHJWT_EDGE_TXN_TOKEN_MULTIPLE',
      ],
      ['an unknown route mode', () => [['txn-token', tokens.forged!]], 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MODE'],
    ];
    for (const [name, headers, reason] of cases) {
      const route = reason.endsWith('_MODE') ? 'bogus' : 'verify';
      it(`ext_authz, ${name}: 401 invalid_token (${reason})`, async () => {
        const joined: Record<string, string> = {};
        for (const [k, v] of headers()) joined[k] = joined[k] === undefined ? v : `${joined[k]},${v}`;
        const a = await txnCheck(joined, { txn_token: route });
        assertContract(a, { status: 401, error: 'invalid_token', reason, challenge: 'code' });
        assert.equal(a.metadata!.reason, reason);
        assert.equal(a.metadata!.txn, undefined, 'no txn for a refused Txn-Token');
      });
      it(`forward-auth, ${name}: 401 invalid_token (${reason})`, async () => {
        const a = await raw(`http://127.0.0.1:${txn.app.internalHttpPort}/forward-auth?txn_token=${route}`, { headers: headers() });
        assertContract(a, { status: 401, error: 'invalid_token', reason, challenge: 'code' });
      });
    }
  });
});
