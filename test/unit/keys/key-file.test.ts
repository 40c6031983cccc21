/**
 * Key files as found in the Secret: PEM (PKCS#8, PKCS#1, SEC1) and JWK / JWK Set JSON. Keys are
 * generated here; none is committed.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint, compactVerify, CompactSign, importJWK, type JWK } from 'jose';
import { isIgnorableKeyFile, KeyFileError, parseKeyFile, type SigningKey } from '../../../src/keys/key-file.ts';

const ec256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

const pkcs8 = (k: KeyObject) => k.export({ format: 'pem', type: 'pkcs8' }) as string;
const privateJwk = (k: KeyObject) => k.export({ format: 'jwk' }) as JWK;
const publicJwk = (k: KeyObject) => createPublicKey(k).export({ format: 'jwk' }) as JWK;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'];

async function rejects(content: string, code: string, name = 'key.pem'): Promise<void> {
  await assert.rejects(parseKeyFile(name, content), (e: unknown) => {
    assert.ok(e instanceof KeyFileError, `expected KeyFileError, got ${String(e)}`);
    assert.equal(e.code, `ERR_AUTHJWT_KEYS_${code}`);
    assert.ok(e.message.startsWith(`${name}`), e.message);
    return true;
  });
}

async function parseOne(name: string, content: string): Promise<SigningKey> {
  const keys = await parseKeyFile(name, content);
  assert.equal(keys.length, 1);
  return keys[0]!;
}

/** The private key signs something its published public JWK verifies. */
async function assertKeyPairWorks(key: SigningKey): Promise<void> {
  const jws = await new CompactSign(new TextEncoder().encode('payload'))
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .sign(key.privateKey);
  const { protectedHeader } = await compactVerify(jws, await importJWK(key.publicJwk as JWK, key.alg));
  assert.equal(protectedHeader.kid, key.kid);
}

describe('parseKeyFile rejects', () => {
  const truncated = (() => {
    const pem = pkcs8(ec256.privateKey);
    const lines = pem.trim().split('\n');
    return [...lines.slice(0, 2), lines.at(-1)].join('\n'); // header, one body line, footer
  })();
  const cases: { name: string; content: () => string; code: string }[] = [
    {
      name: 'a public key PEM',
      content: () => createPublicKey(ec256.privateKey).export({ format: 'pem', type: 'spki' }) as string,
      code: 'NOT_PRIVATE',
    },
    {
      name: 'an RSA public key PEM (PKCS#1)',
      content: () => createPublicKey(rsa.privateKey).export({ format: 'pem', type: 'pkcs1' }) as string,
      code: 'NOT_PRIVATE',
    },
    {
      name: 'a certificate PEM',
      content: () => '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n',
      code: 'NOT_PRIVATE',
    },
    {
      name: 'an RSA 1024 key',
      content: () => pkcs8(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey),
      code: 'KEY_TOO_SMALL',
    },
    {
      name: 'an RSA 1024 private JWK',
      content: () => JSON.stringify(privateJwk(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey)),
      code: 'KEY_TOO_SMALL',
    },
    {
      name: 'a secp256k1 EC key',
      content: () => pkcs8(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey),
      code: 'UNSUPPORTED_KEY',
    },
    {
      name: 'a P-521 EC key (not on the allow-list)',
      content: () => pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey),
      code: 'UNSUPPORTED_KEY',
    },
    { name: 'an X25519 key (not a signing key)', content: () => pkcs8(generateKeyPairSync('x25519').privateKey), code: 'UNSUPPORTED_KEY' },
    { name: 'a symmetric JWK', content: () => JSON.stringify({ kty: 'oct', k: 'c2VjcmV0', d: 'x' }), code: 'UNSUPPORTED_KEY' },
    { name: 'a JWK without d', content: () => JSON.stringify(publicJwk(ec256.privateKey)), code: 'NOT_PRIVATE' },
    {
      name: 'a JWK Set with one public key among private ones',
      content: () => JSON.stringify({ keys: [privateJwk(ec256.privateKey), publicJwk(ed.privateKey)] }),
      code: 'NOT_PRIVATE',
    },
    {
      name: 'a P-256 JWK with alg ES384',
      content: () => JSON.stringify({ ...privateJwk(ec256.privateKey), alg: 'ES384' }),
      code: 'ALG_MISMATCH',
    },
    {
      name: 'an RSA JWK with alg RS512',
      content: () => JSON.stringify({ ...privateJwk(rsa.privateKey), alg: 'RS512' }),
      code: 'ALG_MISMATCH',
    },
    {
      name: 'an Ed25519 JWK with alg ES256',
      content: () => JSON.stringify({ ...privateJwk(ed.privateKey), alg: 'ES256' }),
      code: 'ALG_MISMATCH',
    },
    { name: 'a JWK with use enc', content: () => JSON.stringify({ ...privateJwk(ec256.privateKey), use: 'enc' }), code: 'WRONG_USE' },
    {
      name: 'a JWK whose private part does not fit its public part',
      content: () =>
        JSON.stringify({ ...privateJwk(ec256.privateKey), d: privateJwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey).d }),
      code: 'FILE_INVALID',
    },
    {
      name: 'a JWK with a non-numeric nbf',
      content: () => JSON.stringify({ ...privateJwk(ec256.privateKey), nbf: '2026-12-01' }),
      code: 'FILE_INVALID',
    },
    {
      name: 'a JWK with a kid containing spaces',
      content: () => JSON.stringify({ ...privateJwk(ec256.privateKey), kid: 'my key' }),
      code: 'FILE_INVALID',
    },
    { name: 'garbage text', content: () => 'this is not a key\n', code: 'FILE_INVALID' },
    { name: 'an empty file', content: () => '', code: 'FILE_INVALID' },
    { name: 'truncated JSON', content: () => JSON.stringify(privateJwk(ec256.privateKey)).slice(0, 40), code: 'FILE_INVALID' },
    { name: 'JSON that is not a JWK', content: () => '{"hello": "world"}', code: 'FILE_INVALID' },
    { name: 'a truncated PEM (body cut short)', content: () => truncated, code: 'FILE_INVALID' },
    { name: 'a truncated PEM (no footer)', content: () => pkcs8(ec256.privateKey).slice(0, 120), code: 'FILE_INVALID' },
    {
      name: 'an encrypted PEM',
      content: () => ec256.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string,
      code: 'ENCRYPTED',
    },
    { name: 'Not-Before that is not a time', content: () => `Not-Before: tomorrow\n${pkcs8(ec256.privateKey)}`, code: 'FILE_INVALID' },
    // Regression: a value with spaces or an empty value used to be skipped, letting the key sign at once.
    { name: 'Not-Before with words', content: () => `Not-Before: next monday\n${pkcs8(ec256.privateKey)}`, code: 'FILE_INVALID' },
    { name: 'Not-Before that is empty', content: () => `Not-Before:\n${pkcs8(ec256.privateKey)}`, code: 'FILE_INVALID' },
    {
      name: 'Not-Before without a time zone',
      content: () => `Not-Before: 2026-12-01T10:00:00\n${pkcs8(ec256.privateKey)}`,
      code: 'FILE_INVALID',
    },
  ];
  for (const c of cases) {
    it(`${c.name} (${c.code})`, () => rejects(c.content(), c.code));
  }
});

describe('parseKeyFile accepts PKCS#8 PEM', () => {
  const cases: { name: string; key: KeyObject; alg: string }[] = [
    { name: 'EC P-256', key: ec256.privateKey, alg: 'ES256' },
    { name: 'EC P-384', key: ec384.privateKey, alg: 'ES384' },
    { name: 'Ed25519', key: ed.privateKey, alg: 'EdDSA' },
    { name: 'RSA 2048', key: rsa.privateKey, alg: 'RS256' },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.alg}, kid = RFC 7638 thumbprint, public members only`, async () => {
      const key = await parseOne('key.pem', pkcs8(c.key));
      assert.equal(key.alg, c.alg);
      assert.equal(key.kid, await calculateJwkThumbprint(publicJwk(c.key), 'sha256'));
      assert.equal(key.source, 'key.pem');
      assert.equal(key.notBefore, undefined);
      for (const m of PRIVATE_MEMBERS) assert.equal(m in key.publicJwk, false, `publicJwk has ${m}`);
      assert.deepEqual(key.publicJwk, { ...publicJwk(c.key), kid: key.kid, alg: c.alg, use: 'sig' });
      assert.ok(Object.isFrozen(key.publicJwk));
      await assertKeyPairWorks(key);
    });
  }
});

describe('parseKeyFile accepts other formats', () => {
  it('PKCS#1 RSA PEM ("BEGIN RSA PRIVATE KEY"), same kid as its PKCS#8 form', async () => {
    const pem = rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    assert.ok(pem.startsWith('-----BEGIN RSA PRIVATE KEY-----'));
    const key = await parseOne('rsa.pem', pem);
    assert.equal(key.alg, 'RS256');
    assert.equal(key.kid, (await parseOne('rsa8.pem', pkcs8(rsa.privateKey))).kid);
    await assertKeyPairWorks(key);
  });

  it('SEC1 EC PEM ("BEGIN EC PRIVATE KEY")', async () => {
    const pem = ec384.privateKey.export({ format: 'pem', type: 'sec1' }) as string;
    assert.ok(pem.startsWith('-----BEGIN EC PRIVATE KEY-----'));
    const key = await parseOne('ec.pem', pem);
    assert.equal(key.alg, 'ES384');
    assert.equal(key.kid, await calculateJwkThumbprint(publicJwk(ec384.privateKey), 'sha256'));
    await assertKeyPairWorks(key);
  });

  it('a private JWK, taking its kid', async () => {
    const key = await parseOne('key.json', JSON.stringify({ ...privateJwk(ed.privateKey), kid: '2026-11-signing' }));
    assert.equal(key.kid, '2026-11-signing');
    assert.equal(key.alg, 'EdDSA');
    assert.equal(key.publicJwk.kid, '2026-11-signing');
    assert.equal('d' in key.publicJwk, false);
    await assertKeyPairWorks(key);
  });

  it('an RSA private JWK with alg PS256 signs PS256, without its private members in publicJwk', async () => {
    const key = await parseOne('rsa.json', JSON.stringify({ ...privateJwk(rsa.privateKey), alg: 'PS256' }));
    assert.equal(key.alg, 'PS256');
    assert.deepEqual(Object.keys(key.publicJwk).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
    await assertKeyPairWorks(key);
  });

  it('a JWK Set with two keys', async () => {
    const keys = await parseKeyFile(
      'keys.json',
      JSON.stringify({ keys: [{ ...privateJwk(ec256.privateKey), kid: 'a' }, privateJwk(rsa.privateKey)] }),
    );
    assert.deepEqual(
      keys.map((k) => [k.kid, k.alg, k.source]),
      [
        ['a', 'ES256', 'keys.json#0'],
        [keys[1]!.kid, 'RS256', 'keys.json#1'],
      ],
    );
    assert.equal(keys[1]!.kid, await calculateJwkThumbprint(publicJwk(rsa.privateKey), 'sha256'));
  });

  it('a PEM with surrounding whitespace', async () => {
    assert.equal((await parseOne('key.pem', `\n\n${pkcs8(ec256.privateKey)}\n\n`)).alg, 'ES256');
  });
});

describe('activation time (notBefore)', () => {
  const at = Date.UTC(2026, 11, 1, 10, 0, 0);
  const cases: { name: string; header: string; notBefore: number }[] = [
    { name: 'RFC 3339 UTC', header: 'Not-Before: 2026-12-01T10:00:00Z', notBefore: at },
    { name: 'RFC 3339 with offset', header: 'Not-Before: 2026-12-01T11:30:00+01:30', notBefore: at },
    { name: 'RFC 3339 with a space and fraction', header: 'Not-Before: 2026-12-01 10:00:00.250Z', notBefore: at + 250 },
    { name: 'epoch seconds', header: `Not-Before: ${at / 1000}`, notBefore: at },
    {
      name: 'case-insensitive name among other explanatory lines',
      header: 'Comment: rotation 2026-12\nnot-before:   2026-12-01T10:00:00Z  ',
      notBefore: at,
    },
  ];
  for (const c of cases) {
    it(`PEM "Not-Before:" line: ${c.name}`, async () => {
      assert.equal((await parseOne('key.pem', `${c.header}\n${pkcs8(ec256.privateKey)}`)).notBefore, c.notBefore);
    });
  }

  it('JWK nbf (seconds) becomes notBefore in ms', async () => {
    assert.equal((await parseOne('key.json', JSON.stringify({ ...privateJwk(ec256.privateKey), nbf: at / 1000 }))).notBefore, at);
  });

  it('nbf does not appear in the published JWK', async () => {
    const key = await parseOne('key.json', JSON.stringify({ ...privateJwk(ec256.privateKey), nbf: at / 1000 }));
    assert.equal('nbf' in key.publicJwk, false);
  });
});

describe('isIgnorableKeyFile', () => {
  const cert = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n';
  const cases: { name: string; file: string; content: () => string; ignored: boolean }[] = [
    { name: 'a private key', file: 'key.pem', content: () => pkcs8(ec256.privateKey), ignored: false },
    { name: 'a private key named tls.key', file: 'tls.key', content: () => pkcs8(ec256.privateKey), ignored: false },
    { name: 'a private JWK', file: 'key.json', content: () => JSON.stringify(privateJwk(ec256.privateKey)), ignored: false },
    {
      name: 'a certificate chain followed by its key',
      file: 'bundle.pem',
      content: () => `${cert}${pkcs8(ec256.privateKey)}`,
      ignored: false,
    },
    { name: 'garbage (must fail loudly, not be skipped)', file: 'key.pem', content: () => 'garbage', ignored: false },
    { name: 'tls.crt', file: 'tls.crt', content: () => cert, ignored: true },
    { name: 'ca.crt', file: 'ca.crt', content: () => cert, ignored: true },
    { name: 'a certificate-only PEM under another name', file: 'chain.pem', content: () => `${cert}${cert}`, ignored: true },
    {
      name: 'a public key PEM',
      file: 'public.pem',
      content: () => createPublicKey(ec256.privateKey).export({ format: 'pem', type: 'spki' }) as string,
      ignored: true,
    },
    { name: 'a README', file: 'README.md', content: () => '# keys', ignored: true },
  ];
  for (const c of cases) {
    it(`${c.ignored ? 'ignores' : 'does not ignore'} ${c.name}`, () => {
      assert.equal(isIgnorableKeyFile(c.file, c.content()), c.ignored);
    });
  }
});
