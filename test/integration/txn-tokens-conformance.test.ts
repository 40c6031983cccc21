/**
 * Conformance of authjwt's Transaction Token Service to draft-ietf-oauth-transaction-tokens (the
 * revision named in docs/txn-tokens.md): every MUST / MUST NOT that binds a TTS is a test whose name
 * quotes the requirement. A real authjwt (HTTPS internal listener asking for client certificates),
 * a real OIDC provider (oidc-provider) for subject tokens, requesters authenticated by mTLS (SPIFFE
 * IDs in their certificates); Txn-Tokens verified with jose against authjwt's published JWKS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { signCompactJwt } from '../../src/keys/jwt-signer.ts';
import { txnTokenHash } from '../../src/txn-tokens/door.ts';
import type { RunningAuthJwt } from '../helpers/authjwt.ts';
import type { Pem } from '../helpers/certs.ts';
import { USERS, type OidcTestProvider } from '../helpers/oidc.ts';
import { ACCESS, type Answer, GATEWAY, GRANT, ORDERS, startTxnTts, TRUST_DOMAIN, TXN, type TxnTts } from '../helpers/txn-tokens.ts';

const REFRESH = 'urn:ietf:params:oauth:token-type:refresh_token';

describe('draft-ietf-oauth-transaction-tokens conformance of the TTS', () => {
  let tts: TxnTts;
  let op: OidcTestProvider;
  let svc: RunningAuthJwt;
  let gateway: Pem;
  let orders: Pem;
  let stranger: Pem;
  /** alice's JWT access token with scopes trade.read trade.stocks. */
  let alice: string;

  const txnRequest = (subjectToken: string, over: Record<string, string | undefined> = {}) => tts.txnRequest(subjectToken, over);
  const ask = (form: Record<string, string>, client: Pem | null = gateway) => tts.post(form, client);
  const issue = async (form: Record<string, string>, client: Pem | null = gateway) => {
    const answer = await ask(form, client);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.access_token as string;
  };
  const verified = async (token: string): Promise<JWTPayload> => {
    const jwks = (await (await fetch(`${svc.httpUrl}/.well-known/jwks.json`)).json()) as { keys: never[] };
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { typ: 'txntoken+jwt', audience: TRUST_DOMAIN });
    return payload;
  };
  const refused = (answer: Answer, status: number, error: string, code?: string) => {
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    assert.equal(answer.body.error, error, JSON.stringify(answer.body));
    if (code) assert.match(String(answer.body.error_description), new RegExp(`\\(ERR_AUTHJWT_${code}\\)$`));
    assert.equal(answer.body.access_token, undefined);
  };
  /** A token signed with authjwt's own current key (to build what a TTS would never issue). */
  const signedByAuthjwt = (header: Record<string, unknown>, claims: Record<string, unknown>) => {
    const key = svc.app.keys.store.currentSigningKey()!;
    return signCompactJwt(key, { kid: key.kid, ...header }, claims);
  };

  before(async () => {
    tts = await startTxnTts();
    ({ op, svc, gateway, orders, stranger, alice } = tts);
  });
  after(async () => {
    await tts?.close();
  });

  describe('Txn-Token Response', () => {
    it('"The token_type value MUST be set to N_A", "The access_token value MUST be the Txn-Token JWT", "The issued_token_type value MUST be set to urn:ietf:params:oauth:token-type:txn_token"', async () => {
      const answer = await ask(txnRequest(alice));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.token_type, 'N_A');
      assert.equal(answer.body.issued_token_type, TXN);
      assert.equal(typeof answer.body.access_token, 'string');
      assert.equal((await verified(answer.body.access_token as string)).aud, TRUST_DOMAIN);
      assert.equal(answer.headers['cache-control'], 'no-store');
      assert.match(String(answer.headers['content-type']), /^application\/json/);
    });

    it('"The Txn-Token Response MUST NOT include the refresh_token value"', async () => {
      const answer = await ask(txnRequest(alice));
      assert.equal(answer.status, 200);
      assert.equal(Object.hasOwn(answer.body, 'refresh_token'), false);
      assert.deepEqual(Object.keys(answer.body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'token_type']);
    });

    it('"If the TTS responds with an error, the error response is as described in Section 5.2 of RFC6749"', async () => {
      const answer = await ask(txnRequest(alice, { audience: 'elsewhere.example' }));
      refused(answer, 400, 'invalid_target', 'TXN_TARGET_INVALID');
      assert.equal(typeof answer.body.error_description, 'string');
      assert.equal(answer.headers['cache-control'], 'no-store');
    });
  });

  describe('Txn-Token format', () => {
    it('"The typ Header Parameter MUST be present and MUST have the value txntoken+jwt" (and a kid for key rotation)', async () => {
      const header = decodeProtectedHeader(await issue(txnRequest(alice)));
      assert.equal(header.typ, 'txntoken+jwt');
      assert.equal(typeof header.kid, 'string');
      const jwks = (await (await fetch(`${svc.httpUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
      assert.ok(
        jwks.keys.some((k) => k.kid === header.kid),
        'kid names a published key',
      );
    });

    it('"The TTS MUST set the iat claim to the time of issuance", "MUST set the exp claim to the expiry time" and "a Txn-Token lifetime MUST be kept short" (txnTokens.ttl, at most 15m)', async () => {
      const before = Math.floor(Date.now() / 1000);
      const c = await verified(await issue(txnRequest(alice)));
      const after = Math.floor(Date.now() / 1000);
      assert.ok(c.iat! >= before && c.iat! <= after, `iat ${c.iat} in [${before}, ${after}]`);
      assert.equal(c.exp! - c.iat!, 60);
    });

    it('"The TTS MUST set the aud claim to an identifier representing the Trust Domain"', async () => {
      assert.equal((await verified(await issue(txnRequest(alice)))).aud, TRUST_DOMAIN);
    });

    it('"The TTS MUST set the txn claim to a unique ID specific to this transaction"', async () => {
      const txns = new Set<unknown>();
      for (let i = 0; i < 5; i++) txns.add((await verified(await issue(txnRequest(alice)))).txn);
      assert.equal(txns.size, 5);
      for (const txn of txns) assert.match(String(txn), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    });

    it('"[sub] MUST be unique within the context of the aud Trust Domain": the subject template names provider and account', async () => {
      assert.equal((await verified(await issue(txnRequest(alice)))).sub, `kc:${USERS.alice!.sub}`);
    });

    it('"req_wl: REQUIRED. A string value that identifies the workload that requested the Txn-Token": the authenticated requester, never the body', async () => {
      const c = await verified(await issue({ ...txnRequest(alice), req_wl: 'spiffe://evil/forged', client_id: 'gateway' }));
      assert.equal(c.req_wl, GATEWAY);
    });

    it('"scope: REQUIRED", "tctx" and "rctx": scope as decided, tctx computed and from allowed request_details, rctx with req_ip', async () => {
      const c = await verified(
        await issue(
          txnRequest(alice, {
            request_details: JSON.stringify({ action: 'BUY', ticker: 'MSFT', amount: 100 }),
            request_context: JSON.stringify({ transport: 'https' }),
          }),
        ),
      );
      assert.equal(c.scope, 'trade.stocks');
      assert.deepEqual(c.tctx, { customer: USERS.alice!.sub, action: 'BUY', ticker: 'MSFT', amount: 100 });
      assert.deepEqual(c.rctx, { req_ip: '127.0.0.1', transport: 'https' });
    });

    it('"the Txn-Token MUST NOT contain the access token presented to the external endpoint"', async () => {
      const token = await issue(txnRequest(alice, { request_details: JSON.stringify({ action: 'BUY' }) }));
      const payload = Buffer.from(token.split('.')[1]!, 'base64url').toString();
      assert.ok(!payload.includes(alice) && !payload.includes(alice.split('.')[2]!));
      // A requester trying to smuggle it through request_details is refused.
      refused(
        await ask(txnRequest(alice, { request_details: JSON.stringify({ action: alice }) })),
        400,
        'invalid_request',
        'TXN_SUBJECT_TOKEN_EMBEDDED',
      );
    });
  });

  describe('Txn-Token Request', () => {
    it('"If the transaction token request is made via HTTP to a remote server, it MUST use RFC8693": grant_type "MUST be set to urn:ietf:params:oauth:grant-type:token-exchange"', async () => {
      refused(await ask(txnRequest(alice, { grant_type: 'client_credentials' })), 400, 'unsupported_grant_type');
      refused(await ask(txnRequest(alice, { grant_type: undefined })), 400, 'invalid_request', 'TOKEN_REQUEST_MISSING_PARAMETER');
    });

    it('"The context information provided to the TTS MUST include ... A token which identifies the subject": subject_token and subject_token_type REQUIRED', async () => {
      refused(await ask(txnRequest(alice, { subject_token: undefined })), 400, 'invalid_request', 'TOKEN_REQUEST_MISSING_PARAMETER');
      refused(await ask(txnRequest(alice, { subject_token_type: undefined })), 400, 'invalid_request', 'TOKEN_REQUEST_MISSING_PARAMETER');
      refused(
        await ask(txnRequest(alice, { subject_token_type: 'not a uri' })),
        400,
        'invalid_request',
        'TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE',
      );
    });

    it('"audience REQUIRED. The value MUST be set to the Trust Domain name": missing, another, two, or a resource are refused', async () => {
      refused(await ask(txnRequest(alice, { audience: undefined })), 400, 'invalid_request', 'TOKEN_REQUEST_MISSING_PARAMETER');
      refused(await ask(txnRequest(alice, { audience: 'other.example' })), 400, 'invalid_target', 'TXN_TARGET_INVALID');
      const two = new URLSearchParams(txnRequest(alice));
      two.append('audience', 'other.example');
      refused(await tts.post(two, gateway), 400, 'invalid_target', 'TXN_TARGET_INVALID');
      refused(await ask({ ...txnRequest(alice), resource: 'https://api.example' }), 400, 'invalid_target', 'TXN_TARGET_INVALID');
    });

    it('"scope REQUIRED": a request without scope is refused', async () => {
      refused(await ask(txnRequest(alice, { scope: undefined })), 400, 'invalid_request', 'TOKEN_REQUEST_MISSING_PARAMETER');
      refused(await ask(txnRequest(alice, { scope: 'bad"scope' })), 400, 'invalid_scope', 'TXN_SCOPE_INVALID');
    });

    it('"MUST validate the requesting workload client authentication": an unauthenticated requester is refused with invalid_client (401)', async () => {
      const answer = await ask(txnRequest(alice), null);
      refused(answer, 401, 'invalid_client', 'TXN_REQUESTER_UNAUTHENTICATED');
      // The same request for an access token is still served (method none): only Txn-Tokens require it.
      const access = await ask({ grant_type: GRANT, subject_token: alice, subject_token_type: ACCESS }, null);
      assert.equal(access.status, 200, JSON.stringify(access.body));
    });

    it('"[MUST] determine if that workload is authorized to obtain the Txn-Tokens with the requested value(s)": a client that is not a requester is refused', async () => {
      refused(await ask(txnRequest(alice), stranger), 400, 'unauthorized_client', 'TXN_REQUESTER_NOT_ALLOWED');
    });

    it('TTS issuance policy: "an API gateway ... might be permitted to obtain a Txn-Token carrying ... a transaction amount, while a downstream service ... might not"', async () => {
      await issue(txnRequest(alice, { request_details: JSON.stringify({ amount: 100 }) }), gateway);
      refused(
        await ask(txnRequest(alice, { request_details: JSON.stringify({ amount: 100 }) }), orders),
        400,
        'unauthorized_client',
        'TXN_CONTEXT_NOT_ALLOWED',
      );
      // The requester's CEL rule decides per subject, naming the rule.
      const bob = await op.jwtToken(USERS.bob!, { scope: 'trade.stocks' });
      refused(await ask(txnRequest(bob)), 400, 'unauthorized_client', 'TXN_ISSUANCE_DENIED');
    });

    it('"The TTS MUST validate the subject_token, including verifying the signature"', async () => {
      const [h, p] = alice.split('.');
      refused(await ask(txnRequest(`${h}.${p}.${'A'.repeat(86)}`)), 400, 'invalid_request');
    });

    it('"[subject_token_type MAY be] any one of the subject token types ... except the Refresh Token type"', async () => {
      refused(await ask(txnRequest(alice, { subject_token_type: REFRESH })), 400, 'invalid_request', 'TOKEN_REQUEST_REFRESH_TOKEN_SUBJECT');
    });

    it('"A requester MAY use a self-signed JWT as a subject_token ... the requester MUST set the subject_token_type value to: urn:ietf:params:oauth:token-type:self_signed"', async () => {
      const SELF_SIGNED = 'urn:ietf:params:oauth:token-type:self_signed';
      const answer = await ask(txnRequest(await tts.selfSigned(), { subject_token_type: SELF_SIGNED, scope: 'orders.read' }), orders);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const c = await verified(answer.body.access_token as string);
      // "The TTS SHALL use this value [sub] in determining the sub value in the Txn-Token".
      assert.deepEqual([c.sub, c.scope, c.req_wl], [`workloads:${ORDERS}`, 'orders.read', ORDERS]);
      // Its scope bounds the Txn-Token like any subject token's.
      refused(
        await ask(
          txnRequest(await tts.selfSigned({ scope: 'orders.read' }), { subject_token_type: SELF_SIGNED, scope: 'orders.write' }),
          orders,
        ),
        400,
        'invalid_scope',
        'TXN_SCOPE_WIDENED',
      );
      // "aud: The unique identifier of the TTS. The TTS SHALL verify that this value matches its own unique identifier."
      refused(
        await ask(
          txnRequest(await tts.selfSigned({ aud: 'https://other-tts.example' }), { subject_token_type: SELF_SIGNED, scope: 'orders.read' }),
          orders,
        ),
        400,
        'invalid_request',
      );
    });

    it('"The TTS MUST ensure that the requested scope of the Txn-Token is equal or less than the scope(s) associated with the original subject_token": an unknown scope is refused', async () => {
      const c = await verified(await issue(txnRequest(alice, { scope: 'trade.read trade.stocks' })));
      assert.equal(c.scope, 'trade.read trade.stocks');
      refused(await ask(txnRequest(alice, { scope: 'trade.admin' })), 400, 'invalid_scope', 'TXN_SCOPE_WIDENED');
      refused(await ask(txnRequest(alice, { scope: 'trade.stocks trade.admin' })), 400, 'invalid_scope', 'TXN_SCOPE_WIDENED');
    });

    it('"If the scope associated with a subject_token cannot be determined ... The TTS MUST reject the Txn-Token Request and MUST NOT treat an unknown scope as unconstrained"', async () => {
      const opaque = await op.opaqueToken(USERS.alice!);
      refused(await ask(txnRequest(opaque, { subject_issuer: 'kc-userinfo' })), 400, 'invalid_request', 'TXN_SUBJECT_SCOPE_UNKNOWN');
    });

    it('"If the token ... presented to the TTS ... has an expiration time, then the TTS MUST NOT issue a Txn-Token if the expiration time has passed"', async () => {
      const shortLived = await op.jwtToken(USERS.alice!, { expiresIn: 1, scope: 'trade.stocks' });
      await new Promise((r) => setTimeout(r, 2100));
      refused(await ask(txnRequest(shortLived)), 400, 'invalid_request', 'UPSTREAM_EXPIRED');
    });
  });

  describe('Txn-Token as a subject_token (replacement)', () => {
    const replace = (token: string, over: Record<string, string | undefined> = {}) =>
      txnRequest(token, { subject_token_type: TXN, ...over });

    it('"MUST NOT modify txn, sub, and aud values of the Txn-Token in the request" and "MUST maintain the Call Chain of workloads"', async () => {
      const first = await issue(txnRequest(alice, { scope: 'trade.read trade.stocks', request_details: JSON.stringify({ amount: 100 }) }));
      const second = await issue(replace(first, { scope: 'trade.stocks', request_details: JSON.stringify({ order_id: 'o-1' }) }), orders);
      const [p, c] = [await verified(first), await verified(second)];
      assert.deepEqual([c.txn, c.sub, c.aud], [p.txn, p.sub, p.aud]);
      assert.equal(c.req_wl, ORDERS);
      assert.deepEqual((c.rctx as Record<string, unknown>).req_wl_chain, [GATEWAY]);
      // "MAY enable additional asserted values".
      assert.deepEqual(c.tctx, { ...(p.tctx as object), order_id: 'o-1' });
      assert.equal(c.scope, 'trade.stocks');
    });

    it('"MUST NOT enable modification to asserted values that expand the scope of permitted actions": scope never widens, tctx never changes', async () => {
      const first = await issue(txnRequest(alice, { scope: 'trade.stocks', request_details: JSON.stringify({ amount: 100 }) }));
      refused(await ask(replace(first, { scope: 'trade.read' }), orders), 400, 'invalid_scope', 'TXN_SCOPE_WIDENED');
      refused(await ask(replace(first, { scope: 'trade.stocks trade.read' }), orders), 400, 'invalid_scope', 'TXN_SCOPE_WIDENED');
      // orders may set order_id but never amount, and never change it.
      refused(await ask(replace(first, { request_details: JSON.stringify({ amount: 1e9 }) }), orders), 400, 'unauthorized_client');
    });

    it('"MUST NOT issue a new Txn-Token when the Txn-Token being replaced has expired"', async () => {
      const now = Math.floor(Date.now() / 1000);
      const expired = await signedByAuthjwt(
        { typ: 'txntoken+jwt' },
        {
          iss: svc.config.issuer,
          aud: TRUST_DOMAIN,
          iat: now - 120,
          exp: now - 60,
          txn: 't-expired',
          sub: 'kc:x',
          scope: 'trade.stocks',
          req_wl: GATEWAY,
        },
      );
      refused(await ask(replace(expired), orders), 400, 'invalid_request', 'TXN_TOKEN_EXPIRED');
    });

    it('"A Txn-Token MUST NOT be accepted outside the Trust Domain identified by the aud claim": another trust domain\'s token is not replaced', async () => {
      const now = Math.floor(Date.now() / 1000);
      const foreign = await signedByAuthjwt(
        { typ: 'txntoken+jwt' },
        {
          iss: svc.config.issuer,
          aud: 'other.example',
          iat: now,
          exp: now + 60,
          txn: 't-1',
          sub: 'kc:x',
          scope: 'trade.stocks',
          req_wl: GATEWAY,
        },
      );
      refused(await ask(replace(foreign), orders), 400, 'invalid_request', 'TXN_TOKEN_INVALID');
    });

    it('"The typ Header Parameter MUST be present and MUST have the value txntoken+jwt": authjwt\'s own access token is not a Txn-Token', async () => {
      const access = await ask({ grant_type: GRANT, subject_token: alice, subject_token_type: ACCESS }, null);
      assert.equal(decodeProtectedHeader(access.body.access_token as string).typ, 'at+jwt');
      refused(await ask(replace(access.body.access_token as string), orders), 400, 'invalid_request', 'TXN_TOKEN_INVALID');
      const now = Math.floor(Date.now() / 1000);
      const untyped = await signedByAuthjwt(
        {},
        {
          iss: svc.config.issuer,
          aud: TRUST_DOMAIN,
          iat: now,
          exp: now + 60,
          txn: 't-2',
          sub: 'kc:x',
          scope: 'trade.stocks',
          req_wl: GATEWAY,
        },
      );
      refused(await ask(replace(untyped), orders), 400, 'invalid_request', 'TXN_TOKEN_INVALID');
    });

    it('"SHOULD limit the number of times a Txn-Token is replaced": at most txnTokens.maxReplacements per transaction', async () => {
      let token = await issue(txnRequest(alice));
      for (let i = 0; i < 2; i++) token = await issue(replace(token), orders);
      assert.equal(((decodeJwt(token).rctx as Record<string, unknown>).req_wl_chain as string[]).length, 2);
      refused(await ask(replace(token), orders), 400, 'invalid_request', 'TXN_REPLACEMENTS_EXHAUSTED');
    });

    it('a requester not configured to replace may not present a Txn-Token as subject_token', async () => {
      const first = await issue(txnRequest(alice));
      refused(await ask(replace(first), gateway), 400, 'unauthorized_client', 'TXN_REPLACEMENT_NOT_ALLOWED');
    });
  });

  describe('What a Txn-Token is not', () => {
    it('"A workload MUST NOT use a transaction token to authenticate itself to ... the TTS": a Txn-Token as client assertion is refused (invalid_client)', async () => {
      const token = await issue(txnRequest(alice));
      const answer = await ask(
        {
          ...txnRequest(alice),
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: token,
        },
        null,
      );
      refused(answer, 401, 'invalid_client');
    });

    it('"A workload MUST NOT use a transaction token as an OAuth 2.0 Access Token": authjwt does not take its Txn-Token as an access token', async () => {
      const token = await issue(txnRequest(alice));
      // Neither for an access token nor for a new transaction: only the replacement profile reads a Txn-Token.
      refused(await ask({ grant_type: GRANT, subject_token: token, subject_token_type: ACCESS }, null), 400, 'invalid_request');
      refused(await ask(txnRequest(token)), 400, 'invalid_request');
    });
  });

  describe('Logging', () => {
    it('"Complete Txn-Tokens MUST NOT be logged verbatim": the log has txn and a hash, never the token', async () => {
      const token = await issue(txnRequest(alice));
      const { txn } = decodeJwt(token);
      const line = svc.logs.find((l) => l.includes(String(txn)));
      assert.ok(line, 'the issuance is logged with its txn');
      const entry = JSON.parse(line) as Record<string, unknown>;
      assert.equal(entry.txnRequester, 'gateway');
      assert.equal(entry.txnTokenHash, txnTokenHash(token));
      assert.match(String(entry.txnTokenHash), /^[0-9a-f]{16}$/);
      for (const l of svc.logs) {
        assert.ok(!l.includes(token) && !l.includes(token.split('.')[2]!), 'no Txn-Token in the logs');
        assert.ok(!l.includes(alice.split('.')[2]!), 'no subject token in the logs');
      }
      const metrics = await (await fetch(`${svc.httpUrl}/metrics`)).text();
      assert.match(metrics, /authjwt_txn_token_requests_total\{door="token_endpoint",requester="gateway",kind="new",outcome="ok"\} [1-9]/);
      assert.match(
        metrics,
        /authjwt_txn_token_requests_total\{door="token_endpoint",requester="other",kind="new",outcome="permission_denied"\} [1-9]/,
      );
    });
  });
});
