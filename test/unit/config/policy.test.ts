/**
 * Policy configuration: `allow` and CEL `claims` per provider are compiled at load (a bad expression is a
 * ConfigError naming the field and `line:column`), bounded in number, checked against the lookups the
 * provider has; bare dotted paths in `claims` keep working (the mapping of before CEL) with a warning
 * naming the CEL to write; per-provider `audience` and `tokenTtl`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig } from '../../../src/config/load.ts';
import { compileProviderPolicy } from '../../../src/config/provider-policy.ts';
import { celOfPath, isBarePath } from '../../../src/config/resolve-provider.ts';
import { MAX_ALLOW_RULES, MAX_PROVIDER_CLAIMS } from '../../../src/config/schema.ts';
import { ConfigError } from '../../../src/errors.ts';

const base = (...providers: unknown[]) => ({
  issuer: 'https://authjwt.example',
  audience: ['internal-services'],
  keys: { dir: '/var/run/secrets/authjwt/keys' },
  grpc: { plaintext: true },
  providers,
});
const kc = (extra: Record<string, unknown> = {}) => ({
  id: 'kc',
  issuer: 'https://sso.example/realms/main',
  audiences: ['frontend'],
  ...extra,
});
const gh = (extra: Record<string, unknown> = {}) => ({ id: 'gh', preset: 'github', clientId: 'Iv1.x', clientSecret: 's', ...extra });
const gl = (extra: Record<string, unknown> = {}) => ({ id: 'gl', preset: 'gitlab', ...extra });

/** The issues of the ConfigError buildConfig throws. */
function issuesOf(raw: unknown): { path: string; message: string }[] {
  try {
    buildConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return [...error.issues];
  }
  assert.fail('the config was accepted');
}

describe('allow and computed claims are compiled when the config is loaded', () => {
  it('accepts one expression, a list, named rules; keeps them as the provider policy', () => {
    const c = buildConfig(
      base(
        kc({ allow: "'engineering' in claims.groups" }),
        gh({
          allow: ["'acme' in github.orgs", { name: 'staff', expression: "'acme/staff' in github.teams" }],
          claims: { teams: "github.teams.map(t, 'gh:' + t)" },
        }),
        gl({ allow: "gitlab.groups.exists(g, g.startsWith('acme/'))" }),
        { id: 'plain', issuer: 'https://sso.example/realms/other', audiences: ['frontend'] },
      ),
    );
    assert.deepEqual(c.providers[0]!.policy, { allow: "'engineering' in claims.groups" });
    assert.deepEqual(c.providers[1]!.policy, {
      allow: ["'acme' in github.orgs", { name: 'staff', expression: "'acme/staff' in github.teams" }],
      claims: { teams: "github.teams.map(t, 'gh:' + t)" },
    });
    assert.equal(c.providers[3]!.policy, undefined, 'no allow, no computed claim: no policy (anyone the provider proves)');
    const compiled = compileProviderPolicy(c.providers[1]!, 'providers[1]')!;
    assert.deepEqual([...compiled.needs].sort(), ['github.orgs', 'github.teams']);
    assert.deepEqual(
      compiled.rules.map((r) => r.name),
      ['allow[0]', 'staff'],
    );
    assert.deepEqual([...compileProviderPolicy(c.providers[2]!, 'providers[2]')!.needs], ['gitlab.groups']);
    assert.equal(compileProviderPolicy(c.providers[3]!, 'providers[3]'), undefined);
  });

  const cases: { name: string; provider: unknown; path: string; message: RegExp }[] = [
    {
      name: 'a syntax error, with its line and column',
      provider: kc({ allow: ['true', "claims.email.endsWith('@example.com' &&\n  claims.email_verified"] }),
      path: 'providers[0].allow[1]',
      message: /^2:24: /,
    },
    {
      name: 'an unknown variable',
      provider: kc({ allow: 'user.admin == true' }),
      path: 'providers[0].allow',
      message: /^1:1: Unknown variable: user/,
    },
    {
      name: 'an allow rule that is not bool',
      provider: kc({ allow: [{ name: 'roles', expression: 'claims.realm_access.roles' }] }),
      path: 'providers[0].allow[0]',
      message: /must be a bool expression/,
    },
    {
      name: 'a GitHub lookup on an OIDC provider',
      provider: kc({ allow: "'acme' in github.orgs" }),
      path: 'providers[0].allow',
      message: /^1:11: `github\.orgs` is not available for this provider \(it has no lookups\)/,
    },
    {
      name: 'a GitLab lookup on the GitHub preset',
      provider: gh({ claims: { groups: 'gitlab.groups' } }),
      path: 'providers[0].claims.groups',
      message: /`gitlab\.groups` is not available .*\(available: github\.orgs, github\.teams\)/,
    },
    {
      name: 'a lookup on a custom user-API provider (no lookups)',
      provider: { id: 'forge', userApiUrl: 'https://forge.example/api/user', accountIdClaim: 'id', allow: "'x' in github.orgs" },
      path: 'providers[0].allow',
      message: /it has no lookups/,
    },
    {
      name: 'a computed claim of a type a token cannot hold',
      provider: kc({ claims: { access: "{'sub': claims.sub}" } }),
      path: 'providers[0].claims.access',
      message: /cannot hold a value of type/,
    },
    {
      name: 'a matches() pattern RE2 refuses (a backreference)',
      provider: kc({ allow: "claims.email.matches('^(a+)\\\\1$')" }),
      path: 'providers[0].allow',
      message: /^1:22: invalid RE2 pattern/,
    },
    {
      name: 'a registered claim computed in CEL',
      provider: kc({ claims: { exp: 'claims.exp + 3600.0' } }),
      path: 'providers[0].claims.exp',
      message: /^is reserved and cannot be mapped$/,
    },
    {
      name: 'a claim authjwt sets itself',
      provider: kc({ claims: { client_id: "'x'" } }),
      path: 'providers[0].claims.client_id',
      message: /^is reserved and cannot be mapped$/,
    },
    {
      name: `more than ${MAX_ALLOW_RULES} rules`,
      provider: kc({ allow: Array.from({ length: MAX_ALLOW_RULES + 1 }, () => 'true') }),
      path: 'providers[0].allow',
      message: new RegExp(`^at most ${MAX_ALLOW_RULES} rules per provider$`),
    },
    {
      name: `more than ${MAX_PROVIDER_CLAIMS} claims`,
      provider: kc({ claims: Object.fromEntries(Array.from({ length: MAX_PROVIDER_CLAIMS + 1 }, (_, i) => [`c${i}`, 'claims.sub'])) }),
      path: 'providers[0].claims',
      message: new RegExp(`^at most ${MAX_PROVIDER_CLAIMS} claims per provider$`),
    },
    { name: 'an empty rule list', provider: kc({ allow: [] }), path: 'providers[0].allow', message: /at least one rule/ },
    { name: 'a blank expression', provider: kc({ allow: '  ' }), path: 'providers[0].allow', message: /non-empty CEL expression/ },
    {
      name: 'an expression over 2048 characters',
      provider: kc({ allow: `${'true && '.repeat(300)}true` }),
      path: 'providers[0].allow',
      message: /at most 2048 characters/,
    },
    {
      name: 'a rule name with a space',
      provider: kc({ allow: [{ name: 'is staff', expression: 'true' }] }),
      path: 'providers[0].allow[0].name',
      message: /1 to 64 characters/,
    },
    {
      name: 'two rules with the same name',
      provider: kc({
        allow: [
          { name: 'staff', expression: 'true' },
          { name: 'staff', expression: 'true' },
        ],
      }),
      path: 'providers[0].allow[1].name',
      message: /duplicates the name of another rule: staff/,
    },
    {
      name: 'an unknown field in a rule',
      provider: kc({ allow: [{ name: 'a', expr: 'true' }] }),
      path: 'providers[0].allow[0]',
      message: /^unknown field\(s\): expr$/,
    },
    {
      name: 'an old mapping of a claim with characters a bare path cannot have',
      provider: kc({ claims: { roles: 'https://example.com/roles' } }),
      path: 'providers[0].claims.roles',
      message: /^1:\d+: .*write claims\['name'\]\)$/,
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}: ConfigError at ${c.path}`, () => {
      const issues = issuesOf(base(c.provider));
      const issue = issues.find((i) => i.path === c.path);
      assert.ok(issue, `no issue at ${c.path}: ${JSON.stringify(issues)}`);
      assert.match(issue.message, c.message);
    });
  }

  it('reports every bad expression of every provider at once, with the provider index', () => {
    const issues = issuesOf(base(kc({ allow: 'nope' }), gh({ allow: ['true', 'claims.x +'], claims: { t: 'github.nope' } })));
    assert.deepEqual(
      issues.map((i) => i.path),
      ['providers[0].allow', 'providers[1].allow[1]', 'providers[1].claims.t'],
    );
  });
});

describe('claims: bare dotted paths (the mapping of before CEL) and CEL expressions in one map', () => {
  it('a bare path is copied as before, with a warning naming the equivalent CEL; other values are CEL', () => {
    const c = buildConfig(
      base(
        kc({
          claims: {
            department: 'department',
            org: 'company.name',
            client_roles: 'resource_access.my-client.roles',
            zitadel: 'urn:zitadel:iam:org:project:roles',
            roles: 'claims.realm_access.roles',
            tenant: "claims.email.split('@')[1]",
          },
        }),
      ),
    );
    const p = c.providers[0]!;
    assert.deepEqual(p.claims, {
      email: 'email',
      email_verified: 'email_verified',
      name: 'name',
      preferred_username: 'preferred_username',
      groups: 'groups',
      department: 'department',
      org: 'company.name',
      client_roles: 'resource_access.my-client.roles',
      zitadel: 'urn:zitadel:iam:org:project:roles',
    });
    assert.deepEqual(p.policy, { claims: { roles: 'claims.realm_access.roles', tenant: "claims.email.split('@')[1]" } });
    const deprecations = c.warnings.filter((w) => w.includes('deprecated shorthand'));
    assert.deepEqual(deprecations, [
      'providers[0].claims.department: the bare path "department" is deprecated shorthand: write claims.department (same value; bare paths are accepted until 1.0)',
      'providers[0].claims.org: the bare path "company.name" is deprecated shorthand: write claims.company.name (same value; bare paths are accepted until 1.0)',
      `providers[0].claims.client_roles: the bare path "resource_access.my-client.roles" is deprecated shorthand: write claims.resource_access['my-client'].roles (same value; bare paths are accepted until 1.0)`,
      `providers[0].claims.zitadel: the bare path "urn:zitadel:iam:org:project:roles" is deprecated shorthand: write claims['urn:zitadel:iam:org:project:roles'] (same value; bare paths are accepted until 1.0)`,
    ]);
  });

  it('preset and OIDC default mappings are not warned about; a CEL claim replaces the default of the same name', () => {
    const c = buildConfig(base(gh({ claims: { name: 'claims.name.orValue(claims.login)' } }), kc()));
    assert.deepEqual(
      c.warnings.filter((w) => w.includes('deprecated')),
      [],
    );
    assert.deepEqual(c.providers[0]!.claims, { preferred_username: 'login', email: 'email' }, 'the preset path for name is replaced');
    assert.deepEqual(c.providers[0]!.policy, { claims: { name: 'claims.name.orValue(claims.login)' } });
  });

  it('the equivalent CEL the warning names compiles and reads the same value', () => {
    for (const path of ['department', 'company.name', 'resource_access.my-client.roles', 'urn:zitadel:iam:org:project:roles']) {
      const c = buildConfig(base(kc({ claims: { x: celOfPath(path) } })));
      assert.deepEqual(c.providers[0]!.policy, { claims: { x: celOfPath(path) } }, path);
    }
  });

  it('what is a bare path', () => {
    const table: [string, boolean][] = [
      ['login', true],
      ['company.name', true],
      ['resource_access.my-client.roles', true],
      ['urn:zitadel:iam:org:project:roles', true],
      ['_private', true],
      ['type', true], // a CEL type name, but a field name in practice (GitHub's `type`)
      ['claims.login', false],
      ['account.id', false],
      ['github.orgs', false],
      ['gitlab.groups', false],
      ['true', false],
      ['null', false],
      ["claims['x']", false],
      ['login.size()', false],
      ['a b', false],
      ['9lives', false],
      ['', false],
    ];
    for (const [value, expected] of table) assert.equal(isBarePath(value), expected, value);
  });
});

describe('per-provider token shape', () => {
  it('audience (string or list) and tokenTtl override the top-level ones for that provider only', () => {
    const c = buildConfig(base(gh({ audience: 'github-users', tokenTtl: '5m' }), kc({ audience: ['a', 'b'] }), gl()));
    assert.deepEqual(c.providers[0]!.audience, ['github-users']);
    assert.equal(c.providers[0]!.tokenTtl, 300_000);
    assert.deepEqual(c.providers[1]!.audience, ['a', 'b']);
    assert.equal(c.providers[1]!.tokenTtl, undefined);
    assert.equal(c.providers[2]!.audience, undefined);
  });

  it('the bounds of tokenTtl apply per provider too', () => {
    assert.ok(issuesOf(base(gh({ tokenTtl: '1s' }))).some((i) => i.path === 'providers[0].tokenTtl'));
    assert.ok(issuesOf(base(gh({ tokenTtl: '2d' }))).some((i) => i.path === 'providers[0].tokenTtl'));
    assert.ok(issuesOf(base(gh({ audience: [] }))).some((i) => i.path === 'providers[0].audience'));
  });
});
