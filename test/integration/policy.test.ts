/**
 * Access policy (`allow`) and computed claims in CEL, end to end through GetJWT: every recipe of
 * docs/policy.md with an allowed and a denied case, against the named fakes of GitHub's and GitLab's
 * REST APIs (test/helpers/fake-github.ts, fake-gitlab.ts), a real OIDC provider (oidc-provider) and a
 * scripted OIDC issuer for Keycloak-shaped tokens. Also: a lookup refused for a missing scope, a
 * provider down during a lookup, lookups made only when an expression needs them, computed claims in
 * the minted token (verified with jose through the JWKS), fail-closed runtime errors, the rule in
 * ErrorInfo, per-provider audience and lifetime, and that no identity value leaks on a deny.
 */
import { status, type Metadata } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import protobuf from 'protobufjs';
import { GOOGLE_APIS_PROTO_DIR } from '../../src/grpc/proto.ts';
import { startAuthJwt, type CallResult, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startFakeGitLab, type FakeGitLab } from '../helpers/fake-gitlab.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

// GitHub users and their memberships (fake GitHub).
const octocat = { id: 583231, login: 'octocat', name: 'The Octocat', email: 'octocat@github.example' };
const hubot = { id: 1024, login: 'hubot', name: null, email: null };
const monalisa = { id: 7777, login: 'monalisa', name: 'Mona', email: null };
const READ_ORG = ['read:user', 'user:email', 'read:org'];

// GitLab users (fake GitLab).
const gwen = { id: 41, username: 'gwen', name: 'Gwen', email: 'gwen@example.com' };
const gus = { id: 42, username: 'gus', name: 'Gus', email: 'gus@example.com' };

/** `google.rpc.ErrorInfo` from a failed call's `grpc-status-details-bin`, decoded like test/unit/grpc/status.test.ts. */
function errorInfo(metadata: Metadata | undefined): { reason: string; domain: string; metadata: Record<string, string> } {
  const raw = metadata?.get('grpc-status-details-bin')[0];
  assert.ok(Buffer.isBuffer(raw), 'grpc-status-details-bin is present');
  const root = new protobuf.Root();
  root.resolvePath = (_o, t) => (t.startsWith('google/protobuf/') ? t : `${GOOGLE_APIS_PROTO_DIR}/${t}`);
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  const Status = root.lookupType('google.rpc.Status');
  const decoded = Status.toObject(Status.decode(raw)) as { details: { type_url: string; value: Uint8Array }[] };
  assert.equal(decoded.details[0]!.type_url, 'type.googleapis.com/google.rpc.ErrorInfo');
  const ErrorInfo = root.lookupType('google.rpc.ErrorInfo');
  return ErrorInfo.toObject(ErrorInfo.decode(decoded.details[0]!.value)) as never;
}

describe('access policy and computed claims (CEL), per provider', () => {
  let gh: FakeGitHub;
  let gl: FakeGitLab;
  let op: OidcTestProvider;
  let kc: FakeOidcIssuer;
  let svc: RunningAuthJwt;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  before(async () => {
    [gh, gl, op, kc] = await Promise.all([startFakeGitHub(), startFakeGitLab(), startOidcProvider(), startFakeOidcIssuer()]);
    gh.memberships.set(octocat.id, { orgs: ['acme', 'octo-labs'], teams: ['acme/platform', 'octo-labs/docs'] });
    gh.memberships.set(hubot.id, { orgs: ['other-org'], teams: ['other-org/bots'] });
    gh.issue('gho_octocat', octocat, 'Iv1.app', { scopes: READ_ORG });
    gh.issue('gho_octocat_noorg', octocat, 'Iv1.app'); // Auth.js's default scopes: read:user user:email
    gh.issue('gho_hubot', hubot, 'Iv1.app', { scopes: READ_ORG });
    gh.issue('gho_monalisa', monalisa, 'Iv1.app', { scopes: ['read:org'] });
    gl.groups.set(gwen.id, ['acme', 'acme/platform']);
    gl.groups.set(gus.id, ['hobby']);
    gl.issue('glpat_gwen', gwen, { scopes: ['read_user', 'read_api'] });
    gl.issue('glpat_gus', gus, { scopes: ['read_user', 'read_api'] });
    gl.issue('glpat_gwen_readuser', gwen, { scopes: ['read_user'] });

    const github = (id: string, extra: Record<string, unknown>) => ({
      id,
      preset: 'github',
      userApiUrl: `${gh.url}/user`,
      apiBaseUrl: gh.url,
      retries: 0,
      timeout: '2s',
      ...extra,
    });
    svc = await startAuthJwt({
      providers: [
        // Recipe: GitHub organization. Shorter lifetime and another audience for GitHub users.
        github('gh-org', { allow: "'acme' in github.orgs", claims: { orgs: 'github.orgs' }, audience: 'github-users', tokenTtl: '5m' }),
        // Recipe: GitHub team (named rule), team slugs as a computed claim.
        github('gh-team', {
          allow: [{ name: 'platform-team', expression: "'acme/platform' in github.teams" }],
          claims: { groups: "github.teams.map(t, 'gh:' + t)" },
        }),
        // Recipe: deny a list of accounts (no lookup needed, so none is made).
        github('gh-deny', { allow: "!(account.id in ['1024', '666'])", claims: { login: 'claims.login' } }),
        // A runtime error (GitHub's `company` is absent here) denies: fail closed.
        github('gh-broken', { allow: "claims.company.startsWith('Acme')" }),
        // Recipe: email domain with email_verified (OIDC userinfo: email and email_verified are claims).
        {
          id: 'op-email',
          issuer: op.issuer,
          strategy: 'userinfo',
          allow: "claims.email_verified == true && claims.email.endsWith('@example.com')",
          claims: { tenant: "claims.email.split('@')[1]" },
        },
        // Recipe: email domains by pattern (matches() on RE2).
        {
          id: 'op-email-re',
          issuer: op.issuer,
          strategy: 'userinfo',
          allow: "claims.email_verified == true && claims.email.matches('^[^@]+@(sub[.])?example[.]com$')",
        },
        // Recipe: Keycloak realm role, plus three computed claims.
        {
          id: 'kc-role',
          issuer: kc.issuer,
          audiences: ['frontend'],
          strategy: 'jwt',
          allow: [
            { name: 'deployer', expression: "'deployer' in claims.realm_access.roles" },
            "'user' in claims.resource_access['frontend'].roles",
          ],
          claims: {
            roles: 'claims.realm_access.roles',
            client_roles: "claims.resource_access['frontend'].roles",
            tenant: "claims.email.split('@')[1]",
          },
        },
        // Recipe: Keycloak group (Group Membership mapper, full path off).
        { id: 'kc-group', issuer: kc.issuer, audiences: ['frontend'], strategy: 'jwt', allow: "'engineering' in claims.groups" },
        // Recipe: GitLab group or any of its subgroups.
        {
          id: 'gitlab',
          preset: 'gitlab',
          userApiUrl: `${gl.url}/api/v4/user`,
          retries: 0,
          allow: "gitlab.groups.exists(g, g == 'acme' || g.startsWith('acme/'))",
          claims: { groups: 'gitlab.groups' },
        },
      ],
    });
    const discovery = (await (await fetch(`${svc.httpUrl}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
    jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
  });
  after(async () => {
    await svc?.stop();
    await Promise.all([gh?.close(), gl?.close(), op?.close(), kc?.close()]);
  });

  const github = (provider: string, accessToken: string, id: number) =>
    svc.getJwt({ provider, type: 'oauth', providerAccountId: String(id), accessToken });
  /** Verifies a minted token with jose against the JWKS from discovery, for the audience of its provider. */
  const minted = async (res: CallResult, audience = 'internal-services') => {
    assert.equal(res.code, status.OK, res.details);
    return (await jwtVerify(res.token!, jwks, { issuer: svc.config.issuer, audience })).payload;
  };
  const assertDenied = (res: CallResult, code: string, rule: string | undefined) => {
    assert.equal(res.code, status.PERMISSION_DENIED, res.details);
    assert.match(res.details!, new RegExp(`\\(ERR_AUTHJWT_${code}\\)$`));
    const info = errorInfo(res.metadata);
    assert.equal(info.reason, `ERR_AUTHJWT_${code}`);
    assert.equal(info.domain, 'authjwt');
    assert.equal(info.metadata.rule, rule);
    return info;
  };
  /** Log lines written while `fn` ran. */
  const logsOf = async <T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> => {
    const from = svc.logs.length;
    const result = await fn();
    return { result, lines: svc.logs.slice(from) };
  };
  const kcToken = (sub: string, claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return kc.sign({ iss: kc.issuer, sub, azp: 'frontend', aud: 'account', exp: now + 300, iat: now, ...claims });
  };

  describe('GitHub organization (github.orgs)', () => {
    it('a member of acme gets a token carrying its orgs, with the provider audience and lifetime', async () => {
      const payload = await minted(await github('gh-org', 'gho_octocat', octocat.id), 'github-users');
      assert.deepEqual(payload.orgs, ['acme', 'octo-labs']);
      assert.equal(payload.aud, 'github-users', 'per-provider audience');
      assert.equal(payload.exp! - payload.iat!, 300, 'per-provider tokenTtl 5m');
      assert.equal(payload.preferred_username, 'octocat', 'preset path claims still mapped');
    });

    it('a user outside acme → PERMISSION_DENIED naming rule allow[0] in ErrorInfo, no value in the message or the log', async () => {
      const { result, lines } = await logsOf(() => github('gh-org', 'gho_hubot', hubot.id));
      assertDenied(result, 'POLICY_DENIED', 'allow[0]');
      assert.equal(result.details, 'access denied by policy (ERR_AUTHJWT_POLICY_DENIED)');
      const line = lines.find((l) => l.includes('POLICY_DENIED'));
      assert.ok(line, lines.join(''));
      const log = JSON.parse(line) as Record<string, unknown>;
      assert.equal(log.rule, 'allow[0]');
      assert.equal(log.outcome, 'permission_denied');
      for (const value of ['other-org', 'hubot', 'gho_hubot']) {
        assert.ok(!lines.join('').includes(value), `"${value}" in the log`);
        assert.ok(!JSON.stringify(result).includes(value), `"${value}" sent to the caller`);
      }
    });

    it('a token without read:org → PERMISSION_DENIED; the log names the rule and the missing scope', async () => {
      const { result, lines } = await logsOf(() => github('gh-org', 'gho_octocat_noorg', octocat.id));
      const info = assertDenied(result, 'POLICY_LOOKUP_FORBIDDEN', 'allow[0]');
      assert.equal(info.metadata.lookup, 'github.orgs');
      const line = lines.find((l) => l.includes('POLICY_LOOKUP_FORBIDDEN'));
      assert.ok(line, lines.join(''));
      const log = JSON.parse(line) as { rule: string; detail: string };
      assert.equal(log.rule, 'allow[0]');
      assert.match(log.detail, /^rule allow\[0\]: the provider refused github\.orgs \(403\/404\): the token lacks the read:org scope$/);
    });

    it('GitHub down (5xx) during the lookup → UNAVAILABLE, not a denial', async () => {
      gh.failing.set('/user/orgs', 502);
      try {
        const before = gh.count('/user/orgs');
        const res = await github('gh-org', 'gho_octocat', octocat.id);
        assert.equal(res.code, status.UNAVAILABLE, res.details);
        assert.match(res.details!, /ERR_AUTHJWT_PROVIDER_/);
        assert.equal(gh.count('/user/orgs') - before, 1, 'the lookup was attempted (retries: 0)');
      } finally {
        gh.failing.delete('/user/orgs');
      }
      assert.equal((await github('gh-org', 'gho_octocat', octocat.id)).code, status.OK, 'fine again once GitHub is');
    });

    it('lookups are paginated (Link rel="next") and bounded at 3 pages', async () => {
      const many = { orgs: ['o1', 'o2', 'o3', 'o4', 'acme', 'o6', 'o7', 'o8'], teams: [] };
      gh.memberships.set(monalisa.id, many);
      gh.maxPerPage = 2;
      try {
        const before = gh.count('/user/orgs');
        // acme is the 5th org: on page 3 of 2-item pages.
        assert.equal((await github('gh-org', 'gho_monalisa', monalisa.id)).code, status.OK);
        assert.equal(gh.count('/user/orgs') - before, 3, 'three pages read');
        // Moved to page 4: beyond the bound, not seen → denied (the bound is documented).
        gh.memberships.set(monalisa.id, { orgs: ['o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'acme'], teams: [] });
        assertDenied(await github('gh-org', 'gho_monalisa', monalisa.id), 'POLICY_DENIED', 'allow[0]');
        assert.equal(gh.count('/user/orgs') - before, 6, 'never more than three pages');
      } finally {
        gh.maxPerPage = 100;
      }
    });
  });

  describe('GitHub team (github.teams)', () => {
    it('a member of acme/platform gets a token with the computed groups', async () => {
      const payload = await minted(await github('gh-team', 'gho_octocat', octocat.id));
      assert.deepEqual(payload.groups, ['gh:acme/platform', 'gh:octo-labs/docs']);
      assert.equal(payload.aud, 'internal-services', 'top-level audience where the provider sets none');
      assert.equal(payload.exp! - payload.iat!, 900, 'top-level tokenTtl where the provider sets none');
    });

    it('a user in other teams → PERMISSION_DENIED naming the rule by its name', async () => {
      assertDenied(await github('gh-team', 'gho_hubot', hubot.id), 'POLICY_DENIED', 'platform-team');
    });

    it('reads /user/teams only: the orgs lookup is not needed, so not made', async () => {
      const [orgs, teams] = [gh.count('/user/orgs'), gh.count('/user/teams')];
      assert.equal((await github('gh-team', 'gho_octocat', octocat.id)).code, status.OK);
      assert.equal(gh.count('/user/orgs'), orgs);
      assert.equal(gh.count('/user/teams'), teams + 1);
    });
  });

  describe('deny a list of accounts (account.id)', () => {
    it('an account on the list → PERMISSION_DENIED; others OK; no lookup is made when no expression needs one', async () => {
      const [orgs, teams, users] = [gh.count('/user/orgs'), gh.count('/user/teams'), gh.count('/user')];
      assertDenied(await github('gh-deny', 'gho_hubot', hubot.id), 'POLICY_DENIED', 'allow[0]');
      const payload = await minted(await github('gh-deny', 'gho_octocat', octocat.id));
      assert.equal(payload.login, 'octocat');
      assert.equal(gh.count('/user'), users + 2, 'the user API proved both tokens');
      assert.equal(gh.count('/user/orgs'), orgs, 'no /user/orgs request');
      assert.equal(gh.count('/user/teams'), teams, 'no /user/teams request');
    });
  });

  describe('a runtime error in an expression', () => {
    it('denies (fail closed) with POLICY_ERROR naming the rule; the kind of error is logged, not the value', async () => {
      const { result, lines } = await logsOf(() => github('gh-broken', 'gho_octocat', octocat.id));
      assertDenied(result, 'POLICY_ERROR', 'allow[0]');
      const line = JSON.parse(lines.find((l) => l.includes('POLICY_ERROR'))!) as { detail: string };
      assert.match(line.detail, /^rule allow\[0\]: [a-z_]+$/);
    });
  });

  describe('email domain with email_verified (OIDC userinfo, oidc-provider)', () => {
    it('a verified address of the domain gets a token with the computed tenant', async () => {
      const alice = USERS.alice!;
      const res = await svc.getJwt({
        provider: 'op-email',
        type: 'oidc',
        providerAccountId: alice.sub,
        accessToken: await op.opaqueToken(alice),
      });
      const payload = await minted(res);
      assert.equal(payload.tenant, 'example.com');
      assert.equal(payload.email, 'alice@example.com', 'OIDC default claims still mapped');
    });

    for (const [user, why] of [
      ['carol', 'another domain'],
      ['dave', 'email_verified false'],
    ] as const) {
      it(`${user} (${why}) → PERMISSION_DENIED, the address appears nowhere`, async () => {
        const u = USERS[user]!;
        const { result, lines } = await logsOf(async () =>
          svc.getJwt({ provider: 'op-email', type: 'oidc', providerAccountId: u.sub, accessToken: await op.opaqueToken(u) }),
        );
        assertDenied(result, 'POLICY_DENIED', 'allow[0]');
        for (const value of [u.email, u.email.split('@')[1]!]) {
          assert.ok(!lines.join('').includes(value), `"${value}" in the log`);
          assert.ok(!JSON.stringify(result).includes(value), `"${value}" sent to the caller`);
        }
      });
    }
  });

  describe('email domains by pattern (matches() on RE2)', () => {
    const cases: [string, boolean][] = [
      ['carol', false], // another domain
      ['dave', false], // our domain, email_verified false
      ['alice', true],
    ];
    for (const [user, allowed] of cases) {
      it(`email pattern: ${user} → ${allowed ? 'OK' : 'PERMISSION_DENIED'}`, async () => {
        const u = USERS[user]!;
        const res = await svc.getJwt({
          provider: 'op-email-re',
          type: 'oidc',
          providerAccountId: u.sub,
          accessToken: await op.opaqueToken(u),
        });
        if (allowed) assert.equal(res.code, status.OK, res.details);
        else assertDenied(res, 'POLICY_DENIED', 'allow[0]');
      });
    }
  });

  describe('Keycloak-shaped claims (realm roles, client roles, groups)', () => {
    const deployer = {
      email: 'kim@corp.example',
      realm_access: { roles: ['default-roles-main', 'deployer'] },
      resource_access: { frontend: { roles: ['user'] }, account: { roles: ['manage-account'] } },
      groups: ['engineering'],
    };
    const visitor = { ...deployer, realm_access: { roles: ['default-roles-main'] }, groups: ['sales'] };

    it('a realm role: allowed, with three computed claims in the minted token', async () => {
      const res = await svc.getJwt({
        provider: 'kc-role',
        type: 'oidc',
        providerAccountId: 'kim',
        accessToken: await kcToken('kim', deployer),
      });
      const payload = await minted(res);
      assert.deepEqual(payload.roles, ['default-roles-main', 'deployer']);
      assert.deepEqual(payload.client_roles, ['user']);
      assert.equal(payload.tenant, 'corp.example');
    });

    it('without the realm role → PERMISSION_DENIED (rule "deployer"); without the client role → allow[1]', async () => {
      assertDenied(
        await svc.getJwt({ provider: 'kc-role', type: 'oidc', providerAccountId: 'vic', accessToken: await kcToken('vic', visitor) }),
        'POLICY_DENIED',
        'deployer',
      );
      const noClientRole = { ...deployer, resource_access: { account: { roles: ['manage-account'] } } };
      // resource_access.frontend is absent: a missing key is a runtime error → fail closed.
      assertDenied(
        await svc.getJwt({ provider: 'kc-role', type: 'oidc', providerAccountId: 'kim', accessToken: await kcToken('kim', noClientRole) }),
        'POLICY_ERROR',
        'allow[1]',
      );
    });

    it("a group: 'engineering' in claims.groups allows, another group or none denies", async () => {
      const call = async (claims: Record<string, unknown>) =>
        svc.getJwt({ provider: 'kc-group', type: 'oidc', providerAccountId: 'kim', accessToken: await kcToken('kim', claims) });
      assert.equal((await call(deployer)).code, status.OK);
      assertDenied(await call(visitor), 'POLICY_DENIED', 'allow[0]');
      assertDenied(await call({ email: 'kim@corp.example' }), 'POLICY_ERROR', 'allow[0]');
    });
  });

  describe('GitLab group (gitlab.groups)', () => {
    const gitlab = (accessToken: string, id: number) =>
      svc.getJwt({ provider: 'gitlab', type: 'oauth', providerAccountId: String(id), accessToken });

    it('a member of acme (or a subgroup) gets a token with its groups', async () => {
      const payload = await minted(await gitlab('glpat_gwen', gwen.id));
      assert.deepEqual(payload.groups, ['acme', 'acme/platform']);
      assert.equal(payload.preferred_username, 'gwen');
    });

    it('a member of other groups only → PERMISSION_DENIED', async () => {
      assertDenied(await gitlab('glpat_gus', gus.id), 'POLICY_DENIED', 'allow[0]');
    });

    it('a token without read_api → PERMISSION_DENIED; the log names the read_api scope', async () => {
      const { result, lines } = await logsOf(() => gitlab('glpat_gwen_readuser', gwen.id));
      assertDenied(result, 'POLICY_LOOKUP_FORBIDDEN', 'allow[0]');
      assert.match(lines.join(''), /the provider refused gitlab\.groups \(403\/404\): the token lacks the read_api scope/);
    });

    it('GitLab down during the lookup → UNAVAILABLE', async () => {
      gl.failing.set('/api/v4/groups', 503);
      try {
        assert.equal((await gitlab('glpat_gwen', gwen.id)).code, status.UNAVAILABLE);
      } finally {
        gl.failing.delete('/api/v4/groups');
      }
    });
  });

  it('metrics count denials as outcome="permission_denied" per provider', async () => {
    const text = await (await fetch(`${svc.httpUrl}/metrics`)).text();
    const value = (provider: string) =>
      Number(
        new RegExp(
          `^authjwt_exchange_requests_total\\{door="getjwt",provider="${provider}",outcome="permission_denied",reused="false"\\} (\\d+)`,
          'm',
        ).exec(text)?.[1] ?? 0,
      );
    assert.ok(
      value('gh-org') >= 3,
      text
        .split('\n')
        .filter((l) => l.includes('permission_denied'))
        .join('\n'),
    );
    assert.ok(value('gh-deny') >= 1);
    assert.ok(value('gitlab') >= 2);
    // Lookups are provider calls: counted under endpoint="lookup", only for providers whose policy needs one.
    const lookups = (provider: string, result: string) =>
      Number(
        new RegExp(`^authjwt_provider_requests_total\\{provider="${provider}",endpoint="lookup",result="${result}"\\} (\\d+)`, 'm').exec(
          text,
        )?.[1] ?? 0,
      );
    assert.ok(lookups('gh-org', '2xx') >= 3, 'orgs lookups counted');
    assert.ok(lookups('gh-org', '4xx') >= 1, 'the refused lookup (403) counted');
    assert.ok(lookups('gh-org', '5xx') >= 1, 'the failed lookup counted');
    assert.equal(lookups('gh-deny', '2xx') + lookups('gh-deny', '4xx'), 0, 'no lookup for a policy that needs none');
  });

  it('discovery lists the computed claims in claims_supported', async () => {
    const discovery = (await (await fetch(`${svc.httpUrl}/.well-known/openid-configuration`)).json()) as { claims_supported: string[] };
    for (const c of ['orgs', 'groups', 'tenant', 'roles', 'client_roles']) assert.ok(discovery.claims_supported.includes(c), c);
  });
});

describe('a bad expression stops the start', () => {
  it('exit code 2, naming the field and the line:column, before any listener opens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-badpolicy-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(
        file,
        `issuer: http://127.0.0.1:1
audience: [x]
keys: { ephemeral: true }
grpc: { listen: "127.0.0.1:0" }
http: { listen: "127.0.0.1:0" }
providers:
  - id: gh
    preset: github
    allow:
      - "'acme' in github.orgs"
      - name: staff
        expression: "claims.site_admin == true &&\\n  github.team.exists(t, t == 'acme/staff')"
    claims:
      sub: claims.login
      region: "claims.location.lowerAscii("
`,
      );
      const r = spawnSync(process.execPath, ['src/main.ts', '--config', file], { cwd: root, encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /invalid configuration in .*bad\.yaml/);
      // The reserved claim is caught by the schema first (configuration errors come in rounds).
      assert.match(r.stderr, /providers\[0\]\.claims\.sub: is reserved and cannot be mapped/);
      writeFileSync(file, readFileSync(file, 'utf8').replace('      sub: claims.login\n', ''));
      const again = spawnSync(process.execPath, ['src/main.ts', '--config', file], { cwd: root, encoding: 'utf8', timeout: 20_000 });
      assert.equal(again.status, 2, again.stderr);
      assert.match(
        again.stderr,
        /providers\[0\]\.allow\[1\]: 2:3: `github\.team` is not available for this provider \(available: github\.orgs, github\.teams\)/,
      );
      assert.match(again.stderr, /providers\[0\]\.claims\.region: 1:\d+: /);
      assert.doesNotMatch(again.stderr, /authjwt started/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
