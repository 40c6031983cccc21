import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { buildConfig } from '../../../src/config/load.ts';
import { AuthJwtError, tokenRejected } from '../../../src/errors.ts';
import { TokenExchange, type AccountInput } from '../../../src/exchange/get-jwt.ts';
import { parseKeyFile } from '../../../src/keys/key-file.ts';
import { CompactJwtSigner } from '../../../src/keys/jwt-signer.ts';
import { KeyStore } from '../../../src/keys/key-store.ts';
import type { TokenVerifier, VerifiedIdentity } from '../../../src/providers/types.ts';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);

/** Test double for the TokenVerifier port: answers from a table keyed by token. */
class TableVerifier implements TokenVerifier {
  readonly providerId: string;
  readonly table: Record<string, VerifiedIdentity | Error>;
  calls = 0;
  constructor(id: string, table: Record<string, VerifiedIdentity | Error>) {
    this.providerId = id;
    this.table = table;
  }
  async verify(token: string): Promise<VerifiedIdentity> {
    this.calls++;
    const v = this.table[token];
    if (!v) throw tokenRejected('INVALID_TOKEN', 'access token rejected');
    if (v instanceof Error) throw v;
    return v;
  }
}

async function setup() {
  const config = buildConfig({
    issuer: 'https://authjwt.example',
    audience: ['svc-a', 'svc-b'],
    tokenTtl: '10m',
    keys: { ephemeral: true },
    providers: [
      { id: 'kc', type: 'oidc', issuer: 'https://sso.example/realms/main', audiences: ['frontend'], claims: { roles: 'realm_access.roles' } },
      { id: 'github', type: 'oauth', preset: 'github' },
    ],
  });
  const identity: VerifiedIdentity = {
    accountId: 'alice-1',
    profile: {
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice',
      preferred_username: 'alice',
      groups: ['a', 'b'],
      realm_access: { roles: ['admin'] },
      sub: 'alice-1',
      iss: 'https://evil.example',
    },
    expiresAt: NOW + 60_000,
    clientId: 'frontend',
    strategy: 'jwt',
  };
  const verifiers = {
    kc: new TableVerifier('kc', { good: identity, down: new AuthJwtError('unavailable', 'ERR_AUTHJWT_PROVIDER_UNREACHABLE', 'provider kc is unreachable') }),
    github: new TableVerifier('github', { gho: { accountId: '583231', profile: { login: 'octocat', name: { evil: 1 }, email: 'x'.repeat(2000) }, expiresAt: undefined, clientId: undefined, strategy: 'user-api' } }),
  };
  const store = new KeyStore({ publishLeadTime: 0, clock: () => NOW });
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  store.replaceKeys(await parseKeyFile('k', JSON.stringify(await exportJWK(privateKey))));
  const lookup = new Map(config.providers.map((p) => [p.id, { config: p, verifier: verifiers[p.id as keyof typeof verifiers] }]));
  const exchange = new TokenExchange({
    providers: { get: (id) => lookup.get(id) },
    signer: new CompactJwtSigner(store),
    settings: { issuer: config.issuer, audience: config.audience, tokenTtl: config.tokenTtl, subjectTemplate: config.subjectTemplate, limits: config.limits },
    clock: () => NOW,
  });
  return { exchange, verifiers, store };
}

const account = (over: Partial<AccountInput> = {}): AccountInput => ({ provider: 'kc', type: 'oidc', providerAccountId: 'alice-1', accessToken: 'good', ...over });

describe('TokenExchange', () => {
  it('mints iss, aud, sub from the template, iat/nbf/exp from the frozen clock, jti, provider, client_id', async () => {
    const { exchange } = await setup();
    const result = await exchange.getJwt(account());
    const claims = decodeJwt(result.token);
    assert.equal(claims.iss, 'https://authjwt.example');
    assert.deepEqual(claims.aud, ['svc-a', 'svc-b']);
    assert.equal(claims.sub, 'kc:alice-1');
    assert.equal(claims.iat, NOW / 1000);
    assert.equal(claims.nbf, NOW / 1000);
    assert.equal(claims.exp, NOW / 1000 + 600);
    assert.equal(claims.provider, 'kc');
    assert.equal(claims.client_id, 'frontend');
    assert.equal(result.expiresAt, NOW + 600_000);
    const header = decodeProtectedHeader(result.token);
    assert.equal(header.typ, 'JWT');
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, result.kid);
  });

  it('maps profile claims by the provider mapping; reserved claims from upstream never override ours', async () => {
    const { exchange } = await setup();
    const claims = decodeJwt((await exchange.getJwt(account())).token);
    assert.equal(claims.email, 'alice@example.com');
    assert.equal(claims.email_verified, true);
    assert.equal(claims.preferred_username, 'alice');
    assert.deepEqual(claims.groups, ['a', 'b']);
    assert.deepEqual(claims.roles, ['admin']);
    assert.equal(claims.iss, 'https://authjwt.example');
  });

  it('drops profile values that are objects or oversized strings', async () => {
    const { exchange } = await setup();
    const claims = decodeJwt((await exchange.getJwt(account({ provider: 'github', type: 'oauth', providerAccountId: '583231', accessToken: 'gho' }))).token);
    assert.equal(claims.preferred_username, 'octocat');
    assert.ok(!('name' in claims));
    assert.ok(!('email' in claims));
  });

  const failures: [string, Partial<AccountInput> | null, string, string][] = [
    ['null account', null, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_MISSING_ACCOUNT'],
    ['unknown provider', { provider: 'gitlab' }, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_UNKNOWN_PROVIDER'],
    ['constructor as provider', { provider: 'constructor' }, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_UNKNOWN_PROVIDER'],
    ['type mismatch', { type: 'oauth' }, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_TYPE_MISMATCH'],
    ['mismatched account', { providerAccountId: 'bob-2' }, 'unauthenticated', 'ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH'],
    ['account id differing in case', { providerAccountId: 'ALICE-1' }, 'unauthenticated', 'ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH'],
    ['rejected token', { accessToken: 'bad' }, 'unauthenticated', 'ERR_AUTHJWT_UPSTREAM_INVALID_TOKEN'],
    ['provider down', { accessToken: 'down' }, 'unavailable', 'ERR_AUTHJWT_PROVIDER_UNREACHABLE'],
  ];
  for (const [name, input, kind, code] of failures) {
    it(`${name} → ${kind} (${code})`, async () => {
      const { exchange } = await setup();
      await assert.rejects(exchange.getJwt(input === null ? null : account(input)), (e: AuthJwtError) => e.kind === kind && e.code === code);
    });
  }

  it('validation happens before any provider call', async () => {
    const { exchange, verifiers } = await setup();
    await assert.rejects(exchange.getJwt(account({ providerAccountId: '' })));
    await assert.rejects(exchange.getJwt(account({ type: 'oauth' })));
    assert.equal(verifiers.kc.calls, 0);
  });

  it('no signing key → unavailable', async () => {
    const empty = new KeyStore({ publishLeadTime: 0 });
    const ex2 = new TokenExchange({
      providers: { get: () => undefined },
      signer: new CompactJwtSigner(empty),
      settings: { issuer: 'https://a.example', audience: ['x'], tokenTtl: 60_000, subjectTemplate: '{accountId}', limits: { maxAccessTokenBytes: 100, maxAccountIdBytes: 100 } },
    });
    await assert.rejects(ex2.mint({ id: 'kc' } as never, { accountId: 'a', profile: {}, expiresAt: undefined, clientId: undefined, strategy: 'jwt' }, {}), (e: AuthJwtError) => e.kind === 'unavailable');
  });
});
