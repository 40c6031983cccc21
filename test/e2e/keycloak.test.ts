/**
 * The whole exchange against a real Keycloak in a container (testcontainers), authjwt configured from
 * a YAML file the way a user configures it. With CI set, a missing container runtime FAILS the suite.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startAuthJwtFromFile, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { KC_INTROSPECTION, KEYCLOAK_IMAGE, NoContainerRuntimeError, startKeycloak, type RunningKeycloak } from '../helpers/keycloak.ts';
import { freePort } from '../helpers/net.ts';
import { missingPrerequisite } from '../helpers/prerequisite.ts';

const STRATEGIES = ['jwt', 'introspection', 'userinfo', 'auto'] as const;

describe(`Keycloak (${KEYCLOAK_IMAGE})`, () => {
  let kc: RunningKeycloak | undefined;
  let svc: RunningAuthJwt;
  let dir: string;
  let skipReason: string | undefined;
  let aliceSub: string;
  let bobSub: string;
  const suiteStarted = Date.now();

  before(async () => {
    try {
      kc = await startKeycloak();
    } catch (error) {
      if (!(error instanceof NoContainerRuntimeError)) throw error;
      skipReason = missingPrerequisite('Keycloak e2e suite', error.message);
      return;
    }
    console.log(
      kc.shared
        ? `# shared Keycloak container at ${kc.issuer}`
        : `# Keycloak container ready in ${(kc.startupMs / 1000).toFixed(1)}s at ${kc.issuer}`,
    );
    dir = mkdtempSync(join(tmpdir(), 'authjwt-kc-'));
    writeFileSync(join(dir, 'keycloak-secret'), `${KC_INTROSPECTION.secret}\n`, { mode: 0o600 });
    const httpPort = await freePort();
    const provider = (id: string, verification: string, audiences = ['frontend']) => `
  - id: ${id}
    type: oidc
    issuer: ${kc!.issuer}
    audiences: [${audiences.join(', ')}]
    verification: ${verification}
    clientId: ${KC_INTROSPECTION.clientId}
    clientSecretFile: ${join(dir, 'keycloak-secret')}
    jwksCooldown: 1s`;
    const yaml = `# written by test/e2e/keycloak.test.ts
issuer: http://127.0.0.1:${httpPort}
audience: [internal-services]
tokenTtl: 15m
clockTolerance: 0s
grpc: { listen: "127.0.0.1:0" }
http: { listen: "127.0.0.1:${httpPort}" }
keys: { ephemeral: true }
logging: { level: debug }
providers:${STRATEGIES.map((s) => provider(`keycloak-${s}`, s)).join('')}${provider('keycloak-short', 'auto', ['short-lived'])}${provider('keycloak-policy', 'jwt')}
    allow: "'engineering' in claims.groups"
    claims:
      roles: claims.realm_access.roles${provider('keycloak-policy-optional', 'introspection')}
    allow:
      - name: engineering
        expression: "'engineering' in claims.?groups.orValue([])"
    claims:
      roles: claims.?realm_access.roles.orValue([])
`;
    writeFileSync(join(dir, 'authjwt.yaml'), yaml);
    svc = await startAuthJwtFromFile(join(dir, 'authjwt.yaml'));
    aliceSub = decodeJwt((await kc.userToken('alice', 'alice')).access_token).sub!;
    bobSub = decodeJwt((await kc.userToken('bob', 'bob')).access_token).sub!;
  });

  after(async () => {
    await svc?.stop();
    await kc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.log(`# Keycloak e2e suite ran in ${((Date.now() - suiteStarted) / 1000).toFixed(1)}s`);
  });

  const call = (provider: string, accessToken: string, providerAccountId: string) =>
    svc.getJwt({ provider, type: 'oidc', providerAccountId, accessToken });

  for (const strategy of STRATEGIES) {
    it(`alice's access token, provider_account_id = her sub → OK (${strategy})`, async (t) => {
      if (skipReason) return t.skip(skipReason);
      const { access_token } = await kc!.userToken('alice', 'alice');
      const res = await call(`keycloak-${strategy}`, access_token, aliceSub);
      assert.equal(res.code, status.OK, res.details);
      const { payload } = await svc.verify(res.token!);
      assert.equal(payload.sub, `keycloak-${strategy}:${aliceSub}`);
      assert.equal(payload.provider, `keycloak-${strategy}`);
      assert.equal(payload.iss, svc.config.issuer);
      if (strategy !== 'introspection') {
        assert.equal(payload.email, 'alice@example.com');
        assert.equal(payload.preferred_username, 'alice');
      }
    });
  }

  it("alice's token with bob's id → UNAUTHENTICATED (every strategy)", async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { access_token } = await kc!.userToken('alice', 'alice');
    for (const strategy of STRATEGIES) {
      const res = await call(`keycloak-${strategy}`, access_token, bobSub);
      assert.equal(res.code, status.UNAUTHENTICATED, `${strategy}: ${res.details}`);
      assert.match(res.details!, /ACCOUNT_MISMATCH/);
    }
  });

  it('token issued to other-app when only frontend is accepted → UNAUTHENTICATED', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { access_token } = await kc!.userToken('alice', 'alice', 'other-app');
    for (const strategy of STRATEGIES) {
      const res = await call(`keycloak-${strategy}`, access_token, aliceSub);
      assert.equal(res.code, status.UNAUTHENTICATED, `${strategy}: ${res.details}`);
      // Introspection: Keycloak itself answers active=false, as authjwt's client is not in other-app's
      // token audience (the documented setup adds it only for frontend: docs/strategies.md).
      assert.match(res.details!, strategy === 'introspection' ? /INACTIVE|WRONG_AUDIENCE/ : /WRONG_AUDIENCE/);
    }
  });

  it('expired token (client with a 2 s access-token lifespan) → UNAUTHENTICATED', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { access_token, expires_in } = await kc!.userToken('alice', 'alice', 'short-lived');
    assert.ok(expires_in <= 2, `fixture lifespan is ${expires_in}s`);
    // Fresh, the same token is accepted: the rejection below is about expiry only.
    assert.equal((await call('keycloak-short', access_token, aliceSub)).code, status.OK);
    const fresh = (await kc!.userToken('alice', 'alice', 'short-lived')).access_token;
    await new Promise((r) => setTimeout(r, 3_500));
    const res = await call('keycloak-short', fresh, aliceSub);
    assert.equal(res.code, status.UNAUTHENTICATED, res.details);
    assert.match(res.details!, /EXPIRED/);
  });

  it('session revoked through the admin API → introspection and userinfo UNAUTHENTICATED; local jwt accepts until expiry', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { access_token } = await kc!.userToken('alice', 'alice');
    assert.equal((await call('keycloak-introspection', access_token, aliceSub)).code, status.OK);
    assert.equal((await call('keycloak-userinfo', access_token, aliceSub)).code, status.OK);
    const logout = await kc!.admin('POST', `/users/${aliceSub}/logout`);
    assert.equal(logout.status, 204, await logout.text());
    const introspected = await call('keycloak-introspection', access_token, aliceSub);
    assert.equal(introspected.code, status.UNAUTHENTICATED, introspected.details);
    const userinfo = await call('keycloak-userinfo', access_token, aliceSub);
    assert.equal(userinfo.code, status.UNAUTHENTICATED, userinfo.details);
    // Documented trade-off (docs/strategies.md): local verification cannot see revocation.
    assert.equal((await call('keycloak-jwt', access_token, aliceSub)).code, status.OK);
  });

  it('Keycloak signing key rotation (new RSA key with higher priority) → new tokens still verify', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const before = (await kc!.userToken('alice', 'alice')).access_token;
    assert.equal((await call('keycloak-jwt', before, aliceSub)).code, status.OK);
    const realm = (await (await kc!.admin('GET', '')).json()) as { id: string };
    const created = await kc!.admin('POST', '/components', {
      name: `rotated-${Date.now()}`,
      providerId: 'rsa-generated',
      providerType: 'org.keycloak.keys.KeyProvider',
      parentId: realm.id,
      config: { priority: ['1000'], keySize: ['2048'], algorithm: ['RS256'], active: ['true'], enabled: ['true'] },
    });
    assert.equal(created.status, 201, await created.text());
    const after = (await kc!.userToken('alice', 'alice')).access_token;
    assert.notEqual(decodeProtectedHeader(after).kid, decodeProtectedHeader(before).kid, 'Keycloak signs with the new key');
    await new Promise((r) => setTimeout(r, 1_100)); // JWKS refetch cooldown (jwksCooldown: 1s)
    const res = await call('keycloak-jwt', after, aliceSub);
    assert.equal(res.code, status.OK, res.details);
    await svc.verify(res.token!);
    assert.equal((await call('keycloak-jwt', before, aliceSub)).code, status.OK, 'old key still published, still verifies');
  });

  it('policy: alice (group engineering, realm role deployer) gets a token whose computed roles carry deployer; bob → PERMISSION_DENIED', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const alice = (await kc!.userToken('alice', 'alice')).access_token;
    // What the fixture's mappers put in the access token (docs/policy.md, "Keycloak").
    const upstream = decodeJwt(alice) as { groups?: unknown; realm_access?: { roles?: unknown } };
    assert.deepEqual(upstream.groups, ['engineering'], 'Group Membership mapper, full path off');
    assert.deepEqual(upstream.realm_access?.roles, ['deployer'], "the default client scope 'roles' (realm roles mapper)");
    for (const provider of ['keycloak-policy', 'keycloak-policy-optional']) {
      const res = await call(provider, alice, aliceSub);
      assert.equal(res.code, status.OK, `${provider}: ${res.details}`);
      const { payload } = await svc.verify(res.token!);
      assert.ok(Array.isArray(payload.roles) && payload.roles.includes('deployer'), `${provider}: roles ${JSON.stringify(payload.roles)}`);
      assert.deepEqual(payload.groups, ['engineering'], 'the default mapping of groups still applies');
    }

    const bob = (await kc!.userToken('bob', 'bob')).access_token;
    assert.equal(decodeJwt(bob).groups, undefined, 'Keycloak omits groups for a user in none');
    const from = svc.logs.length;
    // claims.groups is absent: the rule cannot be evaluated → denied (fail closed).
    const strict = await call('keycloak-policy', bob, bobSub);
    assert.equal(strict.code, status.PERMISSION_DENIED, strict.details);
    assert.equal(strict.details, 'access denied: a policy rule could not be evaluated (ERR_AUTHJWT_POLICY_ERROR)');
    // With optional access the same rule is a plain denial, named.
    const optional = await call('keycloak-policy-optional', bob, bobSub);
    assert.equal(optional.code, status.PERMISSION_DENIED, optional.details);
    assert.equal(optional.details, 'access denied by policy (ERR_AUTHJWT_POLICY_DENIED)');
    const lines = svc.logs.slice(from).map((l) => JSON.parse(l) as { rule?: string; reason?: string });
    assert.deepEqual(
      lines.filter((l) => l.rule).map((l) => [l.rule, l.reason]),
      [
        ['allow[0]', 'ERR_AUTHJWT_POLICY_ERROR'],
        ['engineering', 'ERR_AUTHJWT_POLICY_DENIED'],
      ],
    );
    assert.ok(!svc.logs.slice(from).join('').includes('bob@example.com'), 'no claim value in the log of a deny');
  });

  it('Keycloak stopped → UNAVAILABLE for a fresh token; started again → OK', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const fresh = (await kc!.userToken('alice', 'alice')).access_token;
    await kc!.stop();
    try {
      for (const strategy of ['introspection', 'userinfo'] as const) {
        const res = await call(`keycloak-${strategy}`, fresh, aliceSub);
        assert.equal(res.code, status.UNAVAILABLE, `${strategy}: ${res.details}`);
      }
    } finally {
      await kc!.start();
    }
    const again = (await kc!.userToken('alice', 'alice')).access_token;
    for (const strategy of STRATEGIES) {
      const res = await call(`keycloak-${strategy}`, again, aliceSub);
      assert.equal(res.code, status.OK, `${strategy}: ${res.details}`);
    }
  });
});
