/**
 * GetJWT against a real OIDC provider implementation (oidc-provider) in-process: every strategy, the
 * account binding, audience binding, expiry, revocation, provider outage and provider key rotation.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { INTROSPECTION_CLIENT, newSigningKey, startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';

const alice = USERS.alice!;
const bob = USERS.bob!;

function providerConfig(op: OidcTestProvider, id: string, verification: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    type: 'oidc',
    issuer: op.issuer,
    audiences: ['frontend'],
    verification,
    clientId: INTROSPECTION_CLIENT.id,
    clientSecret: INTROSPECTION_CLIENT.secret,
    ...extra,
  };
}

describe('OIDC providers (real oidc-provider)', () => {
  let op: OidcTestProvider;
  let svc: RunningAuthJwt;

  before(async () => {
    op = await startOidcProvider();
    svc = await startAuthJwt({
      clockTolerance: '0s',
      providers: [
        providerConfig(op, 'op-jwt', 'jwt'),
        providerConfig(op, 'op-introspection', 'introspection'),
        providerConfig(op, 'op-userinfo', 'userinfo', { clientId: undefined, clientSecret: undefined, audiences: undefined }),
        providerConfig(op, 'op-userinfo-bound', 'userinfo', { clientId: undefined, clientSecret: undefined }),
        providerConfig(op, 'op-auto', 'auto'),
        providerConfig(op, 'op-auto-public', 'auto', { clientId: undefined, clientSecret: undefined, audiences: undefined }),
      ],
    });
  });
  after(async () => {
    await svc?.stop();
    await op?.close();
  });

  const call = (provider: string, token: string, accountId = alice.sub, type = 'oidc') =>
    svc.getJwt({ provider, type, providerAccountId: accountId, accessToken: token });

  describe('proves the token and mints a JWT verifiable through discovery + JWKS', () => {
    for (const [provider, kind] of [
      ['op-jwt', 'jwt'],
      ['op-introspection', 'opaque'],
      ['op-userinfo', 'opaque'],
      ['op-auto', 'jwt'],
      ['op-auto', 'opaque'],
      ['op-auto-public', 'opaque'],
    ] as const) {
      it(`${provider} with a ${kind} access token`, async () => {
        const token = kind === 'jwt' ? await op.jwtToken(alice) : await op.opaqueToken(alice);
        const res = await call(provider, token);
        assert.equal(res.code, status.OK, res.details);
        const { payload, protectedHeader } = await svc.verify(res.token!);
        assert.equal(payload.sub, `${provider}:${alice.sub}`);
        assert.equal(payload.provider, provider);
        assert.equal(payload.iss, svc.config.issuer);
        assert.equal(payload.aud, 'internal-services');
        assert.equal(payload.exp! - payload.iat!, 900);
        assert.equal(payload.nbf, payload.iat);
        assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
        assert.equal(protectedHeader.typ, 'at+jwt', 'RFC 9068 access token');
        assert.equal(protectedHeader.alg, 'ES256');
        assert.ok(protectedHeader.kid);
      });
    }

    it('maps profile claims from userinfo (email, email_verified, name, preferred_username, groups)', async () => {
      const res = await call('op-userinfo', await op.opaqueToken(alice));
      assert.equal(res.code, status.OK, res.details);
      const { payload } = await svc.verify(res.token!);
      assert.equal(payload.email, alice.email);
      assert.equal(payload.email_verified, true);
      assert.equal(payload.name, alice.name);
      assert.equal(payload.preferred_username, alice.preferred_username);
      assert.deepEqual(payload.groups, alice.groups);
    });

    it('records the upstream client as client_id (RFC 9068)', async () => {
      const res = await call('op-introspection', await op.opaqueToken(alice));
      assert.equal(res.code, status.OK, res.details);
      assert.equal((await svc.verify(res.token!)).payload.client_id, 'frontend');
    });

    it('every minted token has a unique jti', async () => {
      const token = await op.jwtToken(alice);
      const a = await call('op-jwt', token);
      const b = await call('op-jwt', token);
      assert.notEqual((await svc.verify(a.token!)).payload.jti, (await svc.verify(b.token!)).payload.jti);
    });
  });

  describe('rejects what does not prove the account', () => {
    for (const provider of ['op-jwt', 'op-introspection', 'op-userinfo', 'op-auto']) {
      it(`${provider}: alice's token with bob's account id → UNAUTHENTICATED`, async () => {
        const token = provider === 'op-jwt' ? await op.jwtToken(alice) : await op.opaqueToken(alice);
        const res = await call(provider, token, bob.sub);
        assert.equal(res.code, status.UNAUTHENTICATED, res.details);
        assert.match(res.details!, /ACCOUNT_MISMATCH/);
        assert.ok(!res.details!.includes(token));
      });
    }

    it('account id comparison is exact (no case folding, no trimming)', async () => {
      const token = await op.jwtToken(alice);
      assert.equal((await call('op-jwt', token, alice.sub.toUpperCase())).code, status.UNAUTHENTICATED);
      assert.equal((await call('op-jwt', token, `${alice.sub} `)).code, status.UNAUTHENTICATED);
    });

    for (const provider of ['op-jwt', 'op-introspection', 'op-auto']) {
      it(`${provider}: token issued to other-app when only frontend is accepted → UNAUTHENTICATED`, async () => {
        const token =
          provider === 'op-introspection'
            ? await op.opaqueToken(alice, { clientId: 'other-app' })
            : await op.jwtToken(alice, { clientId: 'other-app' });
        const res = await call(provider, token);
        assert.equal(res.code, status.UNAUTHENTICATED, res.details);
        assert.match(res.details!, /WRONG_AUDIENCE/);
      });
    }

    it('userinfo with audiences configured refuses opaque tokens it cannot bind to a client', async () => {
      const res = await call('op-userinfo-bound', await op.opaqueToken(alice));
      assert.equal(res.code, status.UNAUTHENTICATED, res.details);
      assert.match(res.details!, /AUDIENCE_UNVERIFIABLE/);
    });

    for (const provider of ['op-jwt', 'op-introspection', 'op-userinfo']) {
      it(`${provider}: expired token → UNAUTHENTICATED`, async () => {
        const token = provider === 'op-jwt' ? await op.jwtToken(alice, { expiresIn: 1 }) : await op.opaqueToken(alice, { expiresIn: 1 });
        await new Promise((r) => setTimeout(r, 2_100));
        const res = await call(provider, token);
        assert.equal(res.code, status.UNAUTHENTICATED, res.details);
      });
    }

    for (const provider of ['op-introspection', 'op-userinfo']) {
      it(`${provider}: revoked token → UNAUTHENTICATED (remote strategies see revocation at once)`, async () => {
        const token = await op.opaqueToken(alice);
        assert.equal((await call(provider, token)).code, status.OK);
        await op.revoke(token);
        const res = await call(provider, token);
        assert.equal(res.code, status.UNAUTHENTICATED, res.details);
      });
    }

    it('a random string and a tampered JWT → UNAUTHENTICATED', async () => {
      assert.equal((await call('op-jwt', 'not-a-token')).code, status.UNAUTHENTICATED);
      assert.equal((await call('op-introspection', 'not-a-token')).code, status.UNAUTHENTICATED);
      assert.equal((await call('op-userinfo', 'not-a-token')).code, status.UNAUTHENTICATED);
      const jwt = await op.jwtToken(alice);
      const [h, p, s] = jwt.split('.');
      const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: bob.sub })).toString('base64url')}.${s}`;
      const res = await call('op-jwt', forged, bob.sub);
      assert.equal(res.code, status.UNAUTHENTICATED, res.details);
    });
  });

  it('minted token header carries the kid of a key published in JWKS', async () => {
    const res = await call('op-jwt', await op.jwtToken(alice));
    const kid = decodeProtectedHeader(res.token!).kid;
    const jwks = (await (await fetch(`${svc.httpUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string; d?: string }[] };
    assert.ok(jwks.keys.some((k) => k.kid === kid));
    assert.ok(jwks.keys.every((k) => k.d === undefined));
  });
});

describe('OIDC provider outage and key rotation', () => {
  it('provider down → UNAVAILABLE; provider rotates its signing key → new tokens verify (JWKS refetched)', async () => {
    const keyA = await newSigningKey('ES256');
    let op = await startOidcProvider({ signingKeys: [keyA] });
    const port = op.port;
    const svc = await startAuthJwt({
      providers: [providerConfig(op, 'op', 'jwt', { jwksCooldown: '500ms' }), providerConfig(op, 'op-remote', 'introspection')],
    });
    try {
      const first = await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: alice.sub, accessToken: await op.jwtToken(alice) });
      assert.equal(first.code, status.OK, first.details);

      // Rotation: the provider restarts with a new key that signs first, the old one still published.
      const tokenForLater = await op.jwtToken(bob);
      await op.close();
      // Remote strategies cannot answer while the provider is down.
      const down = await svc.getJwt({
        provider: 'op-remote',
        type: 'oidc',
        providerAccountId: alice.sub,
        accessToken: 'fresh-opaque-token',
      });
      assert.equal(down.code, status.UNAVAILABLE, down.details);
      // A token with a kid never seen forces a JWKS refetch (after the cooldown), which fails: UNAVAILABLE.
      await new Promise((r) => setTimeout(r, 600));
      const unknownKid = await svc.getJwt({
        provider: 'op',
        type: 'oidc',
        providerAccountId: alice.sub,
        accessToken: await mintWithUnknownKid(keyA, op.issuer),
      });
      assert.equal(unknownKid.code, status.UNAVAILABLE, unknownKid.details);
      // Local verification keeps working from the last good JWKS while the provider is down.
      const local = await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: bob.sub, accessToken: tokenForLater });
      assert.equal(local.code, status.OK, local.details);

      const keyB = await newSigningKey('RS256');
      op = await startOidcProvider({ port, signingKeys: [keyB, keyA] });
      await new Promise((r) => setTimeout(r, 600)); // JWKS refetch cooldown
      const rotated = await op.jwtToken(alice);
      assert.equal(decodeProtectedHeader(rotated).kid, keyB.kid);
      const res = await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: alice.sub, accessToken: rotated });
      assert.equal(res.code, status.OK, res.details);
      // A token signed with the old key still verifies.
      const old = await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: bob.sub, accessToken: tokenForLater });
      assert.equal(old.code, status.OK, old.details);
    } finally {
      await svc.stop();
      await op.close();
    }
  });

  it('provider unreachable from the start → UNAVAILABLE (not INTERNAL), for every strategy', async () => {
    const op = await startOidcProvider();
    const issuer = op.issuer;
    await op.close();
    const svc = await startAuthJwt({
      providers: ['jwt', 'introspection', 'userinfo', 'auto'].map((v) => ({
        id: `down-${v}`,
        type: 'oidc',
        issuer,
        verification: v,
        clientId: 'authjwt',
        clientSecret: 'x',
        timeout: '1s',
      })),
    });
    try {
      for (const v of ['jwt', 'introspection', 'userinfo', 'auto']) {
        const res = await svc.getJwt({ provider: `down-${v}`, type: 'oidc', providerAccountId: 'a', accessToken: 'opaque-token-value' });
        assert.equal(res.code, status.UNAVAILABLE, `${v}: ${res.details}`);
      }
    } finally {
      await svc.stop();
    }
  });
});

/** A JWT with a kid the provider never published (forces a JWKS refetch). */
async function mintWithUnknownKid(key: Record<string, unknown>, issuer: string): Promise<string> {
  const { SignJWT, importJWK } = await import('jose');
  const k = await importJWK(key as never, 'ES256');
  return new SignJWT({ sub: alice.sub, client_id: 'frontend' })
    .setProtectedHeader({ alg: 'ES256', kid: 'never-published', typ: 'at+jwt' })
    .setIssuer(issuer)
    .setAudience('frontend')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(k);
}
