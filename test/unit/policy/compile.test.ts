import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/errors.ts';
import { compilePolicy, PolicyCompileError, RESERVED_CLAIM_NAMES, type LookupName, type PolicySource } from '../../../src/policy/index.ts';

const GITHUB: LookupName[] = ['github.orgs', 'github.teams'];
const GITLAB: LookupName[] = ['gitlab.groups'];

/** The issues compilePolicy throws, or fails the test when it compiles. */
function issuesOf(source: PolicySource, lookups: LookupName[] = [], limits?: object): { path: string; message: string }[] {
  try {
    compilePolicy(source, { path: 'providers[2]', lookups, ...(limits ? { limits } : {}) });
  } catch (error) {
    assert.ok(error instanceof PolicyCompileError, `not a PolicyCompileError: ${String(error)}`);
    return [...error.issues];
  }
  assert.fail(`compiled: ${JSON.stringify(source)}`);
}

describe('compilePolicy: errors name the field and the position', () => {
  const cases: { name: string; source: PolicySource; lookups?: LookupName[]; path: string; message: RegExp }[] = [
    {
      name: 'syntax error, second line',
      source: { allow: "claims.email.endsWith('x' &&\n  (" },
      path: 'providers[2].allow',
      message: /^2:4: Unexpected token/,
    },
    { name: 'unknown variable', source: { allow: 'nope == 1' }, path: 'providers[2].allow', message: /^1:1: Unknown variable: nope$/ },
    {
      name: 'unknown variable later on the line',
      source: { allow: "claims.email == 'a' && nope" },
      path: 'providers[2].allow',
      message: /^1:24: Unknown variable: nope/,
    },
    {
      name: 'wrong operand type',
      source: { allow: "claims.email == 'a' &&\n  account.id + 1 == 2" },
      path: 'providers[2].allow',
      message: /^2:3: no such overload: string \+ int/,
    },
    {
      name: 'unknown account field',
      source: { allow: "account.name == 'x'" },
      path: 'providers[2].allow',
      message: /^1:9: No such key: name/,
    },
    {
      name: 'allow of type dyn',
      source: { allow: 'claims.email_verified' },
      path: 'providers[2].allow',
      message: /^1:1: must be a bool expression, not dyn .*== true/,
    },
    {
      name: 'allow of type int',
      source: { allow: ['true', 'size(claims.groups)'] },
      path: 'providers[2].allow[1]',
      message: /^1:1: must be a bool expression, not int$/,
    },
    {
      name: 'GitHub lookup on a Keycloak provider',
      source: { allow: "'acme' in github.orgs" },
      path: 'providers[2].allow',
      message: /^1:11: `github\.orgs` is not available for this provider \(it has no lookups\)/,
    },
    {
      name: 'GitLab lookup on a GitHub provider',
      source: { allow: "'x' in gitlab.groups" },
      lookups: GITHUB,
      path: 'providers[2].allow',
      message: /^1:8: `gitlab\.groups` is not available .*available: github\.orgs, github\.teams/,
    },
    {
      name: 'a lookup of the same root this provider does not have',
      source: { allow: 'has(github.teams)' },
      lookups: ['github.orgs'],
      path: 'providers[2].allow',
      message: /^1:5: `github\.teams` is not available .*\(available: github\.orgs\)/,
    },
    {
      name: 'a lookup that does not exist',
      source: { allow: 'github.members == []' },
      lookups: GITHUB,
      path: 'providers[2].allow',
      message: /`github\.members` is not available/,
    },
    {
      name: 'lookups used whole where there are none',
      source: { allow: 'github != null' },
      path: 'providers[2].allow',
      message: /^1:1: `github` lookups are not available/,
    },
    {
      name: 'matches(): a pattern that is not a string literal (method)',
      source: { allow: 'claims.email.matches(claims.pattern)' },
      path: 'providers[2].allow',
      message: /^1:22: matches\(\) takes a string literal as its pattern/,
    },
    {
      name: 'matches(): a pattern that is not a string literal (function)',
      source: { claims: { m: "matches(claims.email, '^' + account.id)" } },
      path: 'providers[2].claims.m',
      message: /^1:23: matches\(\) takes a string literal as its pattern/,
    },
    {
      name: 'matches(): a backreference (RE2 has none)',
      source: { allow: "claims.email.matches('(a)\\\\1')" },
      path: 'providers[2].allow',
      message: /^1:22: invalid RE2 pattern: .*invalid escape sequence/,
    },
    {
      name: 'matches(): a lookahead (RE2 has none)',
      source: { allow: "claims.email.matches('a(?=b)')" },
      path: 'providers[2].allow',
      message: /^1:22: invalid RE2 pattern: .*unsupported Perl syntax/,
    },
    {
      name: 'matches(): invalid syntax',
      source: { allow: "claims.email.matches('(')" },
      path: 'providers[2].allow',
      message: /^1:22: invalid RE2 pattern: .*missing closing \)/,
    },
    {
      name: 'matches(): a pattern over 512 characters',
      source: { allow: `claims.email.matches('${'a'.repeat(513)}')` },
      path: 'providers[2].allow',
      message: /^1:22: the pattern is 513 characters long, over the limit of 512$/,
    },
    {
      name: 'matches(): a pattern over 1000 RE2 instructions',
      source: { allow: "claims.email.matches('[a-z]{600}[0-9]{600}')" },
      path: 'providers[2].allow',
      message: /^1:22: the pattern compiles to \d+ RE2 instructions, over the limit of 1000$/,
    },
    {
      name: 'matches() over every item of a provider list: over the cost bound, with a hint',
      source: { allow: "claims.groups.exists(g, g.matches('^team-[a-z]+$'))" },
      path: 'providers[2].allow',
      message: /^1:1: worst-case cost \d+ is over the limit of 100000 \(matches\(\) costs its pattern size times the input length/,
    },
    {
      name: 'nested comprehensions over provider lists',
      source: { allow: 'claims.groups.exists(g, claims.roles.exists(r, r == g))' },
      path: 'providers[2].allow',
      message: /^1:1: worst-case cost \d+ is over the limit of 100000/,
    },
    {
      name: 'comprehension over a string grown by split in a loop',
      source: { claims: { x: "claims.s.split('').map(c, claims.s.split('').map(d, c + d))" } },
      path: 'providers[2].claims.x',
      message: /worst-case cost/,
    },
    {
      name: 'too long',
      source: { allow: `${'true || '.repeat(256)}true` },
      path: 'providers[2].allow',
      message: /^is 2052 characters long, over the limit of 2048$/,
    },
    {
      name: 'empty expression',
      source: { allow: ['true', '  '] },
      path: 'providers[2].allow[1]',
      message: /^must be a non-empty CEL expression$/,
    },
    {
      name: 'not a string',
      source: { allow: [42 as never] },
      path: 'providers[2].allow[0]',
      message: /^must be a non-empty CEL expression$/,
    },
    {
      name: 'allow of the wrong shape',
      source: { allow: 42 as never },
      path: 'providers[2].allow',
      message: /must be a CEL expression or a list of them/,
    },
    {
      name: 'rule name with spaces',
      source: { allow: [{ name: 'my rule', expression: 'true' }] },
      path: 'providers[2].allow[0].name',
      message: /1 to 64 characters/,
    },
    {
      name: 'duplicate rule name',
      source: {
        allow: [
          { name: 'a', expression: 'true' },
          { name: 'a', expression: 'true' },
        ],
      },
      path: 'providers[2].allow[1].name',
      message: /duplicates/,
    },
    {
      name: 'claim name not a claim name',
      source: { claims: { 'a b': "'x'" } },
      path: 'providers[2].claims.a b',
      message: /must be a claim name/,
    },
    {
      name: 'claim of type map',
      source: { claims: { m: "{'a': 1}" } },
      path: 'providers[2].claims.m',
      message: /^1:1: a claim cannot hold a value of type map<string, int>/,
    },
    { name: 'claim of type bytes', source: { claims: { m: "b'x'" } }, path: 'providers[2].claims.m', message: /type bytes/ },
    {
      name: 'claim of type timestamp',
      source: { claims: { m: "timestamp('2026-01-01T00:00:00Z')" } },
      path: 'providers[2].claims.m',
      message: /type google\.protobuf\.Timestamp/,
    },
    {
      name: 'claim of type optional',
      source: { claims: { m: 'claims.?email' } },
      path: 'providers[2].claims.m',
      message: /type optional<dyn>.*orValue/,
    },
    { name: 'claim of type list<int>', source: { claims: { m: '[1, 2]' } }, path: 'providers[2].claims.m', message: /type list<int>/ },
    { name: 'claims of the wrong shape', source: { claims: ['x'] as never }, path: 'providers[2].claims', message: /must map claim names/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const issues = issuesOf(c.source, c.lookups ?? []);
      assert.equal(issues.length, 1, JSON.stringify(issues));
      assert.equal(issues[0]!.path, c.path);
      assert.match(issues[0]!.message, c.message);
    });
  }

  it('registered and authjwt claims cannot be computed', () => {
    for (const name of [
      'iss',
      'sub',
      'aud',
      'exp',
      'iat',
      'nbf',
      'jti',
      'provider',
      'client_id',
      'scope',
      'cnf',
      'typ',
      'constructor',
      'prototype',
    ]) {
      assert.ok(RESERVED_CLAIM_NAMES.has(name));
      const issues = issuesOf({ claims: { [name]: "'x'" } });
      assert.deepEqual(issues, [{ path: `providers[2].claims.${name}`, message: 'is reserved and cannot be computed' }]);
    }
  });

  it('a `__proto__` claim (own key, as JSON or YAML give it) is refused, not dropped', () => {
    const claims = JSON.parse('{"__proto__": "\'x\'"}') as Record<string, string>;
    const issues = issuesOf({ claims });
    assert.ok(
      issues.some((i) => i.path === 'providers[2].claims.__proto__' && /reserved/.test(i.message)),
      JSON.stringify(issues),
    );
  });

  it('every problem is reported at once, as a ConfigError (exit 2 at start)', () => {
    let caught: unknown;
    try {
      compilePolicy(
        { allow: ['nope', "claims.x.matches('(')"], claims: { sub: "'x'", ok: "'fine'" } },
        { path: 'providers[0]', lookups: [] },
      );
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof ConfigError);
    assert.equal(caught.code, 'ERR_AUTHJWT_CONFIG_INVALID');
    assert.deepEqual(
      caught.issues.map((i) => i.path),
      ['providers[0].allow[0]', 'providers[0].allow[1]', 'providers[0].claims.sub'],
    );
    assert.match(caught.message, /providers\[0\]\.allow\[0\]: 1:1: Unknown variable: nope/);
  });

  it('limits are configurable: a shorter length, a smaller cost', () => {
    assert.match(
      issuesOf({ allow: "claims.email == 'a@example.com'" }, [], { maxExpressionLength: 16 })[0]!.message,
      /over the limit of 16/,
    );
    assert.match(issuesOf({ allow: "'x' in claims.groups" }, [], { maxCost: 10 })[0]!.message, /over the limit of 10\b/);
  });

  it('programming errors of the caller throw TypeError, not a config error', () => {
    assert.throws(() => compilePolicy({}, { path: 'p', lookups: ['github.repos' as LookupName] }), TypeError);
    assert.throws(() => compilePolicy({}, { path: 'p', lookups: ['toString' as LookupName] }), TypeError);
    assert.throws(() => compilePolicy({}, { path: 'p', lookups: [], limits: { maxCost: 0 } }), TypeError);
  });
});

describe('compilePolicy: needs (lookups fetched only when an expression reads them)', () => {
  const cases: { expression: string; lookups: LookupName[]; needs: LookupName[]; claim?: boolean }[] = [
    { expression: "claims.login == 'octocat'", lookups: GITHUB, needs: [] },
    { expression: "github.orgs.exists(o, o == 'acme')", lookups: GITHUB, needs: ['github.orgs'] },
    { expression: "'acme/dev' in github.teams", lookups: GITHUB, needs: ['github.teams'] },
    { expression: 'has(github.teams)', lookups: GITHUB, needs: ['github.teams'] },
    { expression: "cel.bind(g, github, 'acme' in g.orgs)", lookups: GITHUB, needs: ['github.orgs', 'github.teams'] },
    { expression: "github.teams.map(t, 'gh:' + t)", lookups: GITHUB, needs: ['github.teams'], claim: true },
    { expression: "gitlab.groups.exists(g, g == 'acme' || g.startsWith('acme/'))", lookups: GITLAB, needs: ['gitlab.groups'] },
    // A comprehension variable named like a lookup root shadows it: nothing to fetch.
    { expression: "['a'].exists(github, github == 'a')", lookups: [], needs: [] },
  ];
  for (const c of cases) {
    it(`${c.expression} → [${c.needs.join(', ')}]`, () => {
      const source: PolicySource = c.claim ? { claims: { x: c.expression } } : { allow: c.expression };
      const policy = compilePolicy(source, { path: 'p', lookups: c.lookups });
      assert.deepEqual([...policy.needs].sort(), c.needs);
    });
  }

  it('the union over all rules and claims; rule names are given or allow[i]', () => {
    const policy = compilePolicy(
      {
        allow: ['claims.email_verified == true', { name: 'in-acme', expression: "'acme' in github.orgs" }],
        claims: { teams: 'github.teams' },
      },
      { path: 'p', lookups: GITHUB },
    );
    assert.deepEqual([...policy.needs].sort(), ['github.orgs', 'github.teams']);
    assert.deepEqual(policy.rules, [{ name: 'allow[0]' }, { name: 'in-acme' }]);
    assert.deepEqual(policy.claimNames, ['teams']);
    assert.ok(Object.isFrozen(policy.rules));
  });
});
