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
