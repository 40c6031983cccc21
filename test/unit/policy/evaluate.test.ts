import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy, type EvaluationInput, type LookupName, type PolicyDecision, type PolicySource } from '../../../src/policy/index.ts';

const GITHUB: LookupName[] = ['github.orgs', 'github.teams'];
const GITLAB: LookupName[] = ['gitlab.groups'];

const input = (claims: Record<string, unknown>, extra: Partial<EvaluationInput> = {}): EvaluationInput => ({
  claims,
  account: { provider: 'p', id: '42' },
  lookups: {},
  ...extra,
});
const run = (source: PolicySource, lookups: LookupName[], i: EvaluationInput, limits?: object): PolicyDecision =>
  compilePolicy(source, { path: 'p', lookups, ...(limits ? { limits } : {}) }).evaluate(i);
const DENIED = { allowed: false, rule: 'allow[0]', reason: 'denied' } as const;
const errorOf = (detail: string, rule = 'allow[0]') => ({ allowed: false, rule, reason: 'error', detail });
const ALLOWED = { allowed: true, claims: {} };

/** Results compared structurally: the allowed claims object has a null prototype. */
const plain = (d: PolicyDecision) => JSON.parse(JSON.stringify(d)) as unknown;

describe('recipes of the policy guide (negative cases first)', () => {
  const recipes: { recipe: string; source: PolicySource; lookups: LookupName[]; cases: [string, EvaluationInput, object][] }[] = [
    {
      recipe: 'GitHub org',
      source: { allow: "github.orgs.exists(o, o == 'acme')" },
      lookups: GITHUB,
      cases: [
        ['member of other orgs only', input({ login: 'mallory' }, { lookups: { 'github.orgs': ['acme-evil', 'foo'] } }), DENIED],
        ['member of no org', input({ login: 'mallory' }, { lookups: { 'github.orgs': [] } }), DENIED],
        ['member of acme', input({ login: 'octocat' }, { lookups: { 'github.orgs': ['foo', 'acme'] } }), ALLOWED],
      ],
    },
    {
      recipe: 'GitHub team',
      source: { allow: "'acme/platform' in github.teams" },
      lookups: GITHUB,
      cases: [
        ['team of another org with the same slug', input({}, { lookups: { 'github.teams': ['evil/platform'] } }), DENIED],
        ['in acme/platform', input({}, { lookups: { 'github.teams': ['acme/dev', 'acme/platform'] } }), ALLOWED],
      ],
    },
    {
      recipe: 'email domain with email_verified',
      source: { allow: "claims.email.endsWith('@example.com') && claims.email_verified == true" },
      lookups: [],
      cases: [
        ['unverified', input({ email: 'alice@example.com', email_verified: false }), DENIED],
        ['verified flag as a string', input({ email: 'alice@example.com', email_verified: 'true' }), DENIED],
        ['look-alike domain', input({ email: 'alice@example.com.evil.io', email_verified: true }), DENIED],
        ['subdomain-free suffix trick', input({ email: 'alice@notexample.com', email_verified: true }), DENIED],
        ['no email at all: fails closed', input({ email_verified: true }), errorOf('no_such_key')],
        ['verified at example.com', input({ email: 'alice@example.com', email_verified: true }), ALLOWED],
      ],
    },
    {
      recipe: 'Keycloak group',
      source: { allow: "'engineering' in claims.groups" },
      lookups: [],
      cases: [
        ['in other groups', input({ groups: ['sales', 'engineering-alumni'] }), DENIED],
        ['no groups claim (mapper missing): fails closed', input({}), errorOf('no_such_key')],
        ['groups claim of the wrong type (a string): fails closed', input({ groups: 'engineering' }), errorOf('no_such_overload')],
        ['in engineering', input({ groups: ['engineering'] }), ALLOWED],
      ],
    },
    {
      recipe: 'Keycloak realm role',
      source: { allow: "'deployer' in claims.realm_access.roles" },
      lookups: [],
      cases: [
        ['other roles', input({ realm_access: { roles: ['offline_access'] } }), DENIED],
        ['no realm_access', input({}), errorOf('no_such_key')],
        ['deployer', input({ realm_access: { roles: ['offline_access', 'deployer'] } }), ALLOWED],
      ],
    },
    {
      recipe: 'Keycloak client role',
      source: { allow: "'admin' in claims.resource_access['my-client'].roles" },
      lookups: [],
      cases: [
        ['admin of another client', input({ resource_access: { other: { roles: ['admin'] } } }), errorOf('no_such_key')],
        ['no admin role', input({ resource_access: { 'my-client': { roles: ['viewer'] } } }), DENIED],
        ['admin of my-client', input({ resource_access: { 'my-client': { roles: ['admin'] } } }), ALLOWED],
      ],
    },
    {
      recipe: 'Keycloak client role, absent roles denied rather than errors',
      source: { allow: "'admin' in claims.?resource_access[?'my-client'].?roles.orValue([])" },
      lookups: [],
      cases: [
        ['no resource_access', input({}), DENIED],
        ['admin of another client', input({ resource_access: { other: { roles: ['admin'] } } }), DENIED],
        ['admin of my-client', input({ resource_access: { 'my-client': { roles: ['admin'] } } }), ALLOWED],
      ],
    },
    {
      recipe: 'GitLab group (and its subgroups)',
      source: { allow: "gitlab.groups.exists(g, g == 'acme' || g.startsWith('acme/'))" },
      lookups: GITLAB,
      cases: [
        ['look-alike group', input({}, { lookups: { 'gitlab.groups': ['acme-evil', 'acmeco/acme'] } }), DENIED],
        ['subgroup', input({}, { lookups: { 'gitlab.groups': ['foo', 'acme/platform/infra'] } }), ALLOWED],
        ['group', input({}, { lookups: { 'gitlab.groups': ['acme'] } }), ALLOWED],
      ],
    },
    {
      recipe: 'deny a list of accounts',
      source: { allow: "!(account.id in ['1', '2'])" },
      lookups: [],
      cases: [
        ['account 1', input({}, { account: { provider: 'p', id: '1' } }), DENIED],
        ['account 2', input({}, { account: { provider: 'p', id: '2' } }), DENIED],
        ['account 12 (no prefix match)', input({}, { account: { provider: 'p', id: '12' } }), ALLOWED],
      ],
    },
  ];
  for (const r of recipes) {
    describe(r.recipe, () => {
      const policy = compilePolicy(r.source, { path: 'p', lookups: r.lookups });
      for (const [name, i, expected] of r.cases) {
        it(name, () => assert.deepEqual(plain(policy.evaluate(i)), expected));
      }
    });
  }
});

describe('rules run in order; the first that does not hold is named', () => {
  const policy = compilePolicy(
    { allow: ['claims.email_verified == true', { name: 'staff', expression: "'staff' in claims.groups" }, 'claims.suspended == false'] },
    { path: 'p', lookups: [] },
  );
  const cases: [string, Record<string, unknown>, object][] = [
    ['first fails', { email_verified: false, groups: ['staff'], suspended: false }, DENIED],
    ['named rule fails', { email_verified: true, groups: [], suspended: false }, { allowed: false, rule: 'staff', reason: 'denied' }],
    ['third errors (missing key)', { email_verified: true, groups: ['staff'] }, errorOf('no_such_key', 'allow[2]')],
    ['an error after a failure is not reached', { email_verified: false }, DENIED],
    ['all hold', { email_verified: true, groups: ['staff'], suspended: false }, ALLOWED],
  ];
  for (const [name, claims, expected] of cases) it(name, () => assert.deepEqual(plain(policy.evaluate(input(claims))), expected));
});

describe('runtime errors fail closed with their kind, never a value', () => {
  const cases: [string, string, Record<string, unknown>, string][] = [
    ['a JSON number is a double: double + int has no overload', 'claims.n + 1 == 2', { n: 1 }, 'no_such_overload'],
    ['division by zero', 'claims.items.exists(i, 1 / 0 == i)', { items: [1] }, 'division_by_zero'],
    ['index out of bounds', "claims.email.split('@')[5] == 'x'", { email: 'a@b' }, 'index_out_of_bounds'],
    ['field of a list', "claims.groups.name == 'x'", { groups: ['secret-group'] }, 'no_such_key'],
    ['int() of a non-number string', 'int(claims.level) > 3', { level: 'secret-level' }, 'int_conversion_error'],
  ];
  for (const [name, expression, claims, detail] of cases) {
    it(name, () => {
      const decision = run({ allow: expression }, [], input(claims));
      assert.equal(decision.allowed, false);
      assert.ok(!decision.allowed && decision.reason === 'error' && decision.rule === 'allow[0]');
      assert.ok(!decision.allowed && typeof decision.detail === 'string' && /^[a-z_]+$/.test(decision.detail), JSON.stringify(decision));
      assert.equal(decision.detail, detail);
      assert.doesNotMatch(JSON.stringify(decision), /secret/);
    });
  }
  it('JSON numbers compare with ints and doubles alike', () => {
    assert.deepEqual(plain(run({ allow: 'claims.n == 1 && claims.n < 2 && claims.n >= 1.0' }, [], input({ n: 1 }))), ALLOWED);
  });
});

describe('computed claims', () => {
  const source: PolicySource = {
    claims: { roles: 'claims.realm_access.roles', groups: "github.teams.map(t, 'gh:' + t)", tenant: "claims.email.split('@')[1]" },
  };
  const policy = compilePolicy(source, { path: 'p', lookups: GITHUB });
  const lookups = { 'github.teams': ['acme/dev', 'acme/ops'] };

  it('the three claims of the issue', () => {
    const d = policy.evaluate(input({ email: 'alice@example.com', realm_access: { roles: ['deployer'] } }, { lookups }));
    assert.ok(d.allowed);
    assert.equal(Object.getPrototypeOf(d.claims), null);
    assert.deepEqual({ ...d.claims }, { roles: ['deployer'], groups: ['gh:acme/dev', 'gh:acme/ops'], tenant: 'example.com' });
  });
  it('a key the user does not have: that claim is omitted, the others stay', () => {
    const d = policy.evaluate(input({ email: 'alice@example.com' }, { lookups }));
    assert.deepEqual(plain(d), { allowed: true, claims: { groups: ['gh:acme/dev', 'gh:acme/ops'], tenant: 'example.com' } });
  });
  it('any other error denies, naming the claim', () => {
    const d = policy.evaluate(input({ email: 'no-at-sign', realm_access: { roles: [] } }, { lookups }));
    assert.deepEqual(plain(d), errorOf('index_out_of_bounds', 'claims.tenant'));
  });
  it('claims are computed only when every allow rule holds', () => {
    const p = compilePolicy({ allow: "'x' in claims.groups", claims: { g: 'claims.groups' } }, { path: 'p', lookups: [] });
    assert.deepEqual(plain(p.evaluate(input({ groups: ['y'] }))), DENIED);
    assert.deepEqual(plain(p.evaluate(input({ groups: ['x'] }))), { allowed: true, claims: { g: ['x'] } });
  });

  const long = (n: number) => 'x'.repeat(n);
  const sanitized: [string, string, Record<string, unknown>, unknown][] = [
    ['string over 1024 characters: omitted', 'claims.v', { v: long(1025) }, undefined],
    ['string of 1024 characters: kept', 'claims.v', { v: long(1024) }, long(1024)],
    ['list of 101 strings: omitted', 'claims.v', { v: Array.from({ length: 101 }, () => 'a') }, undefined],
    ['list of 100 strings: kept', 'claims.v', { v: Array.from({ length: 100 }, () => 'a') }, Array.from({ length: 100 }, () => 'a')],
    ['list with a string over 256: omitted', 'claims.v', { v: ['a', long(257)] }, undefined],
    ['list of numbers: omitted', 'claims.v', { v: [1, 2] }, undefined],
    ['map: omitted', 'claims.v', { v: { a: 1 } }, undefined],
    ['null: omitted', 'claims.v', { v: null }, undefined],
    ['bool: kept', 'claims.v', { v: false }, false],
    ['double: kept', 'claims.v', { v: 1.5 }, 1.5],
    ['int: a number', 'size(claims.v)', { v: ['a', 'b'] }, 2],
    ['int beyond 2^53: omitted', 'int(claims.v) * 4', { v: 2 ** 52 }, undefined],
    ['int overflow: denies', 'int(claims.v) * 1024 * 1024', { v: 2 ** 52 }, 'numeric_overflow'],
    ['optional value unwrapped by orValue', "claims.?v.orValue('none')", {}, 'none'],
  ];
  for (const [name, expression, claims, expected] of sanitized) {
    it(`sanitized: ${name}`, () => {
      const d = run({ claims: { c: expression } }, [], input(claims));
      if (expected === 'numeric_overflow') return assert.deepEqual(plain(d), errorOf('numeric_overflow', 'claims.c'));
      assert.ok(d.allowed, JSON.stringify(d));
      assert.deepEqual(d.claims.c, expected);
      assert.equal(Object.hasOwn(d.claims, 'c'), expected !== undefined);
    });
  }
});

describe('hostile claims input', () => {
  it('`__proto__` is just a key: readable, and nothing is polluted', () => {
    const claims = JSON.parse('{"__proto__": {"admin": true}, "constructor": "x", "toString": "y"}') as Record<string, unknown>;
    const d = run(
      {
        allow: "claims['__proto__'].admin == true && claims.constructor == 'x' && claims.toString == 'y'",
        claims: { k: 'claims.constructor' },
      },
      [],
      input(claims),
    );
    assert.deepEqual(plain(d), { allowed: true, claims: { k: 'x' } });
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    assert.equal(run({ allow: 'has(claims.hasOwnProperty)' }, [], input({})).allowed, false, 'prototype members are not keys');
    assert.deepEqual(plain(run({ allow: 'claims.valueOf == 1' }, [], input({}))), errorOf('no_such_key'));
  });
  it('a `constructor` key does not break the map (the library types plain objects by their constructor)', () => {
    const claims = JSON.parse('{"constructor": {"name": "Map"}, "email": "a@b"}') as Record<string, unknown>;
    assert.deepEqual(plain(run({ allow: "claims.email == 'a@b'" }, [], input(claims))), ALLOWED);
    assert.deepEqual(plain(run({ allow: 'size(claims) == 2' }, [], input(claims))), ALLOWED);
  });

  const over: [string, string, Record<string, unknown>, string][] = [
    ['a list over maxListItems (1000)', "'x' in claims.groups", { groups: Array.from({ length: 1001 }, () => 'g') }, 'input_limit'],
    ['a nested list over maxListItems', "'x' in claims.a.b", { a: { b: Array.from({ length: 1001 }, () => 'g') } }, 'input_limit'],
    [
      'a map over maxListItems',
      "claims.m.k == 'x'",
      { m: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, 1])) },
      'input_limit',
    ],
    ['a string over maxStringLength (4096)', "claims.name == 'x'", { name: 'n'.repeat(4097) }, 'input_limit'],
    ['nesting deeper than 32', 'has(claims.deep)', { deep: nest(40) }, 'input_limit'],
    [
      'more values than 20 × maxListItems',
      'has(claims.wide)',
      { wide: Array.from({ length: 30 }, () => Array.from({ length: 1000 }, () => 1)) },
      'input_limit',
    ],
    ['NaN', 'claims.n == 1', { n: Number.NaN }, 'input_invalid'],
    ['Infinity', 'claims.n == 1', { n: Number.POSITIVE_INFINITY }, 'input_invalid'],
    ['bigint', 'claims.n == 1', { n: 10n ** 30n }, 'input_invalid'],
    ['a Date', 'has(claims.d)', { d: new Date(0) }, 'input_invalid'],
    ['a function', 'has(claims.f)', { f: () => 1 }, 'input_invalid'],
    // biome-ignore lint/suspicious/noSparseArray: a sparse array is the hostile input under test.
    ['a sparse array', "'x' in claims.l", { l: [, 'x'] }, 'input_invalid'],
    [
      'all keys used, too many keys',
      'size(claims) > 0',
      Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, 1])),
      'input_limit',
    ],
  ];
  for (const [name, expression, claims, detail] of over) {
    it(`${name} → fails closed (${detail})`, () => assert.deepEqual(plain(run({ allow: expression }, [], input(claims))), errorOf(detail)));
  }

  it('data the policy does not read is not converted: an oversized unread key does not deny', () => {
    const claims = { email: 'a@example.com', huge: Array.from({ length: 5000 }, () => 'x'), deep: nest(100), n: Number.NaN };
    assert.deepEqual(plain(run({ allow: "claims.email.endsWith('@example.com')" }, [], input(claims))), ALLOWED);
  });
  it('an accessor is refused, never run', () => {
    let ran = false;
    const claims = Object.defineProperty({}, 'email', {
      enumerable: true,
      get: () => {
        ran = true;
        return 'a@b';
      },
    });
    assert.deepEqual(plain(run({ allow: "claims.email == 'a@b'" }, [], input(claims))), errorOf('input_invalid'));
    assert.equal(ran, false);
  });
  it('an `undefined` value is an absent key (as in JSON)', () => {
    assert.deepEqual(plain(run({ allow: '!has(claims.email)' }, [], input({ email: undefined }))), ALLOWED);
  });
  it('claims that are not an object, an account that is not strings', () => {
    for (const bad of [null, [], 'x', new Map()]) {
      assert.deepEqual(plain(run({ allow: 'true' }, [], input(bad as never))), errorOf('input_invalid'));
    }
    assert.deepEqual(
      plain(run({ allow: 'true' }, [], input({}, { account: { provider: 'p', id: 42 as never } }))),
      errorOf('input_invalid'),
    );
  });
  it('evaluate never throws, whatever it is given', () => {
    const policy = compilePolicy({ allow: "'x' in claims.g", claims: { t: "claims.e.split('@')[1]" } }, { path: 'p', lookups: GITHUB });
    for (const bad of [
      undefined,
      null,
      {},
      { claims: {} },
      { claims: { g: ['x'] }, account: null },
      { claims: { g: ['x'] }, account: {}, lookups: null },
    ]) {
      const d = policy.evaluate(bad as never);
      assert.equal(d.allowed, false, JSON.stringify(d));
    }
  });
});

describe('lookups', () => {
  const policy = compilePolicy({ allow: "'acme' in github.orgs" }, { path: 'p', lookups: GITHUB });
  it('a lookup that is needed but not given fails closed (lookup_missing), naming the rule that reads it', () => {
    const p = compilePolicy(
      { allow: ["claims.login != ''", { name: 'org', expression: "'acme' in github.orgs" }] },
      { path: 'p', lookups: GITHUB },
    );
    assert.deepEqual(plain(p.evaluate(input({ login: 'x' }))), errorOf('lookup_missing', 'org'));
  });
  it('over maxListItems, non-strings, long strings: fail closed', () => {
    const cases: [unknown, string][] = [
      [Array.from({ length: 1001 }, () => 'acme'), 'input_limit'],
      [['acme', 7], 'input_invalid'],
      ['acme', 'input_invalid'],
      [['a'.repeat(257)], 'input_limit'],
    ];
    for (const [orgs, detail] of cases) {
      assert.deepEqual(plain(policy.evaluate(input({}, { lookups: { 'github.orgs': orgs as string[] } }))), errorOf(detail));
    }
  });
  it('a lookup that is not needed is neither required nor read', () => {
    const p = compilePolicy({ allow: "claims.login == 'x'" }, { path: 'p', lookups: GITHUB });
    assert.equal(p.needs.size, 0);
    assert.deepEqual(plain(p.evaluate(input({ login: 'x' }, { lookups: { 'github.orgs': 42 as never } }))), ALLOWED);
  });
});

describe('no policy', () => {
  it('an empty policy allows with no claims', () => {
    const p = compilePolicy({}, { path: 'p', lookups: [] });
    assert.deepEqual(p.rules, []);
    assert.deepEqual(plain(p.evaluate(input({}))), ALLOWED);
  });
});

function nest(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = { v };
  return v;
}

describe('caller and actor (issue 21: the token endpoint’s client and RFC 8693 actor)', () => {
  const mesh = {
    kind: 'tls_client_auth' as const,
    id: 'orders',
    subject: 'spiffe://cluster.local/ns/orders/sa/orders',
    issuer: '',
    spiffeId: 'spiffe://cluster.local/ns/orders/sa/orders',
    namespace: 'orders',
    serviceAccount: 'orders',
  };
  const source: PolicySource = {
    allow: [
      {
        name: 'workload',
        expression: "caller.kind != 'none' && caller.namespace == 'orders' && caller.spiffeId.startsWith('spiffe://cluster.local/')",
      },
      { name: 'actor', expression: "actor.kind == 'none' || actor.sub.startsWith('kc:svc-')" },
    ],
    claims: { requester: 'caller.id', acting: "actor.kind == 'none' ? '' : actor.provider + '/' + actor.clientId" },
  };
  it('absent caller and actor read as kind none with empty strings (GetJWT, edge doors)', () => {
    assert.deepEqual(plain(run(source, [], input({}))), { allowed: false, rule: 'workload', reason: 'denied' });
    assert.deepEqual(plain(run({ allow: "caller.id == '' && actor.sub == '' && caller.kind == 'none'" }, [], input({}))), ALLOWED);
  });
  it('an authenticated caller and a token actor are visible; claims can name them', () => {
    const actor = { kind: 'token' as const, sub: 'kc:svc-orders', iss: '', provider: 'kc', clientId: 'orders-app' };
    assert.deepEqual(plain(run(source, [], input({}, { caller: mesh, actor }))), {
      allowed: true,
      claims: { requester: 'orders', acting: 'kc/orders-app' },
    });
    assert.deepEqual(plain(run(source, [], input({}, { caller: mesh, actor: { ...actor, sub: 'github:1' } }))), {
      allowed: false,
      rule: 'actor',
      reason: 'denied',
    });
    assert.deepEqual(plain(run(source, [], input({}, { caller: { ...mesh, namespace: 'payments' } }))), {
      allowed: false,
      rule: 'workload',
      reason: 'denied',
    });
  });
  it('unknown fields of caller and actor do not compile', () => {
    assert.throws(() => compilePolicy({ allow: "caller.password == ''" }, { path: 'p', lookups: [] }), /p\.allow/);
    assert.throws(() => compilePolicy({ allow: 'actor.claims.size() > 0' }, { path: 'p', lookups: [] }), /p\.allow/);
  });
});

describe('subject (issue 22: the subject token’s scopes)', () => {
  it('scopes as the provider vouched for them; scopesKnown true', () => {
    const source = { allow: "subject.scopesKnown && 'orders.read' in subject.scopes", claims: { scopes: 'subject.scopes' } };
    assert.deepEqual(plain(run(source, [], input({}, { scopes: ['orders.read', 'openid'] }))), {
      allowed: true,
      claims: { scopes: ['orders.read', 'openid'] },
    });
    assert.deepEqual(plain(run(source, [], input({}, { scopes: ['openid'] }))), DENIED);
  });
  it('undetermined scopes read as scopesKnown false and an empty list — never as unconstrained', () => {
    assert.deepEqual(plain(run({ allow: 'subject.scopesKnown' }, [], input({}))), DENIED);
    assert.deepEqual(plain(run({ allow: 'size(subject.scopes) == 0 && !subject.scopesKnown' }, [], input({}))), ALLOWED);
  });
  it('known to carry none: scopesKnown true, empty list', () => {
    assert.deepEqual(plain(run({ allow: 'subject.scopesKnown && size(subject.scopes) == 0' }, [], input({}, { scopes: [] }))), ALLOWED);
  });
  it('`subject` is a variable, not a bare claim path', () => {
    assert.throws(() => compilePolicy({ allow: 'subject.nope' }, { path: 'p', lookups: [] }));
  });
});
