/**
 * Property tests of the policy engine: random identities × random policies from a small grammar, each
 * checked against an oracle written from CEL's semantics (not from the engine): a key that is absent is an
 * error; `&&` / `||` are commutative over errors (`false && error` is false, `true || error` is true);
 * rules run in order and the first that is not true decides (false → denied, error → error).
 * Also: whatever the claims (any JSON, any JS value), evaluate() never throws, and a deny never carries a
 * value of the input. Runs: AUTHJWT_PROPERTY_RUNS (default 500).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePolicy, type EvaluationInput, type PolicyDecision } from '../../../src/policy/index.ts';

const RUNS = Number(process.env.AUTHJWT_PROPERTY_RUNS ?? 500);

const GROUPS = ['grp-alpha', 'grp-beta', 'grp-gamma'];
const ROLES = ['role-deployer', 'role-viewer'];
const DOMAINS = ['example.com', 'corp.example', 'evil.io'];
const ORGS = ['org-acme', 'org-foo'];
const TEAMS = ['org-acme/team-dev', 'org-foo/team-ops'];
const IDS = ['acct-1001', 'acct-1002', 'acct-1003'];

interface Identity {
  email?: string;
  email_verified?: boolean;
  groups?: string[];
  roles?: string[];
  id: string;
  orgs: string[];
  teams: string[];
}

type Cond =
  | { k: 'group'; v: string }
  | { k: 'role'; v: string }
  | { k: 'domain'; v: string }
  | { k: 'verified' }
  | { k: 'org'; v: string }
  | { k: 'team'; v: string }
  | { k: 'notAccount'; v: string[] }
  | { k: 'not'; c: Cond }
  | { k: 'and' | 'or'; a: Cond; b: Cond };

type Value = boolean | 'error';

const identityArb: fc.Arbitrary<Identity> = fc.record(
  {
    email: fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.constantFrom(...DOMAINS)).map(([u, d]) => `user-${u}@${d}`),
    email_verified: fc.boolean(),
    groups: fc.subarray(GROUPS),
    roles: fc.subarray(ROLES),
    id: fc.constantFrom(...IDS),
    orgs: fc.subarray(ORGS),
    teams: fc.subarray(TEAMS),
  },
  { requiredKeys: ['id', 'orgs', 'teams'] },
);

const condArb: fc.Arbitrary<Cond> = fc.letrec<{ cond: Cond }>((tie) => ({
  cond: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ k: fc.constant('group' as const), v: fc.constantFrom(...GROUPS) }),
    fc.record({ k: fc.constant('role' as const), v: fc.constantFrom(...ROLES) }),
    fc.record({ k: fc.constant('domain' as const), v: fc.constantFrom(...DOMAINS) }),
    fc.constant({ k: 'verified' as const }),
    fc.record({ k: fc.constant('org' as const), v: fc.constantFrom(...ORGS) }),
    fc.record({ k: fc.constant('team' as const), v: fc.constantFrom(...TEAMS) }),
    fc.record({ k: fc.constant('notAccount' as const), v: fc.subarray(IDS) }),
    fc.record({ k: fc.constant('not' as const), c: tie('cond') }),
    fc.record({ k: fc.constantFrom('and' as const, 'or' as const), a: tie('cond'), b: tie('cond') }),
  ),
})).cond;

function toCel(c: Cond): string {
  switch (c.k) {
    case 'group':
      return `'${c.v}' in claims.groups`;
    case 'role':
      return `'${c.v}' in claims.realm_access.roles`;
    case 'domain':
      return `claims.email.endsWith('@${c.v}')`;
    case 'verified':
      return 'claims.email_verified == true';
    case 'org':
      return `github.orgs.exists(o, o == '${c.v}')`;
    case 'team':
      return `'${c.v}' in github.teams`;
    case 'notAccount':
      return `!(account.id in [${c.v.map((v) => `'${v}'`).join(', ')}])`;
    case 'not':
      return `!(${toCel(c.c)})`;
    case 'and':
      return `(${toCel(c.a)}) && (${toCel(c.b)})`;
    case 'or':
      return `(${toCel(c.a)}) || (${toCel(c.b)})`;
  }
}

function oracle(c: Cond, who: Identity): Value {
  switch (c.k) {
    case 'group':
      return who.groups === undefined ? 'error' : who.groups.includes(c.v);
    case 'role':
      return who.roles === undefined ? 'error' : who.roles.includes(c.v);
    case 'domain':
      return who.email === undefined ? 'error' : who.email.endsWith(`@${c.v}`);
    case 'verified':
      return who.email_verified === undefined ? 'error' : who.email_verified === true;
    case 'org':
      return who.orgs.includes(c.v);
    case 'team':
      return who.teams.includes(c.v);
    case 'notAccount':
      return !c.v.includes(who.id);
    case 'not': {
      const v = oracle(c.c, who);
      return v === 'error' ? v : !v;
    }
    case 'and': {
      const a = oracle(c.a, who);
      const b = oracle(c.b, who);
      if (a === false || b === false) return false;
      return a === 'error' || b === 'error' ? 'error' : true;
    }
    case 'or': {
      const a = oracle(c.a, who);
      const b = oracle(c.b, who);
      if (a === true || b === true) return true;
      return a === 'error' || b === 'error' ? 'error' : false;
    }
  }
}

function inputOf(who: Identity): EvaluationInput {
  const claims: Record<string, unknown> = {};
  if (who.email !== undefined) claims.email = who.email;
  if (who.email_verified !== undefined) claims.email_verified = who.email_verified;
  if (who.groups !== undefined) claims.groups = who.groups;
  if (who.roles !== undefined) claims.realm_access = { roles: who.roles };
  return { claims, account: { provider: 'github', id: who.id }, lookups: { 'github.orgs': who.orgs, 'github.teams': who.teams } };
}

/** What the policy must decide: the first rule that is not true, else the computed claims. */
function expected(rules: Cond[], who: Identity): unknown {
  for (const [i, rule] of rules.entries()) {
    const v = oracle(rule, who);
    if (v === false) return { allowed: false, rule: `allow[${i}]`, reason: 'denied' };
    if (v === 'error') return { allowed: false, rule: `allow[${i}]`, reason: 'error', detail: 'no_such_key' };
  }
  const claims: Record<string, unknown> = {};
  if (who.email !== undefined) claims.tenant = who.email.split('@')[1];
  if (who.roles !== undefined) claims.roles = who.roles;
  claims.teams = who.teams.map((t) => `gh:${t}`);
  return { allowed: true, claims };
}

const valuesOf = (who: Identity): string[] =>
  [who.email, ...(who.groups ?? []), ...(who.roles ?? []), who.id, ...who.orgs, ...who.teams].filter(
    (v): v is string => typeof v === 'string',
  );

const plain = (d: PolicyDecision) => JSON.parse(JSON.stringify(d)) as unknown;

describe('policy property: random identities × random policies, against an oracle', () => {
  it(`${RUNS} runs: the decision is the oracle's, and a deny carries no value of the identity`, () => {
    fc.assert(
      fc.property(
        fc.array(condArb, { minLength: 1, maxLength: 3 }),
        fc.array(identityArb, { minLength: 1, maxLength: 4 }),
        (rules, identities) => {
          const policy = compilePolicy(
            {
              allow: rules.map(toCel),
              claims: { tenant: "claims.email.split('@')[1]", roles: 'claims.realm_access.roles', teams: "github.teams.map(t, 'gh:' + t)" },
            },
            { path: 'providers[0]', lookups: ['github.orgs', 'github.teams'] },
          );
          for (const who of identities) {
            const decision = policy.evaluate(inputOf(who));
            assert.deepEqual(plain(decision), expected(rules, who), `${rules.map(toCel).join(' ;; ')} for ${JSON.stringify(who)}`);
            if (!decision.allowed) {
              const text = JSON.stringify(decision);
              for (const value of valuesOf(who)) assert.ok(!text.includes(value), `deny carries ${value}: ${text}`);
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('policy property: hostile claims never crash evaluate() nor leak', () => {
  const policy = compilePolicy(
    {
      allow: [
        "claims.?email.orValue('').endsWith('@example.com') || has(claims.sub)",
        { name: 'groups', expression: "!has(claims.groups) || claims.groups.exists(g, g == 'x') || size(claims.groups) >= 0" },
        'size(claims) >= 0',
      ],
      claims: { e: 'claims.email', s: 'claims.sub', g: 'claims.groups', n: 'claims.n + 1.0' },
    },
    { path: 'p', lookups: [] },
  );
  const marker = fc.stringMatching(/^[a-z]{3,10}$/).map((s) => `val-${s}`);
  const hostile = fc.oneof(
    fc.jsonValue({ maxDepth: 6 }),
    fc.anything({
      maxDepth: 4,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withNullPrototype: true,
      withObjectString: true,
      withBoxedValues: true,
      withSparseArray: true,
    }),
    marker,
    fc.array(marker, { maxLength: 5 }),
  );
  const claimsArb = fc.dictionary(
    fc.oneof(fc.constantFrom('email', 'sub', 'groups', 'n', '__proto__', 'constructor', 'toString', 'hasOwnProperty'), fc.string()),
    hostile,
    { maxKeys: 8 },
  );
  it(`${RUNS} runs`, () => {
    fc.assert(
      fc.property(claimsArb, (claims) => {
        const decision = policy.evaluate({ claims, account: { provider: 'p', id: 'acct-9' }, lookups: {} });
        if (decision.allowed) {
          for (const value of Object.values(decision.claims)) {
            const ok =
              (typeof value === 'string' && value.length <= 1024) ||
              typeof value === 'boolean' ||
              (typeof value === 'number' && Number.isFinite(value)) ||
              (Array.isArray(value) && value.length <= 100 && value.every((v) => typeof v === 'string' && v.length <= 256));
            assert.ok(ok, `unsanitized claim value ${String(value)}`);
          }
          return;
        }
        assert.deepEqual(
          Object.keys(decision).sort(),
          decision.reason === 'error' ? ['allowed', 'detail', 'reason', 'rule'] : ['allowed', 'reason', 'rule'],
        );
        assert.ok(
          ['allow[0]', 'groups', 'allow[2]', 'claims.e', 'claims.s', 'claims.g', 'claims.n'].includes(decision.rule),
          decision.rule,
        );
        // An error kind: the library's machine-readable code or ours, never its message.
        if (decision.reason === 'error') assert.match(decision.detail!, /^[a-z][a-z0-9_]{0,63}$/);
        assert.doesNotMatch(JSON.stringify(decision), /val-|acct-9/);
      }),
      { numRuns: RUNS },
    );
  });
});
