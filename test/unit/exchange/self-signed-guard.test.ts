/**
 * Issue 22: a `selfSigned` provider (self-signed workload JWTs) is reached only through the token
 * endpoint with `subject_token_type …:self_signed` (BearerInput.selfSigned), and such a declaration is
 * verified only by a `selfSigned` provider — at every door of the exchange use case, on port fakes. The
 * subject token's scopes reach the policy (PolicyInput.scopes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authJwtError, type AuthJwtError } from '../../../src/errors.ts';
import type { AccessPolicy, ExchangeProvider, PolicyInput, VerifiedIdentity } from '../../../src/exchange/ports.ts';
import { TokenExchange } from '../../../src/exchange/token-exchange.ts';

const NOW = Date.UTC(2026, 11, 8, 6, 0, 0);
const identity = (accountId: string, scopes: readonly string[] | undefined): VerifiedIdentity => ({
  accountId,
  claims: { sub: accountId },
  expiresAt: NOW + 60_000,
  clientId: 'c',
  strategy: 'self-signed',
  scopes,
});

function setup() {
  const seen: PolicyInput[] = [];
  const policy: AccessPolicy = {
    needs: new Set(),
    evaluate: (input) => {
      seen.push(input);
      return { allowed: true, claims: {} };
    },
  };
  const verifier = {
    calls: 0,
    async verify(token: string) {
      verifier.calls++;
      if (token === 'ss-token') return identity('spiffe://w', ['orders.read']);
      if (token === 'at-token') return { ...identity('alice', undefined), strategy: 'jwt' as const };
      throw authJwtError('UPSTREAM_INVALID_TOKEN');
    },
  };
  const base = {
    accountTypes: ['oidc', 'oauth'],
    verifier,
    policy,
    claimPaths: {},
    audience: ['svc'],
    tokenTtl: 600_000,
    capToUpstreamExpiry: false,
  };
  const providers: Record<string, ExchangeProvider> = {
    workloads: { ...base, id: 'workloads', issuer: undefined, defaultClientId: 'workloads', selfSigned: true },
    kc: { ...base, id: 'kc', issuer: 'https://sso.example', defaultClientId: 'kc' },
  };
  const exchange = new TokenExchange({
    providers: { get: (id) => (Object.hasOwn(providers, id) ? providers[id] : undefined), byIssuer: () => undefined },
    signer: { sign: async (claims) => ({ token: `t-${claims.jti}`, kid: 'k', alg: 'ES256' }) },
    settings: {
      issuer: 'https://authjwt.example',
      subjectTemplate: '{provider}:{accountId}',
      tokenType: 'at+jwt',
      limits: { maxAccessTokenBytes: 8192, maxAccountIdBytes: 256 },
    },
    clock: () => NOW,
  });
  return { exchange, verifier, seen };
}

const refused = (e: AuthJwtError) => {
  assert.equal(e.code, 'ERR_AUTHJWT_REQUEST_SELF_SIGNED_NOT_ACCEPTED');
  assert.equal(e.kind, 'invalid_argument');
  return true;
};

describe('selfSigned providers only where declared (issue 22)', () => {
  it('declared …:self_signed with the selfSigned provider: minted; the policy sees the scopes', async () => {
    const { exchange, seen } = setup();
    const result = await exchange.exchangeBearer({ token: 'ss-token', provider: 'workloads', selfSigned: true });
    assert.equal(result.claims.sub, 'workloads:spiffe://w');
    assert.deepEqual(seen.at(-1)?.scopes, ['orders.read']);
  });
  it('undetermined scopes are absent from the policy input (never an empty "all")', async () => {
    const { exchange, seen } = setup();
    await exchange.exchangeBearer({ token: 'at-token', provider: 'kc' });
    assert.equal(Object.hasOwn(seen.at(-1)!, 'scopes'), false);
  });
  it('GetJWT naming a selfSigned provider → REQUEST_SELF_SIGNED_NOT_ACCEPTED, nothing verified', async () => {
    const { exchange, verifier } = setup();
    await assert.rejects(
      exchange.exchangeAccount({ provider: 'workloads', type: 'oidc', providerAccountId: 'spiffe://w', accessToken: 'ss-token' }),
      refused,
    );
    assert.equal(verifier.calls, 0);
  });
  it('the edge (a gateway provider header) or the token endpoint with another type naming it → refused, nothing verified', async () => {
    const { exchange, verifier } = setup();
    await assert.rejects(exchange.exchangeBearer({ token: 'ss-token', providerHint: 'workloads' }), refused);
    await assert.rejects(exchange.exchangeBearer({ token: 'ss-token', provider: 'workloads' }), refused);
    assert.equal(verifier.calls, 0);
  });
  it('declared …:self_signed but another kind of provider → refused, nothing verified', async () => {
    const { exchange, verifier } = setup();
    await assert.rejects(exchange.exchangeBearer({ token: 'at-token', provider: 'kc', selfSigned: true }), refused);
    assert.equal(verifier.calls, 0);
  });
  it('an opaque actor_token falls to the subject’s provider: a selfSigned one never verifies an actor', async () => {
    const { exchange } = setup();
    await assert.rejects(
      exchange.exchangeBearer({
        token: 'ss-token',
        provider: 'workloads',
        selfSigned: true,
        actorToken: { token: 'ss-token', jwt: false },
      }),
      (e: AuthJwtError) => refused(e) && e.metadata.token === 'actor',
    );
  });
});
