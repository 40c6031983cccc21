/**
 * Txn-Token claims, minting and verification (src/txn-tokens): the draft's claim set, the requester
 * rules, scope never wider than the subject's, replacement invariants, and verification negatives
 * (signature, typ, aud, exp, algorithm).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeProtectedHeader, SignJWT } from 'jose';
import { AuthJwtError } from '../../../src/errors.ts';
import { ANONYMOUS_CALLER } from '../../../src/exchange/ports.ts';
import { CompactJwtSigner, signCompactJwt } from '../../../src/keys/jwt-signer.ts';
import { compilePolicy } from '../../../src/policy/index.ts';
import { parseKeyFile } from '../../../src/keys/key-file.ts';
import {
  REQUESTER_CHAIN_MEMBER,
  TXN_DRAFT_REVISION,
  TXN_RESPONSE_TOKEN_TYPE,
  TXN_TOKEN_HEADER,
  TXN_TOKEN_TYPE,
} from '../../../src/txn-tokens/constants.ts';
import { keepsMembers, parseContextParameter } from '../../../src/txn-tokens/context.ts';
import { type TxnIssueInput, TxnTokenIssuer } from '../../../src/txn-tokens/issuer.ts';
import { parseScope } from '../../../src/txn-tokens/scopes.ts';
import { gateway, newTts, orders, payments, subject, T0, TRUST_DOMAIN, type Tts } from './fixtures.ts';

const rejectsWith = async (promise: Promise<unknown>, code: string) => {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof AuthJwtError, String(e));
    assert.equal(e.code, `ERR_AUTHJWT_${code}`, e.detail);
    return true;
  });
};

const fresh = (tts: Tts, over: Partial<TxnIssueInput> = {}) =>
  tts.issuer.issue({ subject: subject(), requester: gateway, requestedScope: ['trade.stocks'], reqIp: '10.0.0.7', ...over });

describe('TxnTokenIssuer: a new transaction', () => {
  it('mints the draft claim set: iat, exp (ttl), aud = trust domain, txn, sub, scope, tctx, rctx, req_wl, typ txntoken+jwt with kid', async () => {
    const tts = await newTts();
    const details = { action: 'BUY', ticker: 'MSFT', amount: 100 };
    const out = await fresh(tts, { requestDetails: details, requestContext: { transport: 'https' }, authn: 'pwd' });
    const header = decodeProtectedHeader(out.token);
    assert.deepEqual(header, { alg: 'ES256', kid: 'k1', typ: 'txntoken+jwt' });
    const claims = await tts.verify(out.token);
    const iat = Math.floor(T0 / 1000);
    assert.equal(claims.iat, iat);
    assert.equal(claims.exp, iat + 60);
    assert.equal(claims.aud, TRUST_DOMAIN);
    assert.match(claims.txn, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(claims.txn, out.txn);
    assert.equal(claims.sub, 'kc:alice');
    assert.equal(claims.scope, 'trade.stocks');
    assert.equal(claims.req_wl, 'spiffe://trust-domain.example/gateway');
    assert.deepEqual(claims.tctx, { customer_level: 'VIP', action: 'BUY', ticker: 'MSFT', amount: 100 });
    assert.deepEqual(claims.rctx, { req_ip: '10.0.0.7', authn: 'pwd', transport: 'https' });
    assert.equal(out.requester, 'gateway');
    assert.equal(out.replacements, 0);
  });

  it('a new txn per issuance, for the same subject and request', async () => {
    const tts = await newTts();
    const txns = new Set<string>();
    for (let i = 0; i < 20; i++) txns.add((await fresh(tts)).txn);
    assert.equal(txns.size, 20);
  });

  it('a gateway allowed to relay req_ip sets it from request_context; a malformed one is refused', async () => {
    const tts = await newTts();
    const out = await fresh(tts, { requestContext: { req_ip: '69.151.72.123' } });
    assert.equal((await tts.verify(out.token)).rctx.req_ip, '69.151.72.123');
    await rejectsWith(fresh(tts, { requestContext: { req_ip: 'not an address' } }), 'TXN_CONTEXT_MALFORMED');
  });

  it('requester authentication is required: the anonymous caller is refused', async () => {
    await rejectsWith(fresh(await newTts(), { requester: ANONYMOUS_CALLER }), 'TXN_REQUESTER_UNAUTHENTICATED');
  });

  it('an authenticated client that is not a configured requester is refused', async () => {
    await rejectsWith(fresh(await newTts(), { requester: { ...gateway, id: 'intruder' } }), 'TXN_REQUESTER_NOT_ALLOWED');
  });

  it("the requester's issuance policy (CEL) decides per subject, naming the rule", async () => {
    const tts = await newTts();
    await assert.rejects(
      fresh(tts, { subject: subject({ claims: { scope: 'trade.stocks', email_verified: false } }) }),
      (e: AuthJwtError) => {
        assert.equal(e.code, 'ERR_AUTHJWT_TXN_ISSUANCE_DENIED');
        assert.deepEqual(e.metadata, { requester: 'gateway', rule: 'allow[0]' });
        return true;
      },
    );
  });

  it('the draft example: the gateway may set tctx.amount, a downstream service may not', async () => {
    const tts = await newTts();
    await fresh(tts, { requestDetails: { amount: 5 } });
    await rejectsWith(fresh(tts, { requester: orders, requestDetails: { amount: 5 } }), 'TXN_CONTEXT_NOT_ALLOWED');
    await rejectsWith(fresh(tts, { requester: orders, requestContext: { req_ip: '1.2.3.4' } }), 'TXN_CONTEXT_NOT_ALLOWED');
  });

  it('scope: equal or narrower than the subject token; a value it does not hold is refused', async () => {
    const tts = await newTts();
    assert.equal((await fresh(tts, { requestedScope: ['trade.read', 'trade.stocks'] })).claims.scope, 'trade.read trade.stocks');
    await rejectsWith(fresh(tts, { requestedScope: ['trade.admin'] }), 'TXN_SCOPE_WIDENED');
    await rejectsWith(fresh(tts, { requestedScope: ['trade.stocks', 'trade.admin'] }), 'TXN_SCOPE_WIDENED');
    await rejectsWith(fresh(tts, { requestedScope: [] }), 'TXN_SCOPE_INVALID');
  });

  it("scope: never beyond the requester's configured scopes", async () => {
    const tts = await newTts();
    await fresh(tts, { requester: payments, requestedScope: ['trade.read'] });
    await rejectsWith(fresh(tts, { requester: payments, requestedScope: ['trade.stocks'] }), 'TXN_SCOPE_WIDENED');
  });

  it('a subject whose scope cannot be determined is refused, never treated as unconstrained', async () => {
    const tts = await newTts();
    // Whatever the claims say: the verifier (VerifiedIdentity.scopes) is the only source.
    const unknown = subject({ scopes: undefined, claims: { sub: 'alice', scope: 'trade.stocks', email_verified: true } });
    await rejectsWith(fresh(tts, { subject: unknown }), 'TXN_SUBJECT_SCOPE_UNKNOWN');
    await rejectsWith(fresh(tts, { subject: { ...unknown, strategy: 'userinfo' } }), 'TXN_SUBJECT_SCOPE_UNKNOWN');
    // Determined and empty: nothing can be requested.
    await rejectsWith(fresh(tts, { subject: subject({ scopes: [] }) }), 'TXN_SCOPE_WIDENED');
    // Determined by the verifier, whatever the claims say.
    await fresh(tts, { subject: subject({ strategy: 'introspection', scopes: ['trade.stocks'], claims: { email_verified: true } }) });
  });

  it('an expired subject token never yields a Txn-Token', async () => {
    await rejectsWith(fresh(await newTts(), { subject: subject({ expiresAt: T0 }) }), 'UPSTREAM_EXPIRED');
  });

  it('the Txn-Token never contains the presented subject token (nor its signature)', async () => {
    const tts = await newTts();
    const token = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';
    await rejectsWith(fresh(tts, { subjectToken: token, requestDetails: { action: token } }), 'TXN_SUBJECT_TOKEN_EMBEDDED');
    await rejectsWith(fresh(tts, { subjectToken: token, requestDetails: { action: token.split('.')[2] } }), 'TXN_SUBJECT_TOKEN_EMBEDDED');
    const ok = await fresh(tts, { subjectToken: token, requestDetails: { action: 'BUY' } });
    assert.ok(!ok.token.includes(token));
  });
});

describe('TxnTokenIssuer: replacement', () => {
  const replace = async (tts: Tts, parentToken: string, over: Partial<TxnIssueInput> = {}) =>
    tts.issuer.issue({ parent: await tts.verify(parentToken), requester: orders, requestedScope: ['trade.stocks'], ...over });

  it('keeps txn, sub and aud; records the chain of requesting workloads; adds members', async () => {
    const tts = await newTts();
    const first = await fresh(tts, { requestDetails: { amount: 100 }, requestedScope: ['trade.read', 'trade.stocks'] });
    tts.clock.now += 10_000;
    const second = await replace(tts, first.token, { requestDetails: { order_id: 'o-1' }, requestedScope: ['trade.read', 'trade.stocks'] });
    const c = await tts.verify(second.token);
    const p = first.claims;
    assert.deepEqual([c.txn, c.sub, c.aud], [p.txn, p.sub, p.aud]);
    assert.equal(c.req_wl, 'spiffe://trust-domain.example/orders');
    assert.deepEqual(c.rctx.req_wl_chain, ['spiffe://trust-domain.example/gateway']);
    assert.deepEqual(c.tctx, { customer_level: 'VIP', amount: 100, order_id: 'o-1' });
    assert.ok(keepsMembers(p.tctx, c.tctx) && !keepsMembers(c.tctx, p.tctx));
    assert.ok(Array.isArray(c.rctx[REQUESTER_CHAIN_MEMBER]));
    assert.equal(c.rctx.req_ip, '10.0.0.7');
    assert.notEqual(c.jti, p.jti);
    assert.equal(second.replacements, 1);
    const third = await replace(tts, second.token, { requester: payments, requestedScope: ['trade.read'] });
    assert.equal(third.claims.scope, 'trade.read');
    assert.deepEqual(third.claims.rctx.req_wl_chain, ['spiffe://trust-domain.example/gateway', 'spiffe://trust-domain.example/orders']);
  });

  it('scope may only narrow', async () => {
    const tts = await newTts();
    const first = await fresh(tts, { requestedScope: ['trade.stocks'] });
    await rejectsWith(replace(tts, first.token, { requestedScope: ['trade.read'] }), 'TXN_SCOPE_WIDENED');
  });

  it('an asserted tctx or rctx member keeps its value', async () => {
    const tts = await newTts();
    const first = await fresh(tts, { requestContext: { transport: 'https' } });
    await rejectsWith(replace(tts, first.token, { requestContext: { transport: 'http' } }), 'TXN_CONTEXT_MODIFIED');
    await replace(tts, first.token, { requestContext: { transport: 'https' } });
  });

  it('only requesters configured with replace: true may replace', async () => {
    const tts = await newTts();
    const first = await fresh(tts);
    await rejectsWith(replace(tts, first.token, { requester: gateway }), 'TXN_REPLACEMENT_NOT_ALLOWED');
  });

  it('an expired Txn-Token is never replaced', async () => {
    const tts = await newTts();
    const first = await fresh(tts);
    const parent = await tts.verify(first.token);
    tts.clock.now += 60_000;
    await rejectsWith(tts.verify(first.token), 'TXN_TOKEN_EXPIRED');
    await rejectsWith(tts.issuer.issue({ parent, requester: orders, requestedScope: ['trade.stocks'] }), 'TXN_TOKEN_EXPIRED');
  });

  it('replacements per transaction are capped (counted in the token)', async () => {
    const tts = await newTts({ maxReplacements: 2 });
    let token = (await fresh(tts)).token;
    for (let i = 0; i < 2; i++) token = (await replace(tts, token)).token;
    await rejectsWith(replace(tts, token), 'TXN_REPLACEMENTS_EXHAUSTED');
  });
});

describe('verifyTxnToken', () => {
  const foreignKey = async () => {
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    return (await parseKeyFile('k1.json', JSON.stringify({ ...jwk, kid: 'k1' })))[0]!;
  };
  const body = (over: Record<string, unknown> = {}) => ({
    aud: TRUST_DOMAIN,
    iat: Math.floor(T0 / 1000),
    exp: Math.floor(T0 / 1000) + 60,
    txn: 't-1',
    sub: 'kc:alice',
    scope: 'trade.stocks',
    req_wl: 'gw',
    ...over,
  });
  const ownKey = (tts: Tts) => tts.store.currentSigningKey()!;

  it('accepts a token signed by the current key with every required claim', async () => {
    const tts = await newTts();
    const token = await signCompactJwt(ownKey(tts), { kid: 'k1', typ: 'txntoken+jwt' }, body());
    assert.equal((await tts.verify(token)).txn, 't-1');
  });

  const cases: [string, (tts: Tts) => Promise<string>, string][] = [
    ['typ at+jwt', (t) => signCompactJwt(ownKey(t), { kid: 'k1', typ: 'at+jwt' }, body()), 'TXN_TOKEN_INVALID'],
    ['no typ', (t) => signCompactJwt(ownKey(t), { kid: 'k1' }, body()), 'TXN_TOKEN_INVALID'],
    [
      'aud of another trust domain',
      (t) => signCompactJwt(ownKey(t), { kid: 'k1', typ: 'txntoken+jwt' }, body({ aud: 'other.example' })),
      'TXN_TOKEN_INVALID',
    ],
    [
      'aud as an array',
      (t) => signCompactJwt(ownKey(t), { kid: 'k1', typ: 'txntoken+jwt' }, body({ aud: [TRUST_DOMAIN, 'x'] })),
      'TXN_TOKEN_INVALID',
    ],
    [
      'expired',
      (t) => signCompactJwt(ownKey(t), { kid: 'k1', typ: 'txntoken+jwt' }, body({ exp: Math.floor(T0 / 1000) })),
      'TXN_TOKEN_EXPIRED',
    ],
    [
      'iat in the future',
      (t) =>
        signCompactJwt(
          ownKey(t),
          { kid: 'k1', typ: 'txntoken+jwt' },
          body({ iat: Math.floor(T0 / 1000) + 30, exp: Math.floor(T0 / 1000) + 90 }),
        ),
      'TXN_TOKEN_INVALID',
    ],
    ['txn missing', (t) => signCompactJwt(ownKey(t), { kid: 'k1', typ: 'txntoken+jwt' }, body({ txn: undefined })), 'TXN_TOKEN_INVALID'],
    [
      'req_wl missing',
      (t) => signCompactJwt(ownKey(t), { kid: 'k1', typ: 'txntoken+jwt' }, body({ req_wl: undefined })),
      'TXN_TOKEN_INVALID',
    ],
    [
      'scope not a string',
      (t) => signCompactJwt(ownKey(t), { kid: 'k1', typ: 'txntoken+jwt' }, body({ scope: ['a'] })),
      'TXN_TOKEN_INVALID',
    ],
    ['tctx not an object', (t) => signCompactJwt(ownKey(t), { kid: 'k1', typ: 'txntoken+jwt' }, body({ tctx: 'x' })), 'TXN_TOKEN_INVALID'],
    [
      "signed by a key that is not authjwt's (same kid)",
      async () => signCompactJwt(await foreignKey(), { kid: 'k1', typ: 'txntoken+jwt' }, body()),
      'TXN_TOKEN_INVALID',
    ],
    [
      'alg none',
      async () =>
        `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'txntoken+jwt' })).toString('base64url')}.${Buffer.from(JSON.stringify(body())).toString('base64url')}.`,
      'TXN_TOKEN_INVALID',
    ],
    [
      'HS256 keyed with the public key',
      async (t) => {
        const pub = JSON.stringify(t.store.jwks().keys[0]);
        return new SignJWT(body()).setProtectedHeader({ alg: 'HS256', typ: 'txntoken+jwt', kid: 'k1' }).sign(Buffer.from(pub));
      },
      'TXN_TOKEN_INVALID',
    ],
    [
      'a tampered payload',
      async (t) => {
        const [h, , s] = (await signCompactJwt(ownKey(t), { kid: 'k1', typ: 'txntoken+jwt' }, body())).split('.');
        return `${h}.${Buffer.from(JSON.stringify(body({ scope: 'admin' }))).toString('base64url')}.${s}`;
      },
      'TXN_TOKEN_INVALID',
    ],
  ];
  for (const [name, make, code] of cases) {
    it(`refuses ${name}`, async () => {
      const tts = await newTts();
      await rejectsWith(tts.verify(await make(tts)), code);
    });
  }
});

describe('the names the draft registers', () => {
  it('token type URN, JWS typ, HTTP header, N_A token_type, and the revision implemented', () => {
    assert.equal(TXN_TOKEN_TYPE, 'urn:ietf:params:oauth:token-type:txn_token');
    assert.equal(TXN_TOKEN_HEADER, 'Txn-Token');
    assert.equal(TXN_RESPONSE_TOKEN_TYPE, 'N_A');
    assert.match(TXN_DRAFT_REVISION, /^draft-ietf-oauth-transaction-tokens-08\+/);
  });
});

describe('request parameters', () => {
  it('parseScope: space-delimited scope tokens, deduplicated; malformed refused', () => {
    assert.deepEqual(parseScope('a b  a'), ['a', 'b']);
    for (const bad of ['', ' ', 'a"b', 'a\\b', 'x'.repeat(129)]) assert.throws(() => parseScope(bad), /scope is missing or malformed/);
  });
  it('parseContextParameter: JSON objects only, bounded, no prototype names', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(parseContextParameter('{"a":{"b":[1]}}', 'request_details'))), { a: { b: [1] } });
    assert.equal(Object.getPrototypeOf(parseContextParameter('{"a":1}', 'request_context')), null);
    for (const bad of [
      '[]',
      '"x"',
      'null',
      '{',
      '{"__proto__":{}}',
      '{"a":{"constructor":1}}',
      `{"a":${'['.repeat(10)}${']'.repeat(10)}}`,
      `{"a":"${'x'.repeat(9000)}"}`,
    ])
      assert.throws(() => parseContextParameter(bad, 'request_details'), /not a valid JSON object/);
  });
});

describe('TxnTokenIssuer: CEL sees the subject token scopes', () => {
  it("subject.scopes in a requester rule: the subject token's scopes, the replaced token's on a replacement", async () => {
    const tts = await newTts();
    const issuer = new TxnTokenIssuer({
      settings: { trustDomain: TRUST_DOMAIN, ttl: 60_000, maxReplacements: 8, issuer: undefined },
      requesters: new Map([
        [
          'orders',
          {
            client: 'orders',
            allow: compilePolicy({ allow: ["'trade.stocks' in subject.scopes"] }, { path: 'p', lookups: [] }),
            scopes: undefined,
            requestDetails: new Set<string>(),
            requestContext: new Set<string>(),
            replace: true,
          },
        ],
      ]),
      tctx: undefined,
      signer: new CompactJwtSigner(tts.store),
      clock: () => tts.clock.now,
    });
    const first = await issuer.issue({ subject: subject(), requester: orders, requestedScope: ['trade.read'] });
    await rejectsWith(
      issuer.issue({ subject: subject({ scopes: ['trade.read'] }), requester: orders, requestedScope: ['trade.read'] }),
      'TXN_ISSUANCE_DENIED',
    );
    // The replaced token's scope is trade.read only: the rule no longer holds.
    await rejectsWith(
      issuer.issue({ parent: await tts.verify(first.token), requester: orders, requestedScope: ['trade.read'] }),
      'TXN_ISSUANCE_DENIED',
    );
  });
});

describe('TxnTokenIssuer: a door without a scope parameter', () => {
  it('without requestedScope: every scope the subject holds that the requester may get; none left is refused', async () => {
    const tts = await newTts();
    const all = await tts.issuer.issue({ subject: subject(), requester: gateway });
    assert.equal(all.claims.scope, 'trade.read trade.stocks profile');
    const limited = await tts.issuer.issue({ subject: subject(), requester: payments });
    assert.equal(limited.claims.scope, 'trade.read');
    await rejectsWith(tts.issuer.issue({ subject: subject({ scopes: ['profile'] }), requester: payments }), 'TXN_SCOPE_INVALID');
  });
});

describe('TxnTokenIssuer: computed tctx per cached subject', () => {
  it('evaluated once per subject claims object and requester; another subject, account or requester evaluates again', async () => {
    const tts = await newTts();
    const compiled = compilePolicy({ claims: { customer_level: 'claims.level' } }, { path: 'txnTokens', lookups: [] });
    let evaluations = 0;
    const issuer = new TxnTokenIssuer({
      settings: { trustDomain: TRUST_DOMAIN, ttl: 60_000, maxReplacements: 8, issuer: undefined },
      requesters: new Map([
        [
          'gateway',
          { client: 'gateway', allow: undefined, scopes: undefined, requestDetails: new Set(), requestContext: new Set(), replace: false },
        ],
      ]),
      tctx: {
        needs: compiled.needs,
        evaluate: (input) => {
          evaluations++;
          return compiled.evaluate(input);
        },
      },
      signer: new CompactJwtSigner(tts.store),
      clock: () => tts.clock.now,
    });
    // A verification-cache hit hands the issuer the same claims object every time.
    const cached = subject();
    const first = await issuer.issue({ subject: cached, requester: gateway });
    const second = await issuer.issue({ subject: { ...cached }, requester: gateway });
    assert.equal(evaluations, 1);
    assert.deepEqual([first.claims.tctx, second.claims.tctx], [{ customer_level: 'VIP' }, { customer_level: 'VIP' }]);
    assert.notEqual(first.claims.tctx, second.claims.tctx, 'each token has its own tctx object');
    assert.notEqual(first.txn, second.txn);
    // Another claims object (another token), another account, another requester object: evaluated.
    const other = await issuer.issue({ subject: subject({ claims: { ...cached.claims, level: 'GOLD' } }), requester: gateway });
    assert.deepEqual(other.claims.tctx, { customer_level: 'GOLD' });
    await issuer.issue({ subject: { ...cached, accountId: 'bob' }, requester: gateway });
    // The same requester in another object (the token endpoint authenticates it per request): cached.
    await issuer.issue({ subject: cached, requester: { ...gateway } });
    assert.equal(evaluations, 3);
    // Another requester, or the same client id proven another way: evaluated (CEL sees every caller member).
    await issuer.issue({ subject: cached, requester: { ...gateway, spiffeId: 'spiffe://trust-domain.example/other' } });
    assert.equal(evaluations, 4);
  });
});
