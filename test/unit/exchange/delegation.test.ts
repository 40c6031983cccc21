/**
 * RFC 8693 delegation in the exchange use case (src/exchange/delegation.ts, TokenExchange.delegate), on
 * port fakes: the subject token's `act` survives, an actor is nested in front of it, `may_act` admits
 * only the actors it names and is never exchanged without one — through exchangeAccount (GetJWT) and
 * exchangeBearer (edge doors, token endpoint) alike.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthJwtError, authJwtError } from '../../../src/errors.ts';
import { mayActAdmits, nestAct, readAct, readMayAct } from '../../../src/exchange/delegation.ts';
import {
  ANONYMOUS_CALLER,
  type AccessPolicy,
  type Caller,
  type ExchangeProvider,
  type MintedClaims,
  type PolicyInput,
  type VerifiedIdentity,
} from '../../../src/exchange/ports.ts';
import { TokenExchange, type DelegationActorSource } from '../../../src/exchange/token-exchange.ts';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const KC = 'https://sso.example/realms/main';
const AUTHJWT = 'https://authjwt.example';

const user = (claims: Record<string, unknown> = {}, over: Partial<VerifiedIdentity> = {}): VerifiedIdentity => ({
  accountId: 'alice-1',
  claims: { sub: 'alice-1', ...claims },
  expiresAt: NOW + 600_000,
  clientId: 'frontend',
  strategy: 'jwt',
  ...over,
});
const service = (
  accountId: string,
  clientId: string,
  claims: Record<string, unknown> = {},
  expiresAt = NOW + 600_000,
): VerifiedIdentity => ({
  accountId,
  claims: { sub: accountId, ...claims },
  expiresAt,
  clientId,
  strategy: 'jwt',
});

const TOKENS: Record<string, VerifiedIdentity> = {
  user: user(),
  'user-with-act': user({ act: { sub: 'svc-gateway', client_id: 'gw', extra: 'dropped' } }),
  'user-may-act-orders': user({ may_act: { sub: 'svc-orders' } }),
  'user-may-act-billing': user({ may_act: { sub: 'svc-billing' } }),
  'user-may-act-client': user({ may_act: { client_id: 'orders-app' } }),
  'user-may-act-other-issuer': user({ may_act: { sub: 'svc-orders', iss: 'https://other.example' } }),
  'user-may-act-authjwt-name': user({ may_act: { sub: 'kc:svc-orders', iss: AUTHJWT } }),
  'user-may-act-spiffe': user({ may_act: { sub: 'spiffe://cluster.local/ns/orders/sa/orders' } }),
  'user-may-act-nobody': user({ may_act: { aud: 'x' } }),
  'user-bad-act': user({ act: 'svc-gateway' }),
  'user-with-act-and-may-act': user({ act: { sub: 'svc-gateway' }, may_act: { sub: 'svc-orders' } }),
  'svc-orders': service('svc-orders', 'orders-app'),
  'svc-orders-short': service('svc-orders', 'orders-app', {}, NOW + 60_000),
  'svc-with-act': service('svc-orders', 'orders-app', { act: { sub: 'svc-x' } }),
  'svc-billing': service('svc-billing', 'billing-app'),
  'gh-user': {
    accountId: '583231',
    claims: { id: 583231, may_act: { sub: 'x' }, act: { sub: 'y' } },
    expiresAt: undefined,
    clientId: undefined,
    strategy: 'user-api',
  },
  'ui-user': {
    ...user({ may_act: 'answer of userinfo: not token claims' }),
    strategy: 'userinfo',
    delegation: { act: undefined, mayAct: { sub: 'svc-orders' } },
  },
};

function nested(depth: number): Record<string, unknown> {
  let act: Record<string, unknown> = { sub: `a${depth}` };
  for (let i = depth - 1; i >= 1; i--) act = { sub: `a${i}`, act };
  return act;
}
TOKENS['user-act-7'] = user({ act: nested(7) });
TOKENS['user-act-9'] = user({ act: nested(9) });

function setup(options: { actor?: DelegationActorSource; policy?: AccessPolicy; capToUpstreamExpiry?: boolean } = {}) {
  const verifier = {
    async verify(token: string) {
      const found = TOKENS[token];
      if (!found) throw authJwtError('UPSTREAM_EXPIRED');
      return found;
    },
  };
  const base = { accountTypes: ['oidc', 'oauth'], verifier, claimPaths: {}, audience: ['svc'], tokenTtl: 600_000, defaultClientId: 'x' };
  const kc: ExchangeProvider = {
    ...base,
    id: 'kc',
    issuer: KC,
    policy: options.policy,
    capToUpstreamExpiry: options.capToUpstreamExpiry ?? false,
  };
  const gh: ExchangeProvider = { ...base, id: 'github', issuer: undefined, policy: undefined, capToUpstreamExpiry: false };
  const providers = new Map([kc, gh].map((p) => [p.id, p]));
  const signed: MintedClaims[] = [];
  const exchange = new TokenExchange({
    providers: { get: (id) => providers.get(id), byIssuer: (iss) => [...providers.values()].find((p) => p.issuer === iss) },
    signer: {
      async sign(claims) {
        signed.push(claims);
        return { token: `t-${claims.jti}`, kid: 'k1', alg: 'ES256' };
      },
    },
    settings: {
      issuer: AUTHJWT,
      subjectTemplate: '{provider}:{accountId}',
      tokenType: 'at+jwt',
      limits: { maxAccessTokenBytes: 100, maxAccountIdBytes: 100 },
      delegationActor: options.actor,
    },
    clock: () => NOW,
  });
  const bearer = (token: string, actorToken?: string, caller?: Caller, provider = 'kc') =>
    exchange.exchangeBearer({ token, provider, actorToken: actorToken ? { token: actorToken, jwt: false } : undefined, caller });
  return { exchange, signed, bearer };
}

const code = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (e) {
    return (e as AuthJwtError).code;
  }
  return 'ok';
};

const mesh: Caller = {
  kind: 'tls_client_auth',
  id: 'orders',
  subject: 'spiffe://cluster.local/ns/orders/sa/orders',
  issuer: '',
  spiffeId: 'spiffe://cluster.local/ns/orders/sa/orders',
  namespace: 'orders',
  serviceAccount: 'orders',
};

describe('delegation: act (RFC 8693 §4.1)', () => {
  it('no actor and no act: the minted token carries no act', async () => {
    const { bearer, signed } = setup();
    const result = await bearer('user');
    assert.equal(signed[0]!.act, undefined);
    assert.equal(result.actor, undefined);
  });

  it('an actor token: act names the actor in authjwt’s subject namespace, with the client it was issued to', async () => {
    const { bearer, signed } = setup();
    const result = await bearer('user', 'svc-orders');
    assert.equal(signed[0]!.sub, 'kc:alice-1', 'the subject stays the user');
    assert.deepEqual(signed[0]!.act, { sub: 'kc:svc-orders', client_id: 'orders-app' });
    assert.equal(result.actor, 'kc:svc-orders');
  });

  it('regression keycloak#53029: a subject token’s act survives an exchange without an actor (iss of its issuer added), on every door', async () => {
    const { exchange, bearer, signed } = setup();
    const result = await bearer('user-with-act');
    const expected = { sub: 'svc-gateway', iss: KC, client_id: 'gw' };
    assert.deepEqual(signed[0]!.act, expected, 'kept; unknown members dropped');
    assert.equal(result.actor, 'svc-gateway', 'reported (logs, traces) by id');
    await exchange.exchangeAccount({ provider: 'kc', type: 'oidc', providerAccountId: 'alice-1', accessToken: 'user-with-act' });
    assert.deepEqual(signed[1]!.act, expected, 'GetJWT keeps it too');
  });

  it('a subject token’s act is nested under a new actor (the prior actor, RFC 8693 §4.1)', async () => {
    const { bearer, signed } = setup();
    await bearer('user-with-act', 'svc-orders');
    assert.deepEqual(signed[0]!.act, {
      sub: 'kc:svc-orders',
      client_id: 'orders-app',
      act: { sub: 'svc-gateway', iss: KC, client_id: 'gw' },
    });
  });

  it('an actor token that itself carries act: its chain is nested under it', async () => {
    const { bearer, signed } = setup();
    await bearer('user', 'svc-with-act');
    assert.deepEqual(signed[0]!.act, { sub: 'kc:svc-orders', client_id: 'orders-app', act: { sub: 'svc-x', iss: KC } });
  });

  it('both the subject and the actor carry a chain → DELEGATION_AMBIGUOUS_CHAIN (two chains are not merged)', async () => {
    assert.equal(await code(setup().bearer('user-with-act', 'svc-with-act')), 'ERR_AUTHJWT_DELEGATION_AMBIGUOUS_CHAIN');
  });

  it('chains are bounded: 7 prior actors + 1 is accepted, 9 are refused (DELEGATION_INVALID_CLAIM)', async () => {
    const { bearer, signed } = setup();
    await bearer('user-act-7', 'svc-orders');
    let depth = 0;
    for (let a = signed[0]!.act as { act?: unknown } | undefined; a; a = a.act as { act?: unknown } | undefined) depth++;
    assert.equal(depth, 8);
    assert.equal(await code(bearer('user-act-9')), 'ERR_AUTHJWT_DELEGATION_INVALID_CLAIM');
    assert.equal(await code(bearer('user-bad-act')), 'ERR_AUTHJWT_DELEGATION_INVALID_CLAIM');
  });

  it('the actor token is verified like a subject token: its failure is named (ErrorInfo token=actor, its provider)', async () => {
    try {
      await setup().bearer('user', 'unknown-actor-token');
      assert.fail('accepted');
    } catch (e) {
      assert.equal((e as AuthJwtError).code, 'ERR_AUTHJWT_UPSTREAM_EXPIRED');
      assert.deepEqual((e as AuthJwtError).metadata, { provider: 'kc', token: 'actor' });
    }
  });

  it('capToUpstreamExpiry: a delegated token lives no longer than the actor token', async () => {
    const { bearer, signed } = setup({ capToUpstreamExpiry: true });
    await bearer('user', 'svc-orders-short');
    assert.equal(signed[0]!.exp, Math.floor((NOW + 60_000) / 1000));
  });
});

describe('delegation: may_act (RFC 8693 §4.4)', () => {
  it('regression keycloak#52691: a subject token with may_act and no actor is refused on every door, never downgraded to impersonation', async () => {
    const { exchange, bearer, signed } = setup();
    const getJwt = exchange.exchangeAccount({
      provider: 'kc',
      type: 'oidc',
      providerAccountId: 'alice-1',
      accessToken: 'user-may-act-orders',
    });
    assert.equal(await code(getJwt), 'ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED');
    // Edge doors (ext_authz, forward-auth) and the token endpoint: exchangeBearer, without and with reuse.
    assert.equal(await code(bearer('user-may-act-orders')), 'ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED');
    assert.equal(
      await code(exchange.exchangeBearer({ token: 'user-may-act-orders', defaultProvider: 'kc' }, { reuseMinted: true })),
      'ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED',
    );
    assert.equal(signed.length, 0, 'nothing was minted');
  });

  const cases: [string, string, string | Caller, DelegationActorSource, string][] = [
    ['the actor may_act names (sub in the subject issuer’s namespace)', 'user-may-act-orders', 'svc-orders', 'token', 'ok'],
    ['another actor', 'user-may-act-billing', 'svc-orders', 'token', 'ERR_AUTHJWT_DELEGATION_ACTOR_NOT_ALLOWED'],
    ['may_act by client_id', 'user-may-act-client', 'svc-orders', 'token', 'ok'],
    ['may_act by client_id, another client', 'user-may-act-client', 'svc-billing', 'token', 'ERR_AUTHJWT_DELEGATION_ACTOR_NOT_ALLOWED'],
    [
      'may_act of another issuer (same sub)',
      'user-may-act-other-issuer',
      'svc-orders',
      'token',
      'ERR_AUTHJWT_DELEGATION_ACTOR_NOT_ALLOWED',
    ],
    ['may_act in authjwt’s namespace (iss = authjwt)', 'user-may-act-authjwt-name', 'svc-orders', 'token', 'ok'],
    ['may_act naming nobody (no sub, no client_id)', 'user-may-act-nobody', 'svc-orders', 'token', 'ERR_AUTHJWT_DELEGATION_INVALID_CLAIM'],
    ['a SPIFFE ID in may_act, the caller with that SPIFFE ID acts', 'user-may-act-spiffe', mesh, 'caller', 'ok'],
    [
      'a SPIFFE ID in may_act, another caller',
      'user-may-act-spiffe',
      { ...mesh, spiffeId: 'spiffe://cluster.local/ns/x/sa/y' },
      'caller',
      'ERR_AUTHJWT_DELEGATION_ACTOR_NOT_ALLOWED',
    ],
    [
      'a SPIFFE ID in may_act, caller as actor but anonymous',
      'user-may-act-spiffe',
      ANONYMOUS_CALLER,
      'caller',
      'ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED',
    ],
    ['may_act and act together: the named actor is accepted', 'user-with-act-and-may-act', 'svc-orders', 'token', 'ok'],
  ];
  for (const [name, subject, actor, source, expected] of cases) {
    it(`${name} → ${expected}`, async () => {
      const { bearer } = setup({ actor: source });
      const result = typeof actor === 'string' ? bearer(subject, actor) : bearer(subject, undefined, actor);
      assert.equal(await code(result), expected);
    });
  }

  it('a user-API provider’s JSON is not token claims: may_act / act there are ignored', async () => {
    const { bearer, signed } = setup();
    await bearer('gh-user', undefined, undefined, 'github');
    assert.equal(signed[0]!.act, undefined);
  });

  it('userinfo: the token’s own claims (VerifiedIdentity.delegation) count, not the userinfo answer', async () => {
    assert.equal(await code(setup().bearer('ui-user')), 'ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED');
    assert.equal(await code(setup().bearer('ui-user', 'svc-orders')), 'ok');
  });
});

describe('delegation: where the actor comes from (tokenEndpoint.delegation.actor)', () => {
  it('caller: the authenticated client acts (act names its SPIFFE ID and client id); anonymous callers never act', async () => {
    const { bearer, signed } = setup({ actor: 'caller' });
    await bearer('user', undefined, mesh);
    assert.deepEqual(signed[0]!.act, { sub: 'spiffe://cluster.local/ns/orders/sa/orders', client_id: 'orders' });
    await bearer('user', undefined, ANONYMOUS_CALLER);
    assert.equal(signed[1]!.act, undefined);
    const federated: Caller = {
      ...mesh,
      kind: 'federated_jwt',
      subject: 'system:serviceaccount:orders:orders',
      issuer: 'https://k8s.example',
      spiffeId: '',
    };
    await bearer('user', undefined, federated);
    assert.deepEqual(signed[2]!.act, { sub: 'system:serviceaccount:orders:orders', iss: 'https://k8s.example', client_id: 'orders' });
  });

  it('caller or none: an actor_token is refused before anything is verified (TOKEN_REQUEST_ACTOR_NOT_ACCEPTED)', async () => {
    for (const actor of ['caller', 'none'] as const) {
      const { bearer, signed } = setup({ actor });
      assert.equal(await code(bearer('user', 'svc-orders', mesh)), 'ERR_AUTHJWT_TOKEN_REQUEST_ACTOR_NOT_ACCEPTED');
      assert.equal(signed.length, 0);
    }
  });

  it('token (the default): the caller is not an actor; policy sees caller and actor', async () => {
    const seen: PolicyInput[] = [];
    const policy: AccessPolicy = {
      needs: new Set(),
      evaluate: (input) => {
        seen.push(input);
        return { allowed: true, claims: {} };
      },
    };
    const { bearer, signed } = setup({ policy });
    await bearer('user', 'svc-orders', mesh);
    assert.deepEqual(seen[0]!.caller, mesh);
    assert.deepEqual(seen[0]!.actor, { kind: 'token', sub: 'kc:svc-orders', iss: '', provider: 'kc', clientId: 'orders-app' });
    assert.deepEqual(signed[0]!.act, { sub: 'kc:svc-orders', client_id: 'orders-app' }, 'the caller did not become the actor');
    await bearer('user');
    assert.equal(seen[1]!.caller, undefined, 'anonymous: absent (the policy module reads it as kind none)');
    assert.equal(seen[1]!.actor, undefined);
  });
});

/** An assert.throws matcher: DELEGATION_INVALID_CLAIM with a detail (logs) matching `pattern`. */
const detail = (pattern: RegExp) => (e: unknown) =>
  e instanceof AuthJwtError && e.code === 'ERR_AUTHJWT_DELEGATION_INVALID_CLAIM' && pattern.test(e.detail ?? '');

describe('delegation claims (src/exchange/delegation.ts)', () => {
  it('readAct rebuilds identity members only, refuses non-objects, non-strings and depth over 8', () => {
    assert.deepEqual(readAct({ sub: 'a', iss: 'i', client_id: 'c', aud: 'x', act: { sub: 'b' } }, undefined), {
      sub: 'a',
      iss: 'i',
      client_id: 'c',
      act: { sub: 'b' },
    });
    for (const bad of [null, [], 'a', { iss: 'i' }, { sub: 1 }, { sub: '' }, { sub: 'x'.repeat(513) }, { sub: 'a', act: 'b' }, nested(9)])
      assert.throws(() => readAct(bad, undefined), detail(/^(act[ .]|the delegation)/), JSON.stringify(bad).slice(0, 60));
    assert.equal(readAct(undefined, 'i'), undefined);
    // An own "__proto__" member is data, never a prototype: it is dropped like any unknown member.
    assert.deepEqual(readAct(JSON.parse('{"sub":"a","__proto__":{"act":{"sub":"evil"}}}'), undefined), { sub: 'a' });
  });

  it('readMayAct needs sub or client_id; mayActAdmits compares every member it sets against one name', () => {
    assert.throws(() => readMayAct({ iss: 'i' }), detail(/names neither sub nor client_id/));
    const names = [{ sub: 'svc', iss: KC, clientId: 'app' }];
    assert.equal(mayActAdmits(readMayAct({ sub: 'svc' })!, KC, names), true);
    assert.equal(mayActAdmits(readMayAct({ sub: 'svc', client_id: 'other' })!, KC, names), false);
    assert.equal(mayActAdmits(readMayAct({ sub: 'svc' })!, undefined, names), false, 'no issuer known: never a match');
    assert.throws(() => nestAct({ sub: 'now' }, readAct(nested(8), undefined)), detail(/deeper than 8/));
  });
});
