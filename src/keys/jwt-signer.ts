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
  const input = `${b64(JSON.stringify({ alg: key.alg, ...header }))}.${b64(JSON.stringify(claims))}`;
  const data = Buffer.from(input);
  const done = (signature: Buffer) => `${input}.${signature.toString('base64url')}`;
  switch (key.alg) {
    case 'ES256':
      return Promise.resolve(done(nodeSign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })));
    case 'ES384':
      return Promise.resolve(done(nodeSign('sha384', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })));
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

const b64 = (text: string) => Buffer.from(text).toString('base64url');

/** The exchange's {@link Signer}: the key store's current key, compact JWS with `kid` and `typ` in the header. */
export class CompactJwtSigner implements Signer {
  readonly #keys: SigningKeyProvider;
  constructor(keys: SigningKeyProvider) {
    this.#keys = keys;
  }

  async sign(claims: MintedClaims, options: { typ: string }): Promise<{ token: string; kid: string; alg: string }> {
    const key = this.#keys.currentSigningKey();
    if (!key) throw authJwtError('KEYS_NO_SIGNING_KEY');
    // Record before signing so the key is kept published for as long as this token may be presented.
    this.#keys.recordUse(key.kid, claims.exp * 1000);
    const token = await signCompactJwt(key, { kid: key.kid, typ: options.typ }, claims);
    return { token, kid: key.kid, alg: key.alg };
  }
}
