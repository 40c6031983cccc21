import { createPrivateKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import type { SigningAlgorithm } from '../config/schema.ts';
import { type ErrorCode, type ErrorName, errorCode } from '../errors.ts';

type KeyFileErrorName = Extract<ErrorName, `KEYS_${string}`>;

/** A private signing key loaded from the Secret, with its public JWK. */
export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  /** Node.js private key (node:crypto signs; jose accepts it too). */
  privateKey: KeyObject;
  /** Public members only, with kid, alg and use: sig. */
  publicJwk: Readonly<JWK>;
  /** Explicit activation time (ms since epoch) from the key file, if any. */
  notBefore: number | undefined;
  /** File the key came from (for logs). */
  source: string;
}

/** A key file that cannot be used. `message` names the file (for logs); `code` is a catalogue code. */
export class KeyFileError extends Error {
  readonly code: ErrorCode;
  constructor(name: KeyFileErrorName, message: string) {
    super(message);
    this.name = 'KeyFileError';
    this.code = errorCode(name);
  }
}

/** Files that are legitimately in a key Secret but are not private keys (e.g. cert-manager's tls.crt). */
export function isIgnorableKeyFile(name: string, content: string): boolean {
  if (/\.(crt|pub|md|txt)$/i.test(name)) return true;
  const text = content.trim();
  if (!text.includes('PRIVATE KEY') && /-----BEGIN (CERTIFICATE|PUBLIC KEY|RSA PUBLIC KEY)-----/.test(text)) return true;
  return false;
}

/**
 * Parses one key file: PEM (PKCS#8, PKCS#1 RSA, SEC1 EC) or JWK JSON (a private JWK or a JWK Set).
 * PEM may carry an activation time as an RFC 7468 explanatory line before the key:
 * `Not-Before: 2026-12-01T10:00:00Z`; a JWK may carry `"nbf": <seconds since epoch>`.
 * kid is the JWK's own `kid`, else its RFC 7638 thumbprint.
 */
export async function parseKeyFile(name: string, content: string): Promise<SigningKey[]> {
  const text = content.trim();
  if (text.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new KeyFileError('KEYS_FILE_INVALID', `${name}: not valid JSON`);
    }
    const jwks = isObject(json) && Array.isArray(json.keys) ? json.keys : [json];
    return Promise.all(jwks.map((jwk, i) => fromJwk(jwks.length > 1 ? `${name}#${i}` : name, jwk)));
  }
  if (!text.includes('-----BEGIN')) throw new KeyFileError('KEYS_FILE_INVALID', `${name}: neither PEM nor JWK JSON`);
  const notBefore = parsePemNotBefore(name, text);
  const pem = text.slice(text.indexOf('-----BEGIN'));
  if (!/-----BEGIN (ENCRYPTED )?(RSA |EC )?PRIVATE KEY-----/.test(pem)) {
    throw new KeyFileError('KEYS_NOT_PRIVATE', `${name}: not a private key (expected PKCS#8, PKCS#1 or SEC1 PEM)`);
  }
  if (pem.includes('ENCRYPTED')) throw new KeyFileError('KEYS_ENCRYPTED', `${name}: encrypted private keys are not supported`);
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new KeyFileError('KEYS_FILE_INVALID', `${name}: cannot parse private key (${(e as Error).message})`);
  }
  const jwk = keyObject.export({ format: 'jwk' }) as JWK;
  return [await fromJwk(name, { ...jwk, ...(notBefore !== undefined ? { nbf: notBefore / 1000 } : {}) })];
}

async function fromJwk(name: string, input: unknown): Promise<SigningKey> {
  if (!isObject(input) || typeof input.kty !== 'string') throw new KeyFileError('KEYS_FILE_INVALID', `${name}: not a JWK`);
  const jwk = input as JWK & { nbf?: unknown };
  if (typeof jwk.d !== 'string') throw new KeyFileError('KEYS_NOT_PRIVATE', `${name}: JWK has no private part ("d")`);
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new KeyFileError('KEYS_WRONG_USE', `${name}: JWK use must be "sig"`);
  const alg = algorithmFor(name, jwk);
  if (jwk.kty === 'RSA') {
    const bits = Buffer.from(jwk.n ?? '', 'base64url').length * 8;
    if (bits < 2048) throw new KeyFileError('KEYS_KEY_TOO_SMALL', `${name}: RSA keys must be at least 2048 bits (got ${bits})`);
  }
  let notBefore: number | undefined;
  if (jwk.nbf !== undefined) {
    if (typeof jwk.nbf !== 'number' || !Number.isFinite(jwk.nbf))
      throw new KeyFileError('KEYS_FILE_INVALID', `${name}: "nbf" must be seconds since epoch`);
    notBefore = jwk.nbf * 1000;
  }
  const {
    d: _d,
    p: _p,
    q: _q,
    dp: _dp,
    dq: _dq,
    qi: _qi,
    oth: _oth,
    nbf: _nbf,
    key_ops: _ops,
    ext: _ext,
    ...rest
  } = jwk as JWK & { nbf?: unknown; oth?: unknown };
  const publicMembers = publicOnly(rest);
  // Check the private and public parts belong together and the key is usable before accepting it.
  let privateKey: KeyObject;
  try {
    const { nbf: _n, ...importable } = jwk;
    privateKey = createPrivateKey({ key: importable as never, format: 'jwk' });
    // WebCrypto's import refuses a key whose private part does not belong to its public part.
    await importJWK({ ...importable, alg }, alg);
  } catch (e) {
    throw new KeyFileError('KEYS_FILE_INVALID', `${name}: unusable key (${(e as Error).message})`);
  }
  const kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : await calculateJwkThumbprint(publicMembers, 'sha256');
  if (!/^[\x21-\x7e]{1,128}$/.test(kid))
    throw new KeyFileError('KEYS_FILE_INVALID', `${name}: kid must be 1-128 printable ASCII characters`);
  return {
    kid,
    alg,
    privateKey,
    publicJwk: Object.freeze({ ...publicMembers, kid, alg, use: 'sig' }),
    notBefore,
    source: name,
  };
}

function publicOnly(jwk: JWK): JWK {
  switch (jwk.kty) {
    case 'RSA':
      return { kty: 'RSA', n: jwk.n, e: jwk.e };
    case 'EC':
      return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    case 'OKP':
      return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
    default:
      return jwk;
  }
}

function algorithmFor(name: string, jwk: JWK): SigningAlgorithm {
  let derived: SigningAlgorithm;
  if (jwk.kty === 'RSA') derived = jwk.alg === 'PS256' ? 'PS256' : 'RS256';
  else if (jwk.kty === 'EC' && jwk.crv === 'P-256') derived = 'ES256';
  else if (jwk.kty === 'EC' && jwk.crv === 'P-384') derived = 'ES384';
  else if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') derived = 'EdDSA';
  else
    throw new KeyFileError(
      'KEYS_UNSUPPORTED_KEY',
      `${name}: unsupported key type ${jwk.kty}${jwk.crv ? `/${jwk.crv}` : ''} (use RSA ≥2048, EC P-256/P-384 or Ed25519)`,
    );
  if (jwk.alg !== undefined && jwk.alg !== derived && !(jwk.kty === 'OKP' && jwk.alg === 'Ed25519')) {
    throw new KeyFileError('KEYS_ALG_MISMATCH', `${name}: JWK alg ${jwk.alg} does not fit the key (expected ${derived})`);
  }
  return derived;
}

function parsePemNotBefore(name: string, text: string): number | undefined {
  const head = text.slice(0, text.indexOf('-----BEGIN'));
  // Take the whole rest of the line: a value that is empty or has spaces must be rejected, not
  // skipped (a skipped Not-Before lets the key sign at once).
  const m = /^[ \t]*not-before[ \t]*:(.*)$/im.exec(head);
  if (!m) return undefined;
  const value = m[1]!.trim();
  // RFC 3339 date-time with an explicit offset (no local-time guess), or epoch seconds.
  const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(value);
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : rfc3339 ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new KeyFileError('KEYS_FILE_INVALID', `${name}: Not-Before "${value}" is not an RFC 3339 time or epoch seconds`);
  return ms;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
