/**
 * Transaction Tokens at the edge doors (issue 22) with a fake Transaction Token Service: the route's
 * mode, the `Txn-Token` header rules, what mint and verify change upstream (ext_authz and forward-auth),
 * the deny contract of a refused Txn-Token, and what is reported (the `txn` and a digest, never the
 * token). The real service and real Envoys: test/integration/txn-tokens-edge.test.ts.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { EdgeHeaderSettings } from '../../../src/edge/edge-headers.ts';
import { readTxnToken, txnTokenModeOf, type EdgeTxnTokenService, type EdgeTxnTokenSettings } from '../../../src/edge/txn-token-edge.ts';
import { authJwtError } from '../../../src/errors.ts';
import { createExtAuthz } from '../../../src/grpc/ext-authz.ts';
import { txnTokenHash } from '../../../src/txn-tokens/door.ts';
import { createForwardAuthRoute } from '../../../src/http/forward-auth.ts';
import { createRouter } from '../../../src/http/router.ts';
import { startHttpServer, type HttpServerHandle } from '../../../src/http/server.ts';
import type { ExchangeEvent } from '../../../src/telemetry/exchange-events.ts';

const settings: EdgeHeaderSettings = {
  tokenHeader: 'authorization',
  tokenScheme: 'Bearer',
  providerHeader: 'x-authjwt-provider',
  defaultProvider: 'gh',
  mintedHeader: 'authorization',
  mintedScheme: 'Bearer',
  identityHeaders: { 'x-authjwt-sub': 'sub' },
  keepProviderToken: false,
};

/** A fake TTS: `tok-<name>` proves <name>; every mint is a new txn; `txn.<id>.sig` verifies, `expired.*` is expired. */
function fakeService() {
  let count = 0;
  const minted: { requester: string; reqIp: string | undefined }[] = [];
  const service: EdgeTxnTokenService = {
    async mint(input, request) {
      if (input.token === 'down') throw authJwtError('PROVIDER_UNREACHABLE');
      if (!input.token.startsWith('tok-')) throw authJwtError('UPSTREAM_REJECTED_BY_PROVIDER');
      minted.push(request);
      const txn = `txn-${++count}`;
      return {
        token: `txn.${txn}.sig`,
        txn,
        exp: 2_000_000_000,
        claims: { sub: `gh:${input.token.slice(4)}`, txn, scope: 'read' },
        provider: 'gh',
        strategy: 'user-api',
        kid: 'k1',
      };
    },
    async verify(token) {
      if (token.startsWith('expired.')) throw authJwtError('UPSTREAM_EXPIRED');
      const m = /^txn\.(txn-\d+)\.sig$/.exec(token);
      if (!m) throw authJwtError('UPSTREAM_INVALID_TOKEN');
      return { txn: m[1]!, claims: { txn: m[1]! } };
    },
  };
  return { service, minted };
}

type Reply = { err?: { code: number; details: string }; res?: any };
function check(
  impl: ReturnType<typeof createExtAuthz>,
  headers: Record<string, string>,
  contextExtensions: Record<string, string> = {},
): Promise<Reply> {
  const call = Object.assign(new EventEmitter(), {
    cancelled: false,
    request: {
      attributes: {
        request: { http: { method: 'GET', host: 'app.test', path: '/x', headers } },
        contextExtensions,
        source: { address: { socketAddress: { address: '192.0.2.7' } } },
      },
    },
  });
  return new Promise((resolve) => (impl.Check as any)(call, (err: Reply['err'] | null, res: unknown) => resolve(err ? { err } : { res })));
}
const headerList = (res: any) => res.okResponse.headers.map((h: any) => [h.header.key, h.header.value, h.appendAction]);

describe('txnTokenModeOf: the route names the mode, else edge.txnToken.mode', () => {
  const { service } = fakeService();
  const on: EdgeTxnTokenSettings = { mode: 'off', requester: 'gateway', service };
  it('the route wins; an empty value is no value', () => {
    assert.equal(txnTokenModeOf(undefined, on), 'off');
    assert.equal(txnTokenModeOf('', { ...on, mode: 'verify' }), 'verify');
    assert.equal(txnTokenModeOf('mint', on), 'mint');
    assert.equal(txnTokenModeOf('off', { ...on, mode: 'mint' }), 'off');
  });
  for (const [name, value, s] of [
    ['an unknown mode', 'MINT', on],
    ['mint without edge.txnToken.requester', 'mint', { ...on, requester: undefined }],
    ['verify without the txnTokens section', 'verify', { mode: 'off' }],
    ['mint without the txnTokens section', 'mint', { mode: 'off', requester: 'gateway' }],
  ] as const)
    it(`refused: ${name} (ERR_AUTHJWT_EDGE_TXN_TOKEN_MODE)`, () => {
      assert.throws(() => txnTokenModeOf(value, s as EdgeTxnTokenSettings), { code: 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MODE' });
    });
});

describe('readTxnToken: "The value of this header MUST be exactly one Txn-Token"', () => {
  const get = (v: string | string[] | undefined) => () => v;
  it('one value, trimmed', () => assert.equal(readTxnToken(get(' a.b.c ')), 'a.b.c'));
  it('absent or empty: ERR_AUTHJWT_EDGE_TXN_TOKEN_MISSING', () => {
    for (const v of [undefined, '', '  ', []]) assert.throws(() => readTxnToken(get(v)), { code: 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MISSING' });
  });
  it('two headers or comma-joined values: ERR_AUTHJWT_EDGE_TXN_TOKEN_MULTIPLE', () => {
    for (const v of [['a.b.c', 'd.e.f'], 'a.b.c, d.e.f'])
      assert.throws(() => readTxnToken(get(v)), { code: 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MULTIPLE' });
  });
});

describe('ext_authz in Txn-Token modes', () => {
  const events: ExchangeEvent[] = [];
  const { service, minted } = fakeService();
  const exchange = {
    exchangeBearer: () => Promise.reject(new Error('a Txn-Token mode never runs the access-token exchange')),
  };
  const ext = createExtAuthz({
    exchange,
    settings,
    onUnavailable: 'error',
    providerIds: new Set(['gh']),
    report: (e) => void events.push(e),
    txnTokens: { mode: 'verify', requester: 'apigateway.example', service },
  });

  it('mint: Txn-Token set (overwriting a client one), authorization and the hint removed, identity headers from its claims', async () => {
    const { res } = await check(ext, { authorization: 'Bearer tok-alice', 'txn-token': 'smuggled.x.y' }, { txn_token: 'mint' });
    assert.equal(res.status.code, status.OK);
    assert.deepEqual(headerList(res), [
      ['txn-token', 'txn.txn-1.sig', 'OVERWRITE_IF_EXISTS_OR_ADD'],
      ['x-authjwt-sub', 'gh:alice', 'OVERWRITE_IF_EXISTS_OR_ADD'],
    ]);
    assert.deepEqual(res.okResponse.headersToRemove.sort(), ['authorization', 'x-authjwt-provider']);
    assert.deepEqual(
      minted.at(-1),
      { requester: 'apigateway.example', reqIp: '192.0.2.7' },
      'req_wl = the gateway, req_ip = the peer Envoy saw',
    );
    assert.deepEqual(res.dynamicMetadata.fields.txn, { stringValue: 'txn-1' });
    const event = events.at(-1)!;
    assert.deepEqual(
      [event.txnTokenMode, event.txnRequester, event.txnKind, event.txn, event.txnTokenHash, event.provider, event.reused],
      ['mint', 'apigateway.example', 'new', 'txn-1', txnTokenHash('txn.txn-1.sig'), 'gh', false],
    );
  });

  it('mint: two identical requests get two Txn-Tokens with two txn (never reused)', async () => {
    const a = await check(ext, { authorization: 'Bearer tok-bob' }, { txn_token: 'mint' });
    const b = await check(ext, { authorization: 'Bearer tok-bob' }, { txn_token: 'mint' });
    assert.notEqual(a.res.dynamicMetadata.fields.txn.stringValue, b.res.dynamicMetadata.fields.txn.stringValue);
    assert.notEqual(headerList(a.res)[0][1], headerList(b.res)[0][1]);
  });

  it('mint: no bearer token → 401 challenge without error code (the external token is what is missing)', async () => {
    const { res } = await check(ext, { 'txn-token': 'txn.txn-1.sig' }, { txn_token: 'mint' });
    assert.equal(res.deniedResponse.status.code, 401);
    assert.equal(res.deniedResponse.headers.find((h: any) => h.header.key === 'www-authenticate').header.value, 'Bearer');
    assert.equal(events.at(-1)!.refused, 'no_token');
  });

  it('verify (the default here): the Txn-Token passes unmodified — no header set or removed; dynamic metadata names the txn', async () => {
    const { res } = await check(ext, { 'txn-token': 'txn.txn-1.sig', authorization: 'Bearer other' });
    assert.equal(res.status.code, status.OK);
    assert.deepEqual(res.okResponse, { headers: [], headersToRemove: [] });
    assert.deepEqual(res.dynamicMetadata.fields, {
      outcome: { stringValue: 'ok' },
      provider: { stringValue: '_txn_token' },
      reused: { boolValue: false },
      txn: { stringValue: 'txn-1' },
    });
    assert.deepEqual([events.at(-1)!.txnTokenMode, events.at(-1)!.txn], ['verify', 'txn-1']);
  });

  for (const [name, headers, code] of [
    ['missing', {}, 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MISSING'],
    ['forged', { 'txn-token': 'forged.a.b' }, 'ERR_AUTHJWT_UPSTREAM_INVALID_TOKEN'],
    ['expired', { 'txn-token': 'expired.a.b' }, 'ERR_AUTHJWT_UPSTREAM_EXPIRED'],
    ['two of them', { 'txn-token': 'txn.txn-1.sig,txn.txn-2.sig' }, 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MULTIPLE'],
  ] as const)
    it(`verify: ${name} → 401 invalid_token with a challenge (the deny contract), no txn in the metadata`, async () => {
      const { res } = await check(ext, headers as Record<string, string>);
      assert.equal(res.status.code, code.endsWith('MULTIPLE') ? status.INVALID_ARGUMENT : status.UNAUTHENTICATED);
      assert.equal(res.deniedResponse.status.code, 401);
      const challenge = res.deniedResponse.headers.find((h: any) => h.header.key === 'www-authenticate').header.value;
      assert.match(challenge, /^Bearer error="invalid_token"/);
      assert.equal(JSON.parse(res.deniedResponse.body).error, 'invalid_token');
      assert.equal(res.dynamicMetadata.fields.reason.stringValue, code);
      assert.equal(res.dynamicMetadata.fields.txn, undefined);
      assert.equal(events.at(-1)!.txnTokenMode, 'verify');
    });

  it('an unknown route mode is refused (401 invalid_token), never treated as off', async () => {
    const { res } = await check(ext, { authorization: 'Bearer tok-alice' }, { txn_token: 'bogus' });
    assert.equal(res.deniedResponse.status.code, 401);
    assert.equal(res.dynamicMetadata.fields.reason.stringValue, 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MODE');
  });

  it('a provider outage while minting fails the Check call (UNAVAILABLE), as an exchange would', async () => {
    const { err } = await check(ext, { authorization: 'Bearer down' }, { txn_token: 'mint' });
    assert.equal(err!.code, status.UNAVAILABLE);
  });
});

describe('forward-auth in Txn-Token modes', () => {
  let server: HttpServerHandle;
  let url: string;
  const { service, minted } = fakeService();
  const events: ExchangeEvent[] = [];
  before(async () => {
    const route = createForwardAuthRoute({
      path: '/forward-auth',
      exchange: { exchangeBearer: () => Promise.reject(new Error('not in a Txn-Token mode')) },
      settings,
      timeout: 5_000,
      maxConcurrent: 10,
      providerIds: new Set(['gh']),
      report: (e) => void events.push(e),
      isAccepting: () => true,
      txnTokens: { mode: 'mint', requester: 'traefik.example', service },
    });
    server = await startHttpServer('127.0.0.1:0', createRouter([route]));
    url = `http://127.0.0.1:${server.port}/forward-auth`;
  });
  after(() => server?.close());

  it('mint (the default here): 200 with Txn-Token, the provider token to remove; req_ip is the last X-Forwarded-For entry', async () => {
    const res = await fetch(url, { headers: { authorization: 'Bearer tok-carol', 'x-forwarded-for': '203.0.113.9, 198.51.100.4' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('txn-token')!, /^txn\.txn-\d+\.sig$/);
    assert.equal(res.headers.get('authorization'), null, 'the Txn-Token never goes into Authorization');
    assert.deepEqual(res.headers.get('x-envoy-auth-headers-to-remove')!.split(', ').sort(), ['authorization', 'x-authjwt-provider']);
    assert.deepEqual(minted.at(-1), { requester: 'traefik.example', reqIp: '198.51.100.4' });
  });

  it('below the endpoint (Envoy HTTP ext_authz appends the client path and query) the query cannot choose the mode', async () => {
    // The default here is mint: a client's "?txn_token=off" or "=verify" changes nothing.
    for (const query of ['?txn_token=off', '?txn_token=verify']) {
      const res = await fetch(`${url}/orders/1${query}`, { headers: { authorization: 'Bearer tok-dave' } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('txn-token')!, /^txn\.txn-\d+\.sig$/, 'still minted');
    }
    const without = await fetch(`${url}/orders/1?txn_token=verify`, { headers: { 'txn-token': 'txn.txn-1.sig' } });
    assert.equal(without.status, 401, 'mint needs the provider token, whatever the client query says');
  });

  it('?txn_token=verify: 200 with no header to copy (passed on unmodified); missing → 401 with a challenge', async () => {
    const ok = await fetch(`${url}?txn_token=verify`, { headers: { 'txn-token': 'txn.txn-1.sig' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('txn-token'), null);
    assert.equal(ok.headers.get('x-envoy-auth-headers-to-remove'), null);
    assert.equal(events.at(-1)!.txn, 'txn-1');
    const missing = await fetch(`${url}?txn_token=verify`);
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate')!, /^Bearer error="invalid_token"/);
    assert.equal(((await missing.json()) as { error: string }).error, 'invalid_token');
  });
});
