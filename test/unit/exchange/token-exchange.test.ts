/**
 * The exchange use case on plain port fakes: no config, no keys, no transport. Each port is a few
 * lines; the use case must behave the same behind every front door.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthJwtError, authJwtError } from '../../../src/errors.ts';
import {
  LOOKUP_FORBIDDEN,
  type AccessPolicy,
  type ExchangeProvider,
  type MintedClaims,
  type MintedTokenCache,
  type Signer,
  type TokenVerifier,
  type VerifiedIdentity,
} from '../../../src/exchange/ports.ts';
import { TokenExchange, type AccountInput } from '../../../src/exchange/token-exchange.ts';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);

const alice: VerifiedIdentity = {
  accountId: 'alice-1',
  claims: {
    email: 'alice@example.com',
    email_verified: true,
    groups: ['a', 'b'],
    realm_access: { roles: ['admin'] },
    sub: 'alice-1',
    iss: 'https://evil.example',
    big: 'x'.repeat(2000),
    obj: { a: 1 },
  },
  expiresAt: NOW + 60_000,
  clientId: 'frontend',
  strategy: 'jwt',
};

/** TokenVerifier fake: answers from a table keyed by token. */
const tableVerifier = (table: Record<string, VerifiedIdentity | AuthJwtError>): TokenVerifier & { calls: number } => {
  const v = {
    calls: 0,
    async verify(token: string) {
      v.calls++;
      const found = table[token];
      if (!found) throw authJwtError('UPSTREAM_INVALID_TOKEN');
      if (found instanceof AuthJwtError) throw found;
      return found;
    },
  };
  return v;
};

/** Signer fake: records what it was asked to sign; the "token" names the jti. */
const recordingSigner = (): Signer & { signed: { claims: MintedClaims; typ: string }[] } => {
  const s = {
    signed: [] as { claims: MintedClaims; typ: string }[],
    async sign(claims: MintedClaims, options: { typ: string }) {
      s.signed.push({ claims, typ: options.typ });
      return { token: `token-${claims.jti}`, kid: 'k1', alg: 'ES256' };
    },
  };
  return s;
};

function setup(
  over: {
    provider?: Partial<ExchangeProvider>;
    minted?: MintedTokenCache;
    signer?: Signer;
    subjectTemplate?: string;
    accountId?: string;
  } = {},
) {
  const verifier = tableVerifier({
    good: over.accountId === undefined ? alice : { ...alice, accountId: over.accountId },
    down: authJwtError('PROVIDER_UNREACHABLE'),
  });
  const kc: ExchangeProvider = {
    id: 'kc',
    accountTypes: ['oidc', 'oauth'],
    issuer: 'https://sso.example/realms/main',
    verifier,
    policy: undefined,
    claimPaths: {
      email: 'email',
      email_verified: 'email_verified',
      groups: 'groups',
      roles: 'realm_access.roles',
      big: 'big',
      obj: 'obj',
      iss: 'iss',
    },
    audience: ['svc-a', 'svc-b'],
    tokenTtl: 600_000,
    capToUpstreamExpiry: false,
    defaultClientId: 'kc',
    ...over.provider,
  };
  const gh: ExchangeProvider = { ...kc, id: 'github', accountTypes: ['oauth'], issuer: undefined, claimPaths: {}, audience: ['svc-a'] };
  const providers = new Map([kc, gh].map((p) => [p.id, p]));
  const signer = recordingSigner();
  const exchange = new TokenExchange({
    providers: { get: (id) => providers.get(id), byIssuer: (iss) => [...providers.values()].find((p) => p.issuer === iss) },
    signer: over.signer ?? signer,
    settings: {
      issuer: 'https://authjwt.example',
      subjectTemplate: over.subjectTemplate ?? '{provider}:{accountId}',
      tokenType: 'at+jwt',
      limits: { maxAccessTokenBytes: 100, maxAccountIdBytes: 100 },
    },
    clock: () => NOW,
    mintedTokens: over.minted,
  });
  return { exchange, verifier, signer };
}

const account = (over: Partial<AccountInput> = {}): AccountInput => ({
  provider: 'kc',
  type: 'oidc',
  providerAccountId: 'alice-1',
  accessToken: 'good',
  ...over,
});
/** An unsigned JWT naming `iss` (provider selection reads it unverified). */
const jwtWithIssuer = (iss: string) =>
  `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss })).toString('base64url')}.sig`;

describe('TokenExchange.exchangeAccount (GetJWT)', () => {
  it('mints iss, aud, sub from the template, iat/nbf/exp from the clock, jti, provider, client_id; typ from settings', async () => {
    const { exchange, signer } = setup();
    const result = await exchange.exchangeAccount(account());
    const { claims, typ } = signer.signed[0]!;
    assert.equal(typ, 'at+jwt');
    assert.equal(claims.iss, 'https://authjwt.example');
    assert.deepEqual(claims.aud, ['svc-a', 'svc-b']);
    assert.equal(claims.sub, 'kc:alice-1');
    assert.equal(claims.iat, NOW / 1000);
    assert.equal(claims.nbf, NOW / 1000);
    assert.equal(claims.exp, NOW / 1000 + 600);
    assert.equal(claims.provider, 'kc');
    assert.equal(claims.client_id, 'frontend');
    assert.match(claims.jti, /^[0-9a-f-]{36}$/);
    assert.equal(result.token, `token-${claims.jti}`);
    assert.equal(result.expiresAt, NOW + 600_000);
  });

  it('sub: every placeholder of the template filled (the template is split once); account ids copied verbatim, "$&" and "{provider}" in them included', async () => {
    const weird = '$&{provider}$$`';
    const { exchange, signer } = setup({ subjectTemplate: 'u/{accountId}@{provider}/{accountId}{provider}', accountId: weird });
    await exchange.exchangeAccount(account({ providerAccountId: weird }));
    assert.equal(signer.signed[0]!.claims.sub, `u/${weird}@kc/${weird}kc`);
    const plain = setup({ subjectTemplate: '{accountId}' });
    await plain.exchange.exchangeAccount(account());
    assert.equal(plain.signer.signed[0]!.claims.sub, 'alice-1');
  });

  it('copies mapped claims; drops objects and oversized strings; upstream iss never overrides ours', async () => {
    const { exchange, signer } = setup();
    await exchange.exchangeAccount(account());
    const { claims } = signer.signed[0]!;
    assert.equal(claims.email, 'alice@example.com');
    assert.deepEqual(claims.roles, ['admin']);
    assert.ok(!('big' in claims) && !('obj' in claims));
    assert.equal(claims.iss, 'https://authjwt.example');
  });

  it('client_id falls back to the provider default when the upstream token names no client', async () => {
    const { exchange, signer } = setup({ provider: { verifier: tableVerifier({ good: { ...alice, clientId: undefined } }) } });
    await exchange.exchangeAccount(account());
    assert.equal(signer.signed[0]!.claims.client_id, 'kc');
  });

  const failures: [string, Partial<AccountInput> | null, string, string][] = [
    ['null account', null, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_MISSING_ACCOUNT'],
    ['unknown provider', { provider: 'gitlab' }, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_UNKNOWN_PROVIDER'],
    ['constructor as provider', { provider: 'constructor' }, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_UNKNOWN_PROVIDER'],
    ['provider id over 64 bytes', { provider: 'é'.repeat(33) }, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_INVALID_PROVIDER'],
    ['provider id with a control character', { provider: 'k\u0085c' }, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_INVALID_PROVIDER'],
    [
      'type not accepted by the provider (oidc to an oauth-only provider)',
      { provider: 'github', type: 'oidc', providerAccountId: 'alice-1' },
      'invalid_argument',
      'ERR_AUTHJWT_REQUEST_TYPE_MISMATCH',
    ],
    ['type neither oauth nor oidc', { type: 'email' }, 'invalid_argument', 'ERR_AUTHJWT_REQUEST_INVALID_TYPE'],
    [
      'empty access token (Auth.js access_token passed as-is)',
      { accessToken: '' },
      'invalid_argument',
      'ERR_AUTHJWT_REQUEST_MISSING_ACCESS_TOKEN',
    ],
    ['mismatched account', { providerAccountId: 'bob-2' }, 'unauthenticated', 'ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH'],
    ['account id differing in case', { providerAccountId: 'ALICE-1' }, 'unauthenticated', 'ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH'],
    ['rejected token', { accessToken: 'bad' }, 'unauthenticated', 'ERR_AUTHJWT_UPSTREAM_INVALID_TOKEN'],
    ['provider down', { accessToken: 'down' }, 'unavailable', 'ERR_AUTHJWT_PROVIDER_UNREACHABLE'],
  ];
  for (const [name, input, kind, code] of failures) {
    it(`${name} → ${kind} (${code})`, async () => {
      const { exchange } = setup();
      await assert.rejects(
        exchange.exchangeAccount(input === null ? null : account(input)),
        (e: AuthJwtError) => e.kind === kind && e.code === code,
      );
    });
  }

  it('next-auth v4 sends type "oauth" for an OIDC provider: accepted when the provider lists it', async () => {
    const { exchange } = setup();
    assert.equal((await exchange.exchangeAccount(account({ type: 'oauth' }))).provider, 'kc');
    const strict = setup({ provider: { accountTypes: ['oidc'] } });
    await assert.rejects(
      strict.exchange.exchangeAccount(account({ type: 'oauth' })),
      (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_REQUEST_TYPE_MISMATCH',
    );
  });

  it('failures after provider selection name the provider (metrics, ErrorInfo); validation happens before any provider call', async () => {
    const { exchange, verifier } = setup();
    await assert.rejects(exchange.exchangeAccount(account({ accessToken: 'down' })), (e: AuthJwtError) => e.metadata.provider === 'kc');
    const before = verifier.calls;
    await assert.rejects(exchange.exchangeAccount(account({ providerAccountId: '' })));
    await assert.rejects(exchange.exchangeAccount(account({ accessToken: 'has space' })));
    assert.equal(verifier.calls, before);
  });

  it('no signing key → unavailable', async () => {
    const { exchange } = setup({ signer: { sign: async () => Promise.reject(authJwtError('KEYS_NO_SIGNING_KEY')) } });
    await assert.rejects(exchange.exchangeAccount(account()), (e: AuthJwtError) => e.kind === 'unavailable');
  });

  it('capToUpstreamExpiry: exp is the upstream token expiry when sooner; an upstream token about to expire is refused', async () => {
    const { exchange, signer } = setup({ provider: { capToUpstreamExpiry: true } });
    await exchange.exchangeAccount(account());
    assert.equal(signer.signed[0]!.claims.exp, (NOW + 60_000) / 1000);
    const late = setup({
      provider: { capToUpstreamExpiry: true, verifier: tableVerifier({ good: { ...alice, expiresAt: NOW - 1_000 } }) },
    });
    await assert.rejects(late.exchange.exchangeAccount(account()), (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_UPSTREAM_EXPIRED');
  });
});

describe('TokenExchange policy step', () => {
  const policy = (decide: AccessPolicy['evaluate'], needs: AccessPolicy['needs'] = new Set()): AccessPolicy => ({
    needs,
    evaluate: decide,
  });

  it('allowed: computed claims join the token; registered claims still win', async () => {
    const { exchange, signer } = setup({
      provider: { policy: policy(() => ({ allowed: true, claims: { tenant: 'example.com', sub: 'forged' } })) },
    });
    await exchange.exchangeAccount(account());
    assert.equal(signer.signed[0]!.claims.tenant, 'example.com');
    assert.equal(signer.signed[0]!.claims.sub, 'kc:alice-1');
  });

  it('denied → PERMISSION_DENIED naming the rule, never a value; evaluation errors deny too', async () => {
    const denied = setup({ provider: { policy: policy(() => ({ allowed: false, rule: 'engineers', reason: 'denied' })) } });
    await assert.rejects(
      denied.exchange.exchangeAccount(account()),
      (e: AuthJwtError) =>
        e.kind === 'permission_denied' &&
        e.code === 'ERR_AUTHJWT_POLICY_DENIED' &&
        e.metadata.rule === 'engineers' &&
        !e.message.includes('alice'),
    );
    const broken = setup({
      provider: { policy: policy(() => ({ allowed: false, rule: 'allow[0]', reason: 'error', detail: 'no such key' })) },
    });
    await assert.rejects(broken.exchange.exchangeAccount(account()), (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_POLICY_ERROR');
  });

  it('the policy sees claims, the account and only the lookups it needs; a refused lookup denies', async () => {
    let seen: unknown;
    const withLookups = { ...alice, lookups: { 'github.orgs': ['acme'], 'github.teams': LOOKUP_FORBIDDEN } as const };
    const p = policy(
      (input) => {
        seen = input;
        return { allowed: true, claims: {} };
      },
      new Set(['github.orgs'] as const),
    );
    const { exchange } = setup({ provider: { policy: p, verifier: tableVerifier({ good: withLookups }) } });
    await exchange.exchangeAccount(account());
    assert.deepEqual(seen, { claims: alice.claims, account: { provider: 'kc', id: 'alice-1' }, lookups: { 'github.orgs': ['acme'] } });
    const needsTeams = setup({
      provider: {
        policy: policy(() => ({ allowed: true, claims: {} }), new Set(['github.teams'] as const)),
        verifier: tableVerifier({ good: withLookups }),
      },
    });
    await assert.rejects(
      needsTeams.exchange.exchangeAccount(account()),
      (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_POLICY_LOOKUP_FORBIDDEN',
    );
    // The refused lookup is left out; the policy names the rule that needed it; the log detail names the scope.
    let given: unknown;
    const naming = setup({
      provider: {
        policy: policy(
          (input) => {
            given = input.lookups;
            return { allowed: false, rule: 'team-members', reason: 'error', detail: 'lookup_missing' };
          },
          new Set(['github.orgs', 'github.teams'] as const),
        ),
        verifier: tableVerifier({ good: withLookups }),
      },
    });
    await assert.rejects(
      naming.exchange.exchangeAccount(account()),
      (e: AuthJwtError) =>
        e.code === 'ERR_AUTHJWT_POLICY_LOOKUP_FORBIDDEN' &&
        e.metadata.rule === 'team-members' &&
        e.metadata.lookup === 'github.teams' &&
        e.detail === 'rule team-members: the provider refused github.teams (403/404): the token lacks the read:org scope',
    );
    assert.deepEqual(given, { 'github.orgs': ['acme'] });
  });
});

describe('TokenExchange.exchangeBearer (edge, token endpoint)', () => {
  it('chooses the provider by the JWT iss, else the hint, else the default; none → REQUEST_NO_PROVIDER', async () => {
    const jwt = jwtWithIssuer('https://sso.example/realms/main');
    const { exchange } = setup({ provider: { verifier: tableVerifier({ [jwt]: alice, opaque: alice }) } });
    assert.equal((await exchange.exchangeBearer({ token: jwt, providerHint: 'github' })).provider, 'kc', 'iss wins over the hint');
    assert.equal((await exchange.exchangeBearer({ token: 'opaque', providerHint: 'kc' })).provider, 'kc');
    assert.equal((await exchange.exchangeBearer({ token: 'opaque', defaultProvider: 'kc' })).provider, 'kc');
    await assert.rejects(exchange.exchangeBearer({ token: 'opaque' }), (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_REQUEST_NO_PROVIDER');
    await assert.rejects(
      exchange.exchangeBearer({ token: 'opaque', providerHint: '__proto__' }),
      (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_REQUEST_UNKNOWN_PROVIDER',
    );
    await assert.rejects(
      exchange.exchangeBearer({ token: 'opaque', provider: 'nope', defaultProvider: 'kc' }),
      (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_REQUEST_UNKNOWN_PROVIDER',
    );
    // A named provider (subject_issuer, header, route) follows the same id rules as GetJWT's account.provider.
    for (const input of [
      { token: 'opaque', provider: 'x'.repeat(65) },
      { token: 'opaque', providerHint: 'k\u0000c' },
      { token: 'opaque', defaultProvider: 'k\u2028c' },
    ]) {
      await assert.rejects(exchange.exchangeBearer(input), (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_REQUEST_INVALID_PROVIDER');
    }
  });

  it('the token names the account (no binding); the audience can be narrowed within the provider audience only', async () => {
    const { exchange, signer } = setup({ provider: { verifier: tableVerifier({ opaque: alice }) } });
    await exchange.exchangeBearer({ token: 'opaque', defaultProvider: 'kc', audience: ['svc-b'] });
    assert.equal(signer.signed[0]!.claims.aud, 'svc-b');
    assert.equal(signer.signed[0]!.claims.sub, 'kc:alice-1');
    await assert.rejects(
      exchange.exchangeBearer({ token: 'opaque', defaultProvider: 'kc', audience: ['svc-z'] }),
      (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_REQUEST_INVALID_AUDIENCE',
    );
  });

  it('reuses a minted token for the same subject token and claims when asked (no second signature)', async () => {
    const store = new Map<string, Parameters<MintedTokenCache['set']>[1]>();
    const minted: MintedTokenCache = { get: (k) => store.get(k), set: (k, v) => void store.set(k, v) };
    const { exchange, signer } = setup({
      minted,
      provider: { verifier: tableVerifier({ opaque: alice, other: { ...alice, accountId: 'bob' } }) },
    });
    const first = await exchange.exchangeBearer({ token: 'opaque', defaultProvider: 'kc' }, { reuseMinted: true });
    const second = await exchange.exchangeBearer({ token: 'opaque', defaultProvider: 'kc' }, { reuseMinted: true });
    assert.equal(second.token, first.token);
    assert.equal(second.reused, true);
    assert.equal(signer.signed.length, 1);
    assert.ok(![...store.keys()].some((k) => k.includes('opaque')), 'keys are digests, never the token');
    await exchange.exchangeBearer({ token: 'other', defaultProvider: 'kc' }, { reuseMinted: true });
    await exchange.exchangeBearer({ token: 'opaque', defaultProvider: 'kc' });
    assert.equal(signer.signed.length, 3, 'another token, or reuse not asked for: a new signature');
    await exchange.exchangeBearer({ token: 'opaque', defaultProvider: 'kc', audience: ['svc-b'] }, { reuseMinted: true });
    assert.equal(signer.signed.length, 4, 'the same token for another audience: a new signature');
  });

  it("once the caller's signal fired, the exchange fails with the signal's reason (naming the provider), whatever the abandoned step threw", async () => {
    const hanging: TokenVerifier = {
      verify: (_token, options) =>
        new Promise((_resolve, reject) => options?.signal?.addEventListener('abort', () => reject(authJwtError('PROVIDER_UNREACHABLE')))),
    };
    const { exchange } = setup({ provider: { verifier: hanging } });
    const controller = new AbortController();
    const pending = exchange.exchangeBearer({ token: 'opaque', defaultProvider: 'kc' }, { signal: controller.signal });
    controller.abort(authJwtError('DEADLINE'));
    await assert.rejects(pending, (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_DEADLINE' && e.metadata.provider === 'kc');
  });
});
