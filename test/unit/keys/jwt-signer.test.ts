/**
 * The hot-path JWS signer (node:crypto) against jose's verifier, per algorithm, and the DER → r‖s
 * conversion of ECDSA signatures it does itself (issue 24: the KeyObject is passed to node:crypto
 * directly, an options object costs as much as the signature).
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { compactVerify, decodeProtectedHeader, jwtVerify } from 'jose';
import type { MintedClaims } from '../../../src/exchange/ports.ts';
import { parseKeyFile, type SigningKey } from '../../../src/keys/key-file.ts';
import { CompactJwtSigner, derToJoseSignature, signCompactJwt } from '../../../src/keys/jwt-signer.ts';

const pkcs8 = (k: KeyObject) => k.export({ format: 'pem', type: 'pkcs8' }) as string;
const keyOf = async (k: KeyObject, jwkAlg?: string): Promise<SigningKey> => {
  if (!jwkAlg) return (await parseKeyFile('k.pem', pkcs8(k)))[0]!;
  return (await parseKeyFile('k.json', JSON.stringify({ ...k.export({ format: 'jwk' }), alg: jwkAlg })))[0]!;
};
const KEYS = {
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  ES384: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
  EdDSA: () => generateKeyPairSync('ed25519').privateKey,
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  PS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
};
const claims = (): MintedClaims => {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: 'https://authjwt.test',
    aud: 'svc',
    sub: 'p:alice',
    iat: now,
    nbf: now,
    exp: now + 60,
    jti: 'j',
    provider: 'p',
    client_id: 'c',
    name: 'Zoë',
  };
};

describe('CompactJwtSigner', () => {
  for (const [alg, generate] of Object.entries(KEYS)) {
    it(`${alg}: every token verifies with jose (50 in a row: ECDSA integers with and without a leading zero byte)`, async () => {
      const privateKey = generate();
      const key = await keyOf(privateKey, alg === 'PS256' ? 'PS256' : undefined);
      assert.equal(key.alg, alg);
      const signer = new CompactJwtSigner({ currentSigningKey: () => key, recordUse: () => undefined });
      for (let i = 0; i < (alg.startsWith('ES') ? 50 : 3); i++) {
        const { token, kid } = await signer.sign(claims(), { typ: 'at+jwt' });
        const { payload, protectedHeader } = await jwtVerify(token, createPublicKey(privateKey), { algorithms: [alg], typ: 'at+jwt' });
        assert.deepEqual(protectedHeader, { alg, kid, typ: 'at+jwt' });
        assert.equal(payload.name, 'Zoë');
      }
    });
  }

  it('the header follows the key and typ (rotation: a new key object gets its own header)', async () => {
    const a = await keyOf(KEYS.ES256());
    const b = await keyOf(KEYS.EdDSA());
    let current = a;
    const signer = new CompactJwtSigner({ currentSigningKey: () => current, recordUse: () => undefined });
    assert.deepEqual(decodeProtectedHeader((await signer.sign(claims(), { typ: 'JWT' })).token), { alg: 'ES256', kid: a.kid, typ: 'JWT' });
    assert.deepEqual(decodeProtectedHeader((await signer.sign(claims(), { typ: 'at+jwt' })).token), {
      alg: 'ES256',
      kid: a.kid,
      typ: 'at+jwt',
    });
    current = b;
    assert.deepEqual(decodeProtectedHeader((await signer.sign(claims(), { typ: 'JWT' })).token), { alg: 'EdDSA', kid: b.kid, typ: 'JWT' });
  });

  it('signCompactJwt (the bench floor) writes the header it is given', async () => {
    const privateKey = KEYS.ES256();
    const key = await keyOf(privateKey);
    const token = await signCompactJwt(key, { kid: 'x', typ: 'JWT' }, claims());
    const { protectedHeader } = await compactVerify(token, createPublicKey(privateKey));
    assert.deepEqual(protectedHeader, { alg: 'ES256', kid: 'x', typ: 'JWT' });
  });
});

describe('derToJoseSignature', () => {
  it('matches node:crypto ieee-p1363 output for P-256 and P-384 (200 signatures each)', () => {
    for (const [curve, size, hash] of [
      ['P-256', 32, 'sha256'],
      ['P-384', 48, 'sha384'],
    ] as const) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      for (let i = 0; i < 200; i++) {
        const data = Buffer.from(`message ${i}`);
        const converted = derToJoseSignature(nodeSign(hash, data, privateKey), size);
        assert.equal(converted.length, 2 * size);
        assert.ok(nodeVerify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, converted), `${curve} #${i}`);
      }
    }
  });

  it('short integers are left-padded, a leading zero byte dropped', () => {
    // SEQUENCE { INTEGER 0x01, INTEGER 0x00 0x80 ...(32 bytes) }
    const s = Buffer.alloc(32, 0x80);
    const der = Buffer.concat([Buffer.from([0x30, 3 + 2 + 33, 0x02, 0x01, 0x01, 0x02, 33, 0x00]), s]);
    const out = derToJoseSignature(der, 32);
    assert.deepEqual(out.subarray(0, 32), Buffer.concat([Buffer.alloc(31), Buffer.from([1])]));
    assert.deepEqual(out.subarray(32), s);
  });

  it('refuses what is not two INTEGERs of at most the curve size', () => {
    assert.throws(() => derToJoseSignature(Buffer.from([0x30, 0x03, 0x04, 0x01, 0x01]), 32), /INTEGER expected/);
    const long = Buffer.concat([Buffer.from([0x30, 35, 0x02, 33, 0x01]), Buffer.alloc(32, 1)]);
    assert.throws(() => derToJoseSignature(long, 32), /longer than the curve order/);
  });
});
