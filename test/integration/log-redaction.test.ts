/**
 * No access token, minted JWT, client secret or key material may reach the logs — on success, on
 * every failure path, and at start-up/reload.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { decodeJwt } from 'jose';
import { fakeGitHubProvider, startFakeGitHub } from '../helpers/fake-github.ts';
import { INTROSPECTION_CLIENT, startOidcProvider, USERS } from '../helpers/oidc.ts';
import { startAuthJwt } from '../helpers/authjwt.ts';

it('logs never contain tokens, secrets or key material', async () => {
  const op = await startOidcProvider();
  const gh = await startFakeGitHub();
  gh.apps.set('Iv1.app', 'gh-app-secret-value');
  gh.issue('gho_secret_token_value_123', { id: 1, login: 'u', name: null, email: null }, 'Iv1.app');
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-redact-'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const d = (privateKey.export({ format: 'jwk' }) as { d: string }).d;
  writeFileSync(join(dir, 'key.pem'), pem);
  const svc = await startAuthJwt({
    keys: { dir },
    providers: [
      {
        id: 'op',
        type: 'oidc',
        issuer: op.issuer,
        audiences: ['frontend'],
        verification: 'auto',
        clientId: INTROSPECTION_CLIENT.id,
        clientSecret: INTROSPECTION_CLIENT.secret,
      },
      { id: 'op-userinfo', type: 'oidc', issuer: op.issuer, verification: 'userinfo' },
      fakeGitHubProvider(gh, { id: 'gh', clientId: 'Iv1.app', clientSecret: 'gh-app-secret-value' }),
    ],
  });
  const secrets: string[] = [INTROSPECTION_CLIENT.secret, 'gh-app-secret-value', d, pem.split('\n')[1]!, 'gho_secret_token_value_123'];
  try {
    const alice = USERS.alice!;
    const jwt = await op.jwtToken(alice);
    const opaque = await op.opaqueToken(alice);
    const other = await op.jwtToken(alice, { clientId: 'other-app' });
    secrets.push(jwt, opaque, other, jwt.split('.')[2]!);
    const results = [
      await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: alice.sub, accessToken: jwt }),
      await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: alice.sub, accessToken: opaque }),
      await svc.getJwt({ provider: 'op-userinfo', type: 'oidc', providerAccountId: alice.sub, accessToken: opaque }),
      await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: 'bob', accessToken: jwt }),
      await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: alice.sub, accessToken: other }),
      await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: alice.sub, accessToken: `${jwt}x` }),
      await svc.getJwt({ provider: 'gh', type: 'oauth', providerAccountId: '1', accessToken: 'gho_secret_token_value_123' }),
      await svc.getJwt({ provider: 'gh', type: 'oauth', providerAccountId: '2', accessToken: 'gho_secret_token_value_123' }),
      await svc.getJwt({ provider: 'nope', type: 'oauth', providerAccountId: '2', accessToken: 'gho_secret_token_value_123' }),
    ];
    assert.deepEqual(
      results.map((r) => r.code),
      [
        status.OK,
        status.OK,
        status.OK,
        status.UNAUTHENTICATED,
        status.UNAUTHENTICATED,
        status.UNAUTHENTICATED,
        status.OK,
        status.UNAUTHENTICATED,
        status.INVALID_ARGUMENT,
      ],
    );
    for (const r of results) if (r.token) secrets.push(r.token, r.token.split('.')[2]!);
    // Provider down: error paths with causes.
    await op.close();
    await svc.getJwt({ provider: 'op-userinfo', type: 'oidc', providerAccountId: alice.sub, accessToken: opaque });
  } finally {
    await svc.stop();
    await gh.close();
    await op.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const text = svc.logs.join('');
  assert.ok(svc.logs.length > 10, 'the service logged (otherwise this test proves nothing)');
  assert.match(text, /"outcome":"unauthenticated"/);
  for (const s of secrets) assert.ok(!text.includes(s), `log leaked a secret value starting ${s.slice(0, 6)}…`);
});

it('logs never contain a Txn-Token (the draft: "Complete Txn-Tokens MUST NOT be logged verbatim"): txn and a hash only (issue 22)', async () => {
  const op = await startOidcProvider();
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-redact-txn-'));
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(
    join(dir, 'gateway.jwks.json'),
    JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'gw', alg: 'ES256' }] }),
  );
  const svc = await startAuthJwt({
    providers: [{ id: 'op', type: 'oidc', issuer: op.issuer, audiences: ['frontend'], verification: 'jwt' }],
    txnTokens: { trustDomain: 'trust-domain.example', requesters: [{ client: 'api-gateway' }] },
    tokenEndpoint: {
      enabled: true,
      clientAuthentication: {
        methods: ['private_key_jwt'],
        replayCache: { store: 'memory' },
        clients: [{ id: 'api-gateway', privateKeyJwt: { jwksFile: join(dir, 'gateway.jwks.json') } }],
      },
    },
    edge: { forwardAuth: { enabled: true }, txnToken: { mode: 'mint', requester: 'api-gateway' } },
  });
  const fa = `http://127.0.0.1:${svc.app.internalHttpPort}/forward-auth`;
  const secrets: string[] = [];
  const txns: string[] = [];
  try {
    const access = await op.jwtToken(USERS.alice!);
    secrets.push(access, access.split('.')[2]!);
    for (let i = 0; i < 3; i++) {
      const minted = await fetch(fa, { headers: { authorization: `Bearer ${access}` } });
      assert.equal(minted.status, 200);
      const token = minted.headers.get('txn-token')!;
      secrets.push(token, token.split('.')[2]!);
      txns.push((decodeJwt(token) as { txn: string }).txn);
      // Verified at an internal hop: logged again (txn, hash), never verbatim.
      assert.equal((await fetch(`${fa}?txn_token=verify`, { headers: { 'txn-token': token } })).status, 200);
      // Refused ones (tampered, expired-looking, not a JWS) are not logged either.
      const tampered = `${token.slice(0, -4)}AAAA`;
      secrets.push(tampered);
      assert.equal((await fetch(`${fa}?txn_token=verify`, { headers: { 'txn-token': tampered } })).status, 401);
    }
  } finally {
    await svc.stop();
    await op.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const text = svc.logs.join('');
  for (const s of secrets) assert.ok(!text.includes(s), `log leaked a token starting ${s.slice(0, 6)}…`);
  for (const txn of txns) assert.match(text, new RegExp(`"txn":"${txn}"`), 'each transaction is named in the logs');
  assert.match(text, /"txnTokenHash":"[0-9a-f]{16}"/);
  assert.match(text, /"reason":"ERR_AUTHJWT_TXN_TOKEN_INVALID"/, 'the refused Txn-Token is logged by its reason');
});
