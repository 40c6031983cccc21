/**
 * Issue 22 (draft-ietf-oauth-transaction-tokens: a TTS refuses a subject token whose scope it cannot
 * determine): every strategy fills VerifiedIdentity.scopes from what its provider vouched for, and leaves
 * it undefined where nothing does. OIDC strategies against the FAKE OIDC issuer
 * (test/helpers/fake-oidc-issuer.ts), user APIs against the FAKE GitHub and GitLab
 * (test/helpers/fake-github.ts, fake-gitlab.ts: their REST shapes, not the services); the verification
 * cache keeps the scopes with the result.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuthJwtError } from '../../../src/errors.ts';
import type { TokenVerifier } from '../../../src/exchange/ports.ts';
import { CachingVerifier } from '../../../src/providers/caching-verifier.ts';
import { OidcDiscovery } from '../../../src/providers/oidc/discovery.ts';
import { IntrospectionVerifier } from '../../../src/providers/oidc/introspection-verifier.ts';
import { OidcJwtVerifier } from '../../../src/providers/oidc/jwt-verifier.ts';
import { UserinfoVerifier } from '../../../src/providers/oidc/userinfo-verifier.ts';
import { UserApiVerifier, type UserApiSettings } from '../../../src/providers/user-api/user-api-verifier.ts';
import { startFakeGitHub, type FakeGitHub } from '../../helpers/fake-github.ts';
import { startFakeGitLab, type FakeGitLab } from '../../helpers/fake-gitlab.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../../helpers/fake-oidc-issuer.ts';

const now = () => Math.floor(Date.now() / 1000);

describe('scopes of subject tokens, per strategy (issue 22)', () => {
  describe('OIDC: jwt, introspection, userinfo', () => {
    let idp: FakeOidcIssuer;
    let discovery: OidcDiscovery;
    const settings = () => ({ issuer: idp.issuer, audiences: ['app'], accountIdClaim: 'sub', clockTolerance: 30_000 });
    before(async () => {
      idp = await startFakeOidcIssuer();
      discovery = new OidcDiscovery({
        issuer: idp.issuer,
        clientId: idp.client.id,
        clientSecret: idp.client.secret,
        algorithms: undefined,
        jwksCooldown: 0,
        timeout: 2_000,
        fetch: globalThis.fetch,
      });
    });
    after(async () => idp?.close());
    const jwt = (claims: Record<string, unknown>) =>
      idp.sign({ iss: idp.issuer, sub: 'u1', aud: 'app', iat: now(), exp: now() + 300, ...claims });

    it('jwt: `scope` string → its scope-tokens', async () => {
      const identity = await new OidcJwtVerifier(discovery, settings()).verify(await jwt({ scope: 'openid orders.read' }));
      assert.deepEqual(identity.scopes, ['openid', 'orders.read']);
    });
    it('jwt: `scp` array (Okta) and `scp` string (Entra ID)', async () => {
      const v = new OidcJwtVerifier(discovery, settings());
      assert.deepEqual((await v.verify(await jwt({ scp: ['a', 'b'] }))).scopes, ['a', 'b']);
      assert.deepEqual((await v.verify(await jwt({ scp: 'User.Read' }))).scopes, ['User.Read']);
    });
    it('jwt without scope or scp → undefined (cannot be determined)', async () => {
      assert.equal((await new OidcJwtVerifier(discovery, settings()).verify(await jwt({}))).scopes, undefined);
    });
    it('jwt with a malformed scope → undefined, the token still verifies (access tokens do not need scopes)', async () => {
      assert.equal((await new OidcJwtVerifier(discovery, settings()).verify(await jwt({ scope: 42 }))).scopes, undefined);
    });

    const introspection = () => new IntrospectionVerifier(discovery, { ...settings(), hasClientCredentials: true });
    it('introspection: the answer’s `scope` (RFC 7662 §2.2)', async () => {
      const token = idp.opaque();
      idp.introspection.set(token, { active: true, sub: 'u2', client_id: 'app', scope: 'orders.read orders.write', exp: now() + 60 });
      assert.deepEqual((await introspection().verify(token)).scopes, ['orders.read', 'orders.write']);
    });
    it('introspection without scope → undefined', async () => {
      const token = idp.opaque();
      idp.introspection.set(token, { active: true, sub: 'u2', client_id: 'app', exp: now() + 60 });
      assert.equal((await introspection().verify(token)).scopes, undefined);
    });

    it('userinfo, JWT-shaped token: the token’s own scope (the provider accepted that token)', async () => {
      const token = await jwt({ scope: 'openid profile' });
      idp.userinfo.set(token, { sub: 'u1', name: 'U' });
      const identity = await new UserinfoVerifier(discovery, settings()).verify(token);
      assert.deepEqual(identity.scopes, ['openid', 'profile']);
    });
    it('userinfo, opaque token → undefined: the userinfo answer names no scope, even when it has a `scope` member', async () => {
      const token = idp.opaque();
      idp.userinfo.set(token, { sub: 'u3', scope: 'admin' });
      const identity = await new UserinfoVerifier(discovery, { ...settings(), audiences: undefined }).verify(token);
      assert.equal(identity.accountId, 'u3');
      assert.equal(identity.scopes, undefined);
    });
  });

  describe('user APIs: GitHub X-OAuth-Scopes, GitLab /oauth/token/info', () => {
    let gh: FakeGitHub;
    let gl: FakeGitLab;
    before(async () => {
      [gh, gl] = await Promise.all([startFakeGitHub(), startFakeGitLab()]);
      gh.apps.set('app-1', 'app-secret');
    });
    after(async () => {
      await Promise.all([gh?.close(), gl?.close()]);
    });
    const github = (extra: Partial<UserApiSettings> = {}) =>
      new UserApiVerifier({
        url: `${gh.url}/user`,
        headers: {},
        accountIdClaim: 'id',
        githubApp: undefined,
        lookups: [],
        scopes: { source: 'github' },
        fetch: globalThis.fetch,
        ...extra,
      });
    const gitlab = () =>
      new UserApiVerifier({
        url: `${gl.url}/api/v4/user`,
        headers: {},
        accountIdClaim: 'id',
        githubApp: undefined,
        lookups: [],
        scopes: { source: 'gitlab', tokenInfoUrl: `${gl.url}/oauth/token/info` },
        fetch: globalThis.fetch,
      });
    const user = { id: 7, login: 'octo', name: null, email: null };

    it('GitHub OAuth app / classic PAT: X-OAuth-Scopes of GET /user', async () => {
      gh.issue('gho_scoped', user, 'app-1', { scopes: ['repo', 'read:org'] });
      assert.deepEqual((await github().verify('gho_scoped')).scopes, ['repo', 'read:org']);
    });
    it('GitHub token without any scope: X-OAuth-Scopes present and empty → [] (known: none)', async () => {
      gh.issue('gho_none', user, 'app-1', { scopes: [] });
      assert.deepEqual((await github().verify('gho_none')).scopes, []);
    });
    it('GitHub fine-grained PAT / GitHub App token: no X-OAuth-Scopes → undefined', async () => {
      gh.issue('github_pat_fine', user, 'app-1', { fineGrained: true });
      assert.equal((await github().verify('github_pat_fine')).scopes, undefined);
    });
    it('GitHub with OAuth app credentials: the token check’s `scopes`', async () => {
      gh.issue('gho_app', user, 'app-1', { scopes: ['read:user'] });
      const v = github({ githubApp: { apiBaseUrl: gh.url, clientId: 'app-1', clientSecret: 'app-secret' } });
      assert.deepEqual((await v.verify('gho_app')).scopes, ['read:user']);
    });
    it('a user API without a scope source (google, microsoft, custom): undefined, and no X-OAuth-Scopes is read', async () => {
      gh.issue('gho_other', user, 'app-1', { scopes: ['repo'] });
      assert.equal((await github({ scopes: undefined }).verify('gho_other')).scopes, undefined);
    });

    const gluser = { id: 42, username: 'gl', name: 'G L', email: 'g@example.com' };
    it('GitLab OAuth token: scope array of /oauth/token/info, asked beside /api/v4/user', async () => {
      gl.issue('glo_oauth', gluser, { scopes: ['read_user', 'read_api'] });
      const before = gl.count('/oauth/token/info');
      const identity = await gitlab().verify('glo_oauth');
      assert.equal(identity.accountId, '42');
      assert.deepEqual(identity.scopes, ['read_user', 'read_api']);
      assert.equal(gl.count('/oauth/token/info') - before, 1);
    });
    it('GitLab personal access token: token info answers 401 → undefined, the user API still proves the account', async () => {
      gl.issue('glpat-x', gluser, { scopes: ['read_user'], pat: true });
      const identity = await gitlab().verify('glpat-x');
      assert.equal(identity.accountId, '42');
      assert.equal(identity.scopes, undefined);
    });
    it('GitLab token info about another user than the user API → UPSTREAM_SUBJECT_MISMATCH (UNAUTHENTICATED)', async () => {
      gl.issue('glo_mixed', gluser, { scopes: ['api'] });
      const v = new UserApiVerifier({
        url: `${gl.url}/api/v4/user`,
        headers: {},
        accountIdClaim: 'id',
        githubApp: undefined,
        lookups: [],
        scopes: { source: 'gitlab', tokenInfoUrl: `${gl.url}/oauth/token/info` },
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          if (!String(input instanceof Request ? input.url : input).endsWith('/oauth/token/info')) return response;
          const body = (await response.json()) as Record<string, unknown>;
          return Response.json({ ...body, resource_owner_id: 4242 });
        },
      });
      await assert.rejects(
        v.verify('glo_mixed'),
        (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_UPSTREAM_SUBJECT_MISMATCH' && e.kind === 'unauthenticated',
      );
    });
    it('GitLab token info down (5xx) → UNAVAILABLE, never a guess', async () => {
      gl.issue('glo_down', gluser, { scopes: ['read_user'] });
      gl.failing.set('/oauth/token/info', 503);
      try {
        await assert.rejects(gitlab().verify('glo_down'), (e: AuthJwtError) => e.kind === 'unavailable');
        // A token the user API refuses stays refused (UNAUTHENTICATED) whatever token info says.
        await assert.rejects(gitlab().verify('glo_unknown'), (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_UPSTREAM_REJECTED_BY_PROVIDER');
      } finally {
        gl.failing.delete('/oauth/token/info');
      }
    });
  });

  describe('verification cache', () => {
    it('a cache hit returns the scopes of the verification it remembers', async () => {
      let calls = 0;
      const inner: TokenVerifier = {
        verify: async () => {
          calls++;
          return { accountId: 'a', claims: {}, expiresAt: undefined, clientId: undefined, strategy: 'jwt', scopes: ['x', 'y'] };
        },
      };
      const cached = new CachingVerifier(inner, { provider: 'p', maxEntries: 10, maxTtl: 60_000, remoteTtl: 0 });
      assert.deepEqual((await cached.verify('t')).scopes, ['x', 'y']);
      assert.deepEqual((await cached.verify('t')).scopes, ['x', 'y']);
      assert.equal(calls, 1);
    });
  });
});
