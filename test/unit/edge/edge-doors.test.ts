/**
 * The two edge adapters on the real exchange use case with port fakes (no config, no keys, no
 * provider): what each door answers for each outcome — OK with the minted token, 401, 403 for a policy
 * denial, 503 / a failed call for an outage, 500 for a bug — and that a minted-token cache hit signs
 * nothing. Real gateways in front of the doors: test/interop/gateways.test.ts.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { EdgeHeaderSettings } from '../../../src/edge/edge-headers.ts';
import { authJwtError } from '../../../src/errors.ts';
import { LruMintedTokenCache } from '../../../src/exchange/minted-token-cache.ts';
import type { AccessPolicy, ExchangeProvider, MintedClaims, Signer, VerifiedIdentity } from '../../../src/exchange/ports.ts';
import { TokenExchange } from '../../../src/exchange/token-exchange.ts';
import { createExtAuthz, extAuthzService } from '../../../src/grpc/ext-authz.ts';
import { createForwardAuthRoute } from '../../../src/http/forward-auth.ts';
import { createRouter } from '../../../src/http/router.ts';
import { startHttpServer, type HttpServerHandle } from '../../../src/http/server.ts';
import type { ExchangeEvent } from '../../../src/telemetry/exchange-events.ts';

const identity = (accountId: string): VerifiedIdentity => ({
  accountId,
  claims: { sub: accountId, org: accountId === 'mallory' ? 'other' : 'acme' },
  expiresAt: undefined,
  clientId: 'frontend',
  strategy: 'user-api',
});

/** Policy fake: allows org "acme", denies the rest; the identity "broken" makes a rule fail. */
const policy: AccessPolicy = {
  needs: new Set(),
  evaluate: ({ claims }) =>
    claims.sub === 'broken'
      ? { allowed: false, rule: 'org-check', reason: 'error', detail: 'no such key' }
      : claims.org === 'acme'
        ? { allowed: true, claims: { org: 'acme' } }
        : { allowed: false, rule: 'org-check', reason: 'denied' },
};

function setup() {
  const signed: MintedClaims[] = [];
  const signer: Signer = {
    async sign(claims) {
      signed.push(claims);
      return { token: `minted.${claims.jti}.sig`, kid: 'k1', alg: 'ES256' };
    },
  };
  const provider: ExchangeProvider = {
    id: 'gh',
    accountTypes: ['oauth'],
    issuer: undefined,
    verifier: {
      async verify(token) {
        if (token === 'down') throw authJwtError('PROVIDER_UNREACHABLE');
        if (token === 'bug') throw new TypeError('a bug');
        if (!token.startsWith('tok-')) throw authJwtError('UPSTREAM_REJECTED_BY_PROVIDER');
        return identity(token.slice(4));
      },
    },
    policy,
    claimPaths: {},
    audience: ['svc'],
    tokenTtl: 600_000,
    capToUpstreamExpiry: false,
    defaultClientId: 'gh',
  };
  const exchange = new TokenExchange({
    providers: { get: (id) => (id === 'gh' ? provider : undefined), byIssuer: () => undefined },
    signer,
    settings: {
      issuer: 'https://authjwt.test',
      subjectTemplate: '{provider}:{accountId}',
      tokenType: 'at+jwt',
      limits: { maxAccessTokenBytes: 4096, maxAccountIdBytes: 256 },
    },
    mintedTokens: new LruMintedTokenCache({ maxEntries: 100, refreshMargin: 60_000 }),
  });
  return { exchange, signed };
}

const settings: EdgeHeaderSettings = {
  tokenHeader: 'authorization',
  tokenScheme: 'Bearer',
  providerHeader: 'x-authjwt-provider',
  defaultProvider: 'gh',
  mintedHeader: 'authorization',
  mintedScheme: 'Bearer',
  identityHeaders: { 'x-authjwt-sub': 'sub', 'x-authjwt-org': 'org' },
  keepProviderToken: false,
};

type Reply = { err?: { code: number; details: string }; res?: any };
function checkWith(impl: ReturnType<typeof createExtAuthz>, headers: Record<string, string>): Promise<Reply> {
  const call = Object.assign(new EventEmitter(), {
    cancelled: false,
    request: { attributes: { request: { http: { method: 'GET', host: 'app.test', path: '/x', headers } }, contextExtensions: {} } },
  });
  return new Promise((resolve) => (impl.Check as any)(call, (err: Reply['err'] | null, res: unknown) => resolve(err ? { err } : { res })));
}

describe('ext_authz adapter (Check)', () => {
  const events: ExchangeEvent[] = [];
  const { exchange, signed } = setup();
  const ext = createExtAuthz({
    exchange,
    settings,
    onUnavailable: 'error',
    providerIds: new Set(['gh']),
    report: (e) => void events.push(e),
  });

  it('OK: overwrite authorization with the minted token, identity headers including computed claims', async () => {
    const { res } = await checkWith(ext, { authorization: 'Bearer tok-alice' });
    assert.equal(res.status.code, status.OK);
    assert.deepEqual(
      res.okResponse.headers.map((h: any) => [h.header.key, h.header.value, h.appendAction]),
      [
        ['authorization', `Bearer minted.${signed.at(-1)!.jti}.sig`, 'OVERWRITE_IF_EXISTS_OR_ADD'],
        ['x-authjwt-sub', 'gh:alice', 'OVERWRITE_IF_EXISTS_OR_ADD'],
        ['x-authjwt-org', 'acme', 'OVERWRITE_IF_EXISTS_OR_ADD'],
      ],
    );
    assert.deepEqual(res.okResponse.headersToRemove, ['x-authjwt-provider'], 'the client provider hint does not reach the upstream');
    // Why, for Envoy's access log: bounded values only (no token, no claim value).
    assert.deepEqual(res.dynamicMetadata, {
      fields: { outcome: { stringValue: 'ok' }, provider: { stringValue: 'gh' }, reused: { boolValue: false } },
    });
  });

  it('a minted-token cache hit signs nothing: the same token again, reported as reused', async () => {
    const before = signed.length;
    const first = await checkWith(ext, { authorization: 'Bearer tok-bob' });
    const second = await checkWith(ext, { authorization: 'Bearer tok-bob' });
    assert.equal(signed.length, before + 1);
    assert.deepEqual(second.res.okResponse, first.res.okResponse);
    assert.equal(events.at(-1)!.reused, true);
  });

  it('a minted-token cache hit answers bytes encoded once per cached token, which decode to the same answer', async () => {
    const { definition, encodeResponse } = extAuthzService();
    const encoding = createExtAuthz({
      exchange,
      settings,
      onUnavailable: 'error',
      providerIds: new Set(['gh']),
      report: () => {},
      encodeResponse,
    });
    const first = await checkWith(encoding, { authorization: 'Bearer tok-carol' });
    assert.equal(Buffer.isBuffer(first.res), false, 'a new token: an answer object');
    const second = await checkWith(encoding, { authorization: 'Bearer tok-carol' });
    const third = await checkWith(encoding, { authorization: 'Bearer tok-carol' });
    assert.ok(Buffer.isBuffer(second.res));
    assert.equal(third.res, second.res, 'encoded once, the same bytes on every hit');
    const check = definition.Check!;
    assert.equal(check.responseSerialize(second.res), second.res, 'the serializer passes encoded answers through');
    const decoded = check.responseDeserialize(second.res) as any;
    assert.deepEqual(
      decoded.okResponse.headers.map((h: any) => [h.header.key, h.header.value, h.appendAction]),
      first.res.okResponse.headers.map((h: any) => [h.header.key, h.header.value, h.appendAction]),
    );
    assert.deepEqual(decoded.okResponse.headersToRemove, first.res.okResponse.headersToRemove);
    assert.equal(decoded.dynamicMetadata.fields.reused.boolValue, true);
    assert.equal(decoded.status.code, 0);
    const other = await checkWith(encoding, { authorization: 'Bearer tok-dave' });
    assert.notEqual((await checkWith(encoding, { authorization: 'Bearer tok-dave' })).res, second.res, 'per cached token');
    assert.equal(Buffer.isBuffer(other.res), false);
  });

  it('policy denial: DeniedHttpResponse 403, CheckResponse.status PERMISSION_DENIED, no challenge, the rule reported', async () => {
    const { res } = await checkWith(ext, { authorization: 'Bearer tok-mallory' });
    assert.equal(res.status.code, status.PERMISSION_DENIED);
    assert.equal(res.deniedResponse.status.code, 403);
    assert.equal(
      res.deniedResponse.headers.find((h: any) => h.header.key === 'www-authenticate'),
      undefined,
    );
    assert.deepEqual(JSON.parse(res.deniedResponse.body), {
      error: 'access_denied',
      error_description: 'access denied by policy (ERR_AUTHJWT_POLICY_DENIED)',
    });
    assert.deepEqual(res.dynamicMetadata, {
      fields: {
        outcome: { stringValue: 'permission_denied' },
        provider: { stringValue: 'gh' },
        reason: { stringValue: 'ERR_AUTHJWT_POLICY_DENIED' },
        rule: { stringValue: 'org-check' },
      },
    });
    assert.deepEqual([events.at(-1)!.outcome, events.at(-1)!.rule, events.at(-1)!.provider], ['permission_denied', 'org-check', 'gh']);
    const failed = await checkWith(ext, { authorization: 'Bearer tok-broken' });
    assert.equal(failed.res.deniedResponse.status.code, 403, 'a rule that cannot be evaluated fails closed');
  });

  it('invalid token: 401 invalid_token; unknown provider label stays bounded', async () => {
    const { res } = await checkWith(ext, { authorization: 'Bearer nope', 'x-authjwt-provider': 'evil\nlabel' });
    assert.equal(res.deniedResponse.status.code, 401);
    assert.equal(events.at(-1)!.provider, '_unknown');
    assert.equal(res.dynamicMetadata.fields.provider.stringValue, '_unknown', 'never the request value');
    const missing = await checkWith(ext, {});
    assert.deepEqual(JSON.parse(missing.res.deniedResponse.body).error, 'invalid_token', 'a registered code in the body');
    assert.equal(missing.res.deniedResponse.headers.find((h: any) => h.header.key === 'www-authenticate').header.value, 'Bearer');
    assert.equal(missing.res.dynamicMetadata.fields.reason.stringValue, 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN');
  });

  it('provider outage and a bug: the call fails (UNAVAILABLE, INTERNAL with a fixed message)', async () => {
    const down = await checkWith(ext, { authorization: 'Bearer down' });
    assert.equal(down.err!.code, status.UNAVAILABLE);
    const bug = await checkWith(ext, { authorization: 'Bearer bug' });
    assert.equal(bug.err!.code, status.INTERNAL);
    assert.equal(bug.err!.details, 'internal error (ERR_AUTHJWT_INTERNAL)');
    assert.ok(events.at(-1)!.err instanceof TypeError, 'the bug is reported with its cause');
  });

  it("onUnavailable 'deny': the outage becomes a 503 denial; a bug still fails the call", async () => {
    const deny = createExtAuthz({ exchange, settings, onUnavailable: 'deny', providerIds: new Set(['gh']), report: () => {} });
    const down = await checkWith(deny, { authorization: 'Bearer down' });
    assert.equal(down.res.status.code, status.UNAVAILABLE);
    assert.equal(down.res.deniedResponse.status.code, 503);
    assert.equal(down.res.deniedResponse.headers.find((h: any) => h.header.key === 'retry-after').header.value, '1');
    assert.equal((await checkWith(deny, { authorization: 'Bearer bug' })).err!.code, status.INTERNAL);
  });
});

describe('forward-auth adapter', () => {
  let server: HttpServerHandle;
  let url: string;
  const events: ExchangeEvent[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let accepting = true;

  before(async () => {
    const { exchange } = setup();
    const slowExchange = {
      exchangeBearer: async (...args: Parameters<TokenExchange['exchangeBearer']>) => {
        if (args[0].token === 'tok-slow') await gate;
        return exchange.exchangeBearer(...args);
      },
    };
    const route = createForwardAuthRoute({
      path: '/fa',
      exchange: slowExchange,
      settings,
      timeout: 5_000,
      maxConcurrent: 1,
      providerIds: new Set(['gh']),
      report: (e) => void events.push(e),
      isAccepting: () => accepting,
    });
    server = await startHttpServer('127.0.0.1:0', createRouter([route]));
    url = `http://127.0.0.1:${server.port}/fa`;
  });
  after(async () => {
    release();
    await server?.close();
  });

  const get = (token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });

  it('while draining (SIGTERM), checks get 503 SHUTTING_DOWN so the gateway tries another replica', async () => {
    accepting = false;
    try {
      const res = await get('tok-alice');
      assert.equal(res.status, 503);
      assert.match(await res.text(), /ERR_AUTHJWT_SHUTTING_DOWN/);
    } finally {
      accepting = true;
    }
  });

  it('200 with the minted token and identity headers; 403 for a policy denial; 503 for an outage; 500 for a bug', async () => {
    const ok = await get('tok-alice');
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('authorization')!, /^Bearer minted\./);
    assert.equal(ok.headers.get('x-authjwt-org'), 'acme');
    const denied = await get('tok-mallory');
    assert.equal(denied.status, 403);
    assert.equal(denied.headers.get('www-authenticate'), null);
    assert.equal(denied.headers.get('authorization'), null);
    assert.equal(events.at(-1)!.rule, 'org-check');
    const down = await get('down');
    assert.deepEqual([down.status, down.headers.get('retry-after')], [503, '1']);
    const bug = await get('bug');
    assert.equal(bug.status, 500);
    assert.equal(((await bug.json()) as { error_description: string }).error_description, 'internal error (ERR_AUTHJWT_INTERNAL)');
  });

  it('maxConcurrent: a check beyond it is answered 503 at once (ERR_AUTHJWT_OVERLOADED)', async () => {
    const slow = get('tok-slow');
    // Wait until the slow check holds the only slot, then one more.
    for (let i = 0; i < 100; i++) {
      const res = await get('tok-alice');
      if (res.status === 503) {
        assert.equal(events.at(-1)!.reason, 'ERR_AUTHJWT_OVERLOADED');
        break;
      }
      assert.equal(i < 99, true, 'no 503 while a check held the only slot');
    }
    release();
    assert.equal((await slow).status, 200);
    assert.equal((await get('tok-alice')).status, 200, 'the slot is free again');
  });

  it('methods: any common method (nginx and Traefik keep the client method); HEAD answers without a body', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) {
      const res = await fetch(url, { method, headers: { authorization: 'Bearer tok-alice' } });
      assert.equal(res.status, 200, method);
    }
  });
});
