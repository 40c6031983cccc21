/**
 * docs/policy.md stays true: every recipe is a valid provider whose expressions compile and appear,
 * character for character, in the integration or e2e test that exercises them; the Keycloak block is
 * exactly what the e2e realm fixture contains.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { buildConfig } from '../../../src/config/load.ts';

const read = (path: string) => readFileSync(fileURLToPath(new URL(`../../../${path}`, import.meta.url)), 'utf8');
const doc = read('docs/policy.md');
const TESTS = read('test/integration/policy.test.ts') + read('test/integration/kubernetes.test.ts') + read('test/e2e/keycloak.test.ts');

/** The ```yaml blocks of the "## Recipes" section, with the heading above each. */
function recipes(): { title: string; providers: Record<string, unknown>[] }[] {
  const section = doc.slice(doc.indexOf('\n## Recipes'), doc.indexOf('\n## ', doc.indexOf('\n## Recipes') + 1));
  return [...section.matchAll(/### (.+)\n[\s\S]*?```yaml\n([\s\S]*?)```/g)].map((m) => ({
    title: m[1]!,
    providers: parseYaml(m[2]!) as Record<string, unknown>[],
  }));
}

describe('docs/policy.md', () => {
  const all = recipes();

  it('has the recipes of issues 11 and 21', () => {
    assert.deepEqual(
      all.map((r) => r.title),
      [
        'GitHub organization',
        'GitHub team',
        'Email domain, verified addresses only',
        'Email domains by pattern',
        'Kubernetes namespace and service-account patterns',
        'Keycloak realm role and client role',
        'Keycloak group',
        'GitLab group or any of its subgroups',
        'Deny a list of accounts',
      ],
    );
  });

  for (const { title, providers } of all) {
    it(`recipe "${title}" is a valid provider, and every expression of it is exercised by a test`, () => {
      const config = buildConfig({
        issuer: 'https://authjwt.example',
        audience: ['internal-services'],
        keys: { ephemeral: true },
        providers,
      });
      const policy = config.providers[0]!.policy;
      assert.ok(policy, 'the recipe has a policy');
      const allow = policy.allow === undefined ? [] : typeof policy.allow === 'string' ? [policy.allow] : policy.allow;
      const expressions = [...allow.map((a) => (typeof a === 'string' ? a : a.expression)), ...Object.values(policy.claims ?? {})];
      assert.ok(expressions.length > 0);
      for (const e of expressions)
        assert.ok(TESTS.includes(e), `"${e}" is not in test/integration/policy.test.ts, kubernetes.test.ts or the Keycloak e2e`);
    });
  }

  it('the short form of the Keycloak group rule, named in the text, is run by the e2e too', () => {
    assert.ok(TESTS.includes("'engineering' in claims.groups"), 'the short form');
  });

  it('the Keycloak block is exactly what test/fixtures/keycloak-realm.json has for roles, groups, the frontend client and alice', () => {
    const block = /<!-- keycloak-fixture:start -->\n```json\n([\s\S]*?)```\n<!-- keycloak-fixture:end -->/.exec(doc);
    assert.ok(block, 'the marked json block');
    const documented = JSON.parse(block[1]!) as {
      roles: unknown;
      groups: unknown;
      clients: { clientId: string; defaultClientScopes: string[]; protocolMappers: { name: string }[] }[];
      users: { username: string; realmRoles: string[]; groups: string[] }[];
    };
    const fixture = JSON.parse(read('test/fixtures/keycloak-realm.json')) as typeof documented & {
      clients: { clientId: string; defaultClientScopes: string[]; protocolMappers: { name: string }[] }[];
      users: { username: string; realmRoles?: string[]; groups?: string[] }[];
    };
    assert.deepEqual(documented.roles, fixture.roles);
    assert.deepEqual(documented.groups, fixture.groups);
    const frontend = fixture.clients.find((c) => c.clientId === 'frontend')!;
    assert.deepEqual(documented.clients[0]!.defaultClientScopes, frontend.defaultClientScopes);
    assert.ok(frontend.defaultClientScopes.includes('roles'), 'realm roles come from the default client scope "roles"');
    assert.deepEqual(
      documented.clients[0]!.protocolMappers,
      frontend.protocolMappers.filter((m) => m.name === 'groups'),
    );
    const alice = fixture.users.find((u) => u.username === 'alice')!;
    assert.deepEqual(documented.users, [{ username: 'alice', realmRoles: alice.realmRoles, groups: alice.groups }]);
    const bob = fixture.users.find((u) => u.username === 'bob')!;
    assert.equal(bob.realmRoles, undefined, 'bob has no realm role');
    assert.equal(bob.groups, undefined, 'bob is in no group');
  });
});
