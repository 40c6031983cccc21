/**
 * Delegated tokens read by an INDEPENDENT verifier (issue 21): PyJWT (test/interop/python/verify_jwt.py,
 * PyJWKClient through discovery) verifies a token minted by the RFC 8693 endpoint for a subject token that
 * already carries `act`, exchanged with an actor token, and prints its claims: the `act` chain must be
 * nested as RFC 8693 §4.1 says — the current actor outermost, the prior actor inside it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { jsonLines, requireTool, runPython } from '../helpers/interop-tools.ts';

describe('RFC 8693 act nesting, verified by PyJWT', () => {
  let fake: FakeOidcIssuer;
  let svc: RunningAuthJwt;

  before(async () => {
    fake = await startFakeOidcIssuer();
    svc = await startAuthJwt({
      tokenEndpoint: { enabled: true, clientAuthentication: { methods: ['none'] } },
      providers: [{ id: 'kc', type: 'oidc', issuer: fake.issuer, strategy: 'jwt', audiences: ['frontend', 'orders-app'] }],
    });
  });
  after(async () => {
    await svc?.stop();
    await fake?.close();
  });

  it('a subject with act + an actor token → act {current actor, act: {prior actor}}; a tampered chain does not verify', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const now = Math.floor(Date.now() / 1000);
    const subject = await fake.sign({
      iss: fake.issuer,
      sub: 'alice',
      azp: 'frontend',
      iat: now,
      exp: now + 300,
      act: { sub: 'svc-gateway' },
    });
    const actor = await fake.sign({ iss: fake.issuer, sub: 'svc-orders', azp: 'orders-app', iat: now, exp: now + 300 });
    const res = await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: subject,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        actor_token: actor,
        actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      }),
    });
    assert.equal(res.status, 200);
    const token = ((await res.json()) as { access_token: string }).access_token;

    const verified = await runPython(python, 'verify_jwt.py', ['--issuer', svc.config.issuer, '--audience', 'internal-services'], {
      input: `${token}\n`,
    });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const [line] = jsonLines<{ ok: boolean; claims: Record<string, unknown> }>(verified.stdout);
    assert.equal(line!.claims.sub, 'kc:alice', 'the subject is the user');
    assert.deepEqual(line!.claims.act, {
      sub: 'kc:svc-orders',
      client_id: 'orders-app',
      act: { sub: 'svc-gateway', iss: fake.issuer },
    });

    // The chain is signed: rewriting the prior actor breaks the signature for PyJWT too.
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { act: { act: { sub: string } } };
    claims.act.act.sub = 'svc-admin';
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    const refused = await runPython(python, 'verify_jwt.py', ['--issuer', svc.config.issuer, '--audience', 'internal-services'], {
      input: `${forged}\n`,
    });
    assert.deepEqual(
      jsonLines<{ ok: boolean; error: string }>(refused.stdout).map((r) => [r.ok, r.error]),
      [[false, 'InvalidSignatureError']],
    );
  });
});
