/**
 * Keys from a directory laid out like a Kubernetes Secret volume, served as JWKS + discovery, hot
 * reloaded without restart; a corrupt update keeps the service signing with the last good keyring.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { privateKeyPem, writeSecretRevision } from '../helpers/secret-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ecKey = () => privateKeyPem();
let lastEdPem = '';
const edKey = () => (lastEdPem = privateKeyPem('ed25519'));
const readNewPem = () => lastEdPem;

describe('keys from a Secret volume, JWKS and discovery', () => {
  let dir: string;
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  const oldPem = ecKey();
  const account = { provider: 'github', type: 'oauth', providerAccountId: '7', accessToken: 'gho_seven' };
  const jwks = async () => (await (await fetch(`${svc.httpUrl}/.well-known/jwks.json`)).json()) as { keys: Record<string, string>[] };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'authjwt-keys-'));
    writeSecretRevision(dir, { 'signing-2026-11.pem': oldPem }, 1);
    gh = await startFakeGitHub();
    gh.issue('gho_seven', { id: 7, login: 'seven', name: null, email: null }, 'app');
    svc = await startAuthJwt({
      keys: { dir, reloadInterval: '200ms', publishLeadTime: '1s' },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` }],
    });
  });
  after(async () => {
    await svc?.stop();
    await gh?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves discovery pointing at the JWKS, and JWKS with public members, ETag and bounded max-age', async () => {
    const d = (await (await fetch(`${svc.httpUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(d.issuer, svc.config.issuer);
    assert.equal(d.jwks_uri, `${svc.config.issuer}/.well-known/jwks.json`);
    assert.deepEqual(d.id_token_signing_alg_values_supported, ['ES256']);
    const res = await fetch(`${svc.httpUrl}/.well-known/jwks.json`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/jwk-set+json');
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control')!)![1]);
    assert.ok(maxAge <= 1, `max-age ${maxAge}s must not exceed the 1s publish lead time`);
    const etag = res.headers.get('etag')!;
    const body = (await res.json()) as { keys: Record<string, string>[] };
    assert.equal(body.keys.length, 1);
    const [k] = body.keys;
    assert.deepEqual(Object.keys(k!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.equal(k!.use, 'sig');
    const again = await fetch(`${svc.httpUrl}/.well-known/jwks.json`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  it('adding a key publishes it within seconds, signs with it only after the lead time; removing the old one keeps serving', async () => {
    const first = await svc.getJwt(account);
    assert.equal(first.code, status.OK, first.details);
    const oldKid = decodeProtectedHeader(first.token!).kid;

    const added = Date.now();
    writeSecretRevision(dir, { 'signing-2026-11.pem': oldPem, 'signing-2026-12.pem': edKey() }, 2);
    const published = await waitFor(async () => {
      const k = await jwks();
      return k.keys.some((x) => x.alg === 'EdDSA') ? k : undefined;
    });
    assert.equal(published.keys.length, 2);
    const newKid = published.keys.find((x) => x.alg === 'EdDSA')!.kid!;

    // Within the lead time the old key keeps signing.
    const during = await svc.getJwt(account);
    assert.equal(during.code, status.OK);
    if (Date.now() - added < 900) assert.equal(decodeProtectedHeader(during.token!).kid, oldKid);

    const switched = await waitFor(async () => {
      const r = await svc.getJwt(account);
      return decodeProtectedHeader(r.token!).kid === newKid ? r.token : undefined;
    });
    assert.ok(Date.now() - added >= 1_000, 'the new key must not sign before the publish lead time');
    await svc.verify(switched!);

    // Retire the old key from the Secret: it stays published while tokens it signed are valid.
    writeSecretRevision(dir, { 'signing-2026-12.pem': readNewPem() }, 3);
    await waitFor(async () =>
      svc.logs.some(
        (l) => l.includes('signing keys loaded') && l.includes(newKid!) && !l.includes(`"kids":["${oldKid}`) && !l.includes(`,"${oldKid}"`),
      )
        ? true
        : undefined,
    );
    assert.ok(
      (await jwks()).keys.some((x) => x.kid === oldKid),
      'a retired key that signed live tokens stays published',
    );
    await svc.verify(first.token!);
  });

  it('a corrupt key file mid-flight keeps the last good keyring and keeps serving', async () => {
    const before = await jwks();
    writeSecretRevision(dir, { 'signing-2026-11.pem': '-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n' }, 4);
    await waitFor(async () => (svc.app.keys.store.status().lastReloadError ? true : undefined));
    assert.deepEqual((await jwks()).keys.map((k) => k.kid).sort(), before.keys.map((k) => k.kid).sort());
    const res = await svc.getJwt(account);
    assert.equal(res.code, status.OK, res.details);
    await svc.verify(res.token!);
    const ready = await fetch(`${svc.httpUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.match(await ready.text(), /lastKeyReloadError/);
  });
});

describe('no usable key', () => {
  it('an empty key directory: not ready, GetJWT → UNAVAILABLE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-nokeys-'));
    const svc = await startAuthJwt({
      keys: { dir },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: 'http://127.0.0.1:9/user' }],
    });
    try {
      assert.equal((await fetch(`${svc.httpUrl}/readyz`)).status, 503);
      const res = await svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: '1', accessToken: 'x' });
      // The provider is unreachable too; either way the caller must get UNAVAILABLE, never INTERNAL.
      assert.equal(res.code, status.UNAVAILABLE);
    } finally {
      await svc.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
