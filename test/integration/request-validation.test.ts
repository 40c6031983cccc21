/**
 * Malformed requests through the real gRPC server: every one gets INVALID_ARGUMENT (or the transport's
 * RESOURCE_EXHAUSTED for a message beyond the receive limit), never INTERNAL/UNKNOWN, and no provider
 * is called for them.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startAuthJwt, type Account, type RunningAuthJwt } from '../helpers/authjwt.ts';

const valid: Account = { provider: 'github', type: 'oauth', providerAccountId: '583231', accessToken: 'gho_valid' };

describe('GetJWT request validation', () => {
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  before(async () => {
    gh = await startFakeGitHub();
    gh.issue('gho_valid', { id: 583231, login: 'octocat', name: null, email: null }, 'app');
    svc = await startAuthJwt({ providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` }] });
  });
  after(async () => {
    await svc?.stop();
    await gh?.close();
  });

  it('the valid request passes (baseline for the table below)', async () => {
    assert.equal((await svc.getJwt(valid)).code, status.OK);
  });

  const cases: [string, Partial<Account> | undefined, RegExp][] = [
    ['no account', undefined, /MISSING_ACCOUNT/],
    ['empty provider', { ...valid, provider: '' }, /MISSING_PROVIDER/],
    ['unknown provider', { ...valid, provider: 'gitlab' }, /UNKNOWN_PROVIDER/],
    ['prototype-ish provider', { ...valid, provider: '__proto__' }, /UNKNOWN_PROVIDER/],
    ['provider too long', { ...valid, provider: 'g'.repeat(65) }, /INVALID_PROVIDER/],
    ['provider with control char', { ...valid, provider: 'git\u0000hub' }, /INVALID_PROVIDER/],
    ['empty type', { ...valid, type: '' }, /MISSING_TYPE/],
    ['type not oauth/oidc', { ...valid, type: 'credentials' }, /INVALID_TYPE/],
    ['type in other case', { ...valid, type: 'OAuth' }, /INVALID_TYPE/],
    ['type mismatch', { ...valid, type: 'oidc' }, /TYPE_MISMATCH/],
    ['empty account id', { ...valid, providerAccountId: '' }, /MISSING_ACCOUNT_ID/],
    ['account id too long', { ...valid, providerAccountId: '1'.repeat(257) }, /ACCOUNT_ID_TOO_LONG/],
    ['account id with newline', { ...valid, providerAccountId: '583231\n' }, /INVALID_ACCOUNT_ID/],
    ['account id with U+2028', { ...valid, providerAccountId: '583231\u2028' }, /INVALID_ACCOUNT_ID/],
    ['empty access token', { ...valid, accessToken: '' }, /MISSING_ACCESS_TOKEN/],
    ['access token with space', { ...valid, accessToken: 'gho valid' }, /INVALID_ACCESS_TOKEN/],
    ['access token with unicode', { ...valid, accessToken: 'gho_välid' }, /INVALID_ACCESS_TOKEN/],
    ['access token too long (within message limit)', { ...valid, accessToken: 'a'.repeat(9000) }, /ACCESS_TOKEN_TOO_LONG/],
  ];
  for (const [name, account, reason] of cases) {
    it(`${name} → INVALID_ARGUMENT`, async () => {
      const calls = gh.requests.length;
      const res = await svc.getJwt(account);
      assert.equal(res.code, status.INVALID_ARGUMENT, res.details);
      assert.match(res.details!, reason);
      assert.equal(gh.requests.length, calls, 'no provider call for a malformed request');
      if (account?.accessToken && account.accessToken.length > 8) assert.ok(!res.details!.includes(account.accessToken));
    });
  }

  it('a message over the receive limit (16 KiB) → RESOURCE_EXHAUSTED from the transport', async () => {
    const res = await svc.getJwt({ ...valid, accessToken: 'a'.repeat(20_000) });
    assert.equal(res.code, status.RESOURCE_EXHAUSTED);
  });
});
