/**
 * Self-signed workload JWTs (issue 22; draft-ietf-oauth-transaction-tokens, "Self-Signed Subject Token
 * Type"): src/providers/self-signed/self-signed-verifier.ts. Negative cases first, each with its exact
 * catalogue code and kind (→ gRPC status via src/grpc/status.ts, OAuth invalid_request at the token
 * endpoint); frozen clock.
 */
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CompactSign, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { inlineJwkSet } from '../../../../src/clients/jwk-set.ts';
import { MemoryReplayCache } from '../../../../src/clients/replay-cache.ts';
import type { AuthJwtError } from '../../../../src/errors.ts';
import { SelfSignedVerifier, type SelfSignedVerifierOptions } from '../../../../src/providers/self-signed/self-signed-verifier.ts';
import { selfSignedVerifierFor } from '../../../../src/providers/self-signed/from-config.ts';
import type { ProviderConfig } from '../../../../src/config/types.ts';

const TTS = 'https://authjwt.example';
const WORKLOAD = 'spiffe://cluster.local/ns/batch/sa/nightly';
const NOW = 1_800_000_000_000;
const clock = () => NOW;
const sec = Math.floor(NOW / 1000);

const rejectsWith = async (promise: Promise<unknown>, code: string, kind = 'unauthenticated') =>
  assert.rejects(promise, (e: AuthJwtError) => {
    assert.equal(e.code, `ERR_AUTHJWT_${code}`, `${e.code}: ${e.detail}`);
    assert.equal(e.kind, kind);
    return true;
  });

const keyPair = async (alg = 'ES256') => {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: `k-${alg}`, alg } as JWK };
};
const es = await keyPair('ES256');
const other = await keyPair('ES256');

let jtis = 0;
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: WORKLOAD,
  sub: WORKLOAD,
  aud: TTS,
  iat: sec,
  exp: sec + 60,
  jti: `jti-${++jtis}`,
  ...extra,
});
const sign = (payload: Record<string, unknown>, key: CryptoKey = es.privateKey, header: Record<string, unknown> = {}) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: es.jwk.kid!, typ: 'JWT', ...header } as never).sign(key);

const verifierWith = (o: Partial<SelfSignedVerifierOptions> = {}, workload: { subjects?: string[]; scopes?: string[] | undefined } = {}) =>
  new SelfSignedVerifier({
    audience: TTS,
    algorithms: ['ES256', 'EdDSA'],
    maxTokenLifetime: 300_000,
    clockTolerance: 30_000,
    workloads: [
      {
        id: WORKLOAD,
        keys: inlineJwkSet({ keys: [es.jwk] }, 'client'),
        subjects: workload.subjects ?? [],
        scopes: 'scopes' in workload ? workload.scopes : ['orders.read', 'orders.write'],
      },
    ],
    replay: new MemoryReplayCache({ maxEntries: 1000, clock }),
    clock,
    ...o,
  });

describe('self-signed workload JWTs (subject_token_type …:self_signed)', () => {
  describe('refused', () => {
    const v = verifierWith();
    it('not a JWT → UPSTREAM_MALFORMED', async () => rejectsWith(v.verify('opaque-token'), 'UPSTREAM_MALFORMED'));
    it('alg none (unsigned) → UPSTREAM_INVALID_TOKEN', async () => {
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      await rejectsWith(v.verify(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`), 'UPSTREAM_INVALID_TOKEN');
      await rejectsWith(v.verify(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.c2ln`), 'UPSTREAM_INVALID_TOKEN');
    });
    it('HS256 keyed with the workload’s public key → UPSTREAM_INVALID_TOKEN (RFC 8725 §2.1)', async () => {
      const secret = new TextEncoder().encode(JSON.stringify(es.jwk));
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: es.jwk.kid! }).sign(secret);
      await rejectsWith(v.verify(token), 'UPSTREAM_INVALID_TOKEN');
    });
    it('an algorithm outside selfSigned.algorithms → UPSTREAM_INVALID_TOKEN', async () => {
      const v384 = verifierWith({ algorithms: ['EdDSA'] });
      await rejectsWith(v384.verify(await sign(claims())), 'UPSTREAM_INVALID_TOKEN');
    });
    it('signed by a key the workload did not register → UPSTREAM_INVALID_TOKEN or UPSTREAM_UNKNOWN_KEY', async () => {
      await assert.rejects(v.verify(await sign(claims(), other.privateKey)), (e: AuthJwtError) =>
        ['ERR_AUTHJWT_UPSTREAM_INVALID_TOKEN', 'ERR_AUTHJWT_UPSTREAM_UNKNOWN_KEY'].includes(e.code),
      );
    });
    it('unknown workload (iss not registered) → UPSTREAM_UNKNOWN_WORKLOAD', async () => {
      await rejectsWith(
        v.verify(await sign(claims({ iss: 'spiffe://cluster.local/ns/x/sa/y', sub: 'spiffe://cluster.local/ns/x/sa/y' }))),
        'UPSTREAM_UNKNOWN_WORKLOAD',
      );
      await rejectsWith(v.verify(await sign(claims({ iss: '__proto__' }))), 'UPSTREAM_UNKNOWN_WORKLOAD');
      await rejectsWith(v.verify(await sign(claims({ iss: undefined }))), 'UPSTREAM_UNKNOWN_WORKLOAD');
    });
    it('wrong aud (not authjwt’s own id) → UPSTREAM_WRONG_AUDIENCE; aud array without it too', async () => {
      await rejectsWith(v.verify(await sign(claims({ aud: 'https://other-tts.example' }))), 'UPSTREAM_WRONG_AUDIENCE');
      await rejectsWith(v.verify(await sign(claims({ aud: ['https://a.example', 'https://b.example'] }))), 'UPSTREAM_WRONG_AUDIENCE');
    });
    it('expired (beyond the clock tolerance) → UPSTREAM_EXPIRED', async () => {
      await rejectsWith(v.verify(await sign(claims({ iat: sec - 200, exp: sec - 31 }))), 'UPSTREAM_EXPIRED');
    });
    it('missing exp, iat, sub or aud → UPSTREAM_INVALID_TOKEN (the draft requires them all)', async () => {
      for (const missing of ['exp', 'iat', 'sub'])
        await rejectsWith(v.verify(await sign(claims({ [missing]: undefined }))), 'UPSTREAM_INVALID_TOKEN');
      await assert.rejects(v.verify(await sign(claims({ aud: undefined }))), (e: AuthJwtError) => e.kind === 'unauthenticated');
    });
    it('lifetime exp − iat beyond maxTokenLifetime → UPSTREAM_LIFETIME_TOO_LONG', async () => {
      await rejectsWith(v.verify(await sign(claims({ exp: sec + 301 }))), 'UPSTREAM_LIFETIME_TOO_LONG');
    });
    it('an old iat with a far exp (exp − now over the bound) → UPSTREAM_LIFETIME_TOO_LONG', async () => {
      await rejectsWith(v.verify(await sign(claims({ iat: sec - 100, exp: sec + 290 }))), 'UPSTREAM_LIFETIME_TOO_LONG');
    });
    it('iat in the future beyond the tolerance → UPSTREAM_ISSUED_IN_FUTURE', async () => {
      await rejectsWith(v.verify(await sign(claims({ iat: sec + 60, exp: sec + 120 }))), 'UPSTREAM_ISSUED_IN_FUTURE');
    });
    it('typ of another kind of JWT (at+jwt, txntoken+jwt, client-authentication+jwt) → UPSTREAM_WRONG_TYPE', async () => {
      for (const typ of ['at+jwt', 'txntoken+jwt', 'client-authentication+jwt', 'logout+jwt'])
        await rejectsWith(v.verify(await sign(claims(), es.privateKey, { typ })), 'UPSTREAM_WRONG_TYPE');
    });
    it('sub another than the workload without subjects → UPSTREAM_SUBJECT_NOT_ALLOWED', async () => {
      await rejectsWith(v.verify(await sign(claims({ sub: 'user:alice' }))), 'UPSTREAM_SUBJECT_NOT_ALLOWED');
    });
    it('a scope the workload may not claim → UPSTREAM_SCOPE_NOT_ALLOWED; a malformed scope too', async () => {
      await rejectsWith(v.verify(await sign(claims({ scope: 'orders.read admin' }))), 'UPSTREAM_SCOPE_NOT_ALLOWED');
      await rejectsWith(v.verify(await sign(claims({ scope: ['orders.read'] }))), 'UPSTREAM_SCOPE_NOT_ALLOWED');
    });
    it('replayed jti → UPSTREAM_REPLAYED; the first use succeeded', async () => {
      const token = await sign(claims());
      await v.verify(token);
      await rejectsWith(v.verify(token), 'UPSTREAM_REPLAYED');
    });
    it('a replay cache that cannot tell (full of live entries; Redis down) → PROVIDER_REPLAY_CACHE_UNAVAILABLE (UNAVAILABLE), never accepted', async () => {
      const full = verifierWith({ replay: new MemoryReplayCache({ maxEntries: 1, clock }) });
      await full.verify(await sign(claims()));
      await rejectsWith(full.verify(await sign(claims())), 'PROVIDER_REPLAY_CACHE_UNAVAILABLE', 'unavailable');
    });
    it('no jti with replay protection → UPSTREAM_REPLAYED', async () => {
      await rejectsWith(v.verify(await sign(claims({ jti: undefined }))), 'UPSTREAM_REPLAYED');
    });
    it('a forged token (bad signature) does not burn the jti of a genuine one', async () => {
      const genuine = await sign(claims({ jti: 'shared-jti' }));
      const forged = await sign(claims({ jti: 'shared-jti' }), other.privateKey);
      await assert.rejects(v.verify(forged));
      await v.verify(genuine);
    });
    it('a token refused for its scope does not burn its jti either (jti recorded last)', async () => {
      const vv = verifierWith();
      await rejectsWith(vv.verify(await sign(claims({ jti: 'late', scope: 'admin' }))), 'UPSTREAM_SCOPE_NOT_ALLOWED');
      await vv.verify(await sign(claims({ jti: 'late' })));
    });
  });

  describe('accepted', () => {
    it('the workload acting for itself: account = sub, strategy self-signed, client = the workload, expiresAt = exp', async () => {
      const identity = await verifierWith().verify(await sign(claims()));
      assert.equal(identity.accountId, WORKLOAD);
      assert.equal(identity.strategy, 'self-signed');
      assert.equal(identity.clientId, WORKLOAD);
      assert.equal(identity.expiresAt, (sec + 60) * 1000);
    });
    it('scopes: the token’s scope within the workload’s; without scope all of the workload’s; no configured scopes → undefined', async () => {
      assert.deepEqual((await verifierWith().verify(await sign(claims({ scope: 'orders.read' })))).scopes, ['orders.read']);
      assert.deepEqual((await verifierWith().verify(await sign(claims()))).scopes, ['orders.read', 'orders.write']);
      const unscoped = verifierWith({}, { scopes: undefined });
      assert.equal((await unscoped.verify(await sign(claims({ scope: 'anything' })))).scopes, undefined);
      assert.equal((await unscoped.verify(await sign(claims()))).scopes, undefined);
    });
    it('a listed subject, and any subject with "*"', async () => {
      assert.equal(
        (await verifierWith({}, { subjects: ['user:alice'] }).verify(await sign(claims({ sub: 'user:alice' })))).accountId,
        'user:alice',
      );
      assert.equal((await verifierWith({}, { subjects: ['*'] }).verify(await sign(claims({ sub: 'user:bob' })))).accountId, 'user:bob');
    });
    it('typ absent or JWT; an aud array naming authjwt', async () => {
      const v = verifierWith();
      await v.verify(await sign(claims(), es.privateKey, { typ: undefined }));
      await v.verify(await sign(claims({ aud: ['https://x.example', TTS] })));
    });
    it('act / may_act of a self-signed JWT are not taken (a workload’s own word on delegation)', async () => {
      const identity = await verifierWith().verify(await sign(claims({ act: { sub: 'admin' }, may_act: { sub: 'x' } })));
      assert.deepEqual(identity.delegation, { act: undefined, mayAct: undefined });
    });
    it('replay protection off: the same token twice', async () => {
      const v = verifierWith({ replay: undefined });
      const token = await sign(claims({ jti: undefined }));
      await v.verify(token);
      await v.verify(token);
    });
    it('an EdDSA workload key', async () => {
      const ed = await keyPair('EdDSA');
      const v = new SelfSignedVerifier({
        audience: TTS,
        algorithms: ['EdDSA'],
        maxTokenLifetime: 300_000,
        clockTolerance: 0,
        workloads: [{ id: 'w', keys: inlineJwkSet({ keys: [ed.jwk] }, 'client'), subjects: [], scopes: [] }],
        replay: undefined,
        clock,
      });
      const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims({ iss: 'w', sub: 'w' }))))
        .setProtectedHeader({ alg: 'EdDSA', kid: ed.jwk.kid! })
        .sign(ed.privateKey);
      assert.deepEqual((await v.verify(token)).scopes, []);
    });
  });

  describe('from configuration', () => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-selfsigned-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const provider = (workloads: Record<string, unknown>[]): ProviderConfig =>
      ({
        id: 'workloads',
        selfSigned: {
          audience: undefined,
          algorithms: ['ES256'],
          maxTokenLifetime: 300_000,
          replayProtection: true,
          maxReplayEntries: 100,
          accessTokens: false,
          workloads,
        },
      }) as unknown as ProviderConfig;
    it('keys from a file; aud defaults to authjwt’s issuer', async () => {
      const file = join(dir, 'jwks.json');
      writeFileSync(file, JSON.stringify({ keys: [es.jwk] }));
      const built = selfSignedVerifierFor(
        provider([{ id: WORKLOAD, jwks: undefined, jwksFile: file, reloadInterval: 60_000, subjects: [], scopes: ['a'] }]),
        { clockTolerance: 30_000, issuer: TTS },
        { clock },
      );
      try {
        assert.deepEqual((await built.verifier.verify(await sign(claims()))).scopes, ['a']);
      } finally {
        await built.close();
      }
    });
    it('rotation through the file: the new key verifies after a re-read; a broken update keeps the last good keys and is reported', async () => {
      const file = join(dir, 'rotating.jwks.json');
      writeFileSync(file, JSON.stringify({ keys: [es.jwk] }));
      const events: { ok: boolean; error?: string }[] = [];
      const next = await keyPair('ES256');
      const nextJwk = { ...next.jwk, kid: 'k-next' };
      const built = selfSignedVerifierFor(
        provider([{ id: WORKLOAD, jwks: undefined, jwksFile: file, reloadInterval: 100, subjects: [], scopes: [] }]),
        { clockTolerance: 30_000, issuer: TTS },
        { clock, onKeysReload: (e) => events.push(e) },
      );
      const signNext = () => sign(claims(), next.privateKey, { kid: 'k-next' });
      const until = async (done: () => boolean) => {
        for (let i = 0; i < 50 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
      };
      try {
        await assert.rejects(built.verifier.verify(await signNext()));
        writeFileSync(file, JSON.stringify({ keys: [es.jwk, nextJwk] }));
        await until(() => events.some((e) => e.ok));
        await built.verifier.verify(await signNext());
        writeFileSync(file, '{ not json');
        await until(() => events.some((e) => !e.ok));
        assert.equal(events.at(-1)?.ok, false);
        await built.verifier.verify(await signNext());
      } finally {
        await built.close();
      }
    });
    it('a JWK Set with a private key fails the start, naming the workload (never the key)', () => {
      assert.throws(
        () =>
          selfSignedVerifierFor(
            provider([
              {
                id: WORKLOAD,
                jwks: { keys: [{ ...es.jwk, d: 'secret-part' }] },
                jwksFile: undefined,
                reloadInterval: 1000,
                subjects: [],
                scopes: undefined,
              },
            ]),
            { clockTolerance: 30_000, issuer: TTS },
          ),
        (e: Error) => e.message.includes(WORKLOAD) && e.message.includes('private') && !e.message.includes('secret-part'),
      );
    });
  });
});
