/**
 * OAuth providers proven through their user API, against a FAKE of GitHub's REST API shapes
 * (test/helpers/fake-github.ts): preset defaults, numbers compared as strings, the GitHub
 * token-to-app binding, custom user-API providers, and provider faults.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';

const octocat = { id: 583231, login: 'octocat', name: 'The Octocat', email: 'octocat@github.example' };
const hubot = { id: 1024, login: 'hubot', name: null, email: null };

describe('oauth user-API providers (fake GitHub)', () => {
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;

  before(async () => {
    gh = await startFakeGitHub();
    gh.apps.set('Iv1.ourapp', 'our-app-secret');
    gh.apps.set('Iv1.otherapp', 'other-secret');
    gh.issue('gho_ours_octocat', octocat, 'Iv1.ourapp');
    gh.issue('gho_ours_hubot', hubot, 'Iv1.ourapp');
    gh.issue('gho_other_octocat', octocat, 'Iv1.otherapp');
    svc = await startAuthJwt({
      providers: [
        // Preset without app credentials: any token GitHub accepts at /user.
        fakeGitHubProvider(gh, { timeout: '1s' }),
        // Preset bound to our OAuth app.
        fakeGitHubProvider(gh, { id: 'github-bound', clientId: 'Iv1.ourapp', clientSecret: 'our-app-secret', timeout: '1s' }),
        fakeGitHubProvider(gh, { id: 'github-badcreds', clientId: 'Iv1.ourapp', clientSecret: 'wrong', timeout: '1s' }),
        // A custom provider with an explicit user API and nested id field.
        {
          id: 'forge',
          type: 'oauth',
          userinfoUrl: `${gh.url}/user`,
          accountIdField: 'login',
          claims: { nickname: 'login' },
          timeout: '1s',
        },
      ],
    });
  });
  after(async () => {
    await svc?.stop();
    await gh?.close();
  });
  const call = (provider: string, accessToken: string, providerAccountId: string, type = 'oauth') =>
    svc.getJwt({ provider, type, providerAccountId, accessToken });

  it('github preset: the user API proves the token; numeric id compared as a string; claims mapped', async () => {
    const res = await call('github', 'gho_ours_octocat', '583231');
    assert.equal(res.code, status.OK, res.details);
    const { payload } = await svc.verify(res.token!);
    assert.equal(payload.sub, 'github:583231');
    assert.equal(payload.preferred_username, 'octocat');
    assert.equal(payload.name, 'The Octocat');
    assert.equal(payload.email, 'octocat@github.example');
    assert.equal(payload.client_id, 'github', 'RFC 9068: always a client_id; the provider id when the token names no client');
  });

  it('null profile fields are left out of the minted token', async () => {
    const res = await call('github', 'gho_ours_hubot', '1024');
    assert.equal(res.code, status.OK, res.details);
    const { payload } = await svc.verify(res.token!);
    assert.equal(payload.preferred_username, 'hubot');
    assert.ok(!('name' in payload) && !('email' in payload));
  });

  it('mismatched account id → UNAUTHENTICATED', async () => {
    const res = await call('github', 'gho_ours_octocat', '1024');
    assert.equal(res.code, status.UNAUTHENTICATED);
    assert.match(res.details!, /ACCOUNT_MISMATCH/);
    assert.equal((await call('github', 'gho_ours_octocat', '0583231')).code, status.UNAUTHENTICATED);
  });

  it('token GitHub does not know → UNAUTHENTICATED (401 from the provider)', async () => {
    const res = await call('github', 'gho_unknown', '583231');
    assert.equal(res.code, status.UNAUTHENTICATED);
    assert.ok(!res.details!.includes('gho_unknown'));
  });

  it('type must match the provider: oidc for an oauth provider → INVALID_ARGUMENT', async () => {
    assert.equal((await call('github', 'gho_ours_octocat', '583231', 'oidc')).code, status.INVALID_ARGUMENT);
  });

  it('bound to our OAuth app: our token → OK, the user taken from the binding answer', async () => {
    const before = gh.requests.length;
    const res = await call('github-bound', 'gho_ours_octocat', '583231');
    assert.equal(res.code, status.OK, res.details);
    const { payload } = await svc.verify(res.token!);
    assert.equal(payload.client_id, 'Iv1.ourapp');
    assert.deepEqual(
      gh.requests.slice(before).map((r) => `${r.method} ${r.path}`),
      ['POST /applications/Iv1.ourapp/token'],
    );
  });

  it("bound to our OAuth app: another app's token for the same user → UNAUTHENTICATED", async () => {
    const res = await call('github-bound', 'gho_other_octocat', '583231');
    assert.equal(res.code, status.UNAUTHENTICATED);
    assert.match(res.details!, /NOT_ISSUED_TO_CLIENT/);
    // …while the unbound preset would have accepted it: binding is what rejects it.
    assert.equal((await call('github', 'gho_other_octocat', '583231')).code, status.OK);
  });

  it('our app credentials refused by GitHub → UNAVAILABLE (a server problem, not the caller’s)', async () => {
    assert.equal((await call('github-badcreds', 'gho_ours_octocat', '583231')).code, status.UNAVAILABLE);
  });

  it('custom provider: accountIdField and claim mapping from config', async () => {
    const res = await call('forge', 'gho_ours_octocat', 'octocat');
    assert.equal(res.code, status.OK, res.details);
    const { payload } = await svc.verify(res.token!);
    assert.equal(payload.sub, 'forge:octocat');
    assert.equal(payload.nickname, 'octocat');
  });

  describe('provider faults → UNAVAILABLE', () => {
    for (const mode of ['500', 'garbage', 'slow', 'ratelimit'] as const) {
      it(`provider ${mode}`, async (t) => {
        gh.mode = mode;
        t.after(() => (gh.mode = 'ok'));
        const res = await call('github', 'gho_ours_octocat', '583231');
        assert.equal(res.code, status.UNAVAILABLE, res.details);
      });
    }

    it('provider not listening', async () => {
      const dead = await startFakeGitHub();
      await dead.close();
      const s = await startAuthJwt({
        providers: [{ id: 'gh', type: 'oauth', preset: 'github', userinfoUrl: `${dead.url}/user`, apiBaseUrl: dead.url, timeout: '1s' }],
      });
      try {
        assert.equal(
          (await s.getJwt({ provider: 'gh', type: 'oauth', providerAccountId: '1', accessToken: 'gho_x' })).code,
          status.UNAVAILABLE,
        );
      } finally {
        await s.stop();
      }
    });

    it('a redirect is not followed (provider cannot send us elsewhere)', async () => {
      const { createServer } = await import('node:http');
      let followed = false;
      const target = createServer((_q, r) => {
        followed = true;
        r.end('{"id":1}');
      });
      await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
      const redirector = createServer((_q, r) =>
        r.writeHead(302, { location: `http://127.0.0.1:${(target.address() as { port: number }).port}/user` }).end(),
      );
      await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
      const s = await startAuthJwt({
        providers: [
          {
            id: 'r',
            type: 'oauth',
            userinfoUrl: `http://127.0.0.1:${(redirector.address() as { port: number }).port}/user`,
            accountIdField: 'id',
          },
        ],
      });
      try {
        assert.equal(
          (await s.getJwt({ provider: 'r', type: 'oauth', providerAccountId: '1', accessToken: 'tok' })).code,
          status.UNAVAILABLE,
        );
        assert.equal(followed, false);
      } finally {
        await s.stop();
        target.close();
        redirector.close();
      }
    });
  });
});
