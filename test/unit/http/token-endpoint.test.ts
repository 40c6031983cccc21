/**
 * The RFC 8693 token endpoint adapter over a real router and HTTP listener, in front of the real
 * exchange use case on port fakes (verifier, signer, policy): request validation, the OAuth error
 * of each failure (RFC 8693 §2.2.2, RFC 6749 §5.2), policy applied, draining, overload, the
 * deadline and a client that goes away. The end-to-end behaviour with real providers and two client
 * libraries is in test/integration/token-endpoint.test.ts and test/interop/interop.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { authJwtError } from '../../../src/errors.ts';
import {
  ANONYMOUS_CALLER,
  type AccessPolicy,
  type Caller,
  type ExchangeProvider,
  type MintedClaims,
  type VerifiedIdentity,
} from '../../../src/exchange/ports.ts';
import { TokenExchange, type ExchangeResult } from '../../../src/exchange/token-exchange.ts';
import type { ClientAuthenticator, ClientCredentials } from '../../../src/clients/ports.ts';
import { createRouter } from '../../../src/http/router.ts';
import { startHttpServer, type HttpServerHandle } from '../../../src/http/server.ts';
import { createTokenEndpointRoutes, type TokenEndpointOptions } from '../../../src/http/token-endpoint.ts';
import type { ExchangeEvent } from '../../../src/telemetry/exchange-events.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
/** An unsigned-looking compact JWS whose payload names the OIDC provider's issuer (selection only). */
const KC_JWT = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"iss":"https://sso.example/realms/main"}').toString('base64url')}.c2ln`;

const identity = (accountId: string, claims: Record<string, unknown> = {}): VerifiedIdentity => ({
  accountId,
  claims: { sub: accountId, ...claims },
  expiresAt: undefined,
  clientId: 'frontend',
  strategy: 'jwt',
});

interface Harness {
  url: string;
  events: ExchangeEvent[];
  signed: MintedClaims[];
  state: { accepting: boolean; hold: Promise<void> | undefined; verifyCalls: number; aborted: number };
  post(form: Record<string, string | string[]> | string, init?: RequestInit & { path?: string }): Promise<Response>;
  close(): Promise<void>;
}

async function harness(over: Partial<TokenEndpointOptions> = {}): Promise<Harness> {
  const state: Harness['state'] = { accepting: true, hold: undefined, verifyCalls: 0, aborted: 0 };
  const signed: MintedClaims[] = [];
  const table: Record<string, VerifiedIdentity> = {
    [KC_JWT]: identity('alice'),
    'gho-octocat': identity('583231', { org: 'acme' }),
    'gho-outsider': identity('666', { org: 'evil' }),
  };
  const verifier = {
    async verify(token: string, options?: { signal?: AbortSignal | undefined }) {
      state.verifyCalls++;
      if (state.hold) {
        await Promise.race([
          state.hold,
          new Promise((_, reject) =>
            options?.signal?.addEventListener('abort', () => {
              state.aborted++;
              reject(options.signal!.reason);
            }),
          ),
        ]);
      }
      const found = table[token];
      if (!found) throw authJwtError('UPSTREAM_INVALID_TOKEN');
      return found;
    },
  };
  const orgPolicy: AccessPolicy = {
    needs: new Set(),
    evaluate: (input) =>
      input.claims.org === 'acme' ? { allowed: true, claims: { org: 'acme' } } : { allowed: false, rule: 'acme-only', reason: 'denied' },
  };
  const base = { accountTypes: ['oidc', 'oauth'], verifier, claimPaths: {}, tokenTtl: 600_000, capToUpstreamExpiry: false };
  const providers: Record<string, ExchangeProvider> = {
    kc: {
      ...base,
      id: 'kc',
      issuer: 'https://sso.example/realms/main',
      policy: undefined,
      audience: ['internal-services', 'orders', 'https://orders.internal'],
      defaultClientId: 'kc',
    },
    github: { ...base, id: 'github', issuer: undefined, policy: orgPolicy, audience: ['internal-services'], defaultClientId: 'github' },
  };
  const exchange = new TokenExchange({
    providers: {
      get: (id) => (Object.hasOwn(providers, id) ? providers[id] : undefined),
      byIssuer: (iss) => Object.values(providers).find((p) => p.issuer === iss),
    },
    signer: {
      async sign(claims) {
        signed.push(claims);
        return { token: `minted-${claims.jti}`, kid: 'k1', alg: 'ES256' };
      },
    },
    settings: {
      issuer: 'https://authjwt.example',
      subjectTemplate: '{provider}:{accountId}',
      tokenType: 'at+jwt',
      limits: { maxAccessTokenBytes: 8192, maxAccountIdBytes: 256 },
    },
    clock: () => NOW,
  });
  const events: ExchangeEvent[] = [];
  const routes = createTokenEndpointRoutes({
    path: '/token',
    exchange,
    subjectIssuers: new Map([
      ['kc', 'kc'],
      ['github', 'github'],
      ['https://sso.example/realms/main', 'kc'],
    ]),
    oidcProviders: new Set(['kc']),
    defaultProvider: undefined,
    providerIds: new Set(['kc', 'github']),
    report: (e) => events.push(e),
    deadline: 5_000,
    maxConcurrentRequests: 8,
    isAccepting: () => state.accepting,
    clock: () => NOW + 1_500,
    ...over,
  });
  const server: HttpServerHandle = await startHttpServer('127.0.0.1:0', createRouter(routes));
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    events,
    signed,
    state,
    post(form, init = {}) {
      const body =
        typeof form === 'string'
          ? form
          : new URLSearchParams(
              Object.entries(form).flatMap(([k, v]): [string, string][] =>
                Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v]],
              ),
            ).toString();
      return fetch(`${url}${init.path ?? '/token'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(init.headers as Record<string, string>) },
        body,
        ...(init.signal ? { signal: init.signal } : {}),
      });
    },
    close: () => server.close(),
  };
}

const exchangeForm = (token: string, extra: Record<string, string | string[]> = {}) => ({
  grant_type: GRANT,
  subject_token: token,
  subject_token_type: ACCESS,
  ...extra,
});

async function oauthError(res: Response): Promise<[number, string, string]> {
  const body = (await res.json()) as { error: string; error_description: string };
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('content-type'), 'application/json');
  return [res.status, body.error, /\((ERR_AUTHJWT_\w+)\)$/.exec(body.error_description)?.[1] ?? body.error_description];
}

describe('token endpoint: success (RFC 8693 §2.2.1)', () => {
  let h: Harness;
  before(async () => (h = await harness()));
  after(() => h.close());

  it('answers access_token, issued_token_type, token_type Bearer and expires_in, with Cache-Control: no-store', async () => {
    const res = await h.post(exchangeForm(KC_JWT));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('pragma'), 'no-cache');
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'token_type']);
    assert.equal(body.issued_token_type, ACCESS);
    assert.equal(body.token_type, 'Bearer');
    // Minted at NOW for 600 s; answered 1.5 s later.
    assert.equal(body.expires_in, 598);
    assert.equal(body.access_token, `minted-${h.signed.at(-1)!.jti}`);
    assert.equal(h.signed.at(-1)!.sub, 'kc:alice', 'provider chosen by the JWT iss');
    assert.deepEqual(h.signed.at(-1)!.aud, ['internal-services', 'orders', 'https://orders.internal']);
    assert.deepEqual(
      { door: h.events.at(-1)!.door, provider: h.events.at(-1)!.provider, outcome: h.events.at(-1)!.outcome },
      { door: 'token_endpoint', provider: 'kc', outcome: 'ok' },
    );
  });

  it('subject_issuer selects the provider by id or by its issuer URL; a JWT may be declared …:jwt', async () => {
    assert.equal((await h.post(exchangeForm('gho-octocat', { subject_issuer: 'github' }))).status, 200);
    assert.equal(h.signed.at(-1)!.sub, 'github:583231');
    assert.equal((await h.post(exchangeForm(KC_JWT, { subject_issuer: 'https://sso.example/realms/main' }))).status, 200);
    assert.equal(h.signed.at(-1)!.sub, 'kc:alice');
    assert.equal((await h.post(exchangeForm(KC_JWT, { subject_token_type: JWT }))).status, 200);
  });

  it('audience and resource downscope within the provider audience (repeatable parameters)', async () => {
    assert.equal((await h.post(exchangeForm(KC_JWT, { audience: 'orders' }))).status, 200);
    assert.equal(h.signed.at(-1)!.aud, 'orders');
    assert.equal((await h.post(exchangeForm(KC_JWT, { audience: ['orders', 'internal-services'] }))).status, 200);
    assert.deepEqual(h.signed.at(-1)!.aud, ['orders', 'internal-services']);
    assert.equal((await h.post(exchangeForm(KC_JWT, { resource: 'https://orders.internal', audience: 'orders' }))).status, 200);
    assert.deepEqual(h.signed.at(-1)!.aud, ['orders', 'https://orders.internal']);
  });

  it('a public client may send its client_id (authentication method none)', async () => {
    assert.equal((await h.post(exchangeForm(KC_JWT, { client_id: 'gateway' }))).status, 200);
  });
});

describe('token endpoint: errors (RFC 8693 §2.2.2, RFC 6749 §5.2)', () => {
  let h: Harness;
  before(async () => (h = await harness()));
  after(() => h.close());

  const cases: [string, () => Promise<Response>, [number, string, string]][] = [
    [
      'an invalid subject token',
      () => h.post(exchangeForm('not-a-known-token', { subject_issuer: 'kc' })),
      [400, 'invalid_request', 'ERR_AUTHJWT_UPSTREAM_INVALID_TOKEN'],
    ],
    [
      'policy refuses the proven subject',
      () => h.post(exchangeForm('gho-outsider', { subject_issuer: 'github' })),
      [400, 'invalid_request', 'ERR_AUTHJWT_POLICY_DENIED'],
    ],
    [
      'an audience outside the provider audience',
      () => h.post(exchangeForm(KC_JWT, { audience: 'payments' })),
      [400, 'invalid_target', 'ERR_AUTHJWT_REQUEST_INVALID_AUDIENCE'],
    ],
    [
      'a resource outside the provider audience',
      () => h.post(exchangeForm(KC_JWT, { resource: 'https://payments.internal' })),
      [400, 'invalid_target', 'ERR_AUTHJWT_REQUEST_INVALID_AUDIENCE'],
    ],
    [
      'a resource that is not an absolute URI',
      () => h.post(exchangeForm(KC_JWT, { resource: 'orders' })),
      [400, 'invalid_target', 'ERR_AUTHJWT_REQUEST_INVALID_AUDIENCE'],
    ],
    [
      'a resource with a fragment',
      () => h.post(exchangeForm(KC_JWT, { resource: 'https://orders.internal#x' })),
      [400, 'invalid_target', 'ERR_AUTHJWT_REQUEST_INVALID_AUDIENCE'],
    ],
    [
      'another grant type',
      () => h.post({ grant_type: 'client_credentials' }),
      [400, 'unsupported_grant_type', 'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_GRANT_TYPE'],
    ],
    [
      'no grant_type',
      () => h.post({ subject_token: KC_JWT, subject_token_type: ACCESS }),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_MISSING_PARAMETER'],
    ],
    [
      'no subject_token',
      () => h.post({ grant_type: GRANT, subject_token_type: ACCESS }),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_MISSING_PARAMETER'],
    ],
    ['an empty subject_token', () => h.post(exchangeForm('')), [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_MISSING_PARAMETER']],
    [
      'no subject_token_type',
      () => h.post({ grant_type: GRANT, subject_token: KC_JWT }),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_MISSING_PARAMETER'],
    ],
    [
      'an id_token subject',
      () => h.post(exchangeForm(KC_JWT, { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE'],
    ],
    [
      '…:jwt for an opaque token',
      () => h.post(exchangeForm('gho-octocat', { subject_token_type: JWT })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE'],
    ],
    [
      '…:jwt for a user-API provider',
      () => h.post(exchangeForm(KC_JWT, { subject_token_type: JWT, subject_issuer: 'github' })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE'],
    ],
    [
      'a requested token type other than access_token',
      () => h.post(exchangeForm(KC_JWT, { requested_token_type: JWT })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE'],
    ],
    [
      'an actor token that does not verify',
      () => h.post(exchangeForm(KC_JWT, { actor_token: 'x', actor_token_type: ACCESS })),
      [400, 'invalid_request', 'ERR_AUTHJWT_UPSTREAM_INVALID_TOKEN'],
    ],
    [
      'an actor_token without actor_token_type',
      () => h.post(exchangeForm(KC_JWT, { actor_token: 'gho-octocat' })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_MISSING_PARAMETER'],
    ],
    [
      'an actor_token_type without actor_token',
      () => h.post(exchangeForm(KC_JWT, { actor_token_type: ACCESS })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_PARAMETER'],
    ],
    [
      'an actor token of type id_token',
      () => h.post(exchangeForm(KC_JWT, { actor_token: KC_JWT, actor_token_type: 'urn:ietf:params:oauth:token-type:id_token' })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE'],
    ],
    [
      '…:jwt for an opaque actor token',
      () => h.post(exchangeForm(KC_JWT, { actor_token: 'gho-octocat', actor_token_type: JWT })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE'],
    ],
    [
      'a client_assertion where client authentication is none',
      () =>
        h.post(
          exchangeForm(KC_JWT, {
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: 'a.b.c',
          }),
        ),
      [401, 'invalid_client', 'ERR_AUTHJWT_TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED'],
    ],
    [
      'a scope',
      () => h.post(exchangeForm(KC_JWT, { scope: 'read' })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_PARAMETER'],
    ],
    [
      'an unknown subject_issuer',
      () => h.post(exchangeForm(KC_JWT, { subject_issuer: 'https://other.example' })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_UNKNOWN_ISSUER'],
    ],
    [
      'an opaque token, no subject_issuer, no default provider',
      () => h.post(exchangeForm('gho-octocat')),
      [400, 'invalid_request', 'ERR_AUTHJWT_REQUEST_NO_PROVIDER'],
    ],
    [
      'a repeated subject_token',
      () => h.post(exchangeForm(KC_JWT, { subject_token: [KC_JWT, 'gho-octocat'] })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_REPEATED_PARAMETER'],
    ],
    [
      'parameters in the query string',
      () => h.post(exchangeForm(KC_JWT), { path: `/token?subject_token=${KC_JWT}` }),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_MALFORMED'],
    ],
    [
      'a JSON body',
      () => h.post(JSON.stringify(exchangeForm(KC_JWT)), { headers: { 'content-type': 'application/json' } }),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_MALFORMED'],
    ],
    [
      'a body over 64 KiB',
      () => h.post(exchangeForm(KC_JWT, { padding: 'x'.repeat(70_000) })),
      [400, 'invalid_request', 'ERR_AUTHJWT_TOKEN_REQUEST_MALFORMED'],
    ],
    [
      'a client_secret in the body',
      () => h.post(exchangeForm(KC_JWT, { client_id: 'gw', client_secret: 's3cret' })),
      [401, 'invalid_client', 'ERR_AUTHJWT_TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED'],
    ],
  ];
  for (const [name, request, expected] of cases) {
    it(`${name} → ${expected[0]} ${expected[1]} (${expected[2]})`, async () => {
      assert.deepEqual(await oauthError(await request()), expected);
    });
  }

  it('client credentials in the Authorization header → 401 invalid_client with a challenge of that scheme', async () => {
    const basic = await h.post(exchangeForm(KC_JWT), {
      headers: { authorization: `Basic ${Buffer.from('gw:s3cret').toString('base64')}` },
    });
    assert.equal(basic.headers.get('www-authenticate'), 'Basic realm="authjwt"');
    assert.deepEqual(await oauthError(basic), [401, 'invalid_client', 'ERR_AUTHJWT_TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED']);
    const dpop = await h.post(exchangeForm(KC_JWT), { headers: { authorization: 'DPoP abc' } });
    assert.equal(dpop.headers.get('www-authenticate'), 'DPoP realm="authjwt"');
  });

  it('only POST: GET and PUT get 405 with Allow', async () => {
    for (const method of ['GET', 'PUT']) {
      const res = await fetch(`${h.url}/token`, { method });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
    }
  });

  it('reports every failure at door token_endpoint with a configured provider or _unknown, never a token in the detail', () => {
    const failures = h.events.filter((e) => e.outcome !== 'ok');
    assert.ok(failures.length >= cases.length);
    assert.ok(failures.every((e) => e.door === 'token_endpoint' && ['kc', 'github', '_unknown'].includes(e.provider)));
    assert.equal(failures.find((e) => e.reason === 'ERR_AUTHJWT_POLICY_DENIED')?.rule, 'acme-only');
    assert.equal(failures.find((e) => e.reason === 'ERR_AUTHJWT_POLICY_DENIED')?.provider, 'github');
    const details = JSON.stringify(failures.map((e) => e.detail));
    for (const token of [KC_JWT, 'gho-octocat', 'gho-outsider', 's3cret'])
      assert.ok(!details.includes(token), `a detail contains ${token}`);
  });
});

describe('token endpoint: lifecycle and limits', () => {
  it('draining: 503 temporarily_unavailable with Retry-After; the use case is not called', async () => {
    const h = await harness();
    try {
      h.state.accepting = false;
      const res = await h.post(exchangeForm(KC_JWT));
      assert.equal(res.headers.get('retry-after'), '1');
      assert.deepEqual(await oauthError(res), [503, 'temporarily_unavailable', 'ERR_AUTHJWT_SHUTTING_DOWN']);
      assert.equal(h.state.verifyCalls, 0);
    } finally {
      await h.close();
    }
  });

  it('more than maxConcurrentRequests at once: 429 temporarily_unavailable; the slot is freed afterwards', async () => {
    const h = await harness({ maxConcurrentRequests: 1 });
    try {
      let release!: () => void;
      h.state.hold = new Promise((resolve) => (release = resolve));
      const first = h.post(exchangeForm(KC_JWT));
      while (h.state.verifyCalls === 0) await new Promise((r) => setImmediate(r));
      assert.deepEqual(await oauthError(await h.post(exchangeForm(KC_JWT))), [429, 'temporarily_unavailable', 'ERR_AUTHJWT_OVERLOADED']);
      release();
      h.state.hold = undefined;
      assert.equal((await first).status, 200);
      assert.equal((await h.post(exchangeForm(KC_JWT))).status, 200);
    } finally {
      await h.close();
    }
  });

  it('the deadline aborts provider work: 503 temporarily_unavailable (ERR_AUTHJWT_DEADLINE)', async () => {
    const h = await harness({ deadline: 100 });
    try {
      h.state.hold = new Promise(() => {});
      assert.deepEqual(await oauthError(await h.post(exchangeForm(KC_JWT))), [503, 'temporarily_unavailable', 'ERR_AUTHJWT_DEADLINE']);
      assert.equal(h.state.aborted, 1);
    } finally {
      await h.close();
    }
  });

  it('a client that goes away aborts provider work and is reported as cancelled', async () => {
    const h = await harness();
    try {
      h.state.hold = new Promise(() => {});
      const controller = new AbortController();
      const pending = h.post(exchangeForm(KC_JWT), { signal: controller.signal }).catch((e: Error) => e);
      while (h.state.verifyCalls === 0) await new Promise((r) => setImmediate(r));
      controller.abort();
      assert.ok((await pending) instanceof Error);
      while (h.state.aborted === 0) await new Promise((r) => setTimeout(r, 5));
      while (!h.events.some((e) => e.reason === 'ERR_AUTHJWT_CANCELLED')) await new Promise((r) => setTimeout(r, 5));
      assert.equal(h.events.at(-1)!.outcome, 'deadline_exceeded');
    } finally {
      await h.close();
    }
  });
});

describe('token endpoint: delegation and client authentication (issue 21)', () => {
  /** A fake ClientAuthenticator: records what the adapter handed it, answers a scripted caller or error. */
  const fakeAuth = (answer: (c: ClientCredentials) => Caller) => {
    const seen: ClientCredentials[] = [];
    const authenticator: ClientAuthenticator = {
      usesCertificates: false,
      methods: ['tls_client_auth', 'private_key_jwt'],
      assertionAlgorithms: ['ES256'],
      async authenticate(credentials) {
        seen.push(credentials);
        return answer(credentials);
      },
      async close() {},
    };
    return { authenticator, seen };
  };
  const reports: Caller = { ...ANONYMOUS_CALLER, kind: 'private_key_jwt', id: 'reports', subject: 'reports' };

  it('an actor token: the minted token carries act; the event names the actor by id', async () => {
    const h = await harness();
    try {
      // The actor token declared …:jwt: verified by the provider its iss names (kc), not the subject's (github).
      const res = await h.post(exchangeForm('gho-octocat', { subject_issuer: 'github', actor_token: KC_JWT, actor_token_type: JWT }));
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(h.signed.at(-1)!.act, { sub: 'kc:alice', client_id: 'frontend' });
      assert.equal(h.events.at(-1)!.actor, 'kc:alice');
    } finally {
      await h.close();
    }
  });

  it('the authenticator gets the assertion, its type and client_id from the form — never a caller — and the caller reaches the event', async () => {
    const { authenticator, seen } = fakeAuth(() => reports);
    const h = await harness({ clientAuthentication: authenticator });
    try {
      const res = await h.post(
        exchangeForm(KC_JWT, {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: 'a.b.c',
          client_id: 'reports',
          caller: 'admin',
        }),
      );
      assert.equal(res.status, 200);
      assert.deepEqual(seen[0], {
        certificate: undefined,
        assertionType: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        assertion: 'a.b.c',
        clientId: 'reports',
      });
      assert.deepEqual([h.events.at(-1)!.caller, h.events.at(-1)!.clientAuth], ['reports', 'private_key_jwt']);
    } finally {
      await h.close();
    }
  });

  it('invalid_client without an Authorization header: 401 with a challenge naming the accepted methods; the use case is not called', async () => {
    const { authenticator } = fakeAuth(() => {
      throw authJwtError('CLIENT_AUTH_INVALID_ASSERTION');
    });
    const h = await harness({ clientAuthentication: authenticator });
    try {
      const res = await h.post(exchangeForm(KC_JWT, { client_assertion_type: 'x', client_assertion: 'a.b.c' }));
      assert.equal(res.headers.get('www-authenticate'), 'tls_client_auth realm="authjwt", private_key_jwt realm="authjwt"');
      assert.deepEqual(await oauthError(res), [401, 'invalid_client', 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION']);
      assert.equal(h.state.verifyCalls, 0);
      assert.equal(h.events.at(-1)!.caller, undefined, 'not identified: counted as _unauthenticated');
    } finally {
      await h.close();
    }
  });

  it('client secrets stay refused, with an authenticator too (HTTP Basic keeps its own challenge)', async () => {
    const { authenticator, seen } = fakeAuth(() => reports);
    const h = await harness({ clientAuthentication: authenticator });
    try {
      assert.deepEqual(await oauthError(await h.post(exchangeForm(KC_JWT, { client_secret: 'x' }))), [
        401,
        'invalid_client',
        'ERR_AUTHJWT_TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED',
      ]);
      const basic = await h.post(exchangeForm(KC_JWT), { headers: { authorization: 'Basic eDp5' } });
      assert.equal(basic.headers.get('www-authenticate'), 'Basic realm="authjwt"');
      assert.equal(seen.length, 0);
    } finally {
      await h.close();
    }
  });

  it('Redis down (replay cache unavailable): 503 temporarily_unavailable with Retry-After — refused, never accepted', async () => {
    const { authenticator } = fakeAuth(() => {
      throw authJwtError('CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE');
    });
    const h = await harness({ clientAuthentication: authenticator });
    try {
      const res = await h.post(exchangeForm(KC_JWT, { client_assertion_type: 'x', client_assertion: 'a.b.c' }));
      assert.equal(res.headers.get('retry-after'), '1');
      assert.deepEqual(await oauthError(res), [503, 'temporarily_unavailable', 'ERR_AUTHJWT_CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE']);
      assert.equal(h.state.verifyCalls, 0);
    } finally {
      await h.close();
    }
  });

  it('requested_token_type: a handler registry (another token type is one more entry); unknown types refused', async () => {
    const TXN = 'urn:ietf:params:oauth:token-type:txn_token';
    const calls: string[] = [];
    const h = await harness({
      requestedTokenTypes: new Map([
        [ACCESS, { issuedTokenType: ACCESS, exchange: async () => fakeResult(calls, 'access') }],
        [TXN, { issuedTokenType: TXN, exchange: async () => fakeResult(calls, 'txn') }],
      ]),
    });
    try {
      const txn = (await (await h.post(exchangeForm(KC_JWT, { requested_token_type: TXN }))).json()) as { issued_token_type: string };
      assert.equal(txn.issued_token_type, TXN);
      assert.equal((await h.post(exchangeForm(KC_JWT))).status, 200);
      assert.deepEqual(calls, ['txn', 'access']);
      assert.deepEqual(
        (await oauthError(await h.post(exchangeForm(KC_JWT, { requested_token_type: JWT }))))[2],
        'ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE',
      );
    } finally {
      await h.close();
    }
  });
});

function fakeResult(calls: string[], name: string): ExchangeResult {
  calls.push(name);
  return { token: 't', provider: 'kc', strategy: 'jwt', kid: 'k', expiresAt: NOW + 60_000, claims: {} as MintedClaims, reused: false };
}
