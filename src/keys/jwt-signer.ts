import { constants, sign as nodeSign } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { authJwtError } from '../errors.ts';
import type { MintedClaims, Signer } from '../exchange/ports.ts';
import type { SigningKey } from './key-file.ts';
import type { SigningKeyProvider } from './key-store.ts';

/**
 * JWS Compact Serialization (RFC 7515 §7.1) of a JWT with node:crypto. This is the hot path of
 * every GetJWT: node:crypto signs EC/EdDSA keys synchronously in microseconds, where WebCrypto (which
 * jose 6 uses) adds a thread-pool round trip per token; RSA (~1 ms) runs on the thread pool. Every
 * token is verified by jose in the tests, so the two implementations are checked against each other.
 */
export function signCompactJwt(key: SigningKey, header: Record<string, unknown>, claims: JWTPayload): Promise<string> {
  return signWithEncodedHeader(key, b64(JSON.stringify({ alg: key.alg, ...header })), claims);
}

/** {@link signCompactJwt} with the protected header already encoded (base64url of its JSON): computed once per key. */
function signWithEncodedHeader(key: SigningKey, encodedHeader: string, claims: JWTPayload): Promise<string> {
  const input = `${encodedHeader}.${b64(JSON.stringify(claims))}`;
  const data = Buffer.from(input, 'latin1');
  const done = (signature: Buffer) => `${input}.${signature.toString('base64url')}`;
  switch (key.alg) {
    // The KeyObject itself, not `{ key, dsaEncoding: 'ieee-p1363' }`: node:crypto prepares an options
    // object's key on every call (about as long as the P-256 signature itself on Node 24), so the DER
    // signature is converted to JWS's r‖s form here (RFC 7518 §3.4).
    case 'ES256':
      return Promise.resolve(done(derToJoseSignature(nodeSign('sha256', data, key.privateKey), 32)));
    case 'ES384':
      return Promise.resolve(done(derToJoseSignature(nodeSign('sha384', data, key.privateKey), 48)));
    case 'EdDSA':
      return Promise.resolve(done(nodeSign(null, data, key.privateKey)));
    case 'RS256':
    case 'PS256': {
      const options =
        key.alg === 'PS256' ? { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key.privateKey;
      return new Promise((resolve, reject) =>
        nodeSign('sha256', data, options, (error, signature) => (error ? reject(error) : resolve(done(signature)))),
      );
    }
  }
}

// The JSON is built by JSON.stringify: ASCII unless a claim holds other characters, hence utf8 here.
const b64 = (text: string) => Buffer.from(text).toString('base64url');

/**
 * An ECDSA signature from DER (`ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`, what OpenSSL
 * returns) to the fixed-width `r ‖ s` of JWS (RFC 7518 §3.4), each integer `size` bytes, big-endian.
 */
export function derToJoseSignature(der: Buffer, size: number): Buffer {
  // SEQUENCE, then its length in short (< 128) or long form (0x81 n: P-384/P-521 may exceed 127 bytes).
  let at = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const out = Buffer.alloc(2 * size);
  for (let i = 0; i < 2; i++) {
    if (der[at] !== 0x02) throw new Error('ECDSA signature: INTEGER expected');
    let length = der[at + 1]!;
    let start = at + 2;
    at = start + length;
    // A positive INTEGER may carry a leading zero byte (when its top bit is set): not part of the value.
    while (length > size && der[start] === 0) {
      start++;
      length--;
    }
    if (length > size) throw new Error('ECDSA signature: integer longer than the curve order');
    der.copy(out, i * size + size - length, start, start + length);
  }
  return out;
}

/** The exchange's {@link Signer}: the key store's current key, compact JWS with `kid` and `typ` in the header. */
export class CompactJwtSigner implements Signer {
  readonly #keys: SigningKeyProvider;
  /** The encoded protected header of each key (and `typ`): built once per key, not per token. */
  readonly #headers = new WeakMap<SigningKey, Map<string, string>>();
  constructor(keys: SigningKeyProvider) {
    this.#keys = keys;
  }

  async sign(claims: MintedClaims, options: { typ: string }): Promise<{ token: string; kid: string; alg: string }> {
    const key = this.#keys.currentSigningKey();
    if (!key) throw authJwtError('KEYS_NO_SIGNING_KEY');
    // Record before signing so the key is kept published for as long as this token may be presented.
    this.#keys.recordUse(key.kid, claims.exp * 1000);
    const token = await signWithEncodedHeader(key, this.#headerOf(key, options.typ), claims);
    return { token, kid: key.kid, alg: key.alg };
  }

  #headerOf(key: SigningKey, typ: string): string {
    let byTyp = this.#headers.get(key);
    if (!byTyp) {
      byTyp = new Map();
      this.#headers.set(key, byTyp);
    }
    let encoded = byTyp.get(typ);
    if (encoded === undefined) {
      encoded = b64(JSON.stringify({ alg: key.alg, kid: key.kid, typ }));
      byTyp.set(typ, encoded);
    }
    return encoded;
  }
}
